//! `census ingest`: checks every record of a CSV or Parquet file against a schema and,
//! only if all are valid, stores them in the vault as a new snapshot of columns:
//! codes and bounded integers packed, identifiers and coordinates in Parquet, and the
//! seed of the record keys.
//!
//! The input is rectangular: one row per record of the leaf type (person), carrying
//! the keys and variables of the records above it (household, dwelling). Checks:
//! types, codes in codelists, ranges, missing values, unique leaf keys, every row of
//! a household (dwelling) agreeing on the household's (dwelling's) variables and
//! parent, codes agreeing with their hierarchy (a municipality's county), derived
//! variables defined. Reading streams batch by batch; memory holds the column buffers
//! of one row group and one entry per key for the uniqueness and consistency checks.

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufWriter, Read};
use std::path::Path;
use std::time::Instant;

use statvault_crypto::{RecordKeySeed, VaultKeys, MAX_RECORD_KEY_ROWS};
use statvault_vault::{add, AddOptions, NoProgress, Progress, Vault};

use crate::columns::{ColumnsWriter, Values};
use crate::dataset::{self, ColumnKind, DatasetMeta, Packing, RecordCount, StoredColumn};
use crate::grid::{cell_id, Laea};
use crate::input::{InputReader, TextBatch};
use crate::packed::{bits_for, PackedWriter};
use crate::schema::{DerivedRule, Schema, VarType};
use crate::{CensusError, ValidationReport};

const BATCH_ROWS: usize = 1 << 16;
const ROW_GROUP_ROWS: usize = 1 << 18;
/// Cells of the 1 km grid a dataset may hold: their codes are packed in 16 bits.
const MAX_GRID_CELLS: usize = 1 << 16;

/// How `ingest` reports.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Examples shown per kind of error.
    pub max_examples: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { max_examples: 5 }
    }
}

/// What `census ingest` stored.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct IngestReport {
    /// The new snapshot's id.
    pub snapshot: String,
    /// The log entry that committed it.
    pub log_seq: u64,
    /// The log's head after it, in hex.
    pub log_head: String,
    /// Records of each type.
    pub records: Vec<RecordCount>,
    /// Distinct 1 km grid cells, where the census has coordinates.
    pub grid_cells: usize,
    /// Bytes the snapshot added to the vault.
    pub stored_bytes: u64,
    /// Seconds the ingest took.
    pub seconds: f64,
}

impl IngestReport {
    /// "728609 dwellings, 751244 households, 2402113 persons".
    pub fn counts(&self) -> String {
        self.records
            .iter()
            .map(|r| format!("{} {}s", r.count, r.record))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A fast hasher for integer keys (Fibonacci hashing); keys come from our own parse,
/// and the tables never face adversarial collisions worth more than a slow ingest.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.0 = (i as u64 ^ self.0)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// The records of one non-leaf type (household, dwelling) seen so far.
struct Parents {
    record: usize,
    key_var: usize,
    /// Variables of this record type, and the key of its parent record, compared on
    /// every row of the record.
    compared: Vec<usize>,
    index: IdMap<u32>,
    first_position: Vec<u64>,
    values: Vec<u64>,
}

/// One output column: its buffer for the current row group and its file.
struct OutColumn {
    name: String,
    kind: ColumnKind,
    values: Values,
    sink: Sink,
}

/// Where a column's buffered values go.
enum Sink {
    Parquet(ColumnsWriter<BufWriter<File>>),
    /// Codes (INT32 buffers) or bounded integers (INT64 buffers) minus the offset.
    Packed(PackedWriter<BufWriter<File>>, Packing),
}

impl OutColumn {
    fn file(&self) -> String {
        match self.sink {
            Sink::Parquet(_) => dataset::column_file(&self.name),
            Sink::Packed(..) => dataset::packed_file(&self.name),
        }
    }
}

/// How a variable with `count` possible values is stored: packed if it fits 16 bits.
fn packing(count: u64, offset: i64) -> Option<Packing> {
    bits_for(count).map(|bits| Packing { bits, offset })
}

/// Validates census microdata (`input`, CSV or Parquet) against the schema and stores
/// it in the vault as a census dataset snapshot (`docs/census-schema.md` §2). Any
/// record that breaks the schema stops it before anything is committed, with a report
/// of every kind of error.
pub fn ingest(
    vault: &Vault,
    keys: &VaultKeys,
    schema_text: &str,
    input: &Path,
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport, CensusError> {
    let started = Instant::now();
    let schema = Schema::parse(schema_text)?;
    let mut reader = InputReader::open(input)?;
    let file_name = reader.name().to_string();
    let input_err = |message: String| CensusError::Input {
        file: file_name.clone(),
        message,
    };

    let column_of = input_columns(&schema, reader.header(), &input_err)?;

    // On the vault's own storage, and removed by the next ingest or gc if this one is
    // killed: the census never lingers in /tmp.
    let staging = vault.staging()?;
    let root = staging.path().join(dataset::ROOT);
    let columns_dir = root.join("columns");
    fs::create_dir_all(&columns_dir).map_err(|e| CensusError::io(columns_dir.display(), e))?;

    let leaf = schema.records.len() - 1;
    let Outputs {
        mut out,
        vars: var_out,
        derived: stored_derived,
        indexes: index_out,
        mut parents,
    } = Outputs::create(&schema, &root)?;
    let leaf_key = schema
        .variable(&schema.records[leaf].key)
        .expect("checked by the schema");

    // Codes that must agree with their hierarchy: (variable, ancestor variable, table).
    let hierarchy_checks: Vec<(usize, usize, Vec<u16>)> = code_pairs(&schema);
    let range_lookup: Vec<Option<RangeLookup>> = schema
        .derived
        .iter()
        .map(|d| match d.rule {
            DerivedRule::Ranges { source, codelist } => {
                Some(RangeLookup::new(&schema, source, codelist))
            }
            _ => None,
        })
        .collect();
    let mut grid = GridCells::default();
    let mut leaf_keys: IdMap<u64> = IdMap::default();

    let mut report = ValidationReport::new(file_name.clone(), opts.max_examples);
    let word = reader.position_word();
    let mut batch = TextBatch::default();
    let mut parsed: Vec<Parsed> = vec![Parsed::default(); schema.variables.len()];
    let mut records = 0u64;
    progress.start("checking", reader.size());
    let mut consumed = 0;
    while reader.next_batch(&mut batch, BATCH_ROWS, &mut report)? {
        let rows = batch.rows();
        records += rows as u64;
        let mut ok: Vec<bool> = batch.broken.iter().map(|b| !b).collect();
        for (v, p) in parsed.iter_mut().enumerate() {
            p.parse(&schema, v, &batch, column_of[v], &mut ok, &mut report, word);
        }

        for (row, &valid) in ok.iter().enumerate() {
            if !valid {
                // Still push placeholders so that columns stay aligned; the run fails.
                push_placeholders(&mut out, &var_out, &stored_derived, &index_out);
                continue;
            }
            let checked = Row {
                schema: &schema,
                parsed: &parsed,
                batch: &batch,
                row,
                column_of: &column_of,
                word,
            };
            // Unique leaf key.
            let key = parsed[leaf_key].int(row);
            if let Some(first) = leaf_keys.insert(key, batch.positions[row]) {
                report.add(
                    &schema.variables[leaf_key].name,
                    &format!("duplicate key of a {}", schema.records[leaf].name),
                    || format!("{} (first at {word} {first})", checked.at(leaf_key)),
                    key.to_string().as_bytes(),
                );
            }
            for (p, parent) in parents.iter_mut().enumerate() {
                let i = parent.record_row(&checked, &mut report);
                out[index_out[p]].values.push_i32(i as i32);
            }
            checked.check_hierarchies(&hierarchy_checks, &mut report);
            checked.check_implications(&mut report);
            for (v, &o) in var_out.iter().enumerate() {
                parsed[v].push_to(row, &mut out[o].values);
            }
            for &(d, o) in &stored_derived {
                let code = match (&schema.derived[d].rule, &range_lookup[d]) {
                    (DerivedRule::Ranges { source, .. }, Some(lookup)) => {
                        let value = parsed[*source].int(row);
                        match lookup.get(value) {
                            Some(code) => code as i32,
                            None => {
                                report.add(
                                    &schema.variables[*source].name,
                                    &format!(
                                        "no code of derived {} covers the value",
                                        schema.derived[d].name
                                    ),
                                    || checked.at(*source),
                                    value.to_string().as_bytes(),
                                );
                                0
                            }
                        }
                    }
                    _ => {
                        let c = schema.coordinates.as_ref().expect("checked by the schema");
                        let (lat, lon) = (
                            parsed[c.latitude].float(row),
                            parsed[c.longitude].float(row),
                        );
                        grid.code(lat, lon).map_err(input_err)? as i32
                    }
                };
                out[o].values.push_i32(code);
            }
        }
        if out[0].values.len() >= ROW_GROUP_ROWS {
            flush(&mut out)?;
        }
        let now = reader.consumed();
        progress.advance(now - consumed);
        consumed = now;
    }
    progress.finish();
    if records == 0 {
        return Err(input_err(
            "no records: the file has a header but no rows".into(),
        ));
    }
    report.records = records;
    if !report.is_empty() {
        return Err(CensusError::Invalid(Box::new(report)));
    }
    flush(&mut out)?;

    if records > MAX_RECORD_KEY_ROWS {
        return Err(input_err(format!(
            "{records} records; a census dataset holds at most {MAX_RECORD_KEY_ROWS}"
        )));
    }
    let columns = finish_columns(out, &root)?;
    // The source file's hash, for provenance (read again: cheap next to validation).
    let source_blake3 = hash_file(input, &file_name)?;
    let mut counts: Vec<RecordCount> = parents
        .iter()
        .map(|p| RecordCount {
            record: schema.records[p.record].name.clone(),
            count: p.first_position.len() as u64,
        })
        .collect();
    counts.push(RecordCount {
        record: schema.records[leaf].name.clone(),
        count: records,
    });
    let meta = DatasetMeta {
        format: dataset::FORMAT.into(),
        source: dataset::Source {
            file: input
                .file_name()
                .map_or_else(|| file_name.clone(), |n| n.to_string_lossy().into_owned()),
            bytes: reader.size(),
            blake3: source_blake3,
        },
        records: counts.clone(),
        columns,
        grid_1km: grid.ids,
        record_key_seed: Some(RecordKeySeed::generate()),
        ingested_at: statvault_vault::now_secs(),
        statvault: env!("CARGO_PKG_VERSION").into(),
    };
    let write = |name: &str, bytes: &[u8]| {
        let path = root.join(name);
        fs::write(&path, bytes).map_err(|e| CensusError::io(path.display(), e))
    };
    write(dataset::SCHEMA_FILE, schema_text.as_bytes())?;
    write(
        dataset::META_FILE,
        &serde_json::to_vec_pretty(&meta).expect("serializable"),
    )?;
    let added = add(
        vault,
        keys,
        &[root],
        &AddOptions {
            tags: vec![dataset::TAG.into()],
            strict: true,
            ..AddOptions::default()
        },
        &NoProgress,
    )?;
    Ok(IngestReport {
        snapshot: added.snapshot.to_hex(),
        log_seq: added.log_seq,
        log_head: added.log_head.to_hex(),
        records: counts,
        grid_cells: meta.grid_1km.len(),
        stored_bytes: added.stored_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One valid-so-far input row, for the checks that span variables.
struct Row<'a> {
    schema: &'a Schema,
    parsed: &'a [Parsed],
    batch: &'a TextBatch,
    row: usize,
    column_of: &'a [usize],
    word: &'static str,
}

impl Row<'_> {
    /// "line 12, column 3" (or "row …" for Parquet) of variable `v`.
    fn at(&self, v: usize) -> String {
        format!(
            "{} {}, column {}",
            self.word,
            self.batch.positions[self.row],
            self.column_of[v] + 1
        )
    }

    fn text(&self, v: usize) -> &[u8] {
        self.batch.columns[self.column_of[v]].get(self.row)
    }

    /// Codes agree with their hierarchy (a municipality's county).
    fn check_hierarchies(&self, pairs: &[(usize, usize, Vec<u16>)], report: &mut ValidationReport) {
        let (schema, parsed, row) = (self.schema, self.parsed, self.row);
        for (a, b, table) in pairs {
            if table[parsed[*a].code(row) as usize] != parsed[*b].code(row) {
                report.add(
                    &schema.variables[*b].name,
                    &format!(
                        "is not the {} of the {}",
                        schema.variables[*b].name, schema.variables[*a].name
                    ),
                    || self.at(*b),
                    &[self.text(*b), b" for ", self.text(*a)].concat(),
                );
            }
        }
    }

    /// The schema's implications hold (the born-this-year are under 15).
    fn check_implications(&self, report: &mut ValidationReport) {
        let (schema, parsed, row) = (self.schema, self.parsed, self.row);
        let value = |v: usize| match schema.variables[v].ty {
            VarType::Code(_) => i64::from(parsed[v].code(row)),
            _ => parsed[v].int(row),
        };
        for (n, implication) in schema.implications.iter().enumerate() {
            let (when, then) = (&implication.when, &implication.then);
            if when.values.contains(value(when.variable))
                && !then.values.contains(value(then.variable))
            {
                report.add(
                    &schema.variables[then.variable].name,
                    &format!(
                        "breaks implication {} of the schema: {} gives {}",
                        n + 1,
                        when.describe(schema),
                        then.describe(schema)
                    ),
                    || self.at(then.variable),
                    &[
                        self.text(then.variable),
                        b" with ",
                        self.text(when.variable),
                    ]
                    .concat(),
                );
            }
        }
    }
}

impl Parents {
    /// The dense index of the row's record of this type; every row of a record must
    /// agree on the record's variables and parent.
    fn record_row(&mut self, row: &Row, report: &mut ValidationReport) -> u32 {
        let (schema, parsed, r) = (row.schema, row.parsed, row.row);
        let key = parsed[self.key_var].int(r);
        let next = self.first_position.len() as u32;
        let i = *self.index.entry(key).or_insert(next);
        let stride = self.compared.len();
        if i == next {
            self.first_position.push(row.batch.positions[r]);
            self.values
                .extend(self.compared.iter().map(|&v| parsed[v].bits(r)));
            return i;
        }
        let first = self.first_position[i as usize];
        let record = &schema.records[self.record];
        for (k, &v) in self.compared.iter().enumerate() {
            if self.values[i as usize * stride + k] != parsed[v].bits(r) {
                report.add(
                    &schema.variables[v].name,
                    &format!(
                        "differs between rows of the same {} ({})",
                        record.name, record.key
                    ),
                    || {
                        format!(
                            "{} ({} {key} first at {} {first})",
                            row.at(v),
                            record.key,
                            row.word
                        )
                    },
                    row.text(v),
                );
            }
        }
        i
    }
}

/// Which input column holds each variable; every column must be a variable.
fn input_columns(
    schema: &Schema,
    header: &[String],
    input_err: &dyn Fn(String) -> CensusError,
) -> Result<Vec<usize>, CensusError> {
    let missing: Vec<&str> = schema
        .variables
        .iter()
        .filter(|v| !header.contains(&v.name))
        .map(|v| v.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(input_err(format!(
            "the schema's variables {} have no column in the header",
            missing.join(", ")
        )));
    }
    if let Some(extra) = header.iter().find(|h| schema.variable(h).is_none()) {
        return Err(input_err(format!(
            "column {extra:?} is not a variable of the schema"
        )));
    }
    Ok(schema
        .variables
        .iter()
        .map(|v| header.iter().position(|h| h == &v.name).expect("checked"))
        .collect())
}

/// The stored columns being written, by what fills them, and the records of each
/// non-leaf type seen so far.
struct Outputs {
    out: Vec<OutColumn>,
    /// The output column of each schema variable.
    vars: Vec<usize>,
    /// Each stored derived variable and its output column.
    derived: Vec<(usize, usize)>,
    /// The record index column of each non-leaf record type.
    indexes: Vec<usize>,
    parents: Vec<Parents>,
}

impl Outputs {
    /// Creates every column file under `root`. Codes and bounded integers (age) are
    /// packed; keys and coordinates, with nearly as many values as rows, are Parquet
    /// without a dictionary.
    fn create(schema: &Schema, root: &Path) -> Result<Outputs, CensusError> {
        let mut out = Vec::new();
        let mut new_column = |name: &str,
                              kind: ColumnKind,
                              values: Values,
                              packed: Option<Packing>| {
            let file = match packed {
                Some(_) => dataset::packed_file(name),
                None => dataset::column_file(name),
            };
            let path = root.join(file);
            let file = File::create(&path).map_err(|e| CensusError::io(path.display(), e))?;
            let sink = match packed {
                Some(p) => Sink::Packed(PackedWriter::new(BufWriter::new(file), p.bits), p),
                None => Sink::Parquet(
                    ColumnsWriter::new(BufWriter::new(file), &[(name, &values)], false, false)
                        .map_err(|e| CensusError::io(path.display(), std::io::Error::other(e)))?,
                ),
            };
            out.push(OutColumn {
                name: name.to_string(),
                kind,
                values,
                sink,
            });
            Ok::<usize, CensusError>(out.len() - 1)
        };
        let vars = schema
            .variables
            .iter()
            .map(|v| {
                let (values, packed) = match v.ty {
                    VarType::Code(l) => (
                        Values::I32(Vec::new()),
                        packing(schema.codelists[l].codes.len() as u64, 0),
                    ),
                    VarType::Integer { min, max } => (
                        Values::I64(Vec::new()),
                        max.checked_sub(min)
                            .filter(|_| !schema.records.iter().any(|r| r.key == v.name))
                            .and_then(|w| packing(w as u64 + 1, min)),
                    ),
                    VarType::Decimal { .. } => (Values::F64(Vec::new()), None),
                };
                new_column(&v.name, ColumnKind::Variable, values, packed)
            })
            .collect::<Result<_, _>>()?;
        let derived = schema
            .derived
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let count = match d.rule {
                    DerivedRule::Ranges { codelist, .. } => schema.codelists[codelist].codes.len(),
                    DerivedRule::Grid1km => MAX_GRID_CELLS,
                    DerivedRule::HouseholdSize { .. } => return None,
                };
                let values = Values::I32(Vec::new());
                Some(
                    new_column(
                        &d.name,
                        ColumnKind::Derived,
                        values,
                        packing(count as u64, 0),
                    )
                    .map(|o| (i, o)),
                )
            })
            .collect::<Result<_, CensusError>>()?;
        let leaf = schema.records.len() - 1;
        let (mut parents, mut indexes) = (Vec::new(), Vec::new());
        for (r, record) in schema.records.iter().enumerate().take(leaf) {
            let mut compared: Vec<usize> = (0..schema.variables.len())
                .filter(|&v| {
                    schema.variables[v].record == r && schema.variables[v].name != record.key
                })
                .collect();
            if let Some(p) = record.parent {
                compared.push(
                    schema
                        .variable(&schema.records[p].key)
                        .expect("checked by the schema"),
                );
            }
            parents.push(Parents {
                record: r,
                key_var: schema.variable(&record.key).expect("checked by the schema"),
                compared,
                index: IdMap::default(),
                first_position: Vec::new(),
                values: Vec::new(),
            });
            indexes.push(new_column(
                &dataset::record_index_column(&record.name),
                ColumnKind::RecordIndex,
                Values::I32(Vec::new()),
                None,
            )?);
        }
        Ok(Outputs {
            out,
            vars,
            derived,
            indexes,
            parents,
        })
    }
}

/// The 1 km grid cells the records lie in, coded in order of first appearance.
#[derive(Default)]
struct GridCells {
    laea: Laea,
    codes: HashMap<(i64, i64), u32>,
    /// Each code's cell id.
    ids: Vec<String>,
    /// The last point and its code: consecutive persons mostly share a dwelling.
    last: Option<(f64, f64, u32)>,
}

impl GridCells {
    fn code(&mut self, lat: f64, lon: f64) -> Result<u32, String> {
        if let Some((a, b, code)) = self.last {
            if (a, b) == (lat, lon) {
                return Ok(code);
            }
        }
        let cell = self.laea.cell(lat, lon);
        let next = self.ids.len() as u32;
        let code = *self.codes.entry(cell).or_insert(next);
        if code == next {
            if self.ids.len() == MAX_GRID_CELLS {
                return Err(format!(
                    "the records lie in more than {MAX_GRID_CELLS} cells of the 1 km grid, the most a census dataset holds"
                ));
            }
            self.ids.push(cell_id(cell));
        }
        self.last = Some((lat, lon, code));
        Ok(code)
    }
}

/// Closes every column file, synced, and lists them for the dataset's metadata.
fn finish_columns(out: Vec<OutColumn>, root: &Path) -> Result<Vec<StoredColumn>, CensusError> {
    let mut columns = Vec::new();
    for column in out {
        let file = column.file();
        let path = root.join(&file);
        let packed = match column.sink {
            Sink::Parquet(writer) => writer
                .finish()
                .map_err(std::io::Error::other)
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .and_then(|f| f.sync_all())
                .map(|()| None),
            Sink::Packed(writer, packing) => writer
                .finish()
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .and_then(|f| f.sync_all())
                .map(|()| Some(packing)),
        }
        .map_err(|e| CensusError::io(path.display(), e))?;
        columns.push(StoredColumn {
            file,
            name: column.name,
            kind: column.kind,
            packed,
        });
    }
    Ok(columns)
}

/// The BLAKE3 hash of a file, in hex.
fn hash_file(path: &Path, name: &str) -> Result<String, CensusError> {
    let mut hasher = blake3::Hasher::new();
    let mut source = File::open(path).map_err(|e| CensusError::io(name, e))?;
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = source
            .read(&mut buf)
            .map_err(|e| CensusError::io(name, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn flush(out: &mut [OutColumn]) -> Result<(), CensusError> {
    if out.first().is_some_and(|c| c.values.len() == 0) {
        return Ok(());
    }
    for column in out.iter_mut() {
        let written = match &mut column.sink {
            Sink::Parquet(writer) => writer
                .write_row_group(&[&column.values])
                .map_err(std::io::Error::other),
            Sink::Packed(writer, packing) => {
                // Rows of a failed ingest hold placeholders, which may lie outside the
                // width; they are stored as 0 in files the run then discards.
                let limit = 1i64 << packing.bits;
                let packed = |v: i64| {
                    let v = v - packing.offset;
                    if (0..limit).contains(&v) {
                        v as u16
                    } else {
                        0
                    }
                };
                match &column.values {
                    Values::I32(v) => v.iter().try_for_each(|&x| writer.push(packed(x.into()))),
                    Values::I64(v) => v.iter().try_for_each(|&x| writer.push(packed(x))),
                    _ => unreachable!("packed columns buffer integers"),
                }
            }
        };
        written.map_err(|e| CensusError::io(column.file(), e))?;
        column.values.clear();
    }
    Ok(())
}

fn push_placeholders(
    out: &mut [OutColumn],
    var_out: &[usize],
    derived: &[(usize, usize)],
    index_out: &[usize],
) {
    let all = var_out
        .iter()
        .chain(derived.iter().map(|(_, o)| o))
        .chain(index_out);
    for &o in all {
        match &mut out[o].values {
            Values::I32(v) => v.push(0),
            Values::I64(v) => v.push(0),
            Values::F64(v) => v.push(0.0),
            Values::Text(_) => unreachable!("no text columns in a stored dataset"),
        }
    }
}

/// Pairs of code variables where the second's codelist is an ancestor of the first's,
/// with the expected ancestor code for each code of the first.
fn code_pairs(schema: &Schema) -> Vec<(usize, usize, Vec<u16>)> {
    let mut pairs = Vec::new();
    for (a, va) in schema.variables.iter().enumerate() {
        let VarType::Code(la) = va.ty else { continue };
        let ancestors = schema.ancestors(la);
        for (b, vb) in schema.variables.iter().enumerate() {
            let VarType::Code(lb) = vb.ty else { continue };
            if ancestors.contains(&lb) {
                let table = (0..schema.codelists[la].codes.len() as u16)
                    .map(|c| {
                        schema
                            .ancestor_code(la, c, lb)
                            .expect("every code has a parent")
                    })
                    .collect();
                pairs.push((a, b, table));
            }
        }
    }
    pairs
}

/// Maps an integer to the code whose range holds it: a table for small domains.
struct RangeLookup {
    min: i64,
    table: Vec<Option<u16>>,
    codelist: crate::schema::Codelist,
}

impl RangeLookup {
    fn new(schema: &Schema, source: usize, codelist: usize) -> RangeLookup {
        let list = schema.codelists[codelist].clone();
        match schema.variables[source].ty {
            VarType::Integer { min, max } if max.saturating_sub(min) < 1 << 20 => RangeLookup {
                min,
                table: (min..=max).map(|v| list.position_of_value(v)).collect(),
                codelist: list,
            },
            _ => RangeLookup {
                min: 0,
                table: Vec::new(),
                codelist: list,
            },
        }
    }

    fn get(&self, value: i64) -> Option<u16> {
        if self.table.is_empty() {
            return self.codelist.position_of_value(value);
        }
        let i = value.checked_sub(self.min)?;
        *self.table.get(usize::try_from(i).ok()?)?
    }
}

/// One variable's parsed values for a batch.
#[derive(Clone, Debug, Default)]
enum Parsed {
    #[default]
    None,
    Code(Vec<u16>),
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Parsed {
    /// Parses column `c` of the batch as variable `v`; a cell that fails marks its
    /// row not ok and goes to the report.
    #[allow(clippy::too_many_arguments)]
    fn parse(
        &mut self,
        schema: &Schema,
        v: usize,
        batch: &TextBatch,
        c: usize,
        ok: &mut [bool],
        report: &mut ValidationReport,
        word: &str,
    ) {
        let var = &schema.variables[v];
        let column = &batch.columns[c];
        let parent_record = schema
            .records
            .iter()
            .enumerate()
            .find(|(r, rec)| rec.key == var.name && *r + 1 < schema.records.len());
        let missing_rule = match parent_record {
            Some((_, rec)) => format!(
                "missing: every row must belong to a {} (foreign key)",
                rec.name
            ),
            None => "missing value".to_string(),
        };
        // Every cell through `parse` into `out` (0 where it fails, the run fails then).
        let mut each = |out: &mut dyn FnMut(usize, &str) -> Result<(), String>| {
            for (row, row_ok) in ok.iter_mut().enumerate() {
                if batch.broken[row] {
                    continue;
                }
                let text = std::str::from_utf8(column.get(row))
                    .map(|s| s.trim_matches([' ', '\t']))
                    .unwrap_or_default();
                let failed = match text {
                    "" => Some(missing_rule.clone()),
                    t => out(row, t).err(),
                };
                if let Some(rule) = failed {
                    *row_ok = false;
                    report.add(
                        &var.name,
                        &rule,
                        || format!("{word} {}, column {}", batch.positions[row], c + 1),
                        column.get(row),
                    );
                }
            }
        };
        let rows = batch.rows();
        match var.ty {
            VarType::Code(l) => {
                let list = &schema.codelists[l];
                let mut values = vec![0u16; rows];
                each(&mut |row, t| {
                    values[row] = list
                        .position(t)
                        .ok_or_else(|| format!("not a code of codelist {}", list.name))?;
                    Ok(())
                });
                *self = Parsed::Code(values);
            }
            VarType::Integer { min, max } => {
                let mut values = vec![0i64; rows];
                each(&mut |row, t| {
                    let n = t.parse::<i64>().map_err(|_| "not an integer".to_string())?;
                    if !(min..=max).contains(&n) {
                        return Err(format!("out of range {}–{}", bound(min), bound(max)));
                    }
                    values[row] = n;
                    Ok(())
                });
                *self = Parsed::Int(values);
            }
            VarType::Decimal { min, max } => {
                let mut values = vec![0f64; rows];
                each(&mut |row, t| {
                    let x = t
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| "not a number".to_string())?;
                    if !(min..=max).contains(&x) {
                        return Err(format!("out of range {min}–{max}"));
                    }
                    values[row] = x;
                    Ok(())
                });
                *self = Parsed::Float(values);
            }
        }
    }

    fn code(&self, row: usize) -> u16 {
        match self {
            Parsed::Code(v) => v[row],
            _ => unreachable!("a code variable"),
        }
    }

    fn int(&self, row: usize) -> i64 {
        match self {
            Parsed::Int(v) => v[row],
            _ => unreachable!("an integer variable"),
        }
    }

    fn float(&self, row: usize) -> f64 {
        match self {
            Parsed::Float(v) => v[row],
            _ => unreachable!("a decimal variable"),
        }
    }

    /// The value as 64 bits, for comparing rows.
    fn bits(&self, row: usize) -> u64 {
        match self {
            Parsed::Code(v) => v[row] as u64,
            Parsed::Int(v) => v[row] as u64,
            Parsed::Float(v) => v[row].to_bits(),
            Parsed::None => 0,
        }
    }

    fn push_to(&self, row: usize, out: &mut Values) {
        match (self, out) {
            (Parsed::Code(v), Values::I32(o)) => o.push(v[row] as i32),
            (Parsed::Int(v), Values::I64(o)) => o.push(v[row]),
            (Parsed::Float(v), Values::F64(o)) => o.push(v[row]),
            _ => unreachable!("output columns match the variable types"),
        }
    }
}

fn bound(b: i64) -> String {
    match b {
        i64::MIN => "−∞".into(),
        i64::MAX => "∞".into(),
        b => b.to_string(),
    }
}
