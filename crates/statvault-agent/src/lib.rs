//! The unseal agent (DESIGN.md §3, custody): one process holds the vault's master key,
//! unsealed by K custodians' shares submitted one at a time and sealed by any one of
//! them or an operator. Local clients ask it for vault operations over a Unix socket;
//! the kernel says who they are (SO_PEERCRED), the policy what their roles allow and
//! how much they may read, and every request, refused ones included, is recorded in the
//! vault's audit log before it is answered. Policy and protocol:
//! `docs/agent-policy.md`; the audit log: `docs/audit-log.md`.
//!
//! `Agent::handle` answers one request from a known peer on any stream, so tests drive
//! it without a socket; `Agent::serve` runs it on a listening socket.

#![warn(missing_docs)]

mod agent;
mod audit;
pub mod client;
pub mod peer;
pub mod policy;
mod quota;
mod session;
pub mod wire;

pub use agent::{Agent, AgentOptions};
pub use client::AgentClient;
pub use policy::{Peer, Policy, Role};

/// What went wrong running or talking to the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A policy file that is not valid.
    #[error("{file}: {message}")]
    Policy {
        /// The policy file.
        file: String,
        /// What is wrong, with its line where it has one.
        message: String,
    },
    /// The socket cannot be bound, connected to or secured.
    #[error("agent socket {path}: {cause}")]
    Socket {
        /// The socket's path.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// Another agent answers on the socket.
    #[error("agent socket {0}: another agent is running there; stop it first")]
    Running(String),
    /// The vault failed (opening it, reading its log).
    #[error(transparent)]
    Vault(#[from] statvault_vault::VaultError),
    /// What the agent answered, when it was not what was asked for.
    #[error("the agent refused: {0}")]
    Refused(String),
    /// The agent ran the operation and it failed.
    #[error("the agent failed: {error}")]
    Failed {
        /// What failed, as the agent said.
        error: String,
        /// The vault was found damaged.
        damage: bool,
    },
    /// A message that does not follow the protocol.
    #[error("talking to the agent: {0}")]
    Protocol(String),
    /// A local file that cannot be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
}

impl AgentError {
    /// Damage found in the vault: exit 1, like a failed check.
    pub fn is_damage(&self) -> bool {
        matches!(self, AgentError::Failed { damage: true, .. })
            || matches!(self, AgentError::Vault(v) if v.is_damage())
    }
}

/// SIGTERM, SIGINT and SIGHUP stop the agent cleanly (the key wiped, the stop
/// recorded): they are blocked in every thread and taken by one that waits for them.
pub fn stop_on_signals() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // SAFETY: sigset operations on a local set; pthread_sigmask on this thread, before
    // any other thread exists, so that every thread inherits the mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut signal = 0;
            libc::sigwait(&set, &mut signal);
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }
    stop
}
