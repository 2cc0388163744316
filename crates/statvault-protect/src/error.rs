use thiserror::Error;

/// What went wrong protecting a table. Every kind is bad input (exit 2) except
/// `Solver`, which says the LP solver failed on a well-formed problem.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtectError {
    #[error("p-table line {line}{}: {message}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
    /// A p-table CSV that cannot be read.
    PTable {
        /// The line at fault, from 1.
        line: usize,
        /// The column at fault, where one is.
        column: Option<&'static str>,
        /// What is wrong there.
        message: String,
    },
    /// A p-table parameter is out of range or the parameters admit no p-table.
    #[error("p-table parameters: {0}")]
    Parameters(String),
    #[error("table {table}: {message}")]
    /// A table that cannot be protected as given.
    Table {
        /// The table's id.
        table: String,
        /// What is wrong with it.
        message: String,
    },
    /// The linear program solver failed on a well-formed problem.
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
