use std::collections::HashMap;
use std::fmt;

use statvault_vault::VaultError;

/// Errors of the census library. Each names the file, line or object it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CensusError {
    /// A schema that is not valid.
    #[error("schema{}, {at}: {message}", file.as_ref().map(|f| format!(" {f}")).unwrap_or_default())]
    Schema {
        /// The schema's file, where the caller knows it.
        file: Option<String>,
        /// Where in it: `line L, column C`.
        at: String,
        /// What is wrong there.
        message: String,
    },
    /// A table spec that is not valid.
    #[error("table spec, {at}: {message}")]
    Spec {
        /// Where in it: `line L, column C`, or the table.
        at: String,
        /// What is wrong there.
        message: String,
    },
    /// The input as a whole cannot be read: missing or unknown columns, empty file.
    #[error("{file}: {message}")]
    Input {
        /// The input file.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// Records that break the schema; nothing was committed.
    #[error("{0}")]
    Invalid(Box<ValidationReport>),
    /// A file that cannot be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A stored census dataset that does not read back as written.
    #[error("census dataset in snapshot {snapshot}, {object}: {detail}")]
    Dataset {
        /// The snapshot's id.
        snapshot: String,
        /// The dataset's file at fault.
        object: String,
        /// What does not read back.
        detail: String,
    },
    /// The vault failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl CensusError {
    /// Names the file a schema error is in.
    pub fn in_file(self, path: impl fmt::Display) -> CensusError {
        match self {
            CensusError::Schema { at, message, .. } => CensusError::Schema {
                file: Some(path.to_string()),
                at,
                message,
            },
            other => other,
        }
    }

    /// Damage found in the vault or a stored dataset (exit 1) rather than bad input.
    pub fn is_damage(&self) -> bool {
        match self {
            CensusError::Vault(v) => v.is_damage(),
            CensusError::Dataset { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(path: impl fmt::Display, cause: std::io::Error) -> CensusError {
        CensusError::Io {
            path: path.to_string(),
            cause,
        }
    }
}

/// Every way the records of an input broke the schema, grouped by column and rule.
#[derive(Debug, Default, serde::Serialize)]
pub struct ValidationReport {
    /// The input file.
    pub file: String,
    /// Records read.
    pub records: u64,
    /// Errors found, in all.
    pub errors: u64,
    /// In the order each kind of error first occurred.
    pub groups: Vec<ErrorGroup>,
    #[serde(skip)]
    by_key: HashMap<(String, String), usize>,
    #[serde(skip)]
    max_examples: usize,
}

/// One kind of error: a column and the rule it broke.
#[derive(Debug, serde::Serialize)]
pub struct ErrorGroup {
    /// The column.
    pub column: String,
    /// The rule broken (`not in codelist sex`, `above max 120`…).
    pub rule: String,
    /// How many times.
    pub count: u64,
    /// The first few occurrences.
    pub examples: Vec<ErrorExample>,
}

/// One occurrence of an error.
#[derive(Debug, serde::Serialize)]
pub struct ErrorExample {
    /// `line 12, column 7` (CSV) or `row 12, column 7` (Parquet).
    pub at: String,
    /// The value found there, shortened if long.
    pub value: String,
}

impl ValidationReport {
    /// An empty report on input `file`, keeping up to `max_examples` examples per kind.
    pub fn new(file: String, max_examples: usize) -> ValidationReport {
        ValidationReport {
            file,
            max_examples,
            ..Default::default()
        }
    }

    /// Counts one error: `value` broke `rule` in `column` at `at` (asked only for the
    /// first examples).
    pub fn add(&mut self, column: &str, rule: &str, at: impl FnOnce() -> String, value: &[u8]) {
        self.errors += 1;
        let next = self.groups.len();
        let g = *self
            .by_key
            .entry((column.to_string(), rule.to_string()))
            .or_insert(next);
        if g == next {
            self.groups.push(ErrorGroup {
                column: column.to_string(),
                rule: rule.to_string(),
                count: 0,
                examples: Vec::new(),
            });
        }
        let group = &mut self.groups[g];
        group.count += 1;
        if group.examples.len() < self.max_examples {
            let mut value = String::from_utf8_lossy(value).into_owned();
            if value.chars().count() > 60 {
                value = value.chars().take(57).collect::<String>() + "...";
            }
            group.examples.push(ErrorExample { at: at(), value });
        }
    }

    /// No error found.
    pub fn is_empty(&self) -> bool {
        self.errors == 0
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} error{} in {} records; nothing was committed",
            self.file,
            self.errors,
            if self.errors == 1 { "" } else { "s" },
            self.records
        )?;
        for g in &self.groups {
            writeln!(f, "  {}: {} ({}×)", g.column, g.rule, g.count)?;
            for e in &g.examples {
                writeln!(f, "    {}: {:?}", e.at, e.value)?;
            }
            if g.count > g.examples.len() as u64 {
                writeln!(f, "    … and {} more", g.count - g.examples.len() as u64)?;
            }
        }
        Ok(())
    }
}
