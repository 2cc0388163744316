//! `statvault demo`: a vault round trip on generated files, narrated.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{ensure, Context};
use clap::Args;
use statvault_crypto::share::{split, ShareFile};
use statvault_vault::{
    add, restore, verify, AddOptions, InitOptions, LocalBackend, NoProgress, RestoreOptions, Vault,
    VerifyOptions,
};

#[derive(Args)]
pub struct DemoArgs {
    /// Working directory for the demo's files (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("statvault-demo-{}", std::process::id())),
    };
    ensure!(
        !dir.exists() || fs::read_dir(&dir)?.next().is_none(),
        "{} is not empty",
        dir.display()
    );
    let (data, repo, shares_dir, restored) = (
        dir.join("census"),
        dir.join("vault"),
        dir.join("shares"),
        dir.join("restored"),
    );
    fs::create_dir_all(&shares_dir)?;

    step("1. Generating census-like files");
    let bytes = generate(&data)?;
    println!("   {} bytes in {}", bytes, data.display());

    step("2. Creating a vault with 5 custodians, any 3 of whom can unlock it");
    let (vault, master) = Vault::init(
        Arc::new(LocalBackend::new(&repo)),
        5,
        3,
        &InitOptions::default(),
    )?;
    let identity = vault.config.identity();
    let mut share_paths = Vec::new();
    for (i, share) in split(&master, 5, 3)?.iter().enumerate() {
        let path = shares_dir.join(format!("custodian-{}-of-5.share", i + 1));
        fs::write(
            &path,
            ShareFile::seal(&identity, i as u8 + 1, share, None).to_json(),
        )?;
        share_paths.push(path);
    }
    drop(master);
    println!("   vault {} in {}", vault.config.vault_id, repo.display());

    step("3. Unlocking with custodians 1, 3 and 5, adding the files");
    let chosen = [
        share_paths[0].clone(),
        share_paths[2].clone(),
        share_paths[4].clone(),
    ];
    let keys = vault.unlock(&chosen, &mut |_| {
        unreachable!("demo shares have no passphrase")
    })?;
    let add_data = || {
        add(
            &vault,
            &keys,
            std::slice::from_ref(&data),
            &AddOptions::default(),
            &NoProgress,
        )
    };
    let first = add_data()?;
    println!(
        "   snapshot {}: {} files, {} bytes, stored as {} bytes in {} packs",
        first.snapshot, first.files, first.bytes, first.stored_bytes, first.packs
    );

    step("4. Adding the unchanged files again: deduplicated");
    let second = add_data()?;
    println!(
        "   snapshot {}: {} files unchanged, {} new bytes stored",
        second.snapshot, second.unchanged_files, second.stored_bytes
    );

    step("5. Verifying everything: log signatures, hashes, every chunk decrypted");
    let opts = VerifyOptions {
        keys: Some(&keys),
        read_data: true,
        kept_head: Some(second.log_head),
    };
    let report = verify(&vault, &opts, &NoProgress)?;
    ensure!(
        report.problems.is_empty(),
        "verify found damage: {:?}",
        report.problems
    );
    println!(
        "   {} log entries, {} objects, {} chunks re-hashed: no damage",
        report.log_entries, report.objects, report.chunks_checked
    );

    step("6. An intruder flips one byte in a pack file");
    let pack = first_pack(&repo)?;
    let original = fs::read(&pack)?;
    let mut altered = original.clone();
    altered[original.len() / 2] ^= 0x01;
    fs::write(&pack, &altered)?;
    let report = verify(&vault, &opts, &NoProgress)?;
    for p in &report.problems {
        println!("   detected: {p}");
    }
    ensure!(
        !report.problems.is_empty(),
        "the flipped byte went unnoticed"
    );
    fs::write(&pack, &original)?;
    println!("   (byte put back)");

    step("7. Restoring the first snapshot and comparing byte for byte");
    restore(
        &vault,
        &keys,
        &first.snapshot.to_hex(),
        &restored,
        &RestoreOptions::default(),
        &NoProgress,
    )?;
    let compared = compare(&data, &restored.join("census"))?;
    println!("   {compared} files identical, with their modes and modification times");
    println!("\nDone. Everything is in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn step(text: &str) {
    println!("{text}");
}

/// Writes deterministic CSV files: persons per municipality, plus a duplicated file.
fn generate(dir: &Path) -> anyhow::Result<u64> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut total = 0;
    for (i, county) in [
        "berat",
        "diber",
        "durres",
        "elbasan",
        "fier",
        "gjirokaster",
        "korce",
        "kukes",
        "lezhe",
        "shkoder",
        "tirane",
        "vlore",
    ]
    .iter()
    .enumerate()
    {
        let sub = dir.join(county);
        fs::create_dir_all(&sub)?;
        let mut csv = String::from("person_id,household_id,sex,age,education,activity\n");
        for p in 0..(20_000 + 5_000 * i) {
            let r = next();
            csv.push_str(&format!(
                "{p},{},{},{},{},{}\n",
                p / 3,
                1 + r % 2,
                (r >> 8) % 100,
                (r >> 16) % 9,
                (r >> 24) % 5
            ));
        }
        fs::write(sub.join("persons.csv"), &csv)?;
        total += csv.len() as u64;
    }
    let copy = fs::read(dir.join("tirane/persons.csv"))?;
    fs::write(dir.join("tirane/persons-copy.csv"), &copy)?;
    Ok(total + copy.len() as u64)
}

fn first_pack(repo: &Path) -> anyhow::Result<PathBuf> {
    let fan = fs::read_dir(repo.join("packs"))?
        .next()
        .context("no pack directory")??;
    Ok(fs::read_dir(fan.path())?.next().context("no pack")??.path())
}

/// Compares two trees: contents, modes and mtimes of every file.
fn compare(a: &Path, b: &Path) -> anyhow::Result<usize> {
    use std::os::unix::fs::MetadataExt;
    let mut files = 0;
    for entry in fs::read_dir(a)? {
        let entry = entry?;
        let other = b.join(entry.file_name());
        let (ma, mb) = (
            entry.metadata()?,
            fs::metadata(&other).with_context(|| format!("{} missing", other.display()))?,
        );
        ensure!(
            ma.mode() == mb.mode()
                && ma.mtime() == mb.mtime()
                && ma.mtime_nsec() == mb.mtime_nsec(),
            "{} differs in mode or mtime",
            other.display()
        );
        if ma.is_dir() {
            files += compare(&entry.path(), &other)?;
        } else {
            ensure!(
                fs::read(entry.path())? == fs::read(&other)?,
                "{} differs",
                other.display()
            );
            files += 1;
        }
    }
    Ok(files)
}
