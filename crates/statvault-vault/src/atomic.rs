//! The one way statvault replaces a file or publishes a directory: readers see the old
//! or the new, never half of one, and after a crash the new is whole or absent. A file
//! is written under a temporary name beside its place, synced, renamed over it, and its
//! directory synced; a directory is built under a temporary name, every file in it
//! synced, renamed into place, and its parent synced.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A name beside `path` for work in progress: `<path><suffix>-<pid>`.
pub fn partial_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!("{suffix}-{}", std::process::id()));
    PathBuf::from(name)
}

/// Replaces `path` with `bytes`.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file_with(path, |file| file.write_all(bytes))
}

/// Replaces `path` with what `write` writes into the file it is given; the temporary
/// file is removed if anything fails.
pub fn write_file_with<T>(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<T>,
) -> io::Result<T> {
    let temp = partial_path(path, ".partial");
    let written = (|| {
        let mut file = File::create(&temp)?;
        let out = write(&mut file)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        sync_parent(path)?;
        Ok(out)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// Moves the finished directory `built` to `path`, after syncing every file in it and
/// itself, then syncs `path`'s parent.
pub fn publish_dir(built: &Path, path: &Path) -> io::Result<()> {
    sync_tree(built)?;
    fs::rename(built, path)?;
    sync_parent(path)
}

fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_a_failed_write_leaves_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_file(&path, b"old").unwrap();
        let failed = write_file_with(&path, |f| {
            f.write_all(b"half")?;
            Err::<(), _>(io::Error::other("disk on fire"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        write_file(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_directory_is_published_whole() {
        let dir = tempfile::tempdir().unwrap();
        let built = partial_path(&dir.path().join("out"), ".partial");
        fs::create_dir_all(built.join("tables")).unwrap();
        fs::write(built.join("tables/a"), b"a").unwrap();
        publish_dir(&built, &dir.path().join("out")).unwrap();
        assert_eq!(fs::read(dir.path().join("out/tables/a")).unwrap(), b"a");
        assert!(!built.exists());
    }
}
