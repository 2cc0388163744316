//! The site in a real headless Chromium (tests/browser.py; scripts/test installs
//! chromium and chromium-driver from Debian and selenium from PyPI), with e-mail alerts
//! through aiosmtpd. Screenshots go to target/browser-artifacts.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fixture, succeeded, venv_tool, with_server, Mailed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_browses_checks_pivots_downloads_subscribes_and_sees_a_forgery() {
    let f = fixture();
    let mail = Mailed::new(&f);
    let (site, maildir) = (mail.site.clone(), mail.maildir.clone());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let artifacts = manifest.join("../../target/browser-artifacts");
    let served = f
        .dir
        .path()
        .join("census-2023-first-results-v1/tables/population_municipality_sex.csv");
    let run = with_server(site, move |addr| {
        Command::new(venv_tool("python"))
            .arg(manifest.join("tests/browser.py"))
            .arg(format!("http://{addr}"))
            .arg(&artifacts)
            .arg(&served)
            .arg(&maildir)
            .output()
            .expect("running the browser test")
    })
    .await;
    let report = succeeded(&run);
    for step in [
        "home",
        "search",
        "verified badge",
        "checked download",
        "pivot, chart and map",
        "county map",
        "two municipalities",
        "language switch",
        "csv download",
        "e-mail alerts",
        "phone and keyboard",
        "tamper warning",
        "no ed25519",
    ] {
        assert!(report.contains(&format!("{step}: ok")), "{report}");
    }
}

/// Lighthouse (npm, with Debian's Chromium) and axe-core on every kind of page:
/// accessibility and SEO at least 95, no serious or critical axe violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_page_passes_lighthouse_and_axe() {
    let f = fixture();
    let site = f.site(statvault_site::Limits::default());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node = manifest.join("../../target/node");
    assert!(
        node.join("node_modules/.bin/lighthouse").exists(),
        "lighthouse is missing: run scripts/test, which installs it from npm"
    );
    let artifacts = manifest.join("../../target/browser-artifacts");
    let run = with_server(site, move |addr| {
        Command::new(venv_tool("python"))
            .arg(manifest.join("tests/audit.py"))
            .arg(format!("http://{addr}"))
            .arg(&node)
            .arg(&artifacts)
            .output()
            .expect("running the audit")
    })
    .await;
    let report = succeeded(&run);
    for page in [
        "home",
        "home-sq",
        "calendar",
        "authenticity",
        "search",
        "release",
        "table",
        "error",
    ] {
        assert!(report.contains(&format!("{page}: ok")), "{report}");
    }
}
