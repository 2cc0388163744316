//! Pack files: `sealed blob ‖ … ‖ sealed header ‖ header length (u32 LE)`.
//!
//! Blobs are sealed chunks laid end to end. The header lists, for each blob, its id,
//! offset, sealed length, plain length and compression; it is sealed too, so nothing
//! in a pack is readable or even delimited without the vault key.

use statvault_crypto::{Hash, ObjectKind, VaultKeys};

use crate::wire::{put_u32, Reader, WireError};

/// Where a chunk lives inside a pack and how to turn its bytes back into the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobEntry {
    /// The chunk's id.
    pub id: Hash,
    /// Where its sealed bytes begin in the pack.
    pub offset: u32,
    /// How many sealed bytes.
    pub sealed_len: u32,
    /// The chunk's size once opened and decompressed.
    pub raw_len: u32,
    /// How it was compressed before sealing.
    pub compression: Compression,
}

/// How a chunk was compressed before it was sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Stored as it is.
    None = 0,
    /// zstd.
    Zstd = 1,
}

/// Encoded size of one `BlobEntry`.
pub const ENTRY_LEN: usize = 32 + 4 + 4 + 4 + 1;
const HEADER_MAGIC: &[u8; 5] = b"SVPH\x01";

/// Appends `e` as `ENTRY_LEN` bytes.
pub fn put_entry(out: &mut Vec<u8>, e: &BlobEntry) {
    out.extend_from_slice(e.id.as_bytes());
    put_u32(out, e.offset);
    put_u32(out, e.sealed_len);
    put_u32(out, e.raw_len);
    out.push(e.compression as u8);
}

/// Reads one entry written by `put_entry`.
pub fn read_entry(r: &mut Reader) -> Result<BlobEntry, WireError> {
    let entry = BlobEntry {
        id: r.hash("blob id")?,
        offset: r.u32("blob offset")?,
        sealed_len: r.u32("blob length")?,
        raw_len: r.u32("blob plain length")?,
        compression: match r.u8("compression")? {
            0 => Compression::None,
            1 => Compression::Zstd,
            other => return Err(WireError(format!("unknown compression {other}"))),
        },
    };
    if entry.offset.checked_add(entry.sealed_len).is_none() {
        return Err(WireError("blob extends past 4 GiB".into()));
    }
    Ok(entry)
}

/// A pack header's plain bytes: its entries.
pub fn write_header(entries: &[BlobEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + entries.len() * ENTRY_LEN);
    out.extend_from_slice(HEADER_MAGIC);
    put_u32(&mut out, entries.len() as u32);
    for e in entries {
        put_entry(&mut out, e);
    }
    out
}

/// Parses a pack header's plain bytes.
pub fn read_header(plain: &[u8]) -> Result<Vec<BlobEntry>, WireError> {
    let mut r = Reader::new(plain);
    r.magic(HEADER_MAGIC)?;
    let n = r.count("blob", ENTRY_LEN)?;
    let entries = (0..n)
        .map(|_| read_entry(&mut r))
        .collect::<Result<Vec<_>, _>>()?;
    r.finish("pack header")?;
    Ok(entries)
}

/// Compresses (when that helps) and seals chunks, reusing one zstd context.
pub struct ChunkSealer {
    zstd: zstd::bulk::Compressor<'static>,
    compressed: Vec<u8>,
}

impl ChunkSealer {
    /// A sealer compressing at zstd level `level`.
    pub fn new(level: i32) -> ChunkSealer {
        ChunkSealer {
            zstd: zstd::bulk::Compressor::new(level).expect("a valid zstd level"),
            compressed: Vec::new(),
        }
    }

    /// The chunk's bytes in a pack, and how it was compressed.
    pub fn seal(&mut self, keys: &VaultKeys, chunk: &[u8]) -> (Vec<u8>, Compression) {
        self.compressed.clear();
        self.compressed
            .reserve(zstd::zstd_safe::compress_bound(chunk.len()));
        let compressed = self
            .zstd
            .compress_to_buffer(chunk, &mut self.compressed)
            .is_ok()
            && self.compressed.len() < chunk.len();
        if compressed {
            (
                keys.seal(ObjectKind::Chunk, &self.compressed),
                Compression::Zstd,
            )
        } else {
            (keys.seal(ObjectKind::Chunk, chunk), Compression::None)
        }
    }
}

/// Opens sealed blobs and checks each hashes to its id, reusing one zstd context and
/// one output buffer.
pub struct ChunkOpener {
    zstd: zstd::bulk::Decompressor<'static>,
    chunk: Vec<u8>,
}

impl Default for ChunkOpener {
    fn default() -> Self {
        ChunkOpener {
            zstd: zstd::bulk::Decompressor::new().expect("a zstd context"),
            chunk: Vec::new(),
        }
    }
}

impl ChunkOpener {
    /// Decrypts `sealed` in place and returns the chunk.
    pub fn open<'a>(
        &'a mut self,
        keys: &VaultKeys,
        entry: &BlobEntry,
        sealed: &'a mut [u8],
    ) -> Result<&'a [u8], String> {
        let plain = keys
            .open_in_place(ObjectKind::Chunk, sealed)
            .map_err(|_| format!("blob {}: does not decrypt (altered bytes)", entry.id))?;
        let chunk: &[u8] = match entry.compression {
            Compression::None => plain,
            Compression::Zstd => {
                self.chunk.clear();
                self.chunk.reserve(entry.raw_len as usize);
                self.zstd
                    .decompress_to_buffer(plain, &mut self.chunk)
                    .map_err(|e| format!("blob {}: does not decompress: {e}", entry.id))?;
                &self.chunk
            }
        };
        if chunk.len() != entry.raw_len as usize {
            return Err(format!(
                "blob {}: {} bytes, index says {}",
                entry.id,
                chunk.len(),
                entry.raw_len
            ));
        }
        if keys.chunk_id(chunk) != entry.id {
            return Err(format!(
                "blob {}: content does not hash to its id",
                entry.id
            ));
        }
        Ok(chunk)
    }
}

/// Accumulates sealed blobs into one pack.
#[derive(Default)]
pub struct PackBuilder {
    data: Vec<u8>,
    entries: Vec<BlobEntry>,
}

impl PackBuilder {
    /// An empty pack with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> PackBuilder {
        PackBuilder {
            data: Vec::with_capacity(bytes),
            entries: Vec::new(),
        }
    }

    /// Bytes of sealed chunks so far.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// No chunk yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a sealed chunk.
    pub fn add(&mut self, id: Hash, sealed: &[u8], raw_len: u32, compression: Compression) {
        self.entries.push(BlobEntry {
            id,
            offset: self.data.len() as u32,
            sealed_len: sealed.len() as u32,
            raw_len,
            compression,
        });
        self.data.extend_from_slice(sealed);
    }

    /// The pack file's bytes and its blob entries.
    pub fn finish(self, keys: &VaultKeys) -> (Vec<u8>, Vec<BlobEntry>) {
        let PackBuilder { mut data, entries } = self;
        let before = data.len();
        keys.seal_into(ObjectKind::PackHeader, &write_header(&entries), &mut data);
        let header_len = (data.len() - before) as u32;
        put_u32(&mut data, header_len);
        (data, entries)
    }
}

/// Reads the entries of a whole pack file held in memory.
pub fn read_pack_entries(keys: &VaultKeys, pack: &[u8]) -> Result<Vec<BlobEntry>, String> {
    let (body, trailer) = pack
        .split_at_checked(pack.len().saturating_sub(4))
        .filter(|(_, t)| t.len() == 4)
        .ok_or("shorter than its trailer")?;
    let header_len = u32::from_le_bytes(trailer.try_into().expect("4 bytes")) as usize;
    let header_start = body
        .len()
        .checked_sub(header_len)
        .ok_or("header length points before the start of the pack")?;
    let header = keys
        .open(ObjectKind::PackHeader, &body[header_start..])
        .map_err(|_| "header does not decrypt (altered bytes)".to_string())?;
    let entries = read_header(&header).map_err(|e| format!("header: {}", e.0))?;
    for e in &entries {
        if e.offset as usize + e.sealed_len as usize > header_start {
            return Err(format!("blob {} extends into the header", e.id));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use statvault_crypto::MasterKey;

    #[test]
    fn pack_round_trip_and_tamper() {
        let keys = MasterKey::generate().derive();
        let mut builder = PackBuilder::default();
        let chunks: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            (0..=255u8).collect(),
        ];
        let mut sealer = ChunkSealer::new(1);
        for c in &chunks {
            let (sealed, compression) = sealer.seal(&keys, c);
            builder.add(keys.chunk_id(c), &sealed, c.len() as u32, compression);
        }
        let (pack, entries) = builder.finish(&keys);
        assert_eq!(entries[0].compression, Compression::Zstd);
        assert_eq!(entries[1].compression, Compression::None);
        assert_eq!(read_pack_entries(&keys, &pack).unwrap(), entries);
        let blob = |pack: &[u8], e: &BlobEntry| {
            pack[e.offset as usize..(e.offset + e.sealed_len) as usize].to_vec()
        };
        let mut opener = ChunkOpener::default();
        for (e, c) in entries.iter().zip(&chunks) {
            assert_eq!(
                opener.open(&keys, e, &mut blob(&pack, e)).unwrap(),
                c.as_slice()
            );
        }
        let mut bad = pack.clone();
        bad[3] ^= 1;
        assert!(opener
            .open(&keys, &entries[0], &mut blob(&bad, &entries[0]))
            .is_err());
        let mut wrong_id = entries[1];
        wrong_id.id = keys.chunk_id(b"another chunk");
        let err = opener
            .open(&keys, &wrong_id, &mut blob(&pack, &entries[1]))
            .unwrap_err();
        assert!(err.contains("does not hash to its id"), "{err}");
        let last = bad.len() - 10;
        bad[last] ^= 1;
        assert!(read_pack_entries(&keys, &bad).is_err());
    }

    proptest::proptest! {
        #[test]
        fn header_parser_round_trips_and_never_panics(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = read_header(&raw);
            let entries: Vec<BlobEntry> = raw.chunks(7).enumerate().map(|(i, c)| BlobEntry {
                id: statvault_crypto::Hash::of(c), offset: i as u32 * 10, sealed_len: c.len() as u32,
                raw_len: 3, compression: if i % 2 == 0 { Compression::Zstd } else { Compression::None },
            }).collect();
            proptest::prop_assert_eq!(read_header(&write_header(&entries)).unwrap(), entries);
        }
    }
}
