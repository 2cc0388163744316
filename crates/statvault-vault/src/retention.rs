//! `vault retention extend`: keeps every object the vault still references under
//! Object Lock, moving its retention end forward before it runs out (as kopia's
//! `--extend-object-locks` does). `add` runs it too.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::repo::CONFIG;
use crate::s3::{Retention, RETENTION_OBJECT};
use crate::utc::now_secs;
use crate::{Progress, Result, Vault, VaultError};

/// Parallel requests: checking retention is one round trip per object.
const THREADS: usize = 8;

/// What `vault retention` found.
#[derive(Debug, serde::Serialize)]
pub struct RetentionReport {
    /// The retention the vault records.
    pub retention: Retention,
    /// Objects whose retention was looked at.
    pub checked: u64,
    /// Objects whose retention was moved forward.
    pub extended: u64,
    /// The earliest retention end among the objects checked (seconds since the epoch).
    pub earliest_end: Option<u64>,
}

/// Extends the retention of every object still referenced (config, log, committed
/// objects) whose end is less than half the retention period away, to a full period
/// from now. With `due_only`, objects written less than half a period ago, which
/// cannot be due, are not even looked at. Returns `None` for a vault without Object
/// Lock.
pub fn extend_retention(
    vault: &Vault,
    due_only: bool,
    progress: &dyn Progress,
) -> Result<Option<RetentionReport>> {
    let backend = vault.backend();
    let Some(lock) = backend.object_lock() else {
        return Ok(None);
    };
    let backend_err = |name: &str, source| VaultError::Backend {
        name: name.to_string(),
        cause: source,
    };
    let Some(retention) = lock
        .retention()
        .map_err(|e| backend_err(RETENTION_OBJECT, e))?
    else {
        return Ok(None);
    };
    let state = vault.head()?;
    let now = now_secs();
    let period = u64::from(retention.days) * 86_400;
    let created = state.entries[0].0.time;
    let mut names: Vec<(String, u64)> = vec![
        (CONFIG.to_string(), created),
        (RETENTION_OBJECT.to_string(), created),
    ];
    for (entry, _) in &state.entries {
        names.push((crate::log::entry_name(entry.seq), entry.time));
        names.extend(entry.added.iter().map(|o| (o.name.clone(), entry.time)));
    }
    if due_only {
        names.retain(|(_, written)| written.saturating_add(period / 2) <= now);
    }
    progress.start("checking retention", names.len() as u64);
    let next = AtomicUsize::new(0);
    let (extended, earliest) = (AtomicU64::new(0), AtomicU64::new(u64::MAX));
    let failure: Mutex<Option<VaultError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                while let Some((name, _)) = names.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = lock.retained_until(name).and_then(|until| match until {
                        Some(end) if end >= now + period / 2 => Ok(end),
                        _ => {
                            let end = now + period;
                            lock.retain_until(name, retention.mode, end)?;
                            extended.fetch_add(1, Ordering::Relaxed);
                            Ok(end)
                        }
                    });
                    progress.advance(1);
                    match outcome {
                        Ok(end) => {
                            earliest.fetch_min(end, Ordering::Relaxed);
                        }
                        Err(e) => {
                            let mut first = failure.lock().expect("no panics while held");
                            first.get_or_insert(backend_err(name, e));
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
    let earliest = earliest.into_inner();
    Ok(Some(RetentionReport {
        retention,
        checked: names.len() as u64,
        extended: extended.into_inner(),
        earliest_end: (earliest != u64::MAX).then_some(earliest),
    }))
}
