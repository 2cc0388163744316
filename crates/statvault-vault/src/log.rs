//! The commit log: one signed text entry per commit, `log/<seq, 20 digits>`, each
//! holding the BLAKE3 hash of the previous entry's file, the objects the commit added,
//! and the Merkle root of every object the vault holds after it. The entry with the
//! highest sequence number is the log head, the single point of truth.

use std::fmt::Write as _;

use statvault_crypto::{verify_signature, Hash, PublicKey, VaultKeys};

use crate::backend::ObjectInfo;

const HEADER: &str = "statvault-log-v1";

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Entry 0: the vault was created with the config whose BLAKE3 hash is given.
    Genesis {
        /// BLAKE3 of the config file.
        config: Hash,
    },
    /// A snapshot was added.
    Snapshot {
        /// The snapshot's id.
        id: Hash,
    },
}

/// One entry of the vault's commit log, signed by the vault's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The vault's id.
    pub vault_id: Hash,
    /// The entry's number, from 0.
    pub seq: u64,
    /// The hash of the entry before (zero for entry 0).
    pub prev: Hash,
    /// When it was written, seconds since 1970.
    pub time: u64,
    /// What it commits.
    pub commit: Commit,
    /// Objects this commit added, sorted by name.
    pub added: Vec<ObjectInfo>,
    /// Number of objects the vault holds after this commit.
    pub total: u64,
    /// Merkle root over every object the vault holds after this commit.
    pub root: Hash,
    /// Ed25519 signature of the entry's text up to its signature line.
    pub signature: [u8; 64],
}

/// The object name of entry `seq`: `log/` and 20 digits.
pub fn entry_name(seq: u64) -> String {
    format!("log/{seq:020}")
}

/// The entry number an object name gives, if it is an entry's name.
pub fn seq_of_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("log/")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

impl LogEntry {
    /// The signed part: every line before `signature`.
    fn signed_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{HEADER}");
        let _ = writeln!(out, "vault {}", self.vault_id);
        let _ = writeln!(out, "seq {}", self.seq);
        let _ = writeln!(out, "prev {}", self.prev);
        let _ = writeln!(out, "time {}", self.time);
        match &self.commit {
            Commit::Genesis { config } => writeln!(out, "genesis {config}"),
            Commit::Snapshot { id } => writeln!(out, "snapshot {id}"),
        }
        .expect("writing to a String");
        for o in &self.added {
            let _ = writeln!(out, "object {} {}", o.name, o.size);
        }
        let _ = writeln!(out, "objects {}", self.total);
        let _ = writeln!(out, "root {}", self.root);
        out
    }

    /// Signs the entry with the vault's key.
    pub fn sign(&mut self, keys: &VaultKeys) {
        self.signature = keys.sign(self.signed_text().as_bytes());
    }

    /// Whether the signature verifies under `key`.
    pub fn verify_signature(&self, key: &PublicKey) -> bool {
        verify_signature(key, self.signed_text().as_bytes(), &self.signature).is_ok()
    }

    /// The entry's text, signature line included.
    pub fn write(&self) -> String {
        format!(
            "{}signature {}\n",
            self.signed_text(),
            hex::encode(self.signature)
        )
    }

    /// Parses an entry. Only the canonical spelling is accepted (the entry must write
    /// back to the same bytes), so every entry has exactly one valid encoding.
    pub fn parse(bytes: &[u8]) -> Result<LogEntry, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        let mut lines = text.lines().peekable();
        fn field<'a>(
            lines: &mut dyn Iterator<Item = &'a str>,
            key: &str,
        ) -> Result<&'a str, String> {
            let line = lines.next().ok_or(format!("ends before '{key}'"))?;
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or(format!("expected '{key} …', found {:?}", truncate(line)))
        }
        let hash = |s: &str, what: &str| s.parse::<Hash>().map_err(|e| format!("{what}: {e}"));
        let number = |s: &str, what: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("{what}: not a number"))
        };
        if lines.next() != Some(HEADER) {
            return Err(format!("does not start with '{HEADER}'"));
        }
        let vault_id = hash(field(&mut lines, "vault")?, "vault")?;
        let seq = number(field(&mut lines, "seq")?, "seq")?;
        let prev = hash(field(&mut lines, "prev")?, "prev")?;
        let time = number(field(&mut lines, "time")?, "time")?;
        let commit_line = lines.next().ok_or("ends before the commit line")?;
        let commit = if let Some(h) = commit_line.strip_prefix("genesis ") {
            Commit::Genesis {
                config: hash(h, "genesis")?,
            }
        } else if let Some(h) = commit_line.strip_prefix("snapshot ") {
            Commit::Snapshot {
                id: hash(h, "snapshot")?,
            }
        } else {
            return Err(format!(
                "expected 'genesis' or 'snapshot', found {:?}",
                truncate(commit_line)
            ));
        };
        let mut added = Vec::new();
        while let Some(o) = lines.next_if(|l| l.starts_with("object ")) {
            let (name, size) = o["object ".len()..]
                .rsplit_once(' ')
                .ok_or("object line without a size")?;
            if crate::repo::ObjectName::parse(name).is_none() {
                return Err(format!(
                    "object {:?} is not a vault object name",
                    truncate(name)
                ));
            }
            added.push(ObjectInfo {
                name: name.to_string(),
                size: number(size, "object size")?,
            });
        }
        let total = number(field(&mut lines, "objects")?, "objects")?;
        let root = hash(field(&mut lines, "root")?, "root")?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(field(&mut lines, "signature")?, &mut signature)
            .map_err(|_| "signature: not 128 hex digits".to_string())?;
        let entry = LogEntry {
            vault_id,
            seq,
            prev,
            time,
            commit,
            added,
            total,
            root,
            signature,
        };
        if entry.write() != text {
            return Err("not in canonical form (extra, reordered or respelled fields)".into());
        }
        Ok(entry)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// RFC 6962 Merkle tree hash with BLAKE3: leaves `H(0x00 ‖ "name size")` in name
/// order, nodes `H(0x01 ‖ left ‖ right)`, split at the largest power of two below the
/// leaf count; the empty tree hashes to `H("")`.
pub fn merkle_root(objects: &[ObjectInfo]) -> Hash {
    let leaves: Vec<Hash> = objects
        .iter()
        .map(|o| {
            let mut h = blake3::Hasher::new();
            h.update(&[0])
                .update(format!("{} {}", o.name, o.size).as_bytes());
            h.finalize().into()
        })
        .collect();
    fn subtree(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Hash::of(b""),
            1 => leaves[0],
            n => {
                let split = 1 << (usize::BITS - (n - 1).leading_zeros() - 1);
                let (l, r) = (subtree(&leaves[..split]), subtree(&leaves[split..]));
                let mut h = blake3::Hasher::new();
                h.update(&[1]).update(l.as_bytes()).update(r.as_bytes());
                h.finalize().into()
            }
        }
    }
    subtree(&leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use statvault_crypto::MasterKey;

    fn sample(keys: &VaultKeys) -> LogEntry {
        let added = vec![ObjectInfo {
            name: format!("index/{}", Hash::of(b"i")),
            size: 99,
        }];
        let mut e = LogEntry {
            vault_id: Hash::of(b"v"),
            seq: 3,
            prev: Hash::of(b"p"),
            time: 1_763_000_000,
            commit: Commit::Snapshot { id: Hash::of(b"s") },
            root: merkle_root(&added),
            total: 1,
            added,
            signature: [0; 64],
        };
        e.sign(keys);
        e
    }

    #[test]
    fn round_trip_signature_and_canonical_form() {
        let keys = MasterKey::generate().derive();
        let e = sample(&keys);
        let text = e.write();
        let parsed = LogEntry::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, e);
        assert!(parsed.verify_signature(&keys.public_key()));
        let respelled = text.replace("seq 3", "seq 03");
        assert!(LogEntry::parse(respelled.as_bytes()).is_err());
        let mut altered = parsed.clone();
        altered.time += 1;
        assert!(!altered.verify_signature(&keys.public_key()));
    }

    #[test]
    fn merkle_root_matches_rfc6962_shape() {
        let objs: Vec<ObjectInfo> = (0..5)
            .map(|i| ObjectInfo {
                name: format!("o{i}"),
                size: i,
            })
            .collect();
        let leaf = |o: &ObjectInfo| -> Hash {
            let mut h = blake3::Hasher::new();
            h.update(&[0])
                .update(format!("{} {}", o.name, o.size).as_bytes());
            h.finalize().into()
        };
        let node = |l: Hash, r: Hash| -> Hash {
            let mut h = blake3::Hasher::new();
            h.update(&[1]).update(l.as_bytes()).update(r.as_bytes());
            h.finalize().into()
        };
        let l: Vec<Hash> = objs.iter().map(leaf).collect();
        let expected = node(node(node(l[0], l[1]), node(l[2], l[3])), l[4]);
        assert_eq!(merkle_root(&objs), expected);
        assert_eq!(merkle_root(&objs[..1]), l[0]);
        assert_eq!(merkle_root(&[]), Hash::of(b""));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(text in "(statvault-log-v1\n)?[a-z0-9 /\n]{0,300}") {
            let _ = LogEntry::parse(text.as_bytes());
        }
    }
}
