//! The census schema: record types and their keys, variables with their types and
//! codelists, hierarchies between codelists, derived variables and dwelling
//! coordinates. Written as TOML; `docs/census-schema.md` specifies the format.
//!
//! Parsing checks everything a later step relies on, so that ingest and tabulation
//! never meet an inconsistent schema: every name referenced exists, labels exist in
//! every declared language, codes are unique, hierarchies have no cycles, ranges of
//! derived codelists do not overlap.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use crate::implication::Implication;
use crate::CensusError;

pub const FORMAT: &str = "statvault-census-schema/1";

/// Labels by language code (`sq`, `en`).
pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub struct Schema {
    pub name: Labels,
    pub languages: Vec<String>,
    /// Root first: every record's parent comes before it (dwelling, household, person).
    pub records: Vec<Record>,
    pub variables: Vec<Variable>,
    pub codelists: Vec<Codelist>,
    pub derived: Vec<Derived>,
    pub coordinates: Option<Coordinates>,
    /// What the definitions of categories imply about each other.
    pub implications: Vec<Implication>,
}

#[derive(Clone, Debug)]
pub struct Record {
    pub name: String,
    pub label: Labels,
    /// Name of the key variable.
    pub key: String,
    /// Index into `Schema::records`.
    pub parent: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VarType {
    /// Index into `Schema::codelists`.
    Code(usize),
    Integer {
        min: i64,
        max: i64,
    },
    Decimal {
        min: f64,
        max: f64,
    },
}

#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub label: Labels,
    /// Index into `Schema::records`: the record type the value describes.
    pub record: usize,
    pub ty: VarType,
}

#[derive(Clone, Debug)]
pub struct Codelist {
    pub name: String,
    pub label: Labels,
    /// Index into `Schema::codelists` of the next level up the hierarchy.
    pub parent: Option<usize>,
    pub codes: Vec<Code>,
    positions: HashMap<String, u16>,
}

#[derive(Clone, Debug)]
pub struct Code {
    pub code: String,
    pub label: Labels,
    /// Position of the parent code in the parent codelist.
    pub parent: Option<u16>,
    /// For the codelists of derived variables: the inclusive range of source values.
    pub range: Option<(i64, i64)>,
}

#[derive(Clone, Debug)]
pub struct Derived {
    pub name: String,
    pub label: Labels,
    pub rule: DerivedRule,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DerivedRule {
    /// A code of `codelist` by the range its source integer variable falls in.
    Ranges { source: usize, codelist: usize },
    /// Persons per household, grouped by the ranges of `codelist`.
    HouseholdSize { codelist: usize },
    /// The 1 km cell of the EU census grid (EPSG:3035) the dwelling lies in.
    Grid1km,
}

#[derive(Clone, Debug)]
pub struct Coordinates {
    /// Indices into `Schema::variables`, decimal degrees in WGS 84 / ETRS89.
    pub latitude: usize,
    pub longitude: usize,
}

impl Codelist {
    /// Position of `code` in the list.
    pub fn position(&self, code: &str) -> Option<u16> {
        self.positions.get(code).copied()
    }

    /// The position of the code a value falls in, for range codelists.
    pub fn position_of_value(&self, value: i64) -> Option<u16> {
        self.codes
            .iter()
            .position(|c| c.range.is_some_and(|(lo, hi)| (lo..=hi).contains(&value)))
            .map(|p| p as u16)
    }
}

impl Schema {
    pub fn variable(&self, name: &str) -> Option<usize> {
        self.variables.iter().position(|v| v.name == name)
    }

    pub fn derived(&self, name: &str) -> Option<usize> {
        self.derived.iter().position(|d| d.name == name)
    }

    pub fn record(&self, name: &str) -> Option<usize> {
        self.records.iter().position(|r| r.name == name)
    }

    /// The ancestors of a codelist, nearest first.
    pub fn ancestors(&self, codelist: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = self.codelists[codelist].parent;
        while let Some(p) = at {
            out.push(p);
            at = self.codelists[p].parent;
        }
        out
    }

    /// The ancestor of `code` of `codelist` in codelist `ancestor`.
    pub fn ancestor_code(&self, codelist: usize, code: u16, ancestor: usize) -> Option<u16> {
        let (mut list, mut code) = (codelist, code);
        while list != ancestor {
            code = self.codelists[list].codes[code as usize].parent?;
            list = self.codelists[list].parent?;
        }
        Some(code)
    }

    /// Parses and checks a schema; a message names the line and column of the item
    /// at fault.
    pub fn parse(text: &str) -> Result<Schema, CensusError> {
        let raw: RawSchema = toml::from_str(text).map_err(|e| CensusError::Schema {
            file: None,
            at: location(text, e.span()),
            message: e.message().to_string(),
        })?;
        raw.resolve().map_err(|e| match e {
            CensusError::Schema { message, .. } => CensusError::Schema {
                file: None,
                at: location(text, ItemSpans::of(text).find(&message)),
                message,
            },
            other => other,
        })
    }
}

/// Where each item of a schema is written, to point a message about an item (every
/// message of `resolve` starts by naming it: `variable age`, `codelist sex, code "3"`,
/// `implication 2, then`) at its line and column.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ItemSpans {
    records: BTreeMap<String, toml::Spanned<toml::Value>>,
    variables: BTreeMap<String, toml::Spanned<toml::Value>>,
    codelists: BTreeMap<String, toml::Spanned<CodeSpans>>,
    derived: BTreeMap<String, toml::Spanned<toml::Value>>,
    coordinates: Option<toml::Spanned<toml::Value>>,
    implications: Vec<toml::Spanned<toml::Value>>,
    name: Option<toml::Spanned<toml::Value>>,
    languages: Option<toml::Spanned<toml::Value>>,
    format: Option<toml::Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeSpans {
    codes: Vec<toml::Spanned<toml::Value>>,
}

impl ItemSpans {
    fn of(text: &str) -> ItemSpans {
        toml::from_str(text).unwrap_or_default()
    }

    /// The span of the item a message names first, and of a code it names within a
    /// codelist.
    fn find(&self, message: &str) -> Option<std::ops::Range<usize>> {
        let what = message.split(':').next()?;
        let (item, rest) = what.split_once(", ").unwrap_or((what, ""));
        let (kind, name) = item.rsplit_once(' ').unwrap_or((item, ""));
        let named =
            |map: &BTreeMap<String, toml::Spanned<toml::Value>>| map.get(name).map(|v| v.span());
        match kind {
            "record" => named(&self.records),
            "variable" => named(&self.variables),
            "derived variable" => named(&self.derived),
            "implication" => {
                let n: usize = name.parse().ok()?;
                self.implications.get(n.checked_sub(1)?).map(|v| v.span())
            }
            "codelist" => {
                let list = self.codelists.get(name)?;
                let wanted = rest.strip_prefix("code ").map(|c| c.trim_matches('"'));
                // The last entry with the code: a code listed twice is wrong there.
                let code = list.get_ref().codes.iter().rev().find(|entry| {
                    wanted.is_some()
                        && entry.get_ref().get("code").and_then(|v| v.as_str()) == wanted
                });
                Some(code.map_or_else(|| list.span(), |c| c.span()))
            }
            _ => match what {
                "coordinates" => self.coordinates.as_ref().map(|v| v.span()),
                "name" => self.name.as_ref().map(|v| v.span()),
                "languages" => self.languages.as_ref().map(|v| v.span()),
                _ if message.starts_with("format") => self.format.as_ref().map(|v| v.span()),
                _ => None,
            },
        }
    }
}

/// "line L, column C" of a byte offset, for messages about TOML files.
pub(crate) fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return "the file".into();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    format: String,
    name: Labels,
    languages: Vec<String>,
    records: BTreeMap<String, RawRecord>,
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    codelists: BTreeMap<String, RawCodelist>,
    #[serde(default)]
    derived: BTreeMap<String, RawDerived>,
    coordinates: Option<RawCoordinates>,
    #[serde(default)]
    implications: Vec<RawImplication>,
}

/// `when = { residence_1y = ["9"] }`, `then = { age = { max = 0 } }`: one variable a side.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImplication {
    when: BTreeMap<String, RawCondition>,
    then: BTreeMap<String, RawCondition>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCondition {
    Codes(Vec<String>),
    Range { min: Option<i64>, max: Option<i64> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    key: String,
    parent: Option<String>,
    label: Labels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    record: String,
    #[serde(rename = "type")]
    ty: String,
    codelist: Option<String>,
    min: Option<toml::Value>,
    max: Option<toml::Value>,
    label: Labels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodelist {
    label: Labels,
    parent: Option<String>,
    codes: Vec<RawCode>,
}

/// Labels sit beside the code's own keys, so unknown keys become labels and are refused
/// as undeclared languages (serde cannot deny unknown fields next to a flatten).
#[derive(Deserialize)]
struct RawCode {
    code: String,
    parent: Option<String>,
    min: Option<i64>,
    max: Option<i64>,
    #[serde(flatten)]
    label: Labels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDerived {
    rule: String,
    from: Option<String>,
    codelist: Option<String>,
    label: Labels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoordinates {
    latitude: String,
    longitude: String,
}

fn err(message: String) -> CensusError {
    CensusError::Schema {
        file: None,
        at: "the schema".into(),
        message,
    }
}

impl RawSchema {
    fn resolve(self) -> Result<Schema, CensusError> {
        if self.format != FORMAT {
            return Err(err(format!(
                "format is {:?}; this statvault reads {FORMAT:?}",
                self.format
            )));
        }
        if self.languages.is_empty() {
            return Err(err("languages: name at least one language".into()));
        }
        let languages = self.languages.clone();
        let labels = |what: &str, l: &Labels| -> Result<Labels, CensusError> {
            for lang in &languages {
                if l.get(lang).is_none_or(|s| s.trim().is_empty()) {
                    return Err(err(format!("{what}: no label in language {lang:?}")));
                }
            }
            if let Some(other) = l.keys().find(|k| !languages.contains(k)) {
                return Err(err(format!(
                    "{what}: {other:?} is not a declared language ({})",
                    languages.join(", ")
                )));
            }
            Ok(l.clone())
        };
        let name = labels("name", &self.name)?;

        // Codelists, then their parents, checked for cycles.
        let list_names: Vec<&String> = self.codelists.keys().collect();
        let list_index = |name: &str, what: &str| -> Result<usize, CensusError> {
            list_names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| err(format!("{what}: unknown codelist {name:?}")))
        };
        let mut codelists = Vec::new();
        for (cl_name, raw) in &self.codelists {
            let what = format!("codelist {cl_name}");
            let parent = raw
                .parent
                .as_deref()
                .map(|p| list_index(p, &what))
                .transpose()?;
            if raw.codes.is_empty() {
                return Err(err(format!("{what}: has no codes")));
            }
            if raw.codes.len() > u16::MAX as usize {
                return Err(err(format!("{what}: more than {} codes", u16::MAX)));
            }
            let mut positions = HashMap::new();
            let mut codes = Vec::new();
            for (i, c) in raw.codes.iter().enumerate() {
                let code_what = format!("{what}, code {:?}", c.code);
                if c.code.is_empty() || c.code.contains(['\n', '\r']) {
                    return Err(err(format!(
                        "{code_what}: codes are non-empty single lines"
                    )));
                }
                if positions.insert(c.code.clone(), i as u16).is_some() {
                    return Err(err(format!("{code_what}: listed twice")));
                }
                let range = match (c.min, c.max) {
                    (None, None) => None,
                    (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
                    _ => {
                        return Err(err(format!(
                            "{code_what}: a range needs both min and max, min ≤ max"
                        )))
                    }
                };
                codes.push(Code {
                    code: c.code.clone(),
                    label: labels(&code_what, &c.label)?,
                    parent: None,
                    range,
                });
            }
            codelists.push(Codelist {
                name: cl_name.clone(),
                label: labels(&what, &raw.label)?,
                parent,
                codes,
                positions,
            });
        }
        for start in 0..codelists.len() {
            let mut seen = HashSet::from([start]);
            let mut at = codelists[start].parent;
            while let Some(p) = at {
                if !seen.insert(p) {
                    return Err(err(format!(
                        "codelist {}: its hierarchy of parents has a cycle",
                        codelists[start].name
                    )));
                }
                at = codelists[p].parent;
            }
        }
        for (l, (cl_name, raw)) in self.codelists.iter().enumerate() {
            let Some(p) = codelists[l].parent else {
                if let Some(c) = raw.codes.iter().find(|c| c.parent.is_some()) {
                    return Err(err(format!("codelist {cl_name}, code {:?}: has a parent but the codelist has no parent codelist", c.code)));
                }
                continue;
            };
            for (i, c) in raw.codes.iter().enumerate() {
                let parent_code = c.parent.as_deref().ok_or_else(|| {
                    err(format!(
                        "codelist {cl_name}, code {:?}: no parent in codelist {}",
                        c.code, codelists[p].name
                    ))
                })?;
                let position = codelists[p].position(parent_code).ok_or_else(|| {
                    err(format!(
                        "codelist {cl_name}, code {:?}: parent {parent_code:?} is not in codelist {}",
                        c.code, codelists[p].name
                    ))
                })?;
                codelists[l].codes[i].parent = Some(position);
            }
        }

        // Records, ordered root first.
        let record_names: Vec<&String> = self.records.keys().collect();
        let record_index = |name: &str, what: &str| -> Result<usize, CensusError> {
            record_names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| err(format!("{what}: unknown record type {name:?}")))
        };
        let mut parents = Vec::new();
        for (r_name, raw) in &self.records {
            parents.push(
                raw.parent
                    .as_deref()
                    .map(|p| record_index(p, &format!("record {r_name}")))
                    .transpose()?,
            );
        }
        let depth = |r: usize| -> Result<usize, CensusError> {
            let (mut d, mut at) = (0, parents[r]);
            while let Some(p) = at {
                d += 1;
                if d > parents.len() {
                    return Err(err(format!(
                        "record {}: its chain of parents has a cycle",
                        record_names[r]
                    )));
                }
                at = parents[p];
            }
            Ok(d)
        };
        let mut order: Vec<usize> = (0..record_names.len()).collect();
        let depths = order
            .iter()
            .map(|&r| depth(r))
            .collect::<Result<Vec<_>, _>>()?;
        if depths.iter().filter(|&&d| d == 0).count() != 1 || order.is_empty() {
            return Err(err(
                "records: exactly one record type has no parent (the root, e.g. dwelling)".into(),
            ));
        }
        order.sort_by_key(|&r| depths[r]);
        let new_position = |old: usize| order.iter().position(|&o| o == old).expect("a record");
        let mut records = Vec::new();
        for &r in &order {
            let raw = &self.records[record_names[r]];
            records.push(Record {
                name: record_names[r].clone(),
                label: labels(&format!("record {}", record_names[r]), &raw.label)?,
                key: raw.key.clone(),
                parent: parents[r].map(new_position),
            });
        }
        let record_of = |name: &str, what: &str| record_index(name, what).map(new_position);

        let mut variables = Vec::new();
        for (v_name, raw) in &self.variables {
            let what = format!("variable {v_name}");
            let int_bound =
                |b: &Option<toml::Value>, which: &str| -> Result<Option<i64>, CensusError> {
                    b.as_ref()
                        .map(|v| {
                            v.as_integer()
                                .ok_or_else(|| err(format!("{what}: {which} must be an integer")))
                        })
                        .transpose()
                };
            let float_bound =
                |b: &Option<toml::Value>, which: &str| -> Result<Option<f64>, CensusError> {
                    b.as_ref()
                        .map(|v| match v {
                            toml::Value::Integer(i) => Ok(*i as f64),
                            toml::Value::Float(f) if f.is_finite() => Ok(*f),
                            _ => Err(err(format!("{what}: {which} must be a number"))),
                        })
                        .transpose()
                };
            let ty = match (raw.ty.as_str(), &raw.codelist) {
                ("code", Some(cl)) => VarType::Code(list_index(cl, &what)?),
                ("code", None) => return Err(err(format!("{what}: type code needs a codelist"))),
                (_, Some(_)) => {
                    return Err(err(format!(
                        "{what}: only variables of type code have a codelist"
                    )))
                }
                ("integer", None) => VarType::Integer {
                    min: int_bound(&raw.min, "min")?.unwrap_or(i64::MIN),
                    max: int_bound(&raw.max, "max")?.unwrap_or(i64::MAX),
                },
                ("decimal", None) => VarType::Decimal {
                    min: float_bound(&raw.min, "min")?.unwrap_or(f64::NEG_INFINITY),
                    max: float_bound(&raw.max, "max")?.unwrap_or(f64::INFINITY),
                },
                (other, None) => {
                    return Err(err(format!(
                        "{what}: type {other:?} is not one of code, integer, decimal"
                    )))
                }
            };
            if matches!(ty, VarType::Code(_)) && (raw.min.is_some() || raw.max.is_some()) {
                return Err(err(format!("{what}: a code variable has no min or max")));
            }
            variables.push(Variable {
                name: v_name.clone(),
                label: labels(&what, &raw.label)?,
                record: record_of(&raw.record, &what)?,
                ty,
            });
        }
        let var_index = |name: &str, what: &str| -> Result<usize, CensusError> {
            variables
                .iter()
                .position(|v| v.name == name)
                .ok_or_else(|| err(format!("{what}: unknown variable {name:?}")))
        };
        for (r, record) in records.iter().enumerate() {
            let what = format!("record {}", record.name);
            let key = var_index(&record.key, &what)?;
            if !matches!(variables[key].ty, VarType::Integer { .. }) || variables[key].record != r {
                return Err(err(format!(
                    "{what}: key {} must be an integer variable of record {}",
                    record.key, record.name
                )));
            }
        }

        let coordinates = self
            .coordinates
            .as_ref()
            .map(|c| -> Result<Coordinates, CensusError> {
                let latitude = var_index(&c.latitude, "coordinates")?;
                let longitude = var_index(&c.longitude, "coordinates")?;
                for v in [latitude, longitude] {
                    if !matches!(variables[v].ty, VarType::Decimal { .. }) {
                        return Err(err(format!(
                            "coordinates: {} must be a decimal variable",
                            variables[v].name
                        )));
                    }
                }
                Ok(Coordinates {
                    latitude,
                    longitude,
                })
            })
            .transpose()?;

        let mut derived = Vec::new();
        for (d_name, raw) in &self.derived {
            let what = format!("derived variable {d_name}");
            if variables.iter().any(|v| &v.name == d_name) {
                return Err(err(format!("{what}: a variable has the same name")));
            }
            let ranged = |cl: &Option<String>| -> Result<usize, CensusError> {
                let cl = cl
                    .as_deref()
                    .ok_or_else(|| err(format!("{what}: rule {} needs a codelist", raw.rule)))?;
                let l = list_index(cl, &what)?;
                let mut ranges: Vec<(i64, i64)> = Vec::new();
                for c in &codelists[l].codes {
                    let r = c.range.ok_or_else(|| {
                        err(format!(
                            "{what}: code {:?} of codelist {cl} has no min and max",
                            c.code
                        ))
                    })?;
                    if let Some(o) = ranges.iter().find(|o| r.0 <= o.1 && o.0 <= r.1) {
                        return Err(err(format!(
                            "{what}: ranges {}–{} and {}–{} of codelist {cl} overlap",
                            o.0, o.1, r.0, r.1
                        )));
                    }
                    ranges.push(r);
                }
                Ok(l)
            };
            let rule = match raw.rule.as_str() {
                "ranges" => {
                    let from = raw
                        .from
                        .as_deref()
                        .ok_or_else(|| err(format!("{what}: rule ranges needs from")))?;
                    let source = var_index(from, &what)?;
                    if !matches!(variables[source].ty, VarType::Integer { .. }) {
                        return Err(err(format!("{what}: {from} is not an integer variable")));
                    }
                    DerivedRule::Ranges {
                        source,
                        codelist: ranged(&raw.codelist)?,
                    }
                }
                "household_size" => DerivedRule::HouseholdSize {
                    codelist: ranged(&raw.codelist)?,
                },
                "grid_1km" => {
                    if coordinates.is_none() {
                        return Err(err(format!("{what}: rule grid_1km needs [coordinates]")));
                    }
                    DerivedRule::Grid1km
                }
                other => {
                    return Err(err(format!(
                        "{what}: rule {other:?} is not one of ranges, household_size, grid_1km"
                    )))
                }
            };
            derived.push(Derived {
                name: d_name.clone(),
                label: labels(&what, &raw.label)?,
                rule,
            });
        }
        let has_household_size = derived
            .iter()
            .any(|d| matches!(d.rule, DerivedRule::HouseholdSize { .. }));
        if has_household_size && records.len() < 2 {
            return Err(err("household_size needs a household record type".into()));
        }

        let mut schema = Schema {
            name,
            languages: self.languages,
            records,
            variables,
            codelists,
            derived,
            coordinates,
            implications: Vec::new(),
        };
        schema.implications = self
            .implications
            .iter()
            .enumerate()
            .map(|(i, raw)| raw.resolve(&schema, i + 1))
            .collect::<Result<_, _>>()?;
        Ok(schema)
    }
}

impl RawImplication {
    fn resolve(&self, schema: &Schema, number: usize) -> Result<Implication, CensusError> {
        let side = |name: &str, map: &BTreeMap<String, RawCondition>| {
            let what = format!("implication {number}, {name}");
            let mut conditions = map.iter();
            let (Some((variable, raw)), None) = (conditions.next(), conditions.next()) else {
                return Err(err(format!("{what}: name exactly one variable")));
            };
            match raw {
                RawCondition::Codes(codes) => {
                    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
                    schema.condition_on_codes(variable, &codes)
                }
                RawCondition::Range { min, max } => schema.condition_on_range(variable, *min, *max),
            }
            .map_err(|m| err(format!("{what}: {m}")))
        };
        let (when, then) = (side("when", &self.when)?, side("then", &self.then)?);
        if when.variable == then.variable {
            return Err(err(format!(
                "implication {number}: when and then name the same variable"
            )));
        }
        let record = |c: &crate::implication::Condition| schema.variables[c.variable].record;
        if record(&when) != record(&then) {
            return Err(err(format!(
                "implication {number}: when and then describe different record types"
            )));
        }
        Ok(Implication { when, then })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const EXAMPLE: &str = include_str!("../../../examples/census-albania/schema.toml");

    #[test]
    fn example_schema_parses_and_matches_the_geography() {
        let s = Schema::parse(EXAMPLE).unwrap();
        assert_eq!(
            s.records
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["dwelling", "household", "person"]
        );
        let geo = crate::Geography::albania();
        let mun = &s.codelists[s
            .codelists
            .iter()
            .position(|c| c.name == "municipality")
            .unwrap()];
        assert_eq!(mun.codes.len(), geo.municipalities.len());
        let county_list = mun.parent.unwrap();
        for m in &geo.municipalities {
            let p = mun.position(&m.code).unwrap();
            let c = s
                .ancestor_code(
                    s.codelists
                        .iter()
                        .position(|c| c.name == "municipality")
                        .unwrap(),
                    p,
                    county_list,
                )
                .unwrap();
            assert_eq!(
                s.codelists[county_list].codes[c as usize].code,
                geo.counties[m.county].code
            );
        }
    }

    fn broken(from: &str, to: &str) -> String {
        assert!(EXAMPLE.contains(from), "{from}");
        match Schema::parse(&EXAMPLE.replacen(from, to, 1)) {
            Ok(_) => panic!("accepted a schema with {to:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_schemas_are_refused_with_a_reason() {
        let cycle = broken(
            "[codelists.country]\n",
            "[codelists.country]\nparent = \"municipality\"\n",
        );
        assert!(cycle.contains("cycle"), "{cycle}");
        let unknown = broken("codelist = \"sex\"", "codelist = \"gender\"");
        assert!(unknown.contains("unknown codelist \"gender\""), "{unknown}");
        let unknown_var = broken("from = \"age\"", "from = \"years\"");
        assert!(
            unknown_var.contains("unknown variable \"years\""),
            "{unknown_var}"
        );
        let label = broken("en = \"Male\"", "fr = \"Homme\"");
        assert!(label.contains("language"), "{label}");
        let syntax = broken("[records.person]", "[records.person");
        assert!(syntax.contains("line "), "{syntax}");
    }
}
