#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_vault::s3::listing::{objects_page, versions_page};

// Listings come from the object store, which may be hostile.
fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let versions = versions_page(&text);
    assert!(versions.versions.len() <= text.len());
    let objects = objects_page(&text);
    assert!(objects.objects.len() <= text.len());
});
