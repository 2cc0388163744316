//! Shamir k-of-n sharing of the master key, and the custodian's share file.
//!
//! A share file is JSON (see `docs/vault-format.md`, "Share files"). Its share may be
//! protected by a passphrase: Argon2id derives a key that seals the share with
//! XChaCha20-Poly1305. A checksum over the file's fields catches accidental damage
//! before any key is tried.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::keys::{open_with, random_bytes, seal_with};
use crate::{CryptoError, Hash, MasterKey, ObjectKind, Passphrase, PublicKey, ReleaseKey};

const FORMAT: &str = "statvault-share-v1";

/// Argon2id cost of passphrase protection: 64 MiB, 3 passes, one lane (OWASP's
/// recommended minimum is 19 MiB / 2 passes).
const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
const ARGON2_PASSES: u32 = 3;
/// The most a share file may ask of Argon2id: a forged or damaged file must not make
/// the process allocate without bound or run for hours.
const ARGON2_MAX_MEMORY_KIB: u32 = 1024 * 1024;
const ARGON2_MAX_PASSES: u32 = 64;
const ARGON2_MAX_LANES: u32 = 16;

/// One custodian's share of the master key, in the clear. Wiped on drop.
pub struct KeyShare(Zeroizing<Vec<u8>>);

/// Splits the master key into `custodians` shares, any `threshold` of which rebuild it.
pub fn split(
    master: &MasterKey,
    custodians: u8,
    threshold: u8,
) -> Result<Vec<KeyShare>, CryptoError> {
    if threshold < 1 || custodians < threshold {
        return Err(CryptoError::Shares(format!(
            "threshold must be between 1 and the number of custodians (got threshold {threshold} of {custodians})"
        )));
    }
    let dealer = blahaj::Sharks(threshold).dealer(master.expose());
    Ok(dealer
        .take(custodians as usize)
        .map(|share| KeyShare(Zeroizing::new(Vec::from(&share))))
        .collect())
}

/// What identifies the vault a share belongs to: checked before shares are combined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultIdentity {
    /// The vault's id.
    pub vault_id: Hash,
    /// The vault's log-signing public key.
    pub public_key: PublicKey,
    /// K: how many shares unlock the vault.
    pub threshold: u8,
    /// N: how many custodians hold a share.
    pub custodians: u8,
    /// A hash derived from the master key, which tells a correct combination of
    /// shares from a wrong one.
    pub key_check: Hash,
}

/// A share file as stored: public metadata and the share, sealed or in the clear.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareFile {
    format: String,
    vault_id: String,
    signing_key: String,
    custodian: u8,
    custodians: u8,
    threshold: u8,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    argon2id: Option<Argon2Params>,
    share: String,
    checksum: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Argon2Params {
    memory_kib: u32,
    passes: u32,
    lanes: u32,
    salt: String,
}

impl ShareFile {
    /// Writes custodian `custodian`'s (1-based) share, sealed if a passphrase is given.
    pub fn seal(
        identity: &VaultIdentity,
        custodian: u8,
        share: &KeyShare,
        passphrase: Option<&Passphrase>,
    ) -> ShareFile {
        let (argon2id, payload) = match passphrase {
            None => (None, hex::encode(&*share.0)),
            Some(passphrase) => {
                let params = Argon2Params {
                    memory_kib: ARGON2_MEMORY_KIB,
                    passes: ARGON2_PASSES,
                    lanes: 1,
                    salt: hex::encode(random_bytes::<16>()),
                };
                let key =
                    argon2_key(&params, passphrase).expect("fixed Argon2 parameters are valid");
                let mut sealed = Vec::new();
                seal_with(&key, ObjectKind::Share, &share.0, &mut sealed);
                (Some(params), hex::encode(sealed))
            }
        };
        let mut file = ShareFile {
            format: FORMAT.into(),
            vault_id: identity.vault_id.to_hex(),
            signing_key: identity.public_key.to_hex(),
            custodian,
            custodians: identity.custodians,
            threshold: identity.threshold,
            argon2id,
            share: payload,
            checksum: String::new(),
        };
        file.checksum = file.expected_checksum();
        file
    }

    /// The file's text: pretty JSON and a newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("share file serializes") + "\n"
    }

    /// Parses a share file; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ShareFile, CryptoError> {
        let problem = |problem: String| CryptoError::Share {
            path: path.to_path_buf(),
            problem,
        };
        let file: ShareFile = serde_json::from_str(text)
            .map_err(|e| problem(format!("not a statvault share file ({e})")))?;
        if file.format != FORMAT {
            return Err(problem(format!(
                "unknown format {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if file.checksum != file.expected_checksum() {
            return Err(problem(
                "corrupted: checksum does not match its contents".into(),
            ));
        }
        if let Some(p) = &file.argon2id {
            if p.memory_kib > ARGON2_MAX_MEMORY_KIB
                || !(1..=ARGON2_MAX_PASSES).contains(&p.passes)
                || !(1..=ARGON2_MAX_LANES).contains(&p.lanes)
            {
                return Err(problem(format!(
                    "Argon2id parameters out of bounds ({} KiB, {} passes, {} lanes; at most \
                     {ARGON2_MAX_MEMORY_KIB} KiB, {ARGON2_MAX_PASSES} passes, {ARGON2_MAX_LANES} lanes)",
                    p.memory_kib, p.passes, p.lanes
                )));
            }
        }
        Ok(file)
    }

    /// Writes the share as a new file readable only by its owner, synced with its
    /// directory entry; an existing file is never replaced (it may be another
    /// custodian's share).
    pub fn write(&self, path: &Path) -> Result<(), CryptoError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let err = |cause| CryptoError::Write {
            path: path.to_path_buf(),
            cause,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| {
                f.write_all(self.to_json().as_bytes())
                    .and_then(|()| f.sync_all())
            })
            .map_err(err)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)
    }

    /// Reads and checks a share file (format, checksum).
    pub fn read(path: &Path) -> Result<ShareFile, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|cause| CryptoError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        ShareFile::parse(path, &text)
    }

    /// Whether the share is sealed under a passphrase.
    pub fn is_protected(&self) -> bool {
        self.argon2id.is_some()
    }

    /// The custodian's number, from 1.
    pub fn custodian(&self) -> u8 {
        self.custodian
    }

    /// Checks that the share is one of `identity`'s custodians' (vault id, signing
    /// key, threshold, custodian number); `path` names it in errors. Whether the share
    /// itself is intact shows only when K of them are combined.
    pub fn check_belongs(&self, identity: &VaultIdentity, path: &Path) -> Result<(), CryptoError> {
        let problem = |problem: String| CryptoError::Share {
            path: path.to_path_buf(),
            problem,
        };
        if self.vault_id != identity.vault_id.to_hex() {
            return Err(problem(format!(
                "belongs to vault {}, not to this vault {}",
                short(&self.vault_id),
                short(&identity.vault_id.to_hex())
            )));
        }
        if self.signing_key != identity.public_key.to_hex()
            || self.threshold != identity.threshold
            || self.custodians != identity.custodians
        {
            return Err(problem(
                "names this vault's id but disagrees with its configuration (signing key or threshold); the vault's config may have been replaced".into(),
            ));
        }
        if self.custodian == 0 || self.custodian > self.custodians {
            return Err(problem(format!(
                "custodian number {} is out of range",
                self.custodian
            )));
        }
        Ok(())
    }

    /// The same share in the clear (asking for the passphrase if it is sealed), to
    /// hand to an agent over its local socket: the passphrase never leaves the
    /// custodian's own process.
    pub fn unlocked(
        &self,
        path: &Path,
        passphrase: &mut dyn FnMut(&Path) -> Result<Passphrase, CryptoError>,
    ) -> Result<ShareFile, CryptoError> {
        let share = self.unlock(path, passphrase)?;
        let mut clear = ShareFile {
            format: self.format.clone(),
            vault_id: self.vault_id.clone(),
            signing_key: self.signing_key.clone(),
            custodian: self.custodian,
            custodians: self.custodians,
            threshold: self.threshold,
            argon2id: None,
            share: hex::encode(&*share.0),
            checksum: String::new(),
        };
        clear.checksum = clear.expected_checksum();
        Ok(clear)
    }

    /// The share in the clear, asking for the passphrase if the share is sealed.
    fn unlock(
        &self,
        path: &Path,
        passphrase: &mut dyn FnMut(&Path) -> Result<Passphrase, CryptoError>,
    ) -> Result<KeyShare, CryptoError> {
        let payload = Zeroizing::new(hex::decode(&self.share).map_err(|_| CryptoError::Share {
            path: path.to_path_buf(),
            problem: "corrupted: share is not hex".into(),
        })?);
        match &self.argon2id {
            None => Ok(KeyShare(payload)),
            Some(params) => {
                let key = argon2_key(params, &passphrase(path)?).map_err(|detail| {
                    CryptoError::Share {
                        path: path.to_path_buf(),
                        problem: detail,
                    }
                })?;
                open_with(&key, ObjectKind::Share, &payload)
                    .map(|plain| KeyShare(Zeroizing::new(plain)))
                    .map_err(|_| CryptoError::WrongPassphrase(path.to_path_buf()))
            }
        }
    }

    fn expected_checksum(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        for field in [&self.format, &self.vault_id, &self.signing_key, &self.share] {
            hasher.update(field.as_bytes()).update(b"\n");
        }
        hasher.update(&[self.custodian, self.custodians, self.threshold]);
        if let Some(p) = &self.argon2id {
            hasher
                .update(format!("{} {} {} {}", p.memory_kib, p.passes, p.lanes, p.salt).as_bytes());
        }
        hasher.finalize().to_hex()[..16].to_string()
    }
}

impl Drop for ShareFile {
    /// An unprotected share is the secret itself, in hex.
    fn drop(&mut self) {
        self.share.zeroize();
    }
}

fn argon2_key(
    params: &Argon2Params,
    passphrase: &Passphrase,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let salt = hex::decode(&params.salt).map_err(|_| "corrupted: salt is not hex".to_string())?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(params.memory_kib, params.passes, params.lanes, Some(32))
            .map_err(|e| format!("unusable Argon2id parameters: {e}"))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), &salt, &mut *key)
        .map_err(|e| format!("unusable Argon2id parameters: {e}"))?;
    Ok(key)
}

/// Rebuilds the master key from share files, checking each belongs to `identity`'s
/// vault, that enough distinct custodians are present, and that the result is the
/// vault's key. `passphrase` is asked for each sealed share.
pub fn combine(
    identity: &VaultIdentity,
    files: &[(PathBuf, ShareFile)],
    passphrase: &mut dyn FnMut(&Path) -> Result<Passphrase, CryptoError>,
) -> Result<MasterKey, CryptoError> {
    let mut by_custodian: BTreeMap<u8, (&PathBuf, &ShareFile)> = BTreeMap::new();
    for (path, file) in files {
        file.check_belongs(identity, path)?;
        if let Some((other, _)) = by_custodian.insert(file.custodian, (path, file)) {
            return Err(CryptoError::Share {
                path: path.clone(),
                problem: format!(
                    "is custodian {}'s share, already given as {}",
                    file.custodian,
                    other.display()
                ),
            });
        }
    }
    let threshold = identity.threshold as usize;
    if by_custodian.len() < threshold {
        return Err(CryptoError::Shares(format!(
            "{} share(s) given; this vault needs {} of its {} custodians' shares",
            by_custodian.len(),
            threshold,
            identity.custodians
        )));
    }
    let mut shares = Vec::with_capacity(threshold);
    for (path, file) in by_custodian.values().take(threshold) {
        let share = file.unlock(path, passphrase)?;
        shares.push(blahaj::Share::try_from(share.0.as_slice()).map_err(|e| {
            CryptoError::Share {
                path: path.to_path_buf(),
                problem: format!("corrupted: {e}"),
            }
        })?);
    }
    let secret = Zeroizing::new(
        blahaj::Sharks(identity.threshold)
            .recover(&shares)
            .map_err(|e| CryptoError::Shares(e.to_string()))?,
    );
    let master = MasterKey::from_slice(&secret).ok_or_else(|| {
        CryptoError::Shares("the shares have the wrong length for a master key".into())
    })?;
    if master.key_check() != identity.key_check {
        return Err(CryptoError::Shares(
            "the shares do not rebuild this vault's master key: one of them was altered or comes from another vault".into(),
        ));
    }
    Ok(master)
}

/// The identity of a release signing key. Share files of a release key carry its
/// public key in `signing_key` and its key check in `vault_id`: such a key belongs to
/// no vault, and its files are all there is to check the shares against.
pub fn release_key_identity(master: &MasterKey, custodians: u8, threshold: u8) -> VaultIdentity {
    VaultIdentity {
        vault_id: master.key_check(),
        public_key: master.release_key().public_key(),
        threshold,
        custodians,
        key_check: master.key_check(),
    }
}

/// Rebuilds a release signing key from its key file (a 1-of-1 share) or from K of its
/// custodians' share files, and checks it is the key the files name.
pub fn combine_release_key(
    files: &[(PathBuf, ShareFile)],
    passphrase: &mut dyn FnMut(&Path) -> Result<Passphrase, CryptoError>,
) -> Result<ReleaseKey, CryptoError> {
    let (path, first) = files
        .first()
        .ok_or_else(|| CryptoError::Shares("no release key file given".into()))?;
    let malformed = |problem: &str| CryptoError::Share {
        path: path.clone(),
        problem: problem.into(),
    };
    let key_check: Hash = first
        .vault_id
        .parse()
        .map_err(|_| malformed("corrupted: vault_id is not a hash"))?;
    let identity = VaultIdentity {
        vault_id: key_check,
        public_key: PublicKey::from_hex(&first.signing_key)
            .map_err(|_| malformed("corrupted: signing_key is not a public key"))?,
        threshold: first.threshold,
        custodians: first.custodians,
        key_check,
    };
    let key = combine(&identity, files, passphrase)?.release_key();
    if key.public_key() != identity.public_key {
        return Err(malformed(
            "is not a release signing key (a vault's share?): its key does not match its public key",
        ));
    }
    Ok(key)
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(master: &MasterKey, custodians: u8, threshold: u8) -> VaultIdentity {
        VaultIdentity {
            vault_id: Hash::of(b"vault"),
            public_key: master.derive().public_key(),
            threshold,
            custodians,
            key_check: master.key_check(),
        }
    }

    fn files(
        master: &MasterKey,
        id: &VaultIdentity,
        pass: Option<&Passphrase>,
    ) -> Vec<(PathBuf, ShareFile)> {
        split(master, id.custodians, id.threshold)
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let text = ShareFile::seal(id, i as u8 + 1, s, pass).to_json();
                let path = PathBuf::from(format!("share-{}.json", i + 1));
                let parsed = ShareFile::parse(&path, &text).unwrap();
                (path, parsed)
            })
            .collect()
    }

    fn no_passphrase(_: &Path) -> Result<Passphrase, CryptoError> {
        panic!("no passphrase expected")
    }

    #[test]
    fn a_share_file_is_written_private_never_over_another_and_reads_back() {
        use std::os::unix::fs::PermissionsExt;
        let master = MasterKey::generate();
        let id = identity(&master, 3, 2);
        let dir = std::env::temp_dir().join(format!("statvault-share-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("custodian-1-of-3.share");
        let _ = std::fs::remove_file(&path);
        let (_, share) = files(&master, &id, None).remove(0);
        share.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ShareFile::read(&path).unwrap().to_json(), share.to_json());
        let again = share.write(&path).unwrap_err();
        assert!(again.to_string().starts_with("cannot write"), "{again}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn any_k_of_n_rebuild_the_key() {
        let master = MasterKey::generate();
        let id = identity(&master, 5, 3);
        let all = files(&master, &id, None);
        for pick in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let chosen: Vec<_> = pick
                .iter()
                .map(|&i| {
                    (
                        all[i].0.clone(),
                        ShareFile::parse(&all[i].0, &all[i].1.to_json()).unwrap(),
                    )
                })
                .collect();
            let rebuilt = combine(&id, &chosen, &mut no_passphrase).unwrap();
            assert_eq!(rebuilt.key_check(), master.key_check());
        }
        let too_few = combine(&id, &all[..2], &mut no_passphrase)
            .err()
            .unwrap()
            .to_string();
        assert!(
            too_few.contains("2 share(s) given; this vault needs 3"),
            "{too_few}"
        );
    }

    #[test]
    fn duplicate_foreign_and_corrupted_shares_are_named() {
        let master = MasterKey::generate();
        let id = identity(&master, 3, 2);
        let all = files(&master, &id, None);
        let dup = vec![
            (
                all[0].0.clone(),
                ShareFile::parse(&all[0].0, &all[0].1.to_json()).unwrap(),
            ),
            (
                PathBuf::from("copy.json"),
                ShareFile::parse(&all[0].0, &all[0].1.to_json()).unwrap(),
            ),
        ];
        let err = combine(&id, &dup, &mut no_passphrase)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("copy.json") && err.contains("custodian 1"),
            "{err}"
        );

        let other = MasterKey::generate();
        let mut other_id = identity(&other, 3, 2);
        other_id.vault_id = Hash::of(b"other");
        let foreign = files(&other, &other_id, None);
        let err = combine(&id, &foreign, &mut no_passphrase)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("belongs to vault"), "{err}");

        let mut text = all[1].1.to_json();
        let at = text.find("\"share\": \"").unwrap() + 12;
        let flipped = if &text[at..at + 1] == "0" { "1" } else { "0" };
        text.replace_range(at..at + 1, flipped);
        let err = ShareFile::parse(Path::new("s.json"), &text)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("s.json") && err.contains("corrupted"), "{err}");
    }

    #[test]
    fn altered_share_with_fixed_checksum_fails_the_key_check() {
        let master = MasterKey::generate();
        let id = identity(&master, 3, 2);
        let mut all = files(&master, &id, None);
        let mut bytes = hex::decode(&all[0].1.share).unwrap();
        bytes[5] ^= 0x40;
        all[0].1.share = hex::encode(bytes);
        all[0].1.checksum = all[0].1.expected_checksum();
        let err = combine(&id, &all, &mut no_passphrase)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("do not rebuild this vault's master key"),
            "{err}"
        );
    }

    #[test]
    fn passphrase_protected_shares() {
        let master = MasterKey::generate();
        let id = identity(&master, 2, 2);
        let all = files(&master, &id, Some(&Passphrase::new("correct horse".into())));
        assert!(all[0].1.is_protected());
        // A sealed share carries the AEAD's nonce and tag around the 33 share bytes.
        assert_eq!(all[0].1.share.len(), 2 * (33 + crate::AEAD_OVERHEAD));
        let mut right = |_: &Path| Ok(Passphrase::new("correct horse".into()));
        assert_eq!(
            combine(&id, &all, &mut right).unwrap().key_check(),
            master.key_check()
        );
        let mut wrong = |_: &Path| Ok(Passphrase::new("wrong".into()));
        let err = combine(&id, &all, &mut wrong).err().unwrap();
        assert!(matches!(err, CryptoError::WrongPassphrase(_)), "{err}");
    }

    #[test]
    fn release_keys_from_a_key_file_or_from_shares() {
        let master = MasterKey::generate();
        let public = master.release_key().public_key();
        let pass = Passphrase::new("office".into());
        let one = release_key_identity(&master, 1, 1);
        let key_file = files(&master, &one, Some(&pass));
        let mut right = |_: &Path| Ok(Passphrase::new("office".into()));
        let key = combine_release_key(&key_file, &mut right).unwrap();
        assert_eq!(key.public_key(), public);
        let mut wrong = |_: &Path| Ok(Passphrase::new("guess".into()));
        assert!(matches!(
            combine_release_key(&key_file, &mut wrong),
            Err(CryptoError::WrongPassphrase(_))
        ));

        let split_id = release_key_identity(&master, 3, 2);
        let shares = files(&master, &split_id, None);
        let key = combine_release_key(&shares[1..], &mut no_passphrase).unwrap();
        assert_eq!(key.public_key(), public);
        let err = combine_release_key(&shares[..1], &mut no_passphrase)
            .err()
            .unwrap();
        assert!(err.to_string().contains("needs 2"), "{err}");

        // A vault's share is not a release key.
        let vault = identity(&master, 1, 1);
        let vault_share = files(&master, &vault, None);
        assert!(combine_release_key(&vault_share, &mut no_passphrase).is_err());
    }

    proptest::proptest! {
        #[test]
        fn share_parser_never_panics(text in ".{0,400}") {
            let _ = ShareFile::parse(Path::new("x"), &text);
        }
    }

    #[test]
    fn share_asking_for_64_gib_of_argon2_memory_is_refused() {
        let master = MasterKey::generate();
        let id = identity(&master, 2, 1);
        let pass = Passphrase::new("correct horse".into());
        let share = &split(&master, 2, 1).unwrap()[0];
        let mut file = ShareFile::seal(&id, 1, share, Some(&pass));
        file.argon2id.as_mut().unwrap().memory_kib = 64 * 1024 * 1024;
        file.checksum = file.expected_checksum();
        let e = ShareFile::parse(Path::new("forged.share"), &file.to_json())
            .err()
            .expect("refused before any key derivation");
        assert!(
            e.to_string().contains("Argon2id parameters out of bounds"),
            "{e}"
        );
        file.argon2id.as_mut().unwrap().memory_kib = ARGON2_MEMORY_KIB;
        file.argon2id.as_mut().unwrap().lanes = 0;
        file.checksum = file.expected_checksum();
        assert!(ShareFile::parse(Path::new("forged.share"), &file.to_json()).is_err());
    }

    /// The test vector of docs/vault-format.md §3.1: the field is GF(2^8) modulo
    /// x^8+x^4+x^3+x^2+1 (0x11d). Secret byte 0x53, polynomial 0x53 + 0xCA·x: at x = 2,
    /// 0xCA·2 = 0x89 under 0x11d (it would be 0x8F under AES's 0x11b), so y = 0xDA.
    #[test]
    fn shamir_field_is_0x11d_as_documented() {
        let share = |x: u8, y: u8| {
            let mut bytes = vec![x];
            bytes.extend([y; 32]);
            blahaj::Share::try_from(bytes.as_slice()).unwrap()
        };
        let recovered = blahaj::Sharks(2)
            .recover(&[share(1, 0x99), share(2, 0xDA)])
            .unwrap();
        assert_eq!(recovered, vec![0x53; 32]);
        let under_0x11b = blahaj::Sharks(2)
            .recover(&[share(1, 0x99), share(2, 0xDC)])
            .unwrap();
        assert_ne!(under_0x11b, vec![0x53; 32]);
    }
}
