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

/// The `format` field of every schema this version reads.
pub const FORMAT: &str = "statvault-census-schema/1";

/// Labels by language code (`sq`, `en`).
pub type Labels = BTreeMap<String, String>;

/// A census schema, checked (`docs/census-schema.md` §1): what the records are, their
/// variables and codelists, what is derived from them, and what the categories'
/// definitions imply. Items refer to each other by position.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The census's name, per language.
    pub name: Labels,
    /// The languages every label is given in, the first the default.
    pub languages: Vec<String>,
    /// Root first: every record's parent comes before it (dwelling, household, person).
    pub records: Vec<Record>,
    /// Every variable of the input, in the schema's order.
    pub variables: Vec<Variable>,
    /// Every codelist, in the schema's order.
    pub codelists: Vec<Codelist>,
    /// Variables computed at ingest.
    pub derived: Vec<Derived>,
    /// The variables that place a dwelling on the map, if the census has them.
    pub coordinates: Option<Coordinates>,
    /// What the definitions of categories imply about each other.
    pub implications: Vec<Implication>,
}

/// A record type (dwelling, household, person).
#[derive(Clone, Debug)]
pub struct Record {
    /// The record type's name.
    pub name: String,
    /// Its label, per language.
    pub label: Labels,
    /// Name of the key variable.
    pub key: String,
    /// Index into `Schema::records`.
    pub parent: Option<usize>,
}

/// What values a variable takes.
#[derive(Clone, Debug, PartialEq)]
pub enum VarType {
    /// A code of a codelist: an index into `Schema::codelists`.
    Code(usize),
    /// An integer in `min..=max`.
    Integer {
        /// The least value allowed.
        min: i64,
        /// The greatest value allowed.
        max: i64,
    },
    /// A finite decimal number in `min..=max`.
    Decimal {
        /// The least value allowed.
        min: f64,
        /// The greatest value allowed.
        max: f64,
    },
}

/// A variable of the input: a column.
#[derive(Clone, Debug)]
pub struct Variable {
    /// The column's name.
    pub name: String,
    /// Its label, per language.
    pub label: Labels,
    /// Index into `Schema::records`: the record type the value describes.
    pub record: usize,
    /// What values it takes.
    pub ty: VarType,
}

/// A list of codes, optionally a level of a hierarchy (municipality under county).
#[derive(Clone, Debug)]
pub struct Codelist {
    /// The codelist's name.
    pub name: String,
    /// Its label, per language.
    pub label: Labels,
    /// Index into `Schema::codelists` of the next level up the hierarchy.
    pub parent: Option<usize>,
    /// The codes, in the order tables show them.
    pub codes: Vec<Code>,
    positions: HashMap<String, u16>,
}

/// One code of a codelist.
#[derive(Clone, Debug)]
pub struct Code {
    /// The code as the input writes it.
    pub code: String,
    /// Its label, per language.
    pub label: Labels,
    /// Position of the parent code in the parent codelist.
    pub parent: Option<u16>,
    /// For the codelists of derived variables: the inclusive range of source values.
    pub range: Option<(i64, i64)>,
}

/// A variable computed at ingest from others.
#[derive(Clone, Debug)]
pub struct Derived {
    /// The derived variable's name.
    pub name: String,
    /// Its label, per language.
    pub label: Labels,
    /// How it is computed.
    pub rule: DerivedRule,
}

/// How a derived variable is computed.
#[derive(Clone, Debug, PartialEq)]
pub enum DerivedRule {
    /// A code of `codelist` by the range its source integer variable falls in.
    Ranges {
        /// The integer variable, an index into `Schema::variables`.
        source: usize,
        /// The codelist of ranges, an index into `Schema::codelists`.
        codelist: usize,
    },
    /// Persons per household, grouped by the ranges of `codelist`.
    HouseholdSize {
        /// The codelist of ranges, an index into `Schema::codelists`.
        codelist: usize,
    },
    /// The 1 km cell of the EU census grid (EPSG:3035) the dwelling lies in.
    Grid1km,
}

/// The variables that place a dwelling: decimal degrees in WGS 84 / ETRS89.
#[derive(Clone, Debug)]
pub struct Coordinates {
    /// The latitude's variable, an index into `Schema::variables`.
    pub latitude: usize,
    /// The longitude's variable, an index into `Schema::variables`.
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
    /// The position of variable `name`.
    pub fn variable(&self, name: &str) -> Option<usize> {
        self.variables.iter().position(|v| v.name == name)
    }

    /// The position of derived variable `name`.
    pub fn derived(&self, name: &str) -> Option<usize> {
        self.derived.iter().position(|d| d.name == name)
    }

    /// The position of record type `name`.
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
    /// Checks every item and links them by position: the steps in the order each needs
    /// the one before.
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
        let languages = Languages(&self.languages);
        let name = languages.labels("name", &self.name)?;
        let codelists = self.resolve_codelists(&languages)?;
        let records = self.resolve_records(&languages)?;
        let variables = self.resolve_variables(&languages, &codelists, &records)?;
        check_record_keys(&records, &variables)?;
        let coordinates = self.resolve_coordinates(&variables)?;
        let derived = self.resolve_derived(&languages, &codelists, &variables, &coordinates)?;
        if records.len() < 2
            && derived
                .iter()
                .any(|d| matches!(d.rule, DerivedRule::HouseholdSize { .. }))
        {
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

    /// Codelists with their codes, then the parent of each code, the hierarchy of
    /// codelists checked for cycles.
    fn resolve_codelists(&self, languages: &Languages) -> Result<Vec<Codelist>, CensusError> {
        let names = || self.codelists.keys().map(String::as_str);
        let mut codelists = Vec::new();
        for (name, raw) in &self.codelists {
            let what = format!("codelist {name}");
            let parent = raw
                .parent
                .as_deref()
                .map(|p| position_of(names(), p, &what, "codelist"))
                .transpose()?;
            codelists.push(raw.resolve(name, parent, languages)?);
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
        for (l, raw) in self.codelists.values().enumerate() {
            let parents = raw.code_parents(&codelists[l], &codelists)?;
            for (code, parent) in codelists[l].codes.iter_mut().zip(parents) {
                code.parent = parent;
            }
        }
        Ok(codelists)
    }

    /// Record types, root first, each parent by its new position.
    fn resolve_records(&self, languages: &Languages) -> Result<Vec<Record>, CensusError> {
        let names: Vec<&String> = self.records.keys().collect();
        let parents = self
            .records
            .iter()
            .map(|(name, raw)| {
                raw.parent
                    .as_deref()
                    .map(|p| {
                        position_of(
                            names.iter().map(|n| n.as_str()),
                            p,
                            &format!("record {name}"),
                            "record type",
                        )
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let depth = |r: usize| -> Result<usize, CensusError> {
            let (mut d, mut at) = (0, parents[r]);
            while let Some(p) = at {
                d += 1;
                if d > parents.len() {
                    return Err(err(format!(
                        "record {}: its chain of parents has a cycle",
                        names[r]
                    )));
                }
                at = parents[p];
            }
            Ok(d)
        };
        let depths = (0..names.len()).map(depth).collect::<Result<Vec<_>, _>>()?;
        if depths.iter().filter(|&&d| d == 0).count() != 1 {
            return Err(err(
                "records: exactly one record type has no parent (the root, e.g. dwelling)".into(),
            ));
        }
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by_key(|&r| depths[r]);
        let new_position = |old: usize| order.iter().position(|&o| o == old).expect("a record");
        order
            .iter()
            .map(|&r| {
                let raw = &self.records[names[r]];
                Ok(Record {
                    name: names[r].clone(),
                    label: languages.labels(&format!("record {}", names[r]), &raw.label)?,
                    key: raw.key.clone(),
                    parent: parents[r].map(new_position),
                })
            })
            .collect()
    }

    fn resolve_variables(
        &self,
        languages: &Languages,
        codelists: &[Codelist],
        records: &[Record],
    ) -> Result<Vec<Variable>, CensusError> {
        self.variables
            .iter()
            .map(|(name, raw)| {
                let what = format!("variable {name}");
                let ty = raw.var_type(&what, codelists)?;
                Ok(Variable {
                    name: name.clone(),
                    label: languages.labels(&what, &raw.label)?,
                    record: position_of(
                        records.iter().map(|r| r.name.as_str()),
                        &raw.record,
                        &what,
                        "record type",
                    )?,
                    ty,
                })
            })
            .collect()
    }

    fn resolve_coordinates(
        &self,
        variables: &[Variable],
    ) -> Result<Option<Coordinates>, CensusError> {
        let Some(c) = &self.coordinates else {
            return Ok(None);
        };
        let decimal = |name: &str| -> Result<usize, CensusError> {
            let v = variable_index(variables, name, "coordinates")?;
            if !matches!(variables[v].ty, VarType::Decimal { .. }) {
                return Err(err(format!(
                    "coordinates: {name} must be a decimal variable"
                )));
            }
            Ok(v)
        };
        Ok(Some(Coordinates {
            latitude: decimal(&c.latitude)?,
            longitude: decimal(&c.longitude)?,
        }))
    }

    fn resolve_derived(
        &self,
        languages: &Languages,
        codelists: &[Codelist],
        variables: &[Variable],
        coordinates: &Option<Coordinates>,
    ) -> Result<Vec<Derived>, CensusError> {
        self.derived
            .iter()
            .map(|(name, raw)| {
                let what = format!("derived variable {name}");
                if variables.iter().any(|v| &v.name == name) {
                    return Err(err(format!("{what}: a variable has the same name")));
                }
                let rule = raw.rule(&what, codelists, variables, coordinates.is_some())?;
                Ok(Derived {
                    name: name.clone(),
                    label: languages.labels(&what, &raw.label)?,
                    rule,
                })
            })
            .collect()
    }
}

/// The schema's declared languages: every label has each of them and no other.
struct Languages<'a>(&'a [String]);

impl Languages<'_> {
    fn labels(&self, what: &str, labels: &Labels) -> Result<Labels, CensusError> {
        for lang in self.0 {
            if labels.get(lang).is_none_or(|s| s.trim().is_empty()) {
                return Err(err(format!("{what}: no label in language {lang:?}")));
            }
        }
        if let Some(other) = labels.keys().find(|k| !self.0.contains(k)) {
            return Err(err(format!(
                "{what}: {other:?} is not a declared language ({})",
                self.0.join(", ")
            )));
        }
        Ok(labels.clone())
    }
}

/// The position of `name` among `names`, or an error naming `what` refers to an
/// unknown `kind`.
fn position_of<'n>(
    mut names: impl Iterator<Item = &'n str>,
    name: &str,
    what: &str,
    kind: &str,
) -> Result<usize, CensusError> {
    names
        .position(|n| n == name)
        .ok_or_else(|| err(format!("{what}: unknown {kind} {name:?}")))
}

fn variable_index(variables: &[Variable], name: &str, what: &str) -> Result<usize, CensusError> {
    position_of(
        variables.iter().map(|v| v.name.as_str()),
        name,
        what,
        "variable",
    )
}

/// Each record's key is an integer variable of that record.
fn check_record_keys(records: &[Record], variables: &[Variable]) -> Result<(), CensusError> {
    for (r, record) in records.iter().enumerate() {
        let what = format!("record {}", record.name);
        let key = variable_index(variables, &record.key, &what)?;
        if !matches!(variables[key].ty, VarType::Integer { .. }) || variables[key].record != r {
            return Err(err(format!(
                "{what}: key {} must be an integer variable of record {}",
                record.key, record.name
            )));
        }
    }
    Ok(())
}

impl RawCodelist {
    /// The codelist with its codes, each checked; codes' parents are linked later,
    /// once every codelist is known.
    fn resolve(
        &self,
        name: &str,
        parent: Option<usize>,
        languages: &Languages,
    ) -> Result<Codelist, CensusError> {
        let what = format!("codelist {name}");
        if self.codes.is_empty() {
            return Err(err(format!("{what}: has no codes")));
        }
        if self.codes.len() > u16::MAX as usize {
            return Err(err(format!("{what}: more than {} codes", u16::MAX)));
        }
        let mut positions = HashMap::new();
        let mut codes = Vec::new();
        for (i, c) in self.codes.iter().enumerate() {
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
                label: languages.labels(&code_what, &c.label)?,
                parent: None,
                range,
            });
        }
        Ok(Codelist {
            name: name.to_string(),
            label: languages.labels(&what, &self.label)?,
            parent,
            codes,
            positions,
        })
    }

    /// Each code's position in the parent codelist: every code has one where the
    /// codelist has a parent, none where it has not.
    fn code_parents(
        &self,
        list: &Codelist,
        codelists: &[Codelist],
    ) -> Result<Vec<Option<u16>>, CensusError> {
        let what = |c: &RawCode| format!("codelist {}, code {:?}", list.name, c.code);
        let Some(p) = list.parent else {
            if let Some(c) = self.codes.iter().find(|c| c.parent.is_some()) {
                return Err(err(format!(
                    "{}: has a parent but the codelist has no parent codelist",
                    what(c)
                )));
            }
            return Ok(vec![None; self.codes.len()]);
        };
        let parent = &codelists[p];
        self.codes
            .iter()
            .map(|c| {
                let code = c.parent.as_deref().ok_or_else(|| {
                    err(format!(
                        "{}: no parent in codelist {}",
                        what(c),
                        parent.name
                    ))
                })?;
                let position = parent.position(code).ok_or_else(|| {
                    err(format!(
                        "{}: parent {code:?} is not in codelist {}",
                        what(c),
                        parent.name
                    ))
                })?;
                Ok(Some(position))
            })
            .collect()
    }
}

impl RawVariable {
    fn var_type(&self, what: &str, codelists: &[Codelist]) -> Result<VarType, CensusError> {
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
        let ty = match (self.ty.as_str(), &self.codelist) {
            ("code", Some(cl)) => VarType::Code(position_of(
                codelists.iter().map(|c| c.name.as_str()),
                cl,
                what,
                "codelist",
            )?),
            ("code", None) => return Err(err(format!("{what}: type code needs a codelist"))),
            (_, Some(_)) => {
                return Err(err(format!(
                    "{what}: only variables of type code have a codelist"
                )))
            }
            ("integer", None) => VarType::Integer {
                min: int_bound(&self.min, "min")?.unwrap_or(i64::MIN),
                max: int_bound(&self.max, "max")?.unwrap_or(i64::MAX),
            },
            ("decimal", None) => VarType::Decimal {
                min: float_bound(&self.min, "min")?.unwrap_or(f64::NEG_INFINITY),
                max: float_bound(&self.max, "max")?.unwrap_or(f64::INFINITY),
            },
            (other, None) => {
                return Err(err(format!(
                    "{what}: type {other:?} is not one of code, integer, decimal"
                )))
            }
        };
        if matches!(ty, VarType::Code(_)) && (self.min.is_some() || self.max.is_some()) {
            return Err(err(format!("{what}: a code variable has no min or max")));
        }
        Ok(ty)
    }
}

impl RawDerived {
    fn rule(
        &self,
        what: &str,
        codelists: &[Codelist],
        variables: &[Variable],
        has_coordinates: bool,
    ) -> Result<DerivedRule, CensusError> {
        Ok(match self.rule.as_str() {
            "ranges" => {
                let from = self
                    .from
                    .as_deref()
                    .ok_or_else(|| err(format!("{what}: rule ranges needs from")))?;
                let source = variable_index(variables, from, what)?;
                if !matches!(variables[source].ty, VarType::Integer { .. }) {
                    return Err(err(format!("{what}: {from} is not an integer variable")));
                }
                DerivedRule::Ranges {
                    source,
                    codelist: self.ranged_codelist(what, codelists)?,
                }
            }
            "household_size" => DerivedRule::HouseholdSize {
                codelist: self.ranged_codelist(what, codelists)?,
            },
            "grid_1km" if has_coordinates => DerivedRule::Grid1km,
            "grid_1km" => return Err(err(format!("{what}: rule grid_1km needs [coordinates]"))),
            other => {
                return Err(err(format!(
                    "{what}: rule {other:?} is not one of ranges, household_size, grid_1km"
                )))
            }
        })
    }

    /// The rule's codelist, every code of it a range of integers, none overlapping.
    fn ranged_codelist(&self, what: &str, codelists: &[Codelist]) -> Result<usize, CensusError> {
        let name = self
            .codelist
            .as_deref()
            .ok_or_else(|| err(format!("{what}: rule {} needs a codelist", self.rule)))?;
        let l = position_of(
            codelists.iter().map(|c| c.name.as_str()),
            name,
            what,
            "codelist",
        )?;
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for c in &codelists[l].codes {
            let r = c.range.ok_or_else(|| {
                err(format!(
                    "{what}: code {:?} of codelist {name} has no min and max",
                    c.code
                ))
            })?;
            if let Some(o) = ranges.iter().find(|o| r.0 <= o.1 && o.0 <= r.1) {
                return Err(err(format!(
                    "{what}: ranges {}–{} and {}–{} of codelist {name} overlap",
                    o.0, o.1, r.0, r.1
                )));
            }
            ranges.push(r);
        }
        Ok(l)
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
