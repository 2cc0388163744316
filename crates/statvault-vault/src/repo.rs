//! Opening, creating and committing to a vault; reading its log, index and snapshots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use statvault_crypto::share::{self, ShareFile, VaultIdentity};
use statvault_crypto::{
    random_bytes, CryptoError, Hash, MasterKey, ObjectKind, Passphrase, PublicKey, VaultKeys,
};

use crate::backend::{Backend, ObjectInfo};
use crate::chunker::ChunkerParams;
use crate::error::CommitOutcome;
use crate::index::{self, ChunkMap};
use crate::log::{entry_name, merkle_root, seq_of_name, Commit, LogEntry};
use crate::snapshot::{self, Snapshot};
use crate::utc::now_secs;
use crate::{Result, VaultError};

const FORMAT: &str = "statvault-vault-v1";
pub const CONFIG: &str = "config";
/// The largest `config` and log entry read: far above any real one (an entry lists the
/// objects one commit added), far below what would exhaust memory.
const CONFIG_LIMIT: u64 = 1 << 20;
const LOG_ENTRY_LIMIT: u64 = 1 << 30;

/// The vault's clear configuration. Its BLAKE3 hash is committed by log entry 0.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `statvault-vault/1`.
    pub format: String,
    /// The vault's random id.
    pub vault_id: Hash,
    /// When it was created, seconds since 1970.
    pub created: u64,
    /// N: custodians holding a share.
    pub custodians: u8,
    /// K: shares that unlock.
    pub threshold: u8,
    /// The Ed25519 public key that signs the log.
    pub signing_key: Hash,
    /// A hash derived from the master key, which tells a correct combination of shares
    /// from a wrong one.
    pub key_check: Hash,
    /// Chunk size bounds.
    pub chunker: ChunkerParams,
    /// Target size of pack files in bytes.
    pub pack_size: u32,
    /// zstd level for chunks.
    pub compression_level: i32,
}

impl Config {
    /// What a share file must match to belong to this vault.
    pub fn identity(&self) -> VaultIdentity {
        VaultIdentity {
            vault_id: self.vault_id,
            public_key: self.public_key(),
            threshold: self.threshold,
            custodians: self.custodians,
            key_check: self.key_check,
        }
    }

    /// The log's signing key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing_key.0)
    }
}

/// The name of a content-addressed object; its hash is the BLAKE3 of the file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectName {
    /// A pack of sealed chunks: `packs/<first two hex digits>/<hash>`.
    Pack(Hash),
    /// An index object: `index/<hash>`.
    Index(Hash),
    /// A snapshot object: `snapshots/<hash>`.
    Snapshot(Hash),
}

impl ObjectName {
    /// The object a name names, if it is a well-formed object name.
    pub fn parse(name: &str) -> Option<ObjectName> {
        let (kind, hex): (fn(Hash) -> ObjectName, &str) =
            if let Some(rest) = name.strip_prefix("packs/") {
                let (fan, hex) = rest.split_once('/')?;
                if !hex.starts_with(fan) || fan.len() != 2 {
                    return None;
                }
                (ObjectName::Pack, hex)
            } else if let Some(hex) = name.strip_prefix("index/") {
                (ObjectName::Index, hex)
            } else {
                (ObjectName::Snapshot, name.strip_prefix("snapshots/")?)
            };
        hex.parse().ok().map(kind)
    }

    /// The object's hash.
    pub fn hash(&self) -> Hash {
        match *self {
            ObjectName::Pack(h) | ObjectName::Index(h) | ObjectName::Snapshot(h) => h,
        }
    }
}

impl std::fmt::Display for ObjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectName::Pack(h) => write!(f, "packs/{}/{h}", &h.to_hex()[..2]),
            ObjectName::Index(h) => write!(f, "index/{h}"),
            ObjectName::Snapshot(h) => write!(f, "snapshots/{h}"),
        }
    }
}

/// Something `verify` found wrong, naming the object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    /// The object or path at fault.
    pub object: String,
    /// What is wrong with it.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.detail)
    }
}

/// The log as read: the valid entries, the objects they commit, and what was wrong.
pub struct LogState {
    /// The entries that verify, in order, each with its hash.
    pub entries: Vec<(LogEntry, Hash)>,
    /// Every object committed up to the last entry, with its recorded size.
    pub objects: BTreeMap<String, u64>,
    /// What was wrong, each naming its object.
    pub problems: Vec<Problem>,
}

impl LogState {
    /// The last entry that verifies.
    pub fn head(&self) -> &(LogEntry, Hash) {
        self.entries
            .last()
            .expect("a readable log has its genesis entry")
    }

    /// Snapshot ids in commit order, with the log entry that committed each.
    pub fn snapshots(&self) -> impl Iterator<Item = (Hash, &LogEntry)> {
        self.entries.iter().filter_map(|(e, _)| match e.commit {
            Commit::Snapshot { id } => Some((id, e)),
            Commit::Genesis { .. } => None,
        })
    }
}

/// Choices fixed when a vault is created.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Chunk size bounds.
    pub chunker: ChunkerParams,
    /// Target size of pack files in bytes.
    pub pack_size: u32,
    /// zstd level for chunks.
    pub compression_level: i32,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            chunker: ChunkerParams::default(),
            pack_size: 16 * 1024 * 1024,
            compression_level: 1,
        }
    }
}

/// An open vault: its backend and configuration.
pub struct Vault {
    backend: Arc<dyn Backend>,
    /// The vault's configuration as read.
    pub config: Config,
    /// `config` exactly as read or written: its hash is what log entry 0 commits, and
    /// replication copies these bytes, never a second read.
    config_bytes: Vec<u8>,
}

fn backend_err(name: &str) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |cause| VaultError::Backend {
        name: name.to_string(),
        cause,
    }
}

impl Vault {
    /// Creates a vault in an empty backend. Returns the master key so the caller can
    /// split it among custodians; it is not stored anywhere.
    pub fn init(
        backend: Arc<dyn Backend>,
        custodians: u8,
        threshold: u8,
        opts: &InitOptions,
    ) -> Result<(Vault, MasterKey)> {
        opts.chunker.validate().map_err(VaultError::Usage)?;
        if threshold < 1 || custodians < threshold {
            return Err(VaultError::Usage(format!(
                "--threshold must be between 1 and --custodians (got {threshold} of {custodians})"
            )));
        }
        if !backend
            .list("")
            .map_err(backend_err("repository"))?
            .is_empty()
        {
            return Err(VaultError::Usage(
                "the repository directory is not empty; choose a new or empty directory".into(),
            ));
        }
        let master = MasterKey::generate();
        let keys = master.derive();
        let config = Config {
            format: FORMAT.into(),
            vault_id: Hash(random_bytes()),
            created: now_secs(),
            custodians,
            threshold,
            signing_key: Hash(keys.public_key().0),
            key_check: master.key_check(),
            chunker: opts.chunker,
            pack_size: opts.pack_size,
            compression_level: opts.compression_level,
        };
        let bytes = serde_json::to_vec_pretty(&config).expect("config serializes");
        backend
            .write_new(CONFIG, &bytes)
            .map_err(backend_err(CONFIG))?;
        let mut genesis = LogEntry {
            vault_id: config.vault_id,
            seq: 0,
            prev: Hash::default(),
            time: config.created,
            commit: Commit::Genesis {
                config: Hash::of(&bytes),
            },
            added: vec![],
            total: 0,
            root: merkle_root(&[]),
            signature: [0; 64],
        };
        genesis.sign(&keys);
        let name = entry_name(0);
        backend
            .write_new(&name, genesis.write().as_bytes())
            .map_err(backend_err(&name))?;
        let vault = Vault {
            backend,
            config,
            config_bytes: bytes,
        };
        Ok((vault, master))
    }

    /// Opens the vault on `backend`: reads and checks its configuration.
    pub fn open(backend: Arc<dyn Backend>) -> Result<Vault> {
        let bytes = backend
            .read(CONFIG, CONFIG_LIMIT)
            .map_err(|e| match e.kind() {
                // A log without its config is a damaged vault, not a missing one.
                std::io::ErrorKind::NotFound
                    if backend.list("log/").is_ok_and(|l| !l.is_empty()) =>
                {
                    VaultError::corrupt(CONFIG, "missing (the vault's log is here)")
                }
                std::io::ErrorKind::NotFound => VaultError::Usage(
                    "no vault here: the repository has no 'config' (create one with 'vault init')"
                        .into(),
                ),
                _ => VaultError::Backend {
                    name: CONFIG.into(),
                    cause: e,
                },
            })?;
        let config: Config = serde_json::from_slice(&bytes)
            .map_err(|e| VaultError::corrupt(CONFIG, format!("not a valid vault config: {e}")))?;
        if config.format != FORMAT {
            return Err(VaultError::corrupt(
                CONFIG,
                format!("unknown format {:?}", config.format),
            ));
        }
        config
            .chunker
            .validate()
            .map_err(|e| VaultError::corrupt(CONFIG, e))?;
        Ok(Vault {
            backend,
            config,
            config_bytes: bytes,
        })
    }

    /// The storage the vault lives on.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// `config` as this vault was opened with it.
    pub fn config_bytes(&self) -> &[u8] {
        &self.config_bytes
    }

    /// Where staging directories of this vault go: on its own storage where it has
    /// one, else in the system's temporary directory.
    pub fn scratch_dir(&self) -> PathBuf {
        self.backend
            .scratch_dir()
            .unwrap_or_else(|| std::env::temp_dir().join("statvault"))
    }

    /// A new staging directory (see [`crate::Staging`]).
    pub fn staging(&self) -> Result<crate::Staging> {
        let scratch = self.scratch_dir();
        crate::Staging::create(&scratch).map_err(|e| VaultError::io(scratch, e))
    }

    /// Rebuilds the vault keys from custodians' share files.
    pub fn unlock(
        &self,
        share_paths: &[PathBuf],
        passphrase: &mut dyn FnMut(&Path) -> Result<Passphrase, CryptoError>,
    ) -> Result<VaultKeys> {
        if share_paths.is_empty() {
            return Err(VaultError::Usage(format!(
                "this needs {} custodian share(s): pass --share FILE (repeated) or set STATVAULT_SHARES",
                self.config.threshold
            )));
        }
        let files = share_paths
            .iter()
            .map(|p| Ok((p.clone(), ShareFile::read(p)?)))
            .collect::<Result<Vec<_>, CryptoError>>()?;
        let master = share::combine(&self.config.identity(), &files, passphrase)?;
        Ok(master.derive())
    }

    /// Reads and checks the whole log: names, sequence, chain of hashes, signatures,
    /// vault id, genesis config hash, and each entry's object count and Merkle root.
    pub fn read_log(&self) -> Result<LogState> {
        let mut state = LogState {
            entries: vec![],
            objects: BTreeMap::new(),
            problems: vec![],
        };
        let mut problem =
            |object: String, detail: String| state.problems.push(Problem { object, detail });
        let names = self.backend.list("log/").map_err(backend_err("log/"))?;
        let mut expected = 0u64;
        let mut prev: Option<Hash> = None;
        let mut chain_intact = true;
        for info in names {
            let Some(seq) = seq_of_name(&info.name) else {
                problem(info.name, "not a log entry name".into());
                continue;
            };
            if seq != expected {
                let missing = if seq == expected + 1 {
                    entry_name(expected)
                } else {
                    format!("{}..{}", entry_name(expected), entry_name(seq - 1))
                };
                problem(
                    missing,
                    format!(
                        "missing: the log jumps from entry {} to {seq}",
                        expected as i64 - 1
                    ),
                );
                chain_intact = false;
            }
            expected = seq + 1;
            let bytes = match self.backend.read(&info.name, LOG_ENTRY_LIMIT) {
                Ok(b) => b,
                // A listed entry that is gone or cannot be held is damage; a read that
                // failed (a backend error, a session sealed meanwhile) proves nothing
                // about the log and fails the operation instead.
                Err(e)
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData
                    ) =>
                {
                    return Err(backend_err(&info.name)(e))
                }
                Err(e) => {
                    problem(info.name, format!("unreadable: {e}"));
                    prev = None;
                    chain_intact = false;
                    continue;
                }
            };
            let hash = Hash::of(&bytes);
            let this_prev = prev.replace(hash);
            let entry = match LogEntry::parse(&bytes) {
                Ok(e) => e,
                Err(e) => {
                    problem(info.name, format!("malformed entry: {e}"));
                    chain_intact = false;
                    continue;
                }
            };
            let found = check_entry(
                &entry,
                &info.name,
                this_prev,
                &self.config,
                Hash::of(&self.config_bytes),
            );
            if !found.is_empty() {
                chain_intact = false;
                found.into_iter().for_each(|p| problem(p.object, p.detail));
            }
            if !chain_intact {
                continue;
            }
            for o in &entry.added {
                if state.objects.insert(o.name.clone(), o.size).is_some() {
                    problem(
                        info.name.clone(),
                        format!("adds {} which an earlier entry already added", o.name),
                    );
                }
            }
            let all = object_list(&state.objects);
            if entry.total != all.len() as u64 || entry.root != merkle_root(&all) {
                problem(
                    info.name,
                    "object count or Merkle root disagrees with the objects the log adds up to"
                        .into(),
                );
                chain_intact = false;
                continue;
            }
            state.entries.push((entry, hash));
        }
        if expected == 0 {
            problem(entry_name(0), "missing: the log is empty".into());
        }
        Ok(state)
    }

    /// The log, refusing to work on a vault whose log shows any damage.
    pub fn head(&self) -> Result<LogState> {
        let state = self.read_log()?;
        if let Some(p) = state.problems.first() {
            return Err(VaultError::corrupt(
                p.object.clone(),
                format!("{} (run 'vault verify' for the full report)", p.detail),
            ));
        }
        Ok(state)
    }

    /// Reads an object of the recorded `size` and checks it still hashes to its name.
    pub fn read_object(&self, name: ObjectName, size: u64) -> Result<Vec<u8>> {
        let n = name.to_string();
        let bytes = self.backend.read(&n, size).map_err(backend_err(&n))?;
        if Hash::of(&bytes) != name.hash() {
            return Err(VaultError::corrupt(
                n,
                "content does not match its name (altered, truncated or replaced)",
            ));
        }
        Ok(bytes)
    }

    /// Reads, checks and decrypts a committed object.
    fn open_object(
        &self,
        keys: &VaultKeys,
        state: &LogState,
        name: ObjectName,
        kind: ObjectKind,
    ) -> Result<Vec<u8>> {
        let n = name.to_string();
        let size = *state
            .objects
            .get(&n)
            .ok_or_else(|| VaultError::corrupt(n, "no log entry commits it"))?;
        let sealed = self.read_object(name, size)?;
        keys.open(kind, &sealed).map_err(|_| {
            VaultError::corrupt(name.to_string(), "does not decrypt with this vault's key")
        })
    }

    /// Every committed index, loaded: where each chunk lies.
    pub fn load_index(&self, keys: &VaultKeys, state: &LogState) -> Result<ChunkMap> {
        let mut map = ChunkMap::default();
        for name in state.objects.keys() {
            if let Some(n @ ObjectName::Index(_)) = ObjectName::parse(name) {
                let plain = self.open_object(keys, state, n, ObjectKind::Index)?;
                let packs =
                    index::read(&plain).map_err(|e| VaultError::corrupt(name.clone(), e.0))?;
                map.insert_all(&packs);
            }
        }
        Ok(map)
    }

    /// Reads, decrypts and parses snapshot `id`, which the log must commit.
    pub fn load_snapshot(&self, keys: &VaultKeys, state: &LogState, id: Hash) -> Result<Snapshot> {
        let name = ObjectName::Snapshot(id);
        let compressed = self.open_object(keys, state, name, ObjectKind::Snapshot)?;
        let plain = zstd::stream::decode_all(compressed.as_slice()).map_err(|e| {
            VaultError::corrupt(name.to_string(), format!("does not decompress: {e}"))
        })?;
        snapshot::read(&plain).map_err(|e| VaultError::corrupt(name.to_string(), e.0))
    }

    /// Resolves `latest` or a unique prefix of a snapshot id.
    pub fn resolve_snapshot(&self, state: &LogState, wanted: &str) -> Result<Hash> {
        if wanted == "latest" {
            return state
                .snapshots()
                .last()
                .map(|(id, _)| id)
                .ok_or_else(|| VaultError::Usage("the vault has no snapshots yet".into()));
        }
        let matches: Vec<Hash> = state
            .snapshots()
            .map(|(id, _)| id)
            .filter(|id| id.to_hex().starts_with(wanted))
            .collect();
        match matches.as_slice() {
            [one] if !wanted.is_empty() => Ok(*one),
            [] | [_] => Err(VaultError::Usage(format!(
                "no snapshot {wanted:?} in this vault ('vault snapshots' lists them)"
            ))),
            _ => Err(VaultError::Usage(format!(
                "snapshot prefix {wanted:?} is ambiguous ({} match)",
                matches.len()
            ))),
        }
    }

    /// Seals and stores a new object under the hash of its sealed bytes.
    pub fn store(&self, keys: &VaultKeys, kind: ObjectKind, plain: &[u8]) -> Result<ObjectInfo> {
        let sealed = keys.seal(kind, plain);
        let hash = Hash::of(&sealed);
        let name = match kind {
            ObjectKind::Index => ObjectName::Index(hash),
            ObjectKind::Snapshot => ObjectName::Snapshot(hash),
            other => unreachable!("objects of kind {other:?} are not stored alone"),
        };
        self.write_object(name, &sealed)
    }

    /// Stores `bytes` as the new object `name`; refuses a name that is taken.
    pub fn write_object(&self, name: ObjectName, bytes: &[u8]) -> Result<ObjectInfo> {
        let n = name.to_string();
        self.backend.write_new(&n, bytes).map_err(backend_err(&n))?;
        Ok(ObjectInfo {
            name: n,
            size: bytes.len() as u64,
        })
    }

    /// Appends the log entry that commits `added`: the one atomic step of a commit.
    /// Once this is called, the caller must not delete anything in `added`: on an error
    /// the entry may exist (see [`VaultError::Commit`]).
    pub fn commit(
        &self,
        keys: &VaultKeys,
        state: &LogState,
        commit: Commit,
        mut added: Vec<ObjectInfo>,
    ) -> Result<(u64, Hash)> {
        let (head, head_hash) = state.head();
        added.sort();
        let mut all = object_list(&state.objects);
        all.extend(added.iter().cloned());
        all.sort();
        let mut entry = LogEntry {
            vault_id: self.config.vault_id,
            seq: head.seq + 1,
            prev: *head_hash,
            time: now_secs(),
            commit,
            total: all.len() as u64,
            root: merkle_root(&all),
            added,
            signature: [0; 64],
        };
        entry.sign(keys);
        let text = entry.write();
        let name = entry_name(entry.seq);
        if let Err(source) = self.backend.write_new(&name, text.as_bytes()) {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(VaultError::Concurrent(name));
            }
            let snapshot = match entry.commit {
                Commit::Snapshot { id } => Some(id),
                Commit::Genesis { .. } => None,
            };
            // The error may have come after the entry was linked into place: read it
            // back rather than guess, and say what verify will find.
            let outcome = match self.backend.read(&name, text.len() as u64) {
                Ok(found) if found == text.as_bytes() => CommitOutcome::Written { snapshot },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => CommitOutcome::Absent,
                _ => CommitOutcome::Unknown { snapshot },
            };
            return Err(VaultError::Commit {
                entry: name,
                cause: source,
                outcome,
            });
        }
        Ok((entry.seq, Hash::of(text.as_bytes())))
    }
}

/// The held objects as a name-ordered list, the leaves of the Merkle root.
fn object_list(objects: &BTreeMap<String, u64>) -> Vec<ObjectInfo> {
    objects
        .iter()
        .map(|(name, &size)| ObjectInfo {
            name: name.clone(),
            size,
        })
        .collect()
}

/// Checks one parsed entry against its position in the chain.
fn check_entry(
    entry: &LogEntry,
    name: &str,
    prev: Option<Hash>,
    config: &Config,
    config_hash: Hash,
) -> Vec<Problem> {
    let seq = seq_of_name(name).expect("checked by the caller");
    let mut found = Vec::new();
    let mut say = |object: &str, detail: String| {
        found.push(Problem {
            object: object.to_string(),
            detail,
        })
    };
    if entry.seq != seq {
        say(
            name,
            format!(
                "says it is entry {} but is stored as entry {seq}",
                entry.seq
            ),
        );
    }
    if entry.vault_id != config.vault_id {
        say(
            name,
            format!(
                "belongs to vault {}, not {}",
                entry.vault_id, config.vault_id
            ),
        );
    }
    if !entry.verify_signature(&config.public_key()) {
        say(
            name,
            "signature does not verify with the vault's signing key".into(),
        );
    }
    match (&entry.commit, seq) {
        (Commit::Genesis { config: h }, 0) => {
            if *h != config_hash {
                say(CONFIG, "differs from the config the vault was created with (log entry 0 records its hash)".into());
            }
            if entry.prev != Hash::default() {
                say(name, "genesis entry has a previous hash".into());
            }
        }
        (Commit::Genesis { .. }, _) => say(name, "a genesis entry after entry 0".into()),
        (Commit::Snapshot { .. }, 0) => say(name, "entry 0 is not a genesis entry".into()),
        (Commit::Snapshot { .. }, _) => {
            if prev.is_some_and(|p| p != entry.prev) {
                say(name, format!("previous-entry hash does not match {} (an earlier entry was altered, removed or replaced)", entry_name(seq - 1)));
            }
        }
    }
    found
}
