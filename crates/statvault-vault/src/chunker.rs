//! Content-defined chunking with a keyed gear hash (FastCDC with normalized chunking).
//!
//! The 256-entry gear table is derived from the vault's chunker key, so where chunk
//! boundaries fall depends on a secret: an observer of chunk or pack sizes cannot test
//! a guess of the content against them, which is what the 2025 attacks on unkeyed and
//! weakly keyed CDC did (restic 0.18 and borg 2 moved to fully keyed chunkers).

use std::io::Read;

use serde::{Deserialize, Serialize};

/// Chunk size bounds in bytes; `avg` is a power of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// Smallest chunk, but for a file's last.
    pub min: u32,
    /// Average chunk size a cut aims at: a power of two.
    pub avg: u32,
    /// Largest chunk.
    pub max: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            min: 512 * 1024,
            avg: 1024 * 1024,
            max: 8 * 1024 * 1024,
        }
    }
}

impl ChunkerParams {
    /// Checks the bounds: `64 ≤ min < avg < max ≤ 64 MiB`, `avg` a power of two.
    pub fn validate(&self) -> Result<(), String> {
        let ok = self.min >= 64
            && self.min < self.avg
            && self.avg < self.max
            && self.avg.is_power_of_two()
            && self.max <= 64 * 1024 * 1024;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "chunker sizes must satisfy 64 <= min < avg < max <= 64 MiB with avg a power of two (got {}/{}/{})",
                self.min, self.avg, self.max
            ))
        }
    }
}

/// Finds chunk boundaries. The masks select high bits of the rolling gear value, which
/// depend on the last 64 bytes; a stricter mask before the average size and a looser
/// one after it narrow the size distribution (FastCDC's normalization level 2).
pub struct Chunker<'t> {
    gear: &'t [u64; 256],
    params: ChunkerParams,
    mask_strict: u64,
    mask_loose: u64,
}

impl<'t> Chunker<'t> {
    /// A chunker cutting where the gear hash over `gear` says, within `params`.
    pub fn new(gear: &'t [u64; 256], params: ChunkerParams) -> Self {
        let bits = params.avg.trailing_zeros();
        let high_bits = |n: u32| !0u64 << (64 - n);
        Chunker {
            gear,
            params,
            mask_strict: high_bits(bits + 2),
            mask_loose: high_bits(bits - 2),
        }
    }

    /// Length of the chunk that starts `data`. `data` must hold `max` bytes unless it
    /// is the end of the stream.
    pub fn cut(&self, data: &[u8]) -> usize {
        let (min, avg, max) = (
            self.params.min as usize,
            self.params.avg as usize,
            self.params.max as usize,
        );
        if data.len() <= min {
            return data.len();
        }
        let end = data.len().min(max);
        let normal = end.min(avg);
        let mut fp: u64 = 0;
        for (i, &byte) in data.iter().enumerate().take(normal).skip(min) {
            fp = (fp << 1).wrapping_add(self.gear[byte as usize]);
            if fp & self.mask_strict == 0 {
                return i + 1;
            }
        }
        for (i, &byte) in data.iter().enumerate().take(end).skip(normal) {
            fp = (fp << 1).wrapping_add(self.gear[byte as usize]);
            if fp & self.mask_loose == 0 {
                return i + 1;
            }
        }
        end
    }
}

/// Splits byte streams into chunks, holding at most two maximum chunk sizes in
/// memory. One reader serves many streams in turn: `reset` starts the next.
pub struct ChunkReader<'t> {
    chunker: Chunker<'t>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<'t> ChunkReader<'t> {
    /// Reads a stream in chunks cut by `chunker`.
    pub fn new(chunker: Chunker<'t>) -> Self {
        let capacity = 2 * chunker.params.max as usize;
        ChunkReader {
            chunker,
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// Forgets the current stream.
    pub fn reset(&mut self) {
        (self.start, self.end, self.eof) = (0, 0, false);
    }

    /// The next chunk of `reader`'s stream, or `None` at its end.
    pub fn next_chunk(&mut self, reader: &mut impl Read) -> std::io::Result<Option<&[u8]>> {
        let max = self.chunker.params.max as usize;
        if !self.eof && self.end - self.start < max {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < self.buf.len() {
                match reader.read(&mut self.buf[self.end..]) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => self.end += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.start == self.end {
            return Ok(None);
        }
        let len = self.chunker.cut(&self.buf[self.start..self.end]);
        let chunk = &self.buf[self.start..self.start + len];
        self.start += len;
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SMALL: ChunkerParams = ChunkerParams {
        min: 256,
        avg: 1024,
        max: 4096,
    };

    fn table(seed: u8) -> [u64; 256] {
        let mut t = [0u64; 256];
        let mut out = [0u8; 2048];
        blake3::Hasher::new_keyed(&[seed; 32])
            .finalize_xof()
            .fill(&mut out);
        for (e, w) in t.iter_mut().zip(out.chunks_exact(8)) {
            *e = u64::from_le_bytes(w.try_into().unwrap());
        }
        t
    }

    fn chunks(gear: &[u64; 256], params: ChunkerParams, data: &[u8]) -> Vec<Vec<u8>> {
        let mut reader = ChunkReader::new(Chunker::new(gear, params));
        let mut out = Vec::new();
        // A reused reader must give the same chunks as a fresh one.
        let mut stream = b"an earlier stream".as_slice();
        while reader.next_chunk(&mut stream).unwrap().is_some() {}
        reader.reset();
        let mut stream = data;
        while let Some(c) = reader.next_chunk(&mut stream).unwrap() {
            out.push(c.to_vec());
        }
        out
    }

    fn pseudo_random(len: usize, seed: u8) -> Vec<u8> {
        let mut data = vec![0u8; len];
        blake3::Hasher::new_keyed(&[seed; 32])
            .finalize_xof()
            .fill(&mut data);
        data
    }

    #[test]
    fn boundaries_depend_on_the_key_and_resynchronise_after_an_edit() {
        let data = pseudo_random(200_000, 1);
        let a = chunks(&table(1), SMALL, &data);
        let b = chunks(&table(2), SMALL, &data);
        let lens = |c: &Vec<Vec<u8>>| c.iter().map(Vec::len).collect::<Vec<_>>();
        assert_ne!(lens(&a), lens(&b), "another key must cut elsewhere");
        let mean = data.len() / a.len();
        assert!((700..=1800).contains(&mean), "mean chunk {mean}");

        let mut edited = data.clone();
        edited.splice(1000..1000, *b"inserted bytes");
        let e = chunks(&table(1), SMALL, &edited);
        let shared = e.iter().filter(|c| a.contains(c)).count();
        assert!(
            shared + 3 >= a.len(),
            "{shared} of {} chunks survive an insert",
            a.len()
        );
    }

    proptest! {
        #[test]
        fn chunks_reassemble_and_respect_bounds(data in proptest::collection::vec(any::<u8>(), 0..20_000), seed in any::<u8>()) {
            let gear = table(seed);
            let c = chunks(&gear, SMALL, &data);
            prop_assert_eq!(c.concat(), data.clone());
            for (i, chunk) in c.iter().enumerate() {
                prop_assert!(chunk.len() <= SMALL.max as usize);
                if i + 1 < c.len() {
                    prop_assert!(chunk.len() > SMALL.min as usize);
                }
            }
        }
    }
}
