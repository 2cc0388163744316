//! Scratch directories for work that is stored into the vault afterwards (the columns
//! of a census ingest), kept on the vault's own storage where it has one.
//!
//! Each is created under a temporary name, locked (`flock` on a file inside it), then
//! renamed into place, and removed when dropped. A killed process leaves its directory
//! unlocked: the next staging or `vault gc` removes every unlocked one, and never one
//! that a running process holds.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use statvault_crypto::random_bytes;

const PREFIX: &str = "staging-";
const LOCK: &str = ".lock";

/// A staging directory, held (locked) while this value lives.
pub struct Staging {
    dir: PathBuf,
    _lock: File,
}

impl Staging {
    /// Removes stale staging directories under `scratch`, then makes a new one.
    pub fn create(scratch: &Path) -> io::Result<Staging> {
        fs::create_dir_all(scratch)?;
        remove_stale(scratch)?;
        let id = hex::encode(random_bytes::<8>());
        let building = scratch.join(format!(".{PREFIX}{id}"));
        fs::create_dir(&building)?;
        let lock = File::create_new(building.join(LOCK))?;
        lock.try_lock().map_err(io::Error::other)?;
        let dir = scratch.join(format!("{PREFIX}{id}"));
        fs::rename(&building, &dir)?;
        Ok(Staging { dir, _lock: lock })
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes the staging directories under `scratch` that no running process holds;
/// returns them.
pub fn remove_stale(scratch: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(scratch) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let named = name.to_str().is_some_and(|n| n.starts_with(PREFIX));
        if !named || !entry.file_type()?.is_dir() {
            continue;
        }
        let held = File::open(entry.path().join(LOCK))
            .map(|f| f.try_lock().is_err())
            .unwrap_or(false);
        if !held {
            fs::remove_dir_all(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_staging_survives_and_a_stale_one_goes() {
        let dir = tempfile::tempdir().unwrap();
        let held = Staging::create(dir.path()).unwrap();
        fs::write(held.path().join("column.parquet"), b"x").unwrap();
        let stale = dir.path().join("staging-dead");
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join(LOCK), b"").unwrap();
        let other = Staging::create(dir.path()).unwrap();
        assert!(held.path().join("column.parquet").exists());
        assert!(!stale.exists());
        let path = other.path().to_path_buf();
        drop(other);
        assert!(!path.exists());
        assert_eq!(remove_stale(dir.path()).unwrap(), Vec::<PathBuf>::new());
    }
}
