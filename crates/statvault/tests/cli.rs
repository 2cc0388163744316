//! The `statvault` binary end to end: every command, its exit codes and its errors.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn every_command_has_help() {
    for args in [
        &[][..],
        &["vault"],
        &["vault", "init"],
        &["vault", "add"],
        &["vault", "snapshots"],
        &["vault", "restore"],
        &["vault", "verify"],
        &["vault", "gc"],
        &["census"],
        &["census", "synth"],
        &["tabulate"],
        &["protect"],
        &["protect", "ptable"],
        &["protect", "ckm"],
        &["protect", "suppress"],
        &["protect", "audit"],
        &["release"],
        &["release", "build"],
        &["release", "keygen"],
        &["release", "sign"],
        &["release", "revise"],
        &["release", "verify"],
        &["release", "schedule"],
        &["release", "postpone"],
        &["release", "withdraw"],
        &["release", "calendar"],
        &["site"],
        &["site", "serve"],
        &["site", "export"],
        &["site", "mirror"],
        &["site", "subscribers"],
        &["demo"],
    ] {
        let mut with_help = args.to_vec();
        with_help.push("--help");
        let r = run(&with_help);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains("Usage:"), "{args:?}: {}", r.stdout);
    }
    let r = run(&["vault", "frobnicate"]);
    assert_eq!(r.code, 2, "unknown commands are usage errors");
}

/// Makes a source tree with the awkward cases: nested dirs, an executable, an empty
/// file, a non-UTF-8 name, a symlink loop, a dangling link and a named pipe.
fn awkward_tree(root: &std::path::Path) {
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::write(root.join("a/b/c/persons.csv"), "id,age\n".repeat(50_000)).unwrap();
    fs::write(root.join("a/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("a/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(root.join("empty"), "").unwrap();
    fs::write(
        root.join(OsStr::from_bytes(b"qyteti-\xeb\xff.csv")),
        "not utf-8 name",
    )
    .unwrap();
    std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
    let fifo = root.join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    fs::set_permissions(root.join("a/b"), fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn round_trip_keeps_bytes_modes_mtimes_and_links() {
    let w = Workplace::new(3, 2);
    let src = w.path("census");
    awkward_tree(&src);
    let added = w.vault("add", 2, &["--tag", "census-2023", src.to_str().unwrap()]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let id = added.stdout.trim().to_string();
    assert_eq!(
        id.len(),
        64,
        "add prints the snapshot id: {:?}",
        added.stdout
    );
    assert!(
        added.stderr.contains("pipe") && added.stderr.contains("named pipe"),
        "{}",
        added.stderr
    );

    let listed = w.vault("snapshots", 0, &["--json"]);
    let json: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(json["snapshots"][0]["id"], id.as_str());
    assert_eq!(json["head"].as_str().unwrap().len(), 64);
    let with_keys: serde_json::Value =
        serde_json::from_str(&w.vault("snapshots", 2, &["--json"]).stdout).unwrap();
    assert_eq!(with_keys["snapshots"][0]["tags"][0], "census-2023");

    let target = w.path("restored");
    let r = w.vault(
        "restore",
        2,
        &[&id[..12], "--target", target.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    fs::remove_file(src.join("pipe")).unwrap();
    assert_same_tree(&src, &target.join("census"));

    let v = w.vault("verify", 2, &["--read-data"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(v.stderr.contains("no damage found"));
}

#[test]
fn second_add_of_unchanged_data_stores_nothing_new() {
    let w = Workplace::new(2, 2);
    let src = w.path("data");
    fs::create_dir_all(&src).unwrap();
    let noise = noise(3_000_000, 88172645463325252);
    fs::write(src.join("big.bin"), noise).unwrap();
    fs::write(src.join("small.csv"), "a,b\n1,2\n").unwrap();
    let report = |r: Run| -> serde_json::Value {
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let first = report(w.vault("add", 2, &["--json", src.to_str().unwrap()]));
    assert!(first["stored_bytes"].as_u64().unwrap() > 1_000_000);
    let second = report(w.vault("add", 2, &["--json", src.to_str().unwrap()]));
    assert_eq!(second["new_bytes"], 0);
    assert_eq!(second["stored_bytes"], 0);
    assert_eq!(second["unchanged_files"], 2);
    assert_eq!(
        second["bytes_read"], 0,
        "unchanged files are not read again"
    );
    // A touched file is read again but its chunks are deduplicated.
    let f = fs::File::options()
        .write(true)
        .open(src.join("big.bin"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    let third = report(w.vault("add", 2, &["--json", src.to_str().unwrap()]));
    assert_eq!(third["bytes_read"], 3_000_000);
    assert_eq!(third["new_bytes"], 0);
}

#[test]
fn wrong_missing_corrupted_and_foreign_shares_are_refused_and_nothing_written() {
    let w = Workplace::new(3, 2);
    let other = Workplace::new(3, 2);
    let src = w.path("f.csv");
    fs::write(&src, "x\n").unwrap();
    let src = src.to_str().unwrap();
    let repo = std::path::Path::new(&w.repo);
    let before = tree_bytes(repo);

    let one = w.vault("add", 1, &[src]);
    assert_eq!(one.code, 2);
    assert!(
        one.stderr.contains("1 share(s) given; this vault needs 2"),
        "{}",
        one.stderr
    );

    let none = w.vault("add", 0, &[src]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("--share"), "{}", none.stderr);

    let foreign = w.vault_with("add", &[&w.shares[0], &other.shares[1]], &[src]);
    assert_eq!(foreign.code, 2);
    assert!(
        foreign.stderr.contains(&other.shares[1]) && foreign.stderr.contains("belongs to vault"),
        "{}",
        foreign.stderr
    );

    let twice = w.vault_with("add", &[&w.shares[0], &w.shares[0]], &[src]);
    assert_eq!(twice.code, 2);
    assert!(
        twice.stderr.contains("custodian 1's share"),
        "{}",
        twice.stderr
    );

    let corrupted = w.path("corrupted.share");
    let text = fs::read_to_string(&w.shares[1]).unwrap();
    let at = text.find("\"share\": \"").unwrap() + 11;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    fs::write(&corrupted, bytes).unwrap();
    let r = w.vault_with("add", &[&w.shares[0], corrupted.to_str().unwrap()], &[src]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("corrupted.share") && r.stderr.contains("corrupted"),
        "{}",
        r.stderr
    );

    let garbage = w.path("garbage.share");
    fs::write(&garbage, "hello").unwrap();
    let r = w.vault_with(
        "restore",
        &[garbage.to_str().unwrap()],
        &["latest", "--target", "/tmp/x"],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not a statvault share file"),
        "{}",
        r.stderr
    );

    assert_eq!(
        tree_bytes(repo),
        before,
        "a refused command must write nothing"
    );

    // The environment variable works as well as --share.
    let env = run_with_input(
        statvault()
            .args(["vault", "add", "--repo", &w.repo, src])
            .env(
                "STATVAULT_SHARES",
                format!("{},{}", w.shares[0], w.shares[2]),
            ),
        "",
    );
    assert_eq!(env.code, 0, "{}", env.stderr);
}

#[test]
fn passphrase_protected_shares() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo").display().to_string();
    let shares = dir.path().join("shares").display().to_string();
    let init = run_with_input(
        statvault().args([
            "vault",
            "init",
            "--repo",
            &repo,
            "--custodians",
            "2",
            "--threshold",
            "2",
            "--shares-out",
            &shares,
            "--passphrase",
        ]),
        "first secret\nsecond secret\n",
    );
    assert_eq!(init.code, 0, "{}", init.stderr);
    let share = |i: u8| format!("{shares}/custodian-{i}-of-2.share");
    assert!(fs::read_to_string(share(1)).unwrap().contains("argon2id"));
    let src = dir.path().join("f.csv");
    fs::write(&src, "x\n").unwrap();
    let add = |input: &str| {
        run_with_input(
            statvault().args([
                "vault",
                "add",
                "--repo",
                &repo,
                "--share",
                &share(1),
                "--share",
                &share(2),
                src.to_str().unwrap(),
            ]),
            input,
        )
    };
    let ok = add("first secret\nsecond secret\n");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let wrong = add("first secret\nguess\n");
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("wrong passphrase") && wrong.stderr.contains("custodian-2-of-2"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn large_files_of_any_size_restore_exactly() {
    // Large files are written with O_DIRECT in aligned blocks, the last one padded and
    // cut back: sizes around block and buffer boundaries must come back exact.
    let w = Workplace::new(1, 1);
    let src = w.path("big");
    fs::create_dir_all(&src).unwrap();
    for (i, size) in [
        1 << 20,
        (1 << 20) + 1,
        3_000_001,
        (4 << 20) - 1,
        4 << 20,
        (9 << 20) + 4095,
    ]
    .into_iter()
    .enumerate()
    {
        fs::write(src.join(format!("f{i}.bin")), noise(size, i as u64 + 7)).unwrap();
    }
    fs::write(
        src.join("text.csv"),
        "municipality,persons\n".repeat(300_000),
    )
    .unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    let target = w.path("out");
    let r = w.vault(
        "restore",
        1,
        &["latest", "--target", target.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_same_tree(&src, &target.join("big"));

    // Large packs are read back whole with O_DIRECT by verify: a flipped byte is named.
    assert_eq!(w.vault("verify", 1, &["--read-data"]).code, 0);
    let packs = tree_bytes(&std::path::Path::new(&w.repo).join("packs"));
    let (largest, bytes) = packs.iter().max_by_key(|(_, b)| b.len()).unwrap();
    assert!(
        bytes.len() > 4 << 20,
        "the test needs a pack read in several blocks"
    );
    let mut altered = bytes.clone();
    altered[bytes.len() / 2 + 12_345] ^= 0x10;
    fs::write(largest, altered).unwrap();
    let damaged = w.vault("verify", 1, &["--read-data"]);
    assert_eq!(damaged.code, 1);
    let name = largest.file_name().unwrap().to_str().unwrap();
    assert!(
        damaged.stdout.contains(name) && damaged.stdout.contains("does not decrypt"),
        "{}",
        damaged.stdout
    );
}

#[test]
fn restore_refuses_a_non_empty_target_without_force() {
    let w = Workplace::new(1, 1);
    let src = w.path("census.csv");
    fs::write(&src, "id\n1\n").unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    let target = w.path("target");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("census.csv"), "precious").unwrap();
    let refused = w.vault(
        "restore",
        1,
        &["latest", "--target", target.to_str().unwrap()],
    );
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("not empty") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        fs::read_to_string(target.join("census.csv")).unwrap(),
        "precious"
    );
    let forced = w.vault(
        "restore",
        1,
        &["latest", "--target", target.to_str().unwrap(), "--force"],
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        fs::read_to_string(target.join("census.csv")).unwrap(),
        "id\n1\n"
    );
    let unknown = w.vault(
        "restore",
        1,
        &["deadbeef", "--target", w.path("t2").to_str().unwrap()],
    );
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("no snapshot"), "{}", unknown.stderr);
}

#[test]
fn verify_names_damage_exits_1_and_detects_a_truncated_log() {
    let w = Workplace::new(2, 1);
    let src = w.path("data.csv");
    fs::write(&src, "id,municipality\n".repeat(10_000)).unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    fs::write(&src, "changed\n".repeat(10_000)).unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    let json: serde_json::Value =
        serde_json::from_str(&w.vault("snapshots", 0, &["--json"]).stdout).unwrap();
    let head = json["head"].as_str().unwrap().to_string();
    assert_eq!(w.vault("verify", 0, &["--head", &head]).code, 0);

    let repo = std::path::Path::new(&w.repo);
    let snap = fs::read_dir(repo.join("snapshots"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&snap).unwrap();
    bytes[10] ^= 0x20;
    fs::write(&snap, &bytes).unwrap();
    let damaged = w.vault("verify", 0, &[]);
    assert_eq!(damaged.code, 1);
    let name = snap.file_name().unwrap().to_str().unwrap();
    assert!(
        damaged
            .stdout
            .lines()
            .any(|l| l.starts_with("damaged: snapshots/") && l.contains(name)),
        "{}",
        damaged.stdout
    );
    bytes[10] ^= 0x20;
    fs::write(&snap, &bytes).unwrap();

    fs::remove_file(repo.join("log/00000000000000000002")).unwrap();
    assert_eq!(
        w.vault("verify", 0, &[]).code,
        0,
        "a truncated log is consistent in itself"
    );
    let truncated = w.vault("verify", 0, &["--head", &head]);
    assert_eq!(truncated.code, 1);
    assert!(
        truncated.stdout.contains("kept head"),
        "{}",
        truncated.stdout
    );
    let gc = run(&["vault", "gc", "--repo", &w.repo, "--head", &head]);
    assert_eq!(
        gc.code, 1,
        "gc must refuse to delete what a truncated log no longer commits"
    );
}

#[test]
fn strict_add_commits_nothing_when_something_is_skipped() {
    let w = Workplace::new(1, 1);
    let src = w.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("ok.csv"), "1\n").unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(src.join("pipe"))
        .status()
        .unwrap()
        .success());
    let log = std::path::Path::new(&w.repo).join("log");
    let before = tree_bytes(&log);
    let r = w.vault("add", 1, &["--strict", src.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--strict") && r.stderr.contains("pipe"),
        "{}",
        r.stderr
    );
    assert_eq!(tree_bytes(&log), before);
}

#[test]
fn a_file_that_keeps_changing_is_skipped_and_the_snapshot_stays_consistent() {
    let w = Workplace::new(1, 1);
    let src = w.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("stable.csv"), "stable\n").unwrap();
    let busy = src.join("busy.log");
    fs::write(&busy, vec![b'x'; 40 << 20]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (busy, stop) = (busy.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().append(true).open(busy).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all(b"more\n").unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let r = w.vault("add", 1, &[src.to_str().unwrap()]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("busy.log") && r.stderr.contains("kept changing"),
        "{}",
        r.stderr
    );
    let target = w.path("out");
    assert_eq!(
        w.vault(
            "restore",
            1,
            &["latest", "--target", target.to_str().unwrap()]
        )
        .code,
        0
    );
    assert!(target.join("src/stable.csv").exists());
    assert!(
        !target.join("src/busy.log").exists(),
        "a skipped file is not in the snapshot"
    );
    assert_eq!(w.vault("verify", 1, &["--read-data"]).code, 0);
}

#[test]
fn unreadable_files_are_skipped_with_a_warning() {
    // Permissions do not bind root: run the whole flow as an unprivileged user then.
    let root = unsafe_is_root();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let p = |rel: &str| dir.path().join(rel).display().to_string();
    let cmd = |args: &[&str]| {
        let mut c = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_statvault"),
            ]);
            c
        } else {
            statvault()
        };
        c.args(args);
        run_with_input(&mut c, "")
    };
    fs::create_dir_all(p("src/locked-dir")).unwrap();
    fs::write(p("src/open.csv"), "1\n").unwrap();
    fs::write(p("src/secret.csv"), "2\n").unwrap();
    fs::set_permissions(p("src/secret.csv"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(p("src/locked-dir"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(p("src"), fs::Permissions::from_mode(0o755)).unwrap();
    let init = cmd(&[
        "vault",
        "init",
        "--repo",
        &p("repo"),
        "--custodians",
        "1",
        "--threshold",
        "1",
        "--shares-out",
        &p("shares"),
    ]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let share = p("shares/custodian-1-of-1.share");
    let add = cmd(&[
        "vault",
        "add",
        "--repo",
        &p("repo"),
        "--share",
        &share,
        &p("src"),
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    assert!(
        add.stderr.contains("secret.csv") && add.stderr.contains("Permission denied"),
        "{}",
        add.stderr
    );
    assert!(add.stderr.contains("locked-dir"), "{}", add.stderr);
    let verify = cmd(&[
        "vault",
        "verify",
        "--repo",
        &p("repo"),
        "--share",
        &share,
        "--read-data",
    ]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}

fn unsafe_is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let r = run(&[
        "demo",
        "--persons",
        "20000",
        "--dir",
        demo.to_str().unwrap(),
        "--no-serve",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for expected in [
        "age: out of range 0–120 (1×)",
        "every record valid: ",
        "20000 persons",
        "detected: packs/",
        "Population by county and broad age group",
        "Albania                           20000",
        "Albania                         20000 u",
        "the attacker's audit passes on 20 of 20",
        "suppressed",
        "c  confidential: value suppressed",
        "22 files",
        "postponed to",
        "Signature and comment signature verified",
        "forged copy: tables/population_municipality_sex.csv: changed",
        "unsealed by custodians [1, 3, 5]",
        "stat asks for the census microdata: refused",
        "shows stat (uid 1010) refused a restore",
    ] {
        assert!(r.stdout.contains(expected), "{expected:?} in\n{}", r.stdout);
    }
}

/// The alerts' flags are checked before anything is served or created, and the
/// operator's view of the subscriber database counts without listing anyone.
#[test]
fn site_alerts_flags_and_the_subscriber_database() {
    let dir = tempfile::tempdir().unwrap();
    let releases = dir.path().join("releases");
    fs::create_dir(&releases).unwrap();
    let (releases_arg, inside) = (
        releases.to_str().unwrap(),
        releases.join("subscribers.redb"),
    );
    let serve = |db: &str, smtp: &str| {
        run(&[
            "site",
            "serve",
            "--releases",
            releases_arg,
            "--addr",
            "127.0.0.1:0",
            "--subscribers",
            db,
            "--smtp",
            smtp,
            "--mail-from",
            "Office <office@example.org>",
        ])
    };
    let r = serve(inside.to_str().unwrap(), "smtp://127.0.0.1:25");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("inside the releases directory"),
        "{}",
        r.stderr
    );
    assert!(!inside.exists());
    let outside = dir.path().join("subscribers.redb");
    let r = serve(
        outside.to_str().unwrap(),
        "smtp://office:secret@127.0.0.1:25",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("STATVAULT_SMTP_PASSWORD"), "{}", r.stderr);
    assert!(!r.stderr.contains("secret"));
    let r = run(&[
        "site",
        "serve",
        "--releases",
        releases_arg,
        "--subscribers",
        "x.redb",
    ]);
    assert_eq!(r.code, 2, "--subscribers needs --smtp and --mail-from");

    let db = outside.to_str().unwrap();
    let subscriptions = statvault_site::subscriptions::Subscriptions::open(&outside).unwrap();
    subscriptions.subscribe("ana@example.org", "en", 0).unwrap();
    drop(subscriptions);
    let r = run(&["site", "subscribers", "--db", db]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "0 confirmed, 1 awaiting confirmation, 1 letter(s) queued\n"
    );
    let forget = |address| run(&["site", "subscribers", "--db", db, "--forget", address]);
    let r = forget("Ana@Example.org");
    assert!(r.stdout.starts_with("forgotten"), "{}", r.stdout);
    assert!(r
        .stdout
        .ends_with("0 confirmed, 0 awaiting confirmation, 0 letter(s) queued\n"));
    let r = forget("ana@example.org");
    assert!(r.stdout.starts_with("that address is not in the database"));
}

/// A `site serve` child, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Regression (with --access-log and a full disk most requests got no answer): with
/// standard error on a full disk, or on a pipe nobody reads, the site starts and
/// answers every request; the lines it cannot write in time are dropped and counted,
/// never waited for.
#[test]
fn the_site_answers_every_request_when_its_log_cannot_be_written() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let releases = dir.path().join("releases");
    fs::create_dir(&releases).unwrap();
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    );
    let get = |url: &str| -> String {
        let mut answer = agent
            .get(url)
            .call()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        answer.body_mut().read_to_string().unwrap()
    };
    for stuck_pipe in [false, true] {
        let (port, metrics) = (free_port(), free_port());
        let stderr = if stuck_pipe {
            std::process::Stdio::piped()
        } else {
            fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap()
                .into()
        };
        // Held, unread, until the site is killed.
        let _site = Child(
            statvault()
                .args(["site", "serve", "--releases"])
                .arg(&releases)
                .args(["--addr", &format!("127.0.0.1:{port}")])
                .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
                .arg("--access-log")
                .stderr(stderr)
                .spawn()
                .unwrap(),
        );
        wait_for_port(port);
        // Far more lines than a pipe (64 KiB) and the site's queue (4096 lines) hold.
        for _ in 0..6000 {
            get(&format!("http://127.0.0.1:{port}/assets/site.css"));
        }
        assert!(get(&format!("http://127.0.0.1:{port}/en/")).contains("<html"));
        let counters = get(&format!("http://127.0.0.1:{metrics}/metrics"));
        let dropped: u64 = counters
            .lines()
            .find_map(|l| l.strip_prefix("statvault_site_access_log_dropped_total "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(dropped > 0, stuck_pipe, "{dropped} lines dropped");
    }
}
