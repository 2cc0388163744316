//! The audit log: one record per request to the vault (who, what, how much, outcome),
//! kept in the vault itself under `audit/` on every backend, as an RFC 6962 Merkle log
//! whose checkpoints the vault's signing key signs. Records are appended in segments
//! that are never rewritten; a checkpoint kept off the host (printed for custodians,
//! copied by replicas) detects a log truncated, rewritten or reordered since.
//! Format: `docs/audit-log.md`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use statvault_crypto::{PublicKey, Signing};
use statvault_tlog::checkpoint::Checkpoint;
use statvault_tlog::merkle::{leaf_hash, Frontier};

use crate::utc::utc_time;

use crate::{Backend, Result, Vault, VaultError};

/// Segments of records: `audit/entries/<index of its first record, 16 digits>`.
pub const ENTRIES: &str = "audit/entries/";
/// Signed checkpoints: `audit/checkpoints/<tree size, 16 digits>`.
pub const CHECKPOINTS: &str = "audit/checkpoints/";
/// Largest segment read; the writer's are far smaller.
const SEGMENT_MAX: u64 = 64 << 20;
const CHECKPOINT_MAX: u64 = 4096;

/// How a request ended; `Started` is written before any work is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Written before the work begins.
    #[default]
    Started,
    /// The request was answered.
    Done,
    /// The policy did not allow it.
    Refused,
    /// It was allowed, and failed.
    Failed,
}

/// One audit record. `index` and `time` are set by the log when it is appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditRecord {
    /// The record's position in the log, from 0.
    pub index: u64,
    /// Seconds since 1970 (UTC).
    pub time: u64,
    /// Ties the records of one request (started, then done, refused or failed).
    pub request: String,
    /// Who, from the socket's peer credentials (or the process, offline).
    pub uid: u32,
    /// The user's name.
    pub user: String,
    /// The custodians whose shares are in use: the one submitting (unseal) or those
    /// who unsealed the agent serving the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custodians: Vec<u8>,
    /// unseal, seal, add, ingest, tabulate, restore, verify, replicate, …
    pub command: String,
    /// The snapshot concerned, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// SHA-256 of the table spec, for tabulations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_sha256: Option<String>,
    /// Paths added or restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Microdata bytes read out of the vault (restore) or written into it (add).
    #[serde(default)]
    pub bytes: u64,
    /// Table cells produced (tabulate).
    #[serde(default)]
    pub cells: u64,
    /// How the request ended, or `started`.
    pub outcome: Outcome,
    /// Why a request was refused or failed; a seal's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The log's writer: where the next record goes and the tree head so far.
pub struct AuditLog {
    backend: Arc<dyn Backend>,
    origin: String,
    frontier: Frontier,
}

/// Everything the log holds, read and checked for form (not against checkpoints).
pub struct AuditContents {
    /// The records, in order.
    pub records: Vec<AuditRecord>,
    /// Each record's leaf hash: SHA-256(0x00 ‖ its line as stored).
    pub leaves: Vec<[u8; 32]>,
}

fn segment_name(first: u64) -> String {
    format!("{ENTRIES}{first:016}")
}

fn checkpoint_name(size: u64) -> String {
    format!("{CHECKPOINTS}{size:016}")
}

fn backend_err(name: &str) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |cause| VaultError::Backend {
        name: name.to_string(),
        cause,
    }
}

impl AuditLog {
    /// The checkpoints' origin line (and note key name): `statvault.audit/<vault id>`.
    pub fn origin(vault: &Vault) -> String {
        format!("statvault.audit/{}", vault.config.vault_id.to_hex())
    }

    /// Opens the log for appending, reading what it holds.
    pub fn open(vault: &Vault) -> Result<(AuditLog, AuditContents)> {
        let contents = read(vault.backend().as_ref(), 0)?;
        let mut frontier = Frontier::default();
        contents.leaves.iter().for_each(|l| frontier.push(*l));
        let log = AuditLog {
            backend: vault.backend().clone(),
            origin: AuditLog::origin(vault),
            frontier,
        };
        Ok((log, contents))
    }

    /// Records in the log.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Appends `records` as one segment, durably, setting their index and time; then,
    /// with `signer`, writes the checkpoint of the new size and returns it.
    ///
    /// The log has one writer (the agent). A segment name found taken means someone
    /// else wrote there: nothing proves who, and a checkpoint signed over it would vouch
    /// for records this writer never wrote, so the append fails, naming the segment, and
    /// every append after it fails the same way (the writer fails closed) until someone
    /// looks.
    pub fn append(
        &mut self,
        records: &mut [AuditRecord],
        now: u64,
        signer: Option<&dyn Signing>,
    ) -> Result<Option<String>> {
        if records.is_empty() {
            return Ok(None);
        }
        let first = self.size();
        let mut segment = Vec::new();
        for (i, record) in records.iter_mut().enumerate() {
            record.index = first + i as u64;
            record.time = now;
            serde_json::to_writer(&mut segment, record).expect("a record serializes");
            segment.push(b'\n');
        }
        let name = segment_name(first);
        match self.backend.write_new(&name, &segment) {
            Ok(()) => {
                for line in segment.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    self.frontier.push(leaf_hash(line));
                }
                match signer {
                    Some(signer) => self.sign(signer).map(Some),
                    None => Ok(None),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(VaultError::corrupt(
                &name,
                "was written by someone other than this log's writer; records are not \
appended after it, nor signed over it",
            )),
            Err(e) => Err(backend_err(&name)(e)),
        }
    }

    /// Signs and stores the checkpoint of the log as it is; returns the signed note.
    pub fn sign(&self, signer: &dyn Signing) -> Result<String> {
        let note = Checkpoint {
            origin: self.origin.clone(),
            size: self.size(),
            root: self.frontier.root(),
        }
        .sign(signer);
        let name = checkpoint_name(self.size());
        match self.backend.write_new(&name, note.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(backend_err(&name)(e)),
            _ => Ok(note),
        }
    }
}

/// The log's segments as stored, in order: (name, bytes).
pub fn segments(backend: &dyn Backend) -> Result<Vec<(String, Vec<u8>)>> {
    let listing = backend.list(ENTRIES).map_err(backend_err(ENTRIES))?;
    listing
        .into_iter()
        .map(|object| {
            let bytes = backend
                .read(&object.name, SEGMENT_MAX)
                .map_err(backend_err(&object.name))?;
            Ok((object.name, bytes))
        })
        .collect()
}

/// Reads the records `from` on, checking that the segments follow one another with
/// no gap or overlap and that each line is a record with its index.
pub fn read(backend: &dyn Backend, from: u64) -> Result<AuditContents> {
    parse(&segments(backend)?, from)
}

/// The records of `segments` from `from` on, checked as `read` says.
pub fn parse(segments: &[(String, Vec<u8>)], from: u64) -> Result<AuditContents> {
    let mut contents = AuditContents {
        records: Vec::new(),
        leaves: Vec::new(),
    };
    let mut next = 0u64;
    for (name, bytes) in segments {
        let first: u64 = name
            .strip_prefix(ENTRIES)
            .filter(|n| n.len() == 16)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| VaultError::corrupt(name, "not an audit segment's name"))?;
        if first != next {
            return Err(VaultError::corrupt(
                name,
                format!("starts at record {first}, but the segments before it end at {next}: records are missing or repeated"),
            ));
        }
        let Some(lines) = bytes.strip_suffix(b"\n") else {
            return Err(VaultError::corrupt(
                name,
                "does not end with a newline: cut short",
            ));
        };
        for (n, line) in lines.split(|&b| b == b'\n').enumerate() {
            let record: AuditRecord = serde_json::from_slice(line)
                .map_err(|e| VaultError::corrupt(name, format!("line {}: {e}", n + 1)))?;
            if record.index != next {
                return Err(VaultError::corrupt(
                    name,
                    format!(
                        "line {}: record {} where record {next} belongs",
                        n + 1,
                        record.index
                    ),
                ));
            }
            next += 1;
            if record.index >= from {
                contents.leaves.push(leaf_hash(line));
                contents.records.push(record);
            }
        }
    }
    Ok(contents)
}

/// The stored checkpoints: (name, note).
pub fn checkpoints(backend: &dyn Backend) -> Result<Vec<(String, String)>> {
    let listing = backend
        .list(CHECKPOINTS)
        .map_err(backend_err(CHECKPOINTS))?;
    listing
        .into_iter()
        .map(|object| {
            let bytes = backend
                .read(&object.name, CHECKPOINT_MAX)
                .map_err(backend_err(&object.name))?;
            Ok((object.name, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

/// What `verify_audit` found.
#[derive(Debug, Default, Serialize)]
pub struct AuditReport {
    /// Records in the log.
    pub records: u64,
    /// Records covered by the largest checkpoint that verifies.
    pub signed: u64,
    /// Checkpoints found.
    pub checkpoints: u64,
    /// Damage, each naming the object: an empty list means the log is intact.
    pub problems: Vec<String>,
    /// The newest checkpoint that verifies, to keep off the host.
    pub checkpoint: Option<String>,
}

/// Checks the whole audit log: the records' form and order, every stored checkpoint's
/// signature (by `key`, the vault's signing key) and tree head, and a `kept` checkpoint
/// (one printed earlier, kept off the host) against the log as it is now, which is
/// how a log truncated together with its checkpoints is found.
pub fn verify_audit(vault: &Vault, key: &PublicKey, kept: Option<&str>) -> Result<AuditReport> {
    let backend = vault.backend().as_ref();
    let mut notes = checkpoints(backend)?;
    let stored = notes.len() as u64;
    if let Some(kept) = kept {
        notes.push(("the kept checkpoint".into(), kept.to_string()));
    }
    let mut report = check(&AuditLog::origin(vault), key, &segments(backend)?, &notes);
    report.checkpoints = stored;
    Ok(report)
}

/// Checks `segments` and each checkpoint `notes` names (where it came from, the note)
/// against them, as `verify_audit` says.
pub fn check(
    origin: &str,
    key: &PublicKey,
    segments: &[(String, Vec<u8>)],
    notes: &[(String, String)],
) -> AuditReport {
    let mut report = AuditReport::default();
    let leaves = match parse(segments, 0) {
        Ok(contents) => contents.leaves,
        Err(e) => {
            report.problems.push(e.to_string());
            Vec::new()
        }
    };
    report.records = leaves.len() as u64;
    let mut claims: Vec<(&str, Checkpoint, &str)> = Vec::new();
    for (from, note) in notes {
        match Checkpoint::verify(note, key) {
            Ok(c) if c.origin != origin => report.problems.push(format!(
                "{from}: a checkpoint of another log ({}), not {origin}",
                c.origin
            )),
            Ok(c) if from.starts_with(CHECKPOINTS) && *from != checkpoint_name(c.size) => report
                .problems
                .push(format!("{from}: holds the checkpoint of size {}", c.size)),
            Ok(c) => claims.push((from, c, note)),
            Err(why) => report.problems.push(format!("{from}: {why}")),
        }
    }
    claims.sort_by_key(|(_, c, _)| c.size);
    let mut frontier = Frontier::default();
    let mut leaves = leaves.iter();
    for (from, checkpoint, note) in claims {
        while frontier.size() < checkpoint.size {
            match leaves.next() {
                Some(leaf) => frontier.push(*leaf),
                None => break,
            }
        }
        if frontier.size() < checkpoint.size {
            report.problems.push(format!(
                "{from}: signs {} records, but the log holds {}: records were removed",
                checkpoint.size, report.records
            ));
        } else if frontier.root() != checkpoint.root {
            report.problems.push(format!(
                "{from}: the first {} records are not those it signs: records were changed, reordered or replaced",
                checkpoint.size
            ));
        } else if checkpoint.size >= report.signed {
            report.signed = checkpoint.size;
            report.checkpoint = Some(note.to_string());
        }
    }
    report
}

/// The records a listing shows: those at or after `since` (seconds since 1970).
pub fn records_since(vault: &Vault, since: u64) -> Result<Vec<AuditRecord>> {
    let mut records = read(vault.backend().as_ref(), 0)?.records;
    records.retain(|r| r.time >= since);
    Ok(records)
}

/// This host's name, for syslog lines.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// One record as an RFC 5424 line: facility authpriv (10), severity notice (5) or, for
/// refusals and failures, warning (4); the record in structured data and as the
/// message.
pub fn syslog_line(r: &AuditRecord, host: &str) -> String {
    let severity = match r.outcome {
        Outcome::Refused | Outcome::Failed => 4,
        Outcome::Started | Outcome::Done => 5,
    };
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace(']', "\\]")
    };
    format!(
        "<{}>1 {} {} statvault - audit [statvault@32473 index=\"{}\" request=\"{}\" uid=\"{}\" user=\"{}\" command=\"{}\" outcome=\"{}\"] {}",
        10 * 8 + severity,
        utc_time(r.time),
        host,
        r.index,
        escape(&r.request),
        r.uid,
        escape(&r.user),
        escape(&r.command),
        format!("{:?}", r.outcome).to_lowercase(),
        serde_json::to_string(r).expect("a record serializes")
    )
}
