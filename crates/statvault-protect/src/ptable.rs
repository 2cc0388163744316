//! Perturbation tables for counts: the transition probabilities from an original
//! count i to a published count j, built by maximum entropy as the `ptable` R package
//! does, and read and written as CSV in the column layout that package and tau-Argus
//! share: `i,j,p,v,p_int_lb,p_int_ub`.
//!
//! Row i (for i below the top row; the top row serves every larger count) maximises
//! the entropy −Σ p log p of its transition probabilities subject to Σ p = 1, zero
//! mean noise Σ p·(j−i) = 0, variance Σ p·(j−i)² = V, |j−i| ≤ D, j ≥ 0, and no
//! published j in 1..=js; count 0 stays 0. With `pstay`, p(i→i) is fixed and the
//! rest maximises entropy under the same moments. The maximiser is
//! p(d) ∝ exp(a·d + b·d²) over the allowed deviations d; Newton's method on the convex
//! dual log Σ exp(a·d + b·d²) − b·V finds (a, b).

use crate::ProtectError;

/// The parameters of a count p-table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PTableParams {
    /// D: the largest absolute perturbation.
    pub max_deviation: u32,
    /// V: the variance of the perturbation.
    pub variance: f64,
    /// js: counts 1..=js are never published.
    pub js: u32,
    /// Probability that a count (above js) is published unchanged; free if `None`.
    pub pstay: Option<f64>,
}

impl Default for PTableParams {
    /// The shipped default (`ptables/default.csv`): D = 5, V = 3, js = 2.
    fn default() -> Self {
        PTableParams {
            max_deviation: 5,
            variance: 3.0,
            js: 2,
            pstay: None,
        }
    }
}

/// One published count a row can turn into, with its slice of the cell-key interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    /// The published count.
    pub j: u64,
    /// Its probability, given the row's original count.
    pub p: f64,
    /// Where its slice of the interval [0, 1) of cell keys begins.
    pub lb: f64,
    /// Where its slice ends (exclusive).
    pub ub: f64,
}

/// A count p-table: for each original count, the counts it may be published as and
/// with what probability (`docs/protection.md` §2).
#[derive(Clone, Debug, PartialEq)]
pub struct PTable {
    /// Row i holds the transitions of original count i, ascending in j; the last row
    /// serves every count at or above it.
    rows: Vec<Vec<Transition>>,
}

const HEADER: &str = "i,j,p,v,p_int_lb,p_int_ub";
const DEFAULT_CSV: &str = include_str!("../ptables/default.csv");

impl PTable {
    /// The p-table shipped with statvault (D = 5, V = 3, js = 2).
    pub fn shipped() -> PTable {
        PTable::read(DEFAULT_CSV).expect("the shipped p-table parses")
    }

    /// A p-table with the given maximum deviation, variance and smallest published
    /// value, by maximum entropy, unbiased row by row.
    pub fn generate(params: &PTableParams) -> Result<PTable, ProtectError> {
        let PTableParams {
            max_deviation: d,
            variance,
            js,
            pstay,
        } = *params;
        let bad = |m: String| ProtectError::Parameters(m);
        if d == 0 || d > 1000 {
            return Err(bad(format!("maximum deviation D = {d} must be 1..=1000")));
        }
        if !(variance.is_finite() && variance > 0.0) {
            return Err(bad(format!("variance V = {variance} must be positive")));
        }
        if js >= d {
            return Err(bad(format!(
                "js = {js} must be below D = {d}: count js+1 must be able to reach 0"
            )));
        }
        if let Some(s) = pstay {
            if !(0.0..1.0).contains(&s) {
                return Err(bad(format!("pstay = {s} must be in [0, 1)")));
            }
        }
        let (d, js) = (u64::from(d), u64::from(js));
        // From here on every row has the full range i−D..=i+D above js.
        let top = d + js + u64::from(js > 0);
        let mut rows = vec![vec![Transition {
            j: 0,
            p: 1.0,
            lb: 0.0,
            ub: 1.0,
        }]];
        for i in 1..=top {
            let allowed: Vec<u64> = (i.saturating_sub(d)..=i + d)
                .filter(|&j| j == 0 || j > js)
                .collect();
            let stay = pstay.filter(|_| i > js).unwrap_or(0.0);
            let moving: Vec<u64> = if stay > 0.0 {
                allowed.iter().copied().filter(|&j| j != i).collect()
            } else {
                allowed.clone()
            };
            let devs: Vec<f64> = moving.iter().map(|&j| j as f64 - i as f64).collect();
            let probs = max_entropy(&devs, variance / (1.0 - stay))
                .map_err(|m| bad(format!("row i = {i}: {m}")))?;
            let mut row: Vec<(u64, f64)> = moving
                .into_iter()
                .zip(probs.into_iter().map(|p| p * (1.0 - stay)))
                .collect();
            if stay > 0.0 {
                row.push((i, stay));
                row.sort_by_key(|&(j, _)| j);
            }
            rows.push(with_intervals(&row));
        }
        Ok(PTable { rows })
    }

    /// The count from which every row is the same noise shifted.
    pub fn top_row(&self) -> u64 {
        self.rows.len() as u64 - 1
    }

    /// The transitions of each original count, row 0 first.
    pub fn rows(&self) -> &[Vec<Transition>] {
        &self.rows
    }

    /// D: the largest |j − i| with non-zero probability.
    pub fn max_deviation(&self) -> u64 {
        self.entries()
            .map(|(i, t)| t.j.abs_diff(i))
            .max()
            .unwrap_or(0)
    }

    /// js: the largest count below the smallest positive published value.
    pub fn js(&self) -> u64 {
        self.entries()
            .filter(|(_, t)| t.j > 0)
            .map(|(_, t)| t.j - 1)
            .min()
            .unwrap_or(0)
    }

    fn entries(&self) -> impl Iterator<Item = (u64, &Transition)> {
        self.rows
            .iter()
            .enumerate()
            .flat_map(|(i, row)| row.iter().filter(|t| t.p > 0.0).map(move |t| (i as u64, t)))
    }

    /// The published count for original count `n` whose cell key is `key` / 2³².
    pub fn perturb(&self, n: u64, key: u32) -> u64 {
        let row_index = n.min(self.top_row());
        let row = &self.rows[row_index as usize];
        let key = f64::from(key) / 4_294_967_296.0;
        let t = row
            .iter()
            .find(|t| key >= t.lb && key < t.ub)
            .unwrap_or(&row[row.len() - 1]);
        n + t.j - row_index
    }

    /// The p-table as CSV, in the columns `i,j,p,v,p_int_lb,p_int_ub`.
    pub fn write(&self) -> String {
        let mut out = String::from(HEADER);
        out.push('\n');
        for (i, row) in self.rows.iter().enumerate() {
            for t in row {
                let v = t.j as i64 - i as i64;
                out.push_str(&format!("{i},{},{},{v},{},{}\n", t.j, t.p, t.lb, t.ub));
            }
        }
        out
    }

    /// Parses a p-table CSV and checks it: rows 0.. without gaps, j ascending,
    /// v = j − i, probabilities summing to 1, intervals that tile [0, 1), 0 stays 0.
    pub fn read(text: &str) -> Result<PTable, ProtectError> {
        let err =
            |line: usize, column: Option<&'static str>, message: String| ProtectError::PTable {
                line,
                column,
                message,
            };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.trim_end_matches('\r')));
        match lines.next() {
            Some((_, h)) if h.trim() == HEADER => {}
            Some((n, h)) => {
                return Err(err(
                    n,
                    None,
                    format!("header is {h:?}, expected {HEADER:?}"),
                ))
            }
            None => return Err(err(1, None, "the file is empty".into())),
        }
        let mut rows: Vec<Vec<Transition>> = Vec::new();
        let mut last_line = 1;
        for (n, line) in lines {
            last_line = n;
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != 6 {
                return Err(err(n, None, format!("{} fields, expected 6", fields.len())));
            }
            const NAMES: [&str; 6] = ["i", "j", "p", "v", "p_int_lb", "p_int_ub"];
            let int = |k: usize| {
                fields[k]
                    .parse::<u64>()
                    .map_err(|_| err(n, Some(NAMES[k]), format!("{:?} is not a count", fields[k])))
            };
            let real = |k: usize| match fields[k].parse::<f64>() {
                Ok(x) if x.is_finite() && (0.0..=1.0).contains(&x) => Ok(x),
                _ => Err(err(
                    n,
                    Some(NAMES[k]),
                    format!("{:?} is not a probability", fields[k]),
                )),
            };
            let (i, j) = (int(0)?, int(1)?);
            let (p, lb, ub) = (real(2)?, real(4)?, real(5)?);
            let v: i64 = fields[3]
                .parse()
                .map_err(|_| err(n, Some("v"), format!("{:?} is not an integer", fields[3])))?;
            if i > 100_000 || j > 200_000 {
                return Err(err(
                    n,
                    Some("i"),
                    "counts above 100000 are not table rows".into(),
                ));
            }
            if v != j as i64 - i as i64 {
                return Err(err(
                    n,
                    Some("v"),
                    format!("v = {v} but j − i = {}", j as i64 - i as i64),
                ));
            }
            if i as usize == rows.len() {
                rows.push(Vec::new());
            } else if i as usize + 1 != rows.len() {
                return Err(err(
                    n,
                    Some("i"),
                    format!("row {i} out of order (rows run 0, 1, 2, …)"),
                ));
            }
            let row = rows.last_mut().expect("pushed");
            let expected_lb = row.last().map_or(0.0, |t: &Transition| t.ub);
            if row.last().is_some_and(|t| t.j >= j) {
                return Err(err(
                    n,
                    Some("j"),
                    format!("j = {j} not ascending within row {i}"),
                ));
            }
            if (lb - expected_lb).abs() > 1e-9 || (ub - lb - p).abs() > 1e-9 {
                return Err(err(
                    n,
                    Some("p_int_lb"),
                    format!("interval [{lb}, {ub}) does not follow on at {expected_lb} with width p = {p}"),
                ));
            }
            row.push(Transition { j, p, lb, ub });
        }
        if rows.is_empty() {
            return Err(err(last_line, None, "no rows".into()));
        }
        for (i, row) in rows.iter().enumerate() {
            let total = row.last().map_or(0.0, |t| t.ub);
            if (total - 1.0).abs() > 1e-9 {
                return Err(err(
                    last_line,
                    None,
                    format!("row {i} sums to {total}, not 1"),
                ));
            }
        }
        if rows[0].iter().any(|t| t.j != 0 && t.p > 0.0) {
            return Err(err(2, Some("j"), "count 0 must stay 0".into()));
        }
        Ok(PTable { rows })
    }
}

/// Cumulative intervals in ascending j; the last one ends at exactly 1.
fn with_intervals(row: &[(u64, f64)]) -> Vec<Transition> {
    let mut lb = 0.0;
    let last = row.len() - 1;
    row.iter()
        .enumerate()
        .map(|(k, &(j, p))| {
            let ub = if k == last { 1.0 } else { (lb + p).min(1.0) };
            let t = Transition { j, p, lb, ub };
            lb = ub;
            t
        })
        .collect()
}

/// The maximum-entropy distribution over deviations `devs` with mean 0 and second
/// moment `w`: p(d) ∝ exp(a·d + b·d²), (a, b) minimising the dual by Newton's method.
fn max_entropy(devs: &[f64], w: f64) -> Result<Vec<f64>, String> {
    let below = devs
        .iter()
        .copied()
        .filter(|&d| d < 0.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let above = devs
        .iter()
        .copied()
        .filter(|&d| d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let lowest = devs.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = devs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lowest < 0.0 && highest > 0.0) {
        return Err("no deviation on one side, so the noise cannot have mean zero".into());
    }
    // Mean-zero distributions on these points have variance between the two points
    // nearest zero on either side and the two extremes.
    let (least, most) = (-below * above, -lowest * highest);
    let least = if devs.contains(&0.0) { 0.0 } else { least };
    if !(w > least + 1e-9 && w < most - 1e-9) {
        return Err(format!(
            "variance {w} is not strictly between {least} and {most}, the range mean-zero noise on these values allows"
        ));
    }
    let dual = |a: f64, b: f64| -> (f64, Vec<f64>) {
        let exps: Vec<f64> = devs.iter().map(|&d| a * d + b * d * d).collect();
        let m = exps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = exps.iter().map(|&e| (e - m).exp()).collect();
        let z: f64 = weights.iter().sum();
        (
            m + z.ln() - b * w,
            weights.into_iter().map(|x| x / z).collect(),
        )
    };
    let (mut a, mut b) = (0.0, 0.0);
    let (mut f, mut p) = dual(a, b);
    for _ in 0..500 {
        let m1: f64 = devs.iter().zip(&p).map(|(d, p)| p * d).sum();
        let m2: f64 = devs.iter().zip(&p).map(|(d, p)| p * d * d).sum();
        let m3: f64 = devs.iter().zip(&p).map(|(d, p)| p * d * d * d).sum();
        let m4: f64 = devs.iter().zip(&p).map(|(d, p)| p * d * d * d * d).sum();
        let g = [m1, m2 - w];
        if g[0].abs() < 1e-13 && g[1].abs() < 1e-12 * w.max(1.0) {
            return Ok(p);
        }
        // Hessian: the covariance of (d, d²).
        let (haa, hab, hbb) = (m2 - m1 * m1, m3 - m1 * m2, m4 - m2 * m2);
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-300 {
            return Err("the noise distribution degenerated (singular Hessian)".into());
        }
        let da = -(hbb * g[0] - hab * g[1]) / det;
        let db = -(haa * g[1] - hab * g[0]) / det;
        let slope = g[0] * da + g[1] * db;
        let mut t = 1.0;
        loop {
            let (f_new, p_new) = dual(a + t * da, b + t * db);
            if f_new <= f + 1e-4 * t * slope || t < 1e-12 {
                a += t * da;
                b += t * db;
                f = f_new;
                p = p_new;
                break;
            }
            t /= 2.0;
        }
    }
    Err("Newton's method did not converge".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn moments(i: u64, row: &[Transition]) -> (f64, f64, f64) {
        let sum = row.iter().map(|t| t.p).sum();
        let mean = row.iter().map(|t| t.p * (t.j as f64 - i as f64)).sum();
        let var = row
            .iter()
            .map(|t| t.p * (t.j as f64 - i as f64).powi(2))
            .sum();
        (sum, mean, var)
    }

    /// The example of the `ptable` package's documentation and the tau-Argus test
    /// table's parameters: every row sums to 1 with zero mean and variance V, no
    /// published 1..js, |j − i| ≤ D, 0 stays 0.
    #[test]
    fn documented_examples_have_the_required_moments() {
        for (d, v, js) in [(8, 3.0, 2), (7, 2.5, 2), (2, 1.0, 0), (5, 3.0, 2)] {
            let params = PTableParams {
                max_deviation: d,
                variance: v,
                js,
                pstay: None,
            };
            let table = PTable::generate(&params).unwrap();
            assert_eq!(table.top_row(), u64::from(d + js) + u64::from(js > 0));
            assert_eq!(
                table.rows()[0],
                vec![Transition {
                    j: 0,
                    p: 1.0,
                    lb: 0.0,
                    ub: 1.0
                }]
            );
            for (i, row) in table.rows().iter().enumerate().skip(1) {
                let (sum, mean, var) = moments(i as u64, row);
                assert!((sum - 1.0).abs() < 1e-12, "D={d} row {i} sums to {sum}");
                assert!(mean.abs() < 1e-10, "D={d} row {i} mean {mean}");
                assert!((var - v).abs() < 1e-9, "D={d} row {i} variance {var}");
                for t in row {
                    assert!(t.j == 0 || t.j > u64::from(js), "row {i} publishes {}", t.j);
                    assert!(t.j.abs_diff(i as u64) <= u64::from(d));
                }
            }
            assert_eq!(table.js(), u64::from(js));
            assert_eq!(table.max_deviation(), u64::from(d));
            // The top row is symmetric: the same noise as a discretised Gaussian.
            let top = &table.rows()[table.top_row() as usize];
            for (lo, hi) in top.iter().zip(top.iter().rev()) {
                assert!((lo.p - hi.p).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn pstay_fixes_the_probability_of_no_change() {
        let params = PTableParams {
            max_deviation: 4,
            variance: 2.0,
            js: 1,
            pstay: Some(0.5),
        };
        let table = PTable::generate(&params).unwrap();
        for (i, row) in table.rows().iter().enumerate().skip(2) {
            let stay = row.iter().find(|t| t.j == i as u64).unwrap();
            assert!((stay.p - 0.5).abs() < 1e-12);
            let (_, mean, var) = moments(i as u64, row);
            assert!(mean.abs() < 1e-10 && (var - 2.0).abs() < 1e-9);
        }
    }

    #[test]
    fn impossible_parameters_are_refused_with_the_row() {
        // Row 1 with js = 2 can only move to 0 or ≥ 3: variance below 2 is impossible.
        let params = PTableParams {
            max_deviation: 4,
            variance: 1.5,
            js: 2,
            pstay: None,
        };
        let e = PTable::generate(&params).unwrap_err().to_string();
        assert!(e.contains("row i = 1") && e.contains("variance"), "{e}");
        for params in [
            PTableParams {
                max_deviation: 0,
                ..Default::default()
            },
            PTableParams {
                variance: -1.0,
                ..Default::default()
            },
            PTableParams {
                js: 5,
                ..Default::default()
            },
            PTableParams {
                pstay: Some(1.0),
                ..Default::default()
            },
        ] {
            assert!(matches!(
                PTable::generate(&params),
                Err(ProtectError::Parameters(_))
            ));
        }
    }

    #[test]
    fn the_shipped_table_is_the_default_parameters() {
        let generated = PTable::generate(&PTableParams::default()).unwrap();
        assert_eq!(generated.write(), DEFAULT_CSV);
        assert_eq!(PTable::shipped(), generated);
    }

    #[test]
    fn lookup_follows_the_intervals() {
        let table = PTable::shipped();
        for n in [0u64, 1, 2, 3, 7, 8, 500] {
            let row = &table.rows()[n.min(table.top_row()) as usize];
            for t in row {
                let key = (t.lb * 4_294_967_296.0).ceil() as u64;
                if key >= 1 << 32 || (key as f64) / 4_294_967_296.0 >= t.ub {
                    continue;
                }
                let shift = t.j as i64 - n.min(table.top_row()) as i64;
                assert_eq!(table.perturb(n, key as u32) as i64, n as i64 + shift);
            }
        }
        assert_eq!(table.perturb(0, u32::MAX), 0);
    }

    #[test]
    fn read_names_the_line_and_column() {
        let good = PTable::shipped().write();
        let cases = [
            (good.replacen("i,j,p", "i,k,p", 1), "line 1"),
            (good.replacen("\n1,0,", "\n1,x,", 1), "line 3, column j"),
            (
                good.replacen("\n0,0,1,0,0,1\n", "\n0,0,1,1,0,1\n", 1),
                "column v",
            ),
            (
                good.lines()
                    .filter(|l| !l.starts_with("2,"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "out of order",
            ),
            (String::new(), "empty"),
        ];
        for (text, wanted) in cases {
            let e = PTable::read(&text).unwrap_err().to_string();
            assert!(e.contains(wanted), "{e} lacks {wanted}");
        }
    }

    proptest! {
        #[test]
        fn write_then_read_is_identity(d in 1u32..12, js in 0u32..4, v10 in 5u32..60, stay in proptest::option::of(0.0f64..0.9)) {
            let params = PTableParams { max_deviation: d, variance: f64::from(v10) / 10.0, js, pstay: stay };
            if let Ok(table) = PTable::generate(&params) {
                prop_assert_eq!(PTable::read(&table.write()).unwrap(), table);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,400}") {
            let _ = PTable::read(&text);
        }
    }
}
