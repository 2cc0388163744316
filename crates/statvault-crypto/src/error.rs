use std::path::PathBuf;

/// Errors of the cryptographic layer. Messages never contain secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    #[error("decryption failed: the data was altered or was sealed with another key")]
    Decrypt,
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("share file {path}: {problem}")]
    Share { path: PathBuf, problem: String },
    #[error("{0}")]
    Shares(String),
    #[error("wrong passphrase for share file {0}")]
    WrongPassphrase(PathBuf),
    #[error("cannot read {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}
