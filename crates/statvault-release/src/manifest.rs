//! `manifest.json`: every file of a bundle with its size, SHA-256 and BLAKE3, and the
//! provenance of every table (format in `docs/release-format.md`, "Manifest").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use statvault_census::schema::Labels;

pub const FORMAT: &str = "statvault-release-manifest/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub release: String,
    pub version: u32,
    pub release_time: String,
    pub title: Labels,
    /// Sorted by path; every file of the bundle but the manifest and its signature.
    pub files: Vec<FileEntry>,
    pub provenance: Vec<TableProvenance>,
    pub statvault: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative, `/`-separated, no `.` or `..` parts.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub blake3: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableProvenance {
    pub table: String,
    pub snapshot: String,
    pub log_head: String,
    pub spec_blake3: String,
    pub source_blake3: String,
    pub method: String,
    pub parameters: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptable_blake3: Option<String>,
    pub audit_passed: bool,
}

impl FileEntry {
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
