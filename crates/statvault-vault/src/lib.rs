//! The statvault vault: an encrypted, deduplicated, tamper-evident store.
//!
//! Files are cut into chunks by a keyed content-defined chunker, named by a keyed
//! BLAKE3 hash, compressed with zstd, sealed with XChaCha20-Poly1305 and packed into
//! pack files. An encrypted index says where each chunk is; an encrypted snapshot
//! lists the tree of files. Every commit appends a signed entry to a hash-chained log
//! that names every object the vault holds, so `verify` can name any byte changed,
//! any file removed, swapped or replayed. `docs/vault-format.md` specifies it all.
//!
//! ```
//! use std::sync::Arc;
//! use statvault_vault::{add, restore, verify, AddOptions, InitOptions, LocalBackend, NoProgress, RestoreOptions, Vault, VerifyOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let source = dir.path().join("census.csv");
//! std::fs::write(&source, "person_id,age\n1,42\n").unwrap();
//! let (vault, master) = Vault::init(Arc::new(LocalBackend::new(dir.path().join("repo"))), 3, 2, &InitOptions::default()).unwrap();
//! let keys = master.derive();
//! let added = add(&vault, &keys, &[source], &AddOptions::default(), &NoProgress).unwrap();
//! let report = verify(&vault, &VerifyOptions { keys: Some(&keys), read_data: true, kept_head: None, kept_key: None }, &NoProgress).unwrap();
//! assert!(report.problems.is_empty());
//! let target = dir.path().join("restored");
//! restore(&vault, &keys, &added.snapshot.to_hex(), &target, &RestoreOptions::default(), &NoProgress).unwrap();
//! assert_eq!(std::fs::read(target.join("census.csv")).unwrap(), b"person_id,age\n1,42\n");
//! ```

#![warn(missing_docs)]

mod add;
pub mod atomic;
pub mod audit;
mod backend;
pub mod beneath;
mod chunker;
mod direct;
mod error;
mod gc;
pub mod index;
pub mod log;
pub mod pack;
mod progress;
mod replicate;
mod repo;
mod repository;
mod restore;
mod retention;
pub mod s3;
pub mod snapshot;
mod staging;
pub mod utc;
mod verify;
mod wire;

pub use add::{add, AddOptions, AddReport};
pub use backend::{
    Access, Backend, GuardedBackend, LocalBackend, MemoryBackend, ObjectInfo, ObjectLock, WriteLock,
};
pub use chunker::{ChunkReader, Chunker, ChunkerParams};
pub use error::{CommitOutcome, Result, VaultError};
pub use gc::gc;
pub use progress::{NoProgress, Progress};
pub use replicate::{replicate, ReplicateOptions, ReplicateReport};
pub use repo::{Config, InitOptions, LogState, ObjectName, Problem, Vault};
pub use repository::Repository;
pub use restore::{restore, RestoreOptions, RestoreReport, SnapshotFiles};
pub use retention::{extend_retention, RetentionReport};
pub use staging::Staging;
pub use utc::now_secs;
pub use verify::{verify, VerifyOptions, VerifyReport};
