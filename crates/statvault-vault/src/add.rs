//! `vault add`: files and directories into a new snapshot.
//!
//! The main thread walks the tree, reads files, cuts chunks and hashes them; chunks the
//! vault lacks go to worker threads that compress and seal them; one writer thread
//! fills pack files and stores them. Bounded channels keep memory flat whatever the
//! data size. A file whose size, mtime, ctime and inode match the parent snapshot is
//! not read again.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::bounded;
use statvault_crypto::{Hash, ObjectKind, VaultKeys};

use crate::backend::ObjectInfo;
use crate::chunker::{ChunkReader, Chunker};
use crate::index::{self, PackIndex};
use crate::log::Commit;
use crate::pack::{BlobEntry, ChunkSealer, Compression, PackBuilder};
use crate::repo::{LogState, ObjectName};
use crate::snapshot::{self, Node, NodeKind, Snapshot};
use crate::{Progress, Result, Vault, VaultError};

/// How `add` stores files.
#[derive(Default)]
pub struct AddOptions {
    /// Tags recorded in the snapshot.
    pub tags: Vec<String>,
    /// Fail, committing nothing, instead of skipping unreadable or special files and
    /// files that keep changing while being read.
    pub strict: bool,
    /// The source paths to record, and to find the previous snapshot of the same
    /// sources by, instead of the paths read: the agent adds a client's files from its
    /// own copy of them. One per path added.
    pub recorded_paths: Option<Vec<PathBuf>>,
}

/// What an `add` did.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct AddReport {
    /// The new snapshot's id.
    pub snapshot: Hash,
    /// The log entry that committed it.
    pub log_seq: u64,
    /// The log's head after it.
    pub log_head: Hash,
    /// Regular files recorded.
    pub files: u64,
    /// Directories recorded.
    pub dirs: u64,
    /// Symbolic links recorded.
    pub symlinks: u64,
    /// Bytes of the files recorded.
    pub bytes: u64,
    /// Bytes read: files unchanged since the previous snapshot are not read again.
    pub bytes_read: u64,
    /// Files taken from the previous snapshot without reading them.
    pub unchanged_files: u64,
    /// Chunks the vault did not hold yet.
    pub new_chunks: u64,
    /// Their bytes, before compression.
    pub new_bytes: u64,
    /// Bytes written to the vault: packs, index and snapshot.
    pub stored_bytes: u64,
    /// Pack files written.
    pub packs: u64,
    /// Files left out, each with why (unreadable, special, changing while read).
    pub skipped: Vec<String>,
}

/// How many times a file that changes while being read is read again before it is
/// skipped.
const READ_ATTEMPTS: usize = 3;

/// Files up to this size are prefetched, at most this many files ahead of the reader.
const PREFETCH_MAX_SIZE: u64 = 8 << 20;
const PREFETCH_AHEAD: usize = 32;

struct Scanned {
    node: Node,
    source: PathBuf,
}

/// Stores the files and directories under `paths` as a new snapshot: chunked,
/// deduplicated against every chunk the vault holds, compressed, encrypted, and
/// committed by one signed log entry.
pub fn add(
    vault: &Vault,
    keys: &VaultKeys,
    paths: &[PathBuf],
    opts: &AddOptions,
    progress: &dyn Progress,
) -> Result<AddReport> {
    if paths.is_empty() {
        return Err(VaultError::Usage(
            "nothing to add: name at least one file or directory".into(),
        ));
    }
    let _lock = vault.backend().lock().map_err(|e| VaultError::Backend {
        name: "lock".into(),
        cause: e,
    })?;
    let state = vault.head()?;
    crate::gc::remove_temporaries(vault)?;
    let index = vault.load_index(keys, &state)?;

    let mut skipped = Vec::new();
    let warn = |skipped: &mut Vec<String>, message: String| {
        progress.warn(&message);
        skipped.push(message);
    };
    let (mut sources, mut scanned) = scan_sources(paths, &mut |m| warn(&mut skipped, m))?;
    if let Some(recorded) = &opts.recorded_paths {
        if recorded.len() != paths.len() {
            return Err(VaultError::Usage(
                "one recorded path is needed for each path added".into(),
            ));
        }
        sources = recorded
            .iter()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .collect();
    }
    strict_check(opts, &skipped)?;
    let parent = find_parent(vault, keys, &state, &sources)?;
    let parent_files: HashMap<&[u8], &Node> = parent
        .as_ref()
        .map(|(_, s)| s.nodes.iter().map(|n| (n.path.as_slice(), n)).collect())
        .unwrap_or_default();

    let total: u64 = scanned
        .iter()
        .filter(|s| matches!(s.node.kind, NodeKind::File { .. }))
        .map(|s| s.node.size)
        .sum();
    progress.start("adding", total);
    let gear = keys.gear_table();
    let chunker_params = vault.config.chunker;
    let (level, pack_size) = (
        vault.config.compression_level,
        vault.config.pack_size as usize,
    );
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(1);
    let mut stats = Stats::default();
    let mut keep = vec![true; scanned.len()];
    // A file whose size, times and inode match the parent snapshot's keeps its chunks.
    let reusable = |node: &Node| -> Option<&Vec<Hash>> {
        let old = parent_files.get(node.path.as_slice())?;
        let NodeKind::File { chunks } = &old.kind else {
            return None;
        };
        let same = (old.size, old.mtime_ns, old.ctime_ns, old.inode)
            == (node.size, node.mtime_ns, node.ctime_ns, node.inode);
        (same && chunks.iter().all(|c| index.chunks.contains_key(c))).then_some(chunks)
    };
    let to_prefetch: Vec<(usize, PathBuf)> = scanned
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            matches!(s.node.kind, NodeKind::File { .. }) && s.node.size <= PREFETCH_MAX_SIZE
        })
        .filter(|(_, s)| reusable(&s.node).is_none())
        .map(|(i, s)| (i, s.source.clone()))
        .collect();
    let position = AtomicUsize::new(0);

    let written: Result<Vec<(PackIndex, ObjectInfo)>> = std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = bounded::<(u64, Hash, Vec<u8>)>(2 * workers);
        let (sealed_tx, sealed_rx) = bounded::<SealedChunk>(2 * workers);
        for _ in 0..workers {
            let (rx, tx) = (chunk_rx.clone(), sealed_tx.clone());
            scope.spawn(move || {
                let mut sealer = ChunkSealer::new(level);
                for (seq, id, chunk) in rx {
                    let (sealed, compression) = sealer.seal(keys, &chunk);
                    let raw_len = chunk.len() as u32;
                    if tx
                        .send(SealedChunk {
                            seq,
                            id,
                            sealed,
                            raw_len,
                            compression,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop((chunk_rx, sealed_tx));
        let writer = scope.spawn(move || write_packs(vault, keys, sealed_rx, pack_size));

        let position = &position;
        scope.spawn(move || prefetch(&to_prefetch, position));
        let mut pending: HashSet<Hash> = HashSet::new();
        let mut next_seq = 0u64;
        let mut chunk_reader = ChunkReader::new(Chunker::new(gear.get(), chunker_params));
        'files: for (i, item) in scanned.iter_mut().enumerate() {
            if !matches!(item.node.kind, NodeKind::File { .. }) {
                continue;
            }
            stats.files += 1;
            position.store(i, Ordering::Relaxed);
            let reused = reusable(&item.node).cloned();
            let NodeKind::File { chunks } = &mut item.node.kind else {
                unreachable!("a file")
            };
            if let Some(old_chunks) = reused {
                *chunks = old_chunks;
                stats.unchanged_files += 1;
                progress.advance(item.node.size);
                continue;
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                let outcome = read_file(&item.source, &mut chunk_reader, keys, |id, chunk| {
                    if index.chunks.contains_key(&id) || !pending.insert(id) {
                        return true;
                    }
                    stats.new_chunks += 1;
                    stats.new_bytes += chunk.len() as u64;
                    next_seq += 1;
                    chunk_tx.send((next_seq - 1, id, chunk.to_vec())).is_ok()
                });
                match outcome {
                    Ok(ReadOutcome::Done { ids, meta }) => {
                        stats.bytes_read += meta.size;
                        progress.advance(meta.size);
                        *chunks = ids;
                        item.node.size = meta.size;
                        item.node.mtime_ns = meta.mtime_ns;
                        item.node.ctime_ns = meta.ctime_ns;
                        break;
                    }
                    Ok(ReadOutcome::Changed) if attempt < READ_ATTEMPTS => continue,
                    Ok(ReadOutcome::Changed) => {
                        warn(&mut skipped, format!("skipped {}: it kept changing while being read ({READ_ATTEMPTS} attempts)", item.source.display()));
                        keep[i] = false;
                        break;
                    }
                    Ok(ReadOutcome::WriterGone) => break 'files,
                    Err(e) => {
                        warn(
                            &mut skipped,
                            format!("skipped {}: {e}", item.source.display()),
                        );
                        keep[i] = false;
                        break;
                    }
                }
            }
        }
        position.store(usize::MAX, Ordering::Relaxed);
        drop(chunk_tx);
        writer.join().expect("pack writer thread panicked")
    });
    progress.finish();
    let written = written?;
    let mut added: Vec<ObjectInfo> = written.iter().map(|(_, info)| info.clone()).collect();
    stats.packs = written.len() as u64;
    stats.stored_bytes = added.iter().map(|o| o.size).sum();
    let nodes: Vec<Node> = scanned
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(s, _)| s.node)
        .collect();
    let snap = Snapshot {
        time_ns: crate::utc::now_nanos(),
        hostname: fs::read("/proc/sys/kernel/hostname")
            .map(|h| h.trim_ascii().to_vec())
            .unwrap_or_default(),
        tags: opts.tags.iter().map(|t| t.as_bytes().to_vec()).collect(),
        paths: sources,
        parent: parent.as_ref().map(|(id, _)| *id),
        nodes,
    };
    let packs = written.into_iter().map(|(p, _)| p).collect();
    let id = match store_metadata(vault, keys, opts, &skipped, packs, &snap, &mut added) {
        Ok(id) => id,
        Err(e) => {
            // Nothing was committed: what this add stored is unreferenced; remove it now
            // rather than leave it for gc (best effort: the disk may be full or gone).
            for o in &added {
                let _ = vault.backend().delete(&o.name);
            }
            return Err(e);
        }
    };
    // From here on nothing is deleted: if writing the log entry fails, the entry may
    // still exist and commit everything in `added`.
    let (seq, head) = vault.commit(keys, &state, Commit::Snapshot { id }, added)?;
    // Object Lock: what is committed stays retained. The commit stands whatever this
    // says; a failure is a warning and 'vault retention extend' can be run again.
    if let Err(e) = crate::retention::extend_retention(vault, true, &crate::NoProgress) {
        progress.warn(&format!("extending retention: {e}"));
    }
    let count = |wanted: fn(&NodeKind) -> bool| {
        snap.nodes.iter().filter(|n| wanted(&n.kind)).count() as u64
    };
    Ok(AddReport {
        snapshot: id,
        log_seq: seq,
        log_head: head,
        files: snap.file_count() as u64,
        dirs: count(|k| *k == NodeKind::Dir),
        symlinks: count(|k| matches!(k, NodeKind::Symlink { .. })),
        bytes: snap.total_bytes(),
        bytes_read: stats.bytes_read,
        unchanged_files: stats.unchanged_files,
        new_chunks: stats.new_chunks,
        new_bytes: stats.new_bytes,
        stored_bytes: stats.stored_bytes,
        packs: stats.packs,
        skipped,
    })
}

/// Stores the index of the new packs and the snapshot, appending both to `added`;
/// returns the snapshot id. Everything stored so far is still uncommitted.
fn store_metadata(
    vault: &Vault,
    keys: &VaultKeys,
    opts: &AddOptions,
    skipped: &[String],
    packs: Vec<PackIndex>,
    snap: &Snapshot,
    added: &mut Vec<ObjectInfo>,
) -> Result<Hash> {
    strict_check(opts, skipped)?;
    if !packs.is_empty() {
        added.push(vault.store(keys, ObjectKind::Index, &index::write(&packs))?);
    }
    let plain =
        zstd::bulk::compress(&snapshot::write(snap), 3).expect("zstd compression of a buffer");
    let snap_info = vault.store(keys, ObjectKind::Snapshot, &plain)?;
    let id = ObjectName::parse(&snap_info.name)
        .expect("a snapshot name")
        .hash();
    added.push(snap_info);
    Ok(id)
}

/// With `--strict`, anything skipped is an error and nothing is committed.
fn strict_check(opts: &AddOptions, skipped: &[String]) -> Result<()> {
    if opts.strict && !skipped.is_empty() {
        return Err(VaultError::Usage(format!(
            "--strict: {}",
            skipped.join("; ")
        )));
    }
    Ok(())
}

#[derive(Default)]
struct Stats {
    files: u64,
    unchanged_files: u64,
    bytes_read: u64,
    new_chunks: u64,
    new_bytes: u64,
    stored_bytes: u64,
    packs: u64,
}

struct FileMeta {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl FileMeta {
    fn of(m: &fs::Metadata) -> FileMeta {
        FileMeta {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        }
    }

    fn same(&self, other: &FileMeta) -> bool {
        (self.size, self.mtime_ns, self.ctime_ns) == (other.size, other.mtime_ns, other.ctime_ns)
    }
}

enum ReadOutcome {
    Done {
        ids: Vec<Hash>,
        meta: FileMeta,
    },
    /// The file changed while it was read: size, mtime or ctime moved, or the bytes
    /// read disagree with the size.
    Changed,
    /// The pack writer stopped (it failed); its error is reported by the caller.
    WriterGone,
}

/// Reads a file chunk by chunk; `chunk` gets each chunk's id and bytes and returns
/// false if the pipeline has stopped.
fn read_file(
    path: &Path,
    reader: &mut ChunkReader,
    keys: &VaultKeys,
    mut chunk: impl FnMut(Hash, &[u8]) -> bool,
) -> std::io::Result<ReadOutcome> {
    let mut file = File::open(path)?;
    let before = FileMeta::of(&file.metadata()?);
    reader.reset();
    let mut ids = Vec::new();
    let mut read = 0u64;
    while let Some(data) = reader.next_chunk(&mut file)? {
        let id = keys.chunk_id(data);
        read += data.len() as u64;
        if !chunk(id, data) {
            return Ok(ReadOutcome::WriterGone);
        }
        ids.push(id);
    }
    let after = FileMeta::of(&file.metadata()?);
    if !before.same(&after) || read != after.size {
        return Ok(ReadOutcome::Changed);
    }
    Ok(ReadOutcome::Done { ids, meta: after })
}

/// Asks the kernel to read the next small files ahead while the reader chunks the
/// current one: cold small files would otherwise cost one disk round trip each, in turn.
/// Large files need no help: the kernel's sequential readahead covers them. `position`
/// is the index of the file being read; `usize::MAX` ends the prefetching.
fn prefetch(files: &[(usize, PathBuf)], position: &AtomicUsize) {
    for (index, path) in files {
        loop {
            let at = position.load(Ordering::Relaxed);
            if at == usize::MAX {
                return;
            }
            if *index <= at.saturating_add(PREFETCH_AHEAD) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        if *index <= position.load(Ordering::Relaxed) {
            continue; // already read
        }
        if let Ok(file) = File::open(path) {
            // SAFETY: posix_fadvise only reads its arguments; the descriptor is open.
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
        }
    }
}

/// A chunk as a worker sealed it; `seq` is its place in the order the reader cut it.
struct SealedChunk {
    seq: u64,
    id: Hash,
    sealed: Vec<u8>,
    raw_len: u32,
    compression: Compression,
}

/// Hands on sealed chunks in the order the reader cut them, whatever order the
/// workers finish in, so that a file's chunks lie back to back in its packs and a
/// restore reads them in a few large requests. It holds at most the chunks in flight.
fn in_cut_order(
    sealed: crossbeam_channel::Receiver<SealedChunk>,
) -> impl Iterator<Item = SealedChunk> {
    let mut early: std::collections::BTreeMap<u64, SealedChunk> = Default::default();
    let mut next = 0u64;
    std::iter::from_fn(move || loop {
        if let Some(chunk) = early.remove(&next) {
            next += 1;
            return Some(chunk);
        }
        match sealed.recv() {
            Ok(chunk) => {
                early.insert(chunk.seq, chunk);
            }
            // The reader stopped early (an error): hand on what is left, in order.
            Err(_) => {
                let (_, chunk) = early.pop_first()?;
                next = chunk.seq + 1;
                return Some(chunk);
            }
        }
    })
}

/// Receives sealed chunks and fills packs; a second thread stores each full pack
/// (hash, write, fsync) while the next one fills. On a storage error (a full disk, say)
/// the packs stored so far are deleted and the error returned; dropping `sealed` then
/// stops the workers and the reader.
fn write_packs(
    vault: &Vault,
    keys: &VaultKeys,
    sealed: crossbeam_channel::Receiver<SealedChunk>,
    pack_size: usize,
) -> Result<Vec<(PackIndex, ObjectInfo)>> {
    // Room for a full pack plus the largest sealed chunk: the buffer never regrows.
    let capacity = pack_size + vault.config.chunker.max as usize + statvault_crypto::AEAD_OVERHEAD;
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = bounded::<(Vec<u8>, Vec<BlobEntry>)>(1);
        let storer = scope.spawn(move || {
            let mut written: Vec<(PackIndex, ObjectInfo)> = Vec::new();
            for (bytes, blobs) in full_rx {
                let pack = Hash::of(&bytes);
                match vault.write_object(ObjectName::Pack(pack), &bytes) {
                    Ok(info) => written.push((PackIndex { pack, blobs }, info)),
                    Err(e) => {
                        for (_, info) in &written {
                            let _ = vault.backend().delete(&info.name);
                        }
                        return Err(e);
                    }
                }
            }
            Ok(written)
        });
        let mut builder = PackBuilder::with_capacity(capacity);
        for chunk in in_cut_order(sealed) {
            builder.add(chunk.id, &chunk.sealed, chunk.raw_len, chunk.compression);
            if builder.len() >= pack_size {
                let full = std::mem::replace(&mut builder, PackBuilder::with_capacity(capacity));
                if full_tx.send(full.finish(keys)).is_err() {
                    break; // the storer failed; its error is returned below
                }
            }
        }
        if !builder.is_empty() {
            let _ = full_tx.send(builder.finish(keys));
        }
        drop(full_tx);
        storer.join().expect("pack storer thread panicked")
    })
}

/// Walks the source paths. Each becomes a top-level entry named by its last path
/// component, as `tar` does.
fn scan_sources(
    paths: &[PathBuf],
    warn: &mut dyn FnMut(String),
) -> Result<(Vec<Vec<u8>>, Vec<Scanned>)> {
    let mut sources = Vec::new();
    let mut scanned = Vec::new();
    let mut names = HashSet::new();
    for path in paths {
        let absolute = std::path::absolute(path).map_err(|e| VaultError::io(path, e))?;
        fs::symlink_metadata(&absolute).map_err(|e| VaultError::io(path, e))?;
        let name = match absolute.file_name() {
            Some(n) if n != ".." => n.to_os_string(),
            _ => {
                let canonical = absolute
                    .canonicalize()
                    .map_err(|e| VaultError::io(path, e))?;
                canonical.file_name().map(|n| n.to_os_string()).ok_or_else(|| {
                    VaultError::Usage(format!("{}: cannot add a filesystem root as a whole; name the directories in it", path.display()))
                })?
            }
        };
        if !names.insert(name.clone()) {
            return Err(VaultError::Usage(format!(
                "two paths to add are both named {:?}; a snapshot keeps each under its last component",
                name
            )));
        }
        sources.push(absolute.as_os_str().as_bytes().to_vec());
        scan(&absolute, name.as_bytes().to_vec(), &mut scanned, warn);
    }
    Ok((sources, scanned))
}

fn scan(source: &Path, rel: Vec<u8>, out: &mut Vec<Scanned>, warn: &mut dyn FnMut(String)) {
    let meta = match fs::symlink_metadata(source) {
        Ok(m) => m,
        Err(e) => return warn(format!("skipped {}: {e}", source.display())),
    };
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        NodeKind::File { chunks: vec![] }
    } else if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_symlink() {
        match fs::read_link(source) {
            Ok(target) => NodeKind::Symlink {
                target: target.as_os_str().as_bytes().to_vec(),
            },
            Err(e) => return warn(format!("skipped {}: {e}", source.display())),
        }
    } else {
        let what = if ft.is_fifo() {
            "a named pipe"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device file"
        };
        return warn(format!(
            "skipped {}: {what} holds no data to keep",
            source.display()
        ));
    };
    let node = Node {
        path: rel,
        size: if ft.is_dir() { 0 } else { meta.len() },
        mode: meta.mode() & 0o7777,
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        inode: meta.ino(),
        kind,
    };
    let is_dir = node.kind == NodeKind::Dir;
    let rel = node.path.clone();
    out.push(Scanned {
        node,
        source: source.to_path_buf(),
    });
    if !is_dir {
        return;
    }
    let mut entries: Vec<_> = match fs::read_dir(source) {
        Ok(rd) => rd
            .filter_map(|e| {
                e.map_err(|e| warn(format!("skipped an entry of {}: {e}", source.display())))
                    .ok()
            })
            .collect(),
        Err(e) => return warn(format!("skipped the contents of {}: {e}", source.display())),
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let mut child = rel.clone();
        child.push(b'/');
        child.extend_from_slice(entry.file_name().as_bytes());
        scan(&entry.path(), child, out, warn);
    }
}

/// The latest snapshot of the same source paths, whose unchanged files need not be
/// read again.
fn find_parent(
    vault: &Vault,
    keys: &VaultKeys,
    state: &LogState,
    sources: &[Vec<u8>],
) -> Result<Option<(Hash, Snapshot)>> {
    let ids: Vec<Hash> = state.snapshots().map(|(id, _)| id).collect();
    for id in ids.into_iter().rev() {
        let snap = vault.load_snapshot(keys, state, id)?;
        if snap.paths == sources {
            return Ok(Some((id, snap)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(seq: u64) -> SealedChunk {
        SealedChunk {
            seq,
            id: Hash::of(&seq.to_le_bytes()),
            sealed: vec![seq as u8],
            raw_len: 1,
            compression: Compression::None,
        }
    }

    #[test]
    fn sealed_chunks_come_out_in_cut_order_whatever_order_workers_finish_in() {
        let (tx, rx) = bounded(16);
        for seq in [2, 0, 1, 5, 3, 4, 6] {
            tx.send(sealed(seq)).unwrap();
        }
        drop(tx);
        let order: Vec<u64> = in_cut_order(rx).map(|c| c.seq).collect();
        assert_eq!(order, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn chunks_after_a_gap_still_come_out_when_the_reader_stops() {
        let (tx, rx) = bounded(16);
        for seq in [3, 0, 5] {
            tx.send(sealed(seq)).unwrap();
        }
        drop(tx);
        let order: Vec<u64> = in_cut_order(rx).map(|c| c.seq).collect();
        assert_eq!(order, [0, 3, 5]);
    }
}
