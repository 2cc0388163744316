//! The agent: its state (sealed with the shares so far, or unsealed), the rules each
//! request meets in order (role, seal, quota, the audit record before any work), and
//! the socket it serves on.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use statvault_census::tabulate::Dataset;
use statvault_crypto::share::{combine, ShareFile};
use statvault_crypto::CryptoError;
use statvault_vault::audit::{AuditLog, AuditRecord, Outcome};
use statvault_vault::{now_secs, Backend, NoProgress, RestoreOptions, Vault, VerifyOptions};

use crate::audit::{Auditor, Written};
use crate::peer::{lookup, peer_uid};
use crate::policy::{Peer, Policy, Role};
use crate::quota::{Cost, Usage};
use crate::session::Session;
use crate::wire::{self, AddEntry, Answer, EntryKind, Request, RestoredFile, Seal};
use crate::AgentError;

/// Connections served at once, in all and per user; more are closed as they arrive.
const MAX_CONNECTIONS: usize = 128;
const MAX_CONNECTIONS_PER_USER: usize = 16;
/// Refusals a minute a user gets at full speed (see `Agent::slow_down`).
const REFUSALS_A_MINUTE: u32 = 30;
/// A client has this long to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a seal waits for operations in flight to stop before it answers.
const SEAL_WAIT: Duration = Duration::from_secs(10);

/// How an agent runs: its policy, scratch space, audit forwarding and cache.
pub struct AgentOptions {
    /// Who may do what, and the limits.
    pub policy: Policy,
    /// A private directory for work in progress (tables being made, files being
    /// restored), created readable by the agent's user only and emptied after each
    /// request.
    pub scratch: PathBuf,
    /// Where to forward each audit record as an RFC 5424 syslog line over UDP.
    pub syslog: Option<std::net::SocketAddr>,
    /// Bytes of decoded census columns an unsealed session keeps between
    /// tabulations (0: none); they are wiped when the agent seals.
    pub column_cache: usize,
}

enum State {
    /// The shares submitted so far, by custodian number, with who gave each.
    Sealed {
        shares: BTreeMap<u8, (u32, ShareFile)>,
    },
    Unsealed(Arc<Session>),
}

/// The unseal agent: holds the vault's key in memory once K custodians have given
/// their shares, and answers the clients the policy names over a Unix socket, each
/// request recorded in the signed audit log (`docs/agent-policy.md`).
pub struct Agent {
    backend: Arc<dyn Backend>,
    vault: Vault,
    policy: Policy,
    scratch: PathBuf,
    column_cache: usize,
    state: Mutex<State>,
    auditor: Auditor,
    usage: Mutex<Usage>,
    next_request: AtomicU64,
    /// The current minute's start, and the refusals of each user id in it.
    refusals: Mutex<(Instant, std::collections::HashMap<u32, u32>)>,
    /// Connections being served, by user id.
    connections: Mutex<std::collections::HashMap<u32, usize>>,
}

impl Agent {
    /// Opens the vault's configuration and audit log; the agent starts sealed.
    pub fn open(backend: Arc<dyn Backend>, opts: AgentOptions) -> Result<Agent, AgentError> {
        let vault = Vault::open(backend.clone())?;
        let (log, contents) = AuditLog::open(&vault)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&opts.scratch)
            .map_err(|cause| AgentError::Io {
                path: opts.scratch.display().to_string(),
                cause,
            })?;
        let syslog = opts
            .syslog
            .map(|to| {
                std::net::UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
                    .and_then(|s| s.connect(to).map(|()| s))
                    .map_err(|source| AgentError::Io {
                        path: format!("syslog {to}"),
                        cause: source,
                    })
            })
            .transpose()?;
        Ok(Agent {
            usage: Mutex::new(Usage::from_records(&contents.records)),
            auditor: Auditor::start(log, syslog),
            backend,
            vault,
            policy: opts.policy,
            scratch: opts.scratch,
            column_cache: opts.column_cache,
            state: Mutex::new(State::Sealed {
                shares: BTreeMap::new(),
            }),
            next_request: AtomicU64::new(0),
            connections: Mutex::new(std::collections::HashMap::new()),
            refusals: Mutex::new((Instant::now(), std::collections::HashMap::new())),
        })
    }

    /// The vault the agent serves.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Answers one request of `peer` on `out`; what follows the request (an input
    /// file) is read from `input`.
    pub fn handle(
        &self,
        peer: &Peer,
        request: Request,
        input: &mut dyn Read,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let call = Call {
            agent: self,
            peer,
            id: format!(
                "{:x}-{}",
                now_secs(),
                self.next_request.fetch_add(1, Ordering::Relaxed)
            ),
            command: command_name(&request),
        };
        let roles = self.policy.roles_of(peer);
        let allowed = may(&request);
        if !roles.iter().any(|r| allowed.contains(r)) {
            let names: Vec<&str> = allowed.iter().map(|r| r.name()).collect();
            let reason = if roles.is_empty() {
                format!(
                    "{} (uid {}) is not in the agent's policy",
                    peer.user, peer.uid
                )
            } else {
                format!(
                    "{} holds no role that may {} (needs {})",
                    peer.user,
                    call.command,
                    names.join(" or ")
                )
            };
            return wire::send(out, &call.refuse(AuditRecord::default(), reason));
        }
        let answer = match request {
            Request::Status => self.status(&roles),
            Request::Unseal { share } => call.unseal(&share),
            Request::Seal { reason } => call.seal(reason),
            Request::Tabulate { snapshot, spec } => {
                return call.tabulate(&snapshot, &spec, out);
            }
            Request::Restore { snapshot } => return call.restore(&snapshot, out),
            Request::Verify { read_data } => call.verify(read_data),
            Request::Ingest { schema, name, size } => call.ingest(&schema, &name, size, input),
            Request::Add {
                roots,
                tags,
                entries,
            } => call.add(&roots, tags, &entries, input),
        };
        wire::send(out, &answer)
    }

    fn status(&self, roles: &[Role]) -> Answer {
        let state = self.state.lock().expect("no panics while held");
        let (sealed, shares, unsealed_for, seals_in) = match &*state {
            State::Sealed { shares } => (Seal::Sealed, shares.len() as u8, None, None),
            State::Unsealed(s) => {
                let deadline = self.deadline(s);
                (
                    Seal::Unsealed,
                    0,
                    Some(s.since.elapsed().as_secs()),
                    deadline.map(|(d, _)| d.saturating_duration_since(Instant::now()).as_secs()),
                )
            }
        };
        Answer::Status {
            state: sealed,
            shares,
            threshold: self.vault.config.threshold,
            vault_id: self.vault.config.vault_id.to_hex(),
            roles: roles.iter().map(|r| r.name().to_string()).collect(),
            unsealed_for,
            seals_in,
        }
    }

    /// When `session` seals itself, and why: idle, or unsealed too long.
    fn deadline(&self, session: &Session) -> Option<(Instant, String)> {
        let idle = self.policy.seal_after.map(|d| {
            let last = *session.last_used.lock().expect("no panics while held");
            (last + d, format!("idle for {} s", d.as_secs()))
        });
        let longest = self
            .policy
            .max_unsealed
            .map(|d| (session.since + d, format!("unsealed for {} s", d.as_secs())));
        [idle, longest]
            .into_iter()
            .flatten()
            .min_by_key(|(t, _)| *t)
    }

    /// Past 30 refusals a minute, each further refusal of `uid` waits a second before
    /// it is recorded and answered: with at most 16 connections per user, one user
    /// cannot fill the disk with refused requests' records (and so, the audit log
    /// failing closed, stop everyone).
    fn slow_down(&self, uid: u32) {
        let over = {
            let mut refusals = self.refusals.lock().expect("no panics while held");
            let (minute, counts) = &mut *refusals;
            if minute.elapsed() >= Duration::from_secs(60) {
                *minute = Instant::now();
                counts.clear();
            }
            let count = counts.entry(uid).or_default();
            *count += 1;
            *count > REFUSALS_A_MINUTE
        };
        if over {
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// The open session, if unsealed.
    fn session(&self) -> Option<Arc<Session>> {
        match &*self.state.lock().expect("no panics while held") {
            State::Unsealed(s) => Some(s.clone()),
            State::Sealed { .. } => None,
        }
    }

    /// Seals: the session is closed (its operations fail at their next read or write)
    /// and dropped once they have, which wipes the key. Returns the session and how
    /// many operations were in flight.
    fn lock_down(&self) -> Option<(Arc<Session>, usize)> {
        let previous = std::mem::replace(
            &mut *self.state.lock().expect("no panics while held"),
            State::Sealed {
                shares: BTreeMap::new(),
            },
        );
        let State::Unsealed(session) = previous else {
            return None;
        };
        session.close();
        // Ours, the state's (gone) and each operation's.
        let in_flight = Arc::strong_count(&session) - 1;
        let started = Instant::now();
        while Arc::strong_count(&session) > 1 && started.elapsed() < SEAL_WAIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        Some((session, in_flight))
    }

    /// Seals when the policy says the session has lasted long enough; call it now and
    /// then (`serve` does, every second).
    pub fn expire(&self) {
        let Some(session) = self.session() else {
            return;
        };
        let Some((when, why)) = self.deadline(&session) else {
            return;
        };
        if Instant::now() < when {
            return;
        }
        drop(session);
        self.shutdown(&why);
    }

    /// Seals as the agent stops (a signal, the end of `serve`), recorded.
    pub fn shutdown(&self, why: &str) {
        let me = crate::peer::current();
        let call = Call {
            agent: self,
            peer: &me,
            id: format!("{:x}-stop", now_secs()),
            command: "seal",
        };
        let _ = call.seal(Some(format!("sealed by the agent: {why}")));
    }

    /// Serves on `socket` until `stop` returns true (checked every second): a thread per
    /// connection, at most 64 at once; seals itself as the policy says.
    pub fn serve(
        self: Arc<Agent>,
        socket: &Path,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), AgentError> {
        let listener = bind(socket)?;
        listener.set_nonblocking(true).map_err(socket_err(socket))?;
        let mut last_check = Instant::now();
        while !stop() {
            match listener.accept() {
                Ok((stream, _)) => self.clone().spawn_connection(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(socket_err(socket)(e)),
            }
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                self.expire();
            }
        }
        let _ = fs::remove_file(socket);
        Ok(())
    }

    /// Serves `stream` on a thread of its own, within the caps: 128 connections in all,
    /// 16 per user, so that one user holding connections open cannot keep a custodian
    /// or an operator from sealing.
    fn spawn_connection(self: Arc<Agent>, mut stream: UnixStream) {
        let Ok(uid) = peer_uid(&stream) else {
            return;
        };
        {
            let mut per_user = self.connections.lock().expect("no panics while held");
            let total: usize = per_user.values().sum();
            let theirs = per_user.entry(uid).or_default();
            if total >= MAX_CONNECTIONS || *theirs >= MAX_CONNECTIONS_PER_USER {
                let _ = wire::send(
                    &mut stream,
                    &Answer::Refused {
                        reason: format!(
                            "too many connections at once ({MAX_CONNECTIONS_PER_USER} per user, {MAX_CONNECTIONS} in all); try again"
                        ),
                    },
                );
                return;
            }
            *theirs += 1;
        }
        std::thread::spawn(move || {
            let _ = self.connection(stream, uid);
            let mut per_user = self.connections.lock().expect("no panics while held");
            if let Some(n) = per_user.get_mut(&uid) {
                *n -= 1;
                if *n == 0 {
                    per_user.remove(&uid);
                }
            }
        });
    }

    fn connection(&self, mut stream: UnixStream, uid: u32) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        let peer = lookup(uid);
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        let request = match wire::receive::<Request>(&mut stream) {
            Ok(r) => r,
            Err(e) => {
                return wire::send(
                    &mut stream,
                    &Answer::Refused {
                        reason: format!("not a request: {e}"),
                    },
                )
            }
        };
        let mut input = std::io::BufReader::new(stream.try_clone()?);
        let mut out = std::io::BufWriter::new(&mut stream);
        self.handle(&peer, request, &mut input, &mut out)?;
        out.flush()
    }
}

fn socket_err(socket: &Path) -> impl Fn(std::io::Error) -> AgentError + '_ {
    move |cause| AgentError::Socket {
        path: socket.display().to_string(),
        cause,
    }
}

/// Binds the socket: a socket file left by a dead agent is replaced; a live agent's,
/// or anything that is not a socket, is not.
fn bind(socket: &Path) -> Result<UnixListener, AgentError> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = fs::symlink_metadata(socket) {
        if !meta.file_type().is_socket() {
            return Err(AgentError::Socket {
                path: socket.display().to_string(),
                cause: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a socket; nothing was replaced",
                ),
            });
        }
        if UnixStream::connect(socket).is_ok() {
            return Err(AgentError::Running(socket.display().to_string()));
        }
        fs::remove_file(socket).map_err(socket_err(socket))?;
    }
    let listener = UnixListener::bind(socket).map_err(socket_err(socket))?;
    // Anyone may connect: the policy decides, on the kernel's word of who they are.
    fs::set_permissions(socket, fs::Permissions::from_mode(0o666)).map_err(socket_err(socket))?;
    Ok(listener)
}

fn command_name(request: &Request) -> &'static str {
    match request {
        Request::Status => "status",
        Request::Unseal { .. } => "unseal",
        Request::Seal { .. } => "seal",
        Request::Tabulate { .. } => "tabulate",
        Request::Restore { .. } => "restore",
        Request::Verify { .. } => "verify",
        Request::Ingest { .. } => "ingest",
        Request::Add { .. } => "add",
    }
}

/// The roles that may make `request`.
fn may(request: &Request) -> &'static [Role] {
    match request {
        Request::Status => &[
            Role::Custodian,
            Role::Statistician,
            Role::Microdata,
            Role::Operator,
        ],
        Request::Unseal { .. } => &[Role::Custodian],
        Request::Seal { .. } => &[Role::Custodian, Role::Operator],
        Request::Tabulate { .. } => &[Role::Statistician],
        Request::Restore { .. } => &[Role::Microdata],
        Request::Verify { .. } => &[Role::Operator],
        Request::Ingest { .. } => &[Role::Statistician],
        Request::Add { .. } => &[Role::Operator],
    }
}

/// One request being answered: who asks, and the audit records it leaves.
struct Call<'a> {
    agent: &'a Agent,
    peer: &'a Peer,
    id: String,
    command: &'static str,
}

impl Call<'_> {
    /// The record of this request with `outcome`, from `what` (snapshot, spec, amounts).
    fn record(&self, what: AuditRecord, outcome: Outcome, reason: Option<String>) -> AuditRecord {
        AuditRecord {
            request: self.id.clone(),
            uid: self.peer.uid,
            user: self.peer.user.clone(),
            command: self.command.to_string(),
            outcome,
            reason,
            ..what
        }
    }

    /// Records `record` durably; the checkpoint after it is signed with `session`'s key,
    /// or the open session's if none is given.
    fn write(&self, record: AuditRecord, session: Option<Arc<Session>>) -> Result<Written, String> {
        let done = record.outcome == Outcome::Done;
        let signer = session.or_else(|| self.agent.session());
        let written = self.agent.auditor.record(record.clone(), signer)?;
        if done {
            let mut counted = record;
            counted.time = now_secs();
            self.agent
                .usage
                .lock()
                .expect("no panics while held")
                .add(&counted);
        }
        Ok(written)
    }

    /// Records the refusal and says why (the refusal stands even if it cannot be
    /// recorded; the answer then says that too).
    fn refuse(&self, what: AuditRecord, reason: String) -> Answer {
        self.agent.slow_down(self.peer.uid);
        match self.write(
            self.record(what, Outcome::Refused, Some(reason.clone())),
            None,
        ) {
            Ok(_) => Answer::Refused { reason },
            Err(e) => Answer::Refused {
                reason: format!("{reason} ({e})"),
            },
        }
    }

    fn failed(
        &self,
        what: AuditRecord,
        session: Option<Arc<Session>>,
        error: String,
        damage: bool,
    ) -> Answer {
        let _ = self.write(
            self.record(what, Outcome::Failed, Some(error.clone())),
            session,
        );
        Answer::Failed { error, damage }
    }

    /// Records the start of work: if that cannot be recorded, nothing is done.
    fn start(&self, what: &AuditRecord, session: &Arc<Session>) -> Result<(), Answer> {
        self.write(
            self.record(what.clone(), Outcome::Started, None),
            Some(session.clone()),
        )
        .map(|_| ())
        .map_err(|e| Answer::Refused {
            reason: format!("{e}; nothing was done"),
        })
    }

    /// What every operation on the vault does before its own work, once the session is
    /// known: records its start (nothing is done if that fails), makes its private work
    /// directory, and opens the vault as the session sees it.
    fn begin(&self, what: &mut AuditRecord, session: Arc<Session>) -> Result<Work, Answer> {
        what.custodians = session.custodians.clone();
        self.start(what, &session)?;
        let dir = self.workdir().map_err(|e| {
            self.fail(
                what,
                &session,
                format!("the agent's scratch directory: {e}"),
                false,
            )
        })?;
        let vault = Vault::open(session.backend(self.agent.backend.clone()))
            .map_err(|e| self.fail(what, &session, e.to_string(), e.is_damage()))?;
        Ok(Work {
            session,
            dir,
            vault,
        })
    }

    /// A started operation failed: recorded, and answered.
    fn fail(
        &self,
        what: &AuditRecord,
        session: &Arc<Session>,
        error: String,
        damage: bool,
    ) -> Answer {
        self.failed(what.clone(), Some(session.clone()), error, damage)
    }

    /// Records a read as done, unless the session was sealed meanwhile; what it read
    /// (`withheld`) is not given if either fails.
    fn finish(
        &self,
        what: &AuditRecord,
        session: &Arc<Session>,
        withheld: &str,
    ) -> Result<(), Answer> {
        if !session.is_open() {
            return Err(self.failed(
                what.clone(),
                Some(session.clone()),
                format!("the vault was sealed during the operation; {withheld}"),
                false,
            ));
        }
        self.write(
            self.record(what.clone(), Outcome::Done, None),
            Some(session.clone()),
        )
        .map(|_| ())
        .map_err(|e| Answer::Refused {
            reason: format!("{e}; {withheld}"),
        })
    }

    /// Records a write as done; the snapshot `what` names is committed whatever
    /// happens to the record, and the answer says so if it could not be written.
    fn committed(&self, what: &AuditRecord, session: &Arc<Session>) -> Result<(), Answer> {
        self.write(
            self.record(what.clone(), Outcome::Done, None),
            Some(session.clone()),
        )
        .map(|_| ())
        .map_err(|e| Answer::Refused {
            reason: format!(
                "{e}; snapshot {} was committed",
                what.snapshot.as_deref().unwrap_or_default()
            ),
        })
    }

    /// The open session, or a refusal saying the agent is sealed.
    fn session(&self, what: &AuditRecord) -> Result<Arc<Session>, Answer> {
        match self.agent.session() {
            Some(s) => {
                s.touch();
                Ok(s)
            }
            None => Err(self.refuse(
                what.clone(),
                "the agent is sealed: K custodians must unseal it ('vault unseal')".into(),
            )),
        }
    }

    fn unseal(&self, text: &str) -> Answer {
        let agent = self.agent;
        let identity = agent.vault.config.identity();
        let origin = PathBuf::from(format!("the share from {}", self.peer.user));
        let share = match ShareFile::parse(&origin, text)
            .and_then(|s| s.check_belongs(&identity, &origin).map(|()| s))
        {
            Ok(share) => share,
            Err(e) => return self.refuse(AuditRecord::default(), e.to_string()),
        };
        let mut what = AuditRecord {
            custodians: vec![share.custodian()],
            ..AuditRecord::default()
        };
        let mut state = agent.state.lock().expect("no panics while held");
        let State::Sealed { shares } = &mut *state else {
            drop(state);
            return self.refuse(what, "the agent is already unsealed".into());
        };
        if let Some((n, _)) = shares.iter().find(|(_, (uid, _))| *uid == self.peer.uid) {
            let reason = format!(
                "{} already gave custodian {n}'s share: each custodian unseals from their own account",
                self.peer.user
            );
            drop(state);
            return self.refuse(what, reason);
        }
        if shares.contains_key(&share.custodian()) {
            let reason = format!("custodian {}'s share is already held", share.custodian());
            drop(state);
            return self.refuse(what, reason);
        }
        shares.insert(share.custodian(), (self.peer.uid, share));
        let (have, need) = (shares.len() as u8, identity.threshold);
        if have < need {
            drop(state);
            return match self.write(
                self.record(what, Outcome::Done, Some(format!("share {have} of {need}"))),
                None,
            ) {
                Ok(_) => Answer::Share {
                    shares: have,
                    threshold: need,
                },
                Err(e) => {
                    agent.lock_down();
                    Answer::Refused {
                        reason: format!("{e}; the shares were discarded"),
                    }
                }
            };
        }
        let files: Vec<(PathBuf, ShareFile)> = std::mem::take(shares)
            .into_values()
            .map(|(uid, share)| {
                (
                    PathBuf::from(format!(
                        "the share of custodian {} (uid {uid})",
                        share.custodian()
                    )),
                    share,
                )
            })
            .collect();
        what.custodians = files.iter().map(|(_, s)| s.custodian()).collect();
        let no_passphrase = &mut |_: &Path| -> Result<statvault_crypto::Passphrase, CryptoError> {
            Err(CryptoError::Shares(
                "a share reached the agent still sealed".into(),
            ))
        };
        let master = match combine(&identity, &files, no_passphrase) {
            Ok(master) => master,
            Err(e) => {
                drop(state);
                return self.refuse(
                    what,
                    format!("{e}; every share was discarded: submit them again"),
                );
            }
        };
        let session = Arc::new(Session::new(
            master.derive(),
            what.custodians.clone(),
            self.agent.column_cache,
        ));
        *state = State::Unsealed(session.clone());
        drop(state);
        match self.write(
            self.record(what.clone(), Outcome::Done, None),
            Some(session),
        ) {
            Ok(written) => Answer::Unsealed {
                custodians: what.custodians,
                checkpoint: written.checkpoint,
            },
            Err(e) => {
                agent.lock_down();
                Answer::Refused {
                    reason: format!("{e}; sealed again"),
                }
            }
        }
    }

    fn seal(&self, reason: Option<String>) -> Answer {
        let sealed = self.agent.lock_down();
        let what = AuditRecord {
            custodians: sealed
                .as_ref()
                .map(|(s, _)| s.custodians.clone())
                .unwrap_or_default(),
            ..AuditRecord::default()
        };
        // Sealed whatever happens to the record: a lockdown is never refused.
        let written = self.write(
            self.record(what, Outcome::Done, reason),
            sealed.as_ref().map(|(s, _)| s.clone()),
        );
        Answer::Sealed {
            in_flight: sealed.map_or(0, |(_, n)| n),
            checkpoint: written.ok().and_then(|w| w.checkpoint),
        }
    }

    fn quota(&self, role: Role, cost: Cost) -> Result<(), String> {
        match self.agent.policy.quota(role) {
            Some(quota) => self
                .agent
                .usage
                .lock()
                .expect("no panics while held")
                .check(quota, self.peer.uid, now_secs(), cost),
            None => Ok(()),
        }
    }

    /// A private directory for this request's work, removed when dropped.
    fn workdir(&self) -> std::io::Result<WorkDir> {
        let dir = self.agent.scratch.join(&self.id);
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(WorkDir(dir))
    }

    fn tabulate(&self, snapshot: &str, spec: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let mut what = AuditRecord {
            snapshot: Some(snapshot.to_string()),
            spec_sha256: Some(hex::encode(Sha256::digest(spec.as_bytes()))),
            ..AuditRecord::default()
        };
        let answer: Result<_, Answer> = (|| {
            let session = self.session(&what)?;
            self.quota(
                Role::Statistician,
                Cost {
                    tabulations: 1,
                    ..Cost::default()
                },
            )
            .map_err(|e| self.refuse(what.clone(), e))?;
            let work = self.begin(&mut what, session)?;
            let (vault, session) = (&work.vault, &work.session);
            let dataset = Dataset::open(vault, &session.keys, snapshot)
                .map_err(|e| self.fail(&what, session, e.to_string(), e.is_damage()))?;
            if let Some(variable) = isolating(spec, dataset.record_keys()) {
                return Err(self.refuse(
                    what.clone(),
                    format!("the spec tabulates by {variable}, a record key: such a table shows single records"),
                ));
            }
            let report = statvault_census::tabulate_cached(
                &dataset,
                spec,
                &work.dir.0,
                &session.columns,
                &NoProgress,
            )
            .map_err(|e| self.fail(&what, session, e.to_string(), e.is_damage()))?;
            what.snapshot = Some(report.snapshot.clone());
            what.cells = report.tables.iter().map(|t| t.cells as u64).sum();
            self.quota(
                Role::Statistician,
                Cost {
                    tabulations: 1,
                    cells: what.cells,
                    ..Cost::default()
                },
            )
            .map_err(|e| self.refuse(what.clone(), e))?;
            let files: Vec<(String, u64)> = report
                .tables
                .iter()
                .map(|t| {
                    Ok((
                        t.file.clone(),
                        fs::metadata(work.dir.0.join(&t.file))?.len(),
                    ))
                })
                .collect::<std::io::Result<_>>()
                .map_err(|e| self.fail(&what, session, e.to_string(), false))?;
            self.finish(&what, session, "the tables are not given")?;
            Ok((report, files, work))
        })();
        match answer {
            Err(answer) => wire::send(out, &answer),
            Ok((report, files, work)) => {
                wire::send(
                    out,
                    &Answer::Tables {
                        report: serde_json::to_value(&report).expect("a report serializes"),
                        files: files.clone(),
                    },
                )?;
                for (name, _) in &files {
                    wire::send_file(out, fs::File::open(work.dir.0.join(name))?)?;
                }
                Ok(())
            }
        }
    }

    fn restore(&self, snapshot: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let mut what = AuditRecord {
            snapshot: Some(snapshot.to_string()),
            ..AuditRecord::default()
        };
        let answer: Result<_, Answer> = (|| {
            let session = self.session(&what)?;
            let work = self.begin(&mut what, session)?;
            let (vault, session) = (&work.vault, &work.session);
            let target = work.dir.0.join("files");
            let report = statvault_vault::restore(
                vault,
                &session.keys,
                snapshot,
                &target,
                &RestoreOptions::default(),
                &NoProgress,
            )
            .map_err(|e| self.fail(&what, session, e.to_string(), e.is_damage()))?;
            what.snapshot = Some(report.snapshot.to_hex());
            what.bytes = report.bytes;
            self.quota(
                Role::Microdata,
                Cost {
                    restore_bytes: report.bytes,
                    ..Cost::default()
                },
            )
            .map_err(|e| self.refuse(what.clone(), e))?;
            let mut files = Vec::new();
            list_files(&target, "", &mut files)
                .map_err(|e| self.fail(&what, session, e.to_string(), false))?;
            self.finish(&what, session, "no file is given")?;
            Ok((report.snapshot.to_hex(), files, work, target))
        })();
        match answer {
            Err(answer) => wire::send(out, &answer),
            Ok((snapshot, files, _work, target)) => {
                wire::send(
                    out,
                    &Answer::Files {
                        snapshot,
                        files: files.clone(),
                    },
                )?;
                for file in &files {
                    wire::send_file(out, fs::File::open(target.join(&file.path))?)?;
                }
                Ok(())
            }
        }
    }

    fn ingest(&self, schema: &str, name: &str, size: u64, input: &mut dyn Read) -> Answer {
        let mut what = AuditRecord {
            paths: vec![name.to_string()],
            bytes: size,
            ..AuditRecord::default()
        };
        let answer: Result<_, Answer> = (|| {
            let plain = Path::new(name)
                .file_name()
                .filter(|f| f.len() == name.len())
                .ok_or_else(|| {
                    self.refuse(what.clone(), format!("{name:?} is not a plain file name"))
                })?;
            let session = self.session(&what)?;
            let work = self.begin(&mut what, session)?;
            let session = &work.session;
            let file = work.dir.0.join(plain);
            fs::File::create(&file)
                .and_then(|mut f| {
                    wire::receive_file(input, &mut f, size).and_then(|()| f.sync_all())
                })
                .map_err(|e| self.fail(&what, session, format!("receiving {name}: {e}"), false))?;
            let report = statvault_census::ingest(
                &work.vault,
                &session.keys,
                schema,
                &file,
                &statvault_census::ingest::IngestOptions::default(),
                &NoProgress,
            )
            .map_err(|e| self.fail(&what, session, e.to_string(), e.is_damage()))?;
            what.snapshot = Some(report.snapshot.clone());
            self.committed(&what, session)?;
            Ok(report)
        })();
        match answer {
            Ok(report) => Answer::Ingested {
                report: serde_json::to_value(&report).expect("a report serializes"),
            },
            Err(answer) => answer,
        }
    }

    fn add(
        &self,
        roots: &[String],
        tags: Vec<String>,
        entries: &[AddEntry],
        input: &mut dyn Read,
    ) -> Answer {
        let mut what = AuditRecord {
            paths: roots.to_vec(),
            bytes: entries.iter().map(|e| e.size).sum(),
            ..AuditRecord::default()
        };
        let answer: Result<_, Answer> = (|| {
            let session = self.session(&what)?;
            let work = self.begin(&mut what, session)?;
            let session = &work.session;
            let copies = receive_tree(&work.dir.0, roots, entries, input).map_err(|e| {
                self.fail(&what, session, format!("receiving the files: {e}"), false)
            })?;
            let opts = statvault_vault::AddOptions {
                tags,
                strict: true,
                recorded_paths: Some(roots.iter().map(PathBuf::from).collect()),
            };
            let report =
                statvault_vault::add(&work.vault, &session.keys, &copies, &opts, &NoProgress)
                    .map_err(|e| self.fail(&what, session, e.to_string(), e.is_damage()))?;
            what.snapshot = Some(report.snapshot.to_hex());
            self.committed(&what, session)?;
            Ok(report)
        })();
        match answer {
            Ok(report) => Answer::Added {
                report: serde_json::to_value(&report).expect("a report serializes"),
            },
            Err(answer) => answer,
        }
    }

    fn verify(&self, read_data: bool) -> Answer {
        let what = AuditRecord::default();
        let session = self.agent.session();
        if let Some(session) = &session {
            if let Err(answer) = self.start(&what, session) {
                return answer;
            }
        }
        let backend = match &session {
            Some(s) => s.backend(self.agent.backend.clone()),
            None => self.agent.backend.clone(),
        };
        let outcome = Vault::open(backend).and_then(|vault| {
            statvault_vault::verify(
                &vault,
                &VerifyOptions {
                    keys: session.as_ref().map(|s| &s.keys),
                    read_data,
                    kept_head: None,
                    kept_key: None,
                },
                &NoProgress,
            )
        });
        match outcome {
            Ok(report) => {
                let what = AuditRecord {
                    reason: (!report.problems.is_empty())
                        .then(|| format!("{} damaged object(s)", report.problems.len())),
                    ..what
                };
                let decrypted = session.is_some();
                match self.write(self.record(what, Outcome::Done, None), session) {
                    Ok(_) => Answer::Verified {
                        report: serde_json::to_value(&report).expect("a report serializes"),
                        decrypted,
                    },
                    Err(e) => Answer::Refused { reason: e },
                }
            }
            Err(e) => self.failed(what, session, e.to_string(), e.is_damage()),
        }
    }
}

/// The first record key a spec tabulates or filters by, if any.
fn isolating<'k>(spec: &str, keys: impl Iterator<Item = &'k str>) -> Option<String> {
    use statvault_census::spec::{Filter, Measure, TableKind};
    let keys: Vec<&str> = keys.collect();
    let spec = statvault_census::Spec::parse(spec).ok()?;
    spec.tables.iter().find_map(|table| match &table.kind {
        TableKind::CrossTab(c) => c
            .dimensions
            .iter()
            .chain(c.filters.iter().map(|f| match f {
                Filter::Codes { variable, .. } | Filter::Range { variable, .. } => variable,
            }))
            .chain(match &c.measure {
                Measure::Sum(v) => Some(v),
                Measure::Count => None,
            })
            .find(|v| keys.contains(&v.as_str()))
            .cloned(),
        TableKind::Geostat1km => None,
    })
}

/// Rebuilds a client's trees under `work` (each root in its own directory, under its
/// own last component) from `entries` and the file contents on `input`, with their
/// modes and modification times; returns the roots' copies.
fn receive_tree(
    work: &Path,
    roots: &[String],
    entries: &[AddEntry],
    input: &mut dyn Read,
) -> std::io::Result<Vec<PathBuf>> {
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let copies: Vec<PathBuf> = roots
        .iter()
        .enumerate()
        .map(|(i, root)| {
            let name = Path::new(root)
                .file_name()
                .ok_or_else(|| invalid(format!("{root:?} has no last component")))?;
            let dir = work.join(i.to_string());
            fs::create_dir(&dir)?;
            Ok(dir.join(name))
        })
        .collect::<std::io::Result<_>>()?;
    for entry in entries {
        let base = copies
            .get(entry.root)
            .ok_or_else(|| invalid(format!("root {} of {}", entry.root, roots.len())))?;
        if !entry.path.is_empty() && !wire::is_downward(&entry.path) {
            return Err(invalid(format!(
                "{:?} is not a path under its root",
                entry.path
            )));
        }
        let path = if entry.path.is_empty() {
            base.clone()
        } else {
            base.join(&entry.path)
        };
        match entry.kind {
            EntryKind::Dir => fs::create_dir(&path)?,
            EntryKind::File => {
                let mut file = fs::File::create_new(&path)?;
                wire::receive_file(input, &mut file, entry.size)?;
            }
            EntryKind::Symlink => std::os::unix::fs::symlink(
                entry
                    .target
                    .as_deref()
                    .ok_or_else(|| invalid("a link without its target".into()))?,
                &path,
            )?,
        }
    }
    // Modes and times last, deepest first: writing into a directory changes its time.
    for entry in entries.iter().rev() {
        let base = &copies[entry.root];
        let path = if entry.path.is_empty() {
            base.clone()
        } else {
            base.join(&entry.path)
        };
        if entry.kind != EntryKind::Symlink {
            fs::set_permissions(&path, fs::Permissions::from_mode(entry.mode & 0o7777))?;
        }
        let time = filetime::FileTime::from_unix_time(
            entry.mtime_ns.div_euclid(1_000_000_000),
            entry.mtime_ns.rem_euclid(1_000_000_000) as u32,
        );
        filetime::set_symlink_file_times(&path, time, time)?;
    }
    Ok(copies)
}

/// The regular files under `dir`, as paths relative to it.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<RestoredFile>) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = entry.metadata()?;
        if meta.is_dir() {
            list_files(&entry.path(), &path, out)?;
        } else if meta.is_file() {
            out.push(RestoredFile {
                path,
                mode: meta.mode() & 0o7777,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

/// What an operation works with: its session, its private directory, the vault.
struct Work {
    session: Arc<Session>,
    dir: WorkDir,
    vault: Vault,
}

/// A request's private working directory, removed with everything in it when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        if fs::remove_dir_all(&self.0).is_err() {
            // A client's read-only directories (kept as they were): opened up first.
            open_up(&self.0);
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn open_up(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            open_up(&entry.path());
        }
    }
}
