//! The linear system an attacker can write down from a set of tables: one unknown per
//! distinct cell, one equation per sum along a dimension. A cell that appears in two
//! tables (municipality × sex inside municipality × sex × age) is one unknown: cells
//! are linked by what they count, the number of records and the sum of their record
//! keys, which two different sets of records share with probability about 2⁻⁶⁴.
//! Within one table cells are never linked: where two count the same records by
//! definition (a county with a single municipality) the table's sums say so, and
//! where they do by chance (the men of a grid square are its natives) the attacker
//! cannot know it.
//!
//! Besides the sums, what the categories' definitions imply (a dimension's bounds:
//! the employed are among those aged 15 and over) is an inequality per combination of
//! the other dimensions' categories. And where zeros are published, every hidden cell
//! of a count is at least 1: `floors`.

use std::collections::{BTreeSet, HashMap, HashSet};

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use statvault_census::table::{strides, CategoryKind, Dimension};
use statvault_census::Table;

use crate::ProtectError;

/// Cells within three equations of a cell, at most, for its least to be solved
/// exactly: a grid square's 13 variables, not a municipality linked to every table.
const SMALL_REGION: usize = 64;

pub(crate) struct System<'a> {
    pub cells: Vec<Cell>,
    pub equations: Vec<Equation>,
    /// For each cell, the equations it appears in.
    pub equations_of: Vec<Vec<usize>>,
    /// Per table, per cell of the table: its unknown.
    pub table_cells: Vec<Vec<usize>>,
    /// Per table, its dimensions, to name cells in reports.
    pub dimensions: Vec<&'a [Dimension]>,
    /// Each cell's connected part (cells linked through shared equations), as an
    /// index into `parts`.
    part_of: Vec<usize>,
    /// The cells of each connected part, sorted.
    parts: Vec<Vec<usize>>,
}

pub(crate) struct Cell {
    pub value: i64,
    pub records: u64,
    /// The cell is the sum side of some equation (a total or subtotal).
    pub margin: bool,
    /// The cell counts records (a non-empty one is at least 1).
    pub count: bool,
}

/// Σ coefficient · cell = 0 (a sum is −1·total + Σ 1·part), or ≤ 0 where `at_most`
/// (a bound is Σ 1·part − Σ 1·within), merged by cell.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Equation {
    pub at_most: bool,
    pub terms: Vec<(usize, i32)>,
}

impl Equation {
    fn sum(total: usize, parts: impl Iterator<Item = usize>) -> Equation {
        Equation::merged(
            false,
            std::iter::once((total, -1)).chain(parts.map(|p| (p, 1))),
        )
    }

    fn bound(parts: impl Iterator<Item = usize>, within: impl Iterator<Item = usize>) -> Equation {
        Equation::merged(true, parts.map(|p| (p, 1)).chain(within.map(|w| (w, -1))))
    }

    fn merged(at_most: bool, terms: impl Iterator<Item = (usize, i32)>) -> Equation {
        let mut terms: Vec<(usize, i32)> = terms.collect();
        terms.sort_unstable();
        let mut merged: Vec<(usize, i32)> = Vec::with_capacity(terms.len());
        for (c, k) in terms {
            match merged.last_mut() {
                Some((last, sum)) if *last == c => *sum += k,
                _ => merged.push((c, k)),
            }
        }
        merged.retain(|&(_, k)| k != 0);
        Equation {
            at_most,
            terms: merged,
        }
    }

    /// `=` for a sum, `≤` for a bound.
    pub fn comparison(&self) -> ComparisonOp {
        if self.at_most {
            ComparisonOp::Le
        } else {
            ComparisonOp::Eq
        }
    }

    /// The equation over the unknowns `var` names, every other cell held at `held`:
    /// its terms and right-hand side.
    pub fn over<V>(
        &self,
        var: impl Fn(usize) -> Option<V>,
        held: impl Fn(usize) -> f64,
    ) -> (Vec<(V, f64)>, f64) {
        let mut terms = Vec::with_capacity(self.terms.len());
        let mut rhs = 0.0;
        for &(c, k) in &self.terms {
            match var(c) {
                Some(v) => terms.push((v, f64::from(k))),
                None => rhs -= f64::from(k) * held(c),
            }
        }
        (terms, rhs)
    }

    /// What the truth leaves between the two sides: zero for a sum, ≥ 0 for a bound.
    pub fn slack(&self, value: impl Fn(usize) -> f64) -> f64 {
        -self
            .terms
            .iter()
            .map(|&(c, k)| f64::from(k) * value(c))
            .sum::<f64>()
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
        // Per identity, its unknowns and the tables each is used by already.
        let mut by_identity: HashMap<Identity, Vec<(usize, Vec<usize>)>> = HashMap::new();
        let mut table_cells = Vec::new();
        let mut equations = HashSet::new();
        let mut margins = HashSet::new();
        for (number, &t) in tables.iter().enumerate() {
            check_structure(t)?;
            let ids: Vec<usize> = (0..t.cells())
                .map(|c| {
                    let new = |cells: &mut Vec<Cell>| {
                        cells.push(Cell {
                            value: t.values[c],
                            records: t.records[c],
                            margin: false,
                            count: t.measure == "count",
                        });
                        cells.len() - 1
                    };
                    let Some(id) = identity(t, c) else {
                        return new(&mut cells);
                    };
                    let unknowns = by_identity.entry(id).or_default();
                    match unknowns
                        .iter_mut()
                        .find(|(_, users)| !users.contains(&number))
                    {
                        Some((unknown, users)) => {
                            users.push(number);
                            *unknown
                        }
                        None => {
                            let unknown = new(&mut cells);
                            unknowns.push((unknown, vec![number]));
                            unknown
                        }
                    }
                })
                .collect();
            let shape: Vec<usize> = t.dimensions.iter().map(|d| d.categories.len()).collect();
            let strides = strides(&t.dimensions);
            for (d, dim) in t.dimensions.iter().enumerate() {
                let index = |code: &String| {
                    dim.categories
                        .iter()
                        .position(|c| &c.code == code)
                        .expect("Table::read checked the codes of sums and bounds")
                };
                let indices = |codes: &[String]| codes.iter().map(index).collect::<Vec<usize>>();
                // Every cell whose coordinate along d is 0 anchors one equation.
                let bases = || (0..t.cells()).filter(|c| (c / strides[d]).is_multiple_of(shape[d]));
                for sum in &dim.sums {
                    let (total, parts) = (index(&sum.total), indices(&sum.parts));
                    for base in bases() {
                        let at = |k: usize| ids[base + k * strides[d]];
                        margins.insert(at(total));
                        // A total whose only non-empty part is linked to it says
                        // just that the empty parts are empty, which the attacker
                        // learns anyway: its terms cancel to that.
                        equations.insert(Equation::sum(at(total), parts.iter().map(|&k| at(k))));
                    }
                }
                for bound in &dim.bounds {
                    let (parts, within) = (indices(&bound.parts), indices(&bound.within));
                    for base in bases() {
                        let at = |k: &usize| ids[base + k * strides[d]];
                        equations
                            .insert(Equation::bound(parts.iter().map(at), within.iter().map(at)));
                    }
                }
            }
            table_cells.push(ids);
        }
        let mut equations: Vec<Equation> = equations
            .into_iter()
            .filter(|eq| !eq.terms.is_empty())
            .collect();
        equations.sort_unstable();
        for m in margins {
            cells[m].margin = true;
        }
        let mut equations_of = vec![Vec::new(); cells.len()];
        for (e, eq) in equations.iter().enumerate() {
            for c in eq.cells() {
                equations_of[c].push(e);
            }
        }
        let (part_of, parts) = connected_parts(cells.len(), &equations);
        Ok(System {
            cells,
            equations,
            equations_of,
            table_cells,
            dimensions: tables.iter().map(|t| t.dimensions.as_slice()).collect(),
            part_of,
            parts,
        })
    }

    /// Each cell's least value an attacker knows: 1 for a count where zeros are
    /// published (a hidden count is not empty), else 0.
    pub fn floors(&self, zeros_published: bool) -> Vec<f64> {
        self.cells
            .iter()
            .map(|c| f64::from(u8::from(zeros_published && c.count)))
            .collect()
    }

    /// Each cell's least value that the published zeros and the equations alone tell
    /// an attacker who sees nothing else: with every nonzero count at least 1, a
    /// total is at least its number of nonzero parts, a grid square's residents a
    /// year before at least its people aged 15 and over. No suppression hides a cell
    /// below this, so its protection downwards reaches this far at most.
    ///
    /// Lower bounds are propagated through every row until none rises (cheap, never
    /// above the exact least). Cells `refine` picks whose connected part is small (a
    /// grid square) get the exact least at once; any other cell's bound is made exact
    /// by `least_alone` where a protection depends on it.
    pub fn least_known(&self, zeros_published: bool, refine: impl Fn(usize) -> bool) -> Vec<f64> {
        if !zeros_published {
            return vec![0.0; self.cells.len()];
        }
        let mut least = self.propagated_least();
        for p in (0..self.cells.len()).filter(|&p| refine(p) && self.cells[p].count) {
            let part = self.part(p);
            if part.len() <= SMALL_REGION {
                least[p] = least[p].max(self.least_in(p, part));
            }
        }
        least
    }

    /// The exact least of count cell `p` that the published zeros and the equations
    /// alone tell: the linear program's minimum over `p`'s whole connected part, every
    /// nonzero cell free from 1 up. As costly as the part is large.
    pub fn least_alone(&self, p: usize) -> f64 {
        if !self.cells[p].count {
            return 0.0;
        }
        self.least_in(p, self.part(p))
    }

    /// The cells of `p`'s connected part, sorted.
    pub fn part(&self, p: usize) -> &[usize] {
        &self.parts[self.part_of[p]]
    }

    /// Lower bounds propagated through the rows: a row Σ k·x ≤ 0 (or = 0) holds a
    /// cell with k < 0 at least the positive side's least less the rest of the
    /// negative side's most (a published zero's most is 0, any other's unbounded); an
    /// equation also the other way round.
    fn propagated_least(&self) -> Vec<f64> {
        let nonzero = |c: &Cell| c.count && c.value > 0;
        let mut least: Vec<f64> = self
            .cells
            .iter()
            .map(|c| f64::from(u8::from(nonzero(c))))
            .collect();
        let most: Vec<f64> = self
            .cells
            .iter()
            .map(|c| if c.value == 0 { 0.0 } else { f64::INFINITY })
            .collect();
        for _ in 0..self.cells.len() {
            let mut changed = false;
            for eq in &self.equations {
                let signs: &[f64] = if eq.at_most { &[1.0] } else { &[1.0, -1.0] };
                for &sign in signs {
                    let side = |k: i32| sign * f64::from(k);
                    let pushing: f64 = eq
                        .terms
                        .iter()
                        .filter(|t| side(t.1) > 0.0)
                        .map(|&(c, k)| side(k) * least[c])
                        .sum();
                    // The negative side's most, finite part and unbounded cells.
                    let negative = || eq.terms.iter().filter(|t| side(t.1) < 0.0);
                    let finite: f64 = negative()
                        .filter(|t| most[t.0].is_finite())
                        .map(|&(c, k)| -side(k) * most[c])
                        .sum();
                    let unbounded = negative().filter(|t| most[t.0].is_infinite()).count();
                    for &(c, k) in negative() {
                        let others_unbounded = unbounded - usize::from(most[c].is_infinite());
                        if others_unbounded > 0 {
                            continue;
                        }
                        let others = finite
                            - if most[c].is_finite() {
                                -side(k) * most[c]
                            } else {
                                0.0
                            };
                        let bound = (pushing - others) / -side(k);
                        if bound > least[c] + 1e-9 {
                            least[c] = bound;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        least
    }

    /// The least of count cell `p` over a connected part of the system (no equation
    /// reaches outside it), every nonzero cell of it free from 1 up.
    fn least_in(&self, p: usize, region: &[usize]) -> f64 {
        let mut problem = Problem::new(OptimizationDirection::Minimize);
        let vars: HashMap<usize, microlp::Variable> = region
            .iter()
            .map(|&c| {
                let bounds = if self.cells[c].value == 0 {
                    (0.0, 0.0)
                } else {
                    (1.0, f64::INFINITY)
                };
                (c, problem.add_var(f64::from(u8::from(c == p)), bounds))
            })
            .collect();
        for e in self.touching(region) {
            let eq = &self.equations[e];
            let (terms, rhs) = eq.over(|c| vars.get(&c).copied(), |c| self.value(c));
            problem.add_constraint(terms.as_slice(), eq.comparison(), rhs);
        }
        // The truth is a solution, so only an interrupted solve fails; 1 is known anyway.
        problem
            .solve()
            .ok()
            .and_then(|outcome| outcome.into_solution().ok())
            .map_or(1.0, |s| s.objective().max(1.0))
    }

    /// The equations any cell of `region` appears in, in order.
    pub fn touching(&self, region: &[usize]) -> BTreeSet<usize> {
        region
            .iter()
            .flat_map(|&c| self.equations_of[c].iter().copied())
            .collect()
    }

    /// A cell's true value (or, for anyone's audit, what the table says).
    pub fn value(&self, cell: usize) -> f64 {
        self.cells[cell].value as f64
    }

    /// Cells reachable from `p` through at most `hops` shared equations, sorted: its
    /// whole connected part when `hops` reaches that far.
    pub fn neighbourhood(&self, p: usize, hops: usize) -> Vec<usize> {
        if hops >= self.cells.len() {
            return self.part(p).to_vec();
        }
        let mut seen = vec![false; self.cells.len()];
        seen[p] = true;
        let mut found = vec![p];
        let mut frontier = vec![p];
        for _ in 0..hops {
            let mut next = Vec::new();
            for &c in &frontier {
                for &e in &self.equations_of[c] {
                    for other in self.equations[e].cells() {
                        if !std::mem::replace(&mut seen[other], true) {
                            next.push(other);
                        }
                    }
                }
            }
            found.extend_from_slice(&next);
            frontier = next;
        }
        found.sort_unstable();
        found
    }
}

/// Each cell's connected part through the equations, and each part's cells, sorted.
fn connected_parts(cells: usize, equations: &[Equation]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut parent: Vec<usize> = (0..cells).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for eq in equations {
        let mut terms = eq.cells();
        if let Some(first) = terms.next() {
            for other in terms {
                let (a, b) = (root(&mut parent, first), root(&mut parent, other));
                parent[a] = b;
            }
        }
    }
    let mut part_of = vec![usize::MAX; cells];
    let mut parts: Vec<Vec<usize>> = Vec::new();
    for c in 0..cells {
        let r = root(&mut parent, c);
        if part_of[r] == usize::MAX {
            part_of[r] = parts.len();
            parts.push(Vec::new());
        }
        part_of[c] = part_of[r];
        parts[part_of[c]].push(c);
    }
    (part_of, parts)
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
