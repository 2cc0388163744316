//! `manifest.json`: every file of a bundle with its size, SHA-256 and BLAKE3, and the
//! provenance of every table (format in `docs/release-format.md`, "Manifest").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use statvault_census::schema::Labels;

/// The `format` field of every manifest this version writes.
pub const FORMAT: &str = "statvault-release-manifest/1";

/// A bundle's `manifest.json`: what the release key signs. It names every other
/// file of the bundle with its size and hashes, and where each table came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `statvault-release-manifest/1`.
    pub format: String,
    /// The release id.
    pub release: String,
    /// The version, from 1.
    pub version: u32,
    /// When the embargo ends, UTC.
    pub release_time: String,
    /// The title, per language.
    pub title: Labels,
    /// Sorted by path; every file of the bundle but the manifest and its signature.
    pub files: Vec<FileEntry>,
    /// Per table, where it came from and how it was protected.
    pub provenance: Vec<TableProvenance>,
    /// The statvault version that built the bundle.
    pub statvault: String,
}

/// One file of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative, `/`-separated, no `.` or `..` parts.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256, in hex.
    pub sha256: String,
    /// BLAKE3, in hex.
    pub blake3: String,
}

/// Where a released table came from, and how it was protected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableProvenance {
    /// The table's id.
    pub table: String,
    /// The vault snapshot it was tabulated from.
    pub snapshot: String,
    /// The vault log's head when it was tabulated.
    pub log_head: String,
    /// BLAKE3 of the table spec.
    pub spec_blake3: String,
    /// BLAKE3 of the census source file ingested.
    pub source_blake3: String,
    /// `ckm` or `suppress`.
    pub method: String,
    /// The method's parameters, by name.
    pub parameters: Map<String, Value>,
    /// BLAKE3 of the p-table CSV (cell key method only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptable_blake3: Option<String>,
    /// Whether the disclosure audit passed when the table was protected.
    pub audit_passed: bool,
}

impl FileEntry {
    /// The entry of file `path` holding `bytes`.
    pub fn of(path: &str, bytes: &[u8]) -> FileEntry {
        FileEntry {
            path: path.to_string(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            blake3: blake3::hash(bytes).to_hex().to_string(),
        }
    }
}

/// A bundle path that cannot leave the bundle's directory.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 255
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

impl Manifest {
    /// The file's bytes: pretty JSON and a newline.
    pub fn write(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        out.push(b'\n');
        out
    }

    /// Parses and checks: the format, safe and sorted unique paths, hex digests.
    pub fn read(bytes: &[u8]) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if m.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", m.format));
        }
        let hex_of = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        for (k, f) in m.files.iter().enumerate() {
            if !is_safe_path(&f.path) {
                return Err(format!("file {:?}: not a safe relative path", f.path));
            }
            if !hex_of(&f.sha256, 64) || !hex_of(&f.blake3, 64) {
                return Err(format!("file {:?}: digests must be 64 hex digits", f.path));
            }
            if k > 0 && m.files[k - 1].path >= f.path {
                return Err(format!(
                    "file {:?}: paths must be sorted and unique",
                    f.path
                ));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entries_hash_with_both_functions() {
        let e = FileEntry::of("tables/a.csv", b"abc");
        assert_eq!(
            e.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            e.blake3,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(e.size, 3);
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "./a"] {
            assert!(!is_safe_path(bad), "{bad:?}");
        }
        assert!(is_safe_path("tables/population.en.json"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Manifest::read(&bytes);
        }
    }
}
