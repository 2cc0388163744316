//! The transparency log of releases and calendar notices: an append-only file of
//! entries, one JSON object per line, each line a leaf of an RFC 6962 Merkle tree,
//! and the latest signed checkpoint (format in `docs/release-format.md`,
//! "Transparency log").
//!
//! ```text
//! log/entries.jsonl   one entry per line; leaf i is line i without its newline
//! log/checkpoint      the signed checkpoint of all entries
//! log/key.pub         the release key in minisign's format
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use statvault_census::schema::Labels;
use statvault_crypto::{PublicKey, ReleaseKey};

use crate::checkpoint::Checkpoint;
use crate::merkle::{self, Digest};
use crate::minisign::MinisignKey;
use crate::signer::Signer;
use crate::verify::read_small;
use crate::ReleaseError;

/// The `format` field of every log entry this version writes.
pub const ENTRY_FORMAT: &str = "statvault-log-entry/1";
/// The most bytes a reader takes of a log's entries, and of its checkpoint or key.
pub const LOG_MAX: u64 = 64 << 20;
/// The most bytes a reader takes of a checkpoint or key file.
pub const CHECKPOINT_MAX: u64 = 64 << 10;
/// The `format` field of a bundle's `transparency.json`.
pub const PROOF_FORMAT: &str = "statvault-log-proof/1";

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A release was announced for a date.
    Schedule,
    /// A scheduled release moved to a new date, with a reason.
    Postponement,
    /// The first version of a release was signed.
    Release,
    /// A new version of a published release, with a reason.
    Revision,
    /// A release was withdrawn, with a reason.
    Withdrawal,
}

/// One leaf of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// `statvault-log-entry/1`.
    pub format: String,
    /// The leaf's position: an entry cannot be moved without breaking its proof.
    pub index: u64,
    /// What the entry records.
    pub kind: EntryKind,
    /// The release id.
    pub release: String,
    /// The version (releases and revisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// When the entry was logged (UTC).
    pub logged: String,
    /// The release time announced or published (UTC).
    pub release_time: String,
    /// SHA-256 of the signed `manifest.json` (releases and revisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// SHA-256 of the manifest this revision replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revises_manifest_sha256: Option<String>,
    /// Why (postponements, revisions, withdrawals), in the first language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason in each language the office gave it (`sq`, `en`), for readers of each;
    /// `reason` stands where a language has none.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub reasons: Labels,
    /// The release's title by language (schedules, releases, revisions): the calendar
    /// is built from the log alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Labels>,
    /// The bundle's directory name (releases, revisions): a bundle is served and
    /// mirrored only under the name its signed entry gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The e-mail address that answers for the release (schedules): the calendar's
    /// ORGANIZER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<String>,
}

impl LogEntry {
    /// Parses one line of `entries.jsonl`, refusing another format.
    pub fn read(line: &[u8]) -> Result<LogEntry, String> {
        let entry: LogEntry = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        if entry.format != ENTRY_FORMAT {
            return Err(format!("format {:?} is not {ENTRY_FORMAT:?}", entry.format));
        }
        Ok(entry)
    }

    /// The directory name of the bundle a release or revision entry logs; entries
    /// without one name `<release>-v<version>`.
    pub fn bundle_name(&self) -> String {
        self.bundle
            .clone()
            .unwrap_or_else(|| format!("{}-v{}", self.release, self.version.unwrap_or_default()))
    }

    /// The leaf bytes: compact JSON, one line.
    pub fn write(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a log entry serializes")
    }
}

/// What a bundle carries to prove its manifest is in the log: the entry, its inclusion
/// proof and the signed checkpoint the proof leads to (`transparency.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogProof {
    /// `statvault-log-proof/1`.
    pub format: String,
    /// The leaf, exactly as logged.
    pub entry: String,
    /// The leaf's index.
    pub index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// Hex SHA-256 hashes of the audit path, leaf to root.
    pub inclusion: Vec<String>,
    /// The signed checkpoint of `tree_size` entries.
    pub checkpoint: String,
}

impl LogProof {
    /// Parses `transparency.json`, refusing another format or an audit path longer than
    /// 64.
    pub fn read(bytes: &[u8]) -> Result<LogProof, String> {
        let proof: LogProof = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if proof.format != PROOF_FORMAT {
            return Err(format!("format {:?} is not {PROOF_FORMAT:?}", proof.format));
        }
        if proof.inclusion.len() > 64 {
            return Err("an audit path has at most 64 hashes".into());
        }
        Ok(proof)
    }

    /// The file's bytes: pretty JSON and a newline.
    pub fn write(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a proof serializes");
        out.push(b'\n');
        out
    }

    /// Checks the checkpoint's signature and that the entry is leaf `index` of it;
    /// returns the entry and the checkpoint.
    pub fn verify(&self, key: &PublicKey) -> Result<(LogEntry, Checkpoint), String> {
        let checkpoint = Checkpoint::verify(&self.checkpoint, key)?;
        if checkpoint.size != self.tree_size {
            return Err(format!(
                "the proof is for a tree of {} entries, its checkpoint has {}",
                self.tree_size, checkpoint.size
            ));
        }
        let path = decode_hashes(&self.inclusion)?;
        let leaf = merkle::leaf_hash(self.entry.as_bytes());
        if !merkle::verify_inclusion(self.index, self.tree_size, &leaf, &path, &checkpoint.root) {
            return Err(format!(
                "the inclusion proof of entry {} does not lead to the checkpoint's root",
                self.index
            ));
        }
        let entry = LogEntry::read(self.entry.as_bytes())?;
        if entry.index != self.index {
            return Err(format!(
                "the entry says it is entry {}, the proof places it at {}",
                entry.index, self.index
            ));
        }
        Ok((entry, checkpoint))
    }
}

/// Decodes hex SHA-256 hashes; names the first that is not one.
pub fn decode_hashes(hashes: &[String]) -> Result<Vec<Digest>, String> {
    hashes
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("{h:?} is not a 64-digit hex hash"))
        })
        .collect()
}

/// An open log directory.
pub struct TransparencyLog {
    dir: PathBuf,
    entries: Vec<Vec<u8>>,
    leaves: Vec<Digest>,
}

impl TransparencyLog {
    /// `entries.jsonl` in the log directory `dir`.
    pub fn entries_path(dir: &Path) -> PathBuf {
        dir.join(crate::names::LOG_ENTRIES_FILE)
    }

    /// Opens the log in `dir`; a missing directory is an empty log. A last line
    /// without its newline is an append that was interrupted: it was never in a
    /// checkpoint and is left out (and cut off by the next append).
    pub fn open(dir: &Path) -> Result<TransparencyLog, ReleaseError> {
        let path = Self::entries_path(dir);
        let text = match read_small(dir, crate::names::LOG_ENTRIES_FILE, LOG_MAX) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(ReleaseError::io(&path, e)),
        };
        let mut entries = Vec::new();
        let mut rest = &text[..];
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..end];
            let entry = LogEntry::read(line).map_err(|message| ReleaseError::Log {
                path: path.display().to_string(),
                message: format!("line {}: {message}", entries.len() + 1),
            })?;
            if entry.index != entries.len() as u64 {
                return Err(ReleaseError::Log {
                    path: path.display().to_string(),
                    message: format!(
                        "line {} holds entry {}: entries were removed or reordered",
                        entries.len() + 1,
                        entry.index
                    ),
                });
            }
            entries.push(line.to_vec());
            rest = &rest[end + 1..];
        }
        let leaves = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        Ok(TransparencyLog {
            dir: dir.to_path_buf(),
            entries,
            leaves,
        })
    }

    /// Entries in the log.
    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Every entry, parsed.
    pub fn entries(&self) -> impl Iterator<Item = LogEntry> + '_ {
        self.entries
            .iter()
            .map(|e| LogEntry::read(e).expect("checked when the log was opened"))
    }

    /// The first `size` entries as the file holds them, one per line: what a reader
    /// keeps of a log whose checkpoint covers `size` entries.
    pub fn lines(&self, size: u64) -> Vec<u8> {
        self.entries[..size as usize]
            .iter()
            .flat_map(|e| [&e[..], b"\n"].concat())
            .collect()
    }

    /// The leaf hashes of the first `size` entries.
    pub fn leaves(&self, size: u64) -> Vec<Digest> {
        self.leaves[..size as usize].to_vec()
    }

    /// The Merkle tree hash of the first `size` entries.
    pub fn root(&self, size: u64) -> Digest {
        merkle::root(&self.leaves[..size as usize])
    }

    /// The audit path of entry `index` in the tree of the first `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Digest> {
        merkle::inclusion_proof(index as usize, &self.leaves[..size as usize])
    }

    /// The proof that the tree of `old_size` entries is a prefix of that of `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Vec<Digest> {
        merkle::consistency_proof(old_size as usize, &self.leaves[..new_size as usize])
    }

    /// The log's origin (checkpoint line 1): derived from its key, so one key's log
    /// has one name.
    pub fn origin(key: &PublicKey) -> String {
        format!("statvault/{}", MinisignKey::of(*key).id_hex())
    }

    /// Checks a checkpoint against this log: signed by `key`, and the entries it
    /// covers hash to its root. Returns the checkpoint.
    pub fn check(&self, text: &str, key: &PublicKey) -> Result<Checkpoint, String> {
        let checkpoint = Checkpoint::verify(text, key)?;
        if checkpoint.size > self.size() || self.root(checkpoint.size) != checkpoint.root {
            return Err(
                "the log's entries do not hash to its checkpoint's root: entries were altered"
                    .into(),
            );
        }
        Ok(checkpoint)
    }

    /// The latest signed checkpoint, as stored.
    pub fn checkpoint_text(&self) -> Result<Option<String>, ReleaseError> {
        let path = self.dir.join(crate::names::CHECKPOINT_FILE);
        match read_small(&self.dir, crate::names::CHECKPOINT_FILE, CHECKPOINT_MAX) {
            Ok(t) => Ok(Some(String::from_utf8_lossy(&t).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ReleaseError::io(&path, e)),
        }
    }

    /// Opens the log in `dir` for `signer` to extend. Takes the signer's lock first
    /// (one command at a time extends a log: see [`SignerLock`]), then reads the log
    /// and checks it is exactly what the signer signed before (see
    /// [`TransparencyLog::follow`]). The handle's entries are the ones to decide by
    /// (the calendar's state, say), and the lock is held until it is dropped, so that
    /// everything the command writes after the entry (a bundle's proof, the calendar)
    /// is written by it alone.
    pub fn extend<'a>(dir: &Path, signer: &'a Signer) -> Result<Extending<'a>, ReleaseError> {
        let record_dir = signer.state_dir();
        check_record_outside(dir, &record_dir)?;
        let lock = SignerLock::take(&record_dir)?;
        for dir in [dir, &record_dir, dir.parent().unwrap_or(dir)] {
            remove_leftovers(dir);
        }
        let mut log = TransparencyLog::open(dir)?;
        log.check_key(signer.key())?;
        let (record, checkpoint) = log.signer_record(signer)?;
        // An append cut short after the signer recorded its checkpoint: the log's own
        // checkpoint is the last step it missed.
        if let Some(text) = &checkpoint {
            if log.checkpoint_text()?.as_ref() != Some(text) {
                write_atomically(
                    &log.dir.join(crate::names::CHECKPOINT_FILE),
                    text.as_bytes(),
                )?;
            }
        }
        Ok(Extending {
            log,
            record,
            checkpoint,
            signer,
            _lock: lock,
        })
    }

    /// Extends this log by one entry, as [`TransparencyLog::extend`] does (the log is
    /// read again under the lock).
    pub fn append(&mut self, entry: LogEntry, signer: &Signer) -> Result<LogProof, ReleaseError> {
        let mut extending = TransparencyLog::extend(&self.dir, signer)?;
        let proof = extending.append(entry)?;
        *self = extending.log;
        Ok(proof)
    }

    /// Appends one line to `entries.jsonl`, cutting off first whatever follows the
    /// entries this log holds (an interrupted append), and syncs it.
    fn write_entry(&mut self, line: &[u8]) -> Result<(), ReleaseError> {
        let path = Self::entries_path(&self.dir);
        let io = |e| ReleaseError::io(&path, e);
        fs::create_dir_all(&self.dir).map_err(|e| ReleaseError::io(&self.dir, e))?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let committed: u64 = self.entries.iter().map(|e| e.len() as u64 + 1).sum();
        if file.metadata().map_err(io)?.len() != committed {
            file.set_len(committed).map_err(io)?;
        }
        file.write_all(&[line, b"\n"].concat()).map_err(io)?;
        file.sync_all().map_err(io)?;
        self.leaves.push(merkle::leaf_hash(line));
        self.entries.push(line.to_vec());
        Ok(())
    }

    /// Forgets the entries from `size` on (the file is cut at the next write).
    fn cut(&mut self, size: usize) {
        self.entries.truncate(size);
        self.leaves.truncate(size);
    }

    /// Opens the signer's record and checks this log against it; on the signer's first
    /// append, starts the record from this log's checkpoint signed by the same key.
    /// Returns the record, holding exactly the entries this log holds.
    fn signer_record(
        &mut self,
        signer: &Signer,
    ) -> Result<(TransparencyLog, Option<String>), ReleaseError> {
        let dir = signer.state_dir();
        let key = signer.key().public_key();
        let mut record = TransparencyLog::open(&dir)?;
        let record_checkpoint = dir.join(crate::names::CHECKPOINT_FILE);
        let tampered = |path: &Path, message: String| ReleaseError::Tampered {
            path: path.display().to_string(),
            message,
        };
        match record.checkpoint_text()? {
            Some(text) => {
                let signed = record
                    .check(&text, &key)
                    .map_err(|m| tampered(&record_checkpoint, format!("the signer's record: {m}")))?
                    .size as usize;
                let intent = record.entries[signed..].to_vec();
                record.cut(signed);
                self.follow(&record.entries, &intent, &dir)?;
                Ok((record, Some(text)))
            }
            // No checkpoint yet: whatever the record holds is the intent of a first
            // append cut short; the log is either empty or holds just that.
            None if self.size() == 0 || self.entries == record.entries => {
                let intent = std::mem::take(&mut record.entries);
                record.cut(0);
                self.follow(&[], &intent, &dir)?;
                Ok((record, None))
            }
            None => {
                let text = self.checkpoint_text()?.ok_or_else(|| {
                    tampered(
                        &self.dir.join(crate::names::CHECKPOINT_FILE),
                        "the log has entries but no checkpoint, and this key has no record of signing any".into(),
                    )
                })?;
                let signed = self
                    .check(&text, &key)
                    .map_err(|m| tampered(&self.dir.join(crate::names::CHECKPOINT_FILE), m))?
                    .size as usize;
                let adopted = self.entries[..signed].to_vec();
                self.follow(&adopted, &[], &dir)?;
                write_atomically(&Self::entries_path(&dir), &self.lines(signed as u64))?;
                write_atomically(&record_checkpoint, text.as_bytes())?;
                Ok((TransparencyLog::open(&dir)?, Some(text)))
            }
        }
    }

    /// Checks that this log is exactly `signed`, the entries the signer's record (in
    /// `record`) says it signed, and names the first entry that is not. Entries past
    /// them are refused unless they are `intent`, the signer's own append that was cut
    /// short, which is then undone.
    fn follow(
        &mut self,
        signed: &[Vec<u8>],
        intent: &[Vec<u8>],
        record: &Path,
    ) -> Result<(), ReleaseError> {
        let path = Self::entries_path(&self.dir);
        let tampered = |message: String| ReleaseError::Tampered {
            path: path.display().to_string(),
            message,
        };
        if let Some(i) = signed.iter().zip(&self.entries).position(|(a, b)| a != b) {
            return Err(tampered(format!(
                "entry {i} (line {}) is not the entry this key signed there; the signed entries are in {}",
                i + 1,
                record.display()
            )));
        }
        if self.entries.len() < signed.len() {
            return Err(tampered(format!(
                "the log holds {} entries, this key signed {}: entries were removed; the signed entries are in {}",
                self.entries.len(),
                signed.len(),
                record.display()
            )));
        }
        let extra = &self.entries[signed.len()..];
        if extra.is_empty() {
            return Ok(());
        }
        if extra == intent {
            self.cut(signed.len());
            return Ok(());
        }
        let first = LogEntry::read(&extra[0]).expect("checked when the log was opened");
        Err(tampered(format!(
            "entry {} (line {}, {:?} of {}) was not signed by this key: the office signs only the entries it made; check it and remove it and any entry after it",
            signed.len(),
            signed.len() + 1,
            first.kind,
            first.release
        )))
    }

    /// The first append writes the key beside the log; every later append must use it,
    /// since one log's checkpoints are all signed by one key.
    fn check_key(&self, key: &ReleaseKey) -> Result<(), ReleaseError> {
        let path = self.dir.join(crate::names::LOG_KEY_FILE);
        let ours = MinisignKey::of(key.public_key());
        match read_small(&self.dir, crate::names::LOG_KEY_FILE, CHECKPOINT_MAX) {
            Ok(text) => {
                let text = String::from_utf8_lossy(&text);
                let theirs = MinisignKey::read(&text).map_err(|message| ReleaseError::Log {
                    path: path.display().to_string(),
                    message,
                })?;
                if theirs != ours {
                    return Err(ReleaseError::Log {
                        path: path.display().to_string(),
                        message: format!(
                            "this log is signed by key {}, not by the key given ({})",
                            theirs.id_hex(),
                            ours.id_hex()
                        ),
                    });
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir).map_err(|e| ReleaseError::io(&self.dir, e))?;
                write_atomically(&path, ours.write().as_bytes())
            }
            Err(e) => Err(ReleaseError::io(&path, e)),
        }
    }
}

/// The signer's record must not be where the releases directory's writers can reach
/// it: not inside the directory that holds the log.
fn check_record_outside(log_dir: &Path, record: &Path) -> Result<(), ReleaseError> {
    fs::create_dir_all(record).map_err(|e| ReleaseError::io(record, e))?;
    let _ = fs::set_permissions(record, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    fs::create_dir_all(log_dir).map_err(|e| ReleaseError::io(log_dir, e))?;
    let releases = log_dir.parent().unwrap_or(log_dir);
    let canonical = |p: &Path| fs::canonicalize(p).map_err(|e| ReleaseError::io(p, e));
    if canonical(record)?.starts_with(canonical(releases)?) {
        return Err(ReleaseError::Log {
            path: record.display().to_string(),
            message: format!(
                "the signer's record is inside {}, where whoever writes releases could rewrite it; keep it on the office side (--signer-state)",
                releases.display()
            ),
        });
    }
    Ok(())
}

/// The lock every command that extends a log holds (an exclusive `flock` on `lock` in
/// the signer's record): two commands at once would otherwise each append on what
/// they read, and one's calendar or checkpoint would undo the other's.
struct SignerLock {
    /// Open while held; closing it releases the lock.
    _file: File,
}

/// How long a command waits for another to finish before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

impl SignerLock {
    fn take(record: &Path) -> Result<SignerLock, ReleaseError> {
        use std::os::fd::AsRawFd;
        let path = record.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ReleaseError::io(&path, e))?;
        let started = std::time::Instant::now();
        loop {
            // SAFETY: flock on a descriptor `file` owns; it changes only the lock.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(SignerLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(ReleaseError::io(&path, e));
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(ReleaseError::Log {
                    path: path.display().to_string(),
                    message: format!(
                        "another release command has held this lock for over {} s; retry when it is done",
                        LOCK_WAIT.as_secs()
                    ),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A log checked to be exactly what its signer signed, ready to be extended, with
/// the signer's lock held.
pub struct Extending<'a> {
    log: TransparencyLog,
    /// The signer's record, holding the same entries.
    record: TransparencyLog,
    /// The signer's last checkpoint, covering every entry of `log`.
    checkpoint: Option<String>,
    signer: &'a Signer,
    _lock: SignerLock,
}

impl Extending<'_> {
    /// The entries, all signed by this signer.
    pub fn entries(&self) -> impl Iterator<Item = LogEntry> + '_ {
        self.log.entries()
    }

    /// Appends an entry (its `index` is set here), signs the new checkpoint and
    /// returns the bundle's proof of it. The entry goes to the signer's record first
    /// (its intent, should the append be cut short), then to the log (fsync); the new
    /// checkpoint is then recorded by the signer (the commit) and finally replaces the
    /// log's checkpoint (rename).
    pub fn append(&mut self, mut entry: LogEntry) -> Result<LogProof, ReleaseError> {
        let key = self.signer.key();
        let log = &mut self.log;
        entry.index = log.size();
        let line = entry.write();
        self.record.write_entry(&line)?;
        log.write_entry(&line)?;
        let checkpoint = Checkpoint {
            origin: TransparencyLog::origin(&key.public_key()),
            size: log.size(),
            root: log.root(log.size()),
        }
        .sign(key);
        write_atomically(
            &self.record.dir.join(crate::names::CHECKPOINT_FILE),
            checkpoint.as_bytes(),
        )?;
        write_atomically(
            &log.dir.join(crate::names::CHECKPOINT_FILE),
            checkpoint.as_bytes(),
        )?;
        self.checkpoint = Some(checkpoint);
        Ok(self.proof_of(entry.index).expect("the entry just appended"))
    }

    /// The proof that entry `index` is in the log, against the signer's checkpoint of
    /// all its entries (`None` past the end).
    pub fn proof_of(&self, index: u64) -> Option<LogProof> {
        let (log, checkpoint) = (&self.log, self.checkpoint.as_ref()?);
        let entry = log.entries.get(index as usize)?;
        Some(LogProof {
            format: PROOF_FORMAT.into(),
            entry: String::from_utf8(entry.clone()).expect("JSON is UTF-8"),
            index,
            tree_size: log.size(),
            inclusion: log
                .inclusion_proof(index, log.size())
                .iter()
                .map(hex::encode)
                .collect(),
            checkpoint: checkpoint.clone(),
        })
    }
}

/// Removes what a killed command left in `dir`: the temporary files of
/// [`write_atomically`] and half-built bundles (`<name>.partial-<pid>`, or
/// `<name>.tmp-<pid>` from versions before), each only if process `<pid>` is gone.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = [".tmp-", ".partial-"].iter().find_map(|mark| {
            let (_, pid) = name.rsplit_once(mark)?;
            pid.parse::<libc::pid_t>().ok().filter(|p| *p > 0)
        });
        let gone = pid.is_some_and(|p| {
            // SAFETY: kill with signal 0 only asks whether the process exists.
            let asked = unsafe { libc::kill(p, 0) };
            asked != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        });
        if gone {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over
/// `path`, so readers see the old or the new file, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    statvault_vault::atomic::write_file(path, bytes).map_err(|e| ReleaseError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use statvault_crypto::MasterKey;

    pub(crate) fn entry(kind: EntryKind, release: &str) -> LogEntry {
        LogEntry {
            format: ENTRY_FORMAT.into(),
            index: 0,
            kind,
            release: release.into(),
            version: None,
            logged: "2026-11-21T10:00:00Z".into(),
            release_time: "2026-12-01T10:00:00Z".into(),
            manifest_sha256: None,
            revises_manifest_sha256: None,
            reason: None,
            reasons: Labels::new(),
            title: None,
            bundle: None,
            organizer: None,
        }
    }

    #[test]
    fn appended_entries_prove_inclusion_and_consistency() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = Signer::new(MasterKey::generate().release_key(), state.path());
        let mut log = TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR)).unwrap();
        let mut proofs = Vec::new();
        for i in 0..6 {
            let release = format!("r{i}");
            proofs.push(
                log.append(entry(EntryKind::Schedule, &release), &key)
                    .unwrap(),
            );
        }
        let reopened = TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR)).unwrap();
        assert_eq!(reopened.size(), 6);
        for (i, proof) in proofs.iter().enumerate() {
            let read = LogProof::read(&proof.write()).unwrap();
            let (e, cp) = read.verify(&key.key().public_key()).unwrap();
            assert_eq!(
                (e.index, e.release.as_str()),
                (i as u64, format!("r{i}").as_str())
            );
            let consistency = reopened.consistency_proof(cp.size, 6);
            assert!(merkle::verify_consistency(
                cp.size,
                6,
                &cp.root,
                &reopened.root(6),
                &consistency
            ));
        }
        let other = Signer::new(MasterKey::generate().release_key(), state.path());
        let err = log
            .append(entry(EntryKind::Schedule, "x"), &other)
            .err()
            .unwrap();
        assert!(err.to_string().contains("signed by key"), "{err}");
    }

    #[test]
    fn an_interrupted_append_is_cut_off_and_reordering_is_refused() {
        let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = Signer::new(MasterKey::generate().release_key(), state.path());
        let mut log = TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR)).unwrap();
        log.append(entry(EntryKind::Schedule, "a"), &key).unwrap();
        let path = TransparencyLog::entries_path(&dir.path().join(crate::names::LOG_DIR));
        let mut text = fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"format\":\"statvault-log-en");
        fs::write(&path, &text).unwrap();
        let mut log = TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR)).unwrap();
        assert_eq!(log.size(), 1);
        log.append(entry(EntryKind::Schedule, "b"), &key).unwrap();
        assert_eq!(
            TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR))
                .unwrap()
                .size(),
            2
        );

        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        fs::write(&path, format!("{}\n{}\n", lines[1], lines[0])).unwrap();
        let err = TransparencyLog::open(&dir.path().join(crate::names::LOG_DIR))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 1 holds entry 1"), "{err}");
    }

    /// A log directory in a releases directory, and a signer whose record is elsewhere.
    fn office() -> (tempfile::TempDir, tempfile::TempDir, PathBuf, Signer) {
        let (releases, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let log = releases.path().join(crate::names::LOG_DIR);
        let signer = Signer::new(MasterKey::generate().release_key(), state.path());
        (releases, state, log, signer)
    }

    /// Appends a line to the public log as an intruder without the key would.
    fn intruder_appends(log: &Path, mut entry: LogEntry) {
        entry.index = TransparencyLog::open(log).unwrap().size();
        let mut file = OpenOptions::new()
            .append(true)
            .open(TransparencyLog::entries_path(log))
            .unwrap();
        file.write_all(&[&entry.write()[..], b"\n"].concat())
            .unwrap();
    }

    fn tampered(result: Result<LogProof, ReleaseError>) -> String {
        match result {
            Err(e @ ReleaseError::Tampered { .. }) => e.to_string(),
            Err(other) => panic!("not refused as tampering: {other}"),
            Ok(_) => panic!("the office signed a log it did not make"),
        }
    }

    /// Regression (forged log entries get signed by the office): an unsigned
    /// withdrawal appended by an intruder was signed into the log by the office's next
    /// unrelated append.
    #[test]
    fn forged_log_entries_are_never_signed_by_the_office() {
        let (_releases, _state, dir, signer) = office();
        let mut log = TransparencyLog::open(&dir).unwrap();
        log.append(entry(EntryKind::Schedule, "a"), &signer)
            .unwrap();
        let checkpoint = fs::read_to_string(dir.join(crate::names::CHECKPOINT_FILE)).unwrap();
        let mut forged = entry(EntryKind::Withdrawal, "a");
        forged.reason = Some("the figures were invented".into());
        intruder_appends(&dir, forged);

        let mut log = TransparencyLog::open(&dir).unwrap();
        let err = tampered(log.append(entry(EntryKind::Schedule, "b"), &signer));
        assert!(
            err.contains("entry 1 (line 2, Withdrawal of a) was not signed by this key"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(dir.join(crate::names::CHECKPOINT_FILE)).unwrap(),
            checkpoint
        );
        assert_eq!(
            TransparencyLog::open(&dir).unwrap().size(),
            2,
            "nothing was appended"
        );
    }

    #[test]
    fn a_rewritten_or_removed_entry_is_named_before_anything_is_signed() {
        let (_releases, _state, dir, signer) = office();
        let mut log = TransparencyLog::open(&dir).unwrap();
        for release in ["a", "b"] {
            log.append(entry(EntryKind::Schedule, release), &signer)
                .unwrap();
        }
        let path = TransparencyLog::entries_path(&dir);
        let signed = fs::read_to_string(&path).unwrap();
        fs::write(&path, signed.replacen("\"a\"", "\"z\"", 1)).unwrap();
        let err = tampered(
            TransparencyLog::open(&dir)
                .unwrap()
                .append(entry(EntryKind::Schedule, "c"), &signer),
        );
        assert!(
            err.contains("entry 0 (line 1) is not the entry this key signed there"),
            "{err}"
        );

        fs::write(&path, signed.lines().next().unwrap().to_string() + "\n").unwrap();
        let err = tampered(
            TransparencyLog::open(&dir)
                .unwrap()
                .append(entry(EntryKind::Schedule, "c"), &signer),
        );
        assert!(
            err.contains("the log holds 1 entries, this key signed 2"),
            "{err}"
        );

        fs::write(&path, &signed).unwrap();
        TransparencyLog::open(&dir)
            .unwrap()
            .append(entry(EntryKind::Schedule, "c"), &signer)
            .unwrap();
    }

    /// The signer's own append cut short after its entry reached the public log (and
    /// its record) but before the checkpoint: the next append undoes it, no refusal.
    #[test]
    fn the_signers_own_interrupted_append_is_undone_by_the_next() {
        let (_releases, _state, dir, signer) = office();
        TransparencyLog::open(&dir)
            .unwrap()
            .append(entry(EntryKind::Schedule, "a"), &signer)
            .unwrap();
        let mut half = entry(EntryKind::Schedule, "half");
        half.index = 1;
        for log in [dir.clone(), signer.state_dir()] {
            let mut file = OpenOptions::new()
                .append(true)
                .open(TransparencyLog::entries_path(&log))
                .unwrap();
            file.write_all(&[&half.write()[..], b"\n"].concat())
                .unwrap();
        }
        let proof = TransparencyLog::open(&dir)
            .unwrap()
            .append(entry(EntryKind::Schedule, "b"), &signer)
            .unwrap();
        assert_eq!((proof.index, proof.tree_size), (1, 2));
        let releases: Vec<String> = TransparencyLog::open(&dir)
            .unwrap()
            .entries()
            .map(|e| e.release)
            .collect();
        assert_eq!(releases, ["a", "b"]);
    }

    /// A signer without a record (a new state directory) trusts the log's checkpoint
    /// signed by its key, and nothing past it.
    #[test]
    fn a_signer_without_a_record_starts_from_the_signed_checkpoint_only() {
        let (releases, first, elsewhere) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let dir = releases.path().join(crate::names::LOG_DIR);
        let master = MasterKey::generate();
        let signer = Signer::new(master.release_key(), first.path());
        TransparencyLog::open(&dir)
            .unwrap()
            .append(entry(EntryKind::Schedule, "a"), &signer)
            .unwrap();
        intruder_appends(&dir, entry(EntryKind::Withdrawal, "a"));

        let fresh = Signer::new(master.release_key(), elsewhere.path());
        assert!(!fresh.has_record());
        let err = tampered(
            TransparencyLog::open(&dir)
                .unwrap()
                .append(entry(EntryKind::Schedule, "b"), &fresh),
        );
        assert!(
            err.contains("entry 1 (line 2, Withdrawal of a) was not signed"),
            "{err}"
        );

        // Without the forgery, the record starts from the signed checkpoint.
        let path = TransparencyLog::entries_path(&dir);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.lines().next().unwrap().to_string() + "\n").unwrap();
        TransparencyLog::open(&dir)
            .unwrap()
            .append(entry(EntryKind::Schedule, "b"), &fresh)
            .unwrap();
        assert!(fresh.has_record());
        assert_eq!(TransparencyLog::open(&fresh.state_dir()).unwrap().size(), 2);
    }

    #[test]
    fn a_record_inside_the_releases_directory_is_refused() {
        let releases = tempfile::tempdir().unwrap();
        let signer = Signer::new(
            MasterKey::generate().release_key(),
            releases.path().join("state"),
        );
        let err = TransparencyLog::open(&releases.path().join(crate::names::LOG_DIR))
            .unwrap()
            .append(entry(EntryKind::Schedule, "a"), &signer)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("where whoever writes releases could rewrite it"),
            "{err}"
        );
    }
}
