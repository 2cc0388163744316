//! `vault replicate`: directory to directory and directory to an object-locked bucket
//! (SeaweedFS on loopback), incremental, resumable after a kill, and refusing a source
//! that was rolled back, forked, re-keyed or altered, with the replica left untouched.

mod common;
#[path = "../../statvault-vault/tests/support/seaweedfs.rs"]
mod seaweedfs;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn replicate(from: &str, to: &str, extra: &[&str]) -> Run {
    let mut args = vec!["vault", "replicate", "--from", from, "--to", to, "--json"];
    args.extend_from_slice(extra);
    run_with_input(statvault().args(&args).envs(seaweedfs::env()), "")
}

fn report(r: &Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap()
}

/// A primary with two snapshots; returns it with the source tree it holds.
fn primary() -> (Workplace, PathBuf) {
    let w = Workplace::new(1, 1);
    let src = w.path("gis");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("raster.bin"), noise(3 << 20, 21)).unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    fs::write(src.join("roads.gpkg"), noise(1 << 20, 22)).unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    (w, src)
}

fn head_of(repo: &str) -> String {
    let listed = run_with_input(
        statvault()
            .args(["vault", "snapshots", "--repo", repo, "--json"])
            .envs(seaweedfs::env()),
        "",
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let json: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    json["head"].as_str().unwrap().to_string()
}

/// The replica verifies in full against the primary's head and restores the latest
/// snapshot bit for bit.
fn assert_recovers(w: &Workplace, replica: &str, head: &str, src: &Path, target: &Path) {
    let share = &w.shares[0];
    let verify = run_with_input(
        statvault()
            .args([
                "vault",
                "verify",
                "--repo",
                replica,
                "--share",
                share,
                "--read-data",
                "--head",
                head,
            ])
            .envs(seaweedfs::env()),
        "",
    );
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify.stderr.contains("no damage found\n"),
        "{}",
        verify.stderr
    );
    let restore = run_with_input(
        statvault()
            .args([
                "vault", "restore", "--repo", replica, "--share", share, "latest", "--target",
            ])
            .arg(target)
            .envs(seaweedfs::env()),
        "",
    );
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    assert_same_tree(src, &target.join("gis"));
}

#[test]
fn replicas_in_a_directory_and_a_locked_bucket_follow_the_primary() {
    let (w, src) = primary();
    let dir_replica = w.path("replica").display().to_string();
    let bucket_replica = format!("s3://{}/replica", seaweedfs::bucket("replica"));
    for to in [&dir_replica, &bucket_replica] {
        let first = report(&replicate(
            &w.repo,
            to,
            &["--object-lock", "compliance", "--retention", "1d"]
                [..if to.starts_with("s3") { 4 } else { 0 }],
        ));
        assert_eq!(first["created"], true);
        assert_eq!(first["entries_copied"], 3, "genesis and two snapshots");
        let again = report(&replicate(&w.repo, to, &[]));
        assert_eq!(
            (
                again["entries_copied"].as_u64(),
                again["objects_copied"].as_u64()
            ),
            (Some(0), Some(0))
        );
    }
    fs::write(src.join("census-tracts.shp"), noise(500_000, 23)).unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    let head = head_of(&w.repo);
    for (i, to) in [&dir_replica, &bucket_replica].into_iter().enumerate() {
        let next = report(&replicate(&w.repo, to, &[]));
        assert_eq!(next["entries_copied"], 1);
        assert_eq!(next["head"].as_str().unwrap(), head);
        assert_recovers(&w, to, &head, &src, &w.path(&format!("recovered-{i}")));
    }
    // Replicas replicate onwards: the bucket to a fresh directory.
    let onward = w.path("onward").display().to_string();
    report(&replicate(&bucket_replica, &onward, &[]));
    assert_recovers(&w, &onward, &head, &src, &w.path("recovered-onward"));
}

#[test]
fn rolled_back_forked_and_rekeyed_sources_are_refused_and_the_replica_untouched() {
    let (w, src) = primary();
    let old = w.path("old-primary");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&w.repo)
        .arg(&old)
        .status()
        .unwrap()
        .success());
    fs::write(src.join("more.bin"), noise(100_000, 24)).unwrap();
    assert_eq!(w.vault("add", 1, &[src.to_str().unwrap()]).code, 0);
    let replica = w.path("replica");
    let replica_s = replica.display().to_string();
    report(&replicate(&w.repo, &replica_s, &[]));
    let before = tree_bytes(&replica);

    // Rolled back: the old copy of the primary ends one entry earlier.
    let rolled = replicate(old.to_str().unwrap(), &replica_s, &[]);
    assert_eq!(rolled.code, 1, "{}", rolled.stderr);
    assert!(
        rolled.stderr.contains("rolled back") && rolled.stderr.contains("log/00000000000000000003"),
        "{}",
        rolled.stderr
    );

    // Forked: the old copy gets a different third entry.
    let other = w.path("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("forged.csv"), "x\n").unwrap();
    let forked_add = run(&[
        "vault",
        "add",
        "--repo",
        old.to_str().unwrap(),
        "--share",
        &w.shares[0],
        other.to_str().unwrap(),
    ]);
    assert_eq!(forked_add.code, 0, "{}", forked_add.stderr);
    let forked = replicate(old.to_str().unwrap(), &replica_s, &[]);
    assert_eq!(forked.code, 1, "{}", forked.stderr);
    assert!(
        forked.stderr.contains("forked") && forked.stderr.contains("log/00000000000000000003"),
        "{}",
        forked.stderr
    );

    // Another vault altogether: another key.
    let stranger = Workplace::new(1, 1);
    let rekeyed = replicate(&stranger.repo, &replica_s, &[]);
    assert_eq!(rekeyed.code, 1, "{}", rekeyed.stderr);
    assert!(
        rekeyed.stderr.contains("not the key pinned at the replica"),
        "{}",
        rekeyed.stderr
    );
    assert_eq!(tree_bytes(&replica), before, "the replica was not touched");

    // A key given by the custodians on first replication.
    let fresh = w.path("fresh").display().to_string();
    let key = fs::read_to_string(Path::new(&stranger.repo).join("config")).unwrap();
    let stranger_key: serde_json::Value = serde_json::from_str(&key).unwrap();
    let wrong = replicate(
        &w.repo,
        &fresh,
        &["--key", stranger_key["signing_key"].as_str().unwrap()],
    );
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(tree_bytes(Path::new(&fresh)).is_empty(), "nothing written");
}

#[test]
fn altered_object_in_the_source_is_refused_by_name() {
    let (w, _) = primary();
    let pack = tree_bytes(&Path::new(&w.repo).join("packs"))
        .into_iter()
        .max_by_key(|(_, b)| b.len())
        .unwrap()
        .0;
    let mut bytes = fs::read(&pack).unwrap();
    bytes[1000] ^= 1;
    fs::remove_file(&pack).unwrap();
    fs::write(&pack, bytes).unwrap();
    let r = replicate(&w.repo, w.path("replica").to_str().unwrap(), &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let name = pack.file_name().unwrap().to_str().unwrap();
    assert!(
        r.stderr.contains(name) && r.stderr.contains("does not match its name"),
        "{}",
        r.stderr
    );
}

#[test]
fn killed_replication_resumes_where_it_stopped() {
    let (w, src) = primary();
    let replica = w.path("replica");
    fs::create_dir_all(&replica).unwrap();
    for n in [2, 4] {
        let fault = Fault {
            op: "link",
            n,
            mode: "kill",
            path: &replica,
            log: None,
        };
        let mut replicate = statvault();
        replicate
            .args(["vault", "replicate", "--from", &w.repo, "--to"])
            .arg(&replica);
        let killed = fault.inject(&mut replicate).output().unwrap();
        assert_eq!(killed.status.code(), None, "killed at link {n}");
    }
    let resumed = report(&replicate(&w.repo, replica.to_str().unwrap(), &[]));
    assert!(
        resumed["objects_present"].as_u64().unwrap() > 0,
        "{resumed}"
    );
    assert_recovers(
        &w,
        replica.to_str().unwrap(),
        &head_of(&w.repo),
        &src,
        &w.path("recovered"),
    );
}
