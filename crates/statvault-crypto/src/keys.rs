use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::Signer;
use zeroize::Zeroizing;

use crate::locked::Locked;
use crate::{CryptoError, Hash};

/// Bytes an AEAD-sealed object carries beyond its plaintext: a 24-byte nonce and a
/// 16-byte tag.
pub const AEAD_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Fills a buffer from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).expect("the operating system's random source failed");
    out
}

/// What a sealed object is. It is bound into every AEAD as associated data, so that a
/// ciphertext of one kind never decrypts as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A chunk of file content in a pack.
    Chunk = 1,
    /// A pack's header, listing its blobs.
    PackHeader = 2,
    /// An index object.
    Index = 3,
    /// A snapshot object.
    Snapshot = 4,
    /// A custodian's share, sealed under a passphrase's key.
    Share = 5,
}

impl ObjectKind {
    fn aad(self) -> [u8; 13] {
        let mut aad = *b"statvault-v1\0";
        aad[12] = self as u8;
        aad
    }
}

/// The one random secret from which every key of a vault, or a release signing key, is
/// derived. Never printed, never copied, wiped when dropped. It exists only while K
/// custodian shares are combined.
pub struct MasterKey(Locked<[u8; 32]>);

impl MasterKey {
    /// A new master key from the operating system's random source.
    pub fn generate() -> MasterKey {
        MasterKey(Locked::new_with(|key: &mut [u8; 32]| {
            getrandom::getrandom(key).expect("the operating system's random source failed")
        }))
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<MasterKey> {
        (bytes.len() == 32).then(|| {
            MasterKey(Locked::new_with(|key: &mut [u8; 32]| {
                key.copy_from_slice(bytes)
            }))
        })
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A public value that confirms a reconstructed master key is this vault's
    /// (BLAKE3 key derivation, so it reveals nothing about the key).
    pub fn key_check(&self) -> Hash {
        Hash(blake3::derive_key("statvault 2026 key check v1", &*self.0))
    }

    /// The release signing key. A release key's master is never a vault's: the
    /// office generates one for signing, stored and split like a vault's.
    pub fn release_key(&self) -> ReleaseKey {
        let seed = Zeroizing::new(blake3::derive_key(
            "statvault 2026 release signing key v1",
            &*self.0,
        ));
        ReleaseKey(Locked::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The vault's subkeys, each derived by BLAKE3 in its own context.
    pub fn derive(&self) -> VaultKeys {
        let sub = |context: &str| Zeroizing::new(blake3::derive_key(context, &*self.0));
        let signing_seed = sub("statvault 2026 signing key v1");
        VaultKeys(Locked::new(SubKeys {
            encryption: *sub("statvault 2026 encryption key v1"),
            chunk_id: *sub("statvault 2026 chunk id key v1"),
            chunker: *sub("statvault 2026 chunker key v1"),
            signing: ed25519_dalek::SigningKey::from_bytes(&signing_seed),
        }))
    }
}

/// The subkeys of a vault: encryption, chunk ids (keyed BLAKE3), the chunker's gear
/// table, and the Ed25519 signing key of the commit log.
pub struct VaultKeys(Locked<SubKeys>);

/// Wiped with the rest of their locked pages when `VaultKeys` is dropped.
struct SubKeys {
    encryption: [u8; 32],
    chunk_id: [u8; 32],
    chunker: [u8; 32],
    signing: ed25519_dalek::SigningKey,
}

impl VaultKeys {
    /// Encrypts `plaintext` under a fresh random nonce and appends
    /// `nonce ‖ ciphertext ‖ tag` to `out`.
    pub fn seal_into(&self, kind: ObjectKind, plaintext: &[u8], out: &mut Vec<u8>) {
        seal_with(&self.0.encryption, kind, plaintext, out)
    }

    /// Encrypts `plaintext` under a fresh random nonce: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, kind: ObjectKind, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + AEAD_OVERHEAD);
        self.seal_into(kind, plaintext, &mut out);
        out
    }

    /// Decrypts `nonce ‖ ciphertext ‖ tag`; fails if it was altered, sealed as another
    /// kind or under another key.
    pub fn open(&self, kind: ObjectKind, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.0.encryption, kind, sealed)
    }

    /// Decrypts `nonce ‖ ciphertext ‖ tag` where it lies, returning the plaintext as
    /// a part of `sealed`: no allocation on the hot paths of restore and verify.
    pub fn open_in_place<'a>(
        &self,
        kind: ObjectKind,
        sealed: &'a mut [u8],
    ) -> Result<&'a [u8], CryptoError> {
        if sealed.len() < AEAD_OVERHEAD {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, rest) = sealed.split_at_mut(NONCE_LEN);
        let (text, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        XChaCha20Poly1305::new((&self.0.encryption).into())
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                &kind.aad(),
                text,
                chacha20poly1305::Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(text)
    }

    /// The id of a chunk: BLAKE3 keyed with a vault secret, so ids do not reveal
    /// whether a vault holds some known content.
    pub fn chunk_id(&self, data: &[u8]) -> Hash {
        Hash(*blake3::keyed_hash(&self.0.chunk_id, data).as_bytes())
    }

    /// The 256-entry gear table of the content-defined chunker, expanded from the
    /// chunker key with BLAKE3's extendable output.
    pub fn gear_table(&self) -> GearTable {
        let mut bytes = Zeroizing::new([0u8; 256 * 8]);
        blake3::Hasher::new_keyed(&self.0.chunker)
            .update(b"statvault gear table v1")
            .finalize_xof()
            .fill(&mut *bytes);
        GearTable(Locked::new_with(|table: &mut [u64; 256]| {
            for (entry, word) in table.iter_mut().zip(bytes.chunks_exact(8)) {
                *entry = u64::from_le_bytes(word.try_into().expect("8-byte chunk"));
            }
        }))
    }

    /// Signs `message` with the vault's Ed25519 key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.signing.sign(message).to_bytes()
    }

    /// The vault's Ed25519 public key, which verifies its log.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.signing.verifying_key().to_bytes())
    }
}

/// An Ed25519 secret key that signs: the vault's (commits, audit checkpoints) or a
/// release key (manifests, transparency-log checkpoints).
pub trait Signing {
    /// Signs `message`: an Ed25519 signature.
    fn sign(&self, message: &[u8]) -> [u8; 64];
    /// The public key that verifies the signatures.
    fn public_key(&self) -> PublicKey;
}

impl Signing for VaultKeys {
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        VaultKeys::sign(self, message)
    }

    fn public_key(&self) -> PublicKey {
        VaultKeys::public_key(self)
    }
}

impl Signing for ReleaseKey {
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        ReleaseKey::sign(self, message)
    }

    fn public_key(&self) -> PublicKey {
        ReleaseKey::public_key(self)
    }
}

/// The Ed25519 key that signs release manifests and transparency-log checkpoints.
/// Wiped on drop (ed25519-dalek zeroizes), not printable, not copyable.
pub struct ReleaseKey(Locked<ed25519_dalek::SigningKey>);

impl ReleaseKey {
    /// Signs `message` with the release key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The release key's public key, which readers of releases verify with.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }
}

/// The chunker's secret gear table. Wiped on drop; not printable.
pub struct GearTable(Locked<[u64; 256]>);

impl GearTable {
    pub fn get(&self) -> &[u64; 256] {
        &self.0
    }
}

/// A passphrase typed by a custodian. Wiped on drop; not printable.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Takes the passphrase's text, to be wiped when dropped.
    pub fn new(text: String) -> Passphrase {
        Passphrase(Zeroizing::new(text))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

pub(crate) fn seal_with(key: &[u8; 32], kind: ObjectKind, plaintext: &[u8], out: &mut Vec<u8>) {
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let cipher = XChaCha20Poly1305::new(key.into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &kind.aad(),
            },
        )
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
}

pub(crate) fn open_with(
    key: &[u8; 32],
    kind: ObjectKind,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < AEAD_OVERHEAD {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &kind.aad(),
            },
        )
        .map_err(|_| CryptoError::Decrypt)
}

/// An Ed25519 public key (the vault's log-signing key). Public data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Result<PublicKey, CryptoError> {
        let hash: Hash = text.parse().map_err(|_| CryptoError::Malformed {
            what: "public key",
            detail: "expected 64 lowercase hex digits".into(),
        })?;
        Ok(PublicKey(hash.0))
    }
}

/// Checks an Ed25519 signature strictly (RFC 8032, no malleable encodings).
pub fn verify_signature(
    key: &PublicKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), CryptoError> {
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&key.0).map_err(|_| CryptoError::BadSignature)?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
        .map_err(|_| CryptoError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_deterministic_and_distinct() {
        let master = MasterKey::from_slice(&[7u8; 32]).unwrap();
        let (a, b) = (master.derive(), master.derive());
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.chunk_id(b"x"), b.chunk_id(b"x"));
        assert_ne!(a.chunk_id(b"x"), Hash::of(b"x"));
        assert_ne!(a.0.encryption, a.0.chunk_id);
        assert_ne!(
            a.gear_table().get()[..],
            MasterKey::generate().derive().gear_table().get()[..]
        );
    }

    #[test]
    fn tampered_ciphertext_and_wrong_key_fail() {
        let keys = MasterKey::generate().derive();
        let mut sealed = keys.seal(ObjectKind::Chunk, b"hello census");
        assert_eq!(sealed.len(), 12 + AEAD_OVERHEAD);
        assert!(MasterKey::generate()
            .derive()
            .open(ObjectKind::Chunk, &sealed)
            .is_err());
        let mut copy = sealed.clone();
        assert_eq!(
            keys.open_in_place(ObjectKind::Chunk, &mut copy).unwrap(),
            b"hello census"
        );
        sealed[30] ^= 1;
        assert!(keys.open(ObjectKind::Chunk, &sealed).is_err());
        assert!(keys.open_in_place(ObjectKind::Chunk, &mut sealed).is_err());
        assert!(keys.open(ObjectKind::Chunk, &sealed[..10]).is_err());
    }

    #[test]
    fn release_keys_are_not_vault_keys() {
        let master = MasterKey::from_slice(&[9u8; 32]).unwrap();
        let release = master.release_key();
        assert_eq!(release.public_key(), master.release_key().public_key());
        assert_ne!(release.public_key(), master.derive().public_key());
        let sig = release.sign(b"manifest");
        verify_signature(&release.public_key(), b"manifest", &sig).unwrap();
    }

    #[test]
    fn signatures_verify_and_reject_changes() {
        let keys = MasterKey::generate().derive();
        let sig = keys.sign(b"entry");
        verify_signature(&keys.public_key(), b"entry", &sig).unwrap();
        assert!(verify_signature(&keys.public_key(), b"entrY", &sig).is_err());
    }
}
