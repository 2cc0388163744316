//! `statvault demo`: the main job on a synthetic census, narrated: a vault shared
//! among custodians, validated ingest, verification, an intruder caught, tabulation,
//! disclosure control with an attacker's audit.

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
use statvault_crypto::share::{split, ShareFile};
use statvault_protect::protected::LEGEND;
use statvault_protect::{CkmOptions, Method, PTable, ProtectedTable, SuppressOptions};
use statvault_vault::{
    restore, verify, InitOptions, LocalBackend, NoProgress, RestoreOptions, Vault, VerifyOptions,
};

use crate::protect_cmd::{protect_into, read_table};

const SCHEMA: &str = include_str!("../../../examples/census-albania/schema.toml");
const TABLES: &str = include_str!("../../../examples/census-albania/tables.toml");

#[derive(Args)]
pub struct DemoArgs {
    /// Working directory for the demo's files (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Persons in the synthetic census (default: Albania's 2023 census).
    #[arg(long, value_name = "N", default_value_t = 2_402_113, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    persons: u64,
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

    step(&format!(
        "1. Synthesising a census of Albania: {} persons",
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

    step("3. A census file with one bad record is refused; nothing is committed");
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

    step("4. Unlocking with custodians 1, 3 and 5 and ingesting the census");
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

    step("5. Verifying everything: log signatures, hashes, every chunk decrypted");
    let head = vault.head()?.head().1;
    let opts = VerifyOptions {
        keys: Some(&keys),
        read_data: true,
        kept_head: Some(head),
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

    step("7. Tabulating the standard tables from the snapshot in one scan");
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

    step("8. Protecting the tables: the cell key method, then threshold + secondary suppression");
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

    step("9. Restoring the census snapshot (columnar Parquet, schema, metadata)");
    let restored_report = restore(
        &vault,
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
    Ok(ExitCode::SUCCESS)
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

fn step(text: &str) {
    println!("{text}");
}

fn first_pack(repo: &Path) -> anyhow::Result<PathBuf> {
    let fan = fs::read_dir(repo.join("packs"))?
        .next()
        .context("no pack directory")??;
    Ok(fs::read_dir(fan.path())?.next().context("no pack")??.path())
}
