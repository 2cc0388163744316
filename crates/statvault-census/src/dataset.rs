//! A census dataset as stored in a vault snapshot (`docs/census-schema.md`, "Stored
//! dataset"): the schema as given, `dataset.json` describing the columns, and one
//! Parquet file per column.

use serde::{Deserialize, Serialize};

pub const ROOT: &str = "census";
pub const SCHEMA_FILE: &str = "schema.toml";
pub const META_FILE: &str = "dataset.json";
pub const FORMAT: &str = "statvault-census-dataset/1";
/// The tag `census ingest` gives its snapshots.
pub const TAG: &str = "census";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DatasetMeta {
    pub format: String,
    pub source: Source,
    /// Number of records of each type, root first.
    pub records: Vec<RecordCount>,
    pub columns: Vec<StoredColumn>,
    /// Cell ids of the 1 km grid, in the order of their codes in the grid column.
    pub grid_1km: Vec<String>,
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
    /// The record key of each row: a uniform 32-bit fraction k / 2³² (INT32 bits).
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
}

pub fn column_file(name: &str) -> String {
    format!("columns/{name}.parquet")
}

pub const RECORD_KEY: &str = "_record_key";

pub fn record_index_column(record: &str) -> String {
    format!("_index_{record}")
}
