//! Snapshot manifests: the tree of files one `add` recorded. Plain layout (all integers
//! little-endian, byte strings as u32 length ‖ bytes):
//!
//! `"SVSN\x01" ‖ time_ns i64 ‖ hostname ‖ tags ‖ source paths ‖ parent ‖ nodes`
//!
//! compressed with zstd and sealed as one object. Node paths are relative,
//! `/`-separated byte strings (names need not be UTF-8), parents before children.

use std::collections::HashSet;

use statvault_crypto::Hash;

use crate::wire::{put_bytes, put_u32, put_u64, Reader, WireError};

const MAGIC: &[u8; 5] = b"SVSN\x01";

/// A snapshot: the tree of files added at once, with when, where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// When it was taken, nanoseconds since 1970.
    pub time_ns: i64,
    /// The host it was taken on.
    pub hostname: Vec<u8>,
    /// Its tags.
    pub tags: Vec<Vec<u8>>,
    /// The paths added, as given.
    pub paths: Vec<Vec<u8>>,
    /// The previous snapshot of the same paths, whose unchanged files it reused.
    pub parent: Option<Hash>,
    /// Every file, directory and link, parents first.
    pub nodes: Vec<Node>,
}

/// One file, directory or link of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its path under the snapshot's root, `/`-separated.
    pub path: Vec<u8>,
    /// What it is, with its contents.
    pub kind: NodeKind,
    /// Unix permission bits.
    pub mode: u32,
    /// Modification time, nanoseconds since 1970.
    pub mtime_ns: i64,
    /// Change time and inode are kept only to tell, at the next `add`, whether a file
    /// may have changed without reading it.
    pub ctime_ns: i64,
    /// The inode number it had.
    pub inode: u64,
    /// Its size in bytes (a file's contents).
    pub size: u64,
}

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file.
    File {
        /// Its chunks' ids, in order.
        chunks: Vec<Hash>,
    },
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink {
        /// What it points to, as stored.
        target: Vec<u8>,
    },
}

impl Snapshot {
    /// Regular files in the snapshot.
    pub fn file_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::File { .. }))
            .count()
    }

    /// Bytes of its regular files.
    pub fn total_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::File { .. }))
            .map(|n| n.size)
            .sum()
    }
}

/// A snapshot object's plain bytes (`docs/vault-format.md`).
pub fn write(s: &Snapshot) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    put_u64(&mut out, s.time_ns as u64);
    put_bytes(&mut out, &s.hostname);
    for list in [&s.tags, &s.paths] {
        put_u32(&mut out, list.len() as u32);
        for item in list {
            put_bytes(&mut out, item);
        }
    }
    match &s.parent {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            out.extend_from_slice(p.as_bytes());
        }
    }
    put_u32(&mut out, s.nodes.len() as u32);
    for n in &s.nodes {
        let tag = match n.kind {
            NodeKind::File { .. } => 1,
            NodeKind::Dir => 2,
            NodeKind::Symlink { .. } => 3,
        };
        out.push(tag);
        put_bytes(&mut out, &n.path);
        put_u32(&mut out, n.mode);
        put_u64(&mut out, n.mtime_ns as u64);
        put_u64(&mut out, n.ctime_ns as u64);
        put_u64(&mut out, n.inode);
        put_u64(&mut out, n.size);
        match &n.kind {
            NodeKind::File { chunks } => {
                put_u32(&mut out, chunks.len() as u32);
                for c in chunks {
                    out.extend_from_slice(c.as_bytes());
                }
            }
            NodeKind::Dir => {}
            NodeKind::Symlink { target } => put_bytes(&mut out, target),
        }
    }
    out
}

/// Parses a snapshot object's plain bytes.
pub fn read(plain: &[u8]) -> Result<Snapshot, WireError> {
    let mut r = Reader::new(plain);
    r.magic(MAGIC)?;
    let time_ns = r.i64("time")?;
    let hostname = r.bytes("hostname")?.to_vec();
    let mut lists = [Vec::new(), Vec::new()];
    for (list, what) in lists.iter_mut().zip(["tag", "path"]) {
        let n = r.count(what, 4)?;
        for _ in 0..n {
            list.push(r.bytes(what)?.to_vec());
        }
    }
    let [tags, paths] = lists;
    let parent = match r.u8("parent flag")? {
        0 => None,
        1 => Some(r.hash("parent")?),
        other => return Err(WireError(format!("bad parent flag {other}"))),
    };
    let n = r.count("node", 41)?;
    let mut nodes = Vec::with_capacity(n);
    let mut dirs: HashSet<Vec<u8>> = HashSet::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    for _ in 0..n {
        let tag = r.u8("node kind")?;
        let path = r.bytes("node path")?.to_vec();
        check_path(&path, &dirs)?;
        if !seen.insert(path.clone()) {
            return Err(WireError(format!(
                "path {:?} appears twice",
                String::from_utf8_lossy(&path)
            )));
        }
        let (mode, mtime_ns, ctime_ns, inode, size) = (
            r.u32("mode")?,
            r.i64("mtime")?,
            r.i64("ctime")?,
            r.u64("inode")?,
            r.u64("size")?,
        );
        let kind = match tag {
            1 => {
                let count = r.count("chunk", 32)?;
                NodeKind::File {
                    chunks: (0..count)
                        .map(|_| r.hash("chunk id"))
                        .collect::<Result<_, _>>()?,
                }
            }
            2 => {
                dirs.insert(path.clone());
                NodeKind::Dir
            }
            3 => NodeKind::Symlink {
                target: r.bytes("symlink target")?.to_vec(),
            },
            other => return Err(WireError(format!("unknown node kind {other}"))),
        };
        nodes.push(Node {
            path,
            kind,
            mode,
            mtime_ns,
            ctime_ns,
            inode,
            size,
        });
    }
    r.finish("snapshot")?;
    Ok(Snapshot {
        time_ns,
        hostname,
        tags,
        paths,
        parent,
        nodes,
    })
}

/// A node path must be relative, without empty, `.` or `..` components or NUL bytes,
/// and its parent directory must come earlier: restore can then never write outside
/// its target.
fn check_path(path: &[u8], dirs: &HashSet<Vec<u8>>) -> Result<(), WireError> {
    let bad = |why: &str| {
        WireError(format!(
            "unsafe path {:?}: {why}",
            String::from_utf8_lossy(path)
        ))
    };
    if path.contains(&0) {
        return Err(bad("contains NUL"));
    }
    if path
        .split(|&b| b == b'/')
        .any(|c| c.is_empty() || c == b"." || c == b"..")
    {
        return Err(bad("empty, '.' or '..' component"));
    }
    if let Some(slash) = path.iter().rposition(|&b| b == b'/') {
        if !dirs.contains(&path[..slash]) {
            return Err(bad("its parent directory is not listed before it"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node(path: &[u8], kind: NodeKind) -> Node {
        Node {
            path: path.to_vec(),
            kind,
            mode: 0o644,
            mtime_ns: -5,
            ctime_ns: 7,
            inode: 9,
            size: 3,
        }
    }

    #[test]
    fn round_trip_with_non_utf8_names() {
        let s = Snapshot {
            time_ns: 1_700_000_000_000_000_000,
            hostname: b"instat".to_vec(),
            tags: vec![b"census".to_vec()],
            paths: vec![b"/data/\xffcensus".to_vec()],
            parent: Some(Hash::of(b"p")),
            nodes: vec![
                node(b"\xffcensus", NodeKind::Dir),
                node(
                    b"\xffcensus/a.csv",
                    NodeKind::File {
                        chunks: vec![Hash::of(b"c")],
                    },
                ),
                node(
                    b"\xffcensus/l",
                    NodeKind::Symlink {
                        target: b"../x".to_vec(),
                    },
                ),
            ],
        };
        assert_eq!(read(&write(&s)).unwrap(), s);
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for path in [
            &b"../etc/passwd"[..],
            b"/abs",
            b"a//b",
            b"a/./b",
            b"orphan/child",
        ] {
            let s = Snapshot {
                time_ns: 0,
                hostname: vec![],
                tags: vec![],
                paths: vec![],
                parent: None,
                nodes: vec![node(path, NodeKind::Dir)],
            };
            assert!(
                read(&write(&s)).is_err(),
                "{:?}",
                String::from_utf8_lossy(path)
            );
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..500)) {
            let _ = read(&raw);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&raw);
            let _ = read(&with_magic);
        }
    }
}
