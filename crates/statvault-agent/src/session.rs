//! An unsealed session: the vault's keys from the moment the K-th share rebuilt them
//! until the agent seals. Operations reach the vault's storage only through their
//! session's backend, which refuses every call once the session is sealed, so an
//! operation in flight fails at its next read or write through its own error paths:
//! a commit is one atomic write, so nothing is left half-committed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use statvault_census::ColumnCache;
use statvault_crypto::VaultKeys;
use statvault_vault::{Backend, GuardedBackend};

pub struct Session {
    pub keys: VaultKeys,
    /// The custodians whose shares rebuilt the key.
    pub custodians: Vec<u8>,
    pub since: Instant,
    pub last_used: Mutex<Instant>,
    /// Census columns decoded by this session's tabulations, kept for the next ones
    /// and wiped with the session.
    pub columns: ColumnCache,
    open: Arc<AtomicBool>,
}

impl Session {
    /// A session keeping up to `column_cache` bytes of decoded columns.
    pub fn new(keys: VaultKeys, custodians: Vec<u8>, column_cache: usize) -> Session {
        Session {
            keys,
            custodians,
            since: Instant::now(),
            last_used: Mutex::new(Instant::now()),
            columns: ColumnCache::new(column_cache),
            open: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Ends the session: its backends refuse everything from now on, and its cached
    /// columns are wiped (a tabulation still using one wipes it when done).
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.columns.clear();
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// `inner`, as this session's operations see it.
    pub fn backend(&self, inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        let open = self.open.clone();
        Arc::new(GuardedBackend::new(inner, move |_, _| {
            if open.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(std::io::Error::other(
                    "the vault was sealed during the operation",
                ))
            }
        }))
    }

    pub fn touch(&self) {
        *self.last_used.lock().expect("no panics while held") = Instant::now();
    }
}
