//! The tamper suite: hundreds of random single-byte flips, truncations and deletions
//! across every kind of vault file, plus swaps, replays and log removals. Every one
//! must be detected by `verify` (or refused when the vault is opened), and the
//! untouched vault must verify clean before and after.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use statvault_crypto::{Hash, VaultKeys};
use statvault_vault::{
    add, verify, AddOptions, ChunkerParams, InitOptions, LocalBackend, NoProgress, Vault,
    VerifyOptions,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    keys: VaultKeys,
    head: Hash,
    old_snapshot: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (src, repo) = (dir.path().join("src"), dir.path().join("repo"));
    fs::create_dir_all(src.join("sub")).unwrap();
    let mut rng = Rng(42);
    // Mostly random bytes, so that chunks barely compress and fill several packs.
    let mut bytes = |n: usize| {
        (0..n)
            .map(|i| if i % 5 == 0 { b',' } else { rng.next() as u8 })
            .collect::<Vec<u8>>()
    };
    fs::write(src.join("persons.csv"), bytes(200_000)).unwrap();
    fs::write(src.join("sub/households.csv"), bytes(90_000)).unwrap();
    fs::write(src.join("sub/small.txt"), b"tiny").unwrap();
    let opts = InitOptions {
        chunker: ChunkerParams {
            min: 1024,
            avg: 4096,
            max: 16384,
        },
        pack_size: 48 * 1024,
        compression_level: 1,
    };
    let (vault, master) = Vault::init(Arc::new(LocalBackend::new(&repo)), 3, 2, &opts).unwrap();
    let keys = master.derive();
    let add_src = || {
        add(
            &vault,
            &keys,
            std::slice::from_ref(&src),
            &AddOptions::default(),
            &NoProgress,
        )
        .unwrap()
    };
    let first = add_src();
    fs::write(src.join("sub/households.csv"), bytes(120_000)).unwrap();
    let second = add_src();
    assert!(
        second.packs >= 2 && first.packs >= 2,
        "the fixture needs several packs per commit"
    );
    let old_snapshot = repo.join(format!("snapshots/{}", first.snapshot));
    Fixture {
        _dir: dir,
        repo,
        keys,
        head: second.log_head,
        old_snapshot,
    }
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("lock") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The problems `verify` reports with every check on, or the damage error that
/// stopped the vault from opening.
fn damage(f: &Fixture) -> Vec<String> {
    match Vault::open(Arc::new(LocalBackend::new(&f.repo))) {
        Err(e) => {
            assert!(e.is_damage(), "opening failed with a non-damage error: {e}");
            vec![e.to_string()]
        }
        Ok(vault) => {
            let opts = VerifyOptions {
                keys: Some(&f.keys),
                read_data: true,
                kept_head: Some(f.head),
                kept_key: None,
            };
            verify(&vault, &opts, &NoProgress)
                .unwrap()
                .problems
                .iter()
                .map(|p| p.to_string())
                .collect()
        }
    }
}

/// Puts every file back as it was.
fn restore_files(saved: &[(PathBuf, Vec<u8>)], root: &Path) {
    for p in files(root) {
        if !saved.iter().any(|(s, _)| *s == p) {
            fs::remove_file(p).unwrap();
        }
    }
    for (p, bytes) in saved {
        fs::write(p, bytes).unwrap();
    }
}

fn kind(path: &Path, root: &Path) -> &'static str {
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    ["config", "log/", "packs/", "index/", "snapshots/"]
        .into_iter()
        .find(|k| rel.starts_with(k))
        .unwrap_or("other")
}

#[test]
fn every_random_corruption_is_detected() {
    let f = fixture();
    assert_eq!(
        damage(&f),
        Vec::<String>::new(),
        "a clean vault must verify clean"
    );
    let all = files(&f.repo);
    let saved: Vec<(PathBuf, Vec<u8>)> = all
        .iter()
        .map(|p| (p.clone(), fs::read(p).unwrap()))
        .collect();
    let kinds = ["config", "log/", "packs/", "index/", "snapshots/"];
    let mut rng = Rng(0x5eed);
    let (mut tried, mut undetected) = (0, Vec::new());
    for case in 0..420 {
        // Spread the cases evenly over the kinds of file, then pick a file of that kind.
        let wanted = kinds[case % kinds.len()];
        let of_kind: Vec<&(PathBuf, Vec<u8>)> = saved
            .iter()
            .filter(|(p, _)| kind(p, &f.repo) == wanted)
            .collect();
        let (path, original) = of_kind[rng.below(of_kind.len() as u64) as usize];
        let action = match rng.below(10) {
            0..=6 => {
                let mut bytes = original.clone();
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 + rng.below(255) as u8;
                fs::write(path, bytes).unwrap();
                format!("flip byte {at}")
            }
            7 | 8 => {
                let len = rng.below(original.len() as u64) as usize;
                fs::write(path, &original[..len]).unwrap();
                format!("truncate to {len}")
            }
            _ => {
                fs::remove_file(path).unwrap();
                "delete".to_string()
            }
        };
        tried += 1;
        if damage(&f).is_empty() {
            undetected.push(format!("{action} in {}", path.display()));
        }
        restore_files(&saved, &f.repo);
    }
    println!(
        "tamper suite: {tried} random corruptions tried, {} undetected",
        undetected.len()
    );
    assert!(undetected.is_empty(), "undetected: {undetected:#?}");
    assert_eq!(
        damage(&f),
        Vec::<String>::new(),
        "the restored vault must verify clean"
    );
}

#[test]
fn swaps_replays_and_log_removals_are_detected_and_named() {
    let f = fixture();
    let all = files(&f.repo);
    let saved: Vec<(PathBuf, Vec<u8>)> = all
        .iter()
        .map(|p| (p.clone(), fs::read(p).unwrap()))
        .collect();
    let of = |k: &str| {
        all.iter()
            .filter(|p| kind(p, &f.repo) == k)
            .cloned()
            .collect::<Vec<_>>()
    };
    let (packs, indexes, snapshots, log) =
        (of("packs/"), of("index/"), of("snapshots/"), of("log/"));
    let name = |p: &Path| {
        p.strip_prefix(&f.repo)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };

    // Two packs swapped.
    let (a, b) = (&packs[0], &packs[1]);
    let (ba, bb) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    fs::write(a, &bb).unwrap();
    fs::write(b, &ba).unwrap();
    let found = damage(&f).join("\n");
    assert!(
        found.contains(&name(a)) && found.contains(&name(b)),
        "{found}"
    );
    restore_files(&saved, &f.repo);

    // An old snapshot replayed in place of the newer one.
    let newer = snapshots.iter().find(|p| **p != f.old_snapshot).unwrap();
    fs::write(newer, fs::read(&f.old_snapshot).unwrap()).unwrap();
    let found = damage(&f).join("\n");
    assert!(found.contains(&name(newer)), "{found}");
    restore_files(&saved, &f.repo);

    // An old index replayed in place of the newer one.
    fs::write(&indexes[1], fs::read(&indexes[0]).unwrap()).unwrap();
    let found = damage(&f).join("\n");
    assert!(found.contains(&name(&indexes[1])), "{found}");
    restore_files(&saved, &f.repo);

    // A log entry removed from the middle: the chain breaks there.
    fs::remove_file(&log[1]).unwrap();
    let found = damage(&f).join("\n");
    assert!(
        found.contains(&name(&log[1])) && found.contains("missing"),
        "{found}"
    );
    restore_files(&saved, &f.repo);

    // The last entry removed: only the head a custodian kept reveals it.
    fs::remove_file(log.last().unwrap()).unwrap();
    let vault = Vault::open(Arc::new(LocalBackend::new(&f.repo))).unwrap();
    let without_head = VerifyOptions {
        keys: Some(&f.keys),
        read_data: true,
        kept_head: None,
        kept_key: None,
    };
    let report = verify(&vault, &without_head, &NoProgress).unwrap();
    assert!(
        report.problems.is_empty(),
        "a truncated log is consistent in itself"
    );
    assert!(
        !report.leftovers.is_empty(),
        "but the removed commit's objects are left over"
    );
    let found = damage(&f).join("\n");
    assert!(
        found.contains("kept head") && found.contains(&f.head.to_hex()),
        "{found}"
    );
    restore_files(&saved, &f.repo);
    assert_eq!(damage(&f), Vec::<String>::new());
}
