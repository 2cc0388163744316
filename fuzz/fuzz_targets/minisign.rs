#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_release::minisign::{MinisignKey, MinisignSignature};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(signature) = MinisignSignature::read(text) {
        if !signature.untrusted_comment.contains('\r') && !signature.trusted_comment.contains('\r') {
            assert_eq!(MinisignSignature::read(&signature.write()).unwrap(), signature);
        }
    }
    if let Ok(key) = MinisignKey::read(text) {
        assert_eq!(MinisignKey::read(&key.write()).unwrap(), key);
        let _ = MinisignSignature::read(text).map(|s| s.verify(&key, data));
    }
});
