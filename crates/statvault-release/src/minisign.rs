//! Signatures in minisign's format, so that the stock `minisign -V` verifies a release
//! (format in `docs/release-format.md`, "Signature").
//!
//! A public key file is `untrusted comment: …` then base64(`Ed` ‖ key id ‖ key). A
//! signature file is `untrusted comment: …`, base64(`ED` ‖ key id ‖ Ed25519 over the
//! BLAKE2b-512 of the file), `trusted comment: …`, and base64 of an Ed25519 signature
//! over the first signature followed by the trusted comment.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use blake2::{Blake2b512, Digest};
use statvault_crypto::{verify_signature, PublicKey, ReleaseKey};

const PUBLIC_KEY_ALGORITHM: &[u8; 2] = b"Ed";
/// "ED": the signed message is the BLAKE2b-512 of the file (minisign's prehashed mode).
const PREHASHED_ALGORITHM: &[u8; 2] = b"ED";
const UNTRUSTED: &str = "untrusted comment: ";
const TRUSTED: &str = "trusted comment: ";

/// A minisign public key: an 8-byte key id and an Ed25519 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinisignKey {
    /// The key id, as minisign stores it.
    pub key_id: [u8; 8],
    /// The Ed25519 public key.
    pub key: PublicKey,
}

impl MinisignKey {
    /// statvault's key id is derived from the key, so a key has one id everywhere.
    pub fn of(key: PublicKey) -> MinisignKey {
        let derived = blake3::derive_key("statvault 2026 minisign key id v1", &key.0);
        MinisignKey {
            key_id: derived[..8].try_into().expect("8 bytes"),
            key,
        }
    }

    /// The id as minisign prints it: the little-endian number in upper-case hex.
    pub fn id_hex(&self) -> String {
        format!("{:016X}", u64::from_le_bytes(self.key_id))
    }

    /// The public key file, as minisign writes it.
    pub fn write(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(PUBLIC_KEY_ALGORITHM);
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.key.0);
        format!(
            "{UNTRUSTED}minisign public key {}\n{}\n",
            self.id_hex(),
            BASE64.encode(raw)
        )
    }

    /// Parses a minisign public key file.
    pub fn read(text: &str) -> Result<MinisignKey, String> {
        let mut lines = text.lines();
        let comment = lines.next().unwrap_or("");
        if !comment.starts_with(UNTRUSTED) {
            return Err(format!("line 1 must start with {UNTRUSTED:?}"));
        }
        let raw = decode(lines.next(), 2, 42)?;
        if lines.any(|l| !l.trim().is_empty()) {
            return Err("text after line 2".into());
        }
        if &raw[..2] != PUBLIC_KEY_ALGORITHM {
            return Err("line 2: not an Ed25519 minisign public key".into());
        }
        Ok(MinisignKey {
            key_id: raw[2..10].try_into().expect("8 bytes"),
            key: PublicKey(raw[10..].try_into().expect("32 bytes")),
        })
    }
}

/// A parsed signature file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinisignSignature {
    /// The first line's comment, not covered by the signature.
    pub untrusted_comment: String,
    /// The id of the key that signed.
    pub key_id: [u8; 8],
    /// Ed25519 signature of the file's BLAKE2b-512.
    pub signature: [u8; 64],
    /// The third line's comment, covered by the global signature.
    pub trusted_comment: String,
    /// Ed25519 signature of `signature ‖ trusted_comment`.
    pub global_signature: [u8; 64],
}

impl MinisignSignature {
    /// Signs `data` with a trusted comment (one line, covered by the signature).
    pub fn sign(
        key: &ReleaseKey,
        data: &[u8],
        trusted_comment: &str,
        untrusted_comment: &str,
    ) -> MinisignSignature {
        assert!(
            !trusted_comment.contains(['\n', '\r']) && !untrusted_comment.contains(['\n', '\r']),
            "comments are single lines"
        );
        let signature = key.sign(&Blake2b512::digest(data));
        MinisignSignature {
            untrusted_comment: untrusted_comment.into(),
            key_id: MinisignKey::of(key.public_key()).key_id,
            signature,
            trusted_comment: trusted_comment.into(),
            global_signature: key.sign(&global_message(&signature, trusted_comment)),
        }
    }

    /// The signature file, as minisign writes it.
    pub fn write(&self) -> String {
        let mut raw = Vec::with_capacity(74);
        raw.extend_from_slice(PREHASHED_ALGORITHM);
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED}{}\n{}\n{TRUSTED}{}\n{}\n",
            self.untrusted_comment,
            BASE64.encode(raw),
            self.trusted_comment,
            BASE64.encode(self.global_signature)
        )
    }

    /// Parses a minisign signature file (prehashed `ED` only).
    pub fn read(text: &str) -> Result<MinisignSignature, String> {
        let mut lines = text.lines();
        let untrusted_comment = lines
            .next()
            .and_then(|l| l.strip_prefix(UNTRUSTED))
            .ok_or_else(|| format!("line 1 must start with {UNTRUSTED:?}"))?
            .to_string();
        let raw = decode(lines.next(), 2, 74)?;
        if &raw[..2] != PREHASHED_ALGORITHM {
            return Err("line 2: not a prehashed (ED) Ed25519 signature".into());
        }
        let trusted_comment = lines
            .next()
            .and_then(|l| l.strip_prefix(TRUSTED))
            .ok_or_else(|| format!("line 3 must start with {TRUSTED:?}"))?
            .to_string();
        let global = decode(lines.next(), 4, 64)?;
        if lines.any(|l| !l.trim().is_empty()) {
            return Err("text after line 4".into());
        }
        Ok(MinisignSignature {
            untrusted_comment,
            key_id: raw[2..10].try_into().expect("8 bytes"),
            signature: raw[10..].try_into().expect("64 bytes"),
            trusted_comment,
            global_signature: global.try_into().expect("64 bytes"),
        })
    }

    /// Checks both signatures against `key`; the error says which failed.
    pub fn verify(&self, key: &MinisignKey, data: &[u8]) -> Result<(), String> {
        if self.key_id != key.key_id {
            return Err(format!(
                "signed by key {}, not by key {}",
                MinisignKey {
                    key_id: self.key_id,
                    key: key.key
                }
                .id_hex(),
                key.id_hex()
            ));
        }
        verify_signature(&key.key, &Blake2b512::digest(data), &self.signature)
            .map_err(|_| "the signature does not match the signed file".to_string())?;
        verify_signature(
            &key.key,
            &global_message(&self.signature, &self.trusted_comment),
            &self.global_signature,
        )
        .map_err(|_| "the trusted comment was altered".to_string())
    }
}

fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    [&signature[..], trusted_comment.as_bytes()].concat()
}

fn decode(line: Option<&str>, number: usize, len: usize) -> Result<Vec<u8>, String> {
    let raw = BASE64
        .decode(line.unwrap_or("").trim_end())
        .map_err(|e| format!("line {number}: not base64 ({e})"))?;
    if raw.len() != len {
        return Err(format!(
            "line {number}: {} bytes, expected {len}",
            raw.len()
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use statvault_crypto::MasterKey;

    #[test]
    fn sign_write_read_verify() {
        let key = MasterKey::generate().release_key();
        let public = MinisignKey::of(key.public_key());
        let sig = MinisignSignature::sign(&key, b"manifest", "release:x version:1", "statvault");
        let text = sig.write();
        let read = MinisignSignature::read(&text).unwrap();
        assert_eq!(read, sig);
        read.verify(&public, b"manifest").unwrap();
        assert_eq!(MinisignKey::read(&public.write()).unwrap(), public);
        assert!(public.write().contains(&public.id_hex()));

        let err = read.verify(&public, b"manifesT").unwrap_err();
        assert!(err.contains("does not match"), "{err}");
        let mut altered = read.clone();
        altered.trusted_comment = "release:y version:1".into();
        assert!(altered
            .verify(&public, b"manifest")
            .unwrap_err()
            .contains("trusted comment"));
        let other = MinisignKey::of(MasterKey::generate().release_key().public_key());
        assert!(read
            .verify(&other, b"manifest")
            .unwrap_err()
            .contains("signed by key"));
    }

    #[test]
    fn malformed_files_name_the_line() {
        let key = MasterKey::generate().release_key();
        let text = MinisignSignature::sign(&key, b"m", "t", "u").write();
        let lines: Vec<&str> = text.lines().collect();
        let e = MinisignSignature::read(&text.replacen("\ntrusted comment: ", "\ncomment: ", 1));
        assert!(e.unwrap_err().contains("line 3"));
        let short = format!("{}\n{}\n", lines[0], &lines[1][..20]);
        assert!(MinisignSignature::read(&short)
            .unwrap_err()
            .contains("line 2"));
        assert!(MinisignKey::read("untrusted comment: k\nAAAA\n")
            .unwrap_err()
            .contains("line 2"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "(untrusted comment: [a-z]{0,5}\n)?[A-Za-z0-9+/=\n: ]{0,200}") {
            let _ = MinisignSignature::read(&text);
            let _ = MinisignKey::read(&text);
        }
    }
}
