//! What the agent and its clients say over the socket (`docs/agent-policy.md`,
//! "Protocol"): one request per connection, then the answer. Each message is a frame:
//! one kind byte, a 4-byte big-endian length, the payload. `J` frames hold JSON (a
//! request or an answer); file contents follow an answer as `B` frames, each file
//! ended by an empty `B` frame.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

/// Largest JSON frame: a request carries a table spec or a share, an answer a report.
pub const JSON_MAX: usize = 16 << 20;
/// File contents go in frames of at most this size.
pub const BYTES_MAX: usize = 1 << 20;

/// What a client asks; the `op` field names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Sealed or not, unseal progress; anyone the policy knows may ask.
    Status,
    /// One custodian's share, in the clear (the client asked its passphrase).
    Unseal {
        /// The share file's text, its share in the clear.
        share: String,
    },
    /// Lockdown: wipe the key now.
    Seal {
        /// Why, for the audit log.
        reason: Option<String>,
    },
    /// Tables of a census snapshot; never records.
    Tabulate {
        /// An id, a prefix or `latest`.
        snapshot: String,
        /// The table spec's TOML text.
        spec: String,
    },
    /// A snapshot's files, census microdata included.
    Restore {
        /// An id, a prefix or `latest`.
        snapshot: String,
    },
    /// Checks the vault; with `read_data`, every chunk.
    Verify {
        /// Decrypt and re-hash every chunk, not only the log and the objects' names.
        read_data: bool,
    },
    /// Files and directories to add as a snapshot, read by the client with its own
    /// rights: `roots` are the absolute paths recorded, `entries` the tree under them
    /// in order (parents first); each file's contents follow as `B` frames.
    Add {
        /// The absolute paths recorded in the snapshot.
        roots: Vec<String>,
        /// Tags of the snapshot.
        tags: Vec<String>,
        /// Every directory, file and link under the roots, parents first.
        entries: Vec<AddEntry>,
    },
    /// Census microdata to validate against `schema` and store: the file `name` (`.csv`
    /// or `.parquet`) of `size` bytes follows as `B` frames. The client reads it with
    /// its own rights.
    Ingest {
        /// The census schema's TOML text.
        schema: String,
        /// The file's name, which says its format.
        name: String,
        /// Its size in bytes.
        size: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// Whether the agent holds the vault's key.
pub enum Seal {
    /// No key: only status, unseal and seal are answered.
    Sealed,
    /// The key is held: operations run, as the policy allows.
    Unsealed,
}

/// What the agent answers; files (tables, restored files) follow as `B` frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "lowercase")]
pub enum Answer {
    /// The agent's state, and what the caller may do.
    Status {
        /// Sealed or unsealed.
        state: Seal,
        /// Shares held towards the threshold while sealed.
        shares: u8,
        /// K: shares that unseal.
        threshold: u8,
        /// The vault's id.
        vault_id: String,
        /// The caller's roles.
        roles: Vec<String>,
        /// Seconds since unsealed.
        unsealed_for: Option<u64>,
        /// Seconds left before the agent seals itself.
        seals_in: Option<u64>,
    },
    /// A share was taken; more are needed.
    Share {
        /// Shares held now.
        shares: u8,
        /// K: shares that unseal.
        threshold: u8,
    },
    /// The K-th share rebuilt the key: unsealed. `checkpoint` is the audit log's,
    /// for custodians to keep.
    Unsealed {
        /// The custodians whose shares unsealed, by number.
        custodians: Vec<u8>,
        /// The audit log's signed checkpoint after the unseal.
        checkpoint: Option<String>,
    },
    /// Sealed; operations that were in flight fail.
    Sealed {
        /// Operations that were running and now fail.
        in_flight: usize,
        /// The audit log's signed checkpoint after the seal.
        checkpoint: Option<String>,
    },
    /// Tables: the tabulation report, then each file (name, size) as `B` frames.
    Tables {
        /// The tabulation report, as `tabulate --json` prints it.
        report: serde_json::Value,
        /// Each table file's name and size, in the order they follow.
        files: Vec<(String, u64)>,
    },
    /// Restored files, then each as `B` frames (regular files only).
    Files {
        /// The snapshot restored, by id.
        snapshot: String,
        /// Every file, directory and link, in the order regular files follow.
        files: Vec<RestoredFile>,
    },
    /// The files were stored: the add report (the new snapshot).
    Added {
        /// The add report.
        report: serde_json::Value,
    },
    /// The census was stored: the ingest report (the new snapshot).
    Ingested {
        /// The ingest report.
        report: serde_json::Value,
    },
    /// `decrypted` when the agent was unsealed and read contents, not only the log.
    Verified {
        /// The verify report.
        report: serde_json::Value,
        /// Whether contents were decrypted.
        decrypted: bool,
    },
    /// Not allowed (role, quota, sealed, an isolating table); recorded.
    Refused {
        /// Why.
        reason: String,
    },
    /// Allowed, but failed; `damage` when the vault was found damaged.
    Failed {
        /// What failed.
        error: String,
        /// The vault was found damaged (exit 1 rather than 2).
        damage: bool,
    },
}

/// One entry of a tree to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddEntry {
    /// Which of the roots it lies under.
    pub root: usize,
    /// Its path under that root, `/`-separated; empty for the root itself.
    pub path: String,
    /// Directory, file or symbolic link.
    pub kind: EntryKind,
    /// Unix permission bits.
    pub mode: u32,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Bytes that follow, for a file.
    pub size: u64,
    /// A symbolic link's target.
    pub target: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// What an entry of a tree is.
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
}

/// Whether `path` is relative and goes nowhere but down (no `..`, no root, no `.`).
pub fn is_downward(path: &str) -> bool {
    !path.is_empty()
        && std::path::Path::new(path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// One restored regular file, whose contents follow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Unix permission bits.
    pub mode: u32,
    /// Bytes that follow.
    pub size: u64,
}

/// Writes one frame.
pub fn write_frame(
    out: &mut (impl Write + ?Sized),
    kind: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::other("a frame longer than 4 GiB"))?;
    out.write_all(&[kind])?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(payload)
}

/// Reads one frame of kind `kind`, at most `max` bytes.
pub fn read_frame(
    input: &mut (impl Read + ?Sized),
    kind: u8,
    max: usize,
) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 5];
    input.read_exact(&mut head)?;
    let len = u32::from_be_bytes(head[1..].try_into().expect("4 bytes")) as usize;
    if head[0] != kind {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "a {:?} frame where a {:?} frame belongs",
                head[0] as char, kind as char
            ),
        ));
    }
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes, more than the {max} allowed"),
        ));
    }
    let mut payload = vec![0u8; len];
    input.read_exact(&mut payload)?;
    Ok(payload)
}

/// Writes a message as one JSON frame.
pub fn send<T: Serialize>(out: &mut (impl Write + ?Sized), message: &T) -> std::io::Result<()> {
    write_frame(
        out,
        b'J',
        &serde_json::to_vec(message).expect("messages serialize"),
    )
}

/// Reads one JSON frame as a message; refuses another kind of frame or one over
/// `JSON_MAX`.
pub fn receive<T: for<'de> Deserialize<'de>>(
    input: &mut (impl Read + ?Sized),
) -> std::io::Result<T> {
    let bytes = read_frame(input, b'J', JSON_MAX)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Sends a file's contents: `B` frames, then an empty one.
pub fn send_file(out: &mut (impl Write + ?Sized), mut file: impl Read) -> std::io::Result<u64> {
    let mut buffer = vec![0u8; BYTES_MAX];
    let mut sent = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        write_frame(out, b'B', &buffer[..n])?;
        if n == 0 {
            return Ok(sent);
        }
        sent += n as u64;
    }
}

/// Receives a file's contents into `out`, refusing more than `size` bytes.
pub fn receive_file(
    input: &mut (impl Read + ?Sized),
    out: &mut (impl Write + ?Sized),
    size: u64,
) -> std::io::Result<()> {
    let mut received = 0u64;
    loop {
        let frame = read_frame(input, b'B', BYTES_MAX)?;
        if frame.is_empty() {
            break;
        }
        received += frame.len() as u64;
        if received > size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than the {size} bytes announced"),
            ));
        }
        out.write_all(&frame)?;
    }
    if received != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{received} bytes of the {size} announced"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_files_round_trip() {
        let mut wire = Vec::new();
        let request = Request::Tabulate {
            snapshot: "latest".into(),
            spec: "format = 1".into(),
        };
        send(&mut wire, &request).unwrap();
        send_file(&mut wire, &b"0123456789"[..]).unwrap();
        let mut input = &wire[..];
        assert_eq!(receive::<Request>(&mut input).unwrap(), request);
        let mut file = Vec::new();
        receive_file(&mut input, &mut file, 10).unwrap();
        assert_eq!(file, b"0123456789");
        assert!(input.is_empty());
    }

    #[test]
    fn oversized_wrong_or_lying_frames_are_refused() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b'J', &[b' '; 100]).unwrap();
        assert!(read_frame(&mut &wire[..], b'J', 99).is_err());
        assert!(read_frame(&mut &wire[..], b'B', 1000).is_err());
        let mut file = Vec::new();
        send_file(&mut file, &b"too long"[..]).unwrap();
        assert!(receive_file(&mut &file[..], &mut Vec::new(), 3).is_err());
        assert!(receive_file(&mut &file[..], &mut Vec::new(), 30).is_err());
    }
}
