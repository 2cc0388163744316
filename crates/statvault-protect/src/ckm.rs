//! The cell key method: each cell's key is the fractional part of the sum of its
//! records' keys (exact: keys are 32-bit fractions and the sums wrap modulo 2⁶⁴, so
//! the key is the sum modulo 2³² whatever the order of addition); its published count
//! is looked up in the p-table row of min(n, top row) at that key. The same records
//! give the same cell the same value in every table.

use std::collections::HashSet;

use statvault_census::table::CategoryKind;
use statvault_census::Table;

use crate::protected::{self, CellStatus, ProtectedTable, Protection};
use crate::system::identity;
use crate::{audit, PTable, ProtectError};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CkmOptions {
    /// Tables whose cells made only of totals and subtotals are published exactly
    /// (flagged `u`), here and wherever the same cell appears: naming
    /// `population_municipality_sex` keeps national and county population exact.
    pub keep_totals_of: Vec<String>,
}

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
            let (values, status) = (0..t.cells())
                .map(|c| {
                    let n = t.values[c];
                    if identity(t, c).is_some_and(|id| exact.contains(&id)) {
                        (Some(n), CellStatus::UnprotectedTotal.symbol().to_string())
                    } else {
                        // The cell key: the key sum modulo 2³².
                        let key = t.record_key_sums[c] as u32;
                        let published = ptable.perturb(n as u64, key) as i64;
                        (Some(published), CellStatus::Perturbed.symbol().to_string())
                    }
                })
                .unzip();
            ProtectedTable {
                format: protected::FORMAT.into(),
                id: t.id.clone(),
                title: t.title.clone(),
                unit: t.unit.clone(),
                measure: t.measure.clone(),
                provenance: t.provenance.clone(),
                dimensions: t.dimensions.clone(),
                values,
                status,
                protection: Protection {
                    method: "ckm".into(),
                    parameters: parameters.clone(),
                    ptable_blake3: Some(ptable_blake3.clone()),
                    audit: Default::default(),
                },
            }
        })
        .collect();
    audit::attach(&mut protected, tables)?;
    Ok(protected)
}

/// Every coordinate of the cell is a total or subtotal.
fn only_totals(t: &Table, mut cell: usize) -> bool {
    t.dimensions.iter().rev().all(|d| {
        let n = d.categories.len();
        let kind = d.categories[cell % n].kind;
        cell /= n;
        kind != CategoryKind::Code
    })
}
