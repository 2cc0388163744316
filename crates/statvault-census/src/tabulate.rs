//! `tabulate`: many cross-tables from one census snapshot in one scan.
//!
//! Census variables are small codelists, so each record's cell in a table is a dense
//! mixed-radix index (Σ code_d × stride_d) into a plain counts array; no hashing. The
//! columns a spec needs are read from the vault once, decoded to 16-bit codes, and
//! every table is computed block by block in the same pass over the rows, split
//! across threads. Totals and subtotals along hierarchies are added afterwards from
//! the finest cells, which is exact and cheap (tables are small next to the data).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use parquet::data_type::{DataType, Int32Type, Int64Type};
use statvault_crypto::{RecordKeySeed, VaultKeys};
use statvault_vault::{Progress, SnapshotFiles, Vault};
use zeroize::Zeroize;

use crate::columns::read_column;
use crate::dataset::{self, DatasetMeta, StoredColumn};
use crate::implication::{self, Meaning};
use crate::packed::{self, Codes, CodesRef};
use crate::schema::{DerivedRule, Labels, Schema, VarType};
use crate::spec::{CrossTab, Filter, Measure, Spec, TableKind, TableSpec};
use crate::table::{self, Category, CategoryKind, Dimension, Provenance, Sum, Table};
use crate::CensusError;

/// Integer variables used as dimensions: at most this many values (e.g. single years
/// of age 0–120).
const MAX_INTEGER_CATEGORIES: i64 = 10_000;
/// The most cells one table may have.
const MAX_CELLS: usize = 50_000_000;
const BLOCK: usize = 4096;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct TabulateReport {
    pub snapshot: String,
    pub rows: usize,
    pub tables: Vec<TableSummary>,
    pub seconds_reading: f64,
    pub seconds_scanning: f64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct TableSummary {
    pub id: String,
    pub cells: usize,
    pub total: i64,
    pub file: String,
}

// ---------------------------------------------------------------------------------
// The kernel: pure functions on in-memory columns.

/// One table for the kernel: its dimensions, filters, unit and measure over columns
/// of codes that all have the same number of rows.
pub struct KernelTable<'a> {
    /// Codes and the number of codes (radix) of each dimension.
    pub dims: Vec<(CodesRef<'a>, usize)>,
    /// Codes, and for each code whether records with it are kept.
    pub filters: Vec<(CodesRef<'a>, Vec<bool>)>,
    /// Rows that are records of the unit counted (e.g. the first row of each
    /// household); `None` counts every row.
    pub unit: Option<&'a [bool]>,
    /// Values summed instead of counting.
    pub sum: Option<&'a [i64]>,
}

/// The finest cells of one table: value (count or sum), records and Σ record keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cells {
    pub values: Vec<i64>,
    pub records: Vec<u64>,
    pub key_sums: Vec<u64>,
}

impl KernelTable<'_> {
    pub fn cells(&self) -> usize {
        self.dims.iter().map(|d| d.1).product()
    }
}

/// The record key of every row.
pub enum RecordKeys<'a> {
    /// Drawn from the dataset's seed as the scan goes (format 2).
    Drawn(&'a RecordKeySeed),
    /// Read from the stored `_record_key` column (format 1).
    Stored(&'a [u32]),
}

impl RecordKeys<'_> {
    fn fill(&self, first_row: usize, keys: &mut [u32]) {
        match self {
            RecordKeys::Drawn(seed) => seed.fill(first_row as u64, keys),
            RecordKeys::Stored(all) => keys.copy_from_slice(&all[first_row..][..keys.len()]),
        }
    }
}

/// Computes every table in one pass over `rows` rows, on `threads` threads.
pub fn cross_tabulate(
    rows: usize,
    keys: &RecordKeys,
    tables: &[KernelTable],
    threads: usize,
) -> Vec<Cells> {
    let threads = threads.clamp(1, rows.div_ceil(BLOCK).max(1));
    let per_thread = rows.div_ceil(threads);
    let partials: Vec<Vec<Cells>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per_thread).min(rows)..((t + 1) * per_thread).min(rows);
                scope.spawn(move || scan(range, keys, tables))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a scanning thread does not panic"))
            .collect()
    });
    let mut merged = partials.into_iter();
    let mut out = merged.next().expect("at least one thread");
    for part in merged {
        for (o, p) in out.iter_mut().zip(part) {
            o.values.iter_mut().zip(p.values).for_each(|(a, b)| *a += b);
            o.records
                .iter_mut()
                .zip(p.records)
                .for_each(|(a, b)| *a += b);
            o.key_sums
                .iter_mut()
                .zip(p.key_sums)
                .for_each(|(a, b)| *a += b);
        }
    }
    out
}

fn scan(range: std::ops::Range<usize>, keys: &RecordKeys, tables: &[KernelTable]) -> Vec<Cells> {
    let mut out: Vec<Accumulator> = tables.iter().map(Accumulator::new).collect();
    let (mut index, mut block_keys) = ([0u32; BLOCK], [0u32; BLOCK]);
    let mut start = range.start;
    while start < range.end {
        let end = (start + BLOCK).min(range.end);
        let n = end - start;
        let index = &mut index[..n];
        let block_keys = &mut block_keys[..n];
        keys.fill(start, block_keys);
        for (t, cells) in tables.iter().zip(out.iter_mut()) {
            index.fill(0);
            for &(codes, radix) in &t.dims {
                match codes {
                    CodesRef::Narrow(c) => add_digit(index, &c[start..end], radix as u32),
                    CodesRef::Wide(c) => add_digit(index, &c[start..end], radix as u32),
                }
            }
            let dropped = t.cells() as u32;
            for (codes, keep) in &t.filters {
                match codes {
                    CodesRef::Narrow(c) => drop_unkept(index, &c[start..end], keep, dropped),
                    CodesRef::Wide(c) => drop_unkept(index, &c[start..end], keep, dropped),
                }
            }
            if let Some(unit) = t.unit {
                for (i, &u) in index.iter_mut().zip(&unit[start..end]) {
                    *i = choose(u, *i, dropped);
                }
            }
            cells.add(index, block_keys, t.sum.map(|s| &s[start..end]));
        }
        start = end;
    }
    out.into_iter().map(Accumulator::finish).collect()
}

/// Lanes of a small table's counters: consecutive rows often fall in the same cell
/// (the data are sorted by place), and adding to one counter row after row waits on
/// each previous add; rows taking turns among separate counters do not.
const LANES: usize = 4;
/// Tables of more cells get one lane: their rows spread anyway, and memory matters.
const LANED_CELLS: usize = 1 << 16;

/// One table's counters during a scan: `lanes` counters per cell, plus one cell for
/// the records that filters leave out.
struct Accumulator {
    lanes: usize,
    records: Vec<u64>,
    key_sums: Vec<u64>,
    values: Option<Vec<i64>>,
}

impl Accumulator {
    fn new(t: &KernelTable) -> Accumulator {
        let lanes = if t.cells() <= LANED_CELLS { LANES } else { 1 };
        let n = (t.cells() + 1) * lanes;
        Accumulator {
            lanes,
            records: vec![0; n],
            key_sums: vec![0; n],
            values: t.sum.map(|_| vec![0; n]),
        }
    }

    fn add(&mut self, index: &[u32], keys: &[u32], sum: Option<&[i64]>) {
        let lane = self.lanes - 1;
        let at = |row: usize, i: u32| i as usize * self.lanes + (row & lane);
        for (row, (&i, &k)) in index.iter().zip(keys).enumerate() {
            let at = at(row, i);
            self.records[at] += 1;
            self.key_sums[at] += u64::from(k);
        }
        if let (Some(values), Some(sum)) = (&mut self.values, sum) {
            for (row, (&i, &v)) in index.iter().zip(sum).enumerate() {
                values[at(row, i)] += v;
            }
        }
    }

    /// The lanes added up, without the left-out cell.
    fn finish(self) -> Cells {
        fn fold<T: Copy + std::iter::Sum>(lanes: usize, all: &[T]) -> Vec<T> {
            let mut cells: Vec<T> = all
                .chunks_exact(lanes)
                .map(|c| c.iter().copied().sum())
                .collect();
            cells.pop();
            cells
        }
        let records = fold(self.lanes, &self.records);
        Cells {
            values: match &self.values {
                Some(values) => fold(self.lanes, values),
                None => records.iter().map(|&r| r as i64).collect(),
            },
            key_sums: fold(self.lanes, &self.key_sums),
            records,
        }
    }
}

/// Appends one dimension's codes to each row's mixed-radix cell index.
fn add_digit<C: Copy + Into<u32>>(index: &mut [u32], codes: &[C], radix: u32) {
    for (i, &c) in index.iter_mut().zip(codes) {
        *i = *i * radix + c.into();
    }
}

/// Sends rows whose code a filter drops to the `dropped` cell.
fn drop_unkept<C: Copy + Into<usize>>(index: &mut [u32], codes: &[C], keep: &[bool], dropped: u32) {
    for (i, &c) in index.iter_mut().zip(codes) {
        *i = choose(keep[c.into()], *i, dropped);
    }
}

/// `kept` if `keep`, else `dropped`, without a branch: which rows a filter drops
/// follows no pattern, and a mispredicted branch per row cost more than the rest of
/// the row's work.
fn choose(keep: bool, kept: u32, dropped: u32) -> u32 {
    let mask = u32::from(keep).wrapping_neg();
    (kept & mask) | (dropped & !mask)
}

/// Adds output categories along one dimension: each fine code `f` is added into every
/// output category in `mapping[f]`. `shape` is the current size of each dimension.
fn expand<T: Copy + Default + std::ops::AddAssign>(
    data: &[T],
    shape: &[usize],
    dim: usize,
    mapping: &[Vec<usize>],
    out_len: usize,
) -> Vec<T> {
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let mut out = vec![T::default(); outer * out_len * inner];
    for o in 0..outer {
        for (f, targets) in mapping.iter().enumerate() {
            let from = &data[(o * shape[dim] + f) * inner..][..inner];
            for &m in targets {
                let to = &mut out[(o * out_len + m) * inner..][..inner];
                to.iter_mut().zip(from).for_each(|(a, &b)| *a += b);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// From a spec and a stored dataset to kernel tables and table files.

/// A variable as a dimension or filter: where its codes come from and what they mean.
#[derive(Clone, Debug)]
struct VarInfo {
    name: String,
    label: Labels,
    record: usize,
    load: Load,
    /// Code and labels of each code position.
    codes: Vec<(String, Labels)>,
    /// Index into `Schema::codelists`, for hierarchies.
    codelist: Option<usize>,
    /// For integer variables: the value of code 0.
    offset: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Load {
    /// The stored record key of every row, in a format 1 dataset (listed first: the
    /// largest column starts first).
    StoredRecordKeys,
    /// The record key of every row drawn from the seed, in a format 2 dataset, to
    /// keep in a cache.
    DrawnRecordKeys,
    /// A stored code column.
    Codes(String),
    /// A stored integer column, minus an offset.
    Integer(String, i64),
    /// Persons per record of the given record type, grouped by a codelist's ranges.
    HouseholdSize(String, usize),
    /// First row of each record of the given record type.
    UnitFlags(String),
    /// Raw INT64 values to sum.
    Raw(String),
}

fn plain_labels(schema: &Schema, text: &str) -> Labels {
    schema
        .languages
        .iter()
        .map(|l| (l.clone(), text.to_string()))
        .collect()
}

fn total_labels(schema: &Schema) -> Labels {
    schema
        .languages
        .iter()
        .map(|l| {
            let text = if l == "sq" { "Gjithsej" } else { "Total" };
            (l.clone(), text.to_string())
        })
        .collect()
}

fn resolve_var(
    schema: &Schema,
    meta: &DatasetMeta,
    name: &str,
    at: &str,
) -> Result<VarInfo, CensusError> {
    let spec_err = |message: String| CensusError::Spec {
        at: at.to_string(),
        message,
    };
    let codelist_codes = |l: usize| -> Vec<(String, Labels)> {
        schema.codelists[l]
            .codes
            .iter()
            .map(|c| (c.code.clone(), c.label.clone()))
            .collect()
    };
    if let Some(v) = schema.variable(name) {
        let var = &schema.variables[v];
        let (load, codes, codelist, offset) = match var.ty {
            VarType::Code(l) => (Load::Codes(name.into()), codelist_codes(l), Some(l), None),
            VarType::Integer { min, max }
                if max.checked_sub(min).is_some_and(|w| w < MAX_INTEGER_CATEGORIES) =>
            {
                let codes = (min..=max)
                    .map(|x| (x.to_string(), plain_labels(schema, &x.to_string())))
                    .collect();
                (Load::Integer(name.into(), min), codes, None, Some(min))
            }
            VarType::Integer { .. } => {
                return Err(spec_err(format!(
                    "variable {name} has more than {MAX_INTEGER_CATEGORIES} values (set its min and max in the schema, or derive groups)"
                )))
            }
            VarType::Decimal { .. } => {
                return Err(spec_err(format!(
                    "variable {name} is a decimal; only codes and integers are dimensions or filters"
                )))
            }
        };
        return Ok(VarInfo {
            name: name.into(),
            label: var.label.clone(),
            record: var.record,
            load,
            codes,
            codelist,
            offset,
        });
    }
    let d = schema.derived(name).ok_or_else(|| {
        let mut known: Vec<&str> = schema.variables.iter().map(|v| v.name.as_str()).collect();
        known.extend(schema.derived.iter().map(|d| d.name.as_str()));
        spec_err(format!(
            "unknown variable {name:?} (the schema has {})",
            known.join(", ")
        ))
    })?;
    let derived = &schema.derived[d];
    let leaf = schema.records.len() - 1;
    let (record, load, codes, codelist) = match derived.rule {
        DerivedRule::Ranges { source, codelist } => (
            schema.variables[source].record,
            Load::Codes(name.into()),
            codelist_codes(codelist),
            Some(codelist),
        ),
        DerivedRule::HouseholdSize { codelist } => {
            let household = schema.records[leaf].parent.expect("checked by the schema");
            (
                household,
                Load::HouseholdSize(schema.records[household].name.clone(), codelist),
                codelist_codes(codelist),
                Some(codelist),
            )
        }
        DerivedRule::Grid1km => {
            let c = schema.coordinates.as_ref().expect("checked by the schema");
            if meta.grid_1km.len() > u16::MAX as usize {
                return Err(spec_err(format!(
                    "the dataset has {} grid cells, more than a dimension holds ({})",
                    meta.grid_1km.len(),
                    u16::MAX
                )));
            }
            let codes = meta
                .grid_1km
                .iter()
                .map(|id| (id.clone(), plain_labels(schema, id)))
                .collect();
            (
                schema.variables[c.latitude].record,
                Load::Codes(name.into()),
                codes,
                None,
            )
        }
    };
    Ok(VarInfo {
        name: name.into(),
        label: derived.label.clone(),
        record,
        load,
        codes,
        codelist,
        offset: None,
    })
}

/// Whether a variable of record type `var_record` describes records of type `unit`:
/// the same type or one above it.
fn describes(schema: &Schema, var_record: usize, unit: usize) -> bool {
    let mut at = Some(unit);
    while let Some(r) = at {
        if r == var_record {
            return true;
        }
        at = schema.records[r].parent;
    }
    false
}

/// A cross-table resolved against the schema and dataset.
struct Planned {
    id: String,
    title: Labels,
    unit: usize,
    measure: String,
    dims: Vec<VarInfo>,
    filters: Vec<(VarInfo, Vec<bool>)>,
    sum: Option<String>,
    totals: bool,
}

fn plan_cross_tab(
    schema: &Schema,
    meta: &DatasetMeta,
    id: &str,
    title: &Labels,
    t: &CrossTab,
) -> Result<Planned, CensusError> {
    let at = format!("table {id:?}");
    let spec_err = |message: String| CensusError::Spec {
        at: at.clone(),
        message,
    };
    let leaf = schema.records.len() - 1;
    let unit = match &t.unit {
        None => leaf,
        Some(u) => schema.record(u).ok_or_else(|| {
            spec_err(format!(
                "unit {u:?} is not a record type ({})",
                schema
                    .records
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    let check_level = |v: &VarInfo| {
        if describes(schema, v.record, unit) {
            Ok(())
        } else {
            Err(spec_err(format!(
                "{} describes {} records; a table of {} records can use variables of {} and the records above it",
                v.name, schema.records[v.record].name, schema.records[unit].name, schema.records[unit].name
            )))
        }
    };
    let mut dims = Vec::new();
    for d in &t.dimensions {
        let v = resolve_var(schema, meta, d, &at)?;
        check_level(&v)?;
        dims.push(v);
    }
    let cells = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(d.codes.len()))
        .filter(|&c| c <= MAX_CELLS)
        .ok_or_else(|| spec_err(format!("more than {MAX_CELLS} cells")))?;
    debug_assert!(cells > 0);
    let mut filters = Vec::new();
    for f in &t.filters {
        let (name, keep) = match f {
            Filter::Codes { variable, codes } => {
                let v = resolve_var(schema, meta, variable, &at)?;
                let mut keep = vec![false; v.codes.len()];
                for code in codes {
                    let p = v.codes.iter().position(|(c, _)| c == code).ok_or_else(|| {
                        spec_err(format!(
                            "where {variable}: {code:?} is not one of its codes"
                        ))
                    })?;
                    keep[p] = true;
                }
                (v, keep)
            }
            Filter::Range { variable, min, max } => {
                let v = resolve_var(schema, meta, variable, &at)?;
                let offset = v.offset.ok_or_else(|| {
                    spec_err(format!("where {variable}: min and max apply to integer variables; list codes instead"))
                })?;
                let keep = (0..v.codes.len() as i64)
                    .map(|i| (*min..=*max).contains(&(offset + i)))
                    .collect();
                (v, keep)
            }
        };
        check_level(&name)?;
        filters.push((name, keep));
    }
    let (sum, measure) = match &t.measure {
        Measure::Count => (None, "count".to_string()),
        Measure::Sum(name) => {
            let v = schema
                .variable(name)
                .filter(|&v| matches!(schema.variables[v].ty, VarType::Integer { .. }))
                .ok_or_else(|| spec_err(format!("sum: {name:?} is not an integer variable")))?;
            if !describes(schema, schema.variables[v].record, unit) {
                return Err(spec_err(format!(
                    "sum: {name} describes {} records, not {}",
                    schema.records[schema.variables[v].record].name, schema.records[unit].name
                )));
            }
            (Some(name.clone()), format!("sum:{name}"))
        }
    };
    Ok(Planned {
        id: id.to_string(),
        title: title.clone(),
        unit,
        measure,
        dims,
        filters,
        sum,
        totals: t.totals,
    })
}

/// The GEOSTAT 2021 grid variables: (code, variable, its code or all, labels sq/en).
const GEOSTAT: [(&str, &str, Option<&str>, &str, &str); 13] = [
    ("T", "sex", None, "Gjithsej", "Total population"),
    ("M", "sex", Some("1"), "Meshkuj", "Males"),
    ("F", "sex", Some("2"), "Femra", "Females"),
    (
        "Y_LT15",
        "age_broad",
        Some("Y_LT15"),
        "Nën 15 vjeç",
        "Under 15 years",
    ),
    (
        "Y_1564",
        "age_broad",
        Some("Y15-64"),
        "15–64 vjeç",
        "15 to 64 years",
    ),
    (
        "Y_GE65",
        "age_broad",
        Some("Y_GE65"),
        "65 vjeç e më shumë",
        "65 years and over",
    ),
    (
        "EMP",
        "activity",
        Some("1"),
        "Të punësuar",
        "Employed persons",
    ),
    (
        "NAT",
        "birthplace",
        Some("1"),
        "Lindur në Shqipëri",
        "Born in the reporting country",
    ),
    (
        "EU_OTH",
        "birthplace",
        Some("2"),
        "Lindur në një shtet tjetër të BE-së",
        "Born in another EU member state",
    ),
    (
        "OTH",
        "birthplace",
        Some("3"),
        "Lindur gjetkë",
        "Born elsewhere",
    ),
    (
        "SAME",
        "residence_1y",
        Some("1"),
        "Në të njëjtin vendbanim një vit më parë",
        "Same usual residence one year before",
    ),
    (
        "CHG_IN",
        "residence_1y",
        Some("2"),
        "Lëvizur brenda vendit",
        "Moved within the reporting country",
    ),
    (
        "CHG_OUT",
        "residence_1y",
        Some("3"),
        "Ardhur nga jashtë",
        "Moved from outside the reporting country",
    ),
];

/// The GEOSTAT table as cross-tables of the grid by each source variable, computed in
/// the same scan and assembled afterwards.
fn plan_geostat(
    schema: &Schema,
    meta: &DatasetMeta,
    id: &str,
) -> Result<Vec<Planned>, CensusError> {
    let grid = schema
        .derived
        .iter()
        .find(|d| d.rule == DerivedRule::Grid1km)
        .ok_or_else(|| CensusError::Spec {
            at: format!("table {id:?}"),
            message: "builtin geostat_1km needs a derived variable with rule grid_1km".into(),
        })?;
    let mut sources: Vec<&str> = GEOSTAT.iter().map(|g| g.1).collect();
    sources.dedup();
    sources
        .into_iter()
        .map(|var| {
            plan_cross_tab(
                schema,
                meta,
                id,
                &Labels::new(),
                &CrossTab {
                    dimensions: vec![grid.name.clone(), var.to_string()],
                    unit: None,
                    filters: Vec::new(),
                    measure: Measure::Count,
                    totals: false,
                },
            )
        })
        .collect()
}

/// Output categories of a dimension and, for each code, the categories it adds into.
fn categories(schema: &Schema, v: &VarInfo, totals: bool) -> (Vec<Category>, Vec<Vec<usize>>) {
    let code = |(c, l): &(String, Labels), kind, level: Option<String>| Category {
        code: c.clone(),
        label: l.clone(),
        kind,
        level,
    };
    let fine: Vec<Category> = v
        .codes
        .iter()
        .map(|c| code(c, CategoryKind::Code, None))
        .collect();
    if !totals {
        return (fine, (0..v.codes.len()).map(|i| vec![i]).collect());
    }
    let ancestors = v.codelist.map(|l| schema.ancestors(l)).unwrap_or_default();
    let mut out = Vec::new();
    let mut mapping: Vec<Vec<usize>> = vec![Vec::new(); v.codes.len()];
    match (ancestors.last(), v.codelist) {
        (Some(&top), Some(list)) => {
            // Highest level first: a one-code top level is the total.
            for &level in ancestors.iter().rev() {
                let base = out.len();
                let codes = &schema.codelists[level].codes;
                let kind = if level == top && codes.len() == 1 {
                    CategoryKind::Total
                } else {
                    CategoryKind::Subtotal
                };
                let level_list = &schema.codelists[level];
                out.extend(codes.iter().map(|c| {
                    let label = match kind {
                        CategoryKind::Subtotal => qualified(&c.label, &level_list.label),
                        _ => c.label.clone(),
                    };
                    code(
                        &(c.code.clone(), label),
                        kind,
                        Some(level_list.name.clone()),
                    )
                }));
                for (f, m) in mapping.iter_mut().enumerate() {
                    let a = schema
                        .ancestor_code(list, f as u16, level)
                        .expect("a parent");
                    m.push(base + a as usize);
                }
            }
        }
        _ => {
            out.push(Category {
                code: "_T".into(),
                label: total_labels(schema),
                kind: CategoryKind::Total,
                level: None,
            });
            mapping.iter_mut().for_each(|m| m.push(0));
        }
    }
    let base = out.len();
    out.extend(fine);
    for (f, m) in mapping.iter_mut().enumerate() {
        m.push(base + f);
    }
    (out, mapping)
}

/// A subtotal's label with its level's in each language ("Berat (county)", "Berat
/// (qarku)"): a county and a municipality often share a name, and every reader of a
/// table (a PX file's values, a CSV's labels, a page) must tell them apart.
fn qualified(label: &Labels, level: &Labels) -> Labels {
    label
        .iter()
        .map(|(lang, text)| {
            let text = match level.get(lang) {
                Some(level) => format!("{text} ({})", level.to_lowercase()),
                None => text.clone(),
            };
            (lang.clone(), text)
        })
        .collect()
}

/// Turns finest cells into a table file, adding totals and subtotals.
fn finish_table(schema: &Schema, p: &Planned, cells: Cells, provenance: &Provenance) -> Table {
    let mut shape: Vec<usize> = p.dims.iter().map(|d| d.codes.len()).collect();
    let Cells {
        mut values,
        mut records,
        mut key_sums,
    } = cells;
    let mut dimensions = Vec::new();
    for (d, v) in p.dims.iter().enumerate() {
        let (cats, mapping) = categories(schema, v, p.totals);
        let sums = sums_of(&cats, &mapping);
        values = expand(&values, &shape, d, &mapping, cats.len());
        records = expand(&records, &shape, d, &mapping, cats.len());
        key_sums = expand_wrapping(&key_sums, &shape, d, &mapping, cats.len());
        shape[d] = cats.len();
        dimensions.push(Dimension {
            id: v.name.clone(),
            label: v.label.clone(),
            categories: cats,
            sums,
            bounds: Vec::new(),
        });
    }
    Table {
        format: table::FORMAT.into(),
        id: p.id.clone(),
        title: p.title.clone(),
        unit: schema.records[p.unit].name.clone(),
        measure: p.measure.clone(),
        provenance: provenance.clone(),
        dimensions,
        values,
        records,
        record_key_sums: key_sums,
    }
}

/// The additive structure of a dimension: each code's list of categories runs from
/// the top of its hierarchy down to itself, so each adjacent pair is (sum, part).
fn sums_of(cats: &[Category], mapping: &[Vec<usize>]) -> Vec<Sum> {
    let mut parts: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for chain in mapping {
        for pair in chain.windows(2) {
            parts.entry(pair[0]).or_default().insert(pair[1]);
        }
    }
    parts
        .into_iter()
        .map(|(total, parts)| Sum {
            total: cats[total].code.clone(),
            parts: parts.into_iter().map(|p| cats[p].code.clone()).collect(),
        })
        .collect()
}

/// Key sums add modulo 2⁶⁴: only their value modulo 2³² (the cell key) matters, and
/// that is exact whatever the order of addition.
fn expand_wrapping(
    data: &[u64],
    shape: &[usize],
    dim: usize,
    mapping: &[Vec<usize>],
    out_len: usize,
) -> Vec<u64> {
    let wrapped: Vec<std::num::Wrapping<u64>> =
        data.iter().map(|&x| std::num::Wrapping(x)).collect();
    expand(&wrapped, shape, dim, mapping, out_len)
        .into_iter()
        .map(|w| w.0)
        .collect()
}

fn assemble_geostat(
    schema: &Schema,
    id: &str,
    title: &Labels,
    parts: &[(&Planned, Cells)],
    provenance: &Provenance,
) -> Table {
    let grid = &parts[0].0.dims[0];
    let n = grid.codes.len();
    let mut values = vec![0i64; n * GEOSTAT.len()];
    let mut records = vec![0u64; n * GEOSTAT.len()];
    let mut key_sums = vec![0u64; n * GEOSTAT.len()];
    for (g, (_, var, code, _, _)) in GEOSTAT.iter().enumerate() {
        let (p, cells) = parts
            .iter()
            .find(|(p, _)| p.dims[1].name == *var)
            .expect("planned for each source variable");
        let codes = &p.dims[1].codes;
        let wanted: Vec<usize> = (0..codes.len())
            .filter(|&c| code.is_none_or(|code| codes[c].0 == code))
            .collect();
        for cell in 0..n {
            let out = cell * GEOSTAT.len() + g;
            for &c in &wanted {
                let i = cell * codes.len() + c;
                values[out] += cells.values[i];
                records[out] += cells.records[i];
                key_sums[out] = key_sums[out].wrapping_add(cells.key_sums[i]);
            }
        }
    }
    let labels = |sq: &str, en: &str| -> Labels {
        schema
            .languages
            .iter()
            .map(|l| (l.clone(), if l == "sq" { sq } else { en }.to_string()))
            .collect()
    };
    let title = if title.is_empty() {
        labels(
            "Popullsia në rrjetin 1 km (GEOSTAT 2021)",
            "Population on the 1 km grid (GEOSTAT 2021)",
        )
    } else {
        title.clone()
    };
    let mut table = Table {
        format: table::FORMAT.into(),
        id: id.to_string(),
        title,
        unit: schema.records[parts[0].0.unit].name.clone(),
        measure: "count".into(),
        provenance: provenance.clone(),
        dimensions: vec![
            Dimension {
                id: grid.name.clone(),
                label: grid.label.clone(),
                categories: grid
                    .codes
                    .iter()
                    .map(|(c, l)| Category {
                        code: c.clone(),
                        label: l.clone(),
                        kind: CategoryKind::Code,
                        level: None,
                    })
                    .collect(),
                sums: Vec::new(),
                bounds: Vec::new(),
            },
            Dimension {
                id: table::GEOSTAT_DIMENSION.into(),
                label: labels("Variabli GEOSTAT", "GEOSTAT variable"),
                categories: GEOSTAT
                    .iter()
                    .map(|(code, _, _, sq, en)| Category {
                        code: code.to_string(),
                        label: labels(sq, en),
                        kind: CategoryKind::Code,
                        level: None,
                    })
                    .collect(),
                sums: geostat_sums(parts),
                bounds: Vec::new(),
            },
        ],
        values,
        records,
        record_key_sums: key_sums,
    };
    table.dimensions[1].bounds = dimension_bounds(schema, &table.dimensions[1]);
    table
}

/// What the schema's implications say between a dimension's categories, whatever the
/// other dimensions: between the GEOSTAT variables, the employed are among those aged
/// 15 and over. Also for tables tabulated before the schema declared implications
/// (`protect audit --schema`).
pub fn dimension_bounds(schema: &Schema, dimension: &Dimension) -> Vec<table::Bound> {
    let meanings: Vec<(String, Meaning)> = if dimension.id == table::GEOSTAT_DIMENSION {
        GEOSTAT
            .iter()
            .filter_map(|(code, var, value, ..)| {
                let meaning = match value {
                    None => None,
                    Some(v) => Some(schema.condition_on_codes(var, &[v]).ok()?),
                };
                Some((code.to_string(), meaning))
            })
            .collect()
    } else {
        dimension
            .categories
            .iter()
            .filter_map(|c| match c.kind {
                CategoryKind::Total => Some((c.code.clone(), None)),
                CategoryKind::Code => {
                    let meaning = schema.condition_on_codes(&dimension.id, &[&c.code]).ok()?;
                    Some((c.code.clone(), Some(meaning)))
                }
                CategoryKind::Subtotal => None,
            })
            .collect()
    };
    implication::bounds(schema, &meanings, &schema.implications)
}

/// T is the sum of the GEOSTAT variables that split a source variable completely (sex,
/// broad age, birthplace); employment and residence one year before leave people out.
fn geostat_sums(parts: &[(&Planned, Cells)]) -> Vec<Sum> {
    parts
        .iter()
        .filter_map(|(p, _)| {
            let var = &p.dims[1].name;
            let split: Vec<String> = GEOSTAT
                .iter()
                .filter(|(_, v, code, _, _)| v == var && code.is_some())
                .map(|(g, ..)| g.to_string())
                .collect();
            (split.len() == p.dims[1].codes.len()).then(|| Sum {
                total: "T".into(),
                parts: split,
            })
        })
        .collect()
}

/// A column loaded from the snapshot, one value per row: microdata, wiped when
/// dropped.
enum Column {
    Codes(Codes),
    Flags(Vec<bool>),
    Values(Vec<i64>),
    Keys(Vec<u32>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Codes(v) => v.len(),
            Column::Flags(v) => v.len(),
            Column::Values(v) => v.len(),
            Column::Keys(v) => v.len(),
        }
    }

    /// Bytes of memory it holds.
    fn size(&self) -> usize {
        match self {
            Column::Codes(Codes::Narrow(v)) => v.capacity(),
            Column::Codes(Codes::Wide(v)) => v.capacity() * 2,
            Column::Flags(v) => v.capacity(),
            Column::Values(v) => v.capacity() * 8,
            Column::Keys(v) => v.capacity() * 4,
        }
    }
}

impl Drop for Column {
    fn drop(&mut self) {
        match self {
            Column::Codes(Codes::Narrow(v)) => v.zeroize(),
            Column::Codes(Codes::Wide(v)) => v.zeroize(),
            Column::Flags(v) => v.zeroize(),
            Column::Values(v) => v.zeroize(),
            Column::Keys(v) => v.zeroize(),
        }
    }
}

/// Decoded columns kept from one tabulation to the next, up to a budget of bytes,
/// least recently used out first. The unseal agent keeps one per unsealed session, so
/// its columns live no longer than the key that decrypted them and are wiped when the
/// agent seals. Entries are keyed by snapshot id: a snapshot never changes, and each
/// tabulation still opens the snapshot under the current log before it uses them.
pub struct ColumnCache {
    budget: usize,
    held: Mutex<HeldColumns>,
}

#[derive(Default)]
struct HeldColumns {
    columns: HashMap<(String, Load), (Arc<Column>, u64)>,
    bytes: usize,
    clock: u64,
}

impl ColumnCache {
    /// A cache holding up to `budget` bytes of columns.
    pub fn new(budget: usize) -> ColumnCache {
        ColumnCache {
            budget,
            held: Mutex::new(HeldColumns::default()),
        }
    }

    /// No cache: every tabulation reads its columns from the vault.
    pub fn none() -> ColumnCache {
        ColumnCache::new(0)
    }

    /// Drops every column held; each is wiped when its last user lets go.
    pub fn clear(&self) {
        let mut held = self.held.lock().expect("no panics while held");
        held.columns.clear();
        held.bytes = 0;
    }

    /// Bytes of columns held now.
    pub fn bytes(&self) -> usize {
        self.held.lock().expect("no panics while held").bytes
    }

    fn get(&self, snapshot: &str, load: &Load) -> Option<Arc<Column>> {
        let mut held = self.held.lock().expect("no panics while held");
        held.clock += 1;
        let now = held.clock;
        let (column, used) = held
            .columns
            .get_mut(&(snapshot.to_string(), load.clone()))?;
        *used = now;
        Some(column.clone())
    }

    fn put(&self, snapshot: &str, load: &Load, column: &Arc<Column>) {
        let size = column.size();
        if size > self.budget {
            return;
        }
        let mut held = self.held.lock().expect("no panics while held");
        while held.bytes + size > self.budget {
            let oldest = held
                .columns
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone())
                .expect("over budget means something is held");
            let (gone, _) = held.columns.remove(&oldest).expect("just found");
            held.bytes -= gone.size();
        }
        held.clock += 1;
        let now = held.clock;
        held.bytes += size;
        held.columns
            .insert((snapshot.to_string(), load.clone()), (column.clone(), now));
    }
}

/// A census snapshot opened for reading: its files, metadata and schema, each
/// checked once.
struct Dataset<'a> {
    files: SnapshotFiles<'a>,
    meta: DatasetMeta,
    schema: Schema,
    /// Rows of every column: records of the leaf type.
    rows: usize,
    id: String,
}

impl<'a> Dataset<'a> {
    fn open(vault: &'a Vault, keys: &'a VaultKeys, snapshot: &str) -> Result<Self, CensusError> {
        let files = SnapshotFiles::open(vault, keys, snapshot)?;
        let id = files.id.to_hex();
        let err = |object: &str, detail: String| CensusError::Dataset {
            snapshot: id.clone(),
            object: object.to_string(),
            detail,
        };
        let path = |name: &str| format!("{}/{name}", dataset::ROOT);
        if !files
            .snapshot
            .nodes
            .iter()
            .any(|n| n.path == path(dataset::META_FILE).as_bytes())
        {
            return Err(CensusError::Input {
                file: format!("snapshot {id}"),
                message:
                    "is not a census dataset (it has no census/dataset.json); `census ingest` makes one"
                        .into(),
            });
        }
        let meta: DatasetMeta = serde_json::from_slice(&files.read(&path(dataset::META_FILE))?)
            .map_err(|e| err(dataset::META_FILE, e.to_string()))?;
        check_record_keys(&meta).map_err(|detail| err(dataset::META_FILE, detail))?;
        let schema_text = String::from_utf8(files.read(&path(dataset::SCHEMA_FILE))?)
            .map_err(|e| err(dataset::SCHEMA_FILE, e.to_string()))?;
        let schema =
            Schema::parse(&schema_text).map_err(|e| err(dataset::SCHEMA_FILE, e.to_string()))?;
        let rows = meta
            .records
            .last()
            .map(|r| r.count as usize)
            .ok_or_else(|| err(dataset::META_FILE, "no record counts".into()))?;
        Ok(Dataset {
            files,
            meta,
            schema,
            rows,
            id,
        })
    }

    fn err(&self, object: &str, detail: String) -> CensusError {
        CensusError::Dataset {
            snapshot: self.id.clone(),
            object: object.to_string(),
            detail,
        }
    }

    fn column(&self, name: &str) -> Result<&StoredColumn, CensusError> {
        self.meta
            .columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| self.err(dataset::META_FILE, format!("lists no column {name}")))
    }

    fn bytes(&self, column: &StoredColumn) -> Result<Vec<u8>, CensusError> {
        Ok(self
            .files
            .read(&format!("{}/{}", dataset::ROOT, column.file))?)
    }

    /// A Parquet column, decoded as physical type `T`.
    fn parquet<T: DataType>(&self, name: &str) -> Result<Vec<T::T>, CensusError> {
        let column = self.column(name)?;
        if column.packed.is_some() {
            return Err(self.err(&column.file, "is packed, not Parquet".into()));
        }
        read_column::<T>(Bytes::from(self.bytes(column)?), 0)
            .map_err(|e| self.err(&column.file, e.to_string()))
    }

    /// A column's values minus `offset` as codes below `radix`: a packed column is
    /// read as it lies, a format 1 Parquet column (INT64 for integers, INT32 for
    /// codes) is narrowed.
    fn codes(&self, name: &str, offset: i64, radix: usize) -> Result<Codes, CensusError> {
        let column = self.column(name)?;
        let codes = match column.packed {
            Some(p) if p.offset == offset => {
                packed::unpack(self.bytes(column)?, p.bits, self.rows, radix)
            }
            Some(p) => packed::unpack(self.bytes(column)?, p.bits, self.rows, 1 << p.bits)
                .and_then(|v| {
                    let v: Vec<u16> = (0..v.len()).map(|r| v.as_ref().get(r)).collect();
                    to_codes(&v, offset - p.offset, radix)
                }),
            None if self.is_integer(name) => {
                to_codes(&self.parquet::<Int64Type>(name)?, offset, radix)
            }
            None => to_codes(&self.parquet::<Int32Type>(name)?, offset, radix),
        };
        codes.map_err(|e| self.err(&column.file, e))
    }

    fn is_integer(&self, name: &str) -> bool {
        self.schema
            .variable(name)
            .is_some_and(|v| matches!(self.schema.variables[v].ty, VarType::Integer { .. }))
    }

    /// An integer variable's values, to sum.
    fn integers(&self, name: &str) -> Result<Vec<i64>, CensusError> {
        let column = self.column(name)?;
        match column.packed {
            Some(p) => packed::unpack(self.bytes(column)?, p.bits, self.rows, 1 << p.bits)
                .map(|v| {
                    (0..v.len())
                        .map(|r| i64::from(v.as_ref().get(r)) + p.offset)
                        .collect()
                })
                .map_err(|e| self.err(&column.file, e)),
            None => self.parquet::<Int64Type>(name),
        }
    }

    /// The index of each row's record of type `record`: 0, 1, … in order of first
    /// appearance, each at most one past the largest before it.
    fn record_index(&self, record: &str) -> Result<Vec<u32>, CensusError> {
        let name = dataset::record_index_column(record);
        let index = self.parquet::<Int32Type>(&name)?;
        let mut next = 0u32;
        for (row, &i) in index.iter().enumerate() {
            match u32::try_from(i) {
                Ok(i) if i < next => {}
                Ok(i) if i == next => next += 1,
                _ => {
                    return Err(self.err(
                        &dataset::column_file(&name),
                        format!("record index {i} in row {} is out of order", row + 1),
                    ))
                }
            }
        }
        Ok(index.into_iter().map(|i| i as u32).collect())
    }

    fn load(&self, load: &Load, radix: Option<usize>) -> Result<Column, CensusError> {
        let radix = || radix.expect("codes have a radix");
        Ok(match load {
            Load::DrawnRecordKeys => {
                let seed = self
                    .meta
                    .record_key_seed
                    .as_ref()
                    .expect("format 2 has a seed");
                let mut keys = vec![0; self.rows];
                seed.fill(0, &mut keys);
                Column::Keys(keys)
            }
            Load::StoredRecordKeys => Column::Keys(
                self.parquet::<Int32Type>(dataset::RECORD_KEY)?
                    .into_iter()
                    .map(|k| k as u32)
                    .collect(),
            ),
            Load::Codes(name) => Column::Codes(self.codes(name, 0, radix())?),
            Load::Integer(name, offset) => Column::Codes(self.codes(name, *offset, radix())?),
            Load::HouseholdSize(record, codelist) => {
                let index = self.record_index(record)?;
                let mut size: Vec<i64> = Vec::new();
                for &h in &index {
                    if h as usize == size.len() {
                        size.push(0);
                    }
                    size[h as usize] += 1;
                }
                let list = &self.schema.codelists[*codelist];
                let code_of_size = size
                    .iter()
                    .map(|&n| {
                        list.position_of_value(n).ok_or_else(|| CensusError::Input {
                            file: format!("snapshot {}", self.id),
                            message: format!(
                                "a {record} of {n} persons falls in no range of codelist {}",
                                list.name
                            ),
                        })
                    })
                    .collect::<Result<Vec<u16>, _>>()?;
                Column::Codes(Codes::collect(
                    list.codes.len(),
                    index.iter().map(|&h| code_of_size[h as usize]),
                ))
            }
            Load::UnitFlags(record) => {
                let index = self.record_index(record)?;
                let mut seen = 0u32;
                Column::Flags(
                    index
                        .iter()
                        .map(|&i| {
                            let first = i == seen;
                            seen += first as u32;
                            first
                        })
                        .collect(),
                )
            }
            Load::Raw(name) => Column::Values(self.integers(name)?),
        })
    }

    /// Every column in `needed`, from the cache or loaded once on all threads.
    fn load_all(
        &self,
        needed: &[Load],
        radix_of: &HashMap<Load, usize>,
        cache: &ColumnCache,
        progress: &dyn Progress,
    ) -> Result<HashMap<Load, Arc<Column>>, CensusError> {
        let mut cached = HashMap::new();
        let needed: Vec<&Load> = needed
            .iter()
            .filter(|&load| match cache.get(&self.id, load) {
                Some(column) => cached.insert(load.clone(), column).is_some(),
                None => true,
            })
            .collect();
        progress.start("reading columns", needed.len() as u64);
        let loaded: Mutex<HashMap<Load, Arc<Column>>> = Mutex::new(cached);
        let failure: Mutex<Option<CensusError>> = Mutex::new(None);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(load) = needed.get(i) else { break };
                    match self.load(load, radix_of.get(load).copied()) {
                        Ok(column) => {
                            let column = Arc::new(column);
                            cache.put(&self.id, load, &column);
                            let mut loaded = loaded.lock().expect("no panics while held");
                            loaded.insert((*load).clone(), column);
                        }
                        Err(e) => {
                            failure
                                .lock()
                                .expect("no panics while held")
                                .get_or_insert(e);
                            break;
                        }
                    }
                    progress.advance(1);
                });
            }
        });
        progress.finish();
        if let Some(e) = failure.into_inner().expect("threads joined") {
            return Err(e);
        }
        let loaded = loaded.into_inner().expect("threads joined");
        for (load, column) in &loaded {
            if column.len() != self.rows {
                return Err(self.err(
                    &format!("{load:?}"),
                    format!("{} rows, the dataset has {}", column.len(), self.rows),
                ));
            }
        }
        Ok(loaded)
    }
}

/// Format 2 draws record keys from a seed and stores none; format 1 stores them and
/// has no seed. Anything else is refused rather than tabulated with the wrong keys.
fn check_record_keys(meta: &DatasetMeta) -> Result<(), String> {
    let stored = meta.columns.iter().any(|c| c.name == dataset::RECORD_KEY);
    match (meta.format.as_str(), &meta.record_key_seed, stored) {
        (dataset::FORMAT, Some(_), false) | (dataset::FORMAT_1, None, true) => Ok(()),
        (dataset::FORMAT, ..) => Err(format!(
            "a {} dataset draws its record keys from a record_key_seed and stores none",
            dataset::FORMAT
        )),
        (dataset::FORMAT_1, ..) => Err(format!(
            "a {} dataset stores its record keys in {} and has no seed",
            dataset::FORMAT_1,
            dataset::RECORD_KEY
        )),
        (other, ..) => Err(format!(
            "format {other:?} is neither {:?} nor {:?}",
            dataset::FORMAT,
            dataset::FORMAT_1
        )),
    }
}

/// The record keys (person, household, dwelling identifiers) of a census snapshot's
/// schema: a table with one of them as a dimension shows each record on its own.
pub fn record_keys(
    vault: &Vault,
    keys: &VaultKeys,
    snapshot: &str,
) -> Result<Vec<String>, CensusError> {
    let dataset = Dataset::open(vault, keys, snapshot)?;
    Ok(dataset.schema.records.into_iter().map(|r| r.key).collect())
}

/// Computes the tables of a spec from a census snapshot and writes one table file
/// each into `out_dir`.
pub fn tabulate(
    vault: &Vault,
    keys: &VaultKeys,
    snapshot: &str,
    spec_text: &str,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<TabulateReport, CensusError> {
    tabulate_cached(
        vault,
        keys,
        snapshot,
        spec_text,
        out_dir,
        &ColumnCache::none(),
        progress,
    )
}

/// [`tabulate`], taking columns from `cache` and leaving the ones it reads there.
pub fn tabulate_cached(
    vault: &Vault,
    keys: &VaultKeys,
    snapshot: &str,
    spec_text: &str,
    out_dir: &Path,
    cache: &ColumnCache,
    progress: &dyn Progress,
) -> Result<TabulateReport, CensusError> {
    let spec = Spec::parse(spec_text)?;
    let started = Instant::now();
    let dataset = Dataset::open(vault, keys, snapshot)?;
    let (schema, meta, rows) = (&dataset.schema, &dataset.meta, dataset.rows);
    let snapshot_id = dataset.id.clone();

    // Plan every table; the GEOSTAT table is several cross-tables assembled after.
    let mut planned: Vec<(usize, Planned)> = Vec::new();
    for (t, table) in spec.tables.iter().enumerate() {
        match &table.kind {
            TableKind::CrossTab(c) => {
                planned.push((t, plan_cross_tab(schema, meta, &table.id, &table.title, c)?))
            }
            TableKind::Geostat1km => planned.extend(
                plan_geostat(schema, meta, &table.id)?
                    .into_iter()
                    .map(|p| (t, p)),
            ),
        }
    }

    // Everything to load, each once.
    let leaf = schema.records.len() - 1;
    // Drawn keys are kept as a column only where they can be cached: otherwise the
    // scan draws each block's keys as it goes, with no 4 bytes a row to hold.
    let mut needed: Vec<Load> = Vec::new();
    match meta.record_key_seed {
        None => needed.push(Load::StoredRecordKeys),
        Some(_) if cache.budget > 0 => needed.push(Load::DrawnRecordKeys),
        Some(_) => {}
    }
    for (_, p) in &planned {
        needed.extend(p.dims.iter().map(|d| d.load.clone()));
        needed.extend(p.filters.iter().map(|f| f.0.load.clone()));
        if p.unit != leaf {
            needed.push(Load::UnitFlags(schema.records[p.unit].name.clone()));
        }
        needed.extend(p.sum.iter().map(|s| Load::Raw(s.clone())));
    }
    needed.sort();
    needed.dedup();
    let radix_of: HashMap<Load, usize> = planned
        .iter()
        .flat_map(|(_, p)| p.dims.iter().chain(p.filters.iter().map(|f| &f.0)))
        .map(|v| (v.load.clone(), v.codes.len()))
        .collect();
    let loaded = dataset.load_all(&needed, &radix_of, cache, progress)?;
    let column = |load: &Load| &*loaded[load];
    let codes = |load: &Load| match column(load) {
        Column::Codes(v) => v.as_ref(),
        _ => unreachable!("{load:?} loads codes"),
    };
    let record_keys = match (
        &meta.record_key_seed,
        loaded
            .get(&Load::StoredRecordKeys)
            .or(loaded.get(&Load::DrawnRecordKeys))
            .map(|c| &**c),
    ) {
        (_, Some(Column::Keys(all))) => RecordKeys::Stored(all),
        (Some(seed), _) => RecordKeys::Drawn(seed),
        (None, _) => unreachable!("format 1 loads its stored keys"),
    };
    let reading = started.elapsed().as_secs_f64();

    let scanning = Instant::now();
    let kernel_tables: Vec<KernelTable> = planned
        .iter()
        .map(|(_, p)| KernelTable {
            dims: p
                .dims
                .iter()
                .map(|d| (codes(&d.load), d.codes.len()))
                .collect(),
            filters: p
                .filters
                .iter()
                .map(|(v, keep)| (codes(&v.load), keep.clone()))
                .collect(),
            unit: (p.unit != leaf).then(|| {
                match column(&Load::UnitFlags(schema.records[p.unit].name.clone())) {
                    Column::Flags(v) => v.as_slice(),
                    _ => unreachable!("unit flags load as flags"),
                }
            }),
            sum: p.sum.as_ref().map(|s| match column(&Load::Raw(s.clone())) {
                Column::Values(v) => v.as_slice(),
                _ => unreachable!("sums load as values"),
            }),
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let results = cross_tabulate(rows, &record_keys, &kernel_tables, threads);
    let scanned = scanning.elapsed().as_secs_f64();

    let provenance = Provenance {
        snapshot: snapshot_id.clone(),
        log_head: dataset.files.log_head.to_hex(),
        spec_blake3: blake3::hash(spec_text.as_bytes()).to_hex().to_string(),
        source_blake3: meta.source.blake3.clone(),
        statvault: env!("CARGO_PKG_VERSION").into(),
    };
    let mut by_table: BTreeMap<usize, Vec<(&Planned, Cells)>> = BTreeMap::new();
    for ((t, p), cells) in planned.iter().zip(results) {
        by_table.entry(*t).or_default().push((p, cells));
    }
    fs::create_dir_all(out_dir).map_err(|e| CensusError::io(out_dir.display(), e))?;
    let mut summaries = Vec::new();
    for (t, mut parts) in by_table {
        let spec_table: &TableSpec = &spec.tables[t];
        let table = match spec_table.kind {
            TableKind::Geostat1km => assemble_geostat(
                schema,
                &spec_table.id,
                &spec_table.title,
                &parts,
                &provenance,
            ),
            TableKind::CrossTab(_) => {
                let (p, cells) = parts.pop().expect("one part");
                finish_table(schema, p, cells, &provenance)
            }
        };
        if let Some(broken) = table.broken_bound() {
            return Err(CensusError::Dataset {
                snapshot: snapshot_id.clone(),
                object: format!("table {}", table.id),
                detail: format!("the records break the schema's implications: {broken}"),
            });
        }
        let file = format!("{}.table.json", table.id);
        let target = out_dir.join(&file);
        statvault_vault::atomic::write_file(&target, &table.write())
            .map_err(|e| CensusError::io(target.display(), e))?;
        let total = grand_total(&table);
        summaries.push(TableSummary {
            id: table.id.clone(),
            cells: table.cells(),
            total,
            file,
        });
    }
    Ok(TabulateReport {
        snapshot: snapshot_id,
        rows,
        tables: summaries,
        seconds_reading: reading,
        seconds_scanning: scanned,
    })
}

/// Stored values minus `offset` as codes, each checked against the radix.
fn to_codes<T: Copy + Into<i64>>(values: &[T], offset: i64, radix: usize) -> Result<Codes, String> {
    let code = |v: T| v.into().wrapping_sub(offset);
    match values
        .iter()
        .position(|&v| !(0..radix as i64).contains(&code(v)))
    {
        None => Ok(Codes::collect(
            radix,
            values.iter().map(|&v| code(v) as u16),
        )),
        Some(i) => Err(format!(
            "value {} in row {} outside its {radix} codes",
            values[i].into(),
            i + 1
        )),
    }
}

/// The value of the cell where every dimension is at its total; for tables without
/// totals, the sum of the cells (of the T column, for the GEOSTAT table).
fn grand_total(table: &Table) -> i64 {
    let mut index = 0;
    for d in &table.dimensions {
        let Some(p) = d
            .categories
            .iter()
            .position(|c| c.kind == CategoryKind::Total)
        else {
            let geostat = table
                .dimensions
                .last()
                .is_some_and(|d| d.id == table::GEOSTAT_DIMENSION);
            let step = if geostat { GEOSTAT.len() } else { 1 };
            return table.values.iter().step_by(step).sum();
        };
        index = index * d.categories.len() + p;
    }
    table.values[index]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: a hash-map group-by over rows, one row at a time.
    fn reference(rows: usize, keys: &[u32], t: &KernelTable) -> Cells {
        let mut groups: HashMap<Vec<u16>, (i64, u64, u64)> = HashMap::new();
        for r in 0..rows {
            if t.filters.iter().any(|(c, keep)| !keep[c.get(r) as usize]) {
                continue;
            }
            if t.unit.is_some_and(|u| !u[r]) {
                continue;
            }
            let key: Vec<u16> = t.dims.iter().map(|(c, _)| c.get(r)).collect();
            let g = groups.entry(key).or_default();
            g.0 += t.sum.map_or(1, |s| s[r]);
            g.1 += 1;
            g.2 += keys[r] as u64;
        }
        let n = t.cells();
        let mut out = Cells {
            values: vec![0; n],
            records: vec![0; n],
            key_sums: vec![0; n],
        };
        for (key, (v, c, k)) in groups {
            let mut i = 0;
            for (code, (_, radix)) in key.iter().zip(&t.dims) {
                i = i * radix + *code as usize;
            }
            out.values[i] = v;
            out.records[i] = c;
            out.key_sums[i] = k;
        }
        out
    }

    /// Dimensions, filters (variable, codes kept), whether to use units, sums.
    type TableShape = (Vec<usize>, Vec<(usize, Vec<bool>)>, bool, bool);

    #[derive(Debug, Clone)]
    struct Case {
        rows: usize,
        radices: Vec<usize>,
        columns: Vec<Codes>,
        keys: Vec<u32>,
        unit: Vec<bool>,
        sums: Vec<i64>,
        tables: Vec<TableShape>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (1usize..9000, prop::collection::vec(1usize..12, 1..5)).prop_flat_map(|(rows, radices)| {
            let columns: Vec<_> = radices
                .iter()
                .map(|&r| {
                    (prop::collection::vec(0..r as u16, rows), any::<bool>()).prop_map(
                        move |(codes, narrow)| {
                            if narrow {
                                Codes::Narrow(codes.iter().map(|&c| c as u8).collect())
                            } else {
                                Codes::Wide(codes)
                            }
                        },
                    )
                })
                .collect();
            let v = radices.len();
            let table = (
                prop::sample::subsequence((0..v).collect::<Vec<_>>(), 1..=v).prop_shuffle(),
                prop::collection::vec((0..v, prop::collection::vec(any::<bool>(), 12)), 0..3),
                any::<bool>(),
                any::<bool>(),
            );
            (
                Just(rows),
                Just(radices),
                columns,
                prop::collection::vec(any::<u32>(), rows),
                prop::collection::vec(any::<bool>(), rows),
                prop::collection::vec(-50i64..50, rows),
                prop::collection::vec(table, 1..5),
            )
                .prop_map(|(rows, radices, columns, keys, unit, sums, tables)| Case {
                    rows,
                    radices,
                    columns,
                    keys,
                    unit,
                    sums,
                    tables,
                })
        })
    }

    #[test]
    fn the_column_cache_keeps_the_recently_used_within_its_budget() {
        let column = |n: usize| Arc::new(Column::Codes(Codes::Narrow(vec![1; n])));
        let load = |name: &str| Load::Codes(name.into());
        let cache = ColumnCache::new(250);
        cache.put("s1", &load("a"), &column(100));
        cache.put("s1", &load("b"), &column(100));
        assert!(cache.get("s1", &load("a")).is_some());
        // Over budget: "b", used least recently, goes.
        cache.put("s1", &load("c"), &column(100));
        assert!(cache.get("s1", &load("b")).is_none());
        assert!(cache.get("s1", &load("a")).is_some());
        assert_eq!(cache.bytes(), 200);
        // Another snapshot's column of the same name is another entry.
        assert!(cache.get("s2", &load("a")).is_none());
        // A column larger than the whole budget is not kept.
        cache.put("s1", &load("d"), &column(300));
        assert!(cache.get("s1", &load("d")).is_none());
        cache.clear();
        assert_eq!(cache.bytes(), 0);
        assert!(cache.get("s1", &load("a")).is_none());
        // No cache keeps nothing.
        let none = ColumnCache::none();
        none.put("s1", &load("a"), &column(1));
        assert!(none.get("s1", &load("a")).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn dense_kernel_equals_a_hash_group_by(c in case(), threads in 1usize..4) {
            let tables: Vec<KernelTable> = c.tables.iter().map(|(dims, filters, use_unit, use_sum)| KernelTable {
                dims: dims.iter().map(|&d| (c.columns[d].as_ref(), c.radices[d])).collect(),
                filters: filters.iter().map(|(d, keep)| (c.columns[*d].as_ref(), keep[..c.radices[*d]].to_vec())).collect(),
                unit: use_unit.then_some(c.unit.as_slice()),
                sum: use_sum.then_some(c.sums.as_slice()),
            }).collect();
            let got = cross_tabulate(c.rows, &RecordKeys::Stored(&c.keys), &tables, threads);
            for (t, g) in tables.iter().zip(&got) {
                prop_assert_eq!(g, &reference(c.rows, &c.keys, t));
            }
            // Keys drawn from a seed as the scan goes are the seed's keystream.
            let seed = RecordKeySeed::generate();
            let mut drawn = vec![0; c.rows];
            seed.fill(0, &mut drawn);
            let got = cross_tabulate(c.rows, &RecordKeys::Drawn(&seed), &tables, threads);
            for (t, g) in tables.iter().zip(&got) {
                prop_assert_eq!(g, &reference(c.rows, &drawn, t));
            }
        }

        #[test]
        fn totals_are_the_sums_of_their_parts(data in prop::collection::vec(0i64..1000, 12), a in 1usize..4) {
            // A 2-D table a × (12 / a) with a total on each dimension.
            let b = 12 / a;
            let data = &data[..a * b];
            let map = |n: usize| -> Vec<Vec<usize>> { (0..n).map(|f| vec![0, f + 1]).collect() };
            let once = expand(data, &[a, b], 0, &map(a), a + 1);
            let both = expand(&once, &[a + 1, b], 1, &map(b), b + 1);
            let at = |i: usize, j: usize| both[i * (b + 1) + j];
            prop_assert_eq!(at(0, 0), data.iter().sum::<i64>());
            for i in 0..a {
                prop_assert_eq!(at(i + 1, 0), (0..b).map(|j| data[i * b + j]).sum::<i64>());
            }
            for j in 0..b {
                prop_assert_eq!(at(0, j + 1), (0..a).map(|i| data[i * b + j]).sum::<i64>());
            }
        }
    }
}
