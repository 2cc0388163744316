use std::path::PathBuf;

/// Errors of the cryptographic layer. Messages never contain secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// AEAD decryption failed.
    #[error("decryption failed: the data was altered or was sealed with another key")]
    Decrypt,
    /// An Ed25519 signature that does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed {what}: {detail}")]
    /// Input that does not parse.
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    #[error("share file {path}: {problem}")]
    /// A share file that is not valid.
    Share {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Shares that cannot be combined (too few, from different vaults, inconsistent).
    #[error("{0}")]
    Shares(String),
    /// A passphrase-protected share file whose passphrase is wrong.
    #[error("wrong passphrase for share file {0}")]
    WrongPassphrase(PathBuf),
    /// A file that cannot be read.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        cause: std::io::Error,
    },
    /// A file that cannot be written.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why it cannot be written.
        cause: std::io::Error,
    },
}
