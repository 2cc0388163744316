use thiserror::Error;

/// What went wrong protecting a table. Every kind is bad input (exit 2) except
/// `Solver`, which says the LP solver failed on a well-formed problem.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtectError {
    #[error("p-table line {line}{}: {message}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
    PTable {
        line: usize,
        column: Option<&'static str>,
        message: String,
    },
    #[error("p-table parameters: {0}")]
    Parameters(String),
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
    #[error("linear program: {0}")]
    Solver(String),
}

impl ProtectError {
    pub(crate) fn table(table: &str, message: impl Into<String>) -> ProtectError {
        ProtectError::Table {
            table: table.to_string(),
            message: message.into(),
        }
    }
}
