#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_census::Spec;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(spec) = Spec::parse(text) {
            // Table ids name output files: never a path.
            for t in &spec.tables {
                assert!(!t.id.contains('/') && !t.id.starts_with('.') && !t.id.is_empty());
            }
        }
    }
});
