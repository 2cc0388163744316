//! `site mirror`: pulls a primary site's transparency log, calendar and public bundles
//! into a releases directory of its own, verifying everything against the office's
//! key before keeping it, so that the mirror can serve the releases while the primary
//! is down. What does not verify is refused, reported and never written into place.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::Value;
use statvault_release::checkpoint::Checkpoint;
use statvault_release::minisign::MinisignKey;
use statvault_release::sign::{MANIFEST_FILE, PROOF_FILE, SIGNATURE_FILE};
use statvault_release::tlog::TransparencyLog;
use statvault_release::{merkle, verify, Manifest, VerifyOptions};

use crate::store::is_address;

/// Most bytes one download may have (a bundle file, the log).
const LARGEST: u64 = 2 << 30;

#[derive(Debug, Default, Serialize)]
pub struct PullReport {
    /// Bundles fetched and verified in this pull.
    pub new_bundles: Vec<String>,
    /// Bundles already held.
    pub kept_bundles: usize,
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

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the primary's log does not verify: {0}")]
    Log(String),
}

fn fetch(url: &str) -> Result<Vec<u8>, MirrorError> {
    let failed = |message: String| MirrorError::Fetch {
        url: url.to_string(),
        message,
    };
    let mut response = ureq::get(url).call().map_err(|e| failed(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(LARGEST)
        .read_to_vec()
        .map_err(|e| failed(e.to_string()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), MirrorError> {
    let io = |source| MirrorError::Io {
        path: path.display().to_string(),
        source,
    };
    fs::create_dir_all(path.parent().expect("a file in a directory")).map_err(io)?;
    fs::write(path, bytes).map_err(io)
}

/// One pull from the primary at `from` (e.g. `http://192.0.2.1:8080`) into `out`.
///
/// The log first: the new checkpoint must be signed by `key`, its entries must hash
/// to it, and the checkpoint this mirror kept must be a prefix of it; otherwise the
/// pull stops, and the mirror keeps serving what it has. Then each public bundle the
/// mirror lacks is fetched into a temporary directory, verified with the new log, and
/// renamed into place only if everything verifies.
pub fn pull(from: &str, out: &Path, key: MinisignKey) -> Result<PullReport, MirrorError> {
    let from = from.trim_end_matches('/');
    let mut report = PullReport::default();
    let checkpoint_text =
        String::from_utf8_lossy(&fetch(&format!("{from}/log/checkpoint"))?).into_owned();
    let entries = fetch(&format!("{from}/log/entries.jsonl"))?;
    // Check the new log in a scratch directory before it replaces ours.
    let staging = out.join(".incoming-log");
    let _ = fs::remove_dir_all(&staging);
    write(&TransparencyLog::entries_path(&staging), &entries)?;
    let log = TransparencyLog::open(&staging).map_err(|e| MirrorError::Log(e.to_string()))?;
    let checkpoint = log
        .check(&checkpoint_text, &key.key)
        .map_err(MirrorError::Log)?;
    if let Ok(kept_text) = fs::read_to_string(out.join("log/checkpoint")) {
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
    // Only the entries the checkpoint covers: anything past it was signed by nobody.
    write(
        &TransparencyLog::entries_path(&staging),
        &log.lines(checkpoint.size),
    )?;
    write(&staging.join("checkpoint"), checkpoint_text.as_bytes())?;
    write(&staging.join("key.pub"), key.write().as_bytes())?;
    report.log_size = checkpoint.size;
    let log_dir = out.join("log");
    let _ = fs::remove_dir_all(&log_dir);
    fs::rename(&staging, &log_dir).map_err(|source| MirrorError::Io {
        path: log_dir.display().to_string(),
        source,
    })?;
    for file in ["calendar.json", "calendar.ics"] {
        if let Ok(bytes) = fetch(&format!("{from}/{file}")) {
            write(&out.join(file), &bytes)?;
        }
    }

    let releases: Value = serde_json::from_slice(&fetch(&format!("{from}/api/v1/releases"))?)
        .map_err(|e| MirrorError::Fetch {
            url: format!("{from}/api/v1/releases"),
            message: e.to_string(),
        })?;
    let ids: Vec<String> = releases["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    for id in ids {
        let url = format!("{from}/api/v1/releases/{id}");
        let versions: Value =
            serde_json::from_slice(&fetch(&url)?).map_err(|e| MirrorError::Fetch {
                url,
                message: e.to_string(),
            })?;
        for bundle in versions["versions"].as_array().into_iter().flatten() {
            let Some(name) = bundle["bundle"]
                .as_str()
                .and_then(|b| b.strip_prefix("/releases/"))
                .map(|b| b.trim_end_matches('/').to_string())
                .filter(|b| is_address(b))
            else {
                continue;
            };
            if out.join(&name).join(SIGNATURE_FILE).exists() {
                report.kept_bundles += 1;
                continue;
            }
            match pull_bundle(from, out, &name, key) {
                Ok(()) => report.new_bundles.push(name),
                Err(why) => report.refused.push(format!("{name}: {why}")),
            }
        }
    }
    Ok(report)
}

fn pull_bundle(from: &str, out: &Path, name: &str, key: MinisignKey) -> Result<(), String> {
    let temp: PathBuf = out.join(format!(".incoming-{name}"));
    let _ = fs::remove_dir_all(&temp);
    let result = (|| {
        let get = |path: &str| {
            fetch(&format!("{from}/releases/{name}/{path}")).map_err(|e| e.to_string())
        };
        let manifest_bytes = get(MANIFEST_FILE)?;
        let manifest = Manifest::read(&manifest_bytes)?;
        let put =
            |path: &str, bytes: &[u8]| write(&temp.join(path), bytes).map_err(|e| e.to_string());
        put(MANIFEST_FILE, &manifest_bytes)?;
        for file in [SIGNATURE_FILE, PROOF_FILE] {
            put(file, &get(file)?)?;
        }
        for file in &manifest.files {
            put(&file.path, &get(&file.path)?)?;
        }
        let report = verify(
            &temp,
            &VerifyOptions {
                key: Some(key),
                release: Some(manifest.release.clone()),
                log: Some(out.join("log")),
                ..VerifyOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        if !report.passed() {
            return Err(report.problems.join("; "));
        }
        fs::rename(&temp, out.join(name)).map_err(|e| e.to_string())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
    }
    result
}
