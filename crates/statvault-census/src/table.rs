//! The neutral table file `tabulate` writes (`<id>.table.json`, specified in
//! `docs/census-schema.md`, "Table files"): dimensions with codes and labels, one value
//! per cell, and per cell the sum of the record keys of the records counted in it.
//! The key sums are internal: the disclosure control step needs them, and no public
//! output may carry them.

use serde::{Deserialize, Serialize};

use crate::schema::Labels;

/// The `format` field of every table file this version writes.
pub const FORMAT: &str = "statvault-table/1";

/// A table file, `<id>.table.json` (`docs/census-schema.md` §4): the cells of a
/// cross-table with their record counts and record key sums, internal only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// `statvault-table/1`.
    pub format: String,
    /// The table's id.
    pub id: String,
    /// The title, per language.
    pub title: Labels,
    /// The record type counted (person, household, dwelling).
    pub unit: String,
    /// `count`, or `sum:<variable>`.
    pub measure: String,
    /// Which snapshot, log head, spec and source the table came from.
    pub provenance: Provenance,
    /// Row-major order: the last dimension varies fastest.
    pub dimensions: Vec<Dimension>,
    /// Per cell, row-major: its value.
    pub values: Vec<i64>,
    /// Per cell: the number of records counted in it.
    pub records: Vec<u64>,
    /// Per cell: Σ record keys, each key a 32-bit fraction k / 2³²; the cell key of
    /// the cell key method is this sum mod 2³², over 2³². Internal only.
    pub record_key_sums: Vec<u64>,
}

/// Where a table came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The vault snapshot tabulated, by id.
    pub snapshot: String,
    /// The vault log's head when it was tabulated.
    pub log_head: String,
    /// BLAKE3 of the spec file the table came from.
    pub spec_blake3: String,
    /// BLAKE3 of the census source file ingested.
    pub source_blake3: String,
    /// The statvault version that tabulated it.
    pub statvault: String,
}

/// One dimension of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    /// The variable's name.
    pub id: String,
    /// Its label, per language.
    pub label: Labels,
    /// Its categories: totals, subtotals and codes, in the order the cells use.
    pub categories: Vec<Category>,
    /// The additive structure along this dimension: each entry says one category is
    /// the sum of others (a county of its municipalities, the total of the counties),
    /// whatever the other dimensions' categories. Disclosure control needs it to know
    /// what an attacker can recompute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sums: Vec<Sum>,
    /// What the categories' definitions imply: each entry says the categories `parts`
    /// add up to at most the categories `within`, whatever the other dimensions'
    /// categories (the employed are among those aged 15 and over). An attacker reads
    /// the definitions, so disclosure control must know these too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bounds: Vec<Bound>,
}

/// Σ `parts` ≤ Σ `within`, by category code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The categories bounded.
    pub parts: Vec<String>,
    /// The categories that bound them.
    pub within: Vec<String>,
}

/// `total` = Σ `parts`, by category code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sum {
    /// The total's category.
    pub total: String,
    /// The categories it adds up.
    pub parts: Vec<String>,
}

/// What a category is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    /// A code of the variable itself.
    Code,
    /// A code of a higher level of the variable's hierarchy (a county among
    /// municipalities).
    Subtotal,
    /// All codes.
    Total,
}

/// One category of a dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Its code: the variable's code, or one made for a total or subtotal.
    pub code: String,
    /// Its label, per language.
    pub label: Labels,
    /// A code, a subtotal or the total.
    pub kind: CategoryKind,
    /// For subtotals: the codelist of the level (e.g. `county`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

impl Table {
    /// Cells in the table: the product of its dimensions' category counts.
    pub fn cells(&self) -> usize {
        cell_count(&self.dimensions).expect("Table::read checked the cell count")
    }

    /// The file's bytes: one line of JSON.
    pub fn write(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a table serializes")
    }

    /// Parses a table file and checks its shape.
    pub fn read(bytes: &[u8]) -> Result<Table, String> {
        let t: Table = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if t.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", t.format));
        }
        let cells = cell_count(&t.dimensions).ok_or("the dimensions multiply beyond counting")?;
        if [t.values.len(), t.records.len(), t.record_key_sums.len()] != [cells; 3] {
            return Err(format!(
                "{cells} cells but {} values, {} record counts, {} key sums",
                t.values.len(),
                t.records.len(),
                t.record_key_sums.len()
            ));
        }
        check_sums(&t.dimensions)?;
        Ok(t)
    }
}

/// The dimension of the GEOSTAT 2021 grid table's variables (`T`, `M`, `EMP`, …).
pub const GEOSTAT_DIMENSION: &str = "geostat";

impl Table {
    /// A grid table: the GEOSTAT variables by grid cell.
    pub fn is_grid(&self) -> bool {
        self.dimensions.iter().any(|d| d.id == GEOSTAT_DIMENSION)
    }

    /// The first cell where a dimension's bound does not hold on the values, named.
    pub fn broken_bound(&self) -> Option<String> {
        let strides = strides(&self.dimensions);
        for (d, dim) in self.dimensions.iter().enumerate() {
            let index = |code: &String| {
                dim.categories
                    .iter()
                    .position(|c| &c.code == code)
                    .expect("Table::read checked the codes of bounds")
            };
            let n = dim.categories.len();
            for bound in &dim.bounds {
                let (parts, within): (Vec<usize>, Vec<usize>) = (
                    bound.parts.iter().map(index).collect(),
                    bound.within.iter().map(index).collect(),
                );
                for base in (0..self.cells()).filter(|c| (c / strides[d]).is_multiple_of(n)) {
                    let sum = |ks: &[usize]| -> i64 {
                        ks.iter().map(|k| self.values[base + k * strides[d]]).sum()
                    };
                    if sum(&parts) > sum(&within) {
                        let at: Vec<String> = coordinates(&self.dimensions, base)
                            .iter()
                            .zip(&self.dimensions)
                            .enumerate()
                            .filter(|(k, _)| *k != d)
                            .map(|(_, (&i, dim))| format!("{}={}", dim.id, dim.categories[i].code))
                            .collect();
                        let place = match at.is_empty() {
                            true => String::new(),
                            false => format!(" at {}", at.join(", ")),
                        };
                        return Some(format!(
                            "{} exceed {}{place}",
                            bound.parts.join(" + "),
                            bound.within.join(" + ")
                        ));
                    }
                }
            }
        }
        None
    }
}

/// The number of cells the dimensions span, if it fits in memory's address space.
pub fn cell_count(dimensions: &[Dimension]) -> Option<usize> {
    dimensions
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(d.categories.len()))
}

/// How far apart, in cells, consecutive categories of each dimension are (row-major:
/// the last dimension's stride is 1).
pub fn strides(dimensions: &[Dimension]) -> Vec<usize> {
    let mut strides = vec![1usize; dimensions.len()];
    for d in (0..dimensions.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * dimensions[d + 1].categories.len();
    }
    strides
}

/// The category index along each dimension of cell `cell` (row-major: the last
/// dimension varies fastest).
pub fn coordinates(dimensions: &[Dimension], mut cell: usize) -> Vec<usize> {
    let mut at = vec![0; dimensions.len()];
    for (d, dim) in dimensions.iter().enumerate().rev() {
        let n = dim.categories.len();
        at[d] = cell % n;
        cell /= n;
    }
    at
}

/// Checks that every sum of every dimension names categories of that dimension.
pub fn check_sums(dimensions: &[Dimension]) -> Result<(), String> {
    for d in dimensions {
        let known = |code: &String| d.categories.iter().any(|c| &c.code == code);
        for sum in &d.sums {
            if let Some(bad) = std::iter::once(&sum.total)
                .chain(&sum.parts)
                .find(|c| !known(c))
            {
                return Err(format!(
                    "dimension {:?}: sum of {:?} names unknown category {bad:?}",
                    d.id, sum.total
                ));
            }
        }
        for bound in &d.bounds {
            if let Some(bad) = bound.parts.iter().chain(&bound.within).find(|c| !known(c)) {
                return Err(format!(
                    "dimension {:?}: a bound names unknown category {bad:?}",
                    d.id
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_its_shape() {
        let labels = |s: &str| Labels::from([("en".to_string(), s.to_string())]);
        let t = Table {
            format: FORMAT.into(),
            id: "t".into(),
            title: labels("T"),
            unit: "person".into(),
            measure: "count".into(),
            provenance: Provenance {
                snapshot: "ab".into(),
                log_head: "cd".into(),
                spec_blake3: "ef".into(),
                source_blake3: "01".into(),
                statvault: "0".into(),
            },
            dimensions: vec![Dimension {
                id: "sex".into(),
                label: labels("Sex"),
                categories: vec![
                    Category {
                        code: "1".into(),
                        label: labels("Male"),
                        kind: CategoryKind::Code,
                        level: None,
                    },
                    Category {
                        code: "_T".into(),
                        label: labels("Total"),
                        kind: CategoryKind::Total,
                        level: None,
                    },
                ],
                sums: vec![Sum {
                    total: "_T".into(),
                    parts: vec!["1".into()],
                }],
                bounds: Vec::new(),
            }],
            values: vec![3, 5],
            records: vec![3, 5],
            record_key_sums: vec![u64::MAX, 0],
        };
        assert_eq!(Table::read(&t.write()).unwrap(), t);
        let mut short = t.clone();
        short.values.pop();
        assert!(Table::read(&short.write()).unwrap_err().contains("2 cells"));

        // Bounds: read back, held by the values, refused where they name no category.
        let mut bounded = t.clone();
        bounded.dimensions[0].bounds = vec![Bound {
            parts: vec!["1".into()],
            within: vec!["_T".into()],
        }];
        assert_eq!(Table::read(&bounded.write()).unwrap(), bounded);
        assert_eq!(bounded.broken_bound(), None);
        bounded.values = vec![6, 5];
        assert_eq!(bounded.broken_bound().unwrap(), "1 exceed _T");
        bounded.dimensions[0].bounds[0].within = vec!["9".into()];
        assert!(Table::read(&bounded.write())
            .unwrap_err()
            .contains("a bound names unknown category \"9\""));
    }
}
