//! Where share files and passphrases come from: flags, the environment, a prompt.

use std::fs;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use statvault_crypto::share::{split, ShareFile, VaultIdentity};
use statvault_crypto::{CryptoError, MasterKey, Passphrase};

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
    let io_err = |cause| CryptoError::Io {
        path: PathBuf::from("<passphrase input>"),
        cause,
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

/// Share files about to be written for N custodians: checked absent and passphrases
/// read before the secret they will hold exists.
pub struct ShareFiles {
    paths: Vec<PathBuf>,
    passphrases: Vec<Option<Passphrase>>,
}

impl ShareFiles {
    /// `dir/custodian-<i>-of-<n>.share` for each custodian.
    pub fn prepare(dir: &Path, custodians: u8, passphrase: bool) -> anyhow::Result<ShareFiles> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let paths: Vec<PathBuf> = (1..=custodians)
            .map(|i| dir.join(format!("custodian-{i}-of-{custodians}.share")))
            .collect();
        ShareFiles::at(paths, passphrase)
    }

    /// Share files at the given paths, each asked a passphrase when `passphrase` is set.
    pub fn at(paths: Vec<PathBuf>, passphrase: bool) -> anyhow::Result<ShareFiles> {
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            bail!(
                "{} already exists; a key file is never overwritten",
                existing.display()
            );
        }
        let passphrases = (1..=paths.len())
            .map(|i| {
                passphrase
                    .then(|| read_passphrase(&format!("Passphrase for custodian {i}: ")))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ShareFiles { paths, passphrases })
    }

    /// Splits `master` among the custodians and writes each share, readable only by
    /// its owner, synced to disk.
    pub fn write(
        &self,
        master: &MasterKey,
        identity: &VaultIdentity,
    ) -> anyhow::Result<&[PathBuf]> {
        let shares = split(master, identity.custodians, identity.threshold)?;
        for (i, ((share, passphrase), path)) in shares
            .iter()
            .zip(&self.passphrases)
            .zip(&self.paths)
            .enumerate()
        {
            ShareFile::seal(identity, i as u8 + 1, share, passphrase.as_ref()).write(path)?;
        }
        Ok(&self.paths)
    }
}
