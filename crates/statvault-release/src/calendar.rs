//! The release calendar (`calendar.json`, and `calendar.ics` for calendar programs):
//! what is scheduled for when, what was postponed and why, every published version
//! and every withdrawal (format in `docs/release-format.md`, "Calendar"). Every change
//! is also an entry of the transparency log, so the calendar's history cannot be
//! rewritten unnoticed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::signer::Signer;
use serde::{Deserialize, Serialize};
use statvault_census::schema::Labels;

use crate::meta::{check_release_id, is_utc_time, utc_now};
use crate::tlog::{write_atomically, EntryKind, LogEntry, LogProof, TransparencyLog, ENTRY_FORMAT};
use crate::ReleaseError;

/// The `format` field of every calendar this version writes.
pub const FORMAT: &str = "statvault-calendar/1";

/// Where a release stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Announced for its release time.
    Scheduled,
    /// Moved to a later time, with a reason.
    Postponed,
    /// Out: a version is public.
    Published,
    /// Taken back, with a reason; its versions stay listed.
    Withdrawn,
}

/// The release calendar, `calendar.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// `statvault-calendar/1`.
    pub format: String,
    /// Every release the log has an entry for, in the order of their first entries.
    pub releases: Vec<CalendarRelease>,
}

/// One release of the calendar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarRelease {
    /// The release id.
    pub release: String,
    /// The title, per language.
    pub title: Labels,
    /// The announced time, or the time of the latest version once published: the
    /// embargo ends then.
    pub release_time: String,
    /// Scheduled, postponed, published or withdrawn.
    pub status: Status,
    /// Every published version, oldest first; none is ever removed.
    pub versions: Vec<PublishedVersion>,
    /// Every change, oldest first, with its log entry.
    pub notices: Vec<Notice>,
    /// The e-mail address that answers for the release, as scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<String>,
}

/// One published version of a release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedVersion {
    /// The version number, from 1.
    pub version: u32,
    /// The bundle's directory, beside `calendar.json`.
    pub bundle: String,
    /// When its embargo ended, UTC.
    pub release_time: String,
    /// SHA-256 of the bundle's signed manifest, in hex.
    pub manifest_sha256: String,
    /// Why a revision was made, where it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason by language, where the office gave it so (see `LogEntry::reasons`).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub reasons: Labels,
}

/// One change of a release's calendar entry, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Schedule, postponement, release, revision or withdrawal.
    pub kind: EntryKind,
    /// When it was logged, UTC.
    pub logged: String,
    /// The release time it set, UTC.
    pub release_time: String,
    /// Why, for a postponement, revision or withdrawal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason by language, where the office gave it so (see `LogEntry::reasons`).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub reasons: Labels,
    /// The entry's index in the transparency log.
    pub log_index: u64,
}

impl Calendar {
    /// Where `calendar.json` lies in the releases directory `releases`.
    pub fn path(releases: &Path) -> PathBuf {
        releases.join(crate::names::CALENDAR_JSON_FILE)
    }

    /// Parses `calendar.json`, refusing another format.
    pub fn read(bytes: &[u8]) -> Result<Calendar, String> {
        let calendar: Calendar = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if calendar.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", calendar.format));
        }
        Ok(calendar)
    }

    /// The file's bytes: pretty JSON and a newline.
    pub fn write(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a calendar serializes");
        out.push(b'\n');
        out
    }

    /// The calendar the log's entries say: every field comes from a signed entry, so
    /// `calendar.json` and `calendar.ics` are renderings anyone can rebuild from the
    /// log and compare byte for byte. `entries` are those a verified checkpoint covers.
    pub fn from_log(entries: impl IntoIterator<Item = LogEntry>) -> Calendar {
        let mut releases: Vec<CalendarRelease> = Vec::new();
        for entry in entries {
            let at = match releases.iter().position(|r| r.release == entry.release) {
                Some(at) => at,
                None => {
                    releases.push(CalendarRelease {
                        release: entry.release.clone(),
                        title: Labels::new(),
                        release_time: entry.release_time.clone(),
                        status: Status::Scheduled,
                        versions: Vec::new(),
                        notices: Vec::new(),
                        organizer: None,
                    });
                    releases.len() - 1
                }
            };
            let r = &mut releases[at];
            if r.title.is_empty() {
                r.title = entry.title.clone().unwrap_or_default();
            }
            if r.organizer.is_none() {
                r.organizer = entry.organizer.clone();
            }
            r.status = match entry.kind {
                EntryKind::Schedule => Status::Scheduled,
                EntryKind::Postponement => Status::Postponed,
                EntryKind::Withdrawal => Status::Withdrawn,
                EntryKind::Release | EntryKind::Revision => Status::Published,
            };
            if entry.kind != EntryKind::Withdrawal {
                r.release_time = entry.release_time.clone();
            }
            if let (EntryKind::Release | EntryKind::Revision, Some(version), Some(sha)) =
                (entry.kind, entry.version, &entry.manifest_sha256)
            {
                r.versions.push(PublishedVersion {
                    version,
                    bundle: entry.bundle_name(),
                    release_time: entry.release_time.clone(),
                    manifest_sha256: sha.clone(),
                    reason: entry.reason.clone(),
                    reasons: entry.reasons.clone(),
                });
            }
            r.notices.push(Notice {
                kind: entry.kind,
                logged: entry.logged,
                release_time: entry.release_time,
                reason: entry.reason,
                reasons: entry.reasons,
                log_index: entry.index,
            });
        }
        Calendar {
            format: FORMAT.into(),
            releases,
        }
    }

    /// The release with id `release`, if the calendar has it.
    pub fn get(&self, release: &str) -> Option<&CalendarRelease> {
        self.releases.iter().find(|r| r.release == release)
    }

    /// Writes `calendar.json` and `calendar.ics`, each atomically.
    pub fn save(&self, releases: &Path) -> Result<(), ReleaseError> {
        write_atomically(&Self::path(releases), &self.write())?;
        write_atomically(
            &releases.join(crate::names::CALENDAR_ICS_FILE),
            self.to_ics().as_bytes(),
        )
    }

    /// RFC 5545 iCalendar: one event per release; its SEQUENCE counts the changes.
    /// It is an RFC 5546 PUBLISH message where every release names its organizer
    /// (which PUBLISH requires), else a plain calendar without METHOD.
    pub fn to_ics(&self) -> String {
        let mut lines = vec![
            "BEGIN:VCALENDAR".to_string(),
            "VERSION:2.0".into(),
            "PRODID:-//statvault//release calendar//EN".into(),
            "CALSCALE:GREGORIAN".into(),
        ];
        if self.releases.iter().all(|r| r.organizer.is_some()) {
            lines.push("METHOD:PUBLISH".into());
        }
        for r in &self.releases {
            let title = |lang| r.title.get(lang).map(String::as_str).unwrap_or(&r.release);
            let last = r.notices.last();
            let mut description = format!("{} / {}", title("sq"), title("en"));
            for n in &r.notices {
                let _ = write!(description, "\n{} {:?}", n.logged, n.kind);
                if let Some(reason) = &n.reason {
                    let _ = write!(description, ": {reason}");
                }
            }
            lines.extend([
                "BEGIN:VEVENT".to_string(),
                format!("UID:{}@statvault", r.release),
                format!(
                    "DTSTAMP:{}",
                    ics_time(last.map_or(&r.release_time, |n| &n.logged))
                ),
                format!("DTSTART:{}", ics_time(&r.release_time)),
                format!("SEQUENCE:{}", r.notices.len().saturating_sub(1)),
                format!("SUMMARY:{}", ics_text(title("en"))),
                format!("DESCRIPTION:{}", ics_text(&description)),
                format!(
                    "STATUS:{}",
                    match r.status {
                        Status::Withdrawn => "CANCELLED",
                        Status::Postponed => "TENTATIVE",
                        Status::Scheduled | Status::Published => "CONFIRMED",
                    }
                ),
            ]);
            if let Some(address) = &r.organizer {
                lines.push(format!("ORGANIZER:mailto:{address}"));
            }
            lines.push("END:VEVENT".into());
        }
        lines.push("END:VCALENDAR".into());
        lines.iter().map(|l| fold(l)).collect()
    }
}

fn ics_time(utc: &str) -> String {
    utc.replace(['-', ':'], "")
}

fn ics_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// Folds a content line at 75 octets (never inside a UTF-8 character) and ends it
/// with CRLF.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

/// A calendar change to log and record.
pub enum Change<'a> {
    /// Announces a new release.
    Schedule {
        /// The title, per language.
        title: Labels,
        /// When it is due, UTC.
        release_time: &'a str,
        /// The e-mail address that answers for the release.
        organizer: Option<&'a str>,
    },
    /// Moves a scheduled release later.
    Postpone {
        /// Why, in the first language.
        reason: &'a str,
        /// The reason by language, besides `reason` (may be empty).
        reasons: Labels,
        /// The new release time, UTC.
        new_time: &'a str,
    },
    /// Takes a release back.
    Withdraw {
        /// Why, in the first language.
        reason: &'a str,
        /// The reason by language, besides `reason` (may be empty).
        reasons: Labels,
    },
}

/// Schedules, postpones or withdraws `release` in the releases directory: checks the
/// change makes sense, appends it to the log, then saves the calendar.
pub fn change(
    releases: &Path,
    release: &str,
    change: Change,
    signer: &Signer,
) -> Result<LogProof, ReleaseError> {
    let mut log = TransparencyLog::extend(&releases.join(crate::names::LOG_DIR), signer)?;
    let calendar = Calendar::from_log(log.entries());
    let refuse = |message: String| ReleaseError::Calendar {
        path: Calendar::path(releases).display().to_string(),
        message,
    };
    check_release_id(release).map_err(refuse)?;
    let current = calendar.get(release);
    let (kind, release_time, reason) = match &change {
        Change::Schedule { release_time, .. } => {
            if let Some(r) = current {
                return Err(refuse(format!(
                    "{release} is already in the calendar ({:?} for {}); use postpone to move it",
                    r.status, r.release_time
                )));
            }
            check_time(release_time).map_err(refuse)?;
            (EntryKind::Schedule, release_time.to_string(), None)
        }
        Change::Postpone {
            reason, new_time, ..
        } => {
            let r = current.ok_or_else(|| refuse(format!("{release} is not in the calendar")))?;
            if !matches!(r.status, Status::Scheduled | Status::Postponed) {
                return Err(refuse(format!(
                    "{release} is {:?}: only a release not yet published can be postponed",
                    r.status
                )));
            }
            check_time(new_time).map_err(refuse)?;
            if *new_time <= r.release_time.as_str() {
                return Err(refuse(format!(
                    "the new date {new_time} is not after the announced {}",
                    r.release_time
                )));
            }
            (EntryKind::Postponement, new_time.to_string(), Some(reason))
        }
        Change::Withdraw { reason, .. } => {
            let r = current.ok_or_else(|| refuse(format!("{release} is not in the calendar")))?;
            if r.status == Status::Withdrawn {
                return Err(refuse(format!("{release} is already withdrawn")));
            }
            (EntryKind::Withdrawal, r.release_time.clone(), Some(reason))
        }
    };
    if let Some(reason) = reason {
        if reason.trim().is_empty() {
            return Err(refuse("a reason is required".into()));
        }
    }
    let (title, reasons, organizer) = match &change {
        Change::Schedule {
            title, organizer, ..
        } => (Some(title.clone()), Labels::new(), *organizer),
        Change::Postpone { reasons, .. } | Change::Withdraw { reasons, .. } => {
            (None, reasons.clone(), None)
        }
    };
    if let Some(address) = organizer {
        check_address(address).map_err(refuse)?;
    }
    if reasons.values().any(|r| r.trim().is_empty()) {
        return Err(refuse("a reason given in a language is empty".into()));
    }
    let entry = LogEntry {
        format: ENTRY_FORMAT.into(),
        index: 0,
        kind,
        release: release.into(),
        version: None,
        logged: utc_now(),
        release_time,
        manifest_sha256: None,
        revises_manifest_sha256: None,
        reason: reason.map(|r| r.to_string()),
        reasons,
        title,
        bundle: None,
        organizer: organizer.map(str::to_string),
    };
    let proof = log.append(entry)?;
    Calendar::from_log(log.entries()).save(releases)?;
    Ok(proof)
}

/// An e-mail address as iCalendar can carry it in a `mailto:` URI: one `@`, no
/// spaces, quotes, angle brackets or control characters.
fn check_address(address: &str) -> Result<(), String> {
    let (local, domain) = address
        .split_once('@')
        .ok_or_else(|| format!("organizer {address:?} is not an e-mail address"))?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || "\"<>@,;:\\".contains(c);
    if local.is_empty()
        || !domain.contains('.')
        || address.chars().filter(|&c| c != '@').any(bad)
        || domain.contains('@')
    {
        return Err(format!("organizer {address:?} is not an e-mail address"));
    }
    Ok(())
}

fn check_time(time: &str) -> Result<(), String> {
    if is_utc_time(time) {
        Ok(())
    } else {
        Err(format!("{time:?} is not a UTC time YYYY-MM-DDTHH:MM:SSZ"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statvault_crypto::MasterKey;
    use std::fs;

    /// The calendar.json the office's commands wrote.
    fn saved(releases: &Path) -> Calendar {
        Calendar::read(&fs::read(Calendar::path(releases)).unwrap()).unwrap()
    }

    fn title() -> Labels {
        [
            ("sq", "Censusi 2023, rezultatet"),
            ("en", "Census 2023; results"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn schedule_postpone_withdraw_are_logged_and_checked() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = Signer::new(MasterKey::generate().release_key(), state.path());
        let release_time = "2026-12-01T10:00:00Z";
        let schedule = || Change::Schedule {
            title: title(),
            release_time,
            organizer: Some("info@instat.gov.al"),
        };
        change(dir.path(), "c", schedule(), &key).unwrap();
        let again = change(dir.path(), "c", schedule(), &key);
        assert!(again
            .err()
            .unwrap()
            .to_string()
            .contains("already in the calendar"));
        let earlier = Change::Postpone {
            reason: "attack",
            reasons: Labels::new(),
            new_time: "2026-11-30T10:00:00Z",
        };
        assert!(change(dir.path(), "c", earlier, &key).is_err());
        let no_reason = Change::Postpone {
            reason: " ",
            reasons: Labels::new(),
            new_time: "2027-01-15T10:00:00Z",
        };
        assert!(change(dir.path(), "c", no_reason, &key).is_err());
        let albanian = |text: &str| Labels::from([("sq".to_string(), text.to_string())]);
        let empty_albanian = Change::Postpone {
            reason: "systems under attack",
            reasons: albanian(" "),
            new_time: "2027-01-15T10:00:00Z",
        };
        assert!(change(dir.path(), "c", empty_albanian, &key).is_err());
        let later = Change::Postpone {
            reason: "systems under attack",
            reasons: albanian("sistemet nën sulm"),
            new_time: "2027-01-15T10:00:00Z",
        };
        change(dir.path(), "c", later, &key).unwrap();
        let calendar = saved(dir.path());
        let r = calendar.get("c").unwrap();
        assert_eq!(
            (r.status, r.release_time.as_str()),
            (Status::Postponed, "2027-01-15T10:00:00Z")
        );
        assert_eq!(r.notices.len(), 2);
        assert_eq!(r.notices[1].reason.as_deref(), Some("systems under attack"));
        assert_eq!(r.notices[1].reasons, albanian("sistemet nën sulm"));
        change(
            dir.path(),
            "c",
            Change::Withdraw {
                reason: "error",
                reasons: Labels::new(),
            },
            &key,
        )
        .unwrap();
        assert!(change(
            dir.path(),
            "c",
            Change::Withdraw {
                reason: "x",
                reasons: Labels::new()
            },
            &key
        )
        .is_err());
        assert!(change(dir.path(), "../c", schedule(), &key).is_err());
        assert_eq!(
            TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR))
                .unwrap()
                .size(),
            3
        );

        // The calendar follows from the log; a changed word, status or an added
        // release does not.
        let entries: Vec<LogEntry> = TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR))
            .unwrap()
            .entries()
            .collect();
        // calendar.json is the rendering of the log: rebuilt from it byte for byte.
        let saved = fs::read(Calendar::path(dir.path())).unwrap();
        assert!(Calendar::from_log(entries.clone()).write() == saved);
        assert_eq!(
            Calendar::read(&saved).unwrap().get("c").unwrap().title,
            title()
        );

        let ics = fs::read_to_string(dir.path().join(crate::names::CALENDAR_ICS_FILE)).unwrap();
        assert!(ics.contains("DTSTART:20270115T100000Z\r\n"), "{ics}");
        assert!(ics.contains("SUMMARY:Census 2023\\; results\r\n"), "{ics}");
        assert!(ics.contains("STATUS:CANCELLED\r\n") && ics.contains("SEQUENCE:2\r\n"));
        assert!(ics.split("\r\n").all(|l| l.len() <= 75), "{ics}");
        // Finding: METHOD:PUBLISH without ORGANIZER, which RFC 5546 requires of it.
        assert!(ics.contains("METHOD:PUBLISH\r\n"), "{ics}");
        assert!(
            ics.contains("ORGANIZER:mailto:info@instat.gov.al\r\n"),
            "{ics}"
        );
        // A release scheduled without one makes a plain calendar, no PUBLISH.
        let schedule_with = |release: &str, organizer| {
            let change_ = Change::Schedule {
                title: title(),
                release_time,
                organizer,
            };
            change(dir.path(), release, change_, &key)
        };
        schedule_with("d", None).unwrap();
        let ics = fs::read_to_string(dir.path().join(crate::names::CALENDAR_ICS_FILE)).unwrap();
        assert!(!ics.contains("METHOD:"), "{ics}");
        let refused = schedule_with("e", Some("info@instat.gov.al\r\nATTENDEE:x"));
        assert!(refused.is_err(), "an address that would break the file");
    }

    /// Regression (the calendar check is partial): without any key, notices could be
    /// reordered or dropped and titles replaced in calendar.json, and the office's
    /// next command built on what it found there. Now the office decides from the log
    /// it signed and rewrites calendar.json from it.
    #[test]
    fn a_forged_calendar_json_is_neither_trusted_nor_kept_by_the_office() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = Signer::new(MasterKey::generate().release_key(), state.path());
        let release_time = "2026-12-01T10:00:00Z";
        change(
            dir.path(),
            "c",
            Change::Schedule {
                title: title(),
                release_time,
                organizer: None,
            },
            &key,
        )
        .unwrap();
        // The intruder: the release withdrawn, its title replaced, a fake release.
        let mut forged = saved(dir.path());
        forged.releases[0].status = Status::Withdrawn;
        forged.releases[0]
            .title
            .insert("en".into(), "Fabricated".into());
        let mut fake = forged.releases[0].clone();
        fake.release = "d".into();
        forged.releases.push(fake);
        forged.save(dir.path()).unwrap();

        let later = Change::Postpone {
            reason: "systems under attack",
            reasons: Labels::new(),
            new_time: "2027-01-15T10:00:00Z",
        };
        change(dir.path(), "c", later, &key).unwrap();
        let calendar = saved(dir.path());
        assert_eq!(calendar.releases.len(), 1, "the fake release is gone");
        let r = calendar.get("c").unwrap();
        assert_eq!((r.status, &r.title), (Status::Postponed, &title()));
        let withdraw_fake = change(
            dir.path(),
            "d",
            Change::Withdraw {
                reason: "x",
                reasons: Labels::new(),
            },
            &key,
        );
        assert!(withdraw_fake
            .err()
            .unwrap()
            .to_string()
            .contains("not in the calendar"));
    }
}
