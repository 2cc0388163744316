//! The linear system an attacker can write down from a set of tables: one unknown per
//! distinct cell, one equation per sum along a dimension. A cell that appears in two
//! tables (municipality × sex inside municipality × sex × age) or twice in one table
//! (a county with a single municipality) is one unknown: cells are linked by what they
//! count, the number of records and the sum of their record keys, which two different
//! sets of records share with probability about 2⁻⁶⁴.

use std::collections::{HashMap, HashSet};

use statvault_census::table::{CategoryKind, Dimension};
use statvault_census::Table;

use crate::ProtectError;

pub(crate) struct System {
    pub cells: Vec<Cell>,
    pub equations: Vec<Equation>,
    /// Per table, per cell of the table: its unknown.
    pub table_cells: Vec<Vec<usize>>,
    /// Per table, its dimensions, to name cells in reports.
    pub dimensions: Vec<Vec<Dimension>>,
}

pub(crate) struct Cell {
    pub value: i64,
    pub records: u64,
    /// The cell is the sum side of some equation (a total or subtotal).
    pub margin: bool,
}

/// `total` = Σ `parts`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Equation {
    pub total: usize,
    pub parts: Vec<usize>,
}

impl System {
    pub fn build(tables: &[Table]) -> Result<System, ProtectError> {
        let mut cells: Vec<Cell> = Vec::new();
        let mut by_identity: HashMap<(&str, &str, u64, u64), usize> = HashMap::new();
        let mut table_cells = Vec::new();
        let mut equations = HashSet::new();
        for t in tables {
            check_structure(t)?;
            let ids: Vec<usize> = (0..t.cells())
                .map(|c| {
                    let new = |cells: &mut Vec<Cell>| {
                        cells.push(Cell {
                            value: t.values[c],
                            records: t.records[c],
                            margin: false,
                        });
                        cells.len() - 1
                    };
                    // Empty cells are all alike; each stays its own unknown.
                    if t.records[c] == 0 {
                        return new(&mut cells);
                    }
                    let identity = (
                        t.unit.as_str(),
                        t.measure.as_str(),
                        t.records[c],
                        t.record_key_sums[c],
                    );
                    *by_identity
                        .entry(identity)
                        .or_insert_with(|| new(&mut cells))
                })
                .collect();
            let shape: Vec<usize> = t.dimensions.iter().map(|d| d.categories.len()).collect();
            let strides: Vec<usize> = (0..shape.len())
                .map(|d| shape[d + 1..].iter().product())
                .collect();
            for (d, dim) in t.dimensions.iter().enumerate() {
                let index = |code: &str| {
                    dim.categories
                        .iter()
                        .position(|c| c.code == code)
                        .expect("Table::read checked the codes of sums")
                };
                for sum in &dim.sums {
                    let total = index(&sum.total);
                    let parts: Vec<usize> = sum.parts.iter().map(|p| index(p)).collect();
                    // Every cell whose coordinate along d is 0 anchors one equation.
                    for base in (0..t.cells()).filter(|c| (c / strides[d]) % shape[d] == 0) {
                        let at = |k: usize| ids[base + k * strides[d]];
                        let mut eq = Equation {
                            total: at(total),
                            parts: parts.iter().map(|&k| at(k)).collect(),
                        };
                        eq.parts.sort_unstable();
                        // A total with one part is the part itself: no equation.
                        if eq.parts != [eq.total] {
                            equations.insert(eq);
                        }
                    }
                }
            }
            table_cells.push(ids);
        }
        let mut equations: Vec<Equation> = equations.into_iter().collect();
        equations.sort_unstable_by(|a, b| (a.total, &a.parts).cmp(&(b.total, &b.parts)));
        for eq in &equations {
            cells[eq.total].margin = true;
        }
        Ok(System {
            cells,
            equations,
            table_cells,
            dimensions: tables.iter().map(|t| t.dimensions.clone()).collect(),
        })
    }

    /// For each cell, the equations it appears in.
    pub fn equations_of(&self) -> Vec<Vec<usize>> {
        let mut of = vec![Vec::new(); self.cells.len()];
        for (e, eq) in self.equations.iter().enumerate() {
            for &c in std::iter::once(&eq.total).chain(&eq.parts) {
                of[c].push(e);
            }
        }
        of
    }
}

/// Totals need their additive structure: without it an attacker's equations would be
/// invisible to the protection.
fn check_structure(t: &Table) -> Result<(), ProtectError> {
    if t.values.iter().any(|&v| v < 0) {
        return Err(ProtectError::table(
            &t.id,
            "has negative values; protection assumes counts or sums of non-negative values",
        ));
    }
    for d in &t.dimensions {
        for c in &d.categories {
            if c.kind != CategoryKind::Code && !d.sums.iter().any(|s| s.total == c.code) {
                return Err(ProtectError::table(
                    &t.id,
                    format!(
                        "dimension {:?}: total {:?} has no sum saying what it adds up \
                         (tabulate the table again with this version)",
                        d.id, c.code
                    ),
                ));
            }
        }
    }
    Ok(())
}
