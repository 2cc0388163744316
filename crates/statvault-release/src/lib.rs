//! Releases of protected tables (DESIGN.md §3 RELEASE). This first part renders a
//! protected table in the formats users open: tidy CSV, JSON-stat 2.0, SDMX-CSV 2.0,
//! PX and XLSX, each with the cell status flags and labels in Albanian and English.
//! Formats: `docs/release-format.md`.

pub mod formats;
