//! Where share files and passphrases come from: flags, the environment, a prompt.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use statvault_crypto::{CryptoError, Passphrase};

use crate::cli::SharesArg;

/// The share files named by `--share`, else by `STATVAULT_SHARES` (comma-separated).
pub fn share_paths(arg: &SharesArg) -> Vec<PathBuf> {
    if !arg.shares.is_empty() {
        return arg.shares.clone();
    }
    std::env::var_os("STATVAULT_SHARES")
        .map(|v| {
            v.to_string_lossy()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a passphrase: from the terminal without echo, or as one line of standard
/// input when that is not a terminal (for scripts).
pub fn read_passphrase(prompt: &str) -> Result<Passphrase, CryptoError> {
    let io_err = |source| CryptoError::Io {
        path: PathBuf::from("<passphrase input>"),
        source,
    };
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt)
            .map(Passphrase::new)
            .map_err(io_err);
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(io_err)?;
    let text = line.trim_end_matches(['\n', '\r']).to_string();
    if text.is_empty() {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no passphrase on standard input",
        )));
    }
    Ok(Passphrase::new(text))
}

/// Asks for the passphrase of a protected share file.
pub fn passphrase_for_share(path: &Path) -> Result<Passphrase, CryptoError> {
    read_passphrase(&format!("Passphrase for share {}: ", path.display()))
}
