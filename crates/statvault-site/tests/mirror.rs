//! `site mirror` against a primary on a real socket: it keeps only what verifies,
//! refuses a tampered bundle and a rewritten log, and serves on when the primary is gone.

mod common;

use std::fs;

use common::{copy_dir, fixture, get, metrics, with_server};
use statvault_release::minisign::MinisignKey;
use statvault_release::tlog::{LogEntry, TransparencyLog};
use statvault_site::mirror::{pull, MirrorStatus, PULL_DEADLINE};
use statvault_site::store::Store;
use statvault_site::{Limits, Site};

/// One pull by a mirror into `out` from `primary`, served on a loopback socket, at
/// the primary's clock.
async fn pull_from(
    primary: std::sync::Arc<Site>,
    out: &std::path::Path,
    key: MinisignKey,
) -> Result<statvault_site::mirror::PullReport, statvault_site::mirror::MirrorError> {
    let out = out.to_path_buf();
    let now = primary.store.now();
    with_server(primary, move |addr| {
        pull(&format!("http://{addr}"), &out, key, now, PULL_DEADLINE)
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

/// A file changed on the primary: a primary that checks what it serves answers 404
/// (the site's own check), and one that serves whatever its directory holds has the
/// change refused by the mirror.
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
    // The primary loaded the bundle before it was changed; it no longer serves the file.
    let report = pull_from(primary, mirror.path(), key).await.unwrap();
    assert!(report.new_bundles.is_empty(), "{report:?}");
    assert!(
        report.refused[0].contains("population_municipality_sex.csv: answered 404"),
        "{:?}",
        report.refused
    );
    let careless = Malicious::start("static", &[f.dir.path()]);
    let now = f.store().now();
    let report = tokio::task::spawn_blocking(move || {
        pull(&careless.url, mirror.path(), key, now, PULL_DEADLINE).map(|r| (r, mirror))
    })
    .await
    .unwrap();
    let (report, mirror) = report.unwrap();
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

/// A malicious primary (tests/malicious_primary.py) running one attack.
struct Malicious {
    child: std::process::Child,
    url: String,
}

impl Malicious {
    fn start(attack: &str, args: &[&std::path::Path]) -> Malicious {
        use std::io::BufRead;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malicious_primary.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(attack)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Malicious {
            child,
            url: format!("http://127.0.0.1:{}", line.trim()),
        }
    }
}

impl Drop for Malicious {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Regression (the mirror can be stalled, flooded or redirected): a redirect to an
/// internal service was followed and its answer written into calendar.json; a 97 KB
/// gzip answer took the mirror to 1.7 GB; a slow-drip primary held a pull for ever.
/// Each pull now fails within its deadline, having read at most its caps, and leaves
/// the mirror's files as they were.
#[test]
fn a_malicious_primary_cannot_redirect_flood_or_stall_a_pull() {
    let f = fixture();
    let key = office_key(f.dir.path());
    let mirror = tempfile::tempdir().unwrap();
    for (attack, says) in [
        ("redirect", "answered 302"),
        ("gzip-bomb", "longer than the 65536 bytes expected"),
        ("huge", "longer than the 65536 bytes expected"),
        ("slow-drip", ""),
    ] {
        let primary = Malicious::start(attack, &[]);
        let started = std::time::Instant::now();
        let err = pull(
            &primary.url,
            mirror.path(),
            key,
            0,
            std::time::Duration::from_secs(3),
        )
        .unwrap_err()
        .to_string();
        let took = started.elapsed();
        assert!(err.contains(says), "{attack}: {err}");
        assert!(
            took < std::time::Duration::from_secs(20),
            "{attack} held the pull {took:?}"
        );
        assert_eq!(
            fs::read_dir(mirror.path()).unwrap().count(),
            0,
            "{attack}: the mirror wrote something"
        );
    }
}

/// Regression (mirrors can be kept from corrections for ever): a primary served an old
/// signed bundle under the name of the next version; the mirror kept it, and never
/// fetched the real one once the primary was cleaned. The name now comes from the
/// signed log entry, and the manifest must be the one that entry signs.
#[test]
fn an_old_bundle_under_a_new_name_is_refused_and_the_real_one_fetched_later() {
    let f = fixture();
    let key = office_key(f.dir.path());
    // The office publishes version 2 of the first results.
    let releases = f.dir.path();
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../statvault-release/tests/data");
    let meta = releases.join("v2.toml");
    fs::write(&meta, common::META.replace("version = 1", "version = 2")).unwrap();
    let v2 = releases.join("census-2023-first-results-v2");
    statvault_release::build(&data, &meta, &v2).unwrap();
    fs::remove_file(&meta).unwrap();
    statvault_release::sign(&v2, &f.key, Some("corrected the totals")).unwrap();

    // The intruder puts version 1's files where version 2's are, on a primary that
    // serves whatever its directory holds; and rewrites its calendar.json, which the
    // mirror never takes (it rebuilds the calendar from the signed log).
    let calendar = releases.join("calendar.json");
    let text = fs::read_to_string(&calendar).unwrap();
    fs::write(
        &calendar,
        text.replace("systems under attack", "the results were invented"),
    )
    .unwrap();
    let real = releases.join("real-v2");
    fs::rename(&v2, &real).unwrap();
    copy_dir(&releases.join("census-2023-first-results-v1"), &v2);
    let primary = Malicious::start("static", &[releases]);
    let mirror = tempfile::tempdir().unwrap();
    let now = f.store().now();
    let report = pull(&primary.url, mirror.path(), key, now, PULL_DEADLINE).unwrap();
    assert!(
        report.refused.iter().any(|r| r
            .starts_with("census-2023-first-results-v2: its manifest is not the one log entry")),
        "{:?}",
        report.refused
    );
    assert!(!mirror.path().join("census-2023-first-results-v2").exists());
    assert!(mirror.path().join("census-2023-first-results-v1").exists());
    let mirrored = fs::read_to_string(mirror.path().join("calendar.json")).unwrap();
    assert!(mirrored.contains("systems under attack") && !mirrored.contains("invented"));

    // Cleaned: the next pull fetches the real version 2.
    fs::remove_dir_all(&v2).unwrap();
    fs::rename(&real, &v2).unwrap();
    let report = pull(&primary.url, mirror.path(), key, now, PULL_DEADLINE).unwrap();
    assert_eq!(
        report.new_bundles,
        ["census-2023-first-results-v2"],
        "{report:?}"
    );
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}
