//! Selections by GET, so that every view of a table is a link: `?municipality=AL311,
//! AL312&sex=*&age_group5=TOP(3)`. Each parameter named after a dimension picks its
//! categories: a comma-separated list of codes, `*` for all, `TOP(n)` for the first n,
//! `LAST(n)` for the last n (the latest periods, where a dimension is time). A
//! dimension not named keeps all its categories.

use statvault_census::table::{strides, Dimension, Sum};
use statvault_protect::ProtectedTable;

/// Query parameters that are not dimensions.
pub const RESERVED: [&str; 6] = ["format", "lang", "version", "cols", "sort", "q"];

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("malformed query: {0}")]
    Malformed(String),
    #[error("parameter {0:?} is given twice")]
    Duplicate(String),
    #[error("no dimension {dimension:?} in this table (its dimensions: {known})")]
    UnknownDimension { dimension: String, known: String },
    #[error("dimension {dimension:?} has no category {code:?}")]
    UnknownCode { dimension: String, code: String },
    #[error("dimension {0:?}: the selection is empty")]
    Empty(String),
}

/// Splits and percent-decodes a query string into its parameters, refusing a name
/// given twice.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, SelectError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let (name, value) = (decode(name)?, decode(value)?);
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(SelectError::Duplicate(name));
        }
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; the
/// result must be UTF-8.
fn decode(text: &str) -> Result<String, SelectError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| SelectError::Malformed(format!("bad escape in {text:?}")))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| SelectError::Malformed(format!("{text:?} is not UTF-8")))
}

/// The categories chosen for each dimension, as indices into its categories.
pub fn select(
    table: &ProtectedTable,
    params: &[(String, String)],
) -> Result<Vec<Vec<usize>>, SelectError> {
    let mut chosen: Vec<Vec<usize>> = table
        .dimensions
        .iter()
        .map(|d| (0..d.categories.len()).collect())
        .collect();
    for (name, value) in params {
        if RESERVED.contains(&name.as_str()) {
            continue;
        }
        let Some(k) = table.dimensions.iter().position(|d| d.id == *name) else {
            return Err(SelectError::UnknownDimension {
                dimension: name.clone(),
                known: table
                    .dimensions
                    .iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        chosen[k] = categories(&table.dimensions[k], value)?;
    }
    Ok(chosen)
}

fn categories(dimension: &Dimension, value: &str) -> Result<Vec<usize>, SelectError> {
    let n = dimension.categories.len();
    let count = |inner: &str| {
        inner.parse::<usize>().map_err(|_| {
            SelectError::Malformed(format!("{}: {value:?} needs a number", dimension.id))
        })
    };
    let picked: Vec<usize> = if value == "*" {
        (0..n).collect()
    } else if let Some(inner) = value.strip_prefix("TOP(").and_then(|v| v.strip_suffix(')')) {
        (0..count(inner)?.min(n)).collect()
    } else if let Some(inner) = value
        .strip_prefix("LAST(")
        .and_then(|v| v.strip_suffix(')'))
    {
        (n - count(inner)?.min(n)..n).collect()
    } else {
        let mut picked = Vec::new();
        for code in value.split(',') {
            let k = dimension
                .categories
                .iter()
                .position(|c| c.code == code)
                .ok_or_else(|| SelectError::UnknownCode {
                    dimension: dimension.id.clone(),
                    code: code.to_string(),
                })?;
            if !picked.contains(&k) {
                picked.push(k);
            }
        }
        picked
    };
    if picked.is_empty() {
        return Err(SelectError::Empty(dimension.id.clone()));
    }
    Ok(picked)
}

/// How many cells a selection has, without overflow.
pub fn cells(chosen: &[Vec<usize>]) -> u128 {
    chosen.iter().map(|c| c.len() as u128).product()
}

/// The table cut down to the chosen categories, in the order chosen. A sum survives
/// only if its total and all its parts were chosen.
pub fn subtable(table: &ProtectedTable, chosen: &[Vec<usize>]) -> ProtectedTable {
    let dimensions: Vec<Dimension> = table
        .dimensions
        .iter()
        .zip(chosen)
        .map(|(d, picked)| {
            let categories: Vec<_> = picked.iter().map(|&k| d.categories[k].clone()).collect();
            let has = |code: &String| categories.iter().any(|c| c.code == *code);
            Dimension {
                id: d.id.clone(),
                label: d.label.clone(),
                sums: d
                    .sums
                    .iter()
                    .filter(|s| has(&s.total) && s.parts.iter().all(has))
                    .cloned()
                    .collect::<Vec<Sum>>(),
                categories,
            }
        })
        .collect();
    let strides = strides(&table.dimensions);
    let total = cells(chosen) as usize;
    let (mut values, mut status) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let mut position = vec![0usize; chosen.len()];
    for _ in 0..total {
        let cell: usize = position
            .iter()
            .zip(chosen)
            .zip(&strides)
            .map(|((&p, picked), stride)| picked[p] * stride)
            .sum();
        values.push(table.values[cell]);
        status.push(table.status[cell].clone());
        for k in (0..position.len()).rev() {
            position[k] += 1;
            if position[k] < chosen[k].len() {
                break;
            }
            position[k] = 0;
        }
    }
    ProtectedTable {
        format: table.format.clone(),
        id: table.id.clone(),
        title: table.title.clone(),
        unit: table.unit.clone(),
        measure: table.measure.clone(),
        provenance: table.provenance.clone(),
        dimensions,
        values,
        status,
        protection: table.protection.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> ProtectedTable {
        let bytes = include_bytes!("../../statvault-release/tests/data/ckm.protected.json");
        ProtectedTable::read(bytes).unwrap()
    }

    #[test]
    fn selections_pick_codes_tops_and_lasts_in_order() {
        let t = table();
        let params = parse_query("municipality=AL312,AL311,AL312&sex=TOP(2)&format=csv").unwrap();
        let chosen = select(&t, &params).unwrap();
        assert_eq!(chosen[1], vec![0, 1]);
        let sub = subtable(&t, &chosen);
        assert_eq!(sub.dimensions[0].categories[0].code, "AL312");
        assert_eq!(sub.values.len(), 4);
        // AL312 is the 15th municipality category (index 14), sex total first.
        assert_eq!(sub.values[0], t.values[14 * 3]);
        assert_eq!(sub.values[3], t.values[13 * 3 + 1]);
        let last = select(&t, &parse_query("sex=LAST(1)").unwrap()).unwrap();
        assert_eq!(last[1], vec![2]);
        // Sums survive only whole.
        let all = subtable(&t, &select(&t, &[]).unwrap());
        assert_eq!(all, t);
        let county = select(
            &t,
            &parse_query("municipality=AL-02,AL121,AL122,AL123").unwrap(),
        )
        .unwrap();
        assert_eq!(subtable(&t, &county).dimensions[0].sums.len(), 1);
    }

    #[test]
    fn bad_selections_name_what_is_wrong() {
        let t = table();
        let err = |q: &str| {
            select(&t, &parse_query(q).unwrap())
                .map(|_| ())
                .unwrap_err()
        };
        assert!(matches!(err("age=*"), SelectError::UnknownDimension { .. }));
        assert_eq!(
            err("sex=9"),
            SelectError::UnknownCode {
                dimension: "sex".into(),
                code: "9".into()
            }
        );
        assert!(matches!(err("sex=TOP(x)"), SelectError::Malformed(_)));
        assert!(matches!(err("sex=TOP(0)"), SelectError::Empty(_)));
        assert_eq!(
            parse_query("sex=1&sex=2").unwrap_err(),
            SelectError::Duplicate("sex".into())
        );
        assert!(matches!(
            parse_query("sex=%4"),
            Err(SelectError::Malformed(_))
        ));
        assert!(matches!(
            parse_query("sex=%ff"),
            Err(SelectError::Malformed(_))
        ));
        assert_eq!(
            parse_query("a+b=c%2Cd").unwrap(),
            vec![("a b".into(), "c,d".into())]
        );
    }

    proptest! {
        #[test]
        fn any_query_selects_or_fails_cleanly(q in "[a-z_=&,*%0-9A-F()+.-]{0,80}") {
            let t = table();
            if let Ok(params) = parse_query(&q) {
                if let Ok(chosen) = select(&t, &params) {
                    let sub = subtable(&t, &chosen);
                    prop_assert_eq!(sub.values.len() as u128, cells(&chosen));
                    prop_assert_eq!(sub.status.len(), sub.values.len());
                }
            }
        }
    }
}
