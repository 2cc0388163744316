//! Audits that attack protected tables.
//!
//! Suppression: the attacker knows every published cell, every equation of the
//! tables, every bound their categories' definitions imply, that counts are not
//! negative and, where zeros are published, that a hidden count is at least 1; for
//! each suppressed cell the linear
//! programs min x and max x over that polytope bound what can be learnt. A primary
//! cell passes if the interval reaches its protection level on both sides, any other
//! suppressed cell if it is not pinned to (less than one unit of) a value. Any
//! feasible point the solver returns is a witness for every cell at once, so most
//! cells are settled without a program of their own; a cell fails only on a proven
//! optimum. Suppressed cells that share no equation are attacked separately.
//!
//! Cell key method: the published values against the originals (share changed, mean
//! and mean absolute deviation, largest deviation) and no published value in 1..=js.

use std::borrow::Cow;
use std::collections::HashMap;

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use serde::{Deserialize, Serialize};
use statvault_census::table::{self, coordinates, Dimension};
use statvault_census::Table;

use crate::protected::{CellStatus, ProtectedTable};
use crate::suppress::{reachable_down, requirements, Pattern};
use crate::system::{identity, Identity, System};
use crate::ProtectError;

/// What the audit found for one table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// `suppress` or `ckm`.
    pub method: String,
    /// Cells in the table, totals included.
    pub cells: usize,
    /// No cell exposed: every check of the method passed.
    pub passed: bool,
    /// Whether the originals were at hand (the internal audit) or only the
    /// published table (anyone's audit).
    pub with_originals: bool,
    /// What the attack on suppressed cells found, for tables protected by suppression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppression: Option<SuppressionAudit>,
    /// What the checks of the noise found, for tables protected by the cell key method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ckm: Option<CkmAudit>,
    /// The first failing cells, named by their codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SuppressionAudit {
    pub suppressed: usize,
    /// Internal audit only: primary and secondary suppressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<usize>,
    /// Tables attacked together with this one (linked through shared cells).
    pub linked_tables: usize,
    pub linear_programs: usize,
    /// Suppressed cells the attacker can pin down.
    pub exact: usize,
    /// Internal audit only: primary cells whose interval falls short of the level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_protected: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CkmAudit {
    pub perturbed: usize,
    pub unprotected_totals: usize,
    /// Published values in 1..=js (must be none).
    pub small_values: usize,
    pub js: u64,
    pub max_deviation: u64,
    /// Internal audit only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_deviation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_absolute_deviation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest_deviation: Option<u64>,
    /// Internal audit only: cells another table publishes differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconsistent: Option<usize>,
}

/// An attacker's interval for one cell, as far as the audit needed to know it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CellInterval {
    /// The least value the attacker can prove.
    pub low: f64,
    /// The most value the attacker can prove.
    pub high: f64,
}

pub(crate) enum Requirement {
    None,
    NotExact,
    Protect { up: f64, down: f64 },
}

const MAX_FAILURES: usize = 20;

/// Audits protected tables; with the originals (same ids) the audit knows the true
/// values, links the tables through their shared cells and checks protection levels.
/// Tables protected by suppression are attacked together.
pub fn audit(
    protected: &[ProtectedTable],
    originals: Option<&[Table]>,
) -> Result<Vec<AuditReport>, ProtectError> {
    audit_knowing(protected, originals, &[])
}

/// [`audit`], also knowing change patterns of the true table (moves of the cells of
/// the system the tables make, in `System::build`'s numbering). Each one that is a
/// point the attacker cannot rule out (every moved cell hidden, within its floor and
/// the cap, every equation and bound kept) is a witness, checked here before use; the
/// others are ignored. Patterns the search found settle most cells without a
/// program of their own.
pub(crate) fn audit_knowing(
    protected: &[ProtectedTable],
    originals: Option<&[Table]>,
    moves: &[Pattern],
) -> Result<Vec<AuditReport>, ProtectError> {
    let original_of = |p: &ProtectedTable| -> Result<Option<&Table>, ProtectError> {
        originals
            .map(|all| {
                all.iter()
                    .find(|t| t.id == p.id)
                    .ok_or_else(|| ProtectError::table(&p.id, "no original table with this id"))
            })
            .transpose()
    };
    // The same cell must publish the same value in every table (consistency): sort
    // every (identity, value) and keep the identities that carry two values.
    let mut published: Vec<(Identity, Option<i64>)> = Vec::new();
    for p in protected.iter().filter(|p| p.protection.method == "ckm") {
        if let Some(t) = original_of(p)? {
            let cells = t.cells().min(p.values.len());
            published.extend((0..cells).filter_map(|c| Some((identity(t, c)?, p.values[c]))));
        }
    }
    published.sort_unstable();
    let clashing: Vec<Identity> = published
        .windows(2)
        .filter(|w| w[0].0 == w[1].0 && w[0].1 != w[1].1)
        .map(|w| w[0].0)
        .collect();
    let inconsistent = |t: &Table| -> Vec<usize> {
        if clashing.is_empty() {
            return Vec::new();
        }
        (0..t.cells())
            .filter(|&c| identity(t, c).is_some_and(|id| clashing.binary_search(&id).is_ok()))
            .collect()
    };
    let mut reports = vec![None; protected.len()];
    let mut suppressed_group = Vec::new();
    for (k, p) in protected.iter().enumerate() {
        match p.protection.method.as_str() {
            "ckm" => {
                let js = p
                    .protection
                    .parameters
                    .get("js")
                    .and_then(|v| v.as_u64())
                    .ok_or_else(|| ProtectError::table(&p.id, "ckm parameters lack js"))?;
                let original = original_of(p)?;
                let clashes = original.map(inconsistent);
                reports[k] = Some(ckm_report(p, original, js, clashes.as_deref()));
            }
            "suppress" => suppressed_group.push(k),
            other => {
                return Err(ProtectError::table(
                    &p.id,
                    format!("unknown method {other:?}"),
                ))
            }
        }
    }
    if !suppressed_group.is_empty() {
        let group: Vec<&ProtectedTable> = suppressed_group.iter().map(|&k| &protected[k]).collect();
        for (k, report) in suppressed_group.iter().zip(suppression_reports(
            &group,
            originals.is_some(),
            moves,
            |p| original_of(p),
        )?) {
            reports[*k] = Some(report);
        }
    }
    Ok(reports
        .into_iter()
        .map(|r| r.expect("every table audited"))
        .collect())
}

/// Audits freshly protected tables against their originals, knowing the change
/// patterns that protected them (see `audit_knowing`), and attaches each report.
pub(crate) fn attach(
    protected: &mut [ProtectedTable],
    originals: &[Table],
    moves: &[Pattern],
) -> Result<(), ProtectError> {
    let reports = audit_knowing(protected, Some(originals), moves)?;
    for (p, r) in protected.iter_mut().zip(reports) {
        p.protection.audit = r;
    }
    Ok(())
}

fn suppression_reports<'a>(
    group: &[&ProtectedTable],
    with_originals: bool,
    moves: &[Pattern],
    original_of: impl Fn(&ProtectedTable) -> Result<Option<&'a Table>, ProtectError>,
) -> Result<Vec<AuditReport>, ProtectError> {
    let tables: Vec<Cow<Table>> = group
        .iter()
        .map(|p| {
            Ok(match original_of(p)? {
                Some(t) => Cow::Borrowed(t),
                None => Cow::Owned(public_table(p)),
            })
        })
        .collect::<Result<_, ProtectError>>()?;
    let refs: Vec<&Table> = tables.iter().map(AsRef::as_ref).collect();
    let system = System::build(&refs)?;
    let parameters = &group[0].protection.parameters;
    let zeros_published = !parameters
        .get("suppress_zeros")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let floors = system.floors(zeros_published);
    // A cell published in any table is known to the attacker.
    let mut status = vec![CellStatus::SecondarySuppressed; system.cells.len()];
    for (p, ids) in group.iter().zip(&system.table_cells) {
        for (s, &c) in p.statuses().into_iter().zip(ids) {
            if !s.is_suppressed() {
                status[c] = s;
            }
        }
    }
    if !with_originals {
        let reqs: Vec<Requirement> = status
            .iter()
            .map(|s| {
                if s.is_suppressed() {
                    Requirement::NotExact
                } else {
                    Requirement::None
                }
            })
            .collect();
        return audit_system(&system, &status, &reqs, &floors, None, &[]);
    }
    let get = |k: &str| parameters.get(k).and_then(|v| v.as_u64());
    let threshold = get("threshold").unwrap_or(10);
    let protection = get("protection").unwrap_or(0);
    for (c, cell) in system.cells.iter().enumerate() {
        if status[c].is_suppressed() && (1..threshold).contains(&cell.records) {
            status[c] = CellStatus::PrimarySuppressed;
        }
    }
    let reqs = requirements(&system, &status, protection, zeros_published);
    let truth: Vec<f64> = system.cells.iter().map(|c| c.value as f64).collect();
    audit_system(&system, &status, &reqs, &floors, Some(&truth), moves)
}

/// A published table as the attacker's system sees it: suppressed values unknown
/// (zero here, never used as truth), no cell linked to another.
fn public_table(p: &ProtectedTable) -> Table {
    let cells = p.cells();
    Table {
        format: table::FORMAT.into(),
        id: p.id.clone(),
        title: p.title.clone(),
        unit: p.unit.clone(),
        measure: p.measure.clone(),
        provenance: p.provenance.clone(),
        dimensions: p.dimensions.clone(),
        values: p.values.iter().map(|v| v.unwrap_or(0)).collect(),
        records: vec![0; cells],
        record_key_sums: vec![0; cells],
    }
}

/// Attacks the suppressed cells of a system; one report per table of the system.
/// With the truth, `moves` of it are witnesses where they check out.
pub(crate) fn audit_system(
    system: &System,
    status: &[CellStatus],
    requirements: &[Requirement],
    floors: &[f64],
    truth: Option<&[f64]>,
    moves: &[Pattern],
) -> Result<Vec<AuditReport>, ProtectError> {
    let n = system.cells.len();
    let suppressed: Vec<bool> = status.iter().map(|s| s.is_suppressed()).collect();
    // Components of suppressed cells joined by shared equations.
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut touching: HashMap<usize, Vec<usize>> = HashMap::new();
    for (e, eq) in system.equations.iter().enumerate() {
        let hidden: Vec<usize> = eq.cells().filter(|&c| suppressed[c]).collect();
        if let Some(&first) = hidden.first() {
            for &c in &hidden[1..] {
                let (a, b) = (find(&mut parent, first), find(&mut parent, c));
                parent[a] = b;
            }
            touching.entry(first).or_default().push(e);
        }
    }
    let mut components: HashMap<usize, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for c in (0..n).filter(|&c| suppressed[c]) {
        let root = find(&mut parent, c);
        components.entry(root).or_default().0.push(c);
    }
    for (first, eqs) in touching {
        let root = find(&mut parent, first);
        components
            .get_mut(&root)
            .expect("a suppressed cell's component")
            .1
            .extend(eqs);
    }
    let mut interval = vec![
        CellInterval {
            low: f64::NAN,
            high: f64::NAN
        };
        n
    ];
    let mut programs = 0usize;
    // Hidden cells without an upper bound reach this cap instead: far above any
    // published value, it keeps every program bounded and any witness still valid.
    let cap = 1000.0 + 2.0 * system.cells.iter().map(|c| c.value).max().unwrap_or(0) as f64;
    if let Some(truth) = truth {
        let attacker = Polytope {
            system,
            suppressed: &suppressed,
            floors,
            cap,
        };
        for pattern in moves.iter().filter(|m| attacker.admits(truth, m)) {
            for &(c, y) in pattern {
                interval[c].widen(truth[c]);
                interval[c].widen(truth[c] + y);
            }
        }
    }
    for (cells, eqs) in components.values() {
        let component = Component {
            cells,
            equations: eqs,
            floors,
            cap,
        };
        programs += component.attack(system, requirements, truth, &mut interval)?;
    }
    // Judge each cell once, then report per table.
    let verdict: Vec<Option<String>> = (0..n)
        .map(|c| {
            let CellInterval { low, high } = interval[c];
            match requirements[c] {
                Requirement::None => None,
                Requirement::NotExact => (high - low < 1.0 - 1e-6)
                    .then(|| format!("recomputable: attacker's interval [{low:.2}, {high:.2}]")),
                Requirement::Protect { up, mut down } => {
                    let v = truth.expect("protection levels need the truth")[c];
                    if low > v - down + 1e-6 {
                        // Only as far down as the zeros and the equations alone allow.
                        down = reachable_down(system, c, down);
                    }
                    (high < v + up - 1e-6 || low > v - down + 1e-6).then(|| {
                        format!(
                            "under-protected: value {v}, attacker's interval [{low:.2}, {high:.2}], needs [{:.2}, {:.2}]",
                            v - down,
                            v + up
                        )
                    })
                }
            }
        })
        .collect();
    Ok(system
        .table_cells
        .iter()
        .zip(&system.dimensions)
        .map(|(ids, dimensions)| {
            let count = |f: &dyn Fn(usize) -> bool| ids.iter().filter(|&&c| f(c)).count();
            let mut failures = Vec::new();
            let mut exact = 0;
            let mut under = 0;
            for (k, &c) in ids.iter().enumerate() {
                if let Some(why) = &verdict[c] {
                    if matches!(requirements[c], Requirement::Protect { .. }) {
                        under += 1;
                    } else {
                        exact += 1;
                    }
                    if failures.len() < MAX_FAILURES {
                        failures.push(format!("{}: {why}", cell_name(dimensions, k)));
                    }
                }
            }
            let with_originals = truth.is_some();
            AuditReport {
                method: "suppress".into(),
                cells: ids.len(),
                passed: exact + under == 0,
                with_originals,
                suppression: Some(SuppressionAudit {
                    suppressed: count(&|c| suppressed[c]),
                    primary: with_originals
                        .then(|| count(&|c| status[c] == CellStatus::PrimarySuppressed)),
                    secondary: with_originals
                        .then(|| count(&|c| status[c] == CellStatus::SecondarySuppressed)),
                    linked_tables: system.table_cells.len(),
                    linear_programs: programs,
                    exact,
                    under_protected: with_originals.then_some(under),
                }),
                ckm: None,
                failures,
            }
        })
        .collect())
}

/// What the attacker knows of the hidden cells: where each may lie.
struct Polytope<'a> {
    system: &'a System<'a>,
    suppressed: &'a [bool],
    floors: &'a [f64],
    cap: f64,
}

impl Polytope<'_> {
    /// Whether the truth moved by `pattern` is a point the attacker cannot rule out:
    /// only hidden cells move, each stays within its floor and the cap, and every
    /// equation and bound a moved cell is in still holds.
    fn admits(&self, truth: &[f64], pattern: &[(usize, f64)]) -> bool {
        let moved: HashMap<usize, f64> = pattern.iter().copied().collect();
        let within = pattern.iter().all(|&(c, y)| {
            c < truth.len()
                && self.suppressed[c]
                && (self.floors[c] - 1e-9..=self.cap).contains(&(truth[c] + y))
        });
        within
            && pattern
                .iter()
                .flat_map(|&(c, _)| self.system.equations_of[c].iter().copied())
                .collect::<std::collections::BTreeSet<usize>>()
                .into_iter()
                .all(|e| {
                    let eq = &self.system.equations[e];
                    let total: f64 = eq
                        .terms
                        .iter()
                        .map(|&(c, k)| f64::from(k) * (truth[c] + moved.get(&c).unwrap_or(&0.0)))
                        .sum();
                    if eq.at_most {
                        total <= 1e-6
                    } else {
                        total.abs() <= 1e-6
                    }
                })
    }
}

impl CellInterval {
    /// Takes in one more value the attacker cannot rule out.
    fn widen(&mut self, x: f64) {
        if self.low.is_nan() {
            *self = CellInterval { low: x, high: x };
        } else {
            self.low = self.low.min(x);
            self.high = self.high.max(x);
        }
    }
}

/// Suppressed cells joined by the equations they share, attacked together.
struct Component<'a> {
    cells: &'a [usize],
    equations: &'a [usize],
    /// Per cell of the system: the least value the attacker knows it has.
    floors: &'a [f64],
    /// Hidden cells without an upper bound reach this instead.
    cap: f64,
}

/// One equation over a component's hidden cells: Σ coefficient·x (= or ≤) what the
/// published cells say.
struct Row {
    terms: Vec<(usize, f64)>,
    op: ComparisonOp,
    rhs: f64,
}

impl Component<'_> {
    /// Settles every cell, solving as few programs as the witnesses allow; returns
    /// the number of programs solved.
    fn attack(
        &self,
        system: &System,
        requirements: &[Requirement],
        truth: Option<&[f64]>,
        interval: &mut [CellInterval],
    ) -> Result<usize, ProtectError> {
        let Component {
            cells,
            equations,
            floors,
            cap,
        } = *self;
        let local: HashMap<usize, usize> = cells.iter().enumerate().map(|(k, &c)| (c, k)).collect();
        let rows: Vec<Row> = equations
            .iter()
            .map(|&e| {
                let eq = &system.equations[e];
                let (terms, rhs) = eq.over(|c| local.get(&c).copied(), |c| system.value(c));
                Row {
                    terms,
                    op: eq.comparison(),
                    rhs,
                }
            })
            .collect();
        let mut rows_of = vec![Vec::new(); cells.len()];
        for (r, Row { terms, .. }) in rows.iter().enumerate() {
            for &(k, _) in terms {
                rows_of[k].push(r);
            }
        }
        let everything: Vec<usize> = (0..cells.len()).collect();
        let mut programs = 0;
        // Optimises over the cells in `free` with every other cell held at `base` (a
        // feasible point), so any answer is a feasible point of the whole component.
        let mut solve = |free: &[usize],
                         objective: &dyn Fn(usize) -> f64,
                         maximise: bool,
                         base: &[f64]|
         -> Result<Option<Vec<f64>>, ProtectError> {
            programs += 1;
            let mut problem = Problem::new(if maximise {
                OptimizationDirection::Maximize
            } else {
                OptimizationDirection::Minimize
            });
            let mut var_of = HashMap::with_capacity(free.len());
            for &k in free {
                let floor = floors[cells[k]];
                var_of.insert(k, problem.add_var(objective(k), (floor, cap.max(base[k]))));
            }
            let touched: std::collections::BTreeSet<usize> = free
                .iter()
                .flat_map(|&k| rows_of[k].iter().copied())
                .collect();
            for r in touched {
                let Row { terms, op, rhs } = &rows[r];
                let mut expr = Vec::with_capacity(terms.len());
                let mut rhs = *rhs;
                for &(k, coefficient) in terms {
                    match var_of.get(&k) {
                        Some(&v) => expr.push((v, coefficient)),
                        None => rhs -= coefficient * base[k],
                    }
                }
                problem.add_constraint(expr.as_slice(), *op, rhs);
            }
            match problem.solve() {
                Ok(outcome) => {
                    let s = outcome
                        .into_solution()
                        .map_err(|_| ProtectError::Solver("the solve was interrupted".into()))?;
                    let mut point = base.to_vec();
                    for (&k, &v) in &var_of {
                        point[k] = s.var_value(v);
                    }
                    Ok(Some(point))
                }
                Err(microlp::Error::Unbounded) => Ok(None),
                Err(microlp::Error::Infeasible) => Err(ProtectError::Solver(
                    "the published cells contradict the tables' sums".into(),
                )),
                Err(e) => Err(ProtectError::Solver(e.to_string())),
            }
        };
        let witness = |point: &[f64], interval: &mut [CellInterval]| {
            for (k, &c) in cells.iter().enumerate() {
                interval[c].widen(point[k]);
            }
        };
        // A feasible point to start from: the truth, or without it the midpoint of the
        // attacker's points with the least and the most in total, away from the bounds.
        let base: Vec<f64> = match truth {
            Some(truth) => cells.iter().map(|&c| truth[c]).collect(),
            None => {
                let zeros: Vec<f64> = cells.iter().map(|&c| floors[c]).collect();
                let least = solve(&everything, &|_| 1.0, false, &zeros)?
                    .expect("minimising Σx ≥ 0 is bounded");
                witness(&least, interval);
                match solve(&everything, &|_| 1.0, true, &zeros)? {
                    Some(most) => {
                        witness(&most, interval);
                        least
                            .iter()
                            .zip(&most)
                            .map(|(a, b)| (a + b) / 2.0)
                            .collect()
                    }
                    None => least,
                }
            }
        };
        witness(&base, interval);
        // Whether cell c still needs a witness in direction `up`.
        let wants = |interval: &[CellInterval], c: usize, up: bool| -> bool {
            let CellInterval { low, high } = interval[c];
            match requirements[c] {
                Requirement::None => false,
                Requirement::NotExact => high - low < 1.0 - 1e-6,
                Requirement::Protect { up: u, down: d } => {
                    let v = truth.map_or(low, |t| t[c]);
                    if up {
                        high < v + u - 1e-6
                    } else {
                        low > v - d + 1e-6
                    }
                }
            }
        };
        // First push all unsettled cells at once, while that settles some. Then each
        // remaining cell: among the cells within three equations of it (where the
        // patterns that move it live), and only if that falls short over the whole
        // component, where an optimum that falls short is a failure.
        for up in [true, false] {
            loop {
                let pending: Vec<usize> = (0..cells.len())
                    .filter(|&k| wants(interval, cells[k], up))
                    .collect();
                if pending.len() < 2 {
                    break;
                }
                let weight = |k: usize| f64::from(u8::from(pending.binary_search(&k).is_ok()));
                match solve(&everything, &weight, up, &base)? {
                    Some(point) => witness(&point, interval),
                    None => break,
                }
                if pending.iter().all(|&k| wants(interval, cells[k], up)) {
                    break;
                }
            }
        }
        for (k, &c) in cells.iter().enumerate() {
            for up in [true, false] {
                if !wants(interval, c, up) {
                    continue;
                }
                let near = near_cells(&rows, &rows_of, k, 3);
                let only = |j: usize| f64::from(u8::from(j == k));
                for free in [&near, &everything] {
                    match solve(free, &only, up, &base)? {
                        Some(point) => witness(&point, interval),
                        None => interval[c].high = f64::INFINITY,
                    }
                    if !wants(interval, c, up) || free.len() == cells.len() {
                        break;
                    }
                }
            }
        }
        Ok(programs)
    }
}

/// Cells reachable from cell k through at most `hops` shared rows.
fn near_cells(rows: &[Row], rows_of: &[Vec<usize>], k: usize, hops: usize) -> Vec<usize> {
    let mut seen = std::collections::BTreeSet::from([k]);
    let mut frontier = vec![k];
    for _ in 0..hops {
        let mut next = Vec::new();
        for &j in &frontier {
            for &r in &rows_of[j] {
                for &(other, _) in &rows[r].terms {
                    if seen.insert(other) {
                        next.push(other);
                    }
                }
            }
        }
        frontier = next;
    }
    seen.into_iter().collect()
}

/// The cell key method's audit of one table.
fn ckm_report(
    p: &ProtectedTable,
    original: Option<&Table>,
    js: u64,
    inconsistent: Option<&[usize]>,
) -> AuditReport {
    let statuses = p.statuses();
    let perturbed = statuses
        .iter()
        .filter(|&&s| s == CellStatus::Perturbed)
        .count();
    let unprotected = statuses
        .iter()
        .filter(|&&s| s == CellStatus::UnprotectedTotal)
        .count();
    let mut failures = Vec::new();
    let mut small = 0;
    let mut max_deviation = 0;
    for (k, (v, s)) in p.values.iter().zip(&statuses).enumerate() {
        if *s == CellStatus::Perturbed {
            if let Some(v) = *v {
                if (1..=js as i64).contains(&v) {
                    small += 1;
                    if failures.len() < MAX_FAILURES {
                        failures.push(format!(
                            "{}: published {v}, inside 1..={js}",
                            cell_name(&p.dimensions, k)
                        ));
                    }
                }
            }
        }
    }
    let mut audit = CkmAudit {
        perturbed,
        unprotected_totals: unprotected,
        small_values: small,
        js,
        ..Default::default()
    };
    if let Some(t) = original {
        let deviations: Vec<i64> = p
            .values
            .iter()
            .zip(&t.values)
            .zip(&statuses)
            .filter(|(_, &s)| s == CellStatus::Perturbed)
            .map(|((v, &orig), _)| v.unwrap_or(orig) - orig)
            .collect();
        let count = deviations.len().max(1) as f64;
        max_deviation = deviations
            .iter()
            .map(|d| d.unsigned_abs())
            .max()
            .unwrap_or(0);
        audit.changed_share = Some(deviations.iter().filter(|&&d| d != 0).count() as f64 / count);
        audit.mean_deviation = Some(deviations.iter().sum::<i64>() as f64 / count);
        audit.mean_absolute_deviation =
            Some(deviations.iter().map(|d| d.unsigned_abs()).sum::<u64>() as f64 / count);
        audit.largest_deviation = Some(max_deviation);
    }
    audit.max_deviation = p
        .protection
        .parameters
        .get("max_deviation")
        .and_then(|v| v.as_u64())
        .unwrap_or(max_deviation);
    let too_far = audit
        .largest_deviation
        .is_some_and(|d| d > audit.max_deviation);
    if too_far {
        failures.push(format!(
            "a deviation of {max_deviation} exceeds the p-table's maximum {}",
            audit.max_deviation
        ));
    }
    audit.inconsistent = inconsistent.map(<[usize]>::len);
    for &c in inconsistent.unwrap_or_default().iter().take(MAX_FAILURES) {
        failures.push(format!(
            "{}: another table publishes the same cell differently",
            cell_name(&p.dimensions, c)
        ));
    }
    AuditReport {
        method: "ckm".into(),
        cells: p.cells(),
        passed: small == 0 && !too_far && inconsistent.is_none_or(<[usize]>::is_empty),
        with_originals: original.is_some(),
        suppression: None,
        ckm: Some(audit),
        failures,
    }
}

/// `municipality=AL-1101, sex=_T`.
pub(crate) fn cell_name(dimensions: &[Dimension], cell: usize) -> String {
    coordinates(dimensions, cell)
        .into_iter()
        .zip(dimensions)
        .map(|(k, d)| format!("{}={}", d.id, d.categories[k].code))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suppress::requirements;
    use crate::testing::{grid, random_table, Resident, Rng};

    /// The attacker's exact interval of one cell: one program over every hidden cell
    /// and every equation and bound, each hidden count at least 1 (zeros are
    /// published), written independently of the audit's shortcuts.
    fn exact_interval(system: &System, hidden: &[bool], cell: usize) -> (f64, f64) {
        let solve = |maximise: bool| {
            let mut problem = Problem::new(if maximise {
                OptimizationDirection::Maximize
            } else {
                OptimizationDirection::Minimize
            });
            let vars: HashMap<usize, _> = (0..system.cells.len())
                .filter(|&c| hidden[c])
                .map(|c| {
                    (
                        c,
                        problem.add_var(f64::from(u8::from(c == cell)), (1.0, f64::INFINITY)),
                    )
                })
                .collect();
            for eq in &system.equations {
                let (expr, rhs) = eq.over(|c| vars.get(&c).copied(), |c| system.value(c));
                if !expr.is_empty() {
                    problem.add_constraint(expr.as_slice(), eq.comparison(), rhs);
                }
            }
            match problem.solve() {
                Ok(s) => s.into_solution().unwrap().var_value(vars[&cell]),
                Err(microlp::Error::Unbounded) => f64::INFINITY,
                Err(e) => panic!("{e}"),
            }
        };
        (solve(false), solve(true))
    }

    /// Anyone's attack on one table whose cells of square 0 named in `hide` are
    /// suppressed, with the floors given; the cells it pins down.
    fn pinned(t: &Table, hide: &[&str], floors: impl Fn(&System) -> Vec<f64>) -> Vec<String> {
        let system = System::build(&[t]).unwrap();
        let variables = &t.dimensions[1].categories;
        let mut status = vec![CellStatus::Published; system.cells.len()];
        for (k, &c) in system.table_cells[0].iter().enumerate() {
            if k < variables.len() && hide.contains(&variables[k].code.as_str()) {
                status[c] = CellStatus::SecondarySuppressed;
            }
        }
        let reqs: Vec<Requirement> = status
            .iter()
            .map(|s| match s.is_suppressed() {
                true => Requirement::NotExact,
                false => Requirement::None,
            })
            .collect();
        audit_system(&system, &status, &reqs, &floors(&system), None, &[]).unwrap()[0]
            .failures
            .clone()
    }

    fn resident(male: bool, age: usize, employed: bool, residence: usize) -> Resident {
        Resident {
            male,
            age,
            employed,
            residence,
            key: (age * 7 + residence) as u32 * 1_000_003 + u32::from(male),
        }
    }

    /// Finding: 828 of the grid cells recovered were 1s. Where zeros are published a
    /// hidden count is at least 1, so a published 2 split into two hidden cells is two
    /// 1s; the old attacker, who knew only x ≥ 0, could not tell.
    #[test]
    fn a_hidden_count_is_at_least_one_where_zeros_are_published() {
        let t = grid(&[vec![
            resident(true, 1, false, 0),
            resident(false, 1, false, 0),
        ]]);
        let knows_only_non_negative = pinned(&t, &["M", "F"], |s| vec![0.0; s.cells.len()]);
        assert!(knows_only_non_negative.is_empty());
        let failures = pinned(&t, &["M", "F"], |s| s.floors(true));
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].contains("[1.00, 1.00]"), "{failures:?}");
        // Where zeros are suppressed too, a hidden cell may be 0.
        assert!(pinned(&t, &["M", "F"], |s| s.floors(false)).is_empty());
    }

    /// Finding: with the categories' definitions (those born during the year are under
    /// 15), a grid square of three people aged 15–64 who published no movers has all
    /// three in the same dwelling as a year before: T ≤ SAME + CHG_IN + CHG_OUT + Y_LT15
    /// and SAME + CHG_IN + CHG_OUT ≤ T.
    #[test]
    fn the_definitions_of_categories_pin_a_hidden_cell() {
        let t = grid(&[vec![resident(true, 1, false, 0); 3]]);
        let mut without_definitions = t.clone();
        without_definitions.dimensions[1].bounds.clear();
        assert!(pinned(&without_definitions, &["SAME"], |s| s.floors(true)).is_empty());
        let failures = pinned(&t, &["SAME"], |s| s.floors(true));
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].contains("geostat=SAME: recomputable: attacker's interval [3.00, 3.00]"),
            "{failures:?}"
        );
        // And the employed are among those aged 15 and over: one employed person among
        // one adult and a child, the adult hidden, is that adult.
        let t = grid(&[vec![
            resident(true, 1, true, 0),
            resident(false, 0, false, 0),
        ]]);
        let failures = pinned(&t, &["Y_1564", "Y_LT15", "M", "F"], |s| s.floors(true));
        assert!(
            failures.iter().any(|f| f.contains("geostat=Y_1564")),
            "{failures:?}"
        );
    }

    /// On random tables with random suppressions (some safe, some not), the audit's
    /// verdict on every cell is the exact attacker's verdict.
    #[test]
    fn verdicts_match_the_exact_attack() {
        let mut disagreements = Vec::new();
        let mut failing = 0;
        for seed in 0..16 {
            let mut rng = Rng(1000 + seed);
            let t = random_table(&mut rng, seed % 2 == 0, 150, 300);
            let system = System::build(&[&t]).unwrap();
            let status: Vec<CellStatus> = system
                .cells
                .iter()
                .map(|c| {
                    if (1..5).contains(&c.records) {
                        CellStatus::PrimarySuppressed
                    } else if c.value > 0 && rng.below(4) == 0 {
                        // Zeros are published, as by default.
                        CellStatus::SecondarySuppressed
                    } else {
                        CellStatus::Published
                    }
                })
                .collect();
            let floors = system.floors(true);
            let reqs = requirements(&system, &status, 2, true);
            let truth: Vec<f64> = system.cells.iter().map(|c| c.value as f64).collect();
            let report =
                &audit_system(&system, &status, &reqs, &floors, Some(&truth), &[]).unwrap()[0];
            let hidden: Vec<bool> = status.iter().map(|s| s.is_suppressed()).collect();
            let mut exact_failures = 0;
            // Per cell of the table, as the report counts (linked cells count twice).
            for &c in &system.table_cells[0] {
                let (low, high) = match reqs[c] {
                    Requirement::None => continue,
                    _ => exact_interval(&system, &hidden, c),
                };
                let fails = match reqs[c] {
                    Requirement::NotExact => high - low < 1.0 - 1e-6,
                    Requirement::Protect { up, down } => {
                        high < truth[c] + up - 1e-6 || low > truth[c] - down + 1e-6
                    }
                    Requirement::None => unreachable!(),
                };
                exact_failures += usize::from(fails);
            }
            // Anyone's audit: no truth, every hidden cell only needs to stay uncertain.
            let public: Vec<Requirement> = hidden
                .iter()
                .map(|&h| {
                    if h {
                        Requirement::NotExact
                    } else {
                        Requirement::None
                    }
                })
                .collect();
            let public_report =
                &audit_system(&system, &status, &public, &floors, None, &[]).unwrap()[0];
            let pinned = system.table_cells[0]
                .iter()
                .filter(|&&c| {
                    hidden[c] && {
                        let (low, high) = exact_interval(&system, &hidden, c);
                        high - low < 1.0 - 1e-6
                    }
                })
                .count();
            if public_report.suppression.as_ref().unwrap().exact != pinned {
                disagreements.push((
                    seed,
                    public_report.suppression.as_ref().unwrap().exact,
                    pinned,
                ));
            }
            let s = report.suppression.as_ref().unwrap();
            let found = s.exact + s.under_protected.unwrap();
            failing += usize::from(found > 0);
            if found != exact_failures {
                disagreements.push((seed, found, exact_failures));
            }
        }
        assert!(
            disagreements.is_empty(),
            "(seed, audit, exact): {disagreements:?}"
        );
        assert!(failing > 2, "random suppressions leave some cells exposed");
    }
}
