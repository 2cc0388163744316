//! A crash (kill -9) in the middle of `vault add`: the previous commit stays intact and
//! restorable, `verify` reports the leftovers without calling them damage, and
//! `vault gc` removes them.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn kill_during_add_leaves_the_previous_commit_restorable() {
    let w = Workplace::new(1, 1);
    let src = w.path("census");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("persons.csv"), "id,age\n".repeat(20_000)).unwrap();
    let first = w.vault("add", 1, &[src.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_id = first.stdout.trim().to_string();
    let repo = std::path::Path::new(&w.repo);
    let log_before = tree_bytes(&repo.join("log"));
    let packs_before = tree_bytes(&repo.join("packs")).len();

    // Enough incompressible data for several 16 MiB packs.
    let noise = noise(160 << 20, 0x9E3779B97F4A7C15);
    fs::write(src.join("gis.bin"), noise).unwrap();
    let mut child = statvault()
        .args([
            "vault",
            "add",
            "--repo",
            &w.repo,
            "--share",
            &w.shares[0],
            src.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as it has stored a new pack, well before it can commit.
    let deadline = Instant::now() + Duration::from_secs(60);
    while tree_bytes(&repo.join("packs")).len() == packs_before {
        assert!(
            child.try_wait().unwrap().is_none(),
            "add finished before it could be killed"
        );
        assert!(
            Instant::now() < deadline,
            "add stored no pack within a minute"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        tree_bytes(&repo.join("log")),
        log_before,
        "the killed add committed nothing"
    );

    let verify = w.vault("verify", 1, &["--read-data"]);
    assert_eq!(
        verify.code, 0,
        "leftovers are not damage: {}{}",
        verify.stdout, verify.stderr
    );
    assert!(
        verify.stdout.contains("leftover: packs/"),
        "{}",
        verify.stdout
    );

    let gc = run(&["vault", "gc", "--repo", &w.repo]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert!(gc.stdout.contains("removed packs/"), "{}", gc.stdout);
    let verify = w.vault("verify", 1, &["--read-data"]);
    assert_eq!(verify.code, 0);
    assert!(!verify.stdout.contains("leftover"), "{}", verify.stdout);

    let target = w.path("restored");
    let r = w.vault(
        "restore",
        1,
        &[&first_id, "--target", target.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        fs::read(target.join("census/persons.csv")).unwrap(),
        "id,age\n".repeat(20_000).into_bytes()
    );
}
