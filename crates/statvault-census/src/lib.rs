//! Census microdata for statvault: a schema of record types, variables, codelists and
//! hierarchies; a deterministic synthetic census of Albania; validated ingest of CSV or
//! Parquet into a vault snapshot of columnar Parquet; and a dense cross-tabulation
//! kernel that computes many tables in one scan.
//!
//! ```
//! use statvault_census::{synth, Geography, Schema, SynthOptions, SynthFormat};
//!
//! let geography = Geography::albania();
//! assert_eq!(geography.counties.iter().map(|c| c.population).sum::<u64>(), 2_402_113);
//! let mut csv = Vec::new();
//! let summary = synth(&geography, &SynthOptions { persons: 1_000, seed: 7 }, SynthFormat::Csv, &mut csv).unwrap();
//! assert_eq!(summary.persons, 1_000);
//! let schema = Schema::parse(include_str!("../../../examples/census-albania/schema.toml")).unwrap();
//! assert_eq!(schema.records[0].name, "dwelling");
//! ```

#![warn(missing_docs)]

mod columns;
mod dataset;
mod error;
mod geography;
pub mod grid;
pub mod implication;
pub mod ingest;
pub mod input;
pub mod packed;
mod rng;
pub mod schema;
pub mod spec;
mod synth;
pub mod table;
pub mod tabulate;

pub use error::{CensusError, ValidationReport};
pub use geography::{County, Geography, Municipality};
pub use ingest::{ingest, IngestReport};
pub use schema::Schema;
pub use spec::Spec;
pub use synth::{synth, SynthFormat, SynthOptions, SynthSummary, CSV_HEADER};
pub use table::Table;
pub use tabulate::{tabulate, tabulate_cached, ColumnCache, TabulateReport};
