use std::collections::HashMap;
use std::fmt;

use statvault_vault::VaultError;

/// Errors of the census library. Each names the file, line or object it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CensusError {
    #[error("schema{}, {at}: {message}", file.as_ref().map(|f| format!(" {f}")).unwrap_or_default())]
    Schema {
        /// The schema's file, where the caller knows it.
        file: Option<String>,
        at: String,
        message: String,
    },
    #[error("table spec, {at}: {message}")]
    Spec { at: String, message: String },
    /// The input as a whole cannot be read: missing or unknown columns, empty file.
    #[error("{file}: {message}")]
    Input { file: String, message: String },
    /// Records that break the schema; nothing was committed.
    #[error("{0}")]
    Invalid(Box<ValidationReport>),
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    /// A stored census dataset that does not read back as written.
    #[error("census dataset in snapshot {snapshot}, {object}: {detail}")]
    Dataset {
        snapshot: String,
        object: String,
        detail: String,
    },
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
    pub file: String,
    pub records: u64,
    pub errors: u64,
    /// In the order each kind of error first occurred.
    pub groups: Vec<ErrorGroup>,
    #[serde(skip)]
    by_key: HashMap<(String, String), usize>,
    #[serde(skip)]
    max_examples: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct ErrorGroup {
    pub column: String,
    pub rule: String,
    pub count: u64,
    /// The first few occurrences.
    pub examples: Vec<ErrorExample>,
}

#[derive(Debug, serde::Serialize)]
pub struct ErrorExample {
    /// `line 12, column 7` (CSV) or `row 12, column 7` (Parquet).
    pub at: String,
    pub value: String,
}

impl ValidationReport {
    pub fn new(file: String, max_examples: usize) -> ValidationReport {
        ValidationReport {
            file,
            max_examples,
            ..Default::default()
        }
    }

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
