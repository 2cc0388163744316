//! Index files: for the packs one commit added, which blobs each holds and where.
//! Plain layout `"SVIX\x01" ‖ pack count ‖ (pack id ‖ blob count ‖ entries)*`, sealed
//! as one object.

use std::collections::HashMap;

use statvault_crypto::Hash;

use crate::pack::{put_entry, read_entry, BlobEntry, ENTRY_LEN};
use crate::wire::{put_u32, Reader, WireError};

const MAGIC: &[u8; 5] = b"SVIX\x01";

/// The blobs of one pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackIndex {
    /// The pack's id.
    pub pack: Hash,
    /// Its blobs, in the order they lie in it.
    pub blobs: Vec<BlobEntry>,
}

/// An index object's plain bytes (`docs/vault-format.md`).
pub fn write(packs: &[PackIndex]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, packs.len() as u32);
    for p in packs {
        out.extend_from_slice(p.pack.as_bytes());
        put_u32(&mut out, p.blobs.len() as u32);
        for e in &p.blobs {
            put_entry(&mut out, e);
        }
    }
    out
}

/// Parses an index object's plain bytes.
pub fn read(plain: &[u8]) -> Result<Vec<PackIndex>, WireError> {
    let mut r = Reader::new(plain);
    r.magic(MAGIC)?;
    let n = r.count("pack", 36)?;
    let mut packs = Vec::with_capacity(n);
    for _ in 0..n {
        let pack = r.hash("pack id")?;
        let blobs = r.count("blob", ENTRY_LEN)?;
        let blobs = (0..blobs)
            .map(|_| read_entry(&mut r))
            .collect::<Result<_, _>>()?;
        packs.push(PackIndex { pack, blobs });
    }
    r.finish("index")?;
    Ok(packs)
}

/// Where each chunk is: the loaded union of every committed index.
#[derive(Default)]
pub struct ChunkMap {
    /// Per chunk id: its pack and where it lies there.
    pub chunks: HashMap<Hash, (Hash, BlobEntry)>,
}

impl ChunkMap {
    /// Adds every blob of `packs`.
    pub fn insert_all(&mut self, packs: &[PackIndex]) {
        for p in packs {
            for e in &p.blobs {
                self.chunks.entry(e.id).or_insert((p.pack, *e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::Compression;

    proptest::proptest! {
        #[test]
        fn index_round_trips_and_parser_never_panics(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), packs in 0usize..4) {
            let _ = read(&raw);
            let idx: Vec<PackIndex> = (0..packs).map(|p| PackIndex {
                pack: Hash::of(&[p as u8]),
                blobs: raw.chunks(9).map(|c| BlobEntry { id: Hash::of(c), offset: 1, sealed_len: 2, raw_len: 3, compression: Compression::None }).collect(),
            }).collect();
            proptest::prop_assert_eq!(read(&write(&idx)).unwrap(), idx);
        }
    }
}
