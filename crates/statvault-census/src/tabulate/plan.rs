//! From a spec and a stored dataset to the tables the kernel computes.

use super::*;

/// A variable as a dimension or filter: where its codes come from and what they mean.
#[derive(Clone, Debug)]
pub(super) struct VarInfo {
    pub(super) name: String,
    pub(super) label: Labels,
    pub(super) record: usize,
    pub(super) load: Load,
    /// Code and labels of each code position.
    pub(super) codes: Vec<(String, Labels)>,
    /// Index into `Schema::codelists`, for hierarchies.
    pub(super) codelist: Option<usize>,
    /// For integer variables: the value of code 0.
    pub(super) offset: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Load {
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

pub(super) fn plain_labels(schema: &Schema, text: &str) -> Labels {
    schema
        .languages
        .iter()
        .map(|l| (l.clone(), text.to_string()))
        .collect()
}

pub(super) fn total_labels(schema: &Schema) -> Labels {
    schema
        .languages
        .iter()
        .map(|l| {
            let text = if l == "sq" { "Gjithsej" } else { "Total" };
            (l.clone(), text.to_string())
        })
        .collect()
}

pub(super) fn resolve_var(
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
pub(super) fn describes(schema: &Schema, var_record: usize, unit: usize) -> bool {
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
pub(super) struct Planned {
    pub(super) id: String,
    pub(super) title: Labels,
    pub(super) unit: usize,
    pub(super) measure: String,
    pub(super) dims: Vec<VarInfo>,
    pub(super) filters: Vec<(VarInfo, Vec<bool>)>,
    pub(super) sum: Option<String>,
    pub(super) totals: bool,
}

pub(super) fn plan_cross_tab(
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
pub(super) const GEOSTAT: [(&str, &str, Option<&str>, &str, &str); 13] = [
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
pub(super) fn plan_geostat(
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
pub(super) fn categories(
    schema: &Schema,
    v: &VarInfo,
    totals: bool,
) -> (Vec<Category>, Vec<Vec<usize>>) {
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
pub(super) fn qualified(label: &Labels, level: &Labels) -> Labels {
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
