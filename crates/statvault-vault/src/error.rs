use std::path::PathBuf;

use statvault_crypto::CryptoError;

/// Errors of the vault library. Each names the object or path it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    #[error("{name}: {cause}")]
    Backend { name: String, cause: std::io::Error },
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{object}: {detail}")]
    Corrupt { object: String, detail: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Usage(String),
    #[error("another process is writing to the vault (log entry {0} appeared meanwhile); nothing was committed")]
    Concurrent(String),
    /// Writing the log entry failed, so whether the commit happened may be unknown.
    /// Nothing it references has been removed, whatever the outcome.
    #[error("{entry}: {cause}; {outcome}")]
    Commit {
        entry: String,
        cause: std::io::Error,
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
        snapshot: Option<statvault_crypto::Hash>,
    },
    /// The entry is not there: nothing was committed.
    Absent,
    /// The entry could not be read back: either is possible.
    Unknown {
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

pub type Result<T, E = VaultError> = std::result::Result<T, E>;
