//! Checkpoints of the transparency log in the C2SP `tlog-checkpoint` format, signed as
//! C2SP signed notes with Ed25519 (format in `docs/release-format.md`, "Checkpoint",
//! and `docs/audit-log.md`).
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 root hash>
//!
//! — <key name> <base64(4-byte key hash ‖ 64-byte Ed25519 signature)>
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest as _, Sha256};
use statvault_crypto::{verify_signature, PublicKey, Signing};

use crate::merkle::Digest;

/// Signed-note signature lines start with an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// The signed-note algorithm byte of Ed25519.
const ED25519: u8 = 0x01;

/// A log's signed tree head (C2SP tlog-checkpoint): which log, how many entries, and
/// the Merkle root over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, which names it (and its signing key).
    pub origin: String,
    /// The number of entries the tree holds.
    pub size: u64,
    /// The RFC 6962 Merkle tree hash over those entries.
    pub root: Digest,
}

/// A note verifier: the key name (the log's origin) and its Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteKey {
    /// The key name: the log's origin.
    pub name: String,
    /// The Ed25519 key that verifies the note's signature.
    pub key: PublicKey,
}

impl NoteKey {
    /// First four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ key), as the C2SP spec says.
    pub fn key_hash(&self) -> [u8; 4] {
        let digest = Sha256::new()
            .chain_update(self.name.as_bytes())
            .chain_update(b"\n")
            .chain_update([ED25519])
            .chain_update(self.key.0)
            .finalize();
        digest[..4].try_into().expect("4 bytes")
    }

    /// The verifier key string `<name>+<key hash hex>+<base64(0x01 ‖ key)>`.
    pub fn verifier_string(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(&self.key.0);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_hash()),
            BASE64.encode(raw)
        )
    }
}

impl Checkpoint {
    /// The signed body: origin, size and root, each on its own line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// The signed note, signed by `key` under the origin as key name.
    pub fn sign(&self, key: &dyn Signing) -> String {
        let body = self.body();
        let note_key = NoteKey {
            name: self.origin.clone(),
            key: key.public_key(),
        };
        let mut raw = note_key.key_hash().to_vec();
        raw.extend_from_slice(&key.sign(body.as_bytes()));
        format!(
            "{body}\n{SIGNATURE_PREFIX}{} {}\n",
            self.origin,
            BASE64.encode(raw)
        )
    }

    /// Parses a signed checkpoint and checks the signature of `key` (named by the
    /// checkpoint's origin). Signatures by other keys are ignored, as the spec says.
    pub fn verify(note: &str, key: &PublicKey) -> Result<Checkpoint, String> {
        let (checkpoint, signatures) = Checkpoint::parse(note)?;
        let body = checkpoint.body();
        let ours = NoteKey {
            name: checkpoint.origin.clone(),
            key: *key,
        };
        let hash = ours.key_hash();
        let mut found = false;
        for (name, key_hash, signature) in &signatures {
            if *name == ours.name && *key_hash == hash {
                found = true;
                if verify_signature(key, body.as_bytes(), signature).is_ok() {
                    return Ok(checkpoint);
                }
            }
        }
        Err(if found {
            "the checkpoint's signature does not verify: it was altered".into()
        } else {
            format!(
                "the checkpoint is not signed by this key ({})",
                ours.verifier_string()
            )
        })
    }

    /// Splits a note into its checkpoint and its signature lines, checking the syntax.
    #[allow(clippy::type_complexity)]
    pub fn parse(note: &str) -> Result<(Checkpoint, Vec<(String, [u8; 4], [u8; 64])>), String> {
        let (body, signature_block) = note
            .split_once("\n\n")
            .ok_or("no blank line between the checkpoint and its signatures")?;
        let lines: Vec<&str> = body.split('\n').collect();
        // Extension lines are allowed by C2SP; statvault's logs write none, and a line
        // the signature would not cover is refused rather than ignored.
        if lines.len() != 3 {
            return Err(
                "a checkpoint has an origin, a tree size and a root hash, nothing else".into(),
            );
        }
        let origin = lines[0];
        if origin.is_empty() || origin.contains(char::is_whitespace) {
            return Err("line 1: the origin must be a non-empty word".into());
        }
        let size_text = lines[1];
        let size: u64 = size_text
            .parse()
            .ok()
            .filter(|_| size_text.bytes().all(|b| b.is_ascii_digit()))
            .filter(|_| size_text == "0" || !size_text.starts_with('0'))
            .ok_or_else(|| format!("line 2: tree size {size_text:?} is not a decimal number"))?;
        let root: Digest = BASE64
            .decode(lines[2])
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or("line 3: the root is not 32 bytes of base64")?;
        let mut signatures = Vec::new();
        for line in signature_block.split_terminator('\n') {
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or_else(|| format!("signature line {line:?} does not start with \"— \""))?;
            let (name, encoded) = rest
                .split_once(' ')
                .ok_or("a signature line is \"— <name> <base64>\"")?;
            let raw = BASE64
                .decode(encoded)
                .map_err(|_| format!("signature by {name:?} is not base64"))?;
            if raw.len() == 68 {
                signatures.push((
                    name.to_string(),
                    raw[..4].try_into().expect("4 bytes"),
                    raw[4..].try_into().expect("64 bytes"),
                ));
            }
        }
        if signatures.is_empty() {
            return Err("the checkpoint carries no Ed25519 signature".into());
        }
        if !note.ends_with('\n') {
            return Err("the note does not end with a newline".into());
        }
        Ok((
            Checkpoint {
                origin: origin.into(),
                size,
                root,
            },
            signatures,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use statvault_crypto::MasterKey;

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "statvault/ABCDEF".into(),
            size: 7,
            root: [3; 32],
        }
    }

    #[test]
    fn signed_checkpoints_verify_and_changes_fail() {
        let key = MasterKey::generate().release_key();
        let note = sample().sign(&key);
        assert!(note.starts_with("statvault/ABCDEF\n7\nAwMD"));
        assert!(note.contains("\n\n\u{2014} statvault/ABCDEF "));
        assert_eq!(
            Checkpoint::verify(&note, &key.public_key()).unwrap(),
            sample()
        );

        let altered = note.replacen("\n7\n", "\n8\n", 1);
        let err = Checkpoint::verify(&altered, &key.public_key()).unwrap_err();
        assert!(err.contains("altered"), "{err}");
        let other = MasterKey::generate().release_key().public_key();
        let err = Checkpoint::verify(&note, &other).unwrap_err();
        assert!(err.contains("not signed by this key"), "{err}");
        for bad in [
            note.replacen("\n7\n", "\n07\n", 1),
            note.replacen("\n7\n", "\n-7\n", 1),
            note.replacen("\n\n", "\n", 1),
            note.replacen("\u{2014}", "-", 1),
            note.replacen("\n\n", "\nextension\n\n", 1),
        ] {
            assert!(
                Checkpoint::verify(&bad, &key.public_key()).is_err(),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "([a-z/]{0,8}\n[0-9]{0,3}\n[A-Za-z0-9+/=]{0,48}\n\n)?(\u{2014} [a-z]{0,3} [A-Za-z0-9+/=]{0,100}\n)?.{0,40}") {
            let _ = Checkpoint::parse(&text);
        }
    }
}
