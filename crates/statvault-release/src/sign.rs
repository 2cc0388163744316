//! `release sign` and `release revise`: checks a built bundle is intact, logs it in the
//! transparency log, writes its inclusion proof (`transparency.json`) and minisign
//! signature (`manifest.json.minisig`), and records the version in the calendar.
//!
//! A bundle lives in a releases directory, beside the log (`log/`) and the calendar
//! (`calendar.json`, `calendar.ics`); that directory is the bundle's parent.

use std::fs;
use std::path::{Path, PathBuf};

use crate::signer::Signer;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::calendar::{Calendar, Status};
use crate::meta::is_address;
use crate::minisign::{MinisignKey, MinisignSignature};
use crate::names::{MANIFEST_FILE, PROOF_FILE, SIGNATURE_FILE};
use crate::tlog::{
    remove_leftovers, write_atomically, EntryKind, LogEntry, TransparencyLog, ENTRY_FORMAT,
};
use crate::verify::{check_files, read_small};
use crate::{meta, Manifest, ReleaseError};

/// The most bytes a reader takes of a bundle's manifest, signature and proof: far
/// beyond any real one, and a bound on what a forged one can make a reader hold.
pub const MANIFEST_MAX: u64 = 64 << 20;
/// The most bytes a reader takes of a bundle's signature.
pub const SIGNATURE_MAX: u64 = 64 << 10;
/// The most bytes a reader takes of a bundle's proof of inclusion.
pub const PROOF_MAX: u64 = 1 << 20;

/// What `release sign` did.
#[derive(Debug, Serialize)]
pub struct SignReport {
    /// The release id.
    pub release: String,
    /// Its version.
    pub version: u32,
    /// The signing key's minisign id.
    pub key_id: String,
    /// The manifest's entry in the transparency log.
    pub log_index: u64,
    /// The log's size after the entry.
    pub tree_size: u64,
    /// Files the manifest lists.
    pub files: usize,
    /// The signature's trusted comment.
    pub trusted_comment: String,
    /// The log already held this bundle's entry: a signing cut short was finished.
    pub resumed: bool,
}

/// The directory a bundle lives in, with its log and calendar.
pub fn releases_dir(bundle: &Path) -> PathBuf {
    match bundle.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The trusted comment names what was signed, so a signature cannot be carried over
/// to another release or version.
pub fn trusted_comment(manifest: &Manifest, log_index: u64) -> String {
    format!(
        "release:{} version:{} release_time:{} log_index:{log_index}",
        manifest.release, manifest.version, manifest.release_time
    )
}

/// Signs the bundle in `bundle`. `revision` is the reason for a version after the
/// first; the first version has none.
///
/// The log entry is the journal: if the log already holds this key's entry for this
/// bundle (a signing cut short after its entry was logged), the proof and signature
/// are written for that entry and nothing is logged again; a bundle whose signature
/// already verifies is refused.
pub fn sign(
    bundle: &Path,
    signer: &Signer,
    revision: Option<&str>,
) -> Result<SignReport, ReleaseError> {
    let refuse = |message: String| ReleaseError::Bundle {
        path: bundle.display().to_string(),
        message,
    };
    // A signing killed while writing leaves `<file>.partial-<pid>` in the bundle.
    remove_leftovers(bundle);
    let (manifest_bytes, manifest, bundle_name) = read_bundle_to_sign(bundle)?;
    let manifest_sha256 = hex::encode(Sha256::digest(&manifest_bytes));
    let key = signer.key();
    let releases = releases_dir(bundle);
    // Decided on the log the signer checked, not on calendar.json, which whoever
    // writes the releases directory can change.
    let mut log = TransparencyLog::extend(&releases.join(crate::names::LOG_DIR), signer)?;
    let logged = log.entries().find(|e| {
        matches!(e.kind, EntryKind::Release | EntryKind::Revision)
            && e.manifest_sha256.as_deref() == Some(manifest_sha256.as_str())
            && e.bundle_name() == bundle_name
    });
    let (proof, resumed) = match logged {
        Some(entry) => {
            let signed = read_small(bundle, SIGNATURE_FILE, SIGNATURE_MAX)
                .ok()
                .and_then(|t| MinisignSignature::read(&String::from_utf8_lossy(&t)).ok())
                .is_some_and(|s| {
                    s.verify(&MinisignKey::of(key.public_key()), &manifest_bytes)
                        .is_ok()
                });
            let calendar_current = fs::read(Calendar::path(&releases))
                .is_ok_and(|c| c == Calendar::from_log(log.entries()).write());
            if signed && bundle.join(PROOF_FILE).exists() && calendar_current {
                return Err(refuse(format!(
                    "already signed (log entry {}); a signed release is never signed again, a correction is a new version",
                    entry.index
                )));
            }
            (
                log.proof_of(entry.index).expect("an entry of the log"),
                true,
            )
        }
        None => {
            for done in [SIGNATURE_FILE, PROOF_FILE] {
                if bundle.join(done).exists() {
                    return Err(refuse(format!(
                        "already signed ({done} exists, though no entry of this log publishes it); a signed release is never signed again, a correction is a new version"
                    )));
                }
            }
            let calendar = Calendar::from_log(log.entries());
            let (kind, revises) = entry_kind(&manifest, revision, &calendar, bundle, &releases)?;
            let entry = LogEntry {
                format: ENTRY_FORMAT.into(),
                index: 0,
                kind,
                release: manifest.release.clone(),
                version: Some(manifest.version),
                logged: meta::utc_now(),
                release_time: manifest.release_time.clone(),
                manifest_sha256: Some(manifest_sha256.clone()),
                revises_manifest_sha256: revises,
                reason: revision.map(str::to_string),
                reasons: Default::default(),
                title: Some(manifest.title.clone()),
                bundle: Some(bundle_name),
                organizer: None,
            };
            (log.append(entry)?, false)
        }
    };
    write_atomically(&bundle.join(PROOF_FILE), &proof.write())?;
    let comment = trusted_comment(&manifest, proof.index);
    let signature = MinisignSignature::sign(
        key,
        &manifest_bytes,
        &comment,
        "statvault release manifest; check with: minisign -Vm manifest.json -p key.pub",
    );
    write_atomically(&bundle.join(SIGNATURE_FILE), signature.write().as_bytes())?;
    Calendar::from_log(log.entries()).save(&releases)?;
    Ok(SignReport {
        release: manifest.release.clone(),
        version: manifest.version,
        key_id: MinisignKey::of(key.public_key()).id_hex(),
        log_index: proof.index,
        tree_size: proof.tree_size,
        files: manifest.files.len(),
        trusted_comment: comment,
        resumed,
    })
}

/// The bundle's manifest (read once, then every file checked against it) and its
/// directory name, which becomes its address.
fn read_bundle_to_sign(bundle: &Path) -> Result<(Vec<u8>, Manifest, String), ReleaseError> {
    let refuse = |message: String| ReleaseError::Bundle {
        path: bundle.display().to_string(),
        message,
    };
    let manifest_bytes = read_small(bundle, MANIFEST_FILE, MANIFEST_MAX)
        .map_err(|e| ReleaseError::io(&bundle.join(MANIFEST_FILE), e))?;
    let manifest =
        Manifest::read(&manifest_bytes).map_err(|m| refuse(format!("{MANIFEST_FILE}: {m}")))?;
    let check = check_files(
        bundle,
        &manifest,
        &[MANIFEST_FILE, SIGNATURE_FILE, PROOF_FILE],
    );
    if let Some(problem) = check.problems.first() {
        return Err(refuse(format!(
            "does not match its manifest ({} problem(s)), first: {problem}",
            check.problems.len()
        )));
    }
    let name = bundle
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| is_address(n))
        .ok_or_else(|| {
            refuse("its directory name must be letters, digits, '-', '_' or '.' (it is the bundle's address)".into())
        })?;
    Ok((manifest_bytes, manifest, name))
}

/// Whether the bundle is a first release or a revision, and what it revises, by the
/// rules of the calendar built from the signed log.
fn entry_kind(
    manifest: &Manifest,
    revision: Option<&str>,
    calendar: &Calendar,
    bundle: &Path,
    releases: &Path,
) -> Result<(EntryKind, Option<String>), ReleaseError> {
    let refuse = |message: String| ReleaseError::Bundle {
        path: bundle.display().to_string(),
        message,
    };
    let calendar_error = |message: String| ReleaseError::Calendar {
        path: Calendar::path(releases).display().to_string(),
        message,
    };
    let existing = calendar.get(&manifest.release);
    let id = &manifest.release;
    match (manifest.version, revision) {
        (1, Some(_)) => Err(refuse(
            "version 1 is a first publication, not a revision: use release sign".into(),
        )),
        (1, None) => {
            if let Some(r) = existing {
                match r.status {
                    Status::Published | Status::Withdrawn => {
                        return Err(calendar_error(format!(
                            "{id} is already {:?}; a correction is a new version (release revise)",
                            r.status
                        )))
                    }
                    Status::Scheduled | Status::Postponed if r.release_time != manifest.release_time => {
                        return Err(calendar_error(format!(
                            "{id} is announced for {}, the bundle's release time is {}: rebuild it for the announced time, or postpone",
                            r.release_time, manifest.release_time
                        )))
                    }
                    _ => {}
                }
            }
            Ok((EntryKind::Release, None))
        }
        (v, None) => Err(refuse(format!(
            "version {v} is a revision: use release revise --reason"
        ))),
        (v, Some(reason)) => {
            if reason.trim().is_empty() {
                return Err(refuse("a revision needs a reason".into()));
            }
            let previous = existing
                .filter(|r| r.status == Status::Published)
                .and_then(|r| r.versions.last())
                .filter(|p| p.version + 1 == v)
                .ok_or_else(|| {
                    calendar_error(format!(
                        "version {v} revises version {} of {id}, which is not the latest published version in the calendar",
                        v - 1
                    ))
                })?;
            Ok((EntryKind::Revision, Some(previous.manifest_sha256.clone())))
        }
    }
}
