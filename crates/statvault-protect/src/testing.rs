//! Test tables built from records, the way `tabulate` builds them: each record has a
//! leaf code per dimension and a 32-bit key; totals and subtotals follow hierarchies.

use statvault_census::schema::Labels;
use statvault_census::table::{
    Bound, Category, CategoryKind, Dimension, Provenance, Sum, FORMAT, GEOSTAT_DIMENSION,
};
use statvault_census::Table;

/// A dimension: `leaves` codes, optionally grouped (leaf → group) under subtotals.
pub struct Dim {
    pub id: &'static str,
    pub leaves: usize,
    pub groups: Option<Vec<usize>>,
}

pub struct Rng(pub u64);

impl Rng {
    /// splitmix64
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn labels(s: &str) -> Labels {
    Labels::from([("en".to_string(), s.to_string())])
}

/// Categories (total, groups, leaves) and, per leaf, the categories it adds into.
fn categories(d: &Dim) -> (Vec<Category>, Vec<Vec<usize>>, Vec<Sum>) {
    let cat = |code: String, kind| Category {
        label: labels(&code),
        code,
        kind,
        level: None,
    };
    let mut cats = vec![cat(format!("{}_T", d.id), CategoryKind::Total)];
    let groups = d
        .groups
        .as_ref()
        .map_or(0, |g| g.iter().max().map_or(0, |m| m + 1));
    cats.extend((0..groups).map(|g| cat(format!("{}_G{g}", d.id), CategoryKind::Subtotal)));
    cats.extend((0..d.leaves).map(|l| cat(format!("{}_{l}", d.id), CategoryKind::Code)));
    let leaf = |l: usize| 1 + groups + l;
    let into: Vec<Vec<usize>> = (0..d.leaves)
        .map(|l| match &d.groups {
            Some(g) => vec![0, 1 + g[l], leaf(l)],
            None => vec![0, leaf(l)],
        })
        .collect();
    let code = |k: usize| cats[k].code.clone();
    let mut sums = Vec::new();
    if groups > 0 {
        sums.push(Sum {
            total: code(0),
            parts: (0..groups).map(|g| code(1 + g)).collect(),
        });
        for g in 0..groups {
            sums.push(Sum {
                total: code(1 + g),
                parts: (0..d.leaves)
                    .filter(|&l| d.groups.as_ref().unwrap()[l] == g)
                    .map(|l| code(leaf(l)))
                    .collect(),
            });
        }
    } else {
        sums.push(Sum {
            total: code(0),
            parts: (0..d.leaves).map(|l| code(leaf(l))).collect(),
        });
    }
    (cats, into, sums)
}

/// Tabulates records (leaf per dimension, key) into a count table with totals.
pub fn table(id: &str, dims: &[Dim], records: &[(Vec<usize>, u32)]) -> Table {
    let built: Vec<_> = dims.iter().map(categories).collect();
    let shape: Vec<usize> = built.iter().map(|(c, _, _)| c.len()).collect();
    let cells: usize = shape.iter().product();
    let mut values = vec![0i64; cells];
    let mut key_sums = vec![0u64; cells];
    for (leaves, key) in records {
        // Every combination of the categories each leaf adds into.
        let mut targets = vec![0usize];
        for (d, &leaf) in leaves.iter().enumerate() {
            let into = &built[d].1[leaf];
            let width = shape[d];
            targets = targets
                .iter()
                .flat_map(|&t| into.iter().map(move |&k| t * width + k))
                .collect();
        }
        for t in targets {
            values[t] += 1;
            key_sums[t] = key_sums[t].wrapping_add(u64::from(*key));
        }
    }
    Table {
        format: FORMAT.into(),
        id: id.into(),
        title: labels(id),
        unit: "person".into(),
        measure: "count".into(),
        provenance: Provenance {
            snapshot: "test".into(),
            log_head: "test".into(),
            spec_blake3: "test".into(),
            source_blake3: "test".into(),
            statvault: "test".into(),
        },
        dimensions: dims
            .iter()
            .zip(built)
            .map(|(d, (categories, _, sums))| Dimension {
                id: d.id.into(),
                label: labels(d.id),
                categories,
                sums,
                bounds: Vec::new(),
            })
            .collect(),
        records: values.iter().map(|&v| v as u64).collect(),
        values,
        record_key_sums: key_sums,
    }
}

/// Random records over the leaves of `dims`, skewed so some cells are small.
pub fn records(rng: &mut Rng, dims: &[Dim], n: usize) -> Vec<(Vec<usize>, u32)> {
    (0..n)
        .map(|_| {
            let leaves = dims
                .iter()
                .map(|d| {
                    // The square makes low codes common and high codes rare.
                    let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
                    ((u * u) * d.leaves as f64) as usize
                })
                .collect();
            (leaves, rng.next() as u32)
        })
        .collect()
}

/// A random region (grouped in three) × age [× sex] table of `least` to `least + spread`
/// people.
pub fn random_table(rng: &mut Rng, with_sex: bool, least: usize, spread: u64) -> Table {
    let leaves = 4 + rng.below(8) as usize;
    let mut dims = vec![
        Dim {
            id: "region",
            leaves,
            groups: Some((0..leaves).map(|l| l * 3 / leaves).collect()),
        },
        Dim {
            id: "age",
            leaves: 3 + rng.below(6) as usize,
            groups: None,
        },
    ];
    if with_sex {
        dims.push(Dim {
            id: "sex",
            leaves: 2,
            groups: None,
        });
    }
    let n = least + rng.below(spread) as usize;
    let people = records(rng, &dims, n);
    table("t", &dims, &people)
}

/// A person of a grid square: male or not, broad age group (0 under 15, 1 15–64,
/// 2 65+), employed or not, residence a year before (0 same, 1 elsewhere here, 2
/// abroad, 3 born since), as the census schema's implications allow them.
#[derive(Clone, Copy)]
pub struct Resident {
    pub male: bool,
    pub age: usize,
    pub employed: bool,
    pub residence: usize,
    pub key: u32,
}

/// Whether a resident counts in a variable.
type Counts = fn(&Resident) -> bool;

/// The GEOSTAT variables this grid table has, and per resident whether it counts.
const GRID_VARIABLES: [(&str, Counts); 10] = [
    ("T", |_| true),
    ("M", |r| r.male),
    ("F", |r| !r.male),
    ("Y_LT15", |r| r.age == 0),
    ("Y_1564", |r| r.age == 1),
    ("Y_GE65", |r| r.age == 2),
    ("EMP", |r| r.employed),
    ("SAME", |r| r.residence == 0),
    ("CHG_IN", |r| r.residence == 1),
    ("CHG_OUT", |r| r.residence == 2),
];

/// A grid table (square × GEOSTAT variable) with the sums and the bounds `tabulate`
/// writes for the census schema's implications.
pub fn grid(squares: &[Vec<Resident>]) -> Table {
    let n = GRID_VARIABLES.len();
    let mut values = vec![0i64; squares.len() * n];
    let mut key_sums = vec![0u64; squares.len() * n];
    for (s, residents) in squares.iter().enumerate() {
        for r in residents {
            for (v, (_, counts)) in GRID_VARIABLES.iter().enumerate() {
                if counts(r) {
                    values[s * n + v] += 1;
                    key_sums[s * n + v] = key_sums[s * n + v].wrapping_add(u64::from(r.key));
                }
            }
        }
    }
    let codes = |list: &[&str]| list.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let bound = |parts: &[&str], within: &[&str]| Bound {
        parts: codes(parts),
        within: codes(within),
    };
    let cat = |code: &str, kind| Category {
        code: code.into(),
        label: labels(code),
        kind,
        level: None,
    };
    let mut t = table("grid", &[], &[]);
    t.dimensions = vec![
        Dimension {
            id: "grid_1km".into(),
            label: labels("grid"),
            categories: (0..squares.len())
                .map(|s| cat(&format!("square{s}"), CategoryKind::Code))
                .collect(),
            sums: Vec::new(),
            bounds: Vec::new(),
        },
        Dimension {
            id: GEOSTAT_DIMENSION.into(),
            label: labels("variable"),
            categories: GRID_VARIABLES
                .iter()
                .map(|(code, _)| cat(code, CategoryKind::Code))
                .collect(),
            sums: vec![
                Sum {
                    total: "T".into(),
                    parts: codes(&["M", "F"]),
                },
                Sum {
                    total: "T".into(),
                    parts: codes(&["Y_LT15", "Y_1564", "Y_GE65"]),
                },
            ],
            bounds: vec![
                bound(&["EMP"], &["T"]),
                bound(&["CHG_IN", "CHG_OUT", "SAME"], &["T"]),
                bound(&["T"], &["CHG_IN", "CHG_OUT", "SAME", "Y_LT15"]),
                bound(&["EMP"], &["Y_1564", "Y_GE65"]),
            ],
        },
    ];
    t.records = values.iter().map(|&v| v as u64).collect();
    t.values = values;
    t.record_key_sums = key_sums;
    t
}

/// Random grid squares of one to `most` residents, mostly small.
pub fn random_grid(rng: &mut Rng, squares: usize, most: u64) -> Table {
    let squares: Vec<Vec<Resident>> = (0..squares)
        .map(|_| {
            let people = 1 + rng.below(most) * rng.below(most) / most;
            (0..people)
                .map(|_| {
                    let age = [0, 1, 1, 1, 2][rng.below(5) as usize];
                    Resident {
                        male: rng.below(2) == 0,
                        age,
                        employed: age > 0 && rng.below(2) == 0,
                        residence: if age == 0 && rng.below(10) == 0 {
                            3
                        } else {
                            [0, 0, 0, 0, 1, 2][rng.below(6) as usize]
                        },
                        key: rng.next() as u32,
                    }
                })
                .collect()
        })
        .collect();
    grid(&squares)
}
