//! `vault add` on a full disk: a real 8 MiB tmpfs. The add fails with a clear error,
//! the previous commit stays intact and restorable, and no corrupt state is left.
//! Mounting needs root (CI runs as root); the test says so if it cannot mount.

mod common;

use std::fs;
use std::process::Command;

use common::*;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_during_add_keeps_the_previous_commit() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small-disk");
    fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test mounts a small tmpfs and needs root (as CI has)"
    );
    let _mount = Mount(small.clone());

    let repo = small.join("repo").display().to_string();
    let shares = dir.path().join("shares").display().to_string();
    let init = run(&[
        "vault",
        "init",
        "--repo",
        &repo,
        "--custodians",
        "1",
        "--threshold",
        "1",
        "--shares-out",
        &shares,
    ]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let share = format!("{shares}/custodian-1-of-1.share");

    let src = dir.path().join("census");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("persons.csv"), "id,age,sex\n".repeat(1000)).unwrap();
    let add = || {
        run(&[
            "vault",
            "add",
            "--repo",
            &repo,
            "--share",
            &share,
            src.to_str().unwrap(),
        ])
    };
    let first = add();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_id = first.stdout.trim().to_string();
    let log_before = tree_bytes(&small.join("repo/log"));

    // 24 MiB of incompressible data cannot fit in what is left of 8 MiB.
    let noise = noise(24 << 20, 0x2545F4914F6CDD1D);
    fs::write(src.join("gis.bin"), noise).unwrap();
    let full = add();
    assert_eq!(full.code, 2, "{}", full.stderr);
    assert!(
        full.stderr.contains("No space left on device") && full.stderr.contains("packs/"),
        "{}",
        full.stderr
    );
    assert_eq!(
        tree_bytes(&small.join("repo/log")),
        log_before,
        "nothing committed"
    );

    let verify = run(&[
        "vault",
        "verify",
        "--repo",
        &repo,
        "--share",
        &share,
        "--read-data",
    ]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        !verify.stdout.contains("leftover"),
        "the failed add cleans up after itself: {}",
        verify.stdout
    );
    let target = dir.path().join("restored");
    let restored = run(&[
        "vault",
        "restore",
        "--repo",
        &repo,
        "--share",
        &share,
        &first_id,
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(
        fs::read(target.join("census/persons.csv")).unwrap(),
        "id,age,sex\n".repeat(1000).into_bytes()
    );
}
