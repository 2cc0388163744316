//! `tabulate`: many cross-tables from one census snapshot in one scan.
//!
//! Census variables are small codelists, so each record's cell in a table is a dense
//! mixed-radix index (Σ code_d × stride_d) into a plain counts array; no hashing. The
//! columns a spec needs are read from the vault once (or taken from a cache), as 8-
//! or 16-bit codes, and every table is computed block by block in the same pass over
//! the rows, split across threads. Totals and subtotals along hierarchies are added
//! afterwards from the finest cells, which is exact and cheap (tables are small next
//! to the data).
//!
//! The steps, each in its own module: `plan` turns the spec into kernel tables of
//! stored columns; `stored` reads, checks, decodes and caches those columns; `kernel`
//! scans; `assemble` adds totals, labels, sums and bounds and makes the table files.

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

/// What `census tabulate` made.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct TabulateReport {
    /// The snapshot tabulated, by id.
    pub snapshot: String,
    /// Rows scanned: records of the leaf type.
    pub rows: usize,
    /// Each table written.
    pub tables: Vec<TableSummary>,
    /// Seconds spent opening the snapshot and reading its columns.
    pub seconds_reading: f64,
    /// Seconds spent scanning.
    pub seconds_scanning: f64,
}

/// One table written.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct TableSummary {
    /// The table's id.
    pub id: String,
    /// Its cells.
    pub cells: usize,
    /// Its grand total: the cell at every dimension's total (a grid without one: the sum
    /// of its cells of persons).
    pub total: i64,
    /// The file's name in the output directory.
    pub file: String,
}

mod assemble;
mod kernel;
mod plan;
mod stored;

use assemble::*;
use kernel::*;
use plan::*;
use stored::*;

pub use assemble::dimension_bounds;
pub use kernel::{cross_tabulate, Cells, KernelTable, RecordKeys};
pub use stored::{ColumnCache, Dataset};

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
    let started = Instant::now();
    let dataset = Dataset::open(vault, keys, snapshot)?;
    tabulate_opened(
        &dataset,
        spec_text,
        out_dir,
        &ColumnCache::none(),
        started,
        progress,
    )
}

/// [`tabulate`] from a snapshot opened already, taking columns from `cache` and
/// leaving the ones it reads there.
pub fn tabulate_cached(
    dataset: &Dataset,
    spec_text: &str,
    out_dir: &Path,
    cache: &ColumnCache,
    progress: &dyn Progress,
) -> Result<TabulateReport, CensusError> {
    tabulate_opened(dataset, spec_text, out_dir, cache, Instant::now(), progress)
}

/// The tabulation proper; `started` is when reading began, the snapshot's opening
/// included where it was opened for this tabulation.
fn tabulate_opened(
    dataset: &Dataset,
    spec_text: &str,
    out_dir: &Path,
    cache: &ColumnCache,
    started: Instant,
    progress: &dyn Progress,
) -> Result<TabulateReport, CensusError> {
    let spec = Spec::parse(spec_text)?;
    let planned = plan_all(&spec, dataset)?;
    let (needed, radix_of) = columns_needed(&planned, dataset, cache.budget > 0);
    let loaded = dataset.load_all(&needed, &radix_of, cache, progress)?;
    let reading = started.elapsed().as_secs_f64();

    let scanning = Instant::now();
    let record_keys = record_keys_of(dataset, &loaded);
    let kernel_tables = kernel_tables(&planned, &dataset.schema, &loaded);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let results = cross_tabulate(dataset.rows, &record_keys, &kernel_tables, threads);
    let scanned = scanning.elapsed().as_secs_f64();

    let provenance = Provenance {
        snapshot: dataset.id.clone(),
        log_head: dataset.files.log_head.to_hex(),
        spec_blake3: blake3::hash(spec_text.as_bytes()).to_hex().to_string(),
        source_blake3: dataset.meta.source.blake3.clone(),
        statvault: env!("CARGO_PKG_VERSION").into(),
    };
    let tables = write_tables(&spec, dataset, &planned, results, &provenance, out_dir)?;
    Ok(TabulateReport {
        snapshot: dataset.id.clone(),
        rows: dataset.rows,
        tables,
        seconds_reading: reading,
        seconds_scanning: scanned,
    })
}

/// Every table of the spec as the kernel computes it, with the index of its table in
/// the spec: the GEOSTAT table is several cross-tables, assembled after the scan.
fn plan_all(spec: &Spec, dataset: &Dataset) -> Result<Vec<(usize, Planned)>, CensusError> {
    let (schema, meta) = (&dataset.schema, &dataset.meta);
    let mut planned = Vec::new();
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
    Ok(planned)
}

/// Every column the planned tables read, each once, and the number of codes of each
/// column of codes. Drawn record keys become a column only where a cache keeps them:
/// otherwise the scan draws each block's keys as it goes, with no 4 bytes a row to
/// hold.
fn columns_needed(
    planned: &[(usize, Planned)],
    dataset: &Dataset,
    cached: bool,
) -> (Vec<Load>, HashMap<Load, usize>) {
    let schema = &dataset.schema;
    let leaf = schema.records.len() - 1;
    let mut needed: Vec<Load> = Vec::new();
    match dataset.meta.record_key_seed {
        None => needed.push(Load::StoredRecordKeys),
        Some(_) if cached => needed.push(Load::DrawnRecordKeys),
        Some(_) => {}
    }
    for (_, p) in planned {
        needed.extend(p.dims.iter().map(|d| d.load.clone()));
        needed.extend(p.filters.iter().map(|f| f.0.load.clone()));
        if p.unit != leaf {
            needed.push(Load::UnitFlags(schema.records[p.unit].name.clone()));
        }
        needed.extend(p.sum.iter().map(|s| Load::Raw(s.clone())));
    }
    needed.sort();
    needed.dedup();
    let radix_of = planned
        .iter()
        .flat_map(|(_, p)| p.dims.iter().chain(p.filters.iter().map(|f| &f.0)))
        .map(|v| (v.load.clone(), v.codes.len()))
        .collect();
    (needed, radix_of)
}

/// The record keys the scan adds up: a loaded column (stored, or drawn and cached),
/// else drawn from the seed block by block.
fn record_keys_of<'a>(
    dataset: &'a Dataset,
    loaded: &'a HashMap<Load, Arc<Column>>,
) -> RecordKeys<'a> {
    let column = loaded
        .get(&Load::StoredRecordKeys)
        .or(loaded.get(&Load::DrawnRecordKeys));
    match (&dataset.meta.record_key_seed, column.map(|c| &**c)) {
        (_, Some(Column::Keys(all))) => RecordKeys::Stored(all),
        (Some(seed), _) => RecordKeys::Drawn(seed),
        (None, _) => unreachable!("format 1 loads its stored keys"),
    }
}

/// The planned tables over the loaded columns.
fn kernel_tables<'a>(
    planned: &[(usize, Planned)],
    schema: &Schema,
    loaded: &'a HashMap<Load, Arc<Column>>,
) -> Vec<KernelTable<'a>> {
    let leaf = schema.records.len() - 1;
    let column = |load: &Load| &*loaded[load];
    let codes = |load: &Load| match column(load) {
        Column::Codes(v) => v.as_ref(),
        _ => unreachable!("{load:?} loads codes"),
    };
    planned
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
        .collect()
}

/// Assembles each table from its cells, checks it against the schema's implications
/// and writes it into `out_dir`.
fn write_tables(
    spec: &Spec,
    dataset: &Dataset,
    planned: &[(usize, Planned)],
    results: Vec<Cells>,
    provenance: &Provenance,
    out_dir: &Path,
) -> Result<Vec<TableSummary>, CensusError> {
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
                &dataset.schema,
                &spec_table.id,
                &spec_table.title,
                &parts,
                provenance,
            ),
            TableKind::CrossTab(_) => {
                let (p, cells) = parts.pop().expect("one part");
                finish_table(&dataset.schema, p, cells, provenance)
            }
        };
        if let Some(broken) = table.broken_bound() {
            return Err(dataset.err(
                &format!("table {}", table.id),
                format!("the records break the schema's implications: {broken}"),
            ));
        }
        let file = format!("{}.table.json", table.id);
        let target = out_dir.join(&file);
        statvault_vault::atomic::write_file(&target, &table.write())
            .map_err(|e| CensusError::io(target.display(), e))?;
        summaries.push(TableSummary {
            id: table.id.clone(),
            cells: table.cells(),
            total: grand_total(&table),
            file,
        });
    }
    Ok(summaries)
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
