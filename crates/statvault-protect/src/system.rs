//! The linear system an attacker can write down from a set of tables: one unknown per
//! distinct cell, one equation per sum along a dimension. A cell that appears in two
//! tables (municipality × sex inside municipality × sex × age) or twice in one table
//! (a county with a single municipality) is one unknown: cells are linked by what they
//! count, the number of records and the sum of their record keys, which two different
//! sets of records share with probability about 2⁻⁶⁴.

use std::collections::{HashMap, HashSet};

use statvault_census::table::{strides, CategoryKind, Dimension};
use statvault_census::Table;

use crate::ProtectError;

pub(crate) struct System<'a> {
    pub cells: Vec<Cell>,
    pub equations: Vec<Equation>,
    /// Per table, per cell of the table: its unknown.
    pub table_cells: Vec<Vec<usize>>,
    /// Per table, its dimensions, to name cells in reports.
    pub dimensions: Vec<&'a [Dimension]>,
}

pub(crate) struct Cell {
    pub value: i64,
    pub records: u64,
    /// The cell is the sum side of some equation (a total or subtotal).
    pub margin: bool,
}

/// Σ coefficient · cell = 0 (a sum is −1·total + Σ 1·part), merged by cell.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Equation {
    pub terms: Vec<(usize, i32)>,
}

impl Equation {
    fn sum(total: usize, parts: impl Iterator<Item = usize>) -> Equation {
        let mut terms: Vec<(usize, i32)> = std::iter::once((total, -1))
            .chain(parts.map(|p| (p, 1)))
            .collect();
        terms.sort_unstable();
        let mut merged: Vec<(usize, i32)> = Vec::with_capacity(terms.len());
        for (c, k) in terms {
            match merged.last_mut() {
                Some((last, sum)) if *last == c => *sum += k,
                _ => merged.push((c, k)),
            }
        }
        merged.retain(|&(_, k)| k != 0);
        Equation { terms: merged }
    }

    pub fn cells(&self) -> impl Iterator<Item = usize> + '_ {
        self.terms.iter().map(|&(c, _)| c)
    }
}

/// What a non-empty cell counts: its unit and measure, its number of records and the
/// sum of their keys. Empty cells have no identity: each is only itself.
pub(crate) type Identity<'a> = (&'a str, &'a str, u64, u64);

pub(crate) fn identity(t: &Table, cell: usize) -> Option<Identity<'_>> {
    (t.records[cell] > 0).then(|| {
        (
            t.unit.as_str(),
            t.measure.as_str(),
            t.records[cell],
            t.record_key_sums[cell],
        )
    })
}

impl<'a> System<'a> {
    pub fn build(tables: &[&'a Table]) -> Result<System<'a>, ProtectError> {
        let mut cells: Vec<Cell> = Vec::new();
        let mut by_identity: HashMap<Identity, usize> = HashMap::new();
        let mut table_cells = Vec::new();
        let mut equations = HashSet::new();
        let mut margins = HashSet::new();
        for &t in tables {
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
                    match identity(t, c) {
                        Some(id) => *by_identity.entry(id).or_insert_with(|| new(&mut cells)),
                        None => new(&mut cells),
                    }
                })
                .collect();
            let shape: Vec<usize> = t.dimensions.iter().map(|d| d.categories.len()).collect();
            let strides = strides(&t.dimensions);
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
                    for base in (0..t.cells()).filter(|c| (c / strides[d]).is_multiple_of(shape[d]))
                    {
                        let at = |k: usize| ids[base + k * strides[d]];
                        margins.insert(at(total));
                        // A total whose only non-empty part is linked to it says
                        // just that the empty parts are empty, which the attacker
                        // learns anyway: its terms cancel to that.
                        let eq = Equation::sum(at(total), parts.iter().map(|&k| at(k)));
                        if !eq.terms.is_empty() {
                            equations.insert(eq);
                        }
                    }
                }
            }
            table_cells.push(ids);
        }
        let mut equations: Vec<Equation> = equations.into_iter().collect();
        equations.sort_unstable();
        for m in margins {
            cells[m].margin = true;
        }
        Ok(System {
            cells,
            equations,
            table_cells,
            dimensions: tables.iter().map(|t| t.dimensions.as_slice()).collect(),
        })
    }

    /// For each cell, the equations it appears in.
    pub fn equations_of(&self) -> Vec<Vec<usize>> {
        let mut of = vec![Vec::new(); self.cells.len()];
        for (e, eq) in self.equations.iter().enumerate() {
            for c in eq.cells() {
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
