//! A client of the agent: one connection per request.

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Component, Path, PathBuf};

use crate::wire::{self, Answer, Request, RestoredFile};
use crate::AgentError;

/// A client of the agent at a socket: one connection per request.
pub struct AgentClient {
    socket: PathBuf,
}

impl AgentClient {
    /// A client of the agent listening at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> AgentClient {
        AgentClient {
            socket: socket.into(),
        }
    }

    /// Sends `request`; returns the answer (refusals and failures as errors) and the
    /// stream the files that follow it come on.
    pub fn ask(&self, request: &Request) -> Result<(Answer, BufReader<UnixStream>), AgentError> {
        self.exchange(request, |_| Ok(()))
    }

    /// As `ask`, with `then` sending what follows the request (an input file). If the
    /// agent stops reading it (a refusal), its answer is still read.
    fn exchange(
        &self,
        request: &Request,
        then: impl FnOnce(&mut BufWriter<UnixStream>) -> std::io::Result<()>,
    ) -> Result<(Answer, BufReader<UnixStream>), AgentError> {
        let socket_err = |cause| AgentError::Socket {
            path: self.socket.display().to_string(),
            cause,
        };
        let stream = UnixStream::connect(&self.socket).map_err(socket_err)?;
        let mut out = BufWriter::new(stream.try_clone().map_err(socket_err)?);
        wire::send(&mut out, request)
            .and_then(|()| out.flush())
            .map_err(|e| AgentError::Protocol(e.to_string()))?;
        match then(&mut out).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(AgentError::Protocol(e.to_string()))
            }
            _ => {}
        }
        let mut input = BufReader::new(stream);
        let answer: Answer =
            wire::receive(&mut input).map_err(|e| AgentError::Protocol(e.to_string()))?;
        match answer {
            Answer::Refused { reason } => Err(AgentError::Refused(reason)),
            Answer::Failed { error, damage } => Err(AgentError::Failed { error, damage }),
            answer => Ok((answer, input)),
        }
    }

    /// Sends files and directories to be added as a snapshot; returns the add report.
    /// They are read here, with the caller's rights; special files are skipped, and
    /// names must be UTF-8.
    pub fn add(&self, paths: &[PathBuf], tags: &[String]) -> Result<serde_json::Value, AgentError> {
        let mut roots = Vec::new();
        let mut entries = Vec::new();
        let mut files = Vec::new();
        for (root, path) in paths.iter().enumerate() {
            let absolute = std::path::absolute(path).map_err(io_err(path))?;
            roots.push(utf8(&absolute)?.to_string());
            walk(&absolute, root, "", &mut entries, &mut files)?;
        }
        let request = Request::Add {
            roots,
            tags: tags.to_vec(),
            entries,
        };
        let (answer, _) = self.exchange(&request, |out| {
            for file in &files {
                let opened = fs::File::open(file).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", file.display()))
                })?;
                wire::send_file(out, std::io::BufReader::new(opened))?;
            }
            Ok(())
        })?;
        let Answer::Added { report } = answer else {
            return Err(unexpected(&answer));
        };
        Ok(report)
    }

    /// Sends census microdata to be validated against `schema` and stored; returns the
    /// ingest report. The file is read here, with the caller's rights.
    pub fn ingest(&self, schema: &str, input: &Path) -> Result<serde_json::Value, AgentError> {
        let file = fs::File::open(input).map_err(io_err(input))?;
        let size = file.metadata().map_err(io_err(input))?.len();
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let request = Request::Ingest {
            schema: schema.into(),
            name,
            size,
        };
        let (answer, _) = self.exchange(&request, |out| {
            wire::send_file(out, std::io::BufReader::new(file)).map(|_| ())
        })?;
        let Answer::Ingested { report } = answer else {
            return Err(unexpected(&answer));
        };
        Ok(report)
    }

    /// Asks for tables; writes each file into `out_dir` (created if missing) and
    /// returns the tabulation report.
    pub fn tabulate(
        &self,
        snapshot: &str,
        spec: &str,
        out_dir: &Path,
    ) -> Result<serde_json::Value, AgentError> {
        let (answer, mut input) = self.ask(&Request::Tabulate {
            snapshot: snapshot.into(),
            spec: spec.into(),
        })?;
        let Answer::Tables { report, files } = answer else {
            return Err(unexpected(&answer));
        };
        fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
        for (name, size) in files {
            // Replaced whole, as `tabulate` with shares replaces its table files.
            let path = out_dir.join(plain_name(&name)?);
            statvault_vault::atomic::write_file_with(&path, |file| {
                let mut out = BufWriter::new(file);
                wire::receive_file(&mut input, &mut out, size)?;
                out.flush()
            })
            .map_err(|e| AgentError::Protocol(format!("{}: {e}", path.display())))?;
        }
        Ok(report)
    }

    /// Restores a snapshot's files into `target` (new or empty); returns the files.
    pub fn restore(&self, snapshot: &str, target: &Path) -> Result<Vec<RestoredFile>, AgentError> {
        if fs::read_dir(target).is_ok_and(|mut d| d.next().is_some()) {
            return Err(AgentError::Io {
                path: target.display().to_string(),
                cause: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "is not empty; restore into a new or empty directory",
                ),
            });
        }
        let (answer, mut input) = self.ask(&Request::Restore {
            snapshot: snapshot.into(),
        })?;
        let Answer::Files { files, .. } = answer else {
            return Err(unexpected(&answer));
        };
        for file in &files {
            let path = target.join(relative(&file.path)?);
            if let Some(parent) = path.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io_err(parent))?;
            }
            receive_into(&mut input, &path, file.size, file.mode)?;
        }
        Ok(files)
    }
}

fn unexpected(answer: &Answer) -> AgentError {
    AgentError::Protocol(format!("an unexpected answer: {answer:?}"))
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> AgentError + '_ {
    move |cause| AgentError::Io {
        path: path.display().to_string(),
        cause,
    }
}

/// A table file's name: one plain component (the agent could be anyone's).
fn plain_name(name: &str) -> Result<&str, AgentError> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(name),
        _ => Err(AgentError::Protocol(format!(
            "{name:?} is not a plain file name"
        ))),
    }
}

/// A restored file's path: relative, with no `..`.
fn relative(path: &str) -> Result<&Path, AgentError> {
    if wire::is_downward(path) {
        Ok(Path::new(path))
    } else {
        Err(AgentError::Protocol(format!(
            "{path:?} is not a relative path"
        )))
    }
}

/// Receives one restored file into a new file at `path` with `mode`: a restore never
/// overwrites.
fn receive_into(
    input: &mut BufReader<UnixStream>,
    path: &Path,
    size: u64,
    mode: u32,
) -> Result<(), AgentError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(path)
        .map_err(io_err(path))?;
    let mut out = BufWriter::new(file);
    wire::receive_file(input, &mut out, size)
        .and_then(|()| out.flush())
        .map_err(|e| AgentError::Protocol(format!("{}: {e}", path.display())))
}

fn utf8(path: &Path) -> Result<&str, AgentError> {
    path.to_str().ok_or_else(|| AgentError::Io {
        path: path.display().to_string(),
        cause: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the agent takes UTF-8 names only; add it offline with shares",
        ),
    })
}

/// The tree at `path` (as `rel` under root `root`), parents first, names sorted; the
/// files whose contents will follow, in order.
fn walk(
    path: &Path,
    root: usize,
    rel: &str,
    entries: &mut Vec<wire::AddEntry>,
    files: &mut Vec<PathBuf>,
) -> Result<(), AgentError> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    let kind = if meta.is_dir() {
        wire::EntryKind::Dir
    } else if meta.is_file() {
        wire::EntryKind::File
    } else if meta.file_type().is_symlink() {
        wire::EntryKind::Symlink
    } else {
        eprintln!(
            "skipped {}: not a file, directory or symbolic link",
            path.display()
        );
        return Ok(());
    };
    let target = match kind {
        wire::EntryKind::Symlink => {
            let target = fs::read_link(path).map_err(io_err(path))?;
            Some(utf8(&target)?.to_string())
        }
        _ => None,
    };
    entries.push(wire::AddEntry {
        root,
        path: rel.to_string(),
        kind,
        mode: meta.mode() & 0o7777,
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        size: if kind == wire::EntryKind::File {
            meta.len()
        } else {
            0
        },
        target,
    });
    match kind {
        wire::EntryKind::File => files.push(path.to_path_buf()),
        wire::EntryKind::Dir => {
            let mut names: Vec<_> = fs::read_dir(path)
                .map_err(io_err(path))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(io_err(path))?;
            names.sort();
            for name in names {
                let child = path.join(&name);
                let name = utf8(Path::new(&name))?;
                let rel = if rel.is_empty() {
                    name.to_string()
                } else {
                    format!("{rel}/{name}")
                };
                walk(&child, root, &rel, entries, files)?;
            }
        }
        wire::EntryKind::Symlink => {}
    }
    Ok(())
}
