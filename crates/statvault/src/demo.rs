//! `statvault demo`: the main job on a synthetic census, narrated: a vault shared
//! among custodians, validated ingest, verification, an intruder caught, tabulation,
//! disclosure control with an attacker's audit, custody through the unseal agent with
//! its audit log, a signed and logged release, recovery from a replica after a wiper.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{ensure, Context};
use clap::Args;
use statvault_census::ingest::IngestOptions;
use statvault_census::schema::Labels;
use statvault_census::table::{Category, CategoryKind, Dimension, Table};
use statvault_census::{
    ingest, synth, tabulate, CensusError, Geography, SynthFormat, SynthOptions,
};
use statvault_crypto::share::{combine_release_key, release_key_identity, ShareFile};
use statvault_crypto::{Hash, MasterKey};
use statvault_protect::protected::LEGEND;
use statvault_protect::{CkmOptions, Method, PTable, ProtectedTable, SuppressOptions};
use statvault_release::calendar::{self, Change};
use statvault_release::meta::{parse_utc, utc_now, utc_time};
use statvault_release::minisign::MinisignKey;
use statvault_release::Signer;
use statvault_release::{ReleaseMeta, VerifyOptions as ReleaseVerifyOptions};
use statvault_vault::{
    replicate, restore, verify, Backend, InitOptions, LocalBackend, NoProgress, ReplicateOptions,
    RestoreOptions, Vault, VerifyOptions,
};

use crate::protect_cmd::{protect_into, read_table};
use crate::shares::ShareFiles;

const SCHEMA: &str = include_str!("../../../examples/census-albania/schema.toml");
const TABLES: &str = include_str!("../../../examples/census-albania/tables.toml");
const RELEASE_META: &str = include_str!("../../../examples/release/census-2023.toml");

#[derive(Args)]
pub struct DemoArgs {
    /// Working directory for the demo's files (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Persons in the synthetic census (default: Albania's 2023 census).
    #[arg(long, value_name = "N", default_value_t = 2_402_113, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    persons: u64,
    /// Stop after the pipeline instead of serving the site.
    #[arg(long)]
    no_serve: bool,
    /// Where the site listens at the end.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let steps = Steps::default();
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("statvault-demo-{}", std::process::id())),
    };
    ensure!(
        !dir.exists() || fs::read_dir(&dir)?.next().is_none(),
        "{} is not empty",
        dir.display()
    );
    let (census, repo, shares_dir, tables, restored) = (
        dir.join("census.csv"),
        dir.join("vault"),
        dir.join("shares"),
        dir.join("tables"),
        dir.join("restored"),
    );
    fs::create_dir_all(&shares_dir)?;
    let schema_path = dir.join("schema.toml");
    fs::write(&schema_path, SCHEMA)?;

    steps.next(&format!(
        "Synthesising a census of Albania: {} persons",
        args.persons
    ));
    let summary = synth(
        &Geography::albania(),
        &SynthOptions {
            persons: args.persons,
            seed: 2023,
        },
        SynthFormat::Csv,
        fs::File::create(&census)?,
    )?;
    println!(
        "   {} persons in {} households and {} dwellings: {}",
        summary.persons,
        summary.households,
        summary.dwellings,
        census.display()
    );

    steps.next("Creating a vault with 5 custodians, any 3 of whom can unlock it");
    let (vault, master) = Vault::init(
        Arc::new(LocalBackend::new(&repo)),
        5,
        3,
        &InitOptions::default(),
    )?;
    let share_paths = ShareFiles::prepare(&shares_dir, 5, false)?
        .write(&master, &vault.config.identity())?
        .to_vec();
    drop(master);
    println!("   vault {} in {}", vault.config.vault_id, repo.display());

    steps.next("A census file with one bad record is refused; nothing is committed");
    let text = fs::read_to_string(&census)?;
    let bad = dir.join("census-with-error.csv");
    let mut lines: Vec<String> = text.lines().take(1000).map(str::to_string).collect();
    let mut fields: Vec<&str> = lines[500].split(',').collect();
    fields[6] = "131";
    lines[500] = fields.join(",");
    fs::write(&bad, lines.join("\n") + "\n")?;
    let keys = vault.unlock(
        &[
            share_paths[0].clone(),
            share_paths[2].clone(),
            share_paths[4].clone(),
        ],
        &mut |_| unreachable!("demo shares have no passphrase"),
    )?;
    match ingest(
        &vault,
        &keys,
        SCHEMA,
        &bad,
        &IngestOptions::default(),
        &NoProgress,
    ) {
        Err(CensusError::Invalid(report)) => print!(
            "   {}",
            report
                .to_string()
                .replace('\n', "\n   ")
                .trim_end_matches(' ')
        ),
        other => anyhow::bail!(
            "the bad record was not refused: {:?}",
            other.map(|r| r.snapshot)
        ),
    }
    println!();

    steps.next("Unlocking with custodians 1, 3 and 5 and ingesting the census");
    let ingested = ingest(
        &vault,
        &keys,
        SCHEMA,
        &census,
        &IngestOptions::default(),
        &NoProgress,
    )?;
    println!(
        "   every record valid: {}; {} grid cells; {} bytes stored, sealed, in {:.1} s",
        ingested.counts(),
        ingested.grid_cells,
        ingested.stored_bytes,
        ingested.seconds
    );
    println!("   snapshot {}", ingested.snapshot);

    steps.next("Verifying everything: log signatures, hashes, every chunk decrypted");
    let head = vault.head()?.head().1;
    let opts = VerifyOptions {
        keys: Some(&keys),
        read_data: true,
        kept_head: Some(head),
        kept_key: None,
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

    steps.next("An intruder flips one byte in a pack file");
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

    steps.next("Tabulating the standard tables from the snapshot in one scan");
    let done = tabulate(
        &vault,
        &keys,
        &ingested.snapshot,
        TABLES,
        &tables,
        &NoProgress,
    )?;
    println!(
        "   {} tables in {}: {:.2} s reading, {:.2} s scanning",
        done.tables.len(),
        tables.display(),
        done.seconds_reading,
        done.seconds_scanning
    );
    let originals = done
        .tables
        .iter()
        .map(|t| read_table(&tables.join(&t.file)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = originals
        .iter()
        .find(|t| t.id == "population_county_age_broad")
        .context("the county table")?;
    let cells: Vec<String> = first.values.iter().map(i64::to_string).collect();
    print_grid(
        &first.title,
        &first.dimensions[0],
        &first.dimensions[1],
        |r, c| cells[r * first.dimensions[1].categories.len() + c].clone(),
    );

    steps
        .next("Protecting the tables: the cell key method, then threshold + secondary suppression");
    let ckm = Method::Ckm {
        ptable: PTable::shipped(),
        options: CkmOptions {
            keep_totals_of: vec!["population_municipality_sex".into()],
        },
    };
    let perturbed = protect_and_report(&originals, &ckm, &dir.join("protected-ckm"))?;
    let suppressed = protect_and_report(
        &originals,
        &Method::Suppress(SuppressOptions::default()),
        &dir.join("protected-suppress"),
    )?;
    let county_age = perturbed
        .iter()
        .find(|p| p.id == "population_county_age_broad")
        .context("the county table")?;
    print_protected(county_age, 0, 1, |r, c| {
        r * county_age.dimensions[1].categories.len() + c
    });
    show_suppressed_municipality(&suppressed)?;
    println!();
    for (symbol, _, en) in LEGEND {
        println!("   {symbol}  {en}");
    }

    steps.next("Custody: custodians 1, 3 and 5 unseal the agent; a statistician works through it");
    crate::demo_custody::custody(&vault, &share_paths, &ingested.snapshot, &dir)?;

    release(&steps, &dir, &dir.join("protected-ckm"))?;

    steps.next("A wiper destroys the vault; it comes back from its replica, verified");
    let recovered = recover_after_wiper(&vault, &dir, head)?;
    let restored_report = restore(
        &recovered,
        &keys,
        &ingested.snapshot,
        &restored,
        &RestoreOptions::default(),
        &NoProgress,
    )?;
    println!(
        "   {} files, {} bytes in {}",
        restored_report.files,
        restored_report.bytes,
        restored.join("census").display()
    );
    println!("\nDone. Everything is in {}", dir.display());
    if !args.no_serve {
        steps.next(&format!("The public site on http://{}/", args.addr));
        let store = statvault_site::store::Store::open(&dir.join("releases"), None);
        let site = statvault_site::Site::new(store, statvault_site::Limits::default());
        crate::site_cmd::serve(Arc::new(site), args.addr, None)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Replicates the vault, wipes it as a wiper would (every file overwritten,
/// then removed) and brings it back from the replica onto a clean directory, checked
/// against the head and the signing key the custodians kept.
fn recover_after_wiper(vault: &Vault, dir: &Path, kept_head: Hash) -> anyhow::Result<Vault> {
    let local = |path: PathBuf| -> Arc<dyn Backend> { Arc::new(LocalBackend::new(path)) };
    let (primary, replica) = (dir.join("vault"), dir.join("replica"));
    let copied = replicate(
        vault.backend().clone(),
        local(replica.clone()),
        &ReplicateOptions::default(),
        &NoProgress,
    )?;
    println!(
        "   replicated {} log entries and {} objects ({} bytes) to {}",
        copied.entries_copied,
        copied.objects_copied,
        copied.bytes_copied,
        replica.display()
    );
    let kept_key = vault.config.public_key();
    let mut wiped = 0;
    for entry in walk_files(&primary)? {
        let len = fs::metadata(&entry)?.len() as usize;
        fs::write(
            &entry,
            &statvault_crypto::random_bytes::<32>().repeat(len.div_ceil(32))[..len],
        )?;
        wiped += 1;
    }
    fs::remove_dir_all(&primary)?;
    println!(
        "   wiper: {wiped} files of {} overwritten with random bytes, then removed",
        primary.display()
    );
    let recovered_dir = dir.join("recovered-vault");
    replicate(
        local(replica),
        local(recovered_dir.clone()),
        &ReplicateOptions {
            key: Some(kept_key),
        },
        &NoProgress,
    )?;
    let recovered = Vault::open(local(recovered_dir.clone()))?;
    let report = verify(
        &recovered,
        &VerifyOptions {
            keys: None,
            read_data: true,
            kept_head: Some(kept_head),
            kept_key: Some(kept_key),
        },
        &NoProgress,
    )?;
    ensure!(
        report.problems.is_empty(),
        "the recovered vault is damaged: {:?}",
        report.problems
    );
    println!(
        "   recovered into {}: {} objects, every pack re-hashed, the kept head and key check out",
        recovered_dir.display(),
        report.objects
    );
    Ok(recovered)
}

fn walk_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.extend(walk_files(&entry.path())?);
        } else {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Steps 9 and 10: the release key split among custodians, the calendar, the signed
/// and logged release of the perturbed tables, its verification, and a forgery caught.
fn release(steps: &Steps, dir: &Path, tables: &Path) -> anyhow::Result<()> {
    steps.next("The release key, split among 3 custodians (any 2 sign); the release calendar");
    let master = MasterKey::generate();
    let identity = release_key_identity(&master, 3, 2);
    let key_shares = ShareFiles::prepare(&dir.join("release-key-shares"), 3, false)?
        .write(&master, &identity)?
        .to_vec();
    drop(master);
    let public = MinisignKey::of(identity.public_key);
    let pubkey = dir.join("release-key.pub");
    fs::write(&pubkey, public.write())?;
    println!(
        "   release key {}: custodian shares in {}, public key {}",
        public.id_hex(),
        dir.join("release-key-shares").display(),
        pubkey.display()
    );
    let files = key_shares[1..]
        .iter()
        .map(|p| Ok((p.clone(), ShareFile::read(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let key = combine_release_key(&files, &mut |_| {
        unreachable!("demo shares have no passphrase")
    })?;
    // The signer's record of the log stays on the office side, outside `releases/`.
    let key = Signer::new(key, dir.join("signer-state"));

    // Announced for yesterday, postponed to now: the release goes out at once.
    let meta = ReleaseMeta::parse(RELEASE_META).map_err(anyhow::Error::msg)?;
    let now = utc_now();
    let announced = utc_time(parse_utc(&now).context("the clock")? - 86_400);
    let releases = dir.join("releases");
    fs::create_dir_all(&releases)?;
    let schedule = Change::Schedule {
        title: meta.title.clone(),
        release_time: &announced,
        organizer: Some(&meta.contact),
    };
    calendar::change(&releases, &meta.id, schedule, &key)?;
    let reason = "the office's systems are under attack; the census is safe in the vault";
    let postpone = Change::Postpone {
        reason,
        reasons: [
            ("en", reason),
            (
                "sq",
                "sistemet e zyrës janë nën sulm; regjistrimi është i sigurt në kasafortë",
            ),
        ]
        .into_iter()
        .map(|(lang, text)| (lang.to_string(), text.to_string()))
        .collect(),
        new_time: &now,
    };
    calendar::change(&releases, &meta.id, postpone, &key)?;
    println!("   announced for {announced}, postponed to {now}: {reason}");

    let title = meta.title.get("en").cloned().unwrap_or_default();
    steps.next(&format!("Signing the release \"{title}\" and logging it"));
    let meta_path = dir.join("release.toml");
    fs::write(&meta_path, RELEASE_META.replace(&meta.release_time, &now))?;
    let bundle = releases.join(format!("{}-v{}", meta.id, meta.version));
    let built = statvault_release::build(tables, &meta_path, &bundle)?;
    let signed = statvault_release::sign(&bundle, &key, None)?;
    println!(
        "   {} tables in {} files ({} bytes): {}",
        built.tables,
        built.files,
        built.bytes,
        bundle.display()
    );
    println!(
        "   signed by {} (custodians 2 and 3); transparency log entry {} of {}",
        signed.key_id, signed.log_index, signed.tree_size
    );
    let report = statvault_release::verify(
        &bundle,
        &ReleaseVerifyOptions {
            key: Some(public),
            release: Some(meta.id.clone()),
            ..ReleaseVerifyOptions::default()
        },
    )?;
    ensure!(
        report.passed(),
        "the release does not verify: {:?}",
        report.problems
    );
    println!(
        "   release verify: signature, {} file hashes, inclusion in the log: verified",
        report.files
    );
    let manifest = bundle.join(statvault_release::names::MANIFEST_FILE);
    let check = format!(
        "minisign -Vm {} -p {}",
        manifest.display(),
        pubkey.display()
    );
    match std::process::Command::new("minisign")
        .args([
            "-Vm".as_ref(),
            manifest.as_os_str(),
            "-p".as_ref(),
            pubkey.as_os_str(),
        ])
        .output()
    {
        Ok(out) => {
            ensure!(out.status.success(), "minisign refused the release");
            println!(
                "   {check}: {}",
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        Err(_) => println!("   anyone can check it with the stock minisign: {check}"),
    }

    // A forger edits a table on a copy of the bundle served elsewhere.
    let copy = dir.join("forged-copy");
    copy_tree(&bundle, &copy)?;
    let victim = copy.join("tables/population_municipality_sex.csv");
    let mut bytes = fs::read(&victim)?;
    let header = bytes.iter().position(|&b| b == b'\n').unwrap_or(0);
    let last_digit = header
        + bytes[header..]
            .iter()
            .rposition(u8::is_ascii_digit)
            .unwrap_or(0);
    bytes[last_digit] = b'0' + (bytes[last_digit] - b'0' + 1) % 10;
    fs::write(&victim, bytes)?;
    let report = statvault_release::verify(
        &copy,
        &ReleaseVerifyOptions {
            key: Some(public),
            ..ReleaseVerifyOptions::default()
        },
    )?;
    for problem in &report.problems {
        println!("   forged copy: {problem}");
    }
    ensure!(!report.passed(), "the forged copy went unnoticed");
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().context("a file name")?);
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// Protects all tables by one method, writes them, and sums up their flags and audits.
fn protect_and_report(
    tables: &[Table],
    method: &Method,
    out: &Path,
) -> anyhow::Result<Vec<ProtectedTable>> {
    let protected = protect_into(tables, method, out)?;
    let passed = protected
        .iter()
        .filter(|p| p.protection.audit.passed)
        .count();
    let flagged = |symbol: &str| {
        protected
            .iter()
            .flat_map(|p| &p.status)
            .filter(|s| *s == symbol)
            .count()
    };
    println!(
        "   {}: {} tables into {}; {} cells perturbed, {} exact totals, {} suppressed; the attacker's audit passes on {passed} of {}",
        protected[0].protection.method,
        protected.len(),
        out.display(),
        flagged("p"),
        flagged("u"),
        flagged("c"),
        protected.len()
    );
    ensure!(passed == protected.len(), "an audit failed");
    Ok(protected)
}

/// The municipality with the most suppressed cells, by age group and sex.
fn show_suppressed_municipality(suppressed: &[ProtectedTable]) -> anyhow::Result<()> {
    let t = suppressed
        .iter()
        .find(|p| p.id == "population_municipality_sex_age5")
        .context("the municipality table")?;
    let [muni, sex, age] = &t.dimensions[..] else {
        anyhow::bail!("the municipality table has three dimensions")
    };
    let per_muni = sex.categories.len() * age.categories.len();
    let worst = (0..muni.categories.len())
        .max_by_key(|m| {
            t.values[m * per_muni..(m + 1) * per_muni]
                .iter()
                .filter(|v| v.is_none())
                .count()
        })
        .expect("municipalities");
    let mut shown = t.clone();
    shown.title = [(
        "en".to_string(),
        format!("{}, suppressed", label(&muni.categories[worst])),
    )]
    .into();
    print_protected(&shown, 2, 1, |r, c| {
        worst * per_muni + c * age.categories.len() + r
    });
    Ok(())
}

/// Prints dimension `rows` against dimension `cols` of a protected table, each value
/// with its flag; `index` maps (row, column) to the cell.
fn print_protected(
    t: &ProtectedTable,
    rows: usize,
    cols: usize,
    index: impl Fn(usize, usize) -> usize,
) {
    print_grid(
        &t.title,
        &t.dimensions[rows],
        &t.dimensions[cols],
        |r, c| {
            let cell = index(r, c);
            let value = t.values[cell].map_or(String::new(), |v| v.to_string());
            format!("{value} {:<1}", t.status[cell])
        },
    );
}

fn label(c: &Category) -> String {
    c.label.get("en").cloned().unwrap_or_else(|| c.code.clone())
}

/// Prints a grid of cells with English labels, rows indented under their totals.
fn print_grid(
    title: &Labels,
    rows: &Dimension,
    cols: &Dimension,
    cell: impl Fn(usize, usize) -> String,
) {
    println!("\n   {}", title.get("en").map_or("", String::as_str));
    print!("   {:<20}", "");
    for c in &cols.categories {
        print!("{:>19}", label(c));
    }
    println!();
    for (r, row) in rows.categories.iter().enumerate() {
        let name = if row.kind == CategoryKind::Code {
            format!("  {}", label(row))
        } else {
            label(row)
        };
        print!("   {name:<20}");
        for c in 0..cols.categories.len() {
            print!("{:>19}", cell(r, c));
        }
        println!();
    }
}

/// The demo's steps, numbered in the order they run.
#[derive(Default)]
struct Steps(std::cell::Cell<u32>);

impl Steps {
    fn next(&self, text: &str) {
        self.0.set(self.0.get() + 1);
        println!("{}. {text}", self.0.get());
    }
}

fn first_pack(repo: &Path) -> anyhow::Result<PathBuf> {
    let fan = fs::read_dir(repo.join("packs"))?
        .next()
        .context("no pack directory")??;
    Ok(fs::read_dir(fan.path())?.next().context("no pack")??.path())
}
