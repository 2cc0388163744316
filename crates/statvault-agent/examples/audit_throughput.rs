//! Audit append throughput through the agent: CLIENTS threads make requests the policy
//! refuses (each as another user), each recorded durably in the vault's audit log before it is answered (the
//! writer commits whatever is waiting as one segment), for SECONDS; prints records/s
//! and checks the log holds every record.
//!
//!   cargo run --release -p statvault-agent --example audit_throughput -- DIR [CLIENTS] [SECONDS]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use statvault_agent::wire::Request;
use statvault_agent::{Agent, AgentOptions, Peer, Policy};
use statvault_vault::{InitOptions, LocalBackend, Vault};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("a directory for the vault"));
    let clients: usize = args
        .get(2)
        .map_or(32, |a| a.parse().expect("a number of clients"));
    let seconds: u64 = args
        .get(3)
        .map_or(5, |a| a.parse().expect("a number of seconds"));
    let _ = std::fs::remove_dir_all(&dir);
    let backend = Arc::new(LocalBackend::new(dir.join("repo")));
    let (vault, _master) = Vault::init(backend.clone(), 3, 2, &InitOptions::default()).unwrap();
    let agent = Agent::open(
        backend,
        AgentOptions {
            policy: Policy::only("no such user"),
            scratch: dir.join("scratch"),
            syslog: None,
            column_cache: 0,
        },
    )
    .unwrap();
    // Strangers, each asking once: one asking often is slowed down (`Agent::slow_down`).
    let next_uid = AtomicU64::new(100_000);
    let answered = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    let stranger = Peer {
                        uid: next_uid.fetch_add(1, Ordering::Relaxed) as u32,
                        user: "stranger".into(),
                        groups: Vec::new(),
                    };
                    agent
                        .handle(
                            &stranger,
                            Request::Status,
                            &mut std::io::empty(),
                            &mut std::io::sink(),
                        )
                        .unwrap();
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let records = statvault_vault::audit::read(vault.backend().as_ref(), 0)
        .unwrap()
        .records
        .len() as u64;
    let answered = answered.load(Ordering::Relaxed);
    assert_eq!(records, answered, "every answered request is recorded");
    println!(
        "{records} records from {clients} clients in {elapsed:.2} s: {:.0} records/s",
        records as f64 / elapsed
    );
}
