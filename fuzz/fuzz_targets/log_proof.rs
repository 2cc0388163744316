#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_crypto::PublicKey;
use statvault_release::merkle;
use statvault_release::tlog::{decode_hashes, LogEntry, LogProof};

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = LogProof::read(data) {
        assert_eq!(LogProof::read(&proof.write()).unwrap(), proof);
        // Without the office's signature a proof proves nothing.
        assert!(proof.verify(&PublicKey([7; 32])).is_err());
        if let Ok(path) = decode_hashes(&proof.inclusion) {
            let leaf = merkle::leaf_hash(proof.entry.as_bytes());
            let _ = merkle::verify_inclusion(proof.index, proof.tree_size, &leaf, &path, &[0; 32]);
            let _ = merkle::verify_consistency(proof.index, proof.tree_size, &leaf, &[0; 32], &path);
        }
    }
    if let Ok(entry) = LogEntry::read(data) {
        assert_eq!(LogEntry::read(&entry.write()).unwrap(), entry);
    }
});
