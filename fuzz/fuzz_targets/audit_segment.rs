#![no_main]
//! An audit log segment and checkpoint as an intruder with write access to the vault's
//! storage may leave them: refused with the object named, or checked, never a panic.
use libfuzzer_sys::fuzz_target;
use statvault_crypto::PublicKey;
use statvault_vault::audit::{check, parse, CHECKPOINTS, ENTRIES};

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (segment, note) = data.split_at(cut);
    let segments = vec![(format!("{ENTRIES}0000000000000000"), segment.to_vec())];
    if let Ok(contents) = parse(&segments, 0) {
        assert_eq!(contents.records.len(), contents.leaves.len());
    }
    let notes = vec![(
        format!("{CHECKPOINTS}0000000000000001"),
        String::from_utf8_lossy(note).into_owned(),
    )];
    let report = check("statvault.audit/x", &PublicKey([7; 32]), &segments, &notes);
    // Nothing is signed by that key: nothing counts as signed.
    assert_eq!(report.signed, 0);
});
