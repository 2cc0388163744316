//! A census dataset as stored in a vault snapshot (`docs/census-schema.md`, "Stored
//! dataset"): the schema as given, `dataset.json` describing the columns, and one
//! file per column: packed codes for codes and bounded integers, Parquet for the rest.

use serde::{Deserialize, Serialize};
use statvault_crypto::RecordKeySeed;

pub const ROOT: &str = "census";
pub const SCHEMA_FILE: &str = "schema.toml";
pub const META_FILE: &str = "dataset.json";
/// The format `census ingest` writes: packed code columns, record keys from a seed.
pub const FORMAT: &str = "statvault-census-dataset/2";
/// The first format, still read: every column Parquet, record keys stored.
pub const FORMAT_1: &str = "statvault-census-dataset/1";
/// The tag `census ingest` gives its snapshots.
pub const TAG: &str = "census";

#[derive(Serialize, Deserialize)]
pub struct DatasetMeta {
    pub format: String,
    pub source: Source,
    /// Number of records of each type, root first.
    pub records: Vec<RecordCount>,
    pub columns: Vec<StoredColumn>,
    /// Cell ids of the 1 km grid, in the order of their codes in the grid column.
    pub grid_1km: Vec<String>,
    /// Format 2: the seed the record keys are drawn from (`RecordKeySeed::fill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_key_seed: Option<RecordKeySeed>,
    pub ingested_at: u64,
    pub statvault: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub file: String,
    pub bytes: u64,
    pub blake3: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecordCount {
    pub record: String,
    pub count: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// A schema variable; codes are stored as their position in the codelist (INT32),
    /// integers as INT64, decimals as DOUBLE.
    Variable,
    /// A derived variable stored as the position of its code (INT32).
    Derived,
    /// Format 1 only: the record key of each row, a uniform 32-bit fraction k / 2³²
    /// (INT32 bits).
    RecordKey,
    /// For each row, the dense index (0, 1, …, in order of first appearance) of the
    /// record of type `name` it belongs to (INT32).
    RecordIndex,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredColumn {
    pub name: String,
    pub kind: ColumnKind,
    /// Path inside the dataset directory.
    pub file: String,
    /// Set for a packed column (`packed.rs`); a Parquet column has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed: Option<Packing>,
}

/// How a packed column holds its values: each stored value is the code position, or
/// the integer minus `offset`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Packing {
    pub bits: u32,
    pub offset: i64,
}

/// The file of a Parquet column.
pub fn column_file(name: &str) -> String {
    format!("columns/{name}.parquet")
}

/// The file of a packed column.
pub fn packed_file(name: &str) -> String {
    format!("columns/{name}.packed")
}

pub const RECORD_KEY: &str = "_record_key";

pub fn record_index_column(record: &str) -> String {
    format!("_index_{record}")
}
