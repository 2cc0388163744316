//! The agent without a socket: `Agent::handle` for peers the policy does not know.

use std::sync::Arc;
use std::time::{Duration, Instant};

use statvault_agent::wire::{self, Answer, Request};
use statvault_agent::{Agent, AgentOptions, Peer, Policy};
use statvault_vault::audit::read;
use statvault_vault::{InitOptions, LocalBackend, Vault};

#[test]
fn a_user_refused_over_and_over_is_slowed_down_and_every_refusal_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(LocalBackend::new(dir.path().join("repo")));
    let (vault, _master) = Vault::init(backend.clone(), 1, 1, &InitOptions::default()).unwrap();
    let agent = Agent::open(
        backend,
        AgentOptions {
            policy: Policy::only("nobody here"),
            scratch: dir.path().join("scratch"),
            syslog: None,
            column_cache: 0,
        },
    )
    .unwrap();
    let stranger = Peer {
        uid: 4242,
        user: "stranger".into(),
        groups: Vec::new(),
    };
    let ask = || {
        let mut out = Vec::new();
        agent
            .handle(&stranger, Request::Status, &mut std::io::empty(), &mut out)
            .unwrap();
        wire::receive::<Answer>(&mut out.as_slice()).unwrap()
    };
    for _ in 0..30 {
        assert!(matches!(ask(), Answer::Refused { .. }));
    }
    let started = Instant::now();
    assert!(matches!(ask(), Answer::Refused { .. }));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 31st refusal in a minute waits"
    );
    let records = read(vault.backend().as_ref(), 0).unwrap().records;
    assert_eq!(records.len(), 31);
    assert!(records
        .iter()
        .all(|r| r.uid == 4242 && r.command == "status"));
}
