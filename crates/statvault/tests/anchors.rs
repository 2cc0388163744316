//! Anchors kept off the vault host: the signing key `vault init` prints and the log
//! head. An intruder who rewrites `config` and the whole log with a key of their own,
//! dropping a snapshot from the middle, makes a vault that agrees with itself; only
//! what the custodians kept shows it.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::*;
use statvault_crypto::{Hash, MasterKey};
use statvault_vault::log::{entry_name, merkle_root, Commit, LogEntry};
use statvault_vault::{Config, ObjectInfo};

/// Re-signs the log with the intruder's key, leaving out the snapshot committed by
/// entry `dropped` and its objects, and rewrites `config` to name the intruder's key.
fn rewrite_with_own_key(repo: &Path, dropped: u64) {
    let intruder = MasterKey::generate().derive();
    let mut config: Config =
        serde_json::from_slice(&fs::read(repo.join("config")).unwrap()).unwrap();
    config.signing_key = Hash(intruder.public_key().0);
    let config_bytes = serde_json::to_vec_pretty(&config).unwrap();
    fs::write(repo.join("config"), &config_bytes).unwrap();
    let mut old = Vec::new();
    for seq in 0.. {
        match fs::read(repo.join(entry_name(seq))) {
            Ok(bytes) => old.push(LogEntry::parse(&bytes).unwrap()),
            Err(_) => break,
        }
        fs::remove_file(repo.join(entry_name(seq))).unwrap();
    }
    let mut objects: BTreeMap<String, u64> = BTreeMap::new();
    let mut prev = Hash::default();
    for mut entry in old.into_iter().filter(|e| e.seq != dropped) {
        entry.seq = if entry.seq > dropped {
            entry.seq - 1
        } else {
            entry.seq
        };
        entry.prev = prev;
        if let Commit::Genesis { config } = &mut entry.commit {
            *config = Hash::of(&config_bytes);
        }
        objects.extend(entry.added.iter().map(|o| (o.name.clone(), o.size)));
        let all: Vec<ObjectInfo> = objects
            .iter()
            .map(|(name, &size)| ObjectInfo {
                name: name.clone(),
                size,
            })
            .collect();
        entry.total = all.len() as u64;
        entry.root = merkle_root(&all);
        entry.sign(&intruder);
        let text = entry.write();
        prev = Hash::of(text.as_bytes());
        fs::write(repo.join(entry_name(entry.seq)), text).unwrap();
    }
}

#[test]
fn config_and_log_rewritten_with_another_key_pass_only_unanchored() {
    let w = Workplace::new(1, 1);
    // The key init printed (the other test reads it from init's output), as the
    // config names it before the attack.
    let init_key = {
        let config: Config =
            serde_json::from_slice(&fs::read(Path::new(&w.repo).join("config")).unwrap()).unwrap();
        config.public_key().to_hex()
    };
    let src = w.path("data");
    fs::create_dir_all(&src).unwrap();
    for round in 0..3 {
        fs::write(src.join("table.csv"), format!("round {round}\n")).unwrap();
        let r = w.vault("add", 1, &[src.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let listed: serde_json::Value =
        serde_json::from_str(&w.vault("snapshots", 0, &["--json"]).stdout).unwrap();
    let kept_head = listed["head"].as_str().unwrap().to_string();
    let key_file = w.path("vault.key");
    fs::write(&key_file, format!("{init_key}\n")).unwrap();

    rewrite_with_own_key(Path::new(&w.repo), 2);

    let unanchored = w.vault("verify", 0, &["--read-data"]);
    assert_eq!(
        unanchored.code, 0,
        "{}{}",
        unanchored.stdout, unanchored.stderr
    );
    assert!(
        unanchored.stderr.contains("unanchored")
            && !unanchored.stderr.contains("no damage found\n"),
        "a self-consistent vault is not called undamaged without an anchor: {}",
        unanchored.stderr
    );
    let listed: serde_json::Value =
        serde_json::from_str(&w.vault("snapshots", 0, &["--json"]).stdout).unwrap();
    assert_eq!(
        listed["snapshots"].as_array().unwrap().len(),
        2,
        "one dropped"
    );

    for anchor in [
        vec!["--key", init_key.as_str()],
        vec!["--key", key_file.to_str().unwrap()],
        vec!["--head", kept_head.as_str()],
    ] {
        let v = w.vault("verify", 0, &anchor);
        assert_eq!(v.code, 1, "{anchor:?}: {}{}", v.stdout, v.stderr);
    }
    let v = w.vault("verify", 0, &["--key", &init_key]);
    assert!(
        v.stdout.contains("damaged: config: names signing key") && v.stdout.contains(&init_key),
        "{}",
        v.stdout
    );
    let with_shares = w.vault("verify", 1, &[]);
    assert_ne!(with_shares.code, 0, "the shares hold the real key");
    assert!(
        with_shares.stderr.contains("config may have been replaced"),
        "{}",
        with_shares.stderr
    );
}

#[test]
fn init_prints_the_signing_key_and_verify_accepts_it() {
    let w = Workplace::new(1, 1);
    let dir = w.path("second");
    let r = run(&[
        "vault",
        "init",
        "--repo",
        dir.join("repo").to_str().unwrap(),
        "--custodians",
        "1",
        "--threshold",
        "1",
        "--shares-out",
        dir.join("shares").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = r
        .stderr
        .split_whitespace()
        .skip_while(|w| *w != "signing")
        .nth(2)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert_eq!(key.len(), 64, "{}", r.stderr);
    let v = run(&[
        "vault",
        "verify",
        "--repo",
        dir.join("repo").to_str().unwrap(),
        "--key",
        &key,
    ]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(v.stderr.contains("no damage found\n"), "{}", v.stderr);
    let bad = run(&[
        "vault",
        "verify",
        "--repo",
        dir.join("repo").to_str().unwrap(),
        "--key",
        "nonsense",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
