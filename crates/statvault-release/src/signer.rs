//! The release key together with the office's own record of what it signed.
//!
//! The releases directory is on the public side's reach: whoever owns the web host can
//! write `log/entries.jsonl`. The signer therefore never signs a checkpoint over entries
//! it did not make. It keeps its own copy of the log, as signed, in a state directory
//! the releases directory cannot overwrite (format in `docs/release-format.md`, "The
//! signer's record"), and extends the public log only if the public log is exactly
//! that copy.

use std::path::{Path, PathBuf};

use statvault_crypto::ReleaseKey;

use crate::minisign::MinisignKey;

/// Where the signer's record lives when no directory is given:
/// `$XDG_STATE_HOME/statvault/signer`, else `~/.local/state/statvault/signer`.
pub fn default_state_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| Path::new(&home).join(".local/state"))
        })?;
    Some(base.join("statvault/signer"))
}

/// The release key and the directory of its record.
pub struct Signer {
    key: ReleaseKey,
    state_root: PathBuf,
}

impl Signer {
    /// `state_root` holds one record per key, in a subdirectory named by the key id.
    pub fn new(key: ReleaseKey, state_root: impl Into<PathBuf>) -> Signer {
        Signer {
            key,
            state_root: state_root.into(),
        }
    }

    /// The release key.
    pub fn key(&self) -> &ReleaseKey {
        &self.key
    }

    /// This key's record: a log directory (`entries.jsonl`, `checkpoint`) holding the
    /// entries it signed, then at most the entry it is appending.
    pub fn state_dir(&self) -> PathBuf {
        self.state_root
            .join(MinisignKey::of(self.key.public_key()).id_hex())
    }

    /// Whether this key has a record yet; without one, the first append trusts the
    /// public log's checkpoint signed by this key, and starts the record from it.
    pub fn has_record(&self) -> bool {
        self.state_dir()
            .join(crate::names::CHECKPOINT_FILE)
            .exists()
    }
}
