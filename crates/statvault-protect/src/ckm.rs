//! The cell key method: each cell's key is the fractional part of the sum of its
//! records' keys (exact: keys are 32-bit fractions and the sums wrap modulo 2⁶⁴, so
//! the key is the sum modulo 2³² whatever the order of addition); its published count
//! is looked up in the p-table row of min(n, top row) at that key. The same records
//! give the same cell the same value in every table.

use statvault_census::table::CategoryKind;
use statvault_census::Table;

use crate::audit::ckm_report;
use crate::protected::{self, CellStatus, ProtectedTable, Protection};
use crate::{PTable, ProtectError};

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CkmOptions {
    /// Publish cells made only of totals and subtotals (national and county
    /// population) exactly, flagged `u`.
    pub keep_totals: bool,
}

pub fn protect_ckm(
    table: &Table,
    ptable: &PTable,
    options: &CkmOptions,
) -> Result<ProtectedTable, ProtectError> {
    if table.measure != "count" {
        return Err(ProtectError::table(
            &table.id,
            format!(
                "measures {:?}: the cell key method here perturbs counts; protect it with suppress",
                table.measure
            ),
        ));
    }
    if let Some(v) = table.values.iter().find(|&&v| v < 0) {
        return Err(ProtectError::table(
            &table.id,
            format!("has a negative count {v}"),
        ));
    }
    let shape: Vec<usize> = table
        .dimensions
        .iter()
        .map(|d| d.categories.len())
        .collect();
    let only_totals = |mut cell: usize| {
        table.dimensions.iter().zip(&shape).rev().all(|(d, &n)| {
            let kind = d.categories[cell % n].kind;
            cell /= n;
            kind != CategoryKind::Code
        })
    };
    let mut values = Vec::with_capacity(table.cells());
    let mut status = Vec::with_capacity(table.cells());
    for (c, (&n, &key_sum)) in table.values.iter().zip(&table.record_key_sums).enumerate() {
        if options.keep_totals && only_totals(c) {
            values.push(Some(n));
            status.push(CellStatus::UnprotectedTotal.symbol().to_string());
        } else {
            let key = key_sum as u32; // the sum modulo 2³²
            values.push(Some(ptable.perturb(n as u64, key) as i64));
            status.push(CellStatus::Perturbed.symbol().to_string());
        }
    }
    let js = ptable.js();
    let mut parameters = serde_json::Map::new();
    parameters.insert("max_deviation".into(), ptable.max_deviation().into());
    parameters.insert("js".into(), js.into());
    parameters.insert("top_row".into(), ptable.top_row().into());
    parameters.insert("keep_totals".into(), options.keep_totals.into());
    let mut out = ProtectedTable {
        format: protected::FORMAT.into(),
        id: table.id.clone(),
        title: table.title.clone(),
        unit: table.unit.clone(),
        measure: table.measure.clone(),
        provenance: table.provenance.clone(),
        dimensions: table.dimensions.clone(),
        values,
        status,
        protection: Protection {
            method: "ckm".into(),
            parameters,
            ptable_blake3: Some(blake3::hash(ptable.write().as_bytes()).to_hex().to_string()),
            audit: Default::default(),
        },
    };
    out.protection.audit = ckm_report(&out, Some(table), js);
    Ok(out)
}
