//! The agent's policy file (TOML, `docs/agent-policy.md`): which OS users and groups
//! hold which roles, each role's read quotas, and when an idle or long-unsealed agent
//! seals itself.
//!
//! ```toml
//! format = "statvault-agent-policy/1"
//! seal_after = "30m"        # idle
//! max_unsealed = "12h"
//!
//! [roles.custodian]
//! users = ["ana", "besnik", "drita"]
//! [roles.statistician]
//! groups = ["statisticians"]
//! quota = { period = "day", tabulations = 200, cells = 20000000 }
//! [roles.microdata]
//! users = ["erion"]
//! quota = { period = "week", restore_bytes = 10737418240 }
//! [roles.operator]
//! users = ["ops"]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::AgentError;

/// The `format` field of every policy file this version reads.
pub const FORMAT: &str = "statvault-agent-policy/1";

/// What a role may ask of the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Unseal with their share; seal.
    Custodian,
    /// Ingest census microdata and tabulate it: tables, never records.
    Statistician,
    /// Restore snapshots, census microdata included: rare, named people.
    Microdata,
    /// Seal, verify and list snapshots.
    Operator,
}

impl Role {
    /// The role's name, as policy files and audit records write it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Custodian => "custodian",
            Role::Statistician => "statistician",
            Role::Microdata => "microdata",
            Role::Operator => "operator",
        }
    }
}

/// A period quotas count over: windows aligned to UTC (a day from midnight, a week
/// from Monday, a month from its first day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// An hour from the full hour.
    Hour,
    /// A day from midnight UTC.
    Day,
    /// A week from Monday, midnight UTC.
    Week,
    /// A month from its first day, midnight UTC.
    Month,
}

impl Period {
    /// "an hour", "a day"…, as messages say it.
    pub fn name(self) -> &'static str {
        match self {
            Period::Hour => "an hour",
            Period::Day => "a day",
            Period::Week => "a week",
            Period::Month => "a month",
        }
    }

    /// The window holding `now` (seconds since 1970): its start and its end.
    pub fn window(self, now: u64) -> (u64, u64) {
        const HOUR: u64 = 3600;
        const DAY: u64 = 86_400;
        match self {
            Period::Hour => (now - now % HOUR, now - now % HOUR + HOUR),
            Period::Day => (now - now % DAY, now - now % DAY + DAY),
            // 1970-01-01 was a Thursday; weeks start on Monday, 4 days later.
            Period::Week => {
                let start = (now + 3 * DAY) / (7 * DAY) * (7 * DAY) - 3 * DAY;
                (start, start + 7 * DAY)
            }
            Period::Month => {
                let (y, m, _) = civil_from_days((now / DAY) as i64);
                let start = days_from_civil(y, m, 1) as u64 * DAY;
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (start, days_from_civil(ny, nm, 1) as u64 * DAY)
            }
        }
    }
}

/// Howard Hinnant's civil-date algorithms: days since 1970 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Read quotas of one role, each per user and period; absent limits are unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// What the limits count over.
    pub period: Period,
    /// Tabulations per user and period.
    pub tabulations: Option<u64>,
    /// Table cells per user and period.
    pub cells: Option<u64>,
    /// Bytes restored per user and period.
    pub restore_bytes: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    quota: Option<Quota>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    format: String,
    seal_after: Option<String>,
    max_unsealed: Option<String>,
    #[serde(default)]
    roles: BTreeMap<Role, RawRole>,
}

/// Who holds which role, and the limits.
#[derive(Clone, Debug)]
pub struct Policy {
    roles: BTreeMap<Role, RawRole>,
    /// The agent seals itself after this long without a request.
    pub seal_after: Option<Duration>,
    /// The agent seals itself after this long unsealed, busy or not.
    pub max_unsealed: Option<Duration>,
}

/// A client as the kernel names it (the socket's peer credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The user's id.
    pub uid: u32,
    /// The user's name.
    pub user: String,
    /// Names of the user's groups, primary included.
    pub groups: Vec<String>,
}

impl Policy {
    /// Parses a policy; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Policy, AgentError> {
        let bad = |message: String| AgentError::Policy {
            file: file.to_string(),
            message,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if raw.format != FORMAT {
            return Err(bad(format!("format {:?} is not {FORMAT:?}", raw.format)));
        }
        let duration = |field: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| parse_duration(t).map_err(|e| bad(format!("{field}: {e}"))))
                .transpose()
        };
        Ok(Policy {
            seal_after: duration("seal_after", &raw.seal_after)?,
            max_unsealed: duration("max_unsealed", &raw.max_unsealed)?,
            roles: raw.roles,
        })
    }

    /// With no policy file: the agent's own user holds every role, nobody else any.
    pub fn only(user: &str) -> Policy {
        let own = RawRole {
            users: vec![user.to_string()],
            ..RawRole::default()
        };
        Policy {
            roles: [
                Role::Custodian,
                Role::Statistician,
                Role::Microdata,
                Role::Operator,
            ]
            .into_iter()
            .map(|r| (r, own.clone()))
            .collect(),
            seal_after: None,
            max_unsealed: None,
        }
    }

    /// The roles `peer` holds, by user name or group.
    pub fn roles_of(&self, peer: &Peer) -> Vec<Role> {
        self.roles
            .iter()
            .filter(|(_, r)| {
                r.users.contains(&peer.user) || r.groups.iter().any(|g| peer.groups.contains(g))
            })
            .map(|(role, _)| *role)
            .collect()
    }

    /// The quota of `role`, if it has one.
    pub fn quota(&self, role: Role) -> Option<&Quota> {
        self.roles.get(&role).and_then(|r| r.quota.as_ref())
    }
}

/// `90s`, `30m`, `12h` or `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a number and a unit, as 90s, 30m, 12h or 7d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    if seconds == 0 {
        return Err(format!("{text:?}: must be more than zero"));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(user: &str, groups: &[&str]) -> Peer {
        Peer {
            uid: 1000,
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn roles_come_from_users_and_groups() {
        let policy = Policy::parse(
            "policy.toml",
            r#"
format = "statvault-agent-policy/1"
seal_after = "30m"
[roles.custodian]
users = ["ana"]
[roles.statistician]
groups = ["stat"]
quota = { period = "day", tabulations = 3 }
"#,
        )
        .unwrap();
        assert_eq!(policy.roles_of(&peer("ana", &[])), vec![Role::Custodian]);
        assert_eq!(
            policy.roles_of(&peer("ben", &["stat", "x"])),
            vec![Role::Statistician]
        );
        assert!(policy.roles_of(&peer("eve", &["users"])).is_empty());
        assert_eq!(policy.seal_after, Some(Duration::from_secs(1800)));
        assert_eq!(
            policy.quota(Role::Statistician).unwrap().tabulations,
            Some(3)
        );
    }

    #[test]
    fn a_bad_policy_is_named_with_its_file() {
        for text in [
            "format = \"other\"",
            "format = \"statvault-agent-policy/1\"\n[roles.admin]\nusers = [\"x\"]",
            "format = \"statvault-agent-policy/1\"\nseal_after = \"soon\"",
            "format = \"statvault-agent-policy/1\"\n[roles.custodian]\nuser = [\"x\"]",
        ] {
            let e = Policy::parse("p.toml", text).unwrap_err().to_string();
            assert!(e.starts_with("p.toml"), "{e}");
        }
    }

    #[test]
    fn windows_are_aligned_to_utc() {
        // 2026-11-30 (a Monday) 17:15:00 UTC.
        let now = 1_796_058_900;
        assert_eq!(Period::Day.window(now), (1_795_996_800, 1_796_083_200));
        assert_eq!(Period::Week.window(now), (1_795_996_800, 1_796_601_600));
        // November 2026 to December 2026.
        assert_eq!(Period::Month.window(now), (1_793_491_200, 1_796_083_200));
        assert_eq!(Period::Hour.window(now), (1_796_058_000, 1_796_061_600));
    }
}
