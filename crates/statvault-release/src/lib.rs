//! Releases of protected tables (DESIGN.md §3 RELEASE): every table in the formats
//! users open (tidy CSV, JSON-stat 2.0, SDMX-CSV 2.0, PX, XLSX), each with the cell
//! status flags and labels in Albanian and English, gathered in a bundle with the
//! release metadata and a manifest of hashes and provenance. Formats:
//! `docs/release-format.md`.

pub mod bundle;
mod error;
pub mod formats;
pub mod manifest;
pub mod meta;

pub use bundle::{build, BuildReport};
pub use error::ReleaseError;
pub use manifest::Manifest;
pub use meta::ReleaseMeta;
