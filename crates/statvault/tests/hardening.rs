//! The vault host is assumed owned: what an intruder plants inside the vault (symlinks,
//! FIFOs) is refused and named, never followed, read without bound or blocked on, and
//! a process holding keys leaves no core with them in it.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A vault with one snapshot; returns it with the snapshot's id.
fn vault_with_a_snapshot() -> (Workplace, String) {
    let w = Workplace::new(1, 1);
    let src = w.path("census");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("persons.csv"), "id,age\n".repeat(1000)).unwrap();
    let added = w.vault("add", 1, &[src.to_str().unwrap()]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    (w, added.stdout.trim().to_string())
}

fn only_file_under(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = tree_bytes(dir).into_iter().map(|(p, _)| p).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

/// Runs `args` with a time limit: planted files must not make a command hang.
fn run_within(w: &Workplace, sub: &str, args: &[&str], limit: Duration) -> Run {
    let mut all = vec!["vault", sub, "--repo", &w.repo, "--share", &w.shares[0]];
    all.extend_from_slice(args);
    let child = statvault()
        .args(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_within(child, limit)
}

fn wait_within(mut child: Child, limit: Duration) -> Run {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap().into()
}

#[test]
fn symlink_to_dev_zero_in_place_of_a_snapshot_is_refused_not_read() {
    let (w, id) = vault_with_a_snapshot();
    let snapshot = only_file_under(&Path::new(&w.repo).join("snapshots"));
    fs::remove_file(&snapshot).unwrap();
    symlink("/dev/zero", &snapshot).unwrap();
    let target = w.path("restored");
    let r = run_within(
        &w,
        "restore",
        &[&id, "--target", target.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("snapshots/") && r.stderr.contains("symbolic link"),
        "{}",
        r.stderr
    );
    let v = run_within(&w, "verify", &["--read-data"], Duration::from_secs(30));
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("damaged: snapshots/"), "{}", v.stdout);
}

#[test]
fn fifo_in_place_of_a_pack_does_not_block_verify() {
    let (w, _) = vault_with_a_snapshot();
    let pack = only_file_under(&Path::new(&w.repo).join("packs"));
    fs::remove_file(&pack).unwrap();
    let made = Command::new("mkfifo").arg(&pack).status().unwrap();
    assert!(made.success());
    let v = run_within(&w, "verify", &["--read-data"], Duration::from_secs(30));
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("damaged: packs/"), "{}", v.stdout);
}

#[test]
fn symlinked_lock_and_tmp_are_not_followed() {
    let (w, _) = vault_with_a_snapshot();
    let repo = Path::new(&w.repo);
    let outside = w.path("outside");
    fs::create_dir_all(&outside).unwrap();
    let _ = fs::remove_file(repo.join("lock"));
    symlink(outside.join("victim"), repo.join("lock")).unwrap();
    let more = w.path("more");
    fs::create_dir_all(&more).unwrap();
    fs::write(more.join("a.txt"), "a").unwrap();
    let r = w.vault("add", 1, &[more.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("lock"), "{}", r.stderr);
    assert!(
        !outside.join("victim").exists(),
        "the lock was not followed"
    );

    fs::remove_file(repo.join("lock")).unwrap();
    let _ = fs::remove_dir_all(repo.join("tmp"));
    symlink(&outside, repo.join("tmp")).unwrap();
    let r = w.vault("add", 1, &[more.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the tmp symlink"
    );
}

#[test]
fn process_holding_keys_writes_no_core_and_locks_its_key_pages() {
    let (w, _) = vault_with_a_snapshot();
    let fifo = w.path("census.csv");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // ingest unlocks the vault, then blocks opening the FIFO: keys held, process alive.
    let mut child = statvault()
        .args([
            "census",
            "ingest",
            "--repo",
            &w.repo,
            "--share",
            &w.shares[0],
        ])
        .args(["--schema", SCHEMA, "--input"])
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    let locked_kib = loop {
        let text = fs::read_to_string(&status).unwrap();
        let kib: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        if kib > 0 || Instant::now() > deadline {
            break kib;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let limits = fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );
    assert!(locked_kib > 0, "the vault keys' pages are locked in memory");
}
