//! `release.toml`: what the office says about a release (format in
//! `docs/release-format.md`, "Release metadata").

use serde::{Deserialize, Serialize};
use statvault_census::schema::Labels;

/// The `format` field of every release metadata file this version reads.
pub const FORMAT: &str = "statvault-release-meta/1";

/// A release's metadata, `release.toml`: what the office says of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseMeta {
    /// `statvault-release-meta/1`.
    pub format: String,
    /// Lower-case letters, digits and `-`: it names directories and URLs.
    pub id: String,
    /// 1 for the first publication; each revision adds one.
    pub version: u32,
    /// The title, per language.
    pub title: Labels,
    /// The period the figures describe (`2023`).
    pub reference_period: String,
    /// RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ`: the embargo ends then.
    pub release_time: String,
    /// The methodology note, per language.
    pub methodology: Labels,
    /// Who answers questions about the release.
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
/// A name that can be one segment of a URL path as it is (a bundle's directory).
pub fn is_address(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Checks a release id: 1 to 100 lower-case letters, digits and `-`, not starting
/// with `-`.
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

pub use statvault_vault::utc::{is_utc_time, now_secs, parse_utc, utc_now, utc_time};

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
