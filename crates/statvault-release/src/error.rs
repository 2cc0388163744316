use thiserror::Error;

/// What went wrong building, signing or logging a release. Every kind is bad input
/// (exit 2) except `Io` and `Tampered` (exit 1).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// Release metadata (`release.toml`) that is not valid.
    #[error("release metadata {file}: {message}")]
    Meta {
        /// The metadata file.
        file: String,
        /// What is wrong, with its line where it has one.
        message: String,
    },
    /// A protected table that cannot be released.
    #[error("{path}: {message}")]
    Table {
        /// The table file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// An output directory that cannot take the bundle.
    #[error("output {path}: {message}")]
    Output {
        /// The directory.
        path: String,
        /// Why.
        message: String,
    },
    /// A bundle that does not verify or cannot be read.
    #[error("bundle {path}: {message}")]
    Bundle {
        /// The bundle's directory or file.
        path: String,
        /// What does not verify.
        message: String,
    },
    /// A transparency log that cannot be read or appended to.
    #[error("transparency log {path}: {message}")]
    Log {
        /// The log's directory or file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The log is not what the signer signed: written by someone else.
    #[error("transparency log {path}: {message}")]
    Tampered {
        /// The log's directory or file.
        path: String,
        /// What differs from what was signed.
        message: String,
    },
    /// A calendar change that is not allowed, or a calendar that does not parse.
    #[error("calendar {path}: {message}")]
    Calendar {
        /// The calendar file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The release key could not be unlocked or read.
    #[error(transparent)]
    Key(#[from] statvault_crypto::CryptoError),
    /// A file that cannot be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
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
