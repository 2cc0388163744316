#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_vault::snapshot;

fuzz_target!(|data: &[u8]| {
    if let Ok(snap) = snapshot::read(data) {
        assert_eq!(snapshot::read(&snapshot::write(&snap)).unwrap(), snap);
    }
});
