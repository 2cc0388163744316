//! `site mirror`: pulls a primary site's transparency log, calendar and public bundles
//! into a releases directory of its own, verifying everything against the office's
//! key before keeping it, so that the mirror can serve the releases while the primary
//! is down. What does not verify is refused, reported and never written into place.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use statvault_release::calendar::Calendar;
use statvault_release::checkpoint::Checkpoint;
use statvault_release::meta::parse_utc;
use statvault_release::minisign::{MinisignKey, MinisignSignature};
use statvault_release::names::{MANIFEST_FILE, PROOF_FILE, SIGNATURE_FILE};
use statvault_release::sign::{MANIFEST_MAX, PROOF_MAX, SIGNATURE_MAX};
use statvault_release::tlog::{
    write_atomically, EntryKind, LogEntry, TransparencyLog, CHECKPOINT_MAX, LOG_MAX,
};
use statvault_release::{merkle, verify, Manifest, VerifyOptions};

use crate::store::is_address;

/// What one `site pull` did.
#[derive(Debug, Default, Serialize)]
pub struct PullReport {
    /// Bundles fetched and verified in this pull.
    pub new_bundles: Vec<String>,
    /// Bundles already held.
    pub kept_bundles: usize,
    /// Entries of the transparency log held after the pull.
    pub log_size: u64,
    /// What was refused, and why.
    pub refused: Vec<String>,
}

/// What a mirror's pulls have come to, for its operator's `/metrics`.
#[derive(Debug, Default)]
pub struct MirrorStatus {
    pulls_completed: AtomicU64,
    pulls_stopped: AtomicU64,
    bundles_fetched: AtomicU64,
    bundles_refused: AtomicU64,
    /// Seconds since 1970 of the last pull that completed; 0 before the first.
    last_completed: AtomicU64,
}

impl MirrorStatus {
    /// Counts one pull's outcome, finished at `now`.
    pub fn record(&self, outcome: &Result<PullReport, MirrorError>, now: u64) {
        match outcome {
            Ok(report) => {
                self.pulls_completed.fetch_add(1, Ordering::Relaxed);
                self.last_completed.store(now, Ordering::Relaxed);
                let fetched = report.new_bundles.len() as u64;
                self.bundles_fetched.fetch_add(fetched, Ordering::Relaxed);
                let refused = report.refused.len() as u64;
                self.bundles_refused.fetch_add(refused, Ordering::Relaxed);
            }
            Err(_) => {
                self.pulls_stopped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counters in Prometheus's text format. A pull "stopped" when the primary
    /// could not be reached or its log did not verify; alert on a growing
    /// `time() - statvault_mirror_last_pull_seconds`.
    pub fn metrics(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "# TYPE statvault_mirror_pulls_total counter\n\
statvault_mirror_pulls_total{{result=\"completed\"}} {}\n\
statvault_mirror_pulls_total{{result=\"stopped\"}} {}\n\
# TYPE statvault_mirror_bundles_total counter\n\
statvault_mirror_bundles_total{{result=\"fetched\"}} {}\n\
statvault_mirror_bundles_total{{result=\"refused\"}} {}\n\
# TYPE statvault_mirror_last_pull_seconds gauge\n\
statvault_mirror_last_pull_seconds {}\n",
            get(&self.pulls_completed),
            get(&self.pulls_stopped),
            get(&self.bundles_fetched),
            get(&self.bundles_refused),
            get(&self.last_completed),
        )
    }
}

/// Why a pull failed as a whole (a bundle that does not verify is refused, not an
/// error).
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The primary could not be fetched from, or answered what is not allowed.
    #[error("{url}: {message}")]
    Fetch {
        /// The address asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The mirror's own directory could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The primary's transparency log is not consistent with what the mirror holds,
    /// or its checkpoint does not verify.
    #[error("the primary's log does not verify: {0}")]
    Log(String),
}

/// The most one answer may have, by what it is; a bundle file may have at most the
/// size its signed manifest declares.
/// How long one pull may take in all, and one connection attempt.
pub const PULL_DEADLINE: Duration = Duration::from_secs(30 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A primary that sends nothing for this long is given up on.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The primary, asked within one pull's deadline: same origin only (no redirects),
/// every answer capped.
struct Primary {
    base: String,
    agent: ureq::Agent,
    deadline: Instant,
}

impl Primary {
    fn new(base: &str, deadline: Duration) -> Primary {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .timeout_per_write(Some(READ_TIMEOUT))
            .build();
        Primary {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::Agent::new_with_config(config),
            deadline: Instant::now() + deadline,
        }
    }

    /// GETs `path` (beginning with `/`); anything but a 200 answer of at most `limit`
    /// bytes, within the pull's deadline, fails.
    fn get(&self, path: &str, limit: u64) -> Result<Vec<u8>, MirrorError> {
        let url = format!("{}{path}", self.base);
        let failed = |message: String| MirrorError::Fetch {
            url: url.clone(),
            message,
        };
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| failed("the pull's deadline passed".into()))?;
        let mut response = self
            .agent
            .get(&url)
            .header("accept-encoding", "identity")
            .config()
            .timeout_global(Some(left))
            .build()
            .call()
            .map_err(|e| failed(e.to_string()))?;
        if response.status() != 200 {
            return Err(failed(format!("answered {}", response.status())));
        }
        // One byte more than allowed is asked for, so that an answer of exactly the
        // limit ends cleanly. The cap applies to the bytes as decoded, so a small
        // compressed answer cannot inflate past it either.
        response
            .body_mut()
            .with_config()
            .limit(limit.saturating_add(1))
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => failed(format!(
                    "the answer is longer than the {limit} bytes expected"
                )),
                other => failed(other.to_string()),
            })
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> MirrorError + '_ {
    move |cause| MirrorError::Io {
        path: path.display().to_string(),
        cause,
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), MirrorError> {
    fs::create_dir_all(path.parent().expect("a file in a directory")).map_err(io_error(path))?;
    fs::write(path, bytes).map_err(io_error(path))
}

/// One pull from the primary at `from` (e.g. `http://192.0.2.1:8080`) into `out`.
///
/// The log first: the new checkpoint must be signed by `key`, its entries must hash
/// to it, and the checkpoint this mirror kept must be a prefix of it; otherwise the
/// pull stops, and the mirror keeps serving what it has. The signed entries then say
/// everything else: the calendar is rebuilt from them (never copied), and each bundle
/// a release or revision entry publishes (once its release time has come) is fetched
/// under the name the entry gives it, its manifest checked against the entry's hash
/// before any other file is fetched, and renamed into place only if it all verifies.
/// `now` (seconds since 1970) decides which releases are public; the pull gives up
/// after `deadline` (normally [`PULL_DEADLINE`]).
pub fn pull(
    from: &str,
    out: &Path,
    key: MinisignKey,
    now: u64,
    deadline: Duration,
) -> Result<PullReport, MirrorError> {
    let primary = Primary::new(from, deadline);
    let mut report = PullReport::default();
    let checkpoint_text =
        String::from_utf8_lossy(&primary.get("/log/checkpoint", CHECKPOINT_MAX)?).into_owned();
    let entries = primary.get("/log/entries.jsonl", LOG_MAX)?;
    // Check the new log in a scratch directory before it replaces ours.
    let staging = out.join(".incoming-log");
    let _ = fs::remove_dir_all(&staging);
    write(&TransparencyLog::entries_path(&staging), &entries)?;
    let log = TransparencyLog::open(&staging).map_err(|e| MirrorError::Log(e.to_string()))?;
    let _ = fs::remove_dir_all(&staging);
    let checkpoint = log
        .check(&checkpoint_text, &key.key)
        .map_err(MirrorError::Log)?;
    let log_dir = out.join(statvault_release::names::LOG_DIR);
    if let Ok(kept_text) =
        fs::read_to_string(log_dir.join(statvault_release::names::CHECKPOINT_FILE))
    {
        let kept = Checkpoint::verify(&kept_text, &key.key).map_err(MirrorError::Log)?;
        let proof = log.consistency_proof(kept.size.min(checkpoint.size), checkpoint.size);
        if kept.size > checkpoint.size
            || !merkle::verify_consistency(
                kept.size,
                checkpoint.size,
                &kept.root,
                &checkpoint.root,
                &proof,
            )
        {
            return Err(MirrorError::Log(format!(
                "it is not an extension of the checkpoint this mirror kept (size {}): history was rewritten or rolled back",
                kept.size
            )));
        }
    }
    // The signed entries replace ours, then the checkpoint, each atomically: at every
    // moment the checkpoint on disk (the trust anchor of the next pull) covers entries
    // that are there, since the new entries extend the old.
    let atomically = |path: &Path, bytes: &[u8]| {
        fs::create_dir_all(&log_dir).map_err(io_error(&log_dir))?;
        write_atomically(path, bytes).map_err(|e| MirrorError::Log(e.to_string()))
    };
    atomically(
        &log_dir.join(statvault_release::names::LOG_KEY_FILE),
        key.write().as_bytes(),
    )?;
    atomically(
        &TransparencyLog::entries_path(&log_dir),
        &log.lines(checkpoint.size),
    )?;
    atomically(
        &log_dir.join(statvault_release::names::CHECKPOINT_FILE),
        checkpoint_text.as_bytes(),
    )?;
    report.log_size = checkpoint.size;
    let signed: Vec<LogEntry> = log.entries().take(checkpoint.size as usize).collect();
    Calendar::from_log(signed.clone())
        .save(out)
        .map_err(|e| MirrorError::Log(e.to_string()))?;

    for entry in &signed {
        if !matches!(entry.kind, EntryKind::Release | EntryKind::Revision)
            || parse_utc(&entry.release_time).is_none_or(|t| t > now)
        {
            continue;
        }
        let name = entry.bundle_name();
        if !is_address(&name) {
            report.refused.push(format!(
                "log entry {}: {name:?} cannot be a bundle's name",
                entry.index
            ));
            continue;
        }
        if holds(out, &name, entry) {
            report.kept_bundles += 1;
            continue;
        }
        match pull_bundle(&primary, out, &name, entry, key) {
            Ok(()) => report.new_bundles.push(name),
            Err(why) => report.refused.push(format!("{name}: {why}")),
        }
    }
    Ok(report)
}

/// Whether the mirror holds the bundle `entry` publishes, signed, under `name`.
fn holds(out: &Path, name: &str, entry: &LogEntry) -> bool {
    let dir = out.join(name);
    dir.join(SIGNATURE_FILE).exists()
        && fs::read(dir.join(MANIFEST_FILE))
            .is_ok_and(|m| Some(hex::encode(Sha256::digest(m))) == entry.manifest_sha256)
}

/// Fetches the bundle `entry` publishes into a temporary directory: the manifest
/// first, which must be the one the entry signs, and its signature; then each file,
/// at most its declared size; then verifies it all and puts it in place (replacing a
/// bundle held under that name that was not this one).
fn pull_bundle(
    primary: &Primary,
    out: &Path,
    name: &str,
    entry: &LogEntry,
    key: MinisignKey,
) -> Result<(), String> {
    let temp: PathBuf = out.join(format!(".incoming-{name}"));
    let _ = fs::remove_dir_all(&temp);
    let result = (|| {
        let get = |path: &str, limit: u64| {
            primary
                .get(&format!("/releases/{name}/{path}"), limit)
                .map_err(|e| e.to_string())
        };
        let manifest_bytes = get(MANIFEST_FILE, MANIFEST_MAX)?;
        if Some(hex::encode(Sha256::digest(&manifest_bytes))) != entry.manifest_sha256 {
            return Err(format!(
                "its manifest is not the one log entry {} signs",
                entry.index
            ));
        }
        let manifest = Manifest::read(&manifest_bytes)?;
        let signature = get(SIGNATURE_FILE, SIGNATURE_MAX)?;
        MinisignSignature::read(&String::from_utf8_lossy(&signature))
            .and_then(|s| s.verify(&key, &manifest_bytes))
            .map_err(|e| format!("{SIGNATURE_FILE}: {e}"))?;
        let put =
            |path: &str, bytes: &[u8]| write(&temp.join(path), bytes).map_err(|e| e.to_string());
        put(MANIFEST_FILE, &manifest_bytes)?;
        put(SIGNATURE_FILE, &signature)?;
        put(PROOF_FILE, &get(PROOF_FILE, PROOF_MAX)?)?;
        for file in &manifest.files {
            put(&file.path, &get(&file.path, file.size)?)?;
        }
        let report = verify(
            &temp,
            &VerifyOptions {
                key: Some(key),
                release: Some(entry.release.clone()),
                log: Some(out.join(statvault_release::names::LOG_DIR)),
                ..VerifyOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        if !report.passed() {
            return Err(report.problems.join("; "));
        }
        let place = out.join(name);
        let replaced = out.join(format!(".replaced-{name}"));
        let _ = fs::remove_dir_all(&replaced);
        if place.exists() {
            fs::rename(&place, &replaced).map_err(|e| e.to_string())?;
        }
        fs::rename(&temp, &place).map_err(|e| e.to_string())?;
        let _ = fs::remove_dir_all(&replaced);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
    }
    result
}
