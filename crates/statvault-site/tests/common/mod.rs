//! The releases directory every site test starts from, and requests to the router.

#![allow(dead_code)]

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use statvault_release::calendar::{change, Change};
use statvault_release::meta::parse_utc;
use statvault_release::Signer;
use statvault_site::mail::{Letters, Smtp};
use statvault_site::store::Store;
use statvault_site::subscriptions::{Alerts, Subscriptions};
use statvault_site::{router, Limits, Site};
use tower::ServiceExt;

pub const META: &str = include_str!("../../../../examples/release/census-2023.toml");
pub const PUBLIC_AT: &str = "2026-12-01T10:00:00Z";
pub const LATER_AT: &str = "2027-03-01T10:00:00Z";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub clock: Arc<AtomicU64>,
    /// The office's key, with its record of the log kept outside the releases directory.
    pub key: Signer,
    pub office_state: tempfile::TempDir,
    /// What the key derives from: tests that act as someone holding the key without
    /// the office's record of the log make a second signer from it.
    pub master: statvault_crypto::MasterKey,
}

/// A releases directory: the first results (public at PUBLIC_AT), a housing release
/// signed ahead of its embargo (LATER_AT), and a scheduled release not yet built.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let releases = dir.path();
    let office_state = tempfile::tempdir().unwrap();
    let master = statvault_crypto::MasterKey::generate();
    let key = Signer::new(master.release_key(), office_state.path());
    for (id, time) in [
        ("census-2023-first-results", PUBLIC_AT),
        ("census-2023-housing", LATER_AT),
    ] {
        add_release(releases, id, time, &key);
    }
    let title = [("sq", "Migracioni"), ("en", "Migration")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    change(
        releases,
        "census-2023-migration",
        Change::Schedule {
            title,
            release_time: "2027-06-01T10:00:00Z",
            organizer: Some("info@instat.gov.al"),
        },
        &key,
    )
    .unwrap();
    change(
        releases,
        "census-2023-migration",
        Change::Postpone {
            reason: "systems under attack",
            reasons: [("sq", "sistemet nën sulm"), ("en", "systems under attack")]
                .into_iter()
                .map(|(lang, text)| (lang.to_string(), text.to_string()))
                .collect(),
            new_time: "2027-07-01T10:00:00Z",
        },
        &key,
    )
    .unwrap();
    Fixture {
        dir,
        key,
        office_state,
        master,
        clock: Arc::new(AtomicU64::new(parse_utc(PUBLIC_AT).unwrap() + 60)),
    }
}

/// The protected tables every fixture release is built from.
pub fn tables_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../statvault-release/tests/data")
}

/// Builds and signs release `id` (version 1, public at `time`) in `releases`.
pub fn add_release(releases: &Path, id: &str, time: &str, key: &Signer) {
    add_release_from(&tables_dir(), releases, id, time, key);
}

/// Builds release `id` from the tables (and boundaries) in `data`, and signs it.
pub fn add_release_from(data: &Path, releases: &Path, id: &str, time: &str, key: &Signer) {
    let meta = releases.join(format!("{id}.toml"));
    fs::write(
        &meta,
        META.replace("census-2023-first-results", id)
            .replace(PUBLIC_AT, time),
    )
    .unwrap();
    let bundle = releases.join(format!("{id}-v1"));
    statvault_release::build(data, &meta, &bundle).unwrap();
    fs::remove_file(&meta).unwrap();
    statvault_release::sign(&bundle, key, None).unwrap();
}

impl Fixture {
    /// The releases directory, read at the fixture's clock.
    pub fn store(&self) -> Store {
        let clock = self.clock.clone();
        Store::with_clock(
            self.dir.path(),
            None,
            Box::new(move || clock.load(Ordering::SeqCst)),
        )
    }

    pub fn site(&self, limits: Limits) -> Arc<Site> {
        Arc::new(Site::new(self.store(), limits))
    }
}

pub struct Got {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub async fn get_with(site: &Arc<Site>, request: Request<Body>) -> Got {
    let response = router(site.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(site: &Arc<Site>, uri: &str) -> Got {
    get_with(site, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// Serves `site` on a loopback port while `client` (blocking: a browser, a fuzzer)
/// runs against its address, then shuts the site down gracefully.
pub async fn with_server<R: Send + 'static>(
    site: Arc<Site>,
    client: impl FnOnce(std::net::SocketAddr) -> R + Send + 'static,
) -> R {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(statvault_site::serve(listener, site, async {
        let _ = stopped.await;
    }));
    let result = tokio::task::spawn_blocking(move || client(addr))
        .await
        .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    result
}

/// A program of the test venv that scripts/test fills from PyPI.
pub fn venv_tool(name: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{name} is missing: run scripts/test, which installs it"
    );
    path
}

/// The standard output of a finished program, which must have succeeded.
pub fn succeeded(run: &std::process::Output) -> String {
    let report = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    report
}

/// aiosmtpd on a loopback port, delivering into a Maildir; stopped when dropped.
struct SmtpServer {
    child: Child,
}

impl SmtpServer {
    fn start(maildir: &Path, port: u16) -> SmtpServer {
        let child = Command::new(venv_tool("python"))
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { child }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixture's site taking e-mail subscriptions (links to https://stats.example), and
/// the SMTP server on loopback its letters go through.
pub struct Mailed {
    pub site: Arc<Site>,
    pub maildir: std::path::PathBuf,
    port: u16,
    server: Option<SmtpServer>,
    _dir: tempfile::TempDir,
}

impl Mailed {
    pub fn new(f: &Fixture) -> Mailed {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let port = free_port();
        let letters = Letters::new(
            "Statistics office <releases@office.example>",
            "https://stats.example",
        )
        .unwrap();
        let smtp = Smtp::connect(
            &format!("smtp://127.0.0.1:{port}"),
            None,
            letters.from.clone(),
        )
        .unwrap();
        let subscriptions = Subscriptions::open(&dir.path().join("subscribers.redb")).unwrap();
        let mut site = Site::new(f.store(), Limits::default());
        site.alerts = Some(Arc::new(Alerts::new(
            subscriptions,
            letters,
            Box::new(smtp),
        )));
        Mailed {
            site: Arc::new(site),
            server: Some(SmtpServer::start(&maildir, port)),
            maildir,
            port,
            _dir: dir,
        }
    }

    /// Stops the SMTP server, or starts it again on the same port.
    pub fn set_server_up(&mut self, up: bool) {
        self.server = None;
        if up {
            self.server = Some(SmtpServer::start(&self.maildir, self.port));
        }
    }

    /// What arrived since last asked, parsed by Python's own e-mail package (so the
    /// encodings lettre chose are read by somebody else), and removed from the Maildir.
    pub fn arrived(&self) -> Vec<serde_json::Value> {
        let script = r#"
import email, email.policy, json, pathlib, sys
out = []
for p in sorted(pathlib.Path(sys.argv[1], "new").iterdir()):
    m = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
    out.append({h: str(m[h]) if m[h] is not None else None for h in
                ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                 "List-Unsubscribe", "List-Unsubscribe-Post"]} | {"body": m.get_content()})
    p.unlink()
print(json.dumps(out))
"#;
        let run = Command::new(venv_tool("python"))
            .args(["-c", script])
            .arg(&self.maildir)
            .output()
            .unwrap();
        serde_json::from_slice(&run.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&run.stderr)))
    }
}

/// A loopback port nobody listens on just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The text of the site's `/metrics`.
pub async fn metrics(site: &Arc<Site>) -> String {
    let response = statvault_site::metrics_router(site.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Copies the tree `from` to `to` (as an intruder copies a bundle under another name).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            fs::copy(&p, &target).unwrap();
        }
    }
}
