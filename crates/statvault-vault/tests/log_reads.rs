//! How a failed read of a listed log entry is judged. Only an entry that is gone or
//! too large to hold says something about the log (damage, for `verify` to report);
//! any other failed read (a backend error, the agent's session sealed meanwhile)
//! proves nothing and fails the operation.

use std::sync::{Arc, Mutex};

use statvault_vault::{
    add, Access, AddOptions, GuardedBackend, InitOptions, MemoryBackend, NoProgress, Vault,
    VaultError,
};

/// Armed, reads of log entries fail with this kind.
type Failure = Arc<Mutex<Option<std::io::ErrorKind>>>;

fn vault_with_a_snapshot() -> (Failure, Vault) {
    let failure = Failure::default();
    let armed = failure.clone();
    let backend = Arc::new(GuardedBackend::new(
        Arc::new(MemoryBackend::default()),
        move |access, name: &str| match *armed.lock().unwrap() {
            Some(kind) if access == Access::Read && name.starts_with("log/") => {
                Err(std::io::Error::new(kind, "injected failure"))
            }
            _ => Ok(()),
        },
    ));
    let (vault, master) = Vault::init(backend, 2, 2, &InitOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("census.csv"), b"id,sex\n1,2\n").unwrap();
    add(
        &vault,
        &master.derive(),
        &[dir.path().to_path_buf()],
        &AddOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert!(vault.read_log().unwrap().problems.is_empty());
    (failure, vault)
}

/// Finding: a tabulation through the agent that a seal interrupted while it read the
/// log exited 1, "unreadable … run 'vault verify'", as if the log were damaged.
#[test]
fn a_log_entry_read_that_fails_for_another_reason_than_damage_fails_the_operation() {
    for kind in [
        std::io::ErrorKind::Other,
        std::io::ErrorKind::PermissionDenied,
        std::io::ErrorKind::TimedOut,
    ] {
        let (failure, vault) = vault_with_a_snapshot();
        *failure.lock().unwrap() = Some(kind);
        match vault.read_log() {
            Err(VaultError::Backend { name, cause }) => {
                assert!(name.starts_with("log/"), "{name}");
                assert_eq!(cause.kind(), kind);
            }
            Err(other) => panic!("{kind:?}: expected a backend error, got {other}"),
            Ok(state) => panic!(
                "{kind:?}: read as a log with {} problems",
                state.problems.len()
            ),
        }
    }
}

#[test]
fn a_listed_log_entry_that_is_gone_or_too_large_is_damage() {
    for kind in [
        std::io::ErrorKind::NotFound,
        std::io::ErrorKind::InvalidData,
    ] {
        let (failure, vault) = vault_with_a_snapshot();
        *failure.lock().unwrap() = Some(kind);
        let state = vault.read_log().expect("damage is reported, not an error");
        assert!(!state.problems.is_empty(), "{kind:?}");
        assert!(
            state
                .problems
                .iter()
                .all(|p| p.object.starts_with("log/") && p.detail.starts_with("unreadable")),
            "{:?}",
            state.problems
        );
    }
}
