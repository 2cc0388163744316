//! The API against its own OpenAPI document, fuzzed by schemathesis (PyPI, installed
//! into target/test-venv by scripts/test): every check, no 5xx, every status, content
//! type and header documented, every valid request accepted.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture;
use statvault_site::Limits;

fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("STATVAULT_SCHEMATHESIS") {
        return p.into();
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/schemathesis");
    assert!(
        venv.exists(),
        "schemathesis is missing: run scripts/test, which installs it"
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_openapi_contract_under_fuzzing() {
    let f = fixture();
    let site = f.site(Limits {
        requests_per_minute: 1_000_000,
        ..Limits::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(statvault_site::serve(listener, site, async {
        let _ = stopped.await;
    }));
    let run = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis())
            .args(["run", &format!("http://{addr}/api/v1/openapi.json")])
            .args(["--checks", "all", "--max-examples", "40", "--seed", "2023"])
            .args(["--output-truncate", "false", "--no-color"])
            .output()
            .expect("running schemathesis")
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
