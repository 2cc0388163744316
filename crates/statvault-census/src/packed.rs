//! Packed code columns: the stored form of codes and bounded integers
//! (`docs/census-schema.md` §2, "Packed columns").
//!
//! A column of `n` values of `bits` bits each (1, 2, 4, 8 or 16) is `⌈n·bits/8⌉`
//! bytes: value `i` occupies bits `i·bits .. (i+1)·bits` counted from the least
//! significant bit of byte 0, so with 4 bits row 0 is byte 0's low nibble and row 1
//! its high nibble, and 16-bit values are little-endian. Unused bits of the last byte
//! are zero. Reading it back is a shift and a mask per value, where a Parquet
//! dictionary column cost a decoder, a 32-bit array and a narrowing pass.

use std::io::{self, Write};

/// The widths a packed column may have.
pub const WIDTHS: [u32; 5] = [1, 2, 4, 8, 16];

/// The narrowest width that holds `count` distinct values 0 .. count, if any does.
pub fn bits_for(count: u64) -> Option<u32> {
    WIDTHS.into_iter().find(|&b| count <= 1 << b)
}

/// Writes values one at a time as a packed column.
pub struct PackedWriter<W: Write> {
    out: W,
    bits: u32,
    /// Bits of the byte not yet written, and how many are filled.
    pending: u8,
    filled: u32,
}

impl<W: Write> PackedWriter<W> {
    /// # Panics
    /// If `bits` is not one of [`WIDTHS`].
    pub fn new(out: W, bits: u32) -> PackedWriter<W> {
        assert!(WIDTHS.contains(&bits), "a packed width is 1, 2, 4, 8 or 16");
        PackedWriter {
            out,
            bits,
            pending: 0,
            filled: 0,
        }
    }

    /// Appends one value; it must fit in the column's width.
    pub fn push(&mut self, value: u16) -> io::Result<()> {
        debug_assert!(u32::from(value) < 1 << self.bits);
        match self.bits {
            16 => self.out.write_all(&value.to_le_bytes()),
            8 => self.out.write_all(&[value as u8]),
            bits => {
                self.pending |= (value as u8) << self.filled;
                self.filled += bits;
                if self.filled == 8 {
                    self.out.write_all(&[self.pending])?;
                    (self.pending, self.filled) = (0, 0);
                }
                Ok(())
            }
        }
    }

    /// Writes the last partial byte and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.filled > 0 {
            self.out.write_all(&[self.pending])?;
        }
        Ok(self.out)
    }
}

/// A column of codes in memory, one per row, as narrow as its codes allow: the scan
/// reads half the bytes when a column fits 8 bits, and an 8-bit packed column is
/// used as it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Codes {
    /// Codes below 256, a byte each.
    Narrow(Vec<u8>),
    /// Codes below 65,536, two bytes each.
    Wide(Vec<u16>),
}

/// A borrowed [`Codes`].
#[derive(Clone, Copy, Debug)]
pub enum CodesRef<'a> {
    /// Codes below 256, a byte each.
    Narrow(&'a [u8]),
    /// Codes below 65,536, two bytes each.
    Wide(&'a [u16]),
}

impl Codes {
    /// Codes below `radix`, narrow where they fit 8 bits.
    pub fn collect(radix: usize, codes: impl Iterator<Item = u16>) -> Codes {
        if radix <= 1 << 8 {
            Codes::Narrow(codes.map(|c| c as u8).collect())
        } else {
            Codes::Wide(codes.collect())
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        match self {
            Codes::Narrow(v) => v.len(),
            Codes::Wide(v) => v.len(),
        }
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Borrows the codes.
    pub fn as_ref(&self) -> CodesRef<'_> {
        match self {
            Codes::Narrow(v) => CodesRef::Narrow(v),
            Codes::Wide(v) => CodesRef::Wide(v),
        }
    }

    /// The first row whose code is `radix` or more, with its code.
    fn first_outside(&self, radix: usize) -> Option<(usize, u16)> {
        // The largest code first, in a pass that vectorises; the row only on failure.
        let largest = match self {
            Codes::Narrow(v) => v.iter().copied().max().map(u16::from),
            Codes::Wide(v) => v.iter().copied().max(),
        }?;
        if usize::from(largest) < radix {
            return None;
        }
        (0..self.len())
            .map(|row| (row, self.as_ref().get(row)))
            .find(|&(_, code)| usize::from(code) >= radix)
    }
}

impl CodesRef<'_> {
    /// The code of row `row`.
    pub fn get(self, row: usize) -> u16 {
        match self {
            CodesRef::Narrow(v) => u16::from(v[row]),
            CodesRef::Wide(v) => v[row],
        }
    }
}

/// The `rows` values of a packed column of width `bits`, each checked to be below
/// `radix`. Refuses a wrong length, a width not in [`WIDTHS`] and nonzero padding.
pub fn unpack(bytes: Vec<u8>, bits: u32, rows: usize, radix: usize) -> Result<Codes, String> {
    if !WIDTHS.contains(&bits) {
        return Err(format!("width of {bits} bits is not 1, 2, 4, 8 or 16"));
    }
    let expected = (rows as u64 * u64::from(bits)).div_ceil(8);
    if bytes.len() as u64 != expected {
        return Err(format!(
            "{} bytes, {rows} values of {bits} bits take {expected}",
            bytes.len()
        ));
    }
    let codes = match bits {
        16 => Codes::Wide(
            bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect(),
        ),
        8 => Codes::Narrow(bytes),
        1 => Codes::Narrow(unpack_sub_byte::<8>(&bytes, rows)?),
        2 => Codes::Narrow(unpack_sub_byte::<4>(&bytes, rows)?),
        _ => Codes::Narrow(unpack_sub_byte::<2>(&bytes, rows)?),
    };
    match codes.first_outside(radix) {
        None => Ok(codes),
        Some((row, code)) => Err(format!(
            "value {code} in row {} outside its {radix} codes",
            row + 1
        )),
    }
}

/// Values of `8 / PER_BYTE` bits, `PER_BYTE` to a byte, low bits first.
fn unpack_sub_byte<const PER_BYTE: usize>(bytes: &[u8], rows: usize) -> Result<Vec<u8>, String> {
    let bits = 8 / PER_BYTE;
    let mask = ((1u16 << bits) - 1) as u8;
    let mut values = vec![0u8; bytes.len() * PER_BYTE];
    for (out, &byte) in values.chunks_exact_mut(PER_BYTE).zip(bytes) {
        for (k, v) in out.iter_mut().enumerate() {
            *v = (byte >> (k * bits)) & mask;
        }
    }
    if values[rows..].iter().any(|&v| v != 0) {
        return Err("the padding bits of the last byte are not zero".into());
    }
    values.truncate(rows);
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pack(values: &[u16], bits: u32) -> Vec<u8> {
        let mut w = PackedWriter::new(Vec::new(), bits);
        for &v in values {
            w.push(v).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn the_layout_is_least_significant_bits_first() {
        assert_eq!(pack(&[1, 2, 3], 4), [0x21, 0x03]);
        assert_eq!(pack(&[1, 0, 1, 1, 1, 0, 0, 0, 1], 1), [0b0001_1101, 0b1]);
        assert_eq!(pack(&[3, 0, 2, 1, 3], 2), [0b0110_0011, 0b11]);
        assert_eq!(pack(&[0x1234, 7], 16), [0x34, 0x12, 7, 0]);
        assert_eq!(bits_for(2), Some(1));
        assert_eq!(bits_for(5), Some(4));
        assert_eq!(bits_for(121), Some(8));
        assert_eq!(bits_for(65_536), Some(16));
        assert_eq!(bits_for(65_537), None);
    }

    #[test]
    fn a_damaged_column_is_refused_with_what_is_wrong() {
        let bytes = pack(&[1, 2, 3], 4);
        assert!(unpack(bytes.clone(), 4, 5, 16)
            .unwrap_err()
            .contains("2 bytes"));
        assert!(unpack(bytes.clone(), 3, 3, 8)
            .unwrap_err()
            .contains("3 bits"));
        assert_eq!(
            unpack(bytes, 4, 3, 3).unwrap_err(),
            "value 3 in row 3 outside its 3 codes"
        );
        assert!(unpack(vec![0x21, 0x13], 4, 3, 16)
            .unwrap_err()
            .contains("padding"));
        assert_eq!(
            unpack(pack(&[300, 2], 16), 16, 2, 300).unwrap_err(),
            "value 300 in row 1 outside its 300 codes"
        );
    }

    proptest! {
        #[test]
        fn packed_columns_round_trip(
            bits in prop::sample::select(WIDTHS.to_vec()),
            raw in prop::collection::vec(any::<u16>(), 0..300),
        ) {
            let values: Vec<u16> = raw.iter().map(|v| (u32::from(*v) % (1 << bits)) as u16).collect();
            let bytes = pack(&values, bits);
            prop_assert_eq!(bytes.len(), (values.len() * bits as usize).div_ceil(8));
            let back = unpack(bytes, bits, values.len(), 1 << bits).unwrap();
            prop_assert_eq!(back.len(), values.len());
            for (row, &v) in values.iter().enumerate() {
                prop_assert_eq!(back.as_ref().get(row), v);
            }
        }

        #[test]
        fn unpack_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), bits in 0u32..20, rows in 0usize..200, radix in 0usize..70_000) {
            let _ = unpack(bytes, bits, rows, radix);
        }
    }
}
