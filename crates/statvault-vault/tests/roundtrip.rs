//! Property: any tree of files added to a vault verifies clean and restores exactly,
//! and an older snapshot still restores exactly after the files change. Runs on the
//! in-memory backend, so it also shows the core needs nothing but the Backend trait.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use statvault_vault::{
    add, restore, verify, AddOptions, ChunkerParams, InitOptions, MemoryBackend, NoProgress,
    RestoreOptions, Vault, VerifyOptions,
};

#[derive(Clone, Debug)]
struct FileSpec {
    dir: usize,
    name: u8,
    content: Content,
    mode: u32,
}

#[derive(Clone, Debug)]
enum Content {
    Bytes(Vec<u8>),
    /// The same bytes as another file of the tree, repeated: exercises deduplication.
    CopyOf(usize, usize),
}

const DIRS: [&str; 4] = ["", "a", "a/b", "c"];

fn tree() -> impl Strategy<Value = Vec<FileSpec>> {
    let content = prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..40_000).prop_map(Content::Bytes),
        1 => (0usize..8, 1usize..4).prop_map(|(i, n)| Content::CopyOf(i, n)),
    ];
    let mode = prop_oneof![Just(0o644u32), Just(0o600), Just(0o755), Just(0o444)];
    proptest::collection::vec(
        (0..DIRS.len(), any::<u8>(), content, mode).prop_map(|(dir, name, content, mode)| {
            FileSpec {
                dir,
                name,
                content,
                mode,
            }
        }),
        0..10,
    )
}

/// Writes the tree; returns nothing, files with clashing names simply overwrite.
fn write_tree(root: &Path, files: &[FileSpec]) {
    for d in DIRS {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let mut written: Vec<Vec<u8>> = Vec::new();
    for f in files {
        let bytes = match &f.content {
            Content::Bytes(b) => b.clone(),
            Content::CopyOf(i, n) => written.get(*i).map(|b| b.repeat(*n)).unwrap_or_default(),
        };
        let path = root.join(DIRS[f.dir]).join(format!("f{}", f.name));
        if path.exists() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
        fs::write(&path, &bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(f.mode)).unwrap();
        written.push(bytes);
    }
}

fn assert_same(a: &Path, b: &Path) {
    let mut names: Vec<_> = fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut other: Vec<_> = fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    other.sort();
    assert_eq!(names, other, "{}", b.display());
    for n in names {
        let (pa, pb) = (a.join(&n), b.join(&n));
        let (ma, mb) = (fs::metadata(&pa).unwrap(), fs::metadata(&pb).unwrap());
        assert_eq!(
            (ma.mode(), ma.mtime(), ma.mtime_nsec()),
            (mb.mode(), mb.mtime(), mb.mtime_nsec()),
            "{}",
            pb.display()
        );
        if ma.is_dir() {
            assert_same(&pa, &pb);
        } else {
            assert!(
                fs::read(&pa).unwrap() == fs::read(&pb).unwrap(),
                "{}",
                pb.display()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_tree_round_trips(first in tree(), second in tree()) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        write_tree(&src, &first);
        let opts = InitOptions { chunker: ChunkerParams { min: 512, avg: 2048, max: 8192 }, pack_size: 16 * 1024, compression_level: 1 };
        let (vault, master) = Vault::init(Arc::new(MemoryBackend::default()), 2, 2, &opts).unwrap();
        let keys = master.derive();
        let one = add(&vault, &keys, std::slice::from_ref(&src), &AddOptions::default(), &NoProgress).unwrap();
        let snapshot_of_first = dir.path().join("expected");
        fs::rename(&src, &snapshot_of_first).unwrap();
        fs::create_dir_all(&src).unwrap();
        write_tree(&src, &second);
        let two = add(&vault, &keys, std::slice::from_ref(&src), &AddOptions::default(), &NoProgress).unwrap();

        let checks = VerifyOptions { keys: Some(&keys), read_data: true, kept_head: Some(two.log_head), kept_key: None };
        let report = verify(&vault, &checks, &NoProgress).unwrap();
        prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
        prop_assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);

        for (id, expected) in [(one.snapshot, &snapshot_of_first), (two.snapshot, &src)] {
            let target = dir.path().join(format!("restored-{id}"));
            restore(&vault, &keys, &id.to_hex(), &target, &RestoreOptions::default(), &NoProgress).unwrap();
            assert_same(expected, &target.join("src"));
        }
    }
}
