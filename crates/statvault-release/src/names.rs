//! The names of the files of a releases directory (`docs/release-format.md`): each
//! bundle's files, the transparency log's and the calendar's. Every reader and writer
//! takes them from here.

/// A bundle's manifest of hashes and provenance.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The minisign signature of the manifest.
pub const SIGNATURE_FILE: &str = "manifest.json.minisig";
/// The bundle's proof of inclusion in the transparency log.
pub const PROOF_FILE: &str = "transparency.json";
/// A bundle's release metadata.
pub const RELEASE_FILE: &str = "release.json";
/// The directory of a bundle's table files.
pub const TABLES_DIR: &str = "tables";
/// The transparency log's directory in the releases directory.
pub const LOG_DIR: &str = "log";
/// The log's entries, one JSON line each.
pub const LOG_ENTRIES_FILE: &str = "entries.jsonl";
/// The log's latest signed checkpoint (also a signer's record of it).
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The log's public key, in minisign's format.
pub const LOG_KEY_FILE: &str = "key.pub";
/// The release calendar, as JSON.
pub const CALENDAR_JSON_FILE: &str = "calendar.json";
/// The release calendar, as iCalendar.
pub const CALENDAR_ICS_FILE: &str = "calendar.ics";
