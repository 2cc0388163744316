#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_crypto::PublicKey;
use statvault_release::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((checkpoint, signatures)) = Checkpoint::parse(text) {
        assert!(!signatures.is_empty());
        // The signed body is exactly what was parsed: origin, size, root, blank line.
        assert!(text.starts_with(&format!("{}\n", checkpoint.body())));
    }
    // A key no note is signed with verifies nothing.
    assert!(Checkpoint::verify(text, &PublicKey([7; 32])).is_err());
});
