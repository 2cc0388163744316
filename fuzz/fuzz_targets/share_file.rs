#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_crypto::share::ShareFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ShareFile::parse(std::path::Path::new("fuzz.share"), text);
    }
});
