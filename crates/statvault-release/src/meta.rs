//! `release.toml`: what the office says about a release (format in
//! `docs/release-format.md`, "Release metadata").

use serde::{Deserialize, Serialize};
use statvault_census::schema::Labels;

pub const FORMAT: &str = "statvault-release-meta/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseMeta {
    pub format: String,
    /// Lower-case letters, digits and `-`: it names directories and URLs.
    pub id: String,
    /// 1 for the first publication; each revision adds one.
    pub version: u32,
    pub title: Labels,
    pub reference_period: String,
    /// RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ`: the embargo ends then.
    pub release_time: String,
    pub methodology: Labels,
    pub contact: String,
}

impl ReleaseMeta {
    /// Parses and checks; errors name the line and column (TOML) or the field.
    pub fn parse(text: &str) -> Result<ReleaseMeta, String> {
        let meta: ReleaseMeta = toml::from_str(text).map_err(|e| e.to_string())?;
        if meta.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", meta.format));
        }
        check_release_id(&meta.id)?;
        if meta.version == 0 {
            return Err("version must be 1 or more".into());
        }
        if !is_utc_time(&meta.release_time) {
            return Err(format!(
                "release_time {:?} is not YYYY-MM-DDTHH:MM:SSZ",
                meta.release_time
            ));
        }
        for (field, labels) in [("title", &meta.title), ("methodology", &meta.methodology)] {
            for lang in ["sq", "en"] {
                if labels.get(lang).is_none_or(|s| s.trim().is_empty()) {
                    return Err(format!("{field} has no {lang} text"));
                }
            }
        }
        Ok(meta)
    }
}

/// A release id names directories and URLs: 1–100 lower-case letters, digits and `-`,
/// not starting with `-`.
pub fn check_release_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "id {id:?}: use 1–100 lower-case letters, digits and '-'"
        ))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` with plausible fields.
pub fn is_utc_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    b.len() == 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z'
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (civil-from-days, proleptic Gregorian).
pub fn utc_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The Unix time of a `YYYY-MM-DDTHH:MM:SSZ` time (days-from-civil), or `None`.
pub fn parse_utc(s: &str) -> Option<u64> {
    if !is_utc_time(s) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("checked digits");
    let (mut y, m, d) = (num(0..4), num(5..7), num(8..10));
    if m <= 2 {
        y -= 1;
    }
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    u64::try_from(secs).ok()
}

/// The current time, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_time(secs)
}

#[cfg(test)]
pub(crate) const EXAMPLE: &str = r#"
format = "statvault-release-meta/1"
id = "census-2023-first-results"
version = 1
title = { sq = "Censusi 2023 — rezultatet e para", en = "Census 2023 — first results" }
reference_period = "2023"
release_time = "2026-12-01T10:00:00Z"
methodology = { sq = "Regjistrim i plotë.", en = "Full enumeration." }
contact = "info@instat.gov.al"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_round_trip() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(1_706_659_200), "2024-01-31T00:00:00Z");
        assert_eq!(parse_utc("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        for secs in (0..4_000_000_000u64).step_by(86_399 * 37) {
            assert_eq!(parse_utc(&utc_time(secs)), Some(secs));
        }
        assert_eq!(parse_utc("2024-02-29 23:59:59"), None);
    }

    #[test]
    fn parses_the_example_and_names_what_is_wrong() {
        let meta = ReleaseMeta::parse(EXAMPLE).unwrap();
        assert_eq!(meta.id, "census-2023-first-results");
        for (from, to, wanted) in [
            ("version = 1", "version = 0", "version"),
            ("id = \"census", "id = \"Census", "id"),
            ("10:00:00Z", "10:00", "release_time"),
            (
                "en = \"Full enumeration.\"",
                "fr = \"x\"",
                "methodology has no en",
            ),
            ("contact =", "kontakt =", "unknown field"),
            ("version = 1", "version = \"one\"", "line 4"),
        ] {
            let e = ReleaseMeta::parse(&EXAMPLE.replacen(from, to, 1)).unwrap_err();
            assert!(e.contains(wanted), "{e} lacks {wanted}");
        }
    }
}
