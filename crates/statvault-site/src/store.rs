//! What the site serves, read from a releases directory (`docs/release-format.md`,
//! "Releases directory"): every bundle that verifies against the office's key, the
//! calendar if every notice in it is what the signed log says, and the transparency
//! log. A bundle that does not verify is never served;
//! one whose release time has not come is invisible (the embargo), and appears at that
//! time with no restart, since visibility is decided per request.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde_json::Value;
use sha2::{Digest, Sha256};
use statvault_protect::ProtectedTable;
use statvault_release::calendar::Calendar;
use statvault_release::checkpoint::NoteKey;
use statvault_release::meta::parse_utc;
use statvault_release::minisign::{MinisignKey, MinisignSignature};
use statvault_release::names::{MANIFEST_FILE, PROOF_FILE, SIGNATURE_FILE};
use statvault_release::sign::{MANIFEST_MAX, PROOF_MAX, SIGNATURE_MAX};
use statvault_release::tlog::{EntryKind, LogEntry, LogProof, TransparencyLog};
use statvault_release::verify::{read_checked, read_small};
use statvault_release::{verify, Manifest, ReleaseMeta, VerifyOptions};

/// One verified bundle.
pub struct Bundle {
    /// The bundle's directory name: its address under `/releases/`.
    pub name: String,
    /// The signed manifest, parsed.
    pub manifest: Manifest,
    /// The release's metadata (title, statistical release, languages).
    pub meta: ReleaseMeta,
    /// Unix time the embargo ends.
    pub release_secs: u64,
    /// The protected tables, in the manifest's order.
    pub tables: Vec<ProtectedTable>,
    /// What search looks through in each table (`search::haystack`), in the order of
    /// `tables`: made once when the bundle is read, not on every search.
    pub search_texts: Vec<String>,
    /// Outlines the release publishes, by dimension (`geo/<dimension>.geojson`),
    /// projected for the maps.
    pub outlines: Vec<(String, Vec<crate::geo::Outline>)>,
    /// The minisign key id that signed the manifest.
    pub key_id: String,
    /// The manifest's entry in the transparency log.
    pub log_index: Option<u64>,
    /// Quoted SHA-256 of the manifest: the ETag of everything derived from the bundle.
    pub etag: String,
    /// The manifest, its signature and its log proof, as read once and checked: the
    /// manifest against the signed log entry, the signature and proof against the
    /// key. They are served from here, never read again.
    pub manifest_bytes: Vec<u8>,
    /// The manifest's minisign signature, as stored.
    pub signature: Vec<u8>,
    /// The inclusion proof of the manifest in the log, as stored.
    pub proof: Vec<u8>,
}

impl Bundle {
    /// The outlines the release publishes for a dimension's categories; none if it
    /// publishes none.
    pub fn outlines_of(&self, dimension: &str) -> &[crate::geo::Outline] {
        self.outlines
            .iter()
            .find(|(d, _)| d == dimension)
            .map_or(&[], |(_, o)| o.as_slice())
    }

    /// Whether table `id` holds every word of `query` (see `search`).
    pub fn finds(&self, id: &str, query: &str) -> bool {
        self.tables
            .iter()
            .position(|t| t.id == id)
            .is_some_and(|k| crate::search::matches(query, &self.search_texts[k]))
    }

    /// The table with id `id`, if the bundle has it.
    pub fn table(&self, id: &str) -> Option<&ProtectedTable> {
        self.tables.iter().find(|t| t.id == id)
    }
}

/// Everything read in one pass over the releases directory.
#[derive(Default)]
pub struct Catalog {
    /// The release calendar, verified against the log.
    pub calendar: Option<Calendar>,
    /// Sorted by release time, then release id and version.
    pub bundles: Vec<Arc<Bundle>>,
    /// What was refused (bundles that do not verify, a calendar that does not match
    /// the log), with why.
    pub refused: Vec<String>,
    /// The release key every bundle and the log are verified with.
    pub key: Option<MinisignKey>,
    /// The log's checkpoint, verified with `key`, and the entries it covers as lines.
    pub checkpoint: Option<String>,
    /// The log's entries, one line each, as served at `/log/entries`.
    pub log_lines: Vec<u8>,
    /// The leaf hashes of those entries, for consistency proofs.
    pub log_leaves: Vec<statvault_release::merkle::Digest>,
}

impl Catalog {
    /// The log's C2SP note verifier key (`<origin>+<hash>+<key>`), for third-party
    /// checkers of the checkpoints.
    pub fn verifier_key(&self) -> Option<String> {
        let key = self.key?;
        Some(
            NoteKey {
                name: TransparencyLog::origin(&key.key),
                key: key.key,
            }
            .verifier_string(),
        )
    }

    /// Bundles whose embargo is over at `now`.
    pub fn public(&self, now: u64) -> impl DoubleEndedIterator<Item = &Arc<Bundle>> {
        self.bundles.iter().filter(move |b| b.release_secs <= now)
    }

    /// The public versions of a release, oldest first.
    pub fn versions(&self, release: &str, now: u64) -> Vec<&Arc<Bundle>> {
        let mut versions: Vec<_> = self
            .public(now)
            .filter(|b| b.manifest.release == release)
            .collect();
        versions.sort_by_key(|b| b.manifest.version);
        versions
    }

    /// The latest public version of each release, newest release first.
    pub fn latest(&self, now: u64) -> Vec<&Arc<Bundle>> {
        let mut latest: BTreeMap<&str, &Arc<Bundle>> = BTreeMap::new();
        for b in self.public(now) {
            let slot = latest.entry(&b.manifest.release).or_insert(b);
            if b.manifest.version > slot.manifest.version {
                *slot = b;
            }
        }
        let mut out: Vec<_> = latest.into_values().collect();
        out.sort_by(|a, b| {
            b.release_secs
                .cmp(&a.release_secs)
                .then(a.name.cmp(&b.name))
        });
        out
    }

    /// The public bundle named `name` at time `now`: embargoed bundles are not found.
    pub fn bundle(&self, name: &str, now: u64) -> Option<&Arc<Bundle>> {
        self.public(now).find(|b| b.name == name)
    }
}

/// The releases directory and the catalog last read from it.
pub struct Store {
    dir: PathBuf,
    key: Option<MinisignKey>,
    catalog: RwLock<(Stamp, Arc<Catalog>)>,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// What changes when the office publishes: the log head and the set of bundles (the
/// calendar is built from the log).
type Stamp = Vec<(String, Option<SystemTime>)>;

impl Store {
    /// Reads the releases directory. Without `key`, the key beside the log is trusted
    /// (the site then shows integrity, not who signed).
    pub fn open(dir: &Path, key: Option<MinisignKey>) -> Store {
        Store::with_clock(dir, key, Box::new(unix_now))
    }

    /// As `open`, with a clock (tests move time to see the embargo end).
    pub fn with_clock(
        dir: &Path,
        key: Option<MinisignKey>,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Store {
        let store = Store {
            dir: dir.to_path_buf(),
            key,
            catalog: RwLock::new((Vec::new(), Arc::new(Catalog::default()))),
            clock,
        };
        store.refresh();
        store
    }

    /// The releases directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Unix time now, by the store's clock.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// The catalog as last read.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("catalog lock").1.clone()
    }

    /// A file of bundle `name` no longer matched its manifest when served: says so,
    /// and makes the next refresh reread (and verify) the whole directory, so that the
    /// bundle is refused from then on.
    pub fn file_refused(&self, name: &str, why: &str) {
        crate::diagnostic!("refused to serve from {name}: {why}; rereading the releases directory");
        self.catalog.write().expect("catalog lock").0.clear();
    }

    /// Rereads the directory if anything was published since the last read; returns
    /// whether it did.
    pub fn refresh(&self) -> bool {
        let stamp = stamp(&self.dir);
        if self.catalog.read().expect("catalog lock").0 == stamp && !stamp.is_empty() {
            return false;
        }
        let catalog = Arc::new(load(&self.dir, self.key));
        *self.catalog.write().expect("catalog lock") = (stamp, catalog);
        true
    }
}

/// The clock a store reads by default.
pub use statvault_release::meta::now_secs as unix_now;

fn stamp(dir: &Path) -> Stamp {
    let modified = |p: PathBuf| fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut stamp = vec![("log".to_string(), modified(dir.join("log/checkpoint")))];
    if let Ok(entries) = fs::read_dir(dir) {
        let mut names: Vec<(String, Option<SystemTime>)> = entries
            .flatten()
            .filter(|e| {
                e.path()
                    .join(statvault_release::names::SIGNATURE_FILE)
                    .exists()
            })
            .map(|e| {
                let sig = modified(e.path().join(statvault_release::names::SIGNATURE_FILE));
                (e.file_name().to_string_lossy().into_owned(), sig)
            })
            .collect();
        names.sort();
        stamp.extend(names);
    }
    stamp
}

fn load(dir: &Path, key: Option<MinisignKey>) -> Catalog {
    let mut catalog = Catalog {
        key: key.or_else(|| {
            fs::read_to_string(dir.join("log/key.pub"))
                .ok()
                .and_then(|t| MinisignKey::read(&t).ok())
        }),
        ..Catalog::default()
    };
    let signed = match signed_log(dir, catalog.key) {
        Ok(Some(log)) => {
            catalog.calendar = Some(Calendar::from_log(log.entries.clone()));
            catalog.checkpoint = Some(log.checkpoint);
            catalog.log_lines = log.lines;
            catalog.log_leaves = log.leaves;
            log.entries
        }
        Ok(None) => Vec::new(),
        Err(why) => {
            catalog.refused.push(format!("log: {why}"));
            Vec::new()
        }
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return catalog;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Dot-directories are a mirror's downloads in progress.
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden || !path.join(statvault_release::names::SIGNATURE_FILE).exists() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        match load_bundle(&path, &name, catalog.key, &signed) {
            Ok(bundle) => catalog.bundles.push(Arc::new(bundle)),
            Err(why) => catalog.refused.push(format!("{name}: {why}")),
        }
    }
    catalog.bundles.sort_by(|a, b| {
        (a.release_secs, &a.manifest.release, a.manifest.version).cmp(&(
            b.release_secs,
            &b.manifest.release,
            b.manifest.version,
        ))
    });
    catalog
}

struct SignedLog {
    entries: Vec<LogEntry>,
    lines: Vec<u8>,
    leaves: Vec<statvault_release::merkle::Digest>,
    checkpoint: String,
}

/// The entries of the log that its checkpoint, signed by `key`, covers, and that
/// checkpoint; read once, and everything the site shows of the log (the calendar, which
/// bundles may be served) comes from them. `None` without a log.
fn signed_log(dir: &Path, key: Option<MinisignKey>) -> Result<Option<SignedLog>, String> {
    if !TransparencyLog::entries_path(&dir.join(statvault_release::names::LOG_DIR)).exists() {
        return Ok(None);
    }
    let key = key.ok_or("no key to check the log with")?;
    let log = TransparencyLog::open(&dir.join(statvault_release::names::LOG_DIR))
        .map_err(|e| e.to_string())?;
    let text = log
        .checkpoint_text()
        .map_err(|e| e.to_string())?
        .ok_or("the log has no checkpoint")?;
    let covered = log.check(&text, &key.key)?.size as usize;
    Ok(Some(SignedLog {
        entries: log.entries().take(covered).collect(),
        lines: log.lines(covered as u64),
        leaves: log.leaves(covered as u64),
        checkpoint: text,
    }))
}

/// The signed entry that publishes the bundle in directory `name`: a release or
/// revision that names it, of the manifest's release and version, whose manifest hash
/// is the manifest's. Anything else (an old bundle copied under a new name, say) is
/// refused.
fn publishing_entry<'a>(
    signed: &'a [LogEntry],
    name: &str,
    manifest: &Manifest,
    manifest_bytes: &[u8],
) -> Result<&'a LogEntry, String> {
    let sha = hex::encode(Sha256::digest(manifest_bytes));
    signed
        .iter()
        .find(|e| {
            matches!(e.kind, EntryKind::Release | EntryKind::Revision)
                && e.bundle_name() == name
                && e.release == manifest.release
                && e.version == Some(manifest.version)
                && e.manifest_sha256.as_deref() == Some(sha.as_str())
        })
        .ok_or_else(|| {
            format!(
                "no signed log entry publishes {} version {} under the name {name}",
                manifest.release, manifest.version
            )
        })
}

fn load_bundle(
    path: &Path,
    name: &str,
    key: Option<MinisignKey>,
    signed: &[LogEntry],
) -> Result<Bundle, String> {
    if !is_address(name) {
        return Err("its directory name cannot be an address".into());
    }
    let report = verify(
        path,
        &VerifyOptions {
            key,
            ..VerifyOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    if !report.passed() {
        return Err(report.problems.join("; "));
    }
    // What the site keeps is read once more here and checked as it is read: the
    // manifest against the signed log entry that publishes it, the other files
    // against the manifest. Nothing verify() read is used.
    let small =
        |file: &str, limit: u64| read_small(path, file, limit).map_err(|e| format!("{file}: {e}"));
    let manifest_bytes = small(MANIFEST_FILE, MANIFEST_MAX)?;
    let manifest = Manifest::read(&manifest_bytes)?;
    publishing_entry(signed, name, &manifest, &manifest_bytes)?;
    let key = key.ok_or("no key")?;
    let signature = small(SIGNATURE_FILE, SIGNATURE_MAX)?;
    MinisignSignature::read(&String::from_utf8_lossy(&signature))
        .and_then(|s| s.verify(&key, &manifest_bytes))
        .map_err(|e| format!("{SIGNATURE_FILE}: {e}"))?;
    let proof = small(PROOF_FILE, PROOF_MAX)?;
    LogProof::read(&proof)
        .and_then(|p| p.verify(&key.key))
        .map_err(|e| format!("{PROOF_FILE}: {e}"))?;
    let checked = |file: &str| {
        let entry = manifest
            .files
            .iter()
            .find(|f| f.path == file)
            .ok_or_else(|| format!("{file}: not in the manifest"))?;
        read_checked(path, entry, true)
    };
    let release: Value = serde_json::from_slice(&checked(statvault_release::names::RELEASE_FILE)?)
        .map_err(|e| format!("release.json: {e}"))?;
    let meta: ReleaseMeta = serde_json::from_value(release["meta"].clone())
        .map_err(|e| format!("release.json: {e}"))?;
    let mut tables = Vec::new();
    for file in &manifest.files {
        if file.path.starts_with("tables/") && file.path.ends_with(".protected.json") {
            let table = ProtectedTable::read(&read_checked(path, file, true)?)
                .map_err(|e| format!("{}: {e}", file.path))?;
            tables.push(table);
        }
    }
    let mut outlines = Vec::new();
    for file in &manifest.files {
        let dimension = file
            .path
            .strip_prefix("geo/")
            .and_then(|p| p.strip_suffix(".geojson"));
        if let Some(dimension) = dimension {
            let read = crate::geo::read(&read_checked(path, file, true)?)
                .map_err(|e| format!("{}: {e}", file.path))?;
            outlines.push((dimension.to_string(), read));
        }
    }
    Ok(Bundle {
        name: name.to_string(),
        release_secs: parse_utc(&manifest.release_time).ok_or("release time")?,
        etag: format!("\"{}\"", hex::encode(Sha256::digest(&manifest_bytes))),
        manifest,
        search_texts: tables
            .iter()
            .map(|t| crate::search::haystack(t, &meta.title))
            .collect(),
        meta,
        tables,
        outlines,
        key_id: report.key_id,
        log_index: report.log_index,
        manifest_bytes,
        signature,
        proof,
    })
}

pub use statvault_release::meta::is_address;
