//! The audit log: appends, checkpoints, and every kind of tampering found by
//! `verify_audit`, against stored and kept checkpoints.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use statvault_crypto::VaultKeys;
use statvault_vault::audit::{verify_audit, AuditLog, AuditRecord, Outcome};
use statvault_vault::{InitOptions, LocalBackend, Vault};

/// Request ids unique across threads.
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Fixture {
    dir: tempfile::TempDir,
    vault: Vault,
    keys: VaultKeys,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(LocalBackend::new(dir.path().join("repo")));
    let (vault, master) = Vault::init(backend, 3, 2, &InitOptions::default()).unwrap();
    Fixture {
        keys: master.derive(),
        vault,
        dir,
    }
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("repo").join(name)
    }

    /// Appends `n` records in one segment, signed or not; returns the checkpoint.
    fn append(&self, log: &mut AuditLog, n: usize, signed: bool) -> Option<String> {
        let mut records: Vec<AuditRecord> = (0..n)
            .map(|i| AuditRecord {
                request: format!(
                    "r{}",
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ),
                uid: 1000,
                user: "ana".into(),
                command: "tabulate".into(),
                cells: i as u64,
                outcome: Outcome::Done,
                ..AuditRecord::default()
            })
            .collect();
        log.append(
            &mut records,
            1_700_000_000,
            signed.then_some(&self.keys as _),
        )
        .unwrap()
    }

    fn problems(&self, kept: Option<&str>) -> Vec<String> {
        verify_audit(&self.vault, &self.keys.public_key(), kept)
            .unwrap()
            .problems
    }
}

#[test]
fn records_are_appended_signed_and_verified() {
    let f = fixture();
    let (mut log, contents) = AuditLog::open(&f.vault).unwrap();
    assert!(contents.records.is_empty());
    f.append(&mut log, 3, true);
    let kept = f.append(&mut log, 2, true).unwrap();
    f.append(&mut log, 4, false); // while sealed: no key, no checkpoint
    let report = verify_audit(&f.vault, &f.keys.public_key(), Some(&kept)).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        (report.records, report.signed, report.checkpoints),
        (9, 5, 2)
    );
    assert_eq!(report.checkpoint.as_deref(), Some(kept.as_str()));
    let (reopened, contents) = AuditLog::open(&f.vault).unwrap();
    assert_eq!(reopened.size(), 9);
    let indices: Vec<u64> = contents.records.iter().map(|r| r.index).collect();
    assert_eq!(indices, (0..9).collect::<Vec<_>>());
}

#[test]
fn a_flipped_byte_a_reordered_record_or_a_replaced_segment_is_named() {
    let f = fixture();
    let (mut log, _) = AuditLog::open(&f.vault).unwrap();
    f.append(&mut log, 3, true);
    f.append(&mut log, 3, true);
    let segment = f.path("audit/entries/0000000000000003");
    let original = fs::read_to_string(&segment).unwrap();

    // A changed amount, still valid JSON.
    fs::write(&segment, original.replacen("\"cells\":1", "\"cells\":9", 1)).unwrap();
    let problems = f.problems(None);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("0000000000000006") && p.contains("changed")),
        "{problems:?}"
    );

    // Two records swapped, their indices rewritten to fit.
    let lines: Vec<&str> = original.lines().collect();
    let swapped = format!(
        "{}\n{}\n{}\n",
        lines[1].replace("\"index\":4", "\"index\":3"),
        lines[0].replace("\"index\":3", "\"index\":4"),
        lines[2]
    );
    fs::write(&segment, swapped).unwrap();
    assert!(!f.problems(None).is_empty());

    // A record cut out.
    fs::write(&segment, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let problems = f.problems(None);
    assert!(
        problems.iter().any(|p| p.contains("removed")),
        "{problems:?}"
    );
    fs::write(&segment, &original).unwrap();
    assert!(f.problems(None).is_empty());
}

#[test]
fn a_log_truncated_with_its_checkpoints_is_found_by_a_kept_checkpoint() {
    let f = fixture();
    let (mut log, _) = AuditLog::open(&f.vault).unwrap();
    f.append(&mut log, 2, true);
    let kept = f.append(&mut log, 2, true).unwrap();
    // The intruder drops the tail and the checkpoint that signs it.
    fs::remove_file(f.path("audit/entries/0000000000000002")).unwrap();
    fs::remove_file(f.path("audit/checkpoints/0000000000000004")).unwrap();
    assert!(
        f.problems(None).is_empty(),
        "what is left agrees with itself"
    );
    let problems = f.problems(Some(&kept));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("kept checkpoint") && p.contains("removed")),
        "{problems:?}"
    );
    // A checkpoint left behind finds it as well.
    fs::write(f.path("audit/checkpoints/0000000000000004"), &kept).unwrap();
    assert!(!f.problems(None).is_empty());
}

#[test]
fn a_checkpoint_signed_by_another_key_or_of_another_vault_is_refused() {
    let f = fixture();
    let other = fixture();
    let (mut log, _) = AuditLog::open(&f.vault).unwrap();
    f.append(&mut log, 2, true);
    let (mut theirs, _) = AuditLog::open(&other.vault).unwrap();
    let foreign = other.append(&mut theirs, 2, true).unwrap();
    fs::write(f.path("audit/checkpoints/0000000000000002"), &foreign).unwrap();
    let problems = f.problems(None);
    assert!(
        problems.iter().any(|p| p.contains("0000000000000002")),
        "{problems:?}"
    );
}

#[test]
fn a_writer_never_adopts_a_segment_it_did_not_write() {
    // Issue 15's open hole: a writer that found its next segment's name taken read that
    // segment, counted it as the log's, and signed a checkpoint over it with the vault
    // key: an intruder on the host could plant records the key then vouched for.
    let f = fixture();
    let (mut log, _) = AuditLog::open(&f.vault).unwrap();
    f.append(&mut log, 2, true);
    let planted = br#"{"index":2,"time":1700000000,"request":"forged","uid":0,"user":"root","command":"restore","outcome":"done"}
"#;
    f.vault
        .backend()
        .write_new("audit/entries/0000000000000002", planted)
        .unwrap();
    // The writer refuses to append after it or sign over it, and keeps refusing.
    for _ in 0..2 {
        let mut records = vec![AuditRecord {
            request: "honest".into(),
            ..AuditRecord::default()
        }];
        let err = log
            .append(&mut records, 1_700_000_001, Some(&f.keys as _))
            .unwrap_err();
        assert!(
            err.to_string().contains("audit/entries/0000000000000002")
                && err.to_string().contains("someone other than"),
            "{err}"
        );
    }
    assert_eq!(log.size(), 2);
    // No checkpoint covers the planted record; verification says the tail is unsigned.
    let checkpoints = f.vault.backend().list("audit/checkpoints/").unwrap();
    assert!(checkpoints
        .iter()
        .all(|c| !c.name.ends_with("0000000000000003")));
    // Two writers on one log: the one that finds its segment taken fails closed rather
    // than take the other's records; the log stays whole.
    let g = fixture();
    let (mut first, _) = AuditLog::open(&g.vault).unwrap();
    let (mut second, _) = AuditLog::open(&g.vault).unwrap();
    g.append(&mut first, 1, true);
    let mut records = vec![AuditRecord::default()];
    assert!(second
        .append(&mut records, 1_700_000_002, Some(&g.keys as _))
        .is_err());
    assert!(g.problems(None).is_empty());
}

/// RFC 6962's MTH written out again, independently of the crates' code.
fn reference_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(&leaves[0]);
            h.finalize().into()
        }
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(reference_root(&leaves[..k]));
            h.update(reference_root(&leaves[k..]));
            h.finalize().into()
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Every checkpoint's root is the reference Merkle root of the lines stored.
    #[test]
    fn checkpoints_agree_with_a_reference_merkle_computation(
        batches in proptest::collection::vec(1usize..9, 1..8)
    ) {
        let f = fixture();
        let (mut log, _) = AuditLog::open(&f.vault).unwrap();
        for n in batches {
            let note = f.append(&mut log, n, true).unwrap();
            let mut lines = Vec::new();
            for object in f.vault.backend().list("audit/entries/").unwrap() {
                let bytes = f.vault.backend().read(&object.name, 1 << 20).unwrap();
                lines.extend(bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec));
            }
            let (checkpoint, _) = statvault_tlog::checkpoint::Checkpoint::parse(&note).unwrap();
            proptest::prop_assert_eq!(checkpoint.size, lines.len() as u64);
            proptest::prop_assert_eq!(checkpoint.root, reference_root(&lines));
        }
    }
}

/// The audit log goes to replicas with the vault, and a replica keeps the source's
/// audit log from being truncated or rewritten unnoticed.
#[test]
fn replicas_copy_the_audit_log_and_refuse_a_truncated_or_rewritten_one() {
    use statvault_vault::{replicate, NoProgress, ReplicateOptions};
    let f = fixture();
    let replica_dir = f.dir.path().join("replica");
    let replica: Arc<dyn statvault_vault::Backend> = Arc::new(LocalBackend::new(&replica_dir));
    let replicate_now = || {
        replicate(
            f.vault.backend().clone(),
            replica.clone(),
            &ReplicateOptions::default(),
            &NoProgress,
        )
    };
    let (mut log, _) = AuditLog::open(&f.vault).unwrap();
    f.append(&mut log, 3, true);
    f.append(&mut log, 2, false);
    let report = replicate_now().unwrap();
    assert_eq!((report.audit_records, report.audit_copied), (5, 3));
    f.append(&mut log, 1, true);
    let report = replicate_now().unwrap();
    assert_eq!((report.audit_records, report.audit_copied), (6, 2));
    assert_eq!(replicate_now().unwrap().audit_copied, 0);
    let replica_vault = Vault::open(replica.clone()).unwrap();
    let at_replica = verify_audit(&replica_vault, &f.keys.public_key(), None).unwrap();
    assert!(at_replica.problems.is_empty(), "{:?}", at_replica.problems);
    assert_eq!((at_replica.records, at_replica.signed), (6, 6));

    // The intruder rewrites a record at the source, then drops the tail instead.
    let segment = f.path("audit/entries/0000000000000000");
    let original = fs::read_to_string(&segment).unwrap();
    fs::write(&segment, original.replace("\"ana\"", "\"eve\"")).unwrap();
    let e = replicate_now().unwrap_err();
    assert!(e.is_damage(), "{e}");
    assert!(e.to_string().contains("0000000000000000"), "{e}");
    fs::write(&segment, &original).unwrap();
    fs::remove_file(f.path("audit/entries/0000000000000005")).unwrap();
    for c in fs::read_dir(f.path("audit/checkpoints")).unwrap() {
        fs::remove_file(c.unwrap().path()).unwrap();
    }
    let e = replicate_now().unwrap_err();
    assert!(e.to_string().contains("truncated or rewritten"), "{e}");
    // The replica's copy is whole.
    let at_replica = verify_audit(&replica_vault, &f.keys.public_key(), None).unwrap();
    assert_eq!((at_replica.records, at_replica.problems.len()), (6, 0));
}
