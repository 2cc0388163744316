//! The cell key method: each cell's key is the fractional part of the sum of its
//! records' keys (exact: keys are 32-bit fractions and the sums wrap modulo 2⁶⁴, so
//! the key is the sum modulo 2³² whatever the order of addition); its published count
//! is looked up in the p-table row of min(n, top row) at that key. The same records
//! give the same cell the same value in every table.

use std::collections::HashSet;

use statvault_census::table::{coordinates, CategoryKind};
use statvault_census::Table;

use crate::protected::{CellStatus, ProtectedTable};
use crate::system::identity;
use crate::{audit, PTable, ProtectError};

/// Options of the cell key method.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CkmOptions {
    /// Tables whose cells made only of totals and subtotals are published exactly
    /// (flagged `u`), here and wherever the same cell appears: naming
    /// `population_municipality_sex` keeps national and county population exact.
    pub keep_totals_of: Vec<String>,
}

/// Perturbs count tables by the cell key method with `ptable`: each cell's noise
/// follows from its count and the sum of its records' keys, so the same cell gets
/// the same value in every table. Returns one protected table per input table, audited.
pub fn protect_ckm(
    tables: &[Table],
    ptable: &PTable,
    options: &CkmOptions,
) -> Result<Vec<ProtectedTable>, ProtectError> {
    for t in tables {
        if t.measure != "count" {
            return Err(ProtectError::table(
                &t.id,
                format!(
                    "measures {:?}: the cell key method here perturbs counts; protect it with suppress",
                    t.measure
                ),
            ));
        }
        if let Some(v) = t.values.iter().find(|&&v| v < 0) {
            return Err(ProtectError::table(
                &t.id,
                format!("has a negative count {v}"),
            ));
        }
    }
    let mut exact = HashSet::new();
    for id in &options.keep_totals_of {
        let t = tables.iter().find(|t| &t.id == id).ok_or_else(|| {
            ProtectError::Parameters(format!("--keep-totals names {id:?}, not among the tables"))
        })?;
        exact.extend(
            (0..t.cells())
                .filter(|&c| only_totals(t, c))
                .filter_map(|c| identity(t, c)),
        );
    }
    let js = ptable.js();
    let mut parameters = serde_json::Map::new();
    parameters.insert("max_deviation".into(), ptable.max_deviation().into());
    parameters.insert("js".into(), js.into());
    parameters.insert("top_row".into(), ptable.top_row().into());
    parameters.insert(
        "keep_totals_of".into(),
        options.keep_totals_of.clone().into(),
    );
    let ptable_blake3 = blake3::hash(ptable.write().as_bytes()).to_hex().to_string();
    let mut protected: Vec<ProtectedTable> = tables
        .iter()
        .map(|t| {
            let cells = (0..t.cells()).map(|c| {
                let n = t.values[c];
                if identity(t, c).is_some_and(|id| exact.contains(&id)) {
                    (Some(n), CellStatus::UnprotectedTotal)
                } else {
                    // The cell key: the key sum modulo 2³².
                    let key = t.record_key_sums[c] as u32;
                    (
                        Some(ptable.perturb(n as u64, key) as i64),
                        CellStatus::Perturbed,
                    )
                }
            });
            let hash = Some(ptable_blake3.clone());
            ProtectedTable::from_table(t, cells, "ckm", parameters.clone(), hash)
        })
        .collect();
    audit::attach(&mut protected, tables, &[])?;
    Ok(protected)
}

/// Every coordinate of the cell is a total or subtotal.
fn only_totals(t: &Table, cell: usize) -> bool {
    coordinates(&t.dimensions, cell)
        .into_iter()
        .zip(&t.dimensions)
        .all(|(k, d)| d.categories[k].kind != CategoryKind::Code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{records, table, Dim, Rng};
    use crate::PTableParams;

    fn region() -> Dim {
        Dim {
            id: "region",
            leaves: 12,
            groups: Some(vec![0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3]),
        }
    }

    fn sex() -> Dim {
        Dim {
            id: "sex",
            leaves: 2,
            groups: None,
        }
    }

    fn age() -> Dim {
        Dim {
            id: "age",
            leaves: 20,
            groups: None,
        }
    }

    #[test]
    fn the_same_cell_gets_the_same_noise_in_every_table() {
        let mut rng = Rng(1);
        let people = records(&mut rng, &[region(), sex(), age()], 5_000);
        let big = table("big", &[region(), sex(), age()], &people);
        let small: Vec<_> = people.iter().map(|(l, k)| (vec![l[0], l[1]], *k)).collect();
        let small = table("small", &[region(), sex()], &small);
        let out = protect_ckm(
            &[big.clone(), small.clone()],
            &PTable::shipped(),
            &Default::default(),
        )
        .unwrap();
        // small's cell (r, s) is big's (r, s, age total): the last age category is
        // a leaf, the first is the total.
        let ages = big.dimensions[2].categories.len();
        for c in 0..small.cells() {
            assert_eq!(out[1].values[c], out[0].values[c * ages]);
        }
        assert!(out.iter().all(|p| p.protection.audit.passed));
        assert_eq!(
            out[0].protection.audit.ckm.as_ref().unwrap().inconsistent,
            Some(0)
        );
    }

    #[test]
    fn the_order_of_records_does_not_matter_and_zero_stays_zero() {
        let mut rng = Rng(2);
        let mut people = records(&mut rng, &[region(), age()], 3_000);
        let a = table("t", &[region(), age()], &people);
        people.reverse();
        people.swap(0, 1500);
        let b = table("t", &[region(), age()], &people);
        let pt = PTable::shipped();
        let pa = protect_ckm(std::slice::from_ref(&a), &pt, &Default::default()).unwrap();
        let pb = protect_ckm(&[b], &pt, &Default::default()).unwrap();
        assert_eq!(pa[0].values, pb[0].values);
        let zeros = a.values.iter().filter(|&&v| v == 0).count();
        assert!(zeros > 0, "the skewed records leave some cells empty");
        for (orig, published) in a.values.iter().zip(&pa[0].values) {
            if *orig == 0 {
                assert_eq!(*published, Some(0));
            }
        }
    }

    #[test]
    fn noise_is_unbiased_bounded_and_never_small() {
        let params = PTableParams {
            max_deviation: 4,
            variance: 2.5,
            js: 2,
            pstay: None,
        };
        let pt = PTable::generate(&params).unwrap();
        let mut rng = Rng(3);
        let people = records(
            &mut rng,
            &[Dim {
                id: "x",
                leaves: 4000,
                groups: None,
            }],
            300_000,
        );
        let t = table(
            "t",
            &[Dim {
                id: "x",
                leaves: 4000,
                groups: None,
            }],
            &people,
        );
        let p = protect_ckm(std::slice::from_ref(&t), &pt, &Default::default())
            .unwrap()
            .remove(0);
        let audit = p.protection.audit.ckm.unwrap();
        assert_eq!(audit.small_values, 0);
        assert!(audit.largest_deviation.unwrap() <= 4);
        // 4001 cells with noise of standard deviation 1.58: the mean is within 0.1.
        assert!(audit.mean_deviation.unwrap().abs() < 0.1, "{audit:?}");
        assert!(audit.changed_share.unwrap() > 0.3);
        let deviations: Vec<i64> = p
            .values
            .iter()
            .zip(&t.values)
            .map(|(p, t)| p.unwrap() - t)
            .collect();
        let var = deviations.iter().map(|d| (d * d) as f64).sum::<f64>() / deviations.len() as f64;
        assert!((var - 2.5).abs() < 0.3, "empirical variance {var}");
    }

    #[test]
    fn chosen_totals_stay_exact_wherever_they_appear() {
        let mut rng = Rng(4);
        let people = records(&mut rng, &[region(), sex()], 4_000);
        let by_region = table("by_region", &[region(), sex()], &people);
        let only_region: Vec<_> = people.iter().map(|(l, k)| (vec![l[0]], *k)).collect();
        let only_region = table("only_region", &[region()], &only_region);
        let options = CkmOptions {
            keep_totals_of: vec!["by_region".into()],
        };
        let out = protect_ckm(
            &[by_region.clone(), only_region.clone()],
            &PTable::shipped(),
            &options,
        )
        .unwrap();
        // Region total and subtotals (regions × sex total) are exact in both tables.
        let groups = 1 + 4;
        for c in 0..groups {
            assert_eq!(out[1].values[c], Some(only_region.values[c]));
            assert_eq!(out[1].status[c], "u");
            assert_eq!(out[0].values[c * 3], Some(by_region.values[c * 3]));
        }
        assert_eq!(out[1].status[groups], "p");
        let missing = CkmOptions {
            keep_totals_of: vec!["nope".into()],
        };
        assert!(protect_ckm(&[only_region], &PTable::shipped(), &missing).is_err());
    }
}
