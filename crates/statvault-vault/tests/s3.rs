//! The vault on a real S3 server (SeaweedFS on loopback) with Object Lock: the full
//! cycle, create-only writes, and what an intruder holding the primary's credentials
//! tries through the S3 API, each refused or without effect on the vault.

#[path = "support/seaweedfs.rs"]
mod seaweedfs;

use std::sync::Arc;

use statvault_vault::s3::{LockMode, Retention, S3Backend};
use statvault_vault::{
    add, restore, verify, AddOptions, Backend, InitOptions, NoProgress, ObjectLock, RestoreOptions,
    Vault, VerifyOptions,
};

fn backend(bucket: &str) -> S3Backend {
    seaweedfs::backend(&format!("s3://{bucket}/census"))
}

const DAY: u64 = 86_400;

/// A locked vault with one snapshot of `files`, and the snapshot's id.
fn locked_vault(
    bucket: &str,
    files: &std::path::Path,
) -> (Arc<S3Backend>, Vault, statvault_crypto::VaultKeys, String) {
    let s3 = Arc::new(backend(bucket));
    assert!(s3.create_bucket(true).unwrap(), "a new bucket");
    s3.set_retention(Retention {
        mode: LockMode::Compliance,
        days: 2,
    })
    .unwrap();
    let (vault, master) = Vault::init(s3.clone(), 1, 1, &InitOptions::default()).unwrap();
    let keys = master.derive();
    let added = add(
        &vault,
        &keys,
        &[files.to_path_buf()],
        &AddOptions::default(),
        &NoProgress,
    )
    .unwrap();
    (s3, vault, keys, added.snapshot.to_hex())
}

fn sample_files(dir: &std::path::Path) -> std::path::PathBuf {
    let files = dir.join("census");
    std::fs::create_dir_all(files.join("gis")).unwrap();
    std::fs::write(files.join("persons.csv"), "id,age\n".repeat(30_000)).unwrap();
    let noise: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(files.join("gis/raster.bin"), noise).unwrap();
    files
}

fn assert_intact(
    vault: &Vault,
    keys: &statvault_crypto::VaultKeys,
    snapshot: &str,
    files: &std::path::Path,
    target: &std::path::Path,
) {
    let report = verify(
        vault,
        &VerifyOptions {
            keys: Some(keys),
            read_data: true,
            kept_head: None,
            kept_key: None,
        },
        &NoProgress,
    )
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    restore(
        vault,
        keys,
        snapshot,
        target,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    for rel in ["persons.csv", "gis/raster.bin"] {
        assert!(
            std::fs::read(files.join(rel)).unwrap()
                == std::fs::read(target.join("census").join(rel)).unwrap(),
            "{rel} restored bit for bit"
        );
    }
}

#[test]
fn s3_vault_with_object_lock_round_trips_and_retains_every_object() {
    let dir = tempfile::tempdir().unwrap();
    let files = sample_files(dir.path());
    let (s3, vault, keys, snapshot) = locked_vault(&seaweedfs::bucket("roundtrip"), &files);
    assert_intact(
        &vault,
        &keys,
        &snapshot,
        &files,
        &dir.path().join("restored"),
    );
    let now = statvault_vault::now_secs();
    let objects = s3.list("").unwrap();
    assert!(objects.iter().any(|o| o.name.starts_with("packs/")));
    for o in &objects {
        let until = s3.retained_until(&o.name).unwrap();
        assert!(
            until.is_some_and(|u| u > now + DAY),
            "{} retained until {until:?}",
            o.name
        );
    }
    assert!(
        objects.iter().all(|o| o.name != "lock"),
        "the lock is gone: {objects:?}"
    );
    let report = statvault_vault::extend_retention(&vault, false, &NoProgress)
        .unwrap()
        .unwrap();
    assert_eq!(report.extended, 0, "nothing is due yet");
    assert_eq!(
        report.checked as usize,
        objects.len() + 1,
        "every object and the setting"
    );
}

#[test]
fn write_new_never_replaces_an_object() {
    let s3 = backend(&seaweedfs::bucket("create-only"));
    s3.create_bucket(false).unwrap();
    s3.write_new("index/aa", b"first").unwrap();
    let again = s3.write_new("index/aa", b"second").unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists, "{again}");
    assert_eq!(s3.read("index/aa", 100).unwrap(), b"first");
    let held = s3.lock().unwrap();
    assert_eq!(
        s3.lock().err().unwrap().kind(),
        std::io::ErrorKind::WouldBlock
    );
    drop(held);
    drop(s3.lock().unwrap());
    assert!(
        s3.list("").unwrap().iter().all(|o| o.name != "lock"),
        "no lock version is left"
    );
}

#[test]
fn primary_credentials_cannot_erase_an_object_locked_vault() {
    let dir = tempfile::tempdir().unwrap();
    let files = sample_files(dir.path());
    let bucket = seaweedfs::bucket("intruder");
    let (s3, vault, keys, snapshot) = locked_vault(&bucket, &files);
    let names: Vec<String> = s3.list("").unwrap().into_iter().map(|o| o.name).collect();
    let mut refused = Vec::new();
    for name in &names {
        let first = s3.version_ids(name).unwrap()[0].clone();
        // Delete the retained version itself: refused.
        let deleted = s3.delete_version(name, Some(&first));
        assert!(deleted.is_err(), "{name}: a retained version was deleted");
        refused.push(format!("delete {name}"));
        // Shorten its retention: refused.
        let shorter = s3.retain_until(name, LockMode::Compliance, statvault_vault::now_secs() + 60);
        assert!(shorter.is_err(), "{name}: retention was shortened");
        refused.push(format!("shorten {name}"));
        // Overwrite it and hide it behind a delete marker: allowed by S3, but the
        // vault reads each name's first version.
        s3.overwrite(name, b"wiped by the intruder").unwrap();
        s3.delete_version(name, None).unwrap();
    }
    assert!(s3.delete_bucket().is_err(), "the bucket was deleted");
    let suspended = s3.suspend_versioning();
    assert!(
        suspended.is_err(),
        "versioning was suspended on a locked bucket"
    );
    // A fresh client, as the custodians' recovery host would open it.
    let fresh = Arc::new(backend(&bucket));
    let reopened = Vault::open(fresh).unwrap();
    assert_intact(
        &reopened,
        &keys,
        &snapshot,
        &files,
        &dir.path().join("after"),
    );
    drop(vault);
    assert!(refused.len() >= 2 * names.len());
}

/// The audit log on object storage: segment names are create-only there too, so a
/// second writer finds its name taken and fails closed rather than take the first's
/// records; checkpoints verify, and a rewritten segment is named.
#[test]
fn the_audit_log_lives_in_object_storage_too() {
    use statvault_vault::audit::{read, verify_audit, AuditLog, AuditRecord, Outcome};
    let s3 = Arc::new(backend("audit-log"));
    assert!(s3.create_bucket(false).unwrap(), "a new bucket");
    let (vault, master) = Vault::init(s3.clone(), 1, 1, &InitOptions::default()).unwrap();
    let keys = master.derive();
    let record = |n: usize| AuditRecord {
        request: format!("r{n}"),
        user: "ana".into(),
        command: "tabulate".into(),
        outcome: Outcome::Done,
        ..AuditRecord::default()
    };
    let (mut log, _) = AuditLog::open(&vault).unwrap();
    let (mut second, _) = AuditLog::open(&vault).unwrap();
    for n in 0..20 {
        log.append(&mut [record(n)], 1_800_000_000, Some(&keys))
            .unwrap();
    }
    let err = second
        .append(&mut [record(99)], 1_800_000_000, Some(&keys))
        .unwrap_err();
    assert!(
        err.to_string().contains("audit/entries/0000000000000000"),
        "{err}"
    );
    let contents = read(s3.as_ref(), 0).unwrap();
    assert_eq!(contents.records.len(), 20);
    let report = verify_audit(&vault, &keys.public_key(), None).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.signed, 20);
    // Versioning off here, so an intruder with the credentials can overwrite a segment:
    // the checkpoints find it.
    let name = "audit/entries/0000000000000000";
    let original = s3.read(name, 1 << 20).unwrap();
    s3.delete(name).unwrap();
    let forged = String::from_utf8(original)
        .unwrap()
        .replace("\"ana\"", "\"eve\"");
    s3.write_new(name, forged.as_bytes()).unwrap();
    let report = verify_audit(&vault, &keys.public_key(), None).unwrap();
    assert!(!report.problems.is_empty());
}
