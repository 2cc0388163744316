//! How a failed read of a listed log entry is judged. Only an entry that is gone or
//! too large to hold says something about the log (damage, for `verify` to report);
//! any other failed read (a backend error, the agent's session sealed meanwhile)
//! proves nothing and fails the operation.

use std::sync::{Arc, Mutex};

use statvault_vault::{
    add, AddOptions, Backend, InitOptions, MemoryBackend, NoProgress, ObjectInfo, Vault,
    VaultError, WriteLock,
};

/// A memory backend whose reads of log entries fail with a chosen kind, once armed.
#[derive(Default)]
struct FailingLogReads {
    inner: MemoryBackend,
    failure: Mutex<Option<std::io::ErrorKind>>,
}

impl FailingLogReads {
    fn arm(&self, kind: std::io::ErrorKind) {
        *self.failure.lock().unwrap() = Some(kind);
    }
}

impl Backend for FailingLogReads {
    fn read(&self, name: &str, limit: u64) -> std::io::Result<Vec<u8>> {
        match *self.failure.lock().unwrap() {
            Some(kind) if name.starts_with("log/") => {
                Err(std::io::Error::new(kind, "injected failure"))
            }
            _ => self.inner.read(name, limit),
        }
    }

    fn read_range(
        &self,
        name: &str,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        self.inner.read_range(name, offset, len, out)
    }

    fn write_new(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.inner.write_new(name, data)
    }

    fn list(&self, prefix: &str) -> std::io::Result<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }

    fn delete(&self, name: &str) -> std::io::Result<()> {
        self.inner.delete(name)
    }

    fn lock(&self) -> std::io::Result<WriteLock> {
        self.inner.lock()
    }
}

fn vault_with_a_snapshot() -> (Arc<FailingLogReads>, Vault) {
    let backend = Arc::new(FailingLogReads::default());
    let (vault, master) = Vault::init(backend.clone(), 2, 2, &InitOptions::default()).unwrap();
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
    (backend, vault)
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
        let (backend, vault) = vault_with_a_snapshot();
        backend.arm(kind);
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
        let (backend, vault) = vault_with_a_snapshot();
        backend.arm(kind);
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
