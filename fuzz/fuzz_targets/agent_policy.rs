#![no_main]
//! The agent's policy file: parsed or refused with its name, never a panic.
use libfuzzer_sys::fuzz_target;
use statvault_agent::{Peer, Policy};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policy::parse("policy.toml", text) {
        Ok(policy) => {
            let peer = Peer { uid: 1000, user: "ana".into(), groups: vec!["stat".into()] };
            let _ = policy.roles_of(&peer);
        }
        Err(e) => assert!(e.to_string().starts_with("policy.toml")),
    }
});
