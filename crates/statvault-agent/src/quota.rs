//! Read quotas: what each user has read, per role's period, counted from the audit
//! log's completed requests (so a restarted agent forgets nothing).

use statvault_vault::audit::{AuditRecord, Outcome};
use statvault_vault::utc::utc_time;

use crate::policy::Quota;

/// One completed read: who, when, what it cost.
#[derive(Clone, Debug)]
struct Spent {
    uid: u32,
    command: String,
    time: u64,
    cells: u64,
    bytes: u64,
}

#[derive(Default)]
pub struct Usage {
    spent: Vec<Spent>,
}

/// What a request is about to read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    pub tabulations: u64,
    pub cells: u64,
    pub restore_bytes: u64,
}

/// Longest period a quota may have (a month), past which nothing needs keeping.
const KEPT: u64 = 32 * 86_400;

impl Usage {
    pub fn from_records(records: &[AuditRecord]) -> Usage {
        let mut usage = Usage::default();
        for r in records.iter().filter(|r| r.outcome == Outcome::Done) {
            usage.add(r);
        }
        usage
    }

    /// Counts a completed request.
    pub fn add(&mut self, record: &AuditRecord) {
        if matches!(record.command.as_str(), "tabulate" | "restore") {
            self.spent.push(Spent {
                uid: record.uid,
                command: record.command.clone(),
                time: record.time,
                cells: record.cells,
                bytes: record.bytes,
            });
        }
        if let Some(newest) = self.spent.last().map(|s| s.time) {
            self.spent.retain(|s| s.time + KEPT > newest);
        }
    }

    /// Whether `uid` may spend `cost` more at `now` under `quota`; if not, which limit
    /// stops it and when it renews.
    pub fn check(&self, quota: &Quota, uid: u32, now: u64, cost: Cost) -> Result<(), String> {
        let (start, end) = quota.period.window(now);
        let mut used = Cost::default();
        for s in self
            .spent
            .iter()
            .filter(|s| s.uid == uid && s.time >= start && s.time < end)
        {
            match s.command.as_str() {
                "tabulate" => {
                    used.tabulations += 1;
                    used.cells += s.cells;
                }
                _ => used.restore_bytes += s.bytes,
            }
        }
        let limits = [
            (
                "tabulations",
                quota.tabulations,
                used.tabulations,
                cost.tabulations,
            ),
            ("table cells", quota.cells, used.cells, cost.cells),
            (
                "restored bytes",
                quota.restore_bytes,
                used.restore_bytes,
                cost.restore_bytes,
            ),
        ];
        for (what, limit, used, more) in limits {
            if let Some(limit) = limit {
                if more > 0 && used + more > limit {
                    return Err(format!(
                        "over quota: {used} of the {limit} {what} allowed {} already used ({more} more asked); it renews at {}",
                        quota.period.name(),
                        utc_time(end)
                    ));
                }
            }
        }
        Ok(())
    }
}
