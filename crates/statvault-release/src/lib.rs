//! Releases of protected tables (DESIGN.md §3 RELEASE): every table in the formats
//! users open (tidy CSV, JSON-stat 2.0, SDMX-CSV 2.0, PX, XLSX), each with the cell
//! status flags and labels in Albanian and English, gathered in a bundle with the
//! release metadata and a manifest of hashes and provenance; the bundle signed in
//! minisign's format and logged in an RFC 6962 transparency log with signed C2SP
//! checkpoints; and the release calendar. Formats: `docs/release-format.md`.

#![warn(missing_docs)]

pub mod boundaries;
/// Replacing files and publishing directories whole (the vault's one way).
pub use statvault_vault::atomic;
pub mod bundle;
pub mod calendar;
mod error;
pub mod formats;
pub mod manifest;
pub mod meta;
pub mod minisign;
pub mod names;
mod parallel;
pub mod sign;
pub mod signer;
pub mod tlog;
pub mod verify;

/// The Merkle tree and checkpoint code the vault's audit log shares.
pub use statvault_tlog::{checkpoint, merkle};

pub use bundle::{build, BuildReport};
pub use error::ReleaseError;
pub use manifest::Manifest;
pub use meta::ReleaseMeta;
pub use sign::{sign, SignReport};
pub use signer::Signer;
pub use verify::{verify, VerifyOptions, VerifyReport};
