//! The site in a real headless Chromium (tests/browser.py; scripts/test installs
//! chromium and chromium-driver from Debian and selenium from PyPI). Screenshots go to
//! target/browser-artifacts.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture;
use statvault_site::Limits;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STATVAULT_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "selenium is missing: run scripts/test, which installs it"
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_browses_checks_pivots_downloads_and_sees_a_forgery() {
    let f = fixture();
    let site = f.site(Limits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(statvault_site::serve(listener, site, async {
        let _ = stopped.await;
    }));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let artifacts = manifest.join("../../target/browser-artifacts");
    let served = f
        .dir
        .path()
        .join("census-2023-first-results-v1/tables/population_municipality_sex.csv");
    let run = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(manifest.join("tests/browser.py"))
            .arg(format!("http://{addr}"))
            .arg(&artifacts)
            .arg(&served)
            .output()
            .expect("running the browser test")
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
    for step in [
        "home",
        "verified badge",
        "pivot, chart and map",
        "language switch",
        "csv download",
        "tamper warning",
    ] {
        assert!(report.contains(&format!("{step}: ok")), "{report}");
    }
}
