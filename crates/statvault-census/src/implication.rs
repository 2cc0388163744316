//! What the definitions of categories imply about each other ("born during the year"
//! implies age 0; activity is defined from age 15), declared in the schema's
//! `[[implications]]`, and the inequalities they give between the categories of one
//! table dimension. Anyone who reads the definitions knows these inequalities, so the
//! disclosure audit must give them to its attacker (`docs/protection.md`).
//!
//! A condition is a variable and a set of its values. A code variable's values are the
//! positions of its codes; an integer variable's values are the integers; a condition
//! on a ranges-derived variable (`age_broad = ["Y_LT15"]`) is one on its source
//! variable (`age` in 0–14). Sets are unions of closed intervals, so a complement or a
//! cover is exact on unbounded integer domains too.

use crate::schema::{DerivedRule, Schema, VarType};
use crate::table::Bound;

/// A union of disjoint closed intervals, sorted, with no two adjacent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueSet(Vec<(i64, i64)>);

impl ValueSet {
    /// The union of intervals given in any order, overlapping or not.
    pub fn of(mut intervals: Vec<(i64, i64)>) -> ValueSet {
        intervals.retain(|(lo, hi)| lo <= hi);
        intervals.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(intervals.len());
        for (lo, hi) in intervals {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        ValueSet(merged)
    }

    /// Values in either set.
    pub fn union(&self, other: &ValueSet) -> ValueSet {
        ValueSet::of(self.0.iter().chain(&other.0).copied().collect())
    }

    /// Whether some value is in both sets.
    pub fn intersects(&self, other: &ValueSet) -> bool {
        self.0
            .iter()
            .any(|a| other.0.iter().any(|b| a.0 <= b.1 && b.0 <= a.1))
    }

    /// Whether every value of `other` is in this set.
    pub fn contains_all(&self, other: &ValueSet) -> bool {
        other
            .0
            .iter()
            .all(|b| self.0.iter().any(|a| a.0 <= b.0 && b.1 <= a.1))
    }

    /// The values of `domain` not in this set.
    pub fn complement_in(&self, domain: (i64, i64)) -> ValueSet {
        let mut out = Vec::new();
        let mut next = domain.0;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = next.max(hi.saturating_add(1));
        }
        if next <= domain.1 && self.0.last().is_none_or(|l| l.1 < domain.1) {
            out.push((next, domain.1));
        }
        ValueSet::of(
            out.into_iter()
                .map(|(lo, hi)| (lo.max(domain.0), hi.min(domain.1)))
                .collect(),
        )
    }

    /// No value at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: i64) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&value))
    }
}

/// Records whose `variable` (an index into `Schema::variables`) takes a value of `values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The variable, an index into `Schema::variables`.
    pub variable: usize,
    /// The values that meet the condition.
    pub values: ValueSet,
}

impl Condition {
    /// `activity in 1, 2, 3`, `age in 15–120`, for messages.
    pub fn describe(&self, schema: &Schema) -> String {
        let variable = &schema.variables[self.variable];
        let values: Vec<String> = match variable.ty {
            VarType::Code(list) => self
                .values
                .0
                .iter()
                .flat_map(|&(lo, hi)| lo..=hi)
                .filter_map(|p| schema.codelists[list].codes.get(p as usize))
                .map(|c| c.code.clone())
                .collect(),
            _ => self
                .values
                .0
                .iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}–{hi}")
                    }
                })
                .collect(),
        };
        format!("{} in {}", variable.name, values.join(", "))
    }
}

/// Every record meeting `when` meets `then`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Implication {
    /// The condition a record meets.
    pub when: Condition,
    /// What then holds of it.
    pub then: Condition,
}

impl Schema {
    /// The condition "`name` is one of `codes`", on the variable the values come
    /// from: a code variable's code positions, or a ranges-derived variable's source.
    pub fn condition_on_codes(&self, name: &str, codes: &[&str]) -> Result<Condition, String> {
        let (variable, list, ranged) = if let Some(v) = self.variable(name) {
            match self.variables[v].ty {
                VarType::Code(list) => (v, list, false),
                _ => return Err(format!("{name} is not a code variable; give min and max")),
            }
        } else if let Some(d) = self.derived(name) {
            match self.derived[d].rule {
                DerivedRule::Ranges { source, codelist } => (source, codelist, true),
                _ => return Err(format!("{name} is derived from more than one variable")),
            }
        } else {
            return Err(format!("unknown variable {name:?}"));
        };
        let list = &self.codelists[list];
        let intervals = codes
            .iter()
            .map(|code| {
                let p = list
                    .position(code)
                    .ok_or_else(|| format!("{code:?} is not a code of {}", list.name))?;
                Ok(if ranged {
                    list.codes[p as usize]
                        .range
                        .expect("ranged codelists have ranges")
                } else {
                    (i64::from(p), i64::from(p))
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Condition {
            variable,
            values: ValueSet::of(intervals),
        })
    }

    /// The condition "`name` lies in min..=max" on an integer variable.
    pub fn condition_on_range(
        &self,
        name: &str,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<Condition, String> {
        let variable = self
            .variable(name)
            .ok_or_else(|| format!("unknown variable {name:?}"))?;
        let VarType::Integer { min: lo, max: hi } = self.variables[variable].ty else {
            return Err(format!("{name} is not an integer variable; list its codes"));
        };
        let (min, max) = (min.unwrap_or(lo), max.unwrap_or(hi));
        if min > max {
            return Err(format!("{name}: min {min} is above max {max}"));
        }
        Ok(Condition {
            variable,
            values: ValueSet::of(vec![(min, max)]),
        })
    }

    /// Every value a variable can take.
    pub fn domain(&self, variable: usize) -> (i64, i64) {
        match self.variables[variable].ty {
            VarType::Code(list) => (0, self.codelists[list].codes.len() as i64 - 1),
            VarType::Integer { min, max } => (min, max),
            VarType::Decimal { .. } => (i64::MIN, i64::MAX),
        }
    }
}

/// One category of a dimension as a condition; `None` counts every record (a total).
pub type Meaning = Option<Condition>;

/// The inequalities between the categories of one dimension (by code) that hold for
/// every combination of the other dimensions' categories:
/// - the categories of one variable, disjoint, add up to at most the total where they
///   do not cover every value (employment is not everyone);
/// - for each implication "X in A gives Y in B": the count of X in A, or less, is at
///   most the count of Y in B, or more, each written with the categories at hand.
pub fn bounds(
    schema: &Schema,
    categories: &[(String, Meaning)],
    implications: &[Implication],
) -> Vec<Bound> {
    let total = categories
        .iter()
        .find(|(_, m)| m.is_none())
        .map(|(c, _)| c.as_str());
    let of_variable = |v: usize| -> Vec<(&str, &ValueSet)> {
        categories
            .iter()
            .filter_map(|(code, m)| {
                m.as_ref()
                    .filter(|c| c.variable == v)
                    .map(|c| (code.as_str(), &c.values))
            })
            .collect()
    };
    let mut out: Vec<Bound> = Vec::new();
    let mut add = |mut parts: Vec<&str>, mut within: Vec<&str>| {
        // A category on both sides cancels.
        let common: Vec<&str> = parts
            .iter()
            .filter(|p| within.contains(p))
            .copied()
            .collect();
        parts.retain(|p| !common.contains(p));
        within.retain(|w| !common.contains(w));
        if parts.is_empty() {
            return;
        }
        parts.sort_unstable();
        within.sort_unstable();
        let bound = Bound {
            parts: parts.into_iter().map(String::from).collect(),
            within: within.into_iter().map(String::from).collect(),
        };
        if !out.contains(&bound) {
            out.push(bound);
        }
    };
    let mut variables: Vec<usize> = categories
        .iter()
        .filter_map(|(_, m)| m.as_ref().map(|c| c.variable))
        .collect();
    variables.sort_unstable();
    variables.dedup();
    if let Some(t) = total {
        for &v in &variables {
            let cats = of_variable(v);
            let covered = union(&cats).contains_all(&ValueSet::of(vec![schema.domain(v)]));
            if disjoint(&cats) && !covered {
                add(cats.iter().map(|c| c.0).collect(), vec![t]);
            }
        }
    }
    for imp in implications {
        let (x, y) = (&imp.when, &imp.then);
        let (xs, ys) = (of_variable(x.variable), of_variable(y.variable));
        if !disjoint(&xs) || !disjoint(&ys) {
            continue;
        }
        // At most the count of X in A: exactly, or the categories inside A.
        let lower = exactly(&xs, &x.values, schema.domain(x.variable), total).or_else(|| {
            let inside: Vec<&str> = xs
                .iter()
                .filter(|c| x.values.contains_all(c.1))
                .map(|c| c.0)
                .collect();
            (!inside.is_empty()).then_some((inside, Vec::new()))
        });
        // At least the count of Y in B: exactly, the categories meeting B where they
        // cover it, or the total less the categories outside B.
        let domain = schema.domain(y.variable);
        let upper = exactly(&ys, &y.values, domain, total).or_else(|| {
            let meeting: Vec<(&str, &ValueSet)> = ys
                .iter()
                .filter(|c| c.1.intersects(&y.values))
                .copied()
                .collect();
            if union(&meeting).contains_all(&y.values) {
                return Some((meeting.iter().map(|c| c.0).collect(), Vec::new()));
            }
            let outside = y.values.complement_in(domain);
            total.map(|t| {
                (
                    vec![t],
                    ys.iter()
                        .filter(|c| outside.contains_all(c.1))
                        .map(|c| c.0)
                        .collect(),
                )
            })
        });
        if let (Some((l_plus, l_minus)), Some((u_plus, u_minus))) = (lower, upper) {
            add(
                l_plus.into_iter().chain(u_minus).collect(),
                u_plus.into_iter().chain(l_minus).collect(),
            );
        }
    }
    out
}

type Categories<'a> = [(&'a str, &'a ValueSet)];

fn disjoint(cats: &Categories) -> bool {
    cats.iter()
        .enumerate()
        .all(|(i, a)| cats[i + 1..].iter().all(|b| !a.1.intersects(b.1)))
}

fn union(cats: &Categories) -> ValueSet {
    cats.iter()
        .fold(ValueSet::of(Vec::new()), |u, (_, s)| u.union(s))
}

/// The categories that count exactly the records in `set`, as (added, subtracted):
/// those inside it where they cover it, or the total less those outside it.
fn exactly<'a>(
    cats: &Categories<'a>,
    set: &ValueSet,
    domain: (i64, i64),
    total: Option<&'a str>,
) -> Option<(Vec<&'a str>, Vec<&'a str>)> {
    let inside: Vec<(&str, &ValueSet)> = cats
        .iter()
        .filter(|c| set.contains_all(c.1))
        .copied()
        .collect();
    if union(&inside).contains_all(set) {
        return Some((inside.iter().map(|c| c.0).collect(), Vec::new()));
    }
    let rest = set.complement_in(domain);
    let outside: Vec<(&str, &ValueSet)> = cats
        .iter()
        .filter(|c| rest.contains_all(c.1))
        .copied()
        .collect();
    let t = total?;
    union(&outside)
        .contains_all(&rest)
        .then(|| (vec![t], outside.iter().map(|c| c.0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(intervals: &[(i64, i64)]) -> ValueSet {
        ValueSet::of(intervals.to_vec())
    }

    #[test]
    fn value_sets_merge_cover_and_complement() {
        assert_eq!(set(&[(5, 9), (0, 4), (20, 30)]), set(&[(0, 9), (20, 30)]));
        assert!(set(&[(0, 14), (15, 64)]).contains_all(&set(&[(3, 20)])));
        assert!(!set(&[(0, 14), (16, 64)]).contains_all(&set(&[(3, 20)])));
        assert_eq!(set(&[(0, 0)]).complement_in((0, 120)), set(&[(1, 120)]));
        assert_eq!(
            set(&[(3, 5), (9, 9)]).complement_in((0, 10)),
            set(&[(0, 2), (6, 8), (10, 10)])
        );
        assert!(set(&[(0, 120)]).complement_in((0, 120)).is_empty());
        assert_eq!(
            set(&[(15, i64::MAX)]).complement_in((i64::MIN, i64::MAX)),
            set(&[(i64::MIN, 14)])
        );
    }
}
