//! `site mirror` against a primary on a real socket: it keeps only what verifies,
//! refuses a tampered bundle and a rewritten log, and serves on when the primary is gone.

mod common;

use std::fs;

use common::{fixture, get, metrics, with_server};
use statvault_release::minisign::MinisignKey;
use statvault_release::tlog::{LogEntry, TransparencyLog};
use statvault_site::mirror::{pull, MirrorStatus};
use statvault_site::store::Store;
use statvault_site::{Limits, Site};

/// One pull by a mirror into `out` from `primary`, served on a loopback socket.
async fn pull_from(
    primary: std::sync::Arc<Site>,
    out: &std::path::Path,
    key: MinisignKey,
) -> Result<statvault_site::mirror::PullReport, statvault_site::mirror::MirrorError> {
    let out = out.to_path_buf();
    with_server(primary, move |addr| {
        pull(&format!("http://{addr}"), &out, key)
    })
    .await
}

fn office_key(dir: &std::path::Path) -> MinisignKey {
    MinisignKey::read(&fs::read_to_string(dir.join("log/key.pub")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_keeps_what_verifies_and_serves_without_the_primary() {
    let f = fixture();
    let key = office_key(f.dir.path());
    let mirror = tempfile::tempdir().unwrap();
    let report = pull_from(f.site(Limits::default()), mirror.path(), key)
        .await
        .unwrap();
    assert_eq!(
        report.new_bundles,
        ["census-2023-first-results-v1"],
        "the embargoed one is not public yet"
    );
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.log_size, 4);

    // The primary is gone; the mirror serves what it pulled, verified again at load.
    let clock = f.clock.clone();
    let now = Box::new(move || clock.load(std::sync::atomic::Ordering::SeqCst));
    let site = std::sync::Arc::new(Site::new(
        Store::with_clock(mirror.path(), Some(key), now),
        Limits::default(),
    ));
    let page = get(&site, "/en/releases/census-2023-first-results-v1").await;
    assert_eq!(page.status, 200);
    let csv = get(
        &site,
        "/releases/census-2023-first-results-v1/tables/population_municipality_sex.csv",
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(
        get(&site, "/en/")
            .await
            .body
            .contains("systems under attack"),
        "the calendar came along"
    );

    // A second pull fetches nothing new.
    let again = pull_from(f.site(Limits::default()), mirror.path(), key)
        .await
        .unwrap();
    assert!(
        again.new_bundles.is_empty() && again.kept_bundles == 1,
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_bundle_is_refused() {
    let f = fixture();
    let key = office_key(f.dir.path());
    let primary = f.site(Limits::default());
    let csv = f
        .dir
        .path()
        .join("census-2023-first-results-v1/tables/population_municipality_sex.csv");
    let mut text = fs::read_to_string(&csv).unwrap();
    text = text.replacen(",u\n", ",p\n", 1);
    fs::write(&csv, text).unwrap();
    let mirror = tempfile::tempdir().unwrap();
    // The primary loaded the bundle before it was changed, and serves the changed file.
    let report = pull_from(primary, mirror.path(), key).await.unwrap();
    assert!(report.new_bundles.is_empty(), "{report:?}");
    assert!(
        report.refused[0].contains("population_municipality_sex.csv: changed"),
        "{:?}",
        report.refused
    );
    assert!(!mirror.path().join("census-2023-first-results-v1").exists());
    assert!(fs::read_dir(mirror.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".incoming")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_log_stops_the_pull_and_the_mirror_keeps_its_own() {
    let f = fixture();
    let key = office_key(f.dir.path());
    let mirror = tempfile::tempdir().unwrap();
    let first = pull_from(f.site(Limits::default()), mirror.path(), key)
        .await
        .unwrap();
    let kept = fs::read_to_string(mirror.path().join("log/checkpoint")).unwrap();

    // The office rewrites its first entry and re-signs with its real key.
    let log_dir = f.dir.path().join("log");
    let entries: Vec<LogEntry> = TransparencyLog::open(&log_dir).unwrap().entries().collect();
    fs::remove_file(log_dir.join("entries.jsonl")).unwrap();
    let mut log = TransparencyLog::open(&log_dir).unwrap();
    // With the key, but not the office's record of what it signed (which refuses this).
    let elsewhere = tempfile::tempdir().unwrap();
    let rewriter = statvault_release::Signer::new(f.master.release_key(), elsewhere.path());
    for mut entry in entries {
        if entry.index == 0 {
            entry.logged = "2020-01-01T00:00:00Z".into();
        }
        log.append(entry, &rewriter).unwrap();
    }
    let stopped = pull_from(f.site(Limits::default()), mirror.path(), key).await;
    let err = stopped.as_ref().unwrap_err().to_string();
    assert!(err.contains("history was rewritten"), "{err}");
    assert_eq!(
        fs::read_to_string(mirror.path().join("log/checkpoint")).unwrap(),
        kept
    );

    // The operator's metrics say so.
    let status = std::sync::Arc::new(MirrorStatus::default());
    status.record(&Ok(first), 1_800_000_000);
    status.record(&stopped, 1_800_000_300);
    let mut site = Site::new(Store::open(mirror.path(), Some(key)), Limits::default());
    site.mirror = Some(status);
    let text = metrics(&std::sync::Arc::new(site)).await;
    for line in [
        "statvault_mirror_pulls_total{result=\"completed\"} 1",
        "statvault_mirror_pulls_total{result=\"stopped\"} 1",
        "statvault_mirror_bundles_total{result=\"fetched\"} 1",
        "statvault_mirror_last_pull_seconds 1800000000",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

/// Regression (entries past the signed checkpoint are stored by mirrors and served): a
/// line appended to the primary's log without a checkpoint stays behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_keeps_only_the_entries_its_checkpoint_signs() {
    let f = fixture();
    let key = office_key(f.dir.path());
    let log_dir = f.dir.path().join("log");
    let log = TransparencyLog::open(&log_dir).unwrap();
    let mut forged = log.entries().last().unwrap();
    forged.index = log.size();
    forged.reason = Some("forged by the intruder".into());
    let path = TransparencyLog::entries_path(&log_dir);
    let mut text = fs::read(&path).unwrap();
    text.extend_from_slice(&forged.write());
    text.push(b'\n');
    fs::write(&path, text).unwrap();

    let mirror = tempfile::tempdir().unwrap();
    let report = pull_from(f.site(Limits::default()), mirror.path(), key)
        .await
        .unwrap();
    assert_eq!(report.log_size, 4);
    let kept =
        fs::read_to_string(TransparencyLog::entries_path(&mirror.path().join("log"))).unwrap();
    assert_eq!(kept.lines().count(), 4);
    assert!(!kept.contains("forged by the intruder"));
}
