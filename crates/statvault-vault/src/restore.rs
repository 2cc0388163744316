//! `vault restore`: a snapshot back into a directory, bit for bit, with modes and
//! modification times. Every chunk is checked against its keyed hash as it is read.

use std::ffi::OsStr;
use std::fs::{self, Permissions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use filetime::FileTime;
use statvault_crypto::{Hash, VaultKeys};

use crate::direct::{AlignedBlock, Sink};
use crate::index::ChunkMap;
use crate::pack::{BlobEntry, ChunkOpener};
use crate::repo::ObjectName;
use crate::snapshot::{Node, NodeKind};
use crate::{Progress, Result, Vault, VaultError};

/// How `restore` writes.
#[derive(Default)]
pub struct RestoreOptions {
    /// Restore into a target directory that is not empty, replacing files in the way.
    pub force: bool,
}

/// What `restore` wrote.
#[derive(Debug, serde::Serialize)]
pub struct RestoreReport {
    /// The snapshot restored.
    pub snapshot: Hash,
    /// Regular files written.
    pub files: u64,
    /// Directories made.
    pub dirs: u64,
    /// Symbolic links made.
    pub symlinks: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Restores snapshot `wanted` (an id, a prefix or `latest`) into `target`, every
/// chunk decrypted and checked against its id.
pub fn restore(
    vault: &Vault,
    keys: &VaultKeys,
    wanted: &str,
    target: &Path,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let state = vault.head()?;
    let id = vault.resolve_snapshot(&state, wanted)?;
    let snap = vault.load_snapshot(keys, &state, id)?;
    let non_empty = fs::read_dir(target)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !opts.force {
        return Err(VaultError::Usage(format!(
            "target {} is not empty; restore into a new or empty directory, or pass --force",
            target.display()
        )));
    }
    let index = vault.load_index(keys, &state)?;
    for node in &snap.nodes {
        if let NodeKind::File { chunks } = &node.kind {
            if let Some(c) = chunks.iter().find(|c| !index.chunks.contains_key(c)) {
                return Err(VaultError::corrupt(
                    ObjectName::Snapshot(id).to_string(),
                    format!(
                        "file {} needs chunk {c}, which no index lists",
                        String::from_utf8_lossy(&node.path)
                    ),
                ));
            }
        }
    }
    fs::create_dir_all(target).map_err(|e| VaultError::io(target, e))?;
    let place = |node: &Node| target.join(OsStr::from_bytes(&node.path));

    for node in snap.nodes.iter().filter(|n| n.kind == NodeKind::Dir) {
        let path = place(node);
        match fs::create_dir(&path) {
            Err(e)
                if !(e.kind() == std::io::ErrorKind::AlreadyExists
                    && path.is_dir()
                    && opts.force) =>
            {
                return Err(VaultError::io(path, e))
            }
            _ => {}
        }
    }

    let files: Vec<&Node> = snap
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::File { .. }))
        .collect();
    let jobs = plan(&files, &index);
    progress.start("restoring", files.iter().map(|n| n.size).sum());
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<VaultError>> = Mutex::new(None);
    let threads = vault.backend().parallelism();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buffers = Buffers::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len() || failure.lock().expect("no panics while held").is_some() {
                        break;
                    }
                    let done = match &jobs[i] {
                        Job::File(copies) => restore_file(
                            vault,
                            keys,
                            &index,
                            copies,
                            &place,
                            &mut buffers,
                            progress,
                        ),
                        Job::Pack(pack, group) => restore_small_files(
                            vault,
                            keys,
                            pack,
                            group,
                            &place,
                            &mut buffers,
                            progress,
                        ),
                    };
                    if let Err(e) = done {
                        failure
                            .lock()
                            .expect("no panics while held")
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    progress.finish();
    if let Some(e) = failure.into_inner().expect("threads joined") {
        return Err(e);
    }

    for node in &snap.nodes {
        if let NodeKind::Symlink { target: link } = &node.kind {
            let path = place(node);
            clear_the_way(&path, opts.force)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(link), &path)
                .map_err(|e| VaultError::io(&path, e))?;
            let t = file_time(node.mtime_ns);
            filetime::set_symlink_file_times(&path, t, t).map_err(|e| VaultError::io(&path, e))?;
        }
    }
    // Children first, so that writing into a directory does not move its mtime again.
    for node in snap.nodes.iter().rev().filter(|n| n.kind == NodeKind::Dir) {
        let path = place(node);
        fs::set_permissions(&path, Permissions::from_mode(node.mode))
            .map_err(|e| VaultError::io(&path, e))?;
        filetime::set_file_mtime(&path, file_time(node.mtime_ns))
            .map_err(|e| VaultError::io(&path, e))?;
    }
    let count = |f: fn(&NodeKind) -> bool| snap.nodes.iter().filter(|n| f(&n.kind)).count() as u64;
    Ok(RestoreReport {
        snapshot: id,
        files: files.len() as u64,
        dirs: count(|k| *k == NodeKind::Dir),
        symlinks: count(|k| matches!(k, NodeKind::Symlink { .. })),
        bytes: snap.total_bytes(),
    })
}

fn file_time(ns: i64) -> FileTime {
    FileTime::from_unix_time(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// With --force, a file or link already at `path` is replaced (never written through).
fn clear_the_way(path: &PathBuf, force: bool) -> Result<()> {
    if force {
        if let Ok(meta) = fs::symlink_metadata(path) {
            if !meta.is_dir() {
                fs::remove_file(path).map_err(|e| VaultError::io(path, e))?;
            }
        }
    }
    Ok(())
}

/// One restoring thread's reusable buffers.
#[derive(Default)]
struct Buffers {
    sealed: Vec<u8>,
    opener: ChunkOpener,
    block: AlignedBlock,
}

/// A unit of restoring work: a file streamed chunk by chunk (into each of its copies
/// in the snapshot), or the one-chunk files whose chunks sit in one pack, sorted by
/// where they sit there.
enum Job<'a> {
    File(Vec<&'a Node>),
    Pack(Hash, Vec<(&'a BlobEntry, &'a Node)>),
}

/// Files of one chunk are restored pack by pack, so that one read serves many small
/// files (on object storage, one request instead of one per file); larger files are
/// streamed, largest first, so that no large file runs alone at the end while the
/// other threads idle. Files with the same chunks are read and decrypted once and
/// written to every copy.
fn plan<'a>(files: &[&'a Node], index: &'a ChunkMap) -> Vec<Job<'a>> {
    let mut large: Vec<&Node> = Vec::new();
    let mut by_pack: std::collections::BTreeMap<Hash, Vec<(&BlobEntry, &Node)>> =
        std::collections::BTreeMap::new();
    for node in files {
        match &node.kind {
            NodeKind::File { chunks } if chunks.len() == 1 => match index.chunks.get(&chunks[0]) {
                Some((pack, entry)) => by_pack.entry(*pack).or_default().push((entry, node)),
                None => large.push(node),
            },
            _ => large.push(node),
        }
    }
    let mut copies: std::collections::HashMap<(&[Hash], u64), Vec<&Node>> = Default::default();
    for node in large {
        if let NodeKind::File { chunks } = &node.kind {
            copies.entry((chunks, node.size)).or_default().push(node);
        }
    }
    let mut large: Vec<Vec<&Node>> = copies.into_values().collect();
    large.sort_by(|a, b| (b[0].size, &a[0].path).cmp(&(a[0].size, &b[0].path)));
    let mut jobs: Vec<Job> = large.into_iter().map(Job::File).collect();
    for (pack, mut group) in by_pack {
        group.sort_by_key(|(entry, _)| entry.offset);
        jobs.push(Job::Pack(pack, group));
    }
    jobs
}

/// Restores one-chunk files whose chunks lie in `pack`: neighbouring chunks (less than
/// GAP_MAX apart) are read together, up to RUN_MAX bytes at a time.
fn restore_small_files(
    vault: &Vault,
    keys: &VaultKeys,
    pack: &Hash,
    group: &[(&BlobEntry, &Node)],
    place: &dyn Fn(&Node) -> PathBuf,
    buffers: &mut Buffers,
    progress: &dyn Progress,
) -> Result<()> {
    let name = ObjectName::Pack(*pack).to_string();
    let mut at = 0;
    while at < group.len() {
        let start = u64::from(group[at].0.offset);
        let (mut end, mut run_end) = (at, start);
        while let Some((entry, _)) = group.get(end) {
            let (offset, len) = (u64::from(entry.offset), u64::from(entry.sealed_len));
            if end > at && (offset > run_end + GAP_MAX || offset + len - start > RUN_MAX) {
                break;
            }
            (end, run_end) = (end + 1, run_end.max(offset + len));
        }
        vault
            .backend()
            .read_range(
                &name,
                start,
                (run_end - start) as usize,
                &mut buffers.sealed,
            )
            .map_err(|cause| VaultError::Backend {
                name: name.clone(),
                cause,
            })?;
        // Files with the same chunk sit next to each other: one opening serves them.
        for same in group[at..end].chunk_by(|a, b| a.0.offset == b.0.offset) {
            let entry = same[0].0;
            let from = (u64::from(entry.offset) - start) as usize;
            let chunk = buffers
                .opener
                .open(
                    keys,
                    entry,
                    &mut buffers.sealed[from..from + entry.sealed_len as usize],
                )
                .map_err(|d| VaultError::corrupt(name.clone(), d))?;
            for (_, node) in same {
                let path = place(node);
                clear_the_way(&path, true)?;
                let io = |e| VaultError::io(&path, e);
                let mut sink = Sink::create(&[&path], node.size, &mut buffers.block).map_err(io)?;
                sink.write(chunk).map_err(io)?;
                for file in sink.finish(node.size).map_err(io)? {
                    finish_file(file, node, &path)?;
                }
                progress.advance(node.size);
            }
        }
        at = end;
    }
    Ok(())
}

/// Sets a restored file's mode and modification time.
fn finish_file(out: fs::File, node: &Node, path: &Path) -> Result<()> {
    let io = |e| VaultError::io(path, e);
    out.set_permissions(Permissions::from_mode(node.mode))
        .map_err(io)?;
    filetime::set_file_handle_times(&out, None, Some(file_time(node.mtime_ns))).map_err(io)
}

/// Restores a file, and its `copies` (files with the same chunks) from the same reads.
fn restore_file(
    vault: &Vault,
    keys: &VaultKeys,
    index: &ChunkMap,
    copies: &[&Node],
    place: &dyn Fn(&Node) -> PathBuf,
    buffers: &mut Buffers,
    progress: &dyn Progress,
) -> Result<()> {
    let node = copies[0];
    let paths: Vec<PathBuf> = copies.iter().map(|n| place(n)).collect();
    for path in &paths {
        clear_the_way(path, true)?;
    }
    // Names the first file; a failure writing a copy is rare and the same in kind.
    let io = |e| VaultError::io(&paths[0], e);
    let Buffers {
        sealed,
        opener,
        block,
        ..
    } = buffers;
    let NodeKind::File { chunks } = &node.kind else {
        unreachable!("only files are restored here")
    };
    let mut sink = Sink::create(&paths, node.size, block).map_err(io)?;
    for_each_chunk(
        vault,
        keys,
        index,
        &node.path,
        chunks,
        sealed,
        opener,
        |chunk| {
            sink.write(chunk).map_err(io)?;
            progress.advance(chunk.len() as u64 * copies.len() as u64);
            Ok(())
        },
    )?;
    let files = sink.finish(node.size).map_err(io)?;
    for ((file, copy), path) in files.into_iter().zip(copies).zip(&paths) {
        finish_file(file, copy, path)?;
    }
    Ok(())
}

/// Chunks of a file that lie back to back in a pack are read together, up to this
/// many bytes: one request instead of many where each costs a round trip (object
/// storage), fewer system calls on a disk.
const RUN_MAX: u64 = 8 << 20;
/// Small files' chunks this close together are read in one request, the bytes between
/// them read and dropped.
const GAP_MAX: u64 = 256 << 10;

/// Opens and checks each chunk of (part of) a file in order and hands it to `sink`.
#[allow(clippy::too_many_arguments)]
fn for_each_chunk(
    vault: &Vault,
    keys: &VaultKeys,
    index: &ChunkMap,
    file: &[u8],
    chunks: &[Hash],
    sealed: &mut Vec<u8>,
    opener: &mut ChunkOpener,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let locate = |id: &Hash| {
        index.chunks.get(id).ok_or_else(|| {
            VaultError::corrupt(
                String::from_utf8_lossy(file),
                format!("needs chunk {id}, which no index lists"),
            )
        })
    };
    let mut at = 0;
    while at < chunks.len() {
        // The run of chunks that lie back to back in one pack: one read for all.
        let (pack, first) = locate(&chunks[at])?;
        let start = u64::from(first.offset);
        let (mut end, mut run_end) = (at + 1, start + u64::from(first.sealed_len));
        while let Some(id) = chunks.get(end) {
            let (next_pack, next) = locate(id)?;
            let next_end = run_end + u64::from(next.sealed_len);
            if next_pack != pack || u64::from(next.offset) != run_end || next_end - start > RUN_MAX
            {
                break;
            }
            (end, run_end) = (end + 1, next_end);
        }
        let name = ObjectName::Pack(*pack).to_string();
        vault
            .backend()
            .read_range(&name, start, (run_end - start) as usize, sealed)
            .map_err(|cause| VaultError::Backend {
                name: name.clone(),
                cause,
            })?;
        for id in &chunks[at..end] {
            let (_, entry) = locate(id)?;
            let from = (u64::from(entry.offset) - start) as usize;
            let chunk = opener
                .open(
                    keys,
                    entry,
                    &mut sealed[from..from + entry.sealed_len as usize],
                )
                .map_err(|d| VaultError::corrupt(name.clone(), d))?;
            sink(chunk)?;
        }
        at = end;
    }
    Ok(())
}

/// Reads files of one snapshot into memory, for programs that work on stored data
/// (tabulation) without restoring it to disk.
pub struct SnapshotFiles<'a> {
    vault: &'a Vault,
    keys: &'a VaultKeys,
    index: ChunkMap,
    /// The snapshot's id.
    pub id: Hash,
    /// The snapshot, read under the log.
    pub snapshot: crate::snapshot::Snapshot,
    /// The log head the snapshot was read under.
    pub log_head: Hash,
}

impl<'a> SnapshotFiles<'a> {
    /// `wanted` is a snapshot id or a unique prefix of one, or `latest`.
    pub fn open(vault: &'a Vault, keys: &'a VaultKeys, wanted: &str) -> Result<SnapshotFiles<'a>> {
        let state = vault.head()?;
        let id = vault.resolve_snapshot(&state, wanted)?;
        let snapshot = vault.load_snapshot(keys, &state, id)?;
        let index = vault.load_index(keys, &state)?;
        Ok(SnapshotFiles {
            vault,
            keys,
            index,
            id,
            snapshot,
            log_head: state.head().1,
        })
    }

    /// The whole content of the file at `path` (relative, `/`-separated). Large files
    /// are read by several threads, each opening a run of chunks into its part.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let node = self
            .snapshot
            .nodes
            .iter()
            .find(|n| n.path == path.as_bytes() && matches!(n.kind, NodeKind::File { .. }))
            .ok_or_else(|| VaultError::Usage(format!("snapshot {} has no file {path}", self.id)))?;
        let NodeKind::File { chunks } = &node.kind else {
            unreachable!("found a file")
        };
        let mut sizes = Vec::with_capacity(chunks.len());
        for id in chunks {
            let (_, entry) = self.index.chunks.get(id).ok_or_else(|| {
                VaultError::corrupt(path, format!("needs chunk {id}, which no index lists"))
            })?;
            sizes.push(entry.raw_len as usize);
        }
        if sizes.iter().sum::<usize>() as u64 != node.size {
            return Err(VaultError::corrupt(
                path,
                format!(
                    "its chunks hold {} bytes, the snapshot says {}",
                    sizes.iter().sum::<usize>(),
                    node.size
                ),
            ));
        }
        let mut out = vec![0u8; node.size as usize];
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(chunks.len().div_ceil(4))
            .max(1);
        // Runs of consecutive chunks of about equal size, one per thread.
        let share = (node.size as usize).div_ceil(threads).max(1);
        let mut parts: Vec<(std::ops::Range<usize>, &mut [u8])> = Vec::new();
        let (mut rest, mut first) = (out.as_mut_slice(), 0);
        while first < chunks.len() {
            let (mut last, mut bytes) = (first, 0);
            while last < chunks.len() && (bytes < share || last == first) {
                bytes += sizes[last];
                last += 1;
            }
            let (part, tail) = rest.split_at_mut(bytes);
            parts.push((first..last, part));
            rest = tail;
            first = last;
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|(range, part)| {
                    scope.spawn(move || {
                        let (mut sealed, mut opener) = (Vec::new(), ChunkOpener::default());
                        let mut at = 0;
                        let run = &chunks[range];
                        for_each_chunk(
                            self.vault,
                            self.keys,
                            &self.index,
                            &node.path,
                            run,
                            &mut sealed,
                            &mut opener,
                            |c| {
                                part.get_mut(at..at + c.len())
                                    .ok_or_else(|| {
                                        VaultError::corrupt(
                                            path,
                                            "a chunk is longer than the index says",
                                        )
                                    })?
                                    .copy_from_slice(c);
                                at += c.len();
                                Ok(())
                            },
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("a reading thread does not panic"))
        })?;
        Ok(out)
    }
}
