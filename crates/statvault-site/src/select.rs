//! Selections by GET, so that every view of a table is a link: `?municipality=AL311,
//! AL312&sex=*&age_group5=TOP(3)`. Each parameter named after a dimension picks its
//! categories as a comma-separated list of items, taken in order and each category once:
//!
//! - a code;
//! - `*` for all;
//! - `TOP(n)` for the first n, `LAST(n)` (or `BOTTOM(n)`) for the last n (the latest
//!   periods, where a dimension is time);
//! - `RANGE(a,b)` from code a to code b in the table's order, `FROM(a)`, `TO(b)`;
//! - `LEVEL(name)` for every category of a level of the hierarchy (`LEVEL(county)`;
//!   the finest codes are the level named after the dimension);
//! - `CHILDREN(code)` for the parts of a total (`CHILDREN(AL-01)`: the municipalities
//!   of Berat county).
//!
//! A dimension named twice (`municipality=A&municipality=B`, as a form's multiple
//! select sends it) takes both lists; a dimension not named keeps all its categories.

use statvault_census::table::{strides, Dimension, Sum};
use statvault_protect::ProtectedTable;

/// Query parameters that are not dimensions.
pub const RESERVED: [&str; 6] = ["format", "lang", "version", "cols", "sort", "q"];

/// A selection of cells that cannot be answered (HTTP 400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A query string that does not parse.
    #[error("malformed query: {0}")]
    Malformed(String),
    /// A parameter given twice.
    #[error("parameter {0:?} is given twice")]
    Duplicate(String),
    /// A parameter that names no dimension of the table.
    #[error("no dimension {dimension:?} in this table (its dimensions: {known})")]
    UnknownDimension {
        /// The name given.
        dimension: String,
        /// The table's dimensions, listed for the message.
        known: String,
    },
    /// A code that is no category of its dimension.
    #[error("dimension {dimension:?} has no category {code:?}")]
    UnknownCode {
        /// The dimension.
        dimension: String,
        /// The code given.
        code: String,
    },
    /// A dimension whose selection picks no category.
    #[error("dimension {0:?}: the selection is empty")]
    Empty(String),
}

/// Splits and percent-decodes a query string into its parameters. A dimension given
/// more than once takes all its lists, joined by commas (empty ones dropped); any other
/// parameter given twice is refused, as its meaning would be a guess.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, SelectError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let (name, value) = (decode(name)?, decode(value)?);
        match pairs.iter_mut().find(|(n, _)| *n == name) {
            Some(_) if RESERVED.contains(&name.as_str()) => {
                return Err(SelectError::Duplicate(name))
            }
            Some((_, earlier)) if earlier.is_empty() => *earlier = value,
            Some((_, earlier)) => {
                if !value.is_empty() {
                    earlier.push(',');
                    earlier.push_str(&value);
                }
            }
            None => pairs.push((name, value)),
        }
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
        if RESERVED.contains(&name.as_str()) || value.is_empty() {
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

/// The items of a selection: split at the commas outside parentheses.
pub fn items(value: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, b) in value.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// The indices of the categories one item picks.
fn item(dimension: &Dimension, item: &str) -> Result<Vec<usize>, SelectError> {
    let n = dimension.categories.len();
    let count = |inner: &str| {
        inner.trim().parse::<usize>().map_err(|_| {
            SelectError::Malformed(format!("{}: {item:?} needs a number", dimension.id))
        })
    };
    let position = |code: &str| {
        let code = code.trim();
        dimension
            .categories
            .iter()
            .position(|c| c.code == code)
            .ok_or_else(|| SelectError::UnknownCode {
                dimension: dimension.id.clone(),
                code: code.to_string(),
            })
    };
    let call = |name: &str| {
        item.strip_prefix(name)
            .and_then(|v| v.strip_prefix('('))
            .and_then(|v| v.strip_suffix(')'))
    };
    Ok(if item == "*" {
        (0..n).collect()
    } else if let Some(inner) = call("TOP") {
        (0..count(inner)?.min(n)).collect()
    } else if let Some(inner) = call("LAST").or_else(|| call("BOTTOM")) {
        (n - count(inner)?.min(n)..n).collect()
    } else if let Some(inner) = call("RANGE") {
        let (from, to) = inner.split_once(',').ok_or_else(|| {
            SelectError::Malformed(format!("{}: RANGE needs two codes", dimension.id))
        })?;
        (position(from)?..=position(to)?).collect()
    } else if let Some(from) = call("FROM") {
        (position(from)?..n).collect()
    } else if let Some(to) = call("TO") {
        (0..=position(to)?).collect()
    } else if let Some(level) = call("LEVEL") {
        let picked: Vec<usize> = (0..n)
            .filter(|&k| level_of(dimension, k) == level)
            .collect();
        if picked.is_empty() {
            return Err(SelectError::Malformed(format!(
                "{}: no level {level:?} (its levels: {})",
                dimension.id,
                levels(dimension).join(", ")
            )));
        }
        picked
    } else if let Some(total) = call("CHILDREN") {
        let total = &dimension.categories[position(total)?].code;
        match dimension.sums.iter().find(|s| s.total == *total) {
            Some(sum) => sum
                .parts
                .iter()
                .map(|p| position(p))
                .collect::<Result<_, _>>()?,
            None => {
                return Err(SelectError::Malformed(format!(
                    "{}: {total:?} is not a total of other categories",
                    dimension.id
                )))
            }
        }
    } else if item.contains(['*', '?']) {
        let picked: Vec<usize> = (0..n)
            .filter(|&k| glob(item, &dimension.categories[k].code))
            .collect();
        if picked.is_empty() {
            return Err(SelectError::UnknownCode {
                dimension: dimension.id.clone(),
                code: item.to_string(),
            });
        }
        picked
    } else {
        vec![position(item)?]
    })
}

/// Whether `code` fits `pattern`, where `*` stands for any run of characters and `?`
/// for one (PxWeb's wildcards: `AL3*` is every code starting AL3).
fn glob(pattern: &str, code: &str) -> bool {
    let (pattern, code): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), code.chars().collect());
    // The classic two-pointer match, backtracking to the last star.
    let (mut p, mut c, mut star, mut resume) = (0, 0, None, 0);
    while c < code.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == code[c]) {
            p += 1;
            c += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            resume = c;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            resume += 1;
            c = resume;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&ch| ch == '*')
}

/// The level of the hierarchy category `k` is on: its codelist, or the dimension's id
/// for the finest codes.
pub fn level_of(dimension: &Dimension, k: usize) -> &str {
    dimension.categories[k]
        .level
        .as_deref()
        .unwrap_or(&dimension.id)
}

/// The dimension's levels, highest first.
pub fn levels(dimension: &Dimension) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for k in 0..dimension.categories.len() {
        let level = level_of(dimension, k);
        if !out.contains(&level) {
            out.push(level);
        }
    }
    out
}

/// The categories `value` (a comma-separated list of items) picks, in order, each once.
pub fn categories(dimension: &Dimension, value: &str) -> Result<Vec<usize>, SelectError> {
    let mut picked = Vec::new();
    let mut seen = vec![false; dimension.categories.len()];
    for part in items(value).into_iter().filter(|p| !p.is_empty()) {
        for k in item(dimension, part)? {
            if !std::mem::replace(&mut seen[k], true) {
                picked.push(k);
            }
        }
    }
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
                bounds: d
                    .bounds
                    .iter()
                    .filter(|b| b.parts.iter().chain(&b.within).all(has))
                    .cloned()
                    .collect(),
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
            parse_query("format=csv&format=px").unwrap_err(),
            SelectError::Duplicate("format".into())
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

    #[test]
    fn two_municipalities_chosen_in_a_form_are_both_selected() {
        // A <select multiple> sends the name once per value; the old parser refused
        // "given twice".
        let t = table();
        let params = parse_query("municipality=AL311&municipality=AL312&sex=&cols=sex").unwrap();
        assert_eq!(params[0], ("municipality".into(), "AL311,AL312".into()));
        let chosen = select(&t, &params).unwrap();
        let codes: Vec<_> = chosen[0]
            .iter()
            .map(|&k| t.dimensions[0].categories[k].code.as_str())
            .collect();
        assert_eq!(codes, ["AL311", "AL312"]);
        assert_eq!(chosen[1].len(), 3, "an empty list keeps every category");
    }

    #[test]
    fn levels_children_and_ranges_pick_parts_of_the_hierarchy() {
        let t = table();
        let codes = |q: &str| -> Vec<String> {
            let chosen = select(&t, &parse_query(q).unwrap()).unwrap();
            chosen[0]
                .iter()
                .map(|&k| t.dimensions[0].categories[k].code.clone())
                .collect()
        };
        assert_eq!(
            codes("municipality=CHILDREN(AL-01)"),
            ["AL311", "AL312", "AL313", "AL314", "AL315"]
        );
        assert_eq!(codes("municipality=LEVEL(county)").len(), 12);
        assert_eq!(codes("municipality=LEVEL(municipality)").len(), 61);
        assert_eq!(
            codes("municipality=AL-01,CHILDREN(AL-01),AL311"),
            ["AL-01", "AL311", "AL312", "AL313", "AL314", "AL315"]
        );
        assert_eq!(codes("municipality=RANGE(AL-11,AL-12)"), ["AL-11", "AL-12"]);
        assert_eq!(codes("municipality=BOTTOM(1)").len(), 1);
        assert_eq!(codes("municipality=AL31*").len(), 5);
        assert_eq!(codes("municipality=AL-0?").len(), 9);
        assert_eq!(codes("municipality=*5?").len(), 12);
        assert_eq!(
            levels(&t.dimensions[0]),
            ["country", "county", "municipality"]
        );
        let err = |q: &str| select(&t, &parse_query(q).unwrap()).unwrap_err();
        assert!(matches!(
            err("municipality=CHILDREN(AL311)"),
            SelectError::Malformed(_)
        ));
        assert!(matches!(
            err("municipality=LEVEL(village)"),
            SelectError::Malformed(_)
        ));
    }

    proptest! {
        #[test]
        fn any_query_selects_or_fails_cleanly(q in "[a-zA-Z_=&,*?%0-9()+.-]{0,80}") {
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
