//! From the kernel's cells to table files: totals, labels, sums and bounds.

use super::*;

/// Turns finest cells into a table file, adding totals and subtotals.
pub(super) fn finish_table(
    schema: &Schema,
    p: &Planned,
    cells: Cells,
    provenance: &Provenance,
) -> Table {
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
pub(super) fn sums_of(cats: &[Category], mapping: &[Vec<usize>]) -> Vec<Sum> {
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
pub(super) fn expand_wrapping(
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

pub(super) fn assemble_geostat(
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
pub(super) fn geostat_sums(parts: &[(&Planned, Cells)]) -> Vec<Sum> {
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
