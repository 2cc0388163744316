//! Every vault command on a vault in S3 (`--repo s3://BUCKET/PREFIX`), against a real
//! SeaweedFS on loopback: init with Object Lock, add, snapshots, verify, restore, gc,
//! census ingest, tabulate, retention extend; and clear errors for bad addresses and
//! missing credentials.

mod common;
#[path = "../../statvault-vault/tests/support/seaweedfs.rs"]
mod seaweedfs;

use std::fs;

use common::*;

fn s3(args: &[&str]) -> Run {
    run_with_input(statvault().args(args).envs(seaweedfs::env()), "")
}

/// `vault init` of a 1-of-1 vault at `repo` with `extra` flags; returns the share.
fn init(repo: &str, dir: &std::path::Path, extra: &[&str]) -> String {
    let shares = dir.join("shares");
    let mut args = vec![
        "vault",
        "init",
        "--repo",
        repo,
        "--custodians",
        "1",
        "--threshold",
        "1",
        "--shares-out",
        shares.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let init = s3(&args);
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(
        extra.is_empty() || init.stderr.contains("with versioning and Object Lock"),
        "{}",
        init.stderr
    );
    shares.join("custodian-1-of-1.share").display().to_string()
}

#[test]
fn every_vault_command_works_on_an_s3_vault_with_object_lock() {
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("s3://{}/census-2023", seaweedfs::bucket("cli"));
    let share = init(
        &repo,
        dir.path(),
        &["--object-lock", "compliance", "--retention", "2d"],
    );
    let with_share = |sub: &[&str], args: &[&str]| {
        let mut all = sub.to_vec();
        all.extend(["--repo", &repo, "--share", &share]);
        all.extend_from_slice(args);
        s3(&all)
    };

    let files = dir.path().join("gis");
    fs::create_dir_all(&files).unwrap();
    fs::write(files.join("raster.bin"), noise(2 << 20, 5)).unwrap();
    fs::write(
        files.join("boundaries.geojson"),
        "{\"type\":\"FeatureCollection\"}",
    )
    .unwrap();
    let added = with_share(&["vault", "add"], &[files.to_str().unwrap()]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let files_id = added.stdout.trim().to_string();

    let census = dir.path().join("census.csv");
    let synth = synth("3000", "4", census.to_str().unwrap());
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    let ingested = with_share(
        &["census", "ingest"],
        &["--schema", SCHEMA, "--input", census.to_str().unwrap()],
    );
    assert_eq!(ingested.code, 0, "{}", ingested.stderr);
    let census_id = ingested.stdout.trim().to_string();

    let tables = dir.path().join("tables");
    let tab = with_share(
        &["tabulate"],
        &[
            "--snapshot",
            &census_id,
            "--spec",
            TABLES,
            "--out",
            tables.to_str().unwrap(),
        ],
    );
    assert_eq!(tab.code, 0, "{}", tab.stderr);
    assert!(fs::read_dir(&tables).unwrap().count() > 0);

    let listed = s3(&["vault", "snapshots", "--repo", &repo, "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let json: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(json["snapshots"].as_array().unwrap().len(), 2);
    let head = json["head"].as_str().unwrap().to_string();

    let verified = with_share(&["vault", "verify"], &["--read-data", "--head", &head]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(
        verified.stderr.contains("no damage found\n"),
        "{}",
        verified.stderr
    );

    let target = dir.path().join("restored");
    let restored = with_share(
        &["vault", "restore"],
        &[&files_id, "--target", target.to_str().unwrap()],
    );
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_same_tree(&files, &target.join("gis"));

    let gc = s3(&["vault", "gc", "--repo", &repo, "--head", &head]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    let extended = s3(&["vault", "retention", "extend", "--repo", &repo, "--json"]);
    assert_eq!(extended.code, 0, "{}", extended.stderr);
    let report: serde_json::Value = serde_json::from_str(&extended.stdout).unwrap();
    assert_eq!(report["retention"]["mode"], "compliance");
    assert!(report["checked"].as_u64().unwrap() > 5);
    assert!(
        std::env::temp_dir()
            .join("statvault")
            .read_dir()
            .map_or(true, |mut d| d.next().is_none()),
        "the census staging was removed"
    );
}

#[test]
fn bad_addresses_and_missing_credentials_are_usage_errors() {
    let bad = run(&["vault", "snapshots", "--repo", "s3://Not_A_Bucket/x"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("is not a bucket name"),
        "{}",
        bad.stderr
    );
    let other = run(&["vault", "snapshots", "--repo", "https://example.org/vault"]);
    assert_eq!(other.code, 2, "{}", other.stderr);
    let no_credentials = run_with_input(
        statvault()
            .args(["vault", "snapshots", "--repo", "s3://some-bucket/x"])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY"),
        "",
    );
    assert_eq!(no_credentials.code, 2, "{}", no_credentials.stderr);
    assert!(
        no_credentials.stderr.contains("AWS_ACCESS_KEY_ID"),
        "{}",
        no_credentials.stderr
    );
    let missing = s3(&[
        "vault",
        "snapshots",
        "--repo",
        &format!("s3://{}/none", seaweedfs::bucket("missing")),
    ]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    let local_lock = run(&[
        "vault",
        "init",
        "--repo",
        "/tmp/statvault-never",
        "--custodians",
        "1",
        "--threshold",
        "1",
        "--shares-out",
        "/tmp/statvault-never-shares",
        "--object-lock",
        "compliance",
    ]);
    assert_eq!(local_lock.code, 2, "{}", local_lock.stderr);
    assert!(
        local_lock
            .stderr
            .contains("needs a vault in object storage"),
        "{}",
        local_lock.stderr
    );
}

#[test]
fn killed_writers_lock_is_named_and_unlock_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("s3://{}/vault", seaweedfs::bucket("stale-lock"));
    let share = init(&repo, dir.path(), &[]);
    // A writer killed while it held the lock: the lock object stays.
    let backend = seaweedfs::backend(&repo);
    std::mem::forget(statvault_vault::Backend::lock(&backend).unwrap());
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("a.txt"), "a").unwrap();
    let add = || {
        s3(&[
            "vault",
            "add",
            "--repo",
            &repo,
            "--share",
            &share,
            data.to_str().unwrap(),
        ])
    };
    let blocked = add();
    assert_eq!(blocked.code, 2, "{}", blocked.stderr);
    assert!(
        blocked.stderr.contains("statvault vault unlock"),
        "{}",
        blocked.stderr
    );
    let unlocked = s3(&["vault", "unlock", "--repo", &repo]);
    assert_eq!(unlocked.code, 0, "{}", unlocked.stderr);
    assert!(
        unlocked.stderr.contains("removed the write lock"),
        "{}",
        unlocked.stderr
    );
    assert_eq!(add().code, 0);
    let again = s3(&["vault", "unlock", "--repo", &repo]);
    assert!(again.stderr.contains("no write lock"), "{}", again.stderr);
}
