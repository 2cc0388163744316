//! The record keys of the cell key method, drawn from one secret seed per dataset.
//!
//! Each record of a census snapshot carries a uniform 32-bit key; the key of a table
//! cell is the sum of its records' keys. Storing 32 random bits per person cost more
//! to read back than all of a small table's own columns, so the keys are a keystream
//! instead: the key of row `r` is the little-endian `u32` at bytes `4r .. 4r + 4` of
//! the ChaCha20 keystream (RFC 8439: 20 rounds, the seed as the 256-bit key, an
//! all-zero 96-bit nonce, block counter from 0). That is as secret as the seed and as
//! uniform as the random bits it replaces, and any row's key is found without reading
//! the others. The 32-bit block counter bounds a dataset to 2³⁶ rows.

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20::ChaCha20;

use crate::locked::Locked;

/// Rows whose keys one keystream covers: 2³² blocks of 64 bytes, 16 keys a block.
pub const MAX_ROWS: u64 = 1 << 36;

/// The secret from which a dataset's record keys are drawn. Never printed, never
/// copied, wiped when dropped; written only into the dataset's own metadata, which
/// lives in the vault beside the microdata it keys.
pub struct RecordKeySeed(Locked<[u8; 32]>);

impl RecordKeySeed {
    /// A new seed from the operating system's random source.
    pub fn generate() -> RecordKeySeed {
        RecordKeySeed(Locked::new_with(|seed: &mut [u8; 32]| {
            getrandom::getrandom(seed).expect("the operating system's random source failed")
        }))
    }

    /// Reads 64 hex digits; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<RecordKeySeed> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, &mut *bytes).ok()?;
        Some(RecordKeySeed(Locked::new_with(|seed: &mut [u8; 32]| {
            seed.copy_from_slice(&*bytes)
        })))
    }

    /// The seed as 64 hex digits, for the dataset metadata that stores it.
    pub fn to_hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(hex::encode(*self.0))
    }

    /// The keys of rows `first_row ..` into `keys`, one per element.
    ///
    /// # Panics
    /// If the rows reach past [`MAX_ROWS`].
    pub fn fill(&self, first_row: u64, keys: &mut [u32]) {
        assert!(
            first_row + keys.len() as u64 <= MAX_ROWS,
            "record keys beyond row 2^36"
        );
        let mut stream = ChaCha20::new(self.0.as_ref().into(), &[0u8; 12].into());
        stream.seek(first_row * 4);
        let mut bytes = zeroize::Zeroizing::new([0u8; 4096]);
        for part in keys.chunks_mut(bytes.len() / 4) {
            let bytes = &mut bytes[..part.len() * 4];
            bytes.fill(0);
            stream.apply_keystream(bytes);
            for (key, b) in part.iter_mut().zip(bytes.chunks_exact(4)) {
                *key = u32::from_le_bytes(b.try_into().expect("4 bytes"));
            }
        }
    }
}

impl serde::Serialize for RecordKeySeed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for RecordKeySeed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RecordKeySeed, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        RecordKeySeed::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a record key seed is 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439, appendix A.1, test vector 1: the all-zero key and nonce, block 0.
    #[test]
    fn keys_are_the_chacha20_keystream_read_as_little_endian_words() {
        let seed = RecordKeySeed::from_hex(&"0".repeat(64)).unwrap();
        let mut keys = [0u32; 4];
        seed.fill(0, &mut keys);
        let rfc: [u8; 16] = [
            0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90, 0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86,
            0xbd, 0x28,
        ];
        let expected: Vec<u32> = rfc
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(keys.to_vec(), expected);
    }

    #[test]
    fn any_run_of_rows_gets_the_keys_of_the_whole() {
        let seed = RecordKeySeed::generate();
        let mut whole = vec![0u32; 5000];
        seed.fill(0, &mut whole);
        for (start, len) in [(0, 1), (1, 7), (15, 2), (16, 1024), (1021, 3979), (4999, 1)] {
            let mut part = vec![0u32; len];
            seed.fill(start as u64, &mut part);
            assert_eq!(part, whole[start..start + len], "rows {start}..+{len}");
        }
        let other = RecordKeySeed::generate();
        let mut theirs = vec![0u32; 5000];
        other.fill(0, &mut theirs);
        assert_ne!(theirs, whole);
    }

    #[test]
    fn a_seed_round_trips_through_hex_and_refuses_anything_else() {
        let seed = RecordKeySeed::generate();
        let back = RecordKeySeed::from_hex(&seed.to_hex()).unwrap();
        assert_eq!(*back.0, *seed.0);
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(66)] {
            assert!(RecordKeySeed::from_hex(bad).is_none(), "{bad}");
        }
        let json = serde_json::to_string(&seed).unwrap();
        let again: RecordKeySeed = serde_json::from_str(&json).unwrap();
        assert_eq!(*again.0, *seed.0);
        assert!(serde_json::from_str::<RecordKeySeed>("\"abc\"").is_err());
    }
}
