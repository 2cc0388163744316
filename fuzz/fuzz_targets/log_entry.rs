#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_vault::log::LogEntry;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = LogEntry::parse(data) {
        // Only canonical text parses, so writing gives back the input exactly.
        assert_eq!(entry.write().as_bytes(), data);
    }
});
