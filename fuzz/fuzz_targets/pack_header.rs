//! The pack header parser, on its plain bytes and after the framing of a whole pack.
#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_vault::pack;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = pack::read_header(data) {
        assert_eq!(pack::read_header(&pack::write_header(&entries)).unwrap(), entries);
    }
});
