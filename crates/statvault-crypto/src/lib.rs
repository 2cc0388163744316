//! Cryptography for statvault: secret key types that cannot be printed or copied and
//! are wiped on drop, key derivation from one master key, authenticated encryption,
//! keyed hashing, Ed25519 signatures and k-of-n Shamir secret sharing of the master key.
//!
//! ```
//! use statvault_crypto::{MasterKey, ObjectKind};
//!
//! let master = MasterKey::generate();
//! let keys = master.derive();
//! let sealed = keys.seal(ObjectKind::Index, b"census");
//! assert_eq!(keys.open(ObjectKind::Index, &sealed).unwrap(), b"census");
//! // Sealed bytes for one kind of object do not open as another kind.
//! assert!(keys.open(ObjectKind::Snapshot, &sealed).is_err());
//! ```
//!
//! Secrets cannot be printed or copied; these do not compile:
//!
//! ```compile_fail
//! let master = statvault_crypto::MasterKey::generate();
//! println!("{:?}", master);
//! ```
//!
//! ```compile_fail
//! let master = statvault_crypto::MasterKey::generate();
//! let copy = master.clone();
//! ```
//!
//! ```compile_fail
//! let keys = statvault_crypto::MasterKey::generate().derive();
//! println!("{:?}", keys);
//! ```
//!
//! ```compile_fail
//! let key = statvault_crypto::MasterKey::generate().release_key();
//! println!("{:?}", key);
//! ```
//!
//! ```compile_fail
//! let key = statvault_crypto::MasterKey::generate().release_key();
//! let copy = key.clone();
//! ```
//!
//! ```compile_fail
//! let passphrase = statvault_crypto::Passphrase::new("secret".into());
//! println!("{:?}", passphrase);
//! ```

#![warn(missing_docs)]

mod error;
mod hash;
mod keys;
mod locked;
mod record_keys;
pub mod share;

pub use error::CryptoError;
pub use hash::Hash;
pub use keys::{
    random_bytes, verify_signature, MasterKey, ObjectKind, Passphrase, PublicKey, ReleaseKey,
    Signing, VaultKeys, AEAD_OVERHEAD,
};
pub use locked::protect_process;
pub use record_keys::{RecordKeySeed, MAX_ROWS as MAX_RECORD_KEY_ROWS};
