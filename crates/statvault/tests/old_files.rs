//! Files an earlier statvault wrote, which every later version must still read: a
//! vault holding a format 1 census dataset, its tables, and a signed release bundle
//! with its log (`tests/fixtures/vault-and-bundle-2026-11`, made at 1b0bc19).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{run, tree_bytes};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vault-and-bundle-2026-11"
);

/// A writable copy of the fixture (a vault takes its lock in place), with the share
/// files private as statvault expects.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("old");
    copy_tree(Path::new(FIXTURE), &to);
    for share in fs::read_dir(to.join("shares")).unwrap() {
        use std::os::unix::fs::PermissionsExt;
        let path = share.unwrap().path();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    (dir, to)
}

fn copy_tree(from: &Path, to: &Path) {
    for (path, bytes) in tree_bytes(from) {
        let target = to.join(path.strip_prefix(from).unwrap());
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, bytes).unwrap();
    }
}

fn shares(old: &Path) -> Vec<String> {
    (1..=3)
        .flat_map(|n| {
            [
                "--share".to_string(),
                old.join(format!("shares/custodian-{n}-of-5.share"))
                    .display()
                    .to_string(),
            ]
        })
        .collect()
}

/// A table file without the version of the program that wrote it.
fn table_without_version(path: &Path) -> serde_json::Value {
    let mut table: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    table["provenance"]
        .as_object_mut()
        .expect("a table has its provenance")
        .remove("statvault");
    table
}

/// Format 1 stored record keys and 32- and 64-bit columns; today's ingest packs codes
/// and draws keys from a seed. A format 1 snapshot must give the very same tables,
/// record key sums included, or its published cell key perturbations would change.
#[test]
fn a_format_1_census_in_an_old_vault_tabulates_to_the_same_tables() {
    let (_dir, old) = copy();
    let out = old.join("today");
    let (repo, spec) = (old.join("vault"), old.join("spec.toml"));
    let mut args = vec![
        "tabulate".to_string(),
        "--repo".into(),
        repo.display().to_string(),
        "--snapshot".into(),
        "latest".into(),
        "--spec".into(),
        spec.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(shares(&old));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let expected: Vec<_> = fs::read_dir(old.join("tables"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(expected.len(), 4);
    for name in expected {
        assert_eq!(
            table_without_version(&out.join(&name)),
            table_without_version(&old.join("tables").join(&name)),
            "{name:?}"
        );
    }
}

#[test]
fn an_old_vault_verifies_and_restores() {
    let (_dir, old) = copy();
    let repo = old.join("vault").display().to_string();
    let mut args = vec!["vault", "verify", "--repo", &repo];
    let shares = shares(&old);
    args.extend(shares.iter().map(String::as_str));
    let verify = run(&args);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    let target = old.join("restored").display().to_string();
    let mut args = vec!["vault", "restore", "--repo", &repo, "--target", &target];
    args.extend(shares.iter().map(String::as_str));
    args.push("latest");
    let restore = run(&args);
    assert_eq!(restore.code, 0, "{}{}", restore.stdout, restore.stderr);
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(old.join("restored/census/dataset.json")).unwrap())
            .unwrap();
    assert_eq!(meta["format"], "statvault-census-dataset/1");
    assert!(old
        .join("restored/census/columns/_record_key.parquet")
        .is_file());
}

#[test]
fn an_old_release_bundle_verifies_against_its_key_and_kept_checkpoint() {
    let (_dir, old) = copy();
    let pubkey = old.join("release.pub").display().to_string();
    let checkpoint = old.join("checkpoint").display().to_string();
    let bundle = old.join("releases/census-2023-v1").display().to_string();
    let verify = || {
        run(&[
            "release",
            "verify",
            "--pubkey",
            &pubkey,
            "--checkpoint",
            &checkpoint,
            &bundle,
        ])
    };
    let r = verify();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // And a byte changed in it is still caught.
    let csv = old.join("releases/census-2023-v1/tables/population_sex_age.csv");
    let mut bytes = fs::read(&csv).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    fs::write(&csv, bytes).unwrap();
    let r = verify();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("population_sex_age.csv"), "{}", r.stdout);
}
