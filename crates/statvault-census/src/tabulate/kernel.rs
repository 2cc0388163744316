//! The kernel: pure functions on in-memory columns.

use super::*;

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
    /// Per cell: its value.
    pub values: Vec<i64>,
    /// Per cell: the records counted.
    pub records: Vec<u64>,
    /// Per cell: the sum of its records' keys.
    pub key_sums: Vec<u64>,
}

impl KernelTable<'_> {
    /// The table's finest cells: the product of its dimensions' radixes.
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

pub(super) fn scan(
    range: std::ops::Range<usize>,
    keys: &RecordKeys,
    tables: &[KernelTable],
) -> Vec<Cells> {
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
pub(super) const LANES: usize = 4;
/// Tables of more cells get one lane: their rows spread anyway, and memory matters.
pub(super) const LANED_CELLS: usize = 1 << 16;

/// One table's counters during a scan: `lanes` counters per cell, plus one cell for
/// the records that filters leave out.
pub(super) struct Accumulator {
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
pub(super) fn add_digit<C: Copy + Into<u32>>(index: &mut [u32], codes: &[C], radix: u32) {
    for (i, &c) in index.iter_mut().zip(codes) {
        *i = *i * radix + c.into();
    }
}

/// Sends rows whose code a filter drops to the `dropped` cell.
pub(super) fn drop_unkept<C: Copy + Into<usize>>(
    index: &mut [u32],
    codes: &[C],
    keep: &[bool],
    dropped: u32,
) {
    for (i, &c) in index.iter_mut().zip(codes) {
        *i = choose(keep[c.into()], *i, dropped);
    }
}

/// `kept` if `keep`, else `dropped`, without a branch: which rows a filter drops
/// follows no pattern, and a mispredicted branch per row cost more than the rest of
/// the row's work.
pub(super) fn choose(keep: bool, kept: u32, dropped: u32) -> u32 {
    let mask = u32::from(keep).wrapping_neg();
    (kept & mask) | (dropped & !mask)
}

/// Adds output categories along one dimension: each fine code `f` is added into every
/// output category in `mapping[f]`. `shape` is the current size of each dimension.
pub(super) fn expand<T: Copy + Default + std::ops::AddAssign>(
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
