#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_vault::index;

fuzz_target!(|data: &[u8]| {
    if let Ok(packs) = index::read(data) {
        assert_eq!(index::read(&index::write(&packs)).unwrap(), packs);
    }
});
