use std::path::PathBuf;

use statvault_crypto::CryptoError;

/// Errors of the vault library. Each names the object or path it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The storage failed on an object.
    #[error("{name}: {cause}")]
    Backend {
        /// The object.
        name: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A local file or directory that cannot be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// An object that is not what the log says it is: damage.
    #[error("{object}: {detail}")]
    Corrupt {
        /// The object.
        object: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Keys or shares that do not work.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A request that cannot be carried out as asked.
    #[error("{0}")]
    Usage(String),
    /// Another writer committed meanwhile.
    #[error("another process is writing to the vault (log entry {0} appeared meanwhile); nothing was committed")]
    Concurrent(String),
    /// Writing the log entry failed, so whether the commit happened may be unknown.
    /// Nothing it references has been removed, whatever the outcome.
    #[error("{entry}: {cause}; {outcome}")]
    Commit {
        /// The log entry's name.
        entry: String,
        /// Why the write failed.
        cause: std::io::Error,
        /// What is known of the commit.
        outcome: CommitOutcome,
    },
}

/// What is known of a commit whose log entry could not be written cleanly, and what
/// `vault verify` will therefore say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The entry reads back as written: committed, but the storage did not confirm it
    /// is durable (a crash now could still lose it).
    Written {
        /// The snapshot committed, where the commit was one.
        snapshot: Option<statvault_crypto::Hash>,
    },
    /// The entry is not there: nothing was committed.
    Absent,
    /// The entry could not be read back: either is possible.
    Unknown {
        /// The snapshot the entry would commit, where it was one.
        snapshot: Option<statvault_crypto::Hash>,
    },
}

impl std::fmt::Display for CommitOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = |s: &Option<statvault_crypto::Hash>| {
            s.map_or("the new entry".to_string(), |id| format!("snapshot {id}"))
        };
        match self {
            CommitOutcome::Written { snapshot: s } => write!(
                f,
                "the entry is in place but its storage did not confirm it is durable: \
                 'vault verify' lists {} unless the storage lost it, in which case its \
                 objects show as leftovers; nothing was removed",
                snapshot(s)
            ),
            CommitOutcome::Absent => write!(
                f,
                "nothing was committed: what was stored shows as leftovers in \
                 'vault verify' and 'vault gc' removes it"
            ),
            CommitOutcome::Unknown { snapshot: s } => write!(
                f,
                "whether it was committed cannot be known: 'vault verify' shows either {} \
                 in the log or its objects as leftovers ('vault gc' removes them); \
                 nothing was removed",
                snapshot(s)
            ),
        }
    }
}

impl VaultError {
    pub(crate) fn corrupt(object: impl Into<String>, detail: impl Into<String>) -> VaultError {
        VaultError::Corrupt {
            object: object.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> VaultError {
        VaultError::Io {
            path: path.into(),
            cause,
        }
    }

    /// Whether the error is bad input or usage (exit 2) rather than damage found (exit 1).
    pub fn is_damage(&self) -> bool {
        matches!(self, VaultError::Corrupt { .. })
    }
}

/// A result whose error is a [`VaultError`].
pub type Result<T, E = VaultError> = std::result::Result<T, E>;
