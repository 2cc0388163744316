//! Little-endian binary fields for the encrypted formats (pack header, index,
//! snapshot). The reader never panics on short or hostile input.

use statvault_crypto::Hash;

/// Why a binary structure could not be parsed: what was expected, and where.
#[derive(Debug)]
pub struct WireError(pub String);

pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len());
        match end {
            Some(end) => {
                let out = &self.data[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(WireError(format!(
                "truncated at byte {} reading {what} ({n} bytes wanted, {} left)",
                self.pos,
                self.data.len() - self.pos
            ))),
        }
    }

    pub fn magic(&mut self, magic: &[u8; 5]) -> Result<(), WireError> {
        let found = self.take(5, "magic")?;
        if found != magic {
            return Err(WireError(format!(
                "bad magic {:?}, expected {:?}",
                String::from_utf8_lossy(found),
                String::from_utf8_lossy(magic)
            )));
        }
        Ok(())
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }

    pub fn i64(&mut self, what: &str) -> Result<i64, WireError> {
        Ok(self.u64(what)? as i64)
    }

    pub fn hash(&mut self, what: &str) -> Result<Hash, WireError> {
        Ok(Hash(self.take(32, what)?.try_into().expect("32 bytes")))
    }

    /// A u32 length followed by that many bytes.
    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], WireError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    /// A u32 count, bounded by what the remaining bytes could hold (`min_size` bytes
    /// per item), so hostile counts cannot force huge allocations.
    pub fn count(&mut self, what: &str, min_size: usize) -> Result<usize, WireError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_size.max(1)) > self.data.len() - self.pos {
            return Err(WireError(format!("{what} count {n} exceeds the data left")));
        }
        Ok(n)
    }

    pub fn finish(&self, what: &str) -> Result<(), WireError> {
        if self.pos != self.data.len() {
            return Err(WireError(format!(
                "{} trailing bytes after {what}",
                self.data.len() - self.pos
            )));
        }
        Ok(())
    }
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(
        out,
        u32::try_from(bytes.len()).expect("field shorter than 4 GiB"),
    );
    out.extend_from_slice(bytes);
}
