#![no_main]
//! What any local user can send the agent: frames, a request, file contents.
use libfuzzer_sys::fuzz_target;
use statvault_agent::wire::{self, Request};

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    if let Ok(request) = wire::receive::<Request>(&mut input) {
        // A request that parses serializes and parses back the same.
        let mut again = Vec::new();
        wire::send(&mut again, &request).unwrap();
        assert_eq!(wire::receive::<Request>(&mut again.as_slice()).unwrap(), request);
    }
    let mut out = Vec::new();
    let mut input = data;
    if wire::receive_file(&mut input, &mut out, 4096).is_ok() {
        assert!(out.len() <= 4096);
    }
});
