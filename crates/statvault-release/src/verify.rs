//! `release verify`: everything a member of the public can check about a bundle with
//! the office's public key: the signature and its trusted comment, every file's size
//! and hashes, no file added or missing, the inclusion of the manifest in the
//! transparency log, and, given the log and a checkpoint kept from earlier, that the
//! log's history was only ever appended to.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::checkpoint::Checkpoint;
use crate::manifest::FileEntry;
use crate::merkle;
use crate::minisign::{MinisignKey, MinisignSignature};
use crate::names::{MANIFEST_FILE, PROOF_FILE, SIGNATURE_FILE};
use crate::parallel::parallel_map;
use crate::sign::{releases_dir, trusted_comment, MANIFEST_MAX, PROOF_MAX, SIGNATURE_MAX};
use crate::tlog::{EntryKind, LogProof, TransparencyLog, CHECKPOINT_MAX};
use crate::{Manifest, ReleaseError};

/// What `release verify` is given besides the bundle.
#[derive(Default)]
pub struct VerifyOptions {
    /// The office's public key; without it, the key beside the log is used, which
    /// proves the bundle intact but not who signed it.
    pub key: Option<MinisignKey>,
    /// The release id the bundle is expected to be (where it was found, e.g. a URL).
    pub release: Option<String>,
    /// A signed checkpoint the verifier kept from an earlier look at the log.
    pub kept_checkpoint: Option<String>,
    /// The log directory; by default `log/` beside the bundle, if it is there.
    pub log: Option<PathBuf>,
}

/// What `release verify` found.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    /// The release id the manifest gives.
    pub release: String,
    /// Its version.
    pub version: u32,
    /// The minisign id of the key that verified it.
    pub key_id: String,
    /// Where the key came from: `given` or the path beside the log.
    pub key_source: String,
    /// Files checked against the manifest.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The manifest's entry in the log.
    pub log_index: Option<u64>,
    /// The size of the tree the bundle's proof is for.
    pub tree_size: Option<u64>,
    /// The log's current size and checkpoint, when the log was checked: keep the
    /// checkpoint to check the next time that history was not rewritten.
    pub log_size: Option<u64>,
    /// Its signed checkpoint.
    pub log_checkpoint: Option<String>,
    /// The size of the kept checkpoint the log was found consistent with.
    pub kept_checkpoint_size: Option<u64>,
    /// Entries the log file holds past its signed checkpoint: nobody signed them, so
    /// they are ignored (and reported, since only the office may append).
    pub unsigned_entries: u64,
    /// What the checked log says happened to this release after this bundle: later
    /// versions and withdrawals, oldest first. The bundle still verifies; it is no
    /// longer the release's last word.
    pub later: Vec<String>,
    /// Empty when everything verifies.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether everything verified.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the bundle in `bundle`. A missing or unreadable directory is an error;
/// everything wrong with the bundle itself is a problem in the report.
pub fn verify(bundle: &Path, options: &VerifyOptions) -> Result<VerifyReport, ReleaseError> {
    if !bundle.is_dir() {
        return Err(ReleaseError::Bundle {
            path: bundle.display().to_string(),
            message: "not a directory".into(),
        });
    }
    let mut report = VerifyReport::default();
    let releases = releases_dir(bundle);
    let log_dir = options
        .log
        .clone()
        .unwrap_or_else(|| releases.join(crate::names::LOG_DIR));
    let key =
        match &options.key {
            Some(k) => {
                report.key_source = "given".into();
                *k
            }
            None => {
                let path = log_dir.join(crate::names::LOG_KEY_FILE);
                let text = read_small(&log_dir, crate::names::LOG_KEY_FILE, CHECKPOINT_MAX)
                    .map_err(|e| ReleaseError::Bundle {
                        path: bundle.display().to_string(),
                        message: format!(
                            "no --pubkey given and no key beside the log ({}: {e})",
                            path.display()
                        ),
                    })?;
                report.key_source = path.display().to_string();
                MinisignKey::read(&String::from_utf8_lossy(&text)).map_err(|message| {
                    ReleaseError::Log {
                        path: path.display().to_string(),
                        message,
                    }
                })?
            }
        };
    report.key_id = key.id_hex();

    let manifest_bytes = match read_small(bundle, MANIFEST_FILE, MANIFEST_MAX) {
        Ok(b) => b,
        Err(e) => {
            report
                .problems
                .push(format!("{MANIFEST_FILE}: cannot be read ({e})"));
            return Ok(report);
        }
    };
    let manifest = match Manifest::read(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            report.problems.push(format!("{MANIFEST_FILE}: {e}"));
            return Ok(report);
        }
    };
    report.release = manifest.release.clone();
    report.version = manifest.version;
    if let Some(expected) = &options.release {
        if *expected != manifest.release {
            report.problems.push(format!(
                "this bundle is release {:?}, not {expected:?}: it was replayed under another id",
                manifest.release
            ));
        }
    }

    check_signature(bundle, &key, &manifest, &manifest_bytes, &mut report);
    let files = check_files(
        bundle,
        &manifest,
        &[MANIFEST_FILE, SIGNATURE_FILE, PROOF_FILE],
    );
    report.files = files.files;
    report.bytes = files.bytes;
    report.problems.extend(files.problems);
    check_log(
        bundle,
        &key,
        &manifest_bytes,
        &manifest,
        &log_dir,
        options,
        &mut report,
    )?;
    Ok(report)
}

fn check_signature(
    bundle: &Path,
    key: &MinisignKey,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    report: &mut VerifyReport,
) {
    let text = match read_small(bundle, SIGNATURE_FILE, SIGNATURE_MAX) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            report.problems.push(format!(
                "{SIGNATURE_FILE}: missing or unreadable ({e}): the bundle is not signed"
            ));
            return;
        }
    };
    let signature = match MinisignSignature::read(&text) {
        Ok(s) => s,
        Err(e) => {
            report.problems.push(format!("{SIGNATURE_FILE}: {e}"));
            return;
        }
    };
    if let Err(e) = signature.verify(key, manifest_bytes) {
        report.problems.push(format!("{SIGNATURE_FILE}: {e}"));
        return;
    }
    // The comment is signed; it must name this manifest's release and version.
    let comment = &signature.trusted_comment;
    let index = comment.rsplit_once(" log_index:").map(|(_, i)| i);
    let expected = index
        .and_then(|i| i.parse::<u64>().ok())
        .map(|i| trusted_comment(manifest, i));
    if expected.as_deref() != Some(comment.as_str()) {
        report.problems.push(format!(
            "{SIGNATURE_FILE}: the trusted comment {comment:?} does not name this manifest's release {} version {}",
            manifest.release, manifest.version
        ));
    }
}

fn check_log(
    bundle: &Path,
    key: &MinisignKey,
    manifest_bytes: &[u8],
    manifest: &Manifest,
    log_dir: &Path,
    options: &VerifyOptions,
    report: &mut VerifyReport,
) -> Result<(), ReleaseError> {
    let bundle_checkpoint = match read_small(bundle, PROOF_FILE, PROOF_MAX)
        .map_err(|e| {
            format!("missing or unreadable ({e}): the bundle is not in the transparency log")
        })
        .and_then(|b| LogProof::read(&b))
        .and_then(|p| p.verify(&key.key))
    {
        Ok((entry, checkpoint)) => {
            report.log_index = Some(entry.index);
            report.tree_size = Some(checkpoint.size);
            let sha = hex::encode(Sha256::digest(manifest_bytes));
            if !matches!(entry.kind, EntryKind::Release | EntryKind::Revision)
                || entry.release != manifest.release
                || entry.version != Some(manifest.version)
                || entry.manifest_sha256.as_deref() != Some(sha.as_str())
            {
                report.problems.push(format!(
                    "{PROOF_FILE}: log entry {} records {:?} of {} version {:?}, not this manifest",
                    entry.index, entry.kind, entry.release, entry.version
                ));
            }
            Some(checkpoint)
        }
        Err(e) => {
            report.problems.push(format!("{PROOF_FILE}: {e}"));
            None
        }
    };

    let kept = match &options.kept_checkpoint {
        Some(text) => match Checkpoint::verify(text, &key.key) {
            Ok(c) => Some(c),
            Err(e) => {
                report.problems.push(format!("the kept checkpoint: {e}"));
                None
            }
        },
        None => None,
    };
    if !TransparencyLog::entries_path(log_dir).exists() {
        if options.kept_checkpoint.is_some() || options.log.is_some() {
            report.problems.push(format!(
                "no transparency log at {} to check the checkpoints against",
                log_dir.display()
            ));
        }
        return Ok(());
    }
    let log = TransparencyLog::open(log_dir)?;
    let Some(text) = log.checkpoint_text()? else {
        report
            .problems
            .push(format!("{}: the log has no checkpoint", log_dir.display()));
        return Ok(());
    };
    let current = match log.check(&text, &key.key) {
        Ok(c) => c,
        Err(e) => {
            report
                .problems
                .push(format!("{}/checkpoint: {e}", log_dir.display()));
            return Ok(());
        }
    };
    report.log_size = Some(current.size);
    report.unsigned_entries = log.size() - current.size;
    report.log_checkpoint = Some(text);
    report.later = later_news(&log, current.size, &report.release, report.log_index);
    for (what, old) in [
        ("the bundle's checkpoint", bundle_checkpoint),
        ("the kept checkpoint", kept),
    ] {
        let Some(old) = old else { continue };
        if what == "the kept checkpoint" {
            report.kept_checkpoint_size = Some(old.size);
        }
        if old.origin != current.origin {
            report.problems.push(format!(
                "{what} is from log {:?}, not {:?}",
                old.origin, current.origin
            ));
        } else if old.size > current.size {
            report.problems.push(format!(
                "{what} has {} entries, the log now has {}: the log was truncated or rolled back",
                old.size, current.size
            ));
        } else {
            let proof = log.consistency_proof(old.size, current.size);
            if !merkle::verify_consistency(old.size, current.size, &old.root, &current.root, &proof)
            {
                report.problems.push(format!(
                    "{what} (size {}) is not a prefix of the log (size {}): the log's history was rewritten",
                    old.size, current.size
                ));
            }
        }
    }
    Ok(())
}

/// The revisions and withdrawals of `release` that the first `size` (signed) entries
/// of `log` hold after entry `after`.
fn later_news(log: &TransparencyLog, size: u64, release: &str, after: Option<u64>) -> Vec<String> {
    let Some(after) = after else {
        return Vec::new();
    };
    log.entries()
        .take(size as usize)
        .filter(|e| e.release == release && e.index > after)
        .filter_map(|e| {
            let reason = e.reason.as_deref().unwrap_or("no reason given");
            match e.kind {
                EntryKind::Revision => Some(format!(
                    "version {} replaces it (log entry {}): {reason}",
                    e.version.unwrap_or_default(),
                    e.index
                )),
                EntryKind::Withdrawal => Some(format!(
                    "the release was withdrawn (log entry {}): {reason}",
                    e.index
                )),
                _ => None,
            }
        })
        .collect()
}

/// What comparing a bundle's files with its manifest found.
pub(crate) struct FileCheck {
    pub files: usize,
    pub bytes: u64,
    pub problems: Vec<String>,
}

/// Hashes every file the manifest lists (in parallel) and names every file changed,
/// missing or not listed. `outside` are the files that are not in the manifest by
/// design (the manifest itself, its signature and proof).
pub(crate) fn check_files(bundle: &Path, manifest: &Manifest, outside: &[&str]) -> FileCheck {
    let mut problems = Vec::new();
    let mut present = Vec::new();
    list_files(bundle, "", &mut present, &mut problems);
    for path in &present {
        if manifest
            .files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .is_err()
            && !outside.contains(&path.as_str())
        {
            problems.push(format!("{path}: added (not in the manifest)"));
        }
    }
    let hashed = parallel_map(&manifest.files, |entry| check_file(bundle, entry).err());
    problems.extend(hashed.into_iter().flatten());
    FileCheck {
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        problems,
    }
}

/// Reads `name` in `bundle` whole, following no symbolic link, opening only a regular
/// file, and refusing one larger than `limit`.
pub fn read_small(bundle: &Path, name: &str, limit: u64) -> std::io::Result<Vec<u8>> {
    let (file, size) = statvault_vault::beneath::Root::open(bundle)?.open_regular(name, 0)?;
    if size > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{size} bytes, more than the {limit} allowed"),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("grew past the {limit} bytes allowed while being read"),
        ));
    }
    Ok(bytes)
}

fn check_file(bundle: &Path, entry: &FileEntry) -> Result<(), String> {
    read_checked(bundle, entry, false).map(drop)
}

/// Reads the file `entry` names in `bundle`, following no symbolic link and opening
/// only a regular file (never blocking on a FIFO), and checks its size, SHA-256 and
/// BLAKE3 against the manifest; returns its bytes if `keep` (else nothing is kept).
/// What a reader serves is what this returned: bytes checked as they were read, not a
/// second read of a file that could have been swapped in between.
pub fn read_checked(bundle: &Path, entry: &FileEntry, keep: bool) -> Result<Vec<u8>, String> {
    let path = &entry.path;
    let opened =
        statvault_vault::beneath::Root::open(bundle).and_then(|root| root.open_regular(path, 0));
    let (mut file, size) = opened.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{path}: missing"),
        _ => format!("{path}: unreadable ({e})"),
    })?;
    if size != entry.size {
        return Err(format!(
            "{path}: changed ({size} bytes, the manifest says {})",
            entry.size
        ));
    }
    let (mut sha, mut b3) = (Sha256::new(), blake3::Hasher::new());
    let mut kept = Vec::with_capacity(if keep { size as usize } else { 0 });
    let mut buffer = vec![0u8; 256 * 1024];
    let mut read = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| format!("{path}: unreadable ({e})"))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > entry.size {
            break; // grew while being read
        }
        sha.update(&buffer[..n]);
        b3.update(&buffer[..n]);
        if keep {
            kept.extend_from_slice(&buffer[..n]);
        }
    }
    if read != entry.size {
        return Err(format!(
            "{path}: changed while being read ({read} bytes, the manifest says {})",
            entry.size
        ));
    }
    if hex::encode(sha.finalize()) != entry.sha256 {
        return Err(format!(
            "{path}: changed (SHA-256 differs from the manifest)"
        ));
    }
    if b3.finalize().to_hex().as_str() != entry.blake3 {
        return Err(format!(
            "{path}: changed (BLAKE3 differs from the manifest)"
        ));
    }
    Ok(kept)
}

/// Every regular file under `dir`, as `/`-separated paths relative to the bundle.
/// Anything else (a link, a device) is a problem: a bundle holds only files.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>, problems: &mut Vec<String>) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{}: unreadable ({e})", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{prefix}{name}");
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                list_files(&entry.path(), &format!("{relative}/"), out, problems)
            }
            Ok(t) if t.is_file() => out.push(relative),
            _ => problems.push(format!("{relative}: not a regular file")),
        }
    }
}
