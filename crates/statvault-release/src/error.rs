use thiserror::Error;

/// What went wrong building, signing or logging a release. Every kind is bad input
/// (exit 2) except `Io` and `Tampered` (exit 1).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReleaseError {
    #[error("release metadata {file}: {message}")]
    Meta { file: String, message: String },
    #[error("{path}: {message}")]
    Table { path: String, message: String },
    #[error("output {path}: {message}")]
    Output { path: String, message: String },
    #[error("bundle {path}: {message}")]
    Bundle { path: String, message: String },
    #[error("transparency log {path}: {message}")]
    Log { path: String, message: String },
    /// The log is not what the signer signed: written by someone else.
    #[error("transparency log {path}: {message}")]
    Tampered { path: String, message: String },
    #[error("calendar {path}: {message}")]
    Calendar { path: String, message: String },
    #[error(transparent)]
    Key(#[from] statvault_crypto::CryptoError),
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
}

impl ReleaseError {
    /// Whether this is evidence of tampering (a failed check, exit 1) rather than bad
    /// input.
    pub fn is_damage(&self) -> bool {
        matches!(self, ReleaseError::Tampered { .. })
    }

    pub(crate) fn io(path: &std::path::Path, cause: std::io::Error) -> ReleaseError {
        ReleaseError::Io {
            path: path.display().to_string(),
            cause,
        }
    }
}
