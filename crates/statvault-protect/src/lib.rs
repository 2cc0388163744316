//! Disclosure control for statvault's tables (DESIGN.md §3 PROTECT): the cell key
//! method with max-entropy p-tables, the threshold rule with secondary suppression,
//! audits that attack the result, and the protected-table file the release step reads.
//! Formats and methods: `docs/protection.md`.

#![warn(missing_docs)]

mod audit;
mod ckm;
mod error;
pub mod protected;
mod ptable;
mod suppress;
mod system;
#[cfg(test)]
mod testing;

pub use audit::{audit, AuditReport, CellInterval};
pub use ckm::{protect_ckm, CkmOptions};
pub use error::ProtectError;
pub use protected::{CellStatus, ProtectedTable};
pub use ptable::{PTable, PTableParams, Transition};
pub use suppress::{protect_suppress, SuppressOptions};

use statvault_census::Table;

/// A protection method with its parameters.
#[derive(Clone, Debug)]
pub enum Method {
    /// The cell key method: noise from a p-table, the same for a cell in every table.
    Ckm {
        /// The p-table the noise is drawn from.
        ptable: PTable,
        /// Which totals stay exact.
        options: CkmOptions,
    },
    /// The threshold rule with secondary suppression, over all tables together.
    Suppress(SuppressOptions),
}

/// Protects tables. Suppression protects them all together (they share cells); the
/// cell key method is consistent by construction and only needs the set for totals
/// kept exact.
/// Grid tables go to the cell key method unless `suppress_grid` says otherwise.
pub fn protect(tables: &[Table], method: &Method) -> Result<Vec<ProtectedTable>, ProtectError> {
    match method {
        Method::Ckm { ptable, options } => protect_ckm(tables, ptable, options),
        Method::Suppress(options) if options.suppress_grid => protect_suppress(tables, options),
        Method::Suppress(options) => {
            let (grids, others): (Vec<Table>, Vec<Table>) =
                tables.iter().cloned().partition(Table::is_grid);
            let mut done = protect_suppress(&others, options)?;
            done.extend(protect_ckm(
                &grids,
                &PTable::shipped(),
                &CkmOptions::default(),
            )?);
            // In the order given.
            Ok(tables
                .iter()
                .map(|t| {
                    let k = done.iter().position(|p| p.id == t.id).expect("protected");
                    done.swap_remove(k)
                })
                .collect())
        }
    }
}
