//! Table specs: which tables `tabulate` computes. TOML, specified in
//! `docs/census-schema.md` ("Table specs"):
//!
//! ```toml
//! format = "statvault-table-spec/1"
//!
//! [[table]]
//! id = "population_by_municipality_sex_age"
//! title = { sq = "Popullsia sipas bashkisë, gjinisë dhe moshës", en = "Population by municipality, sex and age group" }
//! dimensions = ["municipality", "sex", "age_group5"]
//! unit = "person"                # the record type counted (default: the leaf, person)
//! where = { age_broad = ["Y15-64"] }
//! measure = "count"              # or { sum = "age" }
//! totals = true                  # a total per dimension, subtotals along hierarchies
//!
//! [[table]]
//! id = "grid"
//! builtin = "geostat_1km"        # the EU 2021 census 1 km grid table
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::schema::{location, Labels};
use crate::CensusError;

/// The `format` field of every table spec this version reads.
pub const FORMAT: &str = "statvault-table-spec/1";

/// A table spec, checked (`docs/census-schema.md` §3): the tables to tabulate.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The tables, in the spec's order.
    pub tables: Vec<TableSpec>,
}

/// One table of a spec.
#[derive(Clone, Debug, PartialEq)]
pub struct TableSpec {
    /// The table's id: it names its files.
    pub id: String,
    /// The title, per language.
    pub title: Labels,
    /// What the table is.
    pub kind: TableKind,
}

/// What a table is.
#[derive(Clone, Debug, PartialEq)]
pub enum TableKind {
    /// A cross-table of variables.
    CrossTab(CrossTab),
    /// The GEOSTAT 2021 1 km grid table.
    Geostat1km,
}

/// A cross-table: records counted (or a variable summed) by the codes of some
/// variables.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossTab {
    /// The variables, original or derived, whose codes are the dimensions, in order.
    pub dimensions: Vec<String>,
    /// Record type counted; `None` is the leaf record type.
    pub unit: Option<String>,
    /// Which records count; all must pass.
    pub filters: Vec<Filter>,
    /// What each cell holds.
    pub measure: Measure,
    /// Whether totals and subtotals along hierarchies are added.
    pub totals: bool,
}

/// A condition on the records a table counts.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Keep records whose variable has one of these codes.
    Codes {
        /// The code variable.
        variable: String,
        /// The codes kept.
        codes: Vec<String>,
    },
    /// Keep records whose integer variable lies in `min..=max`.
    Range {
        /// The integer variable.
        variable: String,
        /// The least value kept.
        min: i64,
        /// The greatest value kept.
        max: i64,
    },
}

/// What a cell holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Measure {
    /// How many records it counts.
    Count,
    /// The sum of an integer variable over its records.
    Sum(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    format: String,
    #[serde(default)]
    table: Vec<RawTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    id: String,
    #[serde(default)]
    title: Labels,
    builtin: Option<String>,
    #[serde(default)]
    dimensions: Vec<String>,
    unit: Option<String>,
    #[serde(default, rename = "where")]
    filters: BTreeMap<String, RawFilter>,
    measure: Option<RawMeasure>,
    totals: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFilter {
    Codes(Vec<String>),
    Range { min: i64, max: i64 },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMeasure {
    Name(String),
    Sum { sum: String },
}

/// The longest table id: ids become file names.
const MAX_ID: usize = 100;

impl Spec {
    /// Parses and checks a spec; a message names the line and column, or the table.
    pub fn parse(text: &str) -> Result<Spec, CensusError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| CensusError::Spec {
            at: location(text, e.span()),
            message: e.message().trim().to_string(),
        })?;
        let err = |at: String, message: String| CensusError::Spec { at, message };
        if raw.format != FORMAT {
            return Err(err(
                "format".into(),
                format!("is {:?}; this statvault reads {FORMAT:?}", raw.format),
            ));
        }
        if raw.table.is_empty() {
            return Err(err("the file".into(), "lists no [[table]]".into()));
        }
        let mut tables: Vec<TableSpec> = Vec::new();
        for t in raw.table {
            let at = format!("table {:?}", t.id);
            let id_ok = !t.id.is_empty()
                && t.id.len() <= MAX_ID
                && t.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && !t.id.starts_with('-');
            if !id_ok {
                return Err(err(
                    at,
                    format!(
                        "an id is 1–{MAX_ID} letters, digits, _ or - (it names the output file)"
                    ),
                ));
            }
            if tables.iter().any(|o| o.id == t.id) {
                return Err(err(at, "two tables have this id".into()));
            }
            let kind = match t.builtin.as_deref() {
                Some("geostat_1km") => {
                    if !t.dimensions.is_empty()
                        || !t.filters.is_empty()
                        || t.measure.is_some()
                        || t.unit.is_some()
                        || t.totals.is_some()
                    {
                        return Err(err(at, "a builtin table takes only id and title".into()));
                    }
                    TableKind::Geostat1km
                }
                Some(other) => {
                    return Err(err(
                        at,
                        format!("builtin {other:?} is not known (geostat_1km is)"),
                    ))
                }
                None => {
                    if t.dimensions.is_empty() {
                        return Err(err(at, "dimensions: name at least one variable".into()));
                    }
                    if let Some(d) = t
                        .dimensions
                        .iter()
                        .enumerate()
                        .find(|(i, d)| t.dimensions[..*i].contains(d))
                    {
                        return Err(err(at, format!("dimension {:?} is listed twice", d.1)));
                    }
                    let measure = match t.measure {
                        None => Measure::Count,
                        Some(RawMeasure::Name(n)) if n == "count" => Measure::Count,
                        Some(RawMeasure::Name(n)) => {
                            return Err(err(
                                at,
                                format!("measure {n:?}: use \"count\" or {{ sum = \"variable\" }}"),
                            ))
                        }
                        Some(RawMeasure::Sum { sum }) => Measure::Sum(sum),
                    };
                    let filters = t
                        .filters
                        .into_iter()
                        .map(|(variable, f)| match f {
                            RawFilter::Codes(codes) => Filter::Codes { variable, codes },
                            RawFilter::Range { min, max } => Filter::Range { variable, min, max },
                        })
                        .collect();
                    TableKind::CrossTab(CrossTab {
                        dimensions: t.dimensions,
                        unit: t.unit,
                        filters,
                        measure,
                        totals: t.totals.unwrap_or(true),
                    })
                }
            };
            tables.push(TableSpec {
                id: t.id,
                title: t.title,
                kind,
            });
        }
        Ok(Spec { tables })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const EXAMPLE: &str = include_str!("../../../examples/census-albania/tables.toml");

    #[test]
    fn example_spec_parses() {
        let spec = Spec::parse(EXAMPLE).unwrap();
        assert!(spec.tables.len() >= 20);
        assert!(spec.tables.iter().any(|t| t.kind == TableKind::Geostat1km));
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let bad = |text: &str, expect: &str| {
            let e = Spec::parse(text).unwrap_err().to_string();
            assert!(e.contains(expect), "{e}");
        };
        let head = "format = \"statvault-table-spec/1\"\n";
        bad(
            &format!("{head}[[table]]\nid = \"a\"\n"),
            "at least one variable",
        );
        bad(
            &format!("{head}[[table]]\nid = \"../x\"\ndimensions = [\"sex\"]\n"),
            "an id is",
        );
        bad(&format!("{head}[[table]]\nid = \"a\"\ndimensions = [\"sex\"]\n[[table]]\nid = \"a\"\ndimensions = [\"sex\"]\n"), "two tables");
        bad(
            &format!("{head}[[table]]\nid = \"a\"\ndimensions = [\"sex\"]\nmeasure = \"mean\"\n"),
            "measure",
        );
        bad(
            &format!("{head}[[table]]\nid = \"a\"\ndimensions = [\"sex\"\n"),
            "line 4",
        );
        bad("format = \"x\"\n", "format");
    }
}
