//! Columns of a stored census dataset: read, checked, decoded and cached.

use super::*;

/// A column loaded from the snapshot, one value per row: microdata, wiped when
/// dropped.
pub(super) enum Column {
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
    pub(super) budget: usize,
    pub(super) held: Mutex<HeldColumns>,
}

#[derive(Default)]
pub(super) struct HeldColumns {
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
/// checked once. Whatever is decided about the snapshot (which records are keys, what
/// may be tabulated) is decided on this one opening and tabulated from it, so that a
/// name such as `latest` cannot mean one snapshot when checked and another when read.
pub struct Dataset<'a> {
    pub(super) files: SnapshotFiles<'a>,
    pub(super) meta: DatasetMeta,
    pub(super) schema: Schema,
    /// Rows of every column: records of the leaf type.
    pub(super) rows: usize,
    pub(super) id: String,
}

impl<'a> Dataset<'a> {
    /// Opens `snapshot` (an id, a prefix or `latest`) under the vault's current log.
    pub fn open(
        vault: &'a Vault,
        keys: &'a VaultKeys,
        snapshot: &str,
    ) -> Result<Self, CensusError> {
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

    /// The snapshot's id, in hex.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The names of the schema's record keys (person, household, dwelling
    /// identifiers): a table with one of them as a dimension shows each record on its
    /// own.
    pub fn record_keys(&self) -> impl Iterator<Item = &str> {
        self.schema.records.iter().map(|r| r.key.as_str())
    }

    pub(super) fn err(&self, object: &str, detail: String) -> CensusError {
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
    pub(super) fn load_all(
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
pub(super) fn check_record_keys(meta: &DatasetMeta) -> Result<(), String> {
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

/// Stored values minus `offset` as codes, each checked against the radix.
pub(super) fn to_codes<T: Copy + Into<i64>>(
    values: &[T],
    offset: i64,
    radix: usize,
) -> Result<Codes, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
