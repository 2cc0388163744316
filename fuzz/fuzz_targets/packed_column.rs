#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_census::packed::{unpack, WIDTHS};

// A packed column read back from a vault: any bytes, width, row count and radix give
// codes or an error, never a panic; codes it gives are below the radix, one per row.
fuzz_target!(|input: (u8, u16, u32, Vec<u8>)| {
    let (bits, rows, radix, bytes) = input;
    let (bits, rows, radix) = (u32::from(bits % 20), usize::from(rows), radix as usize % 70_000);
    if let Ok(codes) = unpack(bytes, bits, rows, radix) {
        assert!(WIDTHS.contains(&bits));
        assert_eq!(codes.len(), rows);
        for row in 0..rows {
            assert!(usize::from(codes.as_ref().get(row)) < radix);
        }
    }
});
