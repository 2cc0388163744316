#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_release::manifest::is_safe_path;
use statvault_release::{Manifest, ReleaseMeta};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::read(data) {
        // Paths a verifier will open never leave the bundle.
        assert!(m.files.iter().all(|f| is_safe_path(&f.path) && !f.path.contains("..")));
        assert_eq!(Manifest::read(&m.write()).unwrap(), m);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(meta) = ReleaseMeta::parse(text) {
            assert!(!meta.id.contains('/') && !meta.id.is_empty());
        }
    }
});
