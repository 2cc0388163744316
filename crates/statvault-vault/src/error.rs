use std::path::PathBuf;

use statvault_crypto::CryptoError;

/// Errors of the vault library. Each names the object or path it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    #[error("{name}: {source}")]
    Backend {
        name: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{object}: {detail}")]
    Corrupt { object: String, detail: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Usage(String),
    #[error("another process is writing to the vault (log entry {0} appeared meanwhile); nothing was committed")]
    Concurrent(String),
}

impl VaultError {
    pub(crate) fn corrupt(object: impl Into<String>, detail: impl Into<String>) -> VaultError {
        VaultError::Corrupt {
            object: object.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> VaultError {
        VaultError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the error is bad input or usage (exit 2) rather than damage found (exit 1).
    pub fn is_damage(&self) -> bool {
        matches!(self, VaultError::Corrupt { .. })
    }
}

pub type Result<T, E = VaultError> = std::result::Result<T, E>;
