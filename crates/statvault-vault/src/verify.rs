//! `vault verify`: walks the whole object graph and names every damaged object.
//!
//! Without keys it checks the log (chain, signatures, Merkle roots), that every
//! committed object exists with its recorded size, and that index and snapshot files
//! hash to their names; `read_data` also hashes every pack. With keys it decrypts the
//! index and snapshots and checks every chunk a snapshot needs is indexed; with keys
//! and `read_data` it decrypts, decompresses and re-hashes every chunk of every pack.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use statvault_crypto::{Hash, ObjectKind, VaultKeys};

use crate::backend::STAGING_DIR;
use crate::index::{self, PackIndex};
use crate::log::entry_name;
use crate::pack::{read_pack_entries, BlobEntry, ChunkOpener};
use crate::repo::{ObjectName, Problem, CONFIG};
use crate::snapshot::NodeKind;
use crate::{Progress, Result, Vault};

/// What `verify` checks, and against what.
pub struct VerifyOptions<'a> {
    /// The vault's keys: with them, snapshots and indexes are decrypted and checked.
    pub keys: Option<&'a VaultKeys>,
    /// Decrypt and re-hash every chunk (needs `keys`).
    pub read_data: bool,
    /// A log head (entry hash) a custodian kept: the log must still contain it.
    pub kept_head: Option<Hash>,
    /// The vault's signing key as printed by `vault init` and kept by custodians: the
    /// config must still name it (an intruder who rewrote the config and re-signed the
    /// whole log with a key of their own passes every other check).
    pub kept_key: Option<statvault_crypto::PublicKey>,
}

impl VerifyOptions<'_> {
    /// Whether the check is tied to something kept outside the vault (a head, the
    /// signing key, or shares, which derive the key); without it, a clean result only
    /// says the vault agrees with itself.
    pub fn anchored(&self) -> bool {
        self.kept_head.is_some() || self.kept_key.is_some() || self.keys.is_some()
    }
}

/// What `verify` found.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct VerifyReport {
    /// Damage, each naming its object: none means the vault is intact.
    pub problems: Vec<Problem>,
    /// Files no log entry commits: leftovers of an interrupted write, removable with
    /// `vault gc`. Not damage.
    pub leftovers: Vec<String>,
    /// Log entries read.
    pub log_entries: u64,
    /// The log's head.
    pub head: Option<Hash>,
    /// Snapshots the log commits.
    pub snapshots: u64,
    /// Objects the log commits.
    pub objects: u64,
    /// Packs read whole (with `read_data`).
    pub packs_read: u64,
    /// Chunks decrypted and re-hashed.
    pub chunks_checked: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// See [`VerifyOptions::anchored`].
    pub anchored: bool,
}

/// Checks the vault: the log's chain and signatures, every object's presence, size
/// and hash against the log and, with keys, every snapshot and index (and with
/// `read_data` every chunk). Damage is reported, not an error.
pub fn verify(
    vault: &Vault,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let state = vault.read_log()?;
    let mut problems = state.problems.clone();
    let mut problem = |object: &str, detail: String| {
        problems.push(Problem {
            object: object.to_string(),
            detail,
        })
    };
    if let Some(kept) = opts.kept_head {
        if !state.entries.iter().any(|(_, h)| *h == kept) {
            let ends = state
                .entries
                .last()
                .map_or("no valid entry".into(), |(e, h)| {
                    format!("it now ends at entry {} ({h})", e.seq)
                });
            problem("log", format!("the kept head {kept} is not in the log: entries were removed or rewritten; {ends}"));
        }
    }
    if let Some(kept) = opts.kept_key {
        let named = vault.config.public_key();
        if named != kept {
            problem(CONFIG, format!("names signing key {}, not the kept key {}: the config and the log were replaced by someone else's", named.to_hex(), kept.to_hex()));
        }
    }
    let committed_by: HashMap<&str, u64> = state
        .entries
        .iter()
        .flat_map(|(e, _)| e.added.iter().map(move |o| (o.name.as_str(), e.seq)))
        .collect();
    let listing = vault
        .backend()
        .list("")
        .map_err(|cause| crate::VaultError::Backend {
            name: "repository listing".into(),
            cause,
        })?;
    let present: HashMap<&str, u64> = listing.iter().map(|o| (o.name.as_str(), o.size)).collect();
    let mut intact: Vec<ObjectName> = Vec::new();
    for (name, &size) in &state.objects {
        let by = entry_name(committed_by[name.as_str()]);
        match present.get(name.as_str()) {
            None => problem(name, format!("missing (committed by {by})")),
            Some(&found) if found != size => problem(
                name,
                format!("{found} bytes, but {by} records {size} (truncated, extended or replaced)"),
            ),
            Some(_) => {
                intact.push(ObjectName::parse(name).expect("log entries name only vault objects"))
            }
        }
    }
    let leftovers: Vec<String> = listing
        .iter()
        .map(|o| o.name.clone())
        .filter(|n| {
            !state.objects.contains_key(n)
                && n != CONFIG
                && n != "lock"
                && !n.starts_with("log/")
                // The audit log is checked by 'vault audit verify'.
                && !n.starts_with("audit/")
                // Removed by the next staging or gc, not reported.
                && n.split('/').next() != Some(STAGING_DIR)
        })
        .collect();

    // Index and snapshot files are small: always check their content hash.
    let mut indexes: Vec<(ObjectName, Vec<u8>)> = Vec::new();
    let mut snapshots: Vec<(ObjectName, Vec<u8>)> = Vec::new();
    for name in intact.iter().filter(|n| !matches!(n, ObjectName::Pack(_))) {
        match vault.read_object(*name, state.objects[&name.to_string()]) {
            Ok(bytes) if matches!(name, ObjectName::Index(_)) => indexes.push((*name, bytes)),
            Ok(bytes) => snapshots.push((*name, bytes)),
            Err(e) => problem(&name.to_string(), strip_object(&e.to_string(), name)),
        }
    }

    let mut pack_entries: HashMap<Hash, Vec<BlobEntry>> = HashMap::new();
    if let Some(keys) = opts.keys {
        if keys.public_key() != vault.config.public_key() {
            problem(
                CONFIG,
                "its signing key is not the one the custodians' shares derive".into(),
            );
        }
        for (name, sealed) in &indexes {
            match keys
                .open(ObjectKind::Index, sealed)
                .map_err(|_| "does not decrypt".to_string())
                .and_then(|p| index::read(&p).map_err(|e| e.0))
            {
                Ok(packs) => {
                    for PackIndex { pack, blobs } in packs {
                        if !state
                            .objects
                            .contains_key(&ObjectName::Pack(pack).to_string())
                        {
                            problem(
                                &name.to_string(),
                                format!("lists pack {pack}, which the log does not commit"),
                            );
                        }
                        pack_entries.entry(pack).or_default().extend(blobs);
                    }
                }
                Err(e) => problem(&name.to_string(), e),
            }
        }
        let indexed: HashSet<Hash> = pack_entries.values().flatten().map(|e| e.id).collect();
        for (id, _) in state.snapshots() {
            let name = ObjectName::Snapshot(id);
            if !snapshots.iter().any(|(n, _)| *n == name) {
                continue; // already reported as missing or damaged
            }
            match vault.load_snapshot(keys, &state, id) {
                Ok(snap) => {
                    let mut lacking = snap.nodes.iter().filter_map(|n| match &n.kind {
                        NodeKind::File { chunks } => {
                            chunks.iter().find(|c| !indexed.contains(c)).map(|c| (n, c))
                        }
                        _ => None,
                    });
                    if let Some((node, chunk)) = lacking.next() {
                        let more = lacking.count();
                        problem(&name.to_string(), format!("file {} needs chunk {chunk}, which no index lists ({more} more files lack chunks)", String::from_utf8_lossy(&node.path)));
                    }
                }
                Err(e) => problem(&name.to_string(), strip_object(&e.to_string(), &name)),
            }
        }
    }

    let (mut packs_read, mut chunks_checked, mut bytes_read) = (0, 0, 0);
    if opts.read_data {
        let packs: Vec<(ObjectName, u64)> = intact
            .iter()
            .filter(|n| matches!(n, ObjectName::Pack(_)))
            .map(|n| (*n, state.objects[&n.to_string()]))
            .collect();
        progress.start("reading packs", packs.iter().map(|(_, s)| s).sum());
        let next = AtomicUsize::new(0);
        let (chunks, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
        let found: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
        let threads = vault.backend().parallelism();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut opener = ChunkOpener::default();
                    let mut buffer = Vec::new();
                    while let Some(&(name, size)) = packs.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        let indexed = pack_entries.get(&name.hash());
                        let (details, checked) = check_pack(
                            vault,
                            opts.keys,
                            (name, size),
                            indexed,
                            &mut buffer,
                            &mut opener,
                        );
                        chunks.fetch_add(checked, Ordering::Relaxed);
                        bytes.fetch_add(size, Ordering::Relaxed);
                        progress.advance(size);
                        if !details.is_empty() {
                            found.lock().expect("no panics while held").push(Problem {
                                object: name.to_string(),
                                detail: details.join("; "),
                            });
                        }
                    }
                });
            }
        });
        progress.finish();
        let mut found = found.into_inner().expect("threads joined");
        found.sort_by(|a, b| a.object.cmp(&b.object));
        problems.extend(found);
        packs_read = packs.len() as u64;
        chunks_checked = chunks.into_inner();
        bytes_read = bytes.into_inner();
    }
    Ok(VerifyReport {
        problems,
        leftovers,
        log_entries: state.entries.len() as u64,
        head: state.entries.last().map(|(_, h)| *h),
        snapshots: state.snapshots().count() as u64,
        objects: state.objects.len() as u64,
        packs_read,
        chunks_checked,
        bytes_read,
        anchored: opts.anchored(),
    })
}

/// Reads a whole pack: its hash, and with keys its header against the index and every
/// chunk. Returns what is wrong and how many chunks were checked.
fn check_pack(
    vault: &Vault,
    keys: Option<&VaultKeys>,
    (name, size): (ObjectName, u64),
    indexed: Option<&Vec<BlobEntry>>,
    bytes: &mut Vec<u8>,
    opener: &mut ChunkOpener,
) -> (Vec<String>, u64) {
    let mut details = Vec::new();
    // One buffer per thread, reused pack after pack: no fresh 16 MiB allocation each.
    if let Err(e) = vault
        .backend()
        .read_range(&name.to_string(), 0, size as usize, bytes)
    {
        return (vec![format!("unreadable: {e}")], 0);
    }
    if Hash::of(bytes) != name.hash() {
        details.push("content does not match its name (altered, truncated or swapped)".to_string());
    }
    let Some(keys) = keys else {
        return (details, 0);
    };
    let entries = match read_pack_entries(keys, bytes) {
        Ok(e) => e,
        Err(e) => {
            details.push(e);
            return (details, 0);
        }
    };
    let mut in_index: Vec<BlobEntry> = indexed.cloned().unwrap_or_default();
    let mut in_header = entries.clone();
    in_index.sort_by_key(|e| e.offset);
    in_header.sort_by_key(|e| e.offset);
    if in_index != in_header {
        details.push("its header and the index disagree about its blobs".to_string());
    }
    let mut checked = 0;
    for e in &entries {
        let sealed = &mut bytes[e.offset as usize..(e.offset + e.sealed_len) as usize];
        match opener.open(keys, e, sealed) {
            Ok(_) => checked += 1,
            Err(d) => details.push(d),
        }
    }
    (details, checked)
}

/// Error texts start with the object's name; the report names it already.
fn strip_object(text: &str, name: &ObjectName) -> String {
    text.strip_prefix(&format!("{name}: "))
        .unwrap_or(text)
        .to_string()
}
