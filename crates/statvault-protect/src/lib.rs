//! Disclosure control for statvault's tables (DESIGN.md §3 PROTECT): the cell key
//! method with max-entropy p-tables, the threshold rule with secondary suppression,
//! audits that attack the result, and the protected-table file the release step reads.
//! Formats and methods: `docs/protection.md`.

mod audit;
mod ckm;
mod error;
pub mod protected;
mod ptable;
mod suppress;
mod system;

pub use audit::{audit, AuditReport, CellInterval};
pub use ckm::{protect_ckm, CkmOptions};
pub use error::ProtectError;
pub use protected::{CellStatus, ProtectedTable};
pub use ptable::{PTable, PTableParams, Transition};
pub use suppress::{protect_suppress, SuppressOptions};
