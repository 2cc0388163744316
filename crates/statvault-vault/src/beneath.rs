//! Files inside a local vault, reached from the vault's directory one component at a
//! time without following any symbolic link.
//!
//! Whoever owns the host can plant a symlink in the vault (`packs/ab` to `/etc`, a pack
//! to `/dev/zero`); a path-based open would follow it, so that `restore` reads forever
//! or `add` writes outside the vault. Every operation here resolves its name with
//! `openat(…, O_NOFOLLOW)` per component and works on the parent directory's
//! descriptor, so the link is refused (ELOOP or ENOTDIR) instead.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The error for a name that is, or lies under, something other than a plain file or
/// directory.
pub fn not_plain(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} (statvault follows no symbolic link and reads only regular files)"),
    )
}

fn cstring(component: &str) -> io::Result<CString> {
    if component.is_empty() || component == "." || component == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{component:?} is not an object name component"),
        ));
    }
    CString::new(component).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                not_plain("a symbolic link or lies under one")
            }
            _ => e,
        });
    }
    Ok(result)
}

fn openat(dir: &impl AsRawFd, component: &str, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let name = cstring(component)?;
    // SAFETY: `name` is a valid C string for the call; the descriptor returned is new
    // and owned by nobody else.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: a descriptor just returned by openat.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A directory holding a vault, opened once per operation.
pub struct Root(OwnedFd);

/// A directory inside the vault and the last component of a name in it.
pub struct Parent<'a> {
    /// The directory, opened beneath the vault's root.
    pub dir: File,
    /// The name's last component.
    pub leaf: &'a str,
}

impl Root {
    /// Opens the vault's directory itself (which may be reached through a symlink: the
    /// operator chose that path).
    pub fn open(root: &Path) -> io::Result<Root> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(root)?;
        Ok(Root(dir.into()))
    }

    /// The directory that holds `name`, creating missing directories on the way if
    /// `create`.
    pub fn parent<'a>(&self, name: &'a str, create: bool) -> io::Result<Parent<'a>> {
        let (dirs, leaf) = match name.rsplit_once('/') {
            Some((dirs, leaf)) => (Some(dirs), leaf),
            None => (None, name),
        };
        cstring(leaf)?;
        let mut dir = self.0.try_clone()?;
        for component in dirs.into_iter().flat_map(|d| d.split('/')) {
            let flags = libc::O_RDONLY | libc::O_DIRECTORY;
            dir = match openat(&dir, component, flags, 0) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    let c = cstring(component)?;
                    // SAFETY: `c` is a valid C string; mkdirat creates, follows nothing.
                    let made = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) };
                    if made < 0 && io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists
                    {
                        return Err(io::Error::last_os_error());
                    }
                    openat(&dir, component, flags, 0)?
                }
                other => other?,
            };
        }
        Ok(Parent {
            dir: File::from(dir),
            leaf,
        })
    }

    /// Opens an existing regular file for reading; never blocks on a FIFO and refuses
    /// anything that is not a regular file. Returns it with its size.
    pub fn open_regular(&self, name: &str, extra_flags: i32) -> io::Result<(File, u64)> {
        let parent = self.parent(name, false)?;
        let file = File::from(openat(
            &parent.dir,
            parent.leaf,
            libc::O_RDONLY | libc::O_NONBLOCK | extra_flags,
            0,
        )?);
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(not_plain("not a regular file"));
        }
        Ok((file, meta.len()))
    }
}

impl Parent<'_> {
    /// Creates `leaf` in this directory; fails if it exists.
    pub fn create_new(&self, extra_flags: i32) -> io::Result<File> {
        openat(
            &self.dir,
            self.leaf,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | extra_flags,
            0o644,
        )
        .map(File::from)
    }

    /// Opens `leaf` for writing, creating it if missing (the lock file).
    pub fn open_or_create(&self) -> io::Result<File> {
        openat(&self.dir, self.leaf, libc::O_WRONLY | libc::O_CREAT, 0o600).map(File::from)
    }

    /// Links this directory's `leaf` to `to`'s leaf; fails if that name exists.
    pub fn link_to(&self, to: &Parent) -> io::Result<()> {
        let (from, target) = (cstring(self.leaf)?, cstring(to.leaf)?);
        // SAFETY: valid C strings and open directory descriptors; flags 0 follows no
        // symlink at the source.
        check(unsafe {
            libc::linkat(
                self.dir.as_raw_fd(),
                from.as_ptr(),
                to.dir.as_raw_fd(),
                target.as_ptr(),
                0,
            )
        })
        .map(drop)
    }

    /// Removes the entry `leaf` of the directory.
    pub fn unlink(&self) -> io::Result<()> {
        let leaf = cstring(self.leaf)?;
        // SAFETY: a valid C string and an open directory descriptor.
        check(unsafe { libc::unlinkat(self.dir.as_raw_fd(), leaf.as_ptr(), 0) }).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_fifos_and_dot_dot_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("packs/ab")).unwrap();
        std::fs::write(dir.path().join("packs/ab/real"), b"data").unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("packs/ab/zero")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("packs/cd")).unwrap();
        let fifo = CString::new(dir.path().join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

        let (_, size) = root.open_regular("packs/ab/real", 0).unwrap();
        assert_eq!(size, 4);
        for name in [
            "packs/ab/zero",
            "packs/cd/passwd",
            "fifo",
            "packs/../x",
            "/etc/passwd",
        ] {
            let e = root.open_regular(name, 0).unwrap_err();
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
                ),
                "{name}: {e}"
            );
        }
        let e = root.parent("packs/cd/new", true).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(!Path::new("/etc/new").exists());
        root.parent("index/x", true).unwrap().create_new(0).unwrap();
        assert!(dir.path().join("index/x").is_file());
    }
}
