//! The tamper-evident log machinery statvault uses twice: RFC 6962 Merkle trees
//! (`merkle`) and checkpoints in the C2SP `tlog-checkpoint` format, signed as C2SP
//! signed notes (`checkpoint`). The release transparency log and the vault's audit log
//! are both built on it; their formats are in `docs/release-format.md` and
//! `docs/audit-log.md`.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod merkle;
