//! Storage of named objects. The core speaks only this trait; encryption, caching and
//! the like wrap a backend instead of living in one, so an object-storage backend can
//! follow without touching the core.

use std::cell::RefCell;
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use statvault_crypto::random_bytes;

use crate::beneath::{Parent, Root};
use crate::direct::{read_whole, AlignedBlock, Sink, DIRECT_MIN_SIZE};
use crate::s3::{LockMode, Retention};

/// A stored object's name (a `/`-separated relative path) and size in bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectInfo {
    /// The object's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Held while a writer (add, gc) works; dropping it releases the lock.
pub struct WriteLock(#[allow(dead_code)] pub(crate) Box<dyn Send>);

/// Read, write, list and delete named objects. Names are `/`-separated relative paths.
pub trait Backend: Send + Sync {
    /// Reads a whole object, refusing (`InvalidData`) one larger than `limit` bytes
    /// before reading it.
    fn read(&self, name: &str, limit: u64) -> std::io::Result<Vec<u8>>;
    /// Reads `len` bytes at `offset` into `out` (replacing its contents), so that hot
    /// loops can reuse one buffer.
    fn read_range(
        &self,
        name: &str,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()>;
    /// Stores a new object durably and atomically: readers see either nothing or the
    /// whole object. Fails with `AlreadyExists` if the name is taken, which makes
    /// appending to the commit log safe against a concurrent writer.
    fn write_new(&self, name: &str, data: &[u8]) -> std::io::Result<()>;
    /// Every object whose name starts with `prefix`, sorted by name. Temporary files of
    /// interrupted writes are listed under `tmp/`.
    fn list(&self, prefix: &str) -> std::io::Result<Vec<ObjectInfo>>;
    /// Removes an object.
    fn delete(&self, name: &str) -> std::io::Result<()>;
    /// Excludes other writers (add, gc) of this repository until the lock is dropped.
    fn lock(&self) -> std::io::Result<WriteLock>;
    /// A local directory on the repository's own storage for staging work, if it has
    /// one (see `staging`).
    fn scratch_dir(&self) -> Option<PathBuf> {
        None
    }
    /// Object Lock, where the storage has it.
    fn object_lock(&self) -> Option<&dyn ObjectLock> {
        None
    }
    /// Removes a writer's lock that a killed process left; returns who held it, or
    /// `None` if none was held. Where the lock dies with its process (a local vault's
    /// flock), there is never one to remove.
    fn break_lock(&self) -> std::io::Result<Option<String>> {
        Ok(None)
    }
    /// How many reads to keep in flight: a disk wants a few per core; object storage,
    /// where each request waits a round trip, more.
    fn parallelism(&self) -> usize {
        2 * std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// Object Lock (S3): objects kept from deletion and overwrite until a date.
pub trait ObjectLock: Send + Sync {
    /// The vault's retention setting, if it has one.
    fn retention(&self) -> std::io::Result<Option<Retention>>;
    /// Records a retention setting for every object written from now on; the
    /// strictest ever recorded applies.
    fn set_retention(&self, retention: Retention) -> std::io::Result<()>;
    /// When `name`'s retention ends (seconds since the epoch), if it has one.
    fn retained_until(&self, name: &str) -> std::io::Result<Option<u64>>;
    /// Moves `name`'s retention end to `until`; storage refuses to move it earlier.
    fn retain_until(&self, name: &str, mode: LockMode, until: u64) -> std::io::Result<()>;
}

thread_local! {
    /// Each thread's buffer for O_DIRECT reads and writes of large objects.
    static BLOCK: RefCell<AlignedBlock> = RefCell::default();
}

/// Where a local repository keeps staging directories; never part of a commit.
pub const STAGING_DIR: &str = "staging";

/// A repository in a local directory.
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// A vault in the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> LocalBackend {
        LocalBackend { root: root.into() }
    }

    /// The vault's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn beneath(&self) -> std::io::Result<Root> {
        Root::open(&self.root)
    }

    /// Writes `data` to a new temporary file in `tmp/`, fsynced; returns its directory
    /// entry.
    fn write_temp<'a>(
        &self,
        root: &Root,
        temp: &'a str,
        data: &[u8],
    ) -> std::io::Result<Parent<'a>> {
        let parent = root.parent(temp, true)?;
        let file = parent.create_new(0)?;
        let written = BLOCK.with_borrow_mut(|block| {
            let mut sink = Sink::new(vec![file], data.len() as u64, block);
            sink.write(data)?;
            sink.finish(data.len() as u64)?
                .iter()
                .try_for_each(fs::File::sync_all)
        });
        match written {
            Ok(()) => Ok(parent),
            Err(e) => {
                let _ = parent.unlink();
                Err(e)
            }
        }
    }
}

fn too_large(size: u64, limit: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{size} bytes, more than the {limit} this object may have"),
    )
}

impl Backend for LocalBackend {
    fn read(&self, name: &str, limit: u64) -> std::io::Result<Vec<u8>> {
        let (mut file, size) = self.beneath()?.open_regular(name, 0)?;
        if size > limit {
            return Err(too_large(size, limit));
        }
        let mut out = Vec::with_capacity(size as usize);
        // Bounded again while reading: the file may grow meanwhile.
        (&mut file).take(limit + 1).read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(too_large(out.len() as u64, limit));
        }
        Ok(out)
    }

    fn read_range(
        &self,
        name: &str,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let (mut file, _) = self.beneath()?.open_regular(name, 0)?;
        let whole_and_large = offset == 0 && len as u64 >= DIRECT_MIN_SIZE;
        if whole_and_large
            && BLOCK.with_borrow_mut(|block| read_whole(&mut file, len, out, block))?
        {
            return Ok(());
        }
        out.resize(len, 0);
        file.read_exact_at(out, offset)
    }

    fn write_new(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        let root = match self.beneath() {
            // The first write of a new vault makes its directory.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.root)?;
                self.beneath()?
            }
            other => other?,
        };
        let target = root.parent(name, true)?;
        let temp_name = format!("tmp/{}.tmp", hex::encode(random_bytes::<12>()));
        // Written in full and fsynced under a temporary name, then linked into place:
        // link() fails if the name exists, so a published name is never overwritten.
        let temp = self.write_temp(&root, &temp_name, data)?;
        let result = temp.link_to(&target).and_then(|()| target.dir.sync_all());
        let _ = temp.unlink();
        result
    }

    fn list(&self, prefix: &str) -> std::io::Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let start = self.root.join(prefix.trim_end_matches('/'));
        match fs::symlink_metadata(&start) {
            Ok(meta) if meta.is_dir() => walk(&self.root, &start, &mut out)?,
            Ok(meta) => out.push(ObjectInfo {
                name: prefix.to_string(),
                size: meta.len(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, name: &str) -> std::io::Result<()> {
        self.beneath()?.parent(name, false)?.unlink()
    }

    fn scratch_dir(&self) -> Option<PathBuf> {
        Some(self.root.join(STAGING_DIR))
    }

    fn lock(&self) -> std::io::Result<WriteLock> {
        let file = self.beneath()?.parent("lock", false)?.open_or_create()?;
        match file.try_lock() {
            Ok(()) => Ok(WriteLock(Box::new(file))),
            Err(fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another statvault process holds the vault's write lock",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(root, &entry.path(), out)?;
        } else {
            let rel = entry.path();
            let rel = rel.strip_prefix(root).expect("walk stays under the root");
            out.push(ObjectInfo {
                name: rel
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/"),
                size: meta.len(),
            });
        }
    }
    Ok(())
}

/// What a call through a [`GuardedBackend`] is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `read` or `read_range`.
    Read,
    /// `write_new`.
    Write,
    /// `list`.
    List,
    /// `delete`.
    Delete,
    /// `lock` or `break_lock`.
    Lock,
}

/// Another backend behind a guard that may refuse each call before it reaches the
/// storage, given what the call does and to which object (a listing's prefix; empty
/// for the lock). The agent's sessions refuse everything once sealed; tests inject
/// failures.
pub struct GuardedBackend<G> {
    inner: Arc<dyn Backend>,
    guard: G,
}

impl<G: Fn(Access, &str) -> std::io::Result<()> + Send + Sync> GuardedBackend<G> {
    /// `inner`, each call first let through by `guard`.
    pub fn new(inner: Arc<dyn Backend>, guard: G) -> GuardedBackend<G> {
        GuardedBackend { inner, guard }
    }
}

impl<G: Fn(Access, &str) -> std::io::Result<()> + Send + Sync> Backend for GuardedBackend<G> {
    fn read(&self, name: &str, limit: u64) -> std::io::Result<Vec<u8>> {
        (self.guard)(Access::Read, name)?;
        self.inner.read(name, limit)
    }

    fn read_range(
        &self,
        name: &str,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        (self.guard)(Access::Read, name)?;
        self.inner.read_range(name, offset, len, out)
    }

    fn write_new(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        (self.guard)(Access::Write, name)?;
        self.inner.write_new(name, data)
    }

    fn list(&self, prefix: &str) -> std::io::Result<Vec<ObjectInfo>> {
        (self.guard)(Access::List, prefix)?;
        self.inner.list(prefix)
    }

    fn delete(&self, name: &str) -> std::io::Result<()> {
        (self.guard)(Access::Delete, name)?;
        self.inner.delete(name)
    }

    fn lock(&self) -> std::io::Result<WriteLock> {
        (self.guard)(Access::Lock, "")?;
        self.inner.lock()
    }

    fn scratch_dir(&self) -> Option<PathBuf> {
        self.inner.scratch_dir()
    }

    fn object_lock(&self) -> Option<&dyn ObjectLock> {
        self.inner.object_lock()
    }

    fn break_lock(&self) -> std::io::Result<Option<String>> {
        (self.guard)(Access::Lock, "")?;
        self.inner.break_lock()
    }

    fn parallelism(&self) -> usize {
        self.inner.parallelism()
    }
}

/// A repository held in memory: for tests of the layers above the backend, and proof
/// that they need nothing but the trait.
#[derive(Default)]
pub struct MemoryBackend {
    objects: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    locked: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl MemoryBackend {
    fn objects(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Vec<u8>>> {
        self.objects.lock().expect("no panics while held")
    }
}

fn not_found(name: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, format!("no object {name}"))
}

impl Backend for MemoryBackend {
    fn read(&self, name: &str, limit: u64) -> std::io::Result<Vec<u8>> {
        let objects = self.objects();
        let data = objects.get(name).ok_or_else(|| not_found(name))?;
        if data.len() as u64 > limit {
            return Err(too_large(data.len() as u64, limit));
        }
        Ok(data.clone())
    }

    fn read_range(
        &self,
        name: &str,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let objects = self.objects();
        let data = objects.get(name).ok_or_else(|| not_found(name))?;
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(len)?));
        let bytes = range
            .and_then(|r| data.get(r))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        out.clear();
        out.extend_from_slice(bytes);
        Ok(())
    }

    fn write_new(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        match self.objects().entry(name.to_string()) {
            std::collections::btree_map::Entry::Occupied(_) => {
                Err(std::io::ErrorKind::AlreadyExists.into())
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(data.to_vec());
                Ok(())
            }
        }
    }

    fn list(&self, prefix: &str) -> std::io::Result<Vec<ObjectInfo>> {
        Ok(self
            .objects()
            .range(prefix.to_string()..)
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(name, data)| ObjectInfo {
                name: name.clone(),
                size: data.len() as u64,
            })
            .collect())
    }

    fn delete(&self, name: &str) -> std::io::Result<()> {
        self.objects()
            .remove(name)
            .map(drop)
            .ok_or_else(|| not_found(name))
    }

    fn lock(&self) -> std::io::Result<WriteLock> {
        use std::sync::atomic::Ordering;
        struct Release(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Release {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        if self.locked.swap(true, Ordering::Acquire) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the vault's write lock is held",
            ));
        }
        Ok(WriteLock(Box::new(Release(self.locked.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_new_is_exclusive_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path());
        backend.write_new("packs/ab/abc", b"one").unwrap();
        let err = backend.write_new("packs/ab/abc", b"two").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(backend.read("packs/ab/abc", 3).unwrap(), b"one");
        let mut buf = b"old contents".to_vec();
        backend.read_range("packs/ab/abc", 1, 2, &mut buf).unwrap();
        assert_eq!(buf, b"ne");
        assert!(backend.list("tmp/").unwrap().is_empty());
        let listed = backend.list("packs/").unwrap();
        assert_eq!(
            listed,
            vec![ObjectInfo {
                name: "packs/ab/abc".into(),
                size: 3
            }]
        );
    }

    #[test]
    fn second_writer_cannot_take_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        for backend in [
            &LocalBackend::new(dir.path()) as &dyn Backend,
            &MemoryBackend::default(),
        ] {
            let held = backend.lock().unwrap();
            assert_eq!(
                backend.lock().err().unwrap().kind(),
                std::io::ErrorKind::WouldBlock
            );
            drop(held);
            backend.lock().unwrap();
        }
    }

    #[test]
    fn memory_backend_behaves_like_the_local_one() {
        let dir = tempfile::tempdir().unwrap();
        for backend in [
            &LocalBackend::new(dir.path()) as &dyn Backend,
            &MemoryBackend::default(),
        ] {
            backend.write_new("index/aa", b"first").unwrap();
            backend.write_new("packs/ab/abc", b"second").unwrap();
            let again = backend.write_new("index/aa", b"x").unwrap_err();
            assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
            let names: Vec<String> = backend
                .list("packs/")
                .unwrap()
                .into_iter()
                .map(|o| o.name)
                .collect();
            assert_eq!(names, ["packs/ab/abc"]);
            let mut buf = Vec::new();
            backend.read_range("packs/ab/abc", 2, 3, &mut buf).unwrap();
            assert_eq!(buf, b"con");
            assert!(backend.read_range("packs/ab/abc", 4, 3, &mut buf).is_err());
            backend.delete("index/aa").unwrap();
            assert_eq!(
                backend.read("index/aa", 99).unwrap_err().kind(),
                std::io::ErrorKind::NotFound
            );
        }
    }
}
