//! The threshold rule with secondary suppression.
//!
//! Primary: every cell counting 1 ≤ n < threshold records (and empty cells, if asked).
//! Secondary: for each primary cell and each direction, the linear-programming
//! heuristic of Kelly, Golden and Assad (1992), as in Fischetti and Salazar's
//! formulation: find the cheapest pattern of changes y, one per cell, that keeps every
//! equation of the linked tables true, keeps every cell non-negative, moves the
//! primary cell by its protection level and touches published cells only at a cost.
//! The cells the pattern touches are suppressed; an attacker who sees the rest cannot
//! tell the true table from the true table plus y, so the primary cell's value is
//! uncertain by at least its protection level. Costs favour small interior cells over
//! totals. The pattern is searched among cells within three equations of the primary
//! cell first (where hypercube patterns live), then in its whole connected part.

use std::collections::{BTreeSet, VecDeque};

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use statvault_census::Table;

use crate::audit::{self, Requirement};
use crate::protected::{self, CellStatus, ProtectedTable, Protection};
use crate::system::System;
use crate::ProtectError;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SuppressOptions {
    /// Cells with 1 ≤ records < threshold are suppressed.
    pub threshold: u64,
    /// The attacker's interval must reach this many contributors' worth above each
    /// suppressed cell's value and as far below as that value allows.
    pub protection: u64,
    /// Treat empty cells as sensitive too.
    pub suppress_zeros: bool,
}

impl Default for SuppressOptions {
    fn default() -> Self {
        SuppressOptions {
            threshold: 10,
            protection: 3,
            suppress_zeros: false,
        }
    }
}

/// Protects linked tables together, so that no primary cell can be recomputed from
/// all of them at once; returns one protected table per input table.
pub fn protect_suppress(
    tables: &[Table],
    options: &SuppressOptions,
) -> Result<Vec<ProtectedTable>, ProtectError> {
    if options.threshold < 1 {
        return Err(ProtectError::Parameters(
            "the threshold must be at least 1".into(),
        ));
    }
    let system = System::build(tables)?;
    let status = suppress(&system, options)?;
    let mut parameters = serde_json::Map::new();
    parameters.insert("threshold".into(), options.threshold.into());
    parameters.insert("protection".into(), options.protection.into());
    parameters.insert("suppress_zeros".into(), options.suppress_zeros.into());
    parameters.insert("linked_tables".into(), tables.len().into());
    let mut protected: Vec<ProtectedTable> = tables
        .iter()
        .zip(&system.table_cells)
        .map(|(t, ids)| {
            let cell_status: Vec<CellStatus> = ids.iter().map(|&c| status[c]).collect();
            ProtectedTable {
                format: protected::FORMAT.into(),
                id: t.id.clone(),
                title: t.title.clone(),
                unit: t.unit.clone(),
                measure: t.measure.clone(),
                provenance: t.provenance.clone(),
                dimensions: t.dimensions.clone(),
                values: t
                    .values
                    .iter()
                    .zip(&cell_status)
                    .map(|(&v, s)| (!s.is_suppressed()).then_some(v))
                    .collect(),
                status: cell_status.iter().map(|s| s.symbol().to_string()).collect(),
                protection: Protection {
                    method: "suppress".into(),
                    parameters: parameters.clone(),
                    ptable_blake3: None,
                    audit: Default::default(),
                },
            }
        })
        .collect();
    audit::attach(&mut protected, tables)?;
    Ok(protected)
}

/// Each suppressed cell's requirement: primary cells their protection level (in
/// contributors' worth of value), secondary cells only that they are not exact.
pub(crate) fn requirements(
    system: &System,
    status: &[CellStatus],
    protection: u64,
) -> Vec<Requirement> {
    system
        .cells
        .iter()
        .zip(status)
        .map(|(c, s)| match s {
            CellStatus::PrimarySuppressed => {
                let per_record = if c.records > 0 {
                    c.value as f64 / c.records as f64
                } else {
                    1.0
                };
                let level = protection as f64 * per_record;
                Requirement::Protect {
                    up: level,
                    down: level.min(c.value as f64),
                }
            }
            CellStatus::SecondarySuppressed => Requirement::NotExact,
            _ => Requirement::None,
        })
        .collect()
}

fn suppress(system: &System, options: &SuppressOptions) -> Result<Vec<CellStatus>, ProtectError> {
    let mut status: Vec<CellStatus> = system
        .cells
        .iter()
        .map(|c| {
            let primary = (1..options.threshold).contains(&c.records)
                || (options.suppress_zeros && c.records == 0);
            if primary {
                CellStatus::PrimarySuppressed
            } else {
                CellStatus::Published
            }
        })
        .collect();
    let equations_of = system.equations_of();
    let requirement = requirements(system, &status, options.protection);
    // Largest first: their patterns are the hardest to find, and later, smaller
    // cells often ride on them.
    let mut primaries: Vec<usize> = (0..system.cells.len())
        .filter(|&c| status[c] == CellStatus::PrimarySuppressed)
        .collect();
    primaries.sort_by_key(|&c| std::cmp::Reverse(system.cells[c].value));
    let mut certified = vec![[false; 2]; system.cells.len()];
    for &p in &primaries {
        let Requirement::Protect { up, down } = requirement[p] else {
            unreachable!("primary cells need protection")
        };
        for (direction, amount) in [(0, up), (1, down)] {
            if certified[p][direction] || amount <= 0.0 {
                continue;
            }
            let shift = if direction == 0 { amount } else { -amount };
            let Some(pattern) = cheapest_pattern(system, &equations_of, &status, p, shift)? else {
                // No pattern exists: the audit reports the cell as under-protected.
                continue;
            };
            for (c, y) in pattern {
                if status[c] == CellStatus::Published {
                    status[c] = CellStatus::SecondarySuppressed;
                }
                // The pattern also protects every primary cell it moves far enough.
                if let Requirement::Protect { up, down } = requirement[c] {
                    certified[c][0] |= y >= up - 1e-7;
                    certified[c][1] |= -y >= down - 1e-7;
                }
            }
        }
    }
    Ok(status)
}

/// The cheapest change pattern moving cell `p` by `shift`, or None if none exists.
fn cheapest_pattern(
    system: &System,
    equations_of: &[Vec<usize>],
    status: &[CellStatus],
    p: usize,
    shift: f64,
) -> Result<Option<Vec<(usize, f64)>>, ProtectError> {
    let mut last_size = 0;
    for hops in [3, usize::MAX] {
        let region = neighbourhood(system, equations_of, p, hops);
        if region.len() == last_size {
            break;
        }
        last_size = region.len();
        if let Some(pattern) = pattern_within(system, equations_of, status, p, shift, &region)? {
            return Ok(Some(pattern));
        }
    }
    Ok(None)
}

/// Cells reachable from `p` through at most `hops` shared equations.
fn neighbourhood(
    system: &System,
    equations_of: &[Vec<usize>],
    p: usize,
    hops: usize,
) -> BTreeSet<usize> {
    let mut seen = BTreeSet::from([p]);
    let mut queue = VecDeque::from([(p, 0)]);
    while let Some((c, depth)) = queue.pop_front() {
        if depth == hops {
            continue;
        }
        for &e in &equations_of[c] {
            for other in system.equations[e].cells() {
                if seen.insert(other) {
                    queue.push_back((other, depth + 1));
                }
            }
        }
    }
    seen
}

fn pattern_within(
    system: &System,
    equations_of: &[Vec<usize>],
    status: &[CellStatus],
    p: usize,
    shift: f64,
    region: &BTreeSet<usize>,
) -> Result<Option<Vec<(usize, f64)>>, ProtectError> {
    let mut problem = Problem::new(OptimizationDirection::Minimize);
    // Per cell of the region that may move: (cell, up variable, down variable).
    let mut movable = Vec::new();
    let mut var_of = std::collections::HashMap::new();
    for &c in region {
        let cell = &system.cells[c];
        let suppressed = status[c].is_suppressed();
        // Published empty cells stay published: suppressing a known zero protects
        // little, and empty cells cannot be linked across tables.
        if !suppressed && cell.value == 0 {
            continue;
        }
        let cost = if suppressed {
            0.0
        } else {
            let size = 1.0 + (1.0 + cell.value as f64).ln();
            if cell.margin {
                4.0 * size
            } else {
                size
            }
        };
        let (up_bounds, down_bounds) = if c == p {
            if shift > 0.0 {
                ((shift, shift), (0.0, 0.0))
            } else {
                ((0.0, 0.0), (-shift, -shift))
            }
        } else {
            ((0.0, f64::INFINITY), (0.0, cell.value as f64))
        };
        let up = problem.add_var(cost, up_bounds);
        let down = problem.add_var(cost, down_bounds);
        var_of.insert(c, (up, down));
        movable.push((c, up, down));
    }
    let equations: BTreeSet<usize> = region
        .iter()
        .flat_map(|&c| equations_of[c].iter().copied())
        .collect();
    for e in equations {
        let mut terms = Vec::new();
        for &(c, k) in &system.equations[e].terms {
            if let Some(&(up, down)) = var_of.get(&c) {
                terms.push((up, f64::from(k)));
                terms.push((down, -f64::from(k)));
            }
        }
        if !terms.is_empty() {
            problem.add_constraint(terms.as_slice(), ComparisonOp::Eq, 0.0);
        }
    }
    match problem.solve() {
        Ok(outcome) => {
            let solution = outcome
                .into_solution()
                .map_err(|_| ProtectError::Solver("the solve was interrupted".into()))?;
            Ok(Some(
                movable
                    .into_iter()
                    .map(|(c, up, down)| (c, solution.var_value(up) - solution.var_value(down)))
                    .filter(|(_, y)| y.abs() > 1e-7)
                    .collect(),
            ))
        }
        Err(microlp::Error::Infeasible) => Ok(None),
        Err(e) => Err(ProtectError::Solver(e.to_string())),
    }
}
