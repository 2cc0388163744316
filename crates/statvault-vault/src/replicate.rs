//! `vault replicate`: copies a vault to another place, any backend to any backend,
//! checking everything it copies and needing no shares.
//!
//! The source's log is read and checked in full (chain, signatures, Merkle roots)
//! against the signing key the replica holds: the key of the first replication,
//! pinned by the replica's own `config`, or one given by the custodians. A source whose
//! log forked from the replica's, was rolled back, or is signed by another key is
//! refused, naming the entry, before anything is written. Objects are copied first,
//! each checked against the hash that names it, then the new log entries in order: a
//! killed replication leaves at most uncommitted objects, which the next one reuses.
//! Nothing at the replica is ever deleted or overwritten.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use statvault_crypto::{Hash, PublicKey};

use crate::audit;
use crate::backend::Backend;
use crate::log::entry_name;
use crate::repo::{ObjectName, CONFIG};
use crate::{Progress, Result, Vault, VaultError};

/// Parallel copies: object storage is latency bound.
const THREADS: usize = 4;

/// How `replicate` checks its source.
#[derive(Default)]
pub struct ReplicateOptions {
    /// The vault's signing key as the custodians keep it: the source must carry it.
    /// Without it, the first replication pins the source's key at the replica.
    pub key: Option<PublicKey>,
}

/// What `replicate` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReplicateReport {
    /// The log head both now hold, and its entry number.
    pub head: Option<Hash>,
    /// The head's entry number.
    pub head_seq: u64,
    /// Whether the replica was new (its config written now).
    pub created: bool,
    /// Log entries copied.
    pub entries_copied: u64,
    /// Objects copied.
    pub objects_copied: u64,
    /// Their bytes.
    pub bytes_copied: u64,
    /// Objects the replica already had (from an interrupted run, say).
    pub objects_present: u64,
    /// Objects of an object-locked replica whose retention was moved forward (nobody
    /// runs `add` on a replica, so replication keeps its retention from running out).
    pub retention_extended: u64,
    /// New audit log segments and checkpoints copied.
    pub audit_copied: u64,
    /// Records in the audit log both now hold.
    pub audit_records: u64,
}

fn refused(object: impl Into<String>, detail: impl Into<String>) -> VaultError {
    VaultError::Corrupt {
        object: object.into(),
        detail: detail.into(),
    }
}

fn io_err(name: &str) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |cause| VaultError::Backend {
        name: name.to_string(),
        cause,
    }
}

/// One round of replication from `from` to `to`.
pub fn replicate(
    from: Arc<dyn Backend>,
    to: Arc<dyn Backend>,
    opts: &ReplicateOptions,
    progress: &dyn Progress,
) -> Result<ReplicateReport> {
    let source = Vault::open(from.clone())?;
    let replica = match Vault::open(to.clone()) {
        Ok(replica) => Some(replica),
        // No config: a new replica (a damaged one is Corrupt, not Usage).
        Err(VaultError::Usage(_)) => None,
        Err(e) => return Err(e),
    };
    let pinned = replica.as_ref().map(|r| r.config.public_key());
    for (what, key) in [
        ("the key given", opts.key),
        ("the key pinned at the replica", pinned),
    ] {
        if let Some(key) = key.filter(|k| *k != source.config.public_key()) {
            return Err(refused(
                CONFIG,
                format!(
                    "the source is signed by key {}, not {what} ({}): refused, nothing copied",
                    source.config.public_key().to_hex(),
                    key.to_hex()
                ),
            ));
        }
    }
    if replica
        .as_ref()
        .is_some_and(|r| r.config_bytes() != source.config_bytes())
    {
        return Err(refused(
            CONFIG,
            "differs between the source and the replica: refused, nothing copied",
        ));
    }
    let state = source.read_log()?;
    if let Some(p) = state.problems.first() {
        return Err(refused(
            p.object.clone(),
            format!("{} (in the source; refused, nothing copied)", p.detail),
        ));
    }
    let replica_entries = match &replica {
        Some(replica) => replica_log(replica)?,
        None => vec![],
    };
    check_extends(&state.entries, &replica_entries)?;

    let mut report = ReplicateReport {
        created: replica_entries.is_empty(),
        ..ReplicateReport::default()
    };
    if report.created {
        write_once(to.as_ref(), CONFIG, source.config_bytes())?;
    }
    let new_entries = &state.entries[replica_entries.len()..];
    let wanted: Vec<(String, u64)> = new_entries
        .iter()
        .flat_map(|(e, _)| e.added.iter().map(|o| (o.name.clone(), o.size)))
        .collect();
    copy_objects(from.as_ref(), to.as_ref(), &wanted, &mut report, progress)?;
    // Entries as checked: only the canonical text parses, so writing one back gives
    // the very bytes that were verified, with no second read for an intruder to swap.
    for (entry, _) in new_entries {
        write_once(
            to.as_ref(),
            &entry_name(entry.seq),
            entry.write().as_bytes(),
        )?;
        report.entries_copied += 1;
    }
    copy_audit(&source, to.as_ref(), &mut report)?;
    if to.object_lock().is_some() {
        let replica = Vault::open(to)?;
        if let Some(extended) = crate::retention::extend_retention(&replica, true, progress)? {
            report.retention_extended = extended.extended;
        }
    }
    let (head, hash) = state.head();
    report.head = Some(*hash);
    report.head_seq = head.seq;
    Ok(report)
}

/// The replica's log entries. A replica whose first run was interrupted before its
/// genesis entry has a config and no log: it starts from nothing.
fn replica_log(replica: &Vault) -> Result<Vec<(crate::log::LogEntry, Hash)>> {
    let state = replica.read_log()?;
    match state.problems.first() {
        Some(p) if !state.entries.is_empty() || state.problems.len() > 1 => Err(refused(
            p.object.clone(),
            format!(
                "{} (in the replica: run 'vault verify' on it; nothing copied)",
                p.detail
            ),
        )),
        _ => Ok(state.entries),
    }
}

/// The source's log must hold the replica's as its beginning: same entries, same
/// hashes. Names the first entry that differs.
fn check_extends(
    source: &[(crate::log::LogEntry, Hash)],
    replica: &[(crate::log::LogEntry, Hash)],
) -> Result<()> {
    if source.len() < replica.len() {
        let (last, _) = source.last().expect("a checked log has its genesis entry");
        return Err(refused(
            entry_name(last.seq + 1),
            format!(
                "the source's log ends at entry {} but the replica holds entries up to {}: \
                 rolled back, refused, nothing copied",
                last.seq,
                replica.len() - 1
            ),
        ));
    }
    if let Some(((entry, theirs), (_, ours))) =
        source.iter().zip(replica).find(|((_, a), (_, b))| a != b)
    {
        return Err(refused(
            entry_name(entry.seq),
            format!(
                "differs between the source ({theirs}) and the replica ({ours}): the log \
                 forked or was rewritten, refused, nothing copied"
            ),
        ));
    }
    Ok(())
}

/// Copies the audit log's new segments and checkpoints, as read and checked once. The
/// source's log must verify against its own checkpoints and the replica's (kept off
/// the source's host), and hold every segment the replica has, byte for byte: a source
/// whose audit log was truncated or rewritten is refused.
fn copy_audit(source: &Vault, to: &dyn Backend, report: &mut ReplicateReport) -> Result<()> {
    let segments = audit::segments(source.backend().as_ref())?;
    let held = audit::segments(to)?;
    if let Some((name, _)) = held
        .iter()
        .find(|(name, bytes)| !segments.iter().any(|(n, b)| n == name && b == bytes))
    {
        return Err(refused(
            name.clone(),
            "the replica holds this audit segment but the source no longer does, or holds other bytes: the source's audit log was truncated or rewritten; refused",
        ));
    }
    let theirs = audit::checkpoints(source.backend().as_ref())?;
    let kept = audit::checkpoints(to)?;
    let mut notes = theirs.clone();
    notes.extend(
        kept.iter()
            .map(|(n, note)| (format!("the replica's {n}"), note.clone())),
    );
    let checked = audit::check(
        &audit::AuditLog::origin(source),
        &source.config.public_key(),
        &segments,
        &notes,
    );
    if let Some(problem) = checked.problems.first() {
        return Err(refused(
            audit::ENTRIES,
            format!("{problem} (the source's audit log; refused)"),
        ));
    }
    let new_segments = segments.iter().skip(held.len());
    let new_checkpoints = theirs
        .iter()
        .filter(|(n, _)| !kept.iter().any(|(k, _)| k == n))
        .map(|(n, note)| (n, note.as_bytes()));
    for (name, bytes) in new_segments
        .map(|(n, b)| (n, b.as_slice()))
        .chain(new_checkpoints)
    {
        if write_once(to, name, bytes)? {
            report.audit_copied += 1;
        }
    }
    report.audit_records = checked.records;
    Ok(())
}

/// Writes a new object, or accepts one already there with the same bytes.
fn write_once(to: &dyn Backend, name: &str, bytes: &[u8]) -> Result<bool> {
    match to.write_new(name, bytes) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let there = to.read(name, bytes.len() as u64).map_err(io_err(name))?;
            if there != bytes {
                return Err(refused(
                    name,
                    "the replica already holds different bytes under this name: left as it is, refused",
                ));
            }
            Ok(false)
        }
        Err(e) => Err(io_err(name)(e)),
    }
}

/// Copies every object the replica lacks, checking each against its name's hash.
fn copy_objects(
    from: &dyn Backend,
    to: &dyn Backend,
    wanted: &[(String, u64)],
    report: &mut ReplicateReport,
    progress: &dyn Progress,
) -> Result<()> {
    let present: std::collections::HashMap<String, u64> = to
        .list("")
        .map_err(io_err("replica listing"))?
        .into_iter()
        .map(|o| (o.name, o.size))
        .collect();
    let mut missing = Vec::new();
    for (name, size) in wanted {
        match present.get(name) {
            Some(s) if s == size => report.objects_present += 1,
            _ => missing.push((name.as_str(), *size)),
        }
    }
    progress.start("replicating", missing.iter().map(|(_, s)| s).sum());
    let next = AtomicUsize::new(0);
    let (copied, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let failure: Mutex<Option<VaultError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let mut buffer = Vec::new();
                while let Some(&(name, size)) = missing.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = copy_one(from, to, name, size, &mut buffer);
                    match outcome {
                        Ok(written) => {
                            copied.fetch_add(u64::from(written), Ordering::Relaxed);
                            bytes.fetch_add(size, Ordering::Relaxed);
                            progress.advance(size);
                        }
                        Err(e) => {
                            failure
                                .lock()
                                .expect("no panics while held")
                                .get_or_insert(e);
                            next.store(usize::MAX / 2, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    progress.finish();
    if let Some(e) = failure.into_inner().expect("threads joined") {
        return Err(e);
    }
    report.objects_copied = copied.into_inner();
    report.bytes_copied = bytes.into_inner();
    Ok(())
}

fn copy_one(
    from: &dyn Backend,
    to: &dyn Backend,
    name: &str,
    size: u64,
    buffer: &mut Vec<u8>,
) -> Result<bool> {
    let object = ObjectName::parse(name).ok_or_else(|| refused(name, "not a vault object name"))?;
    let len = usize::try_from(size).map_err(|_| refused(name, "too large for this machine"))?;
    from.read_range(name, 0, len, buffer)
        .map_err(io_err(name))?;
    if Hash::of(buffer) != object.hash() {
        return Err(refused(
            name,
            "content does not match its name in the source (altered, truncated or replaced): refused",
        ));
    }
    write_once(to, name, buffer)
}
