//! Where `add` puts a file's chunks, and how `restore` reads them back. A restore from
//! object storage pays per request, so a file's chunks must lie back to back in its
//! packs (one request per run), and copies of a file are read once.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use statvault_vault::snapshot::NodeKind;
use statvault_vault::{
    add, restore, AddOptions, ChunkerParams, InitOptions, MemoryBackend, NoProgress,
    RestoreOptions, Vault,
};

/// Bytes that do not repeat, so that every chunk is new.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn small_chunks_vault() -> (Vault, statvault_crypto::VaultKeys) {
    let opts = InitOptions {
        chunker: ChunkerParams {
            min: 4096,
            avg: 16384,
            max: 65536,
        },
        pack_size: 4 << 20,
        compression_level: 1,
    };
    let (vault, master) = Vault::init(Arc::new(MemoryBackend::default()), 2, 2, &opts).unwrap();
    (vault, master.derive())
}

/// Regression (restore from S3 at 1.07× restic): workers sealed chunks in parallel and
/// the pack writer stored them in the order they finished, so a file's chunks were
/// shuffled within its packs and a restore needed one small request per chunk.
#[test]
fn a_files_chunks_lie_back_to_back_in_its_packs_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    for (i, size) in [3 << 20, 5 << 20, 1 << 20].into_iter().enumerate() {
        fs::write(src.join(format!("f{i}")), noise(size, i as u64 + 1)).unwrap();
    }
    let (vault, keys) = small_chunks_vault();
    let report = add(&vault, &keys, &[src], &AddOptions::default(), &NoProgress).unwrap();
    let state = vault.head().unwrap();
    let index = vault.load_index(&keys, &state).unwrap();
    let snapshot = vault.load_snapshot(&keys, &state, report.snapshot).unwrap();
    let mut files = 0;
    for node in &snapshot.nodes {
        let NodeKind::File { chunks } = &node.kind else {
            continue;
        };
        files += 1;
        assert!(chunks.len() > 20, "{} chunks", chunks.len());
        let mut breaks = 0;
        for pair in chunks.windows(2) {
            let (pack_a, a) = &index.chunks[&pair[0]];
            let (pack_b, b) = &index.chunks[&pair[1]];
            if pack_a != pack_b {
                breaks += 1; // the file goes on in the next pack
                continue;
            }
            assert_eq!(
                a.offset + a.sealed_len,
                b.offset,
                "{}: chunk {} is not right after chunk {}",
                String::from_utf8_lossy(&node.path),
                pair[1],
                pair[0]
            );
        }
        assert!(breaks <= 2, "{breaks} pack changes in {} bytes", node.size);
    }
    assert_eq!(files, 3);
}

/// Copies of a file (large ones streamed, small ones restored pack by pack) are read
/// and decrypted once and written to every copy, each with its own mode and time.
#[test]
fn copies_of_a_file_restore_exactly_with_their_own_modes_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("backup")).unwrap();
    let large = noise(3 << 20, 7);
    let small = noise(3000, 8);
    let copies = [
        ("large", &large, 0o644, 1_000_000_000),
        ("backup/large", &large, 0o400, 1_500_000_000),
        ("backup/large-2", &large, 0o600, 1_600_000_000),
        ("small", &small, 0o644, 1_100_000_000),
        ("backup/small", &small, 0o444, 1_200_000_000),
    ];
    for (name, bytes, mode, secs) in copies {
        let path = src.join(name);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        filetime::set_file_mtime(&path, filetime::FileTime::from_unix_time(secs, 0)).unwrap();
    }
    let (vault, keys) = small_chunks_vault();
    let report = add(&vault, &keys, &[src], &AddOptions::default(), &NoProgress).unwrap();
    let target = dir.path().join("restored");
    let restored = restore(
        &vault,
        &keys,
        &report.snapshot.to_hex(),
        &target,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(restored.files, 5);
    for (name, bytes, mode, secs) in copies {
        let path = target.join("src").join(name);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.mtime(), meta.len()),
            (mode, secs, bytes.len() as u64),
            "{name}"
        );
        assert!(fs::read(&path).unwrap() == *bytes, "{name}");
    }
}
