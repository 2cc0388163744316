//! `statvault census …` and `statvault tabulate`.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use statvault_census::ingest::IngestOptions;
use statvault_census::{
    ingest as ingest_census, synth as synth_census, tabulate as tabulate_census,
};
use statvault_census::{Geography, Schema, SynthFormat, SynthOptions};

use crate::cli::{RepoArg, SharesArg};
use crate::custody_cmd::AgentArg;
use crate::protect_cmd::{
    audits, exit_code, print_reports, protect_into, read_table, reports_json, CkmFlags, MethodName,
    SuppressFlags,
};
use crate::terminal::Bar;
use crate::vault_cmd::{open, unlock};

#[derive(Args)]
pub struct SynthArgs {
    /// Number of persons (default: Albania's 2023 census, 2,402,113).
    #[arg(long, value_name = "N", default_value_t = 2_402_113, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    persons: u64,
    /// Seed: the same seed gives the same census, byte for byte.
    #[arg(long, value_name = "S", default_value_t = 2023)]
    seed: u64,
    /// Output file: `.csv`, or `.parquet` (zstd-compressed), one row per person with
    /// household and dwelling.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn synth(a: SynthArgs) -> anyhow::Result<ExitCode> {
    let format = match a.out.extension().and_then(|e| e.to_str()) {
        Some("csv") => SynthFormat::Csv,
        Some("parquet") => SynthFormat::Parquet,
        _ => bail!(
            "{}: the output file must end in .csv or .parquet",
            a.out.display()
        ),
    };
    // Written under a temporary name and renamed: a failed run leaves no partial file.
    let opts = SynthOptions {
        persons: a.persons,
        seed: a.seed,
    };
    let summary = statvault_vault::atomic::write_file_with(&a.out, |file| {
        synth_census(&Geography::albania(), &opts, format, file.try_clone()?)
            .map_err(std::io::Error::other)
    })
    .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "{} persons in {} households and {} dwellings, seed {}: {}",
        summary.persons,
        summary.households,
        summary.dwellings,
        a.seed,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct IngestArgs {
    #[command(flatten)]
    repo: RepoArg,
    #[command(flatten)]
    shares: SharesArg,
    #[command(flatten)]
    agent: AgentArg,
    /// The census schema (TOML; see docs/census-schema.md).
    #[arg(long, value_name = "FILE")]
    schema: PathBuf,
    /// The microdata: `.csv` (UTF-8, header line) or `.parquet`.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Examples shown for each kind of error.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_examples: usize,
    /// Print the report as JSON (on success and on invalid records).
    #[arg(long)]
    json: bool,
}

pub fn ingest(a: IngestArgs) -> anyhow::Result<ExitCode> {
    let schema = fs::read_to_string(&a.schema)
        .with_context(|| format!("reading schema {}", a.schema.display()))?;
    // Checked here, where its file is known, before the agent or ingest reads it.
    Schema::parse(&schema).map_err(|e| e.in_file(a.schema.display()))?;
    if let Some(agent) = a.agent.client() {
        let report: statvault_census::IngestReport =
            serde_json::from_value(agent.ingest(&schema, &a.input)?)?;
        return print_ingested(&report, a.json);
    }
    let vault = open(&a.repo)?;
    let keys = unlock(&vault, &a.shares)?;
    let opts = IngestOptions {
        max_examples: a.max_examples,
    };
    let report = match ingest_census(&vault, &keys, &schema, &a.input, &opts, &Bar::new()) {
        Ok(report) => report,
        Err(statvault_census::CensusError::Invalid(invalid)) if a.json => {
            println!("{}", serde_json::to_string_pretty(&invalid)?);
            eprintln!(
                "error: {} invalid records; nothing was committed",
                invalid.errors
            );
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    print_ingested(&report, a.json)
}

fn print_ingested(report: &statvault_census::IngestReport, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        eprintln!(
            "valid: {}, {} grid cells; stored as {} bytes in {:.1} s; log entry {}",
            report.counts(),
            report.grid_cells,
            report.stored_bytes,
            report.seconds,
            report.log_seq
        );
        println!("{}", report.snapshot);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct TabulateArgs {
    #[command(flatten)]
    repo: RepoArg,
    #[command(flatten)]
    shares: SharesArg,
    #[command(flatten)]
    agent: AgentArg,
    /// The census snapshot: an id, a unique prefix, or `latest`.
    #[arg(long, value_name = "ID")]
    snapshot: String,
    /// The table spec (TOML; see docs/census-schema.md).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// Directory for the table files (`<id>.table.json`), created if missing.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also protect the tables, writing `<id>.protected.json` beside each table
    /// file, and print the audit of each.
    #[arg(long, value_enum, value_name = "METHOD")]
    protect: Option<MethodName>,
    #[command(flatten)]
    ckm: CkmFlags,
    #[command(flatten)]
    suppress: SuppressFlags,
}

pub fn tabulate(a: TabulateArgs) -> anyhow::Result<ExitCode> {
    let spec = fs::read_to_string(&a.spec)
        .with_context(|| format!("reading spec {}", a.spec.display()))?;
    let method = match a.protect {
        Some(MethodName::Ckm) => Some(a.ckm.method()?),
        Some(MethodName::Suppress) => Some(a.suppress.method()),
        None => None,
    };
    let report: statvault_census::TabulateReport = match a.agent.client() {
        Some(agent) => serde_json::from_value(
            agent
                .tabulate(&a.snapshot, &spec, &a.out)
                .with_context(|| format!("spec {}", a.spec.display()))?,
        )?,
        None => {
            let vault = open(&a.repo)?;
            let keys = unlock(&vault, &a.shares)?;
            // The spec file names a fault in the spec; a damaged dataset names itself.
            tabulate_census(&vault, &keys, &a.snapshot, &spec, &a.out, &Bar::new()).map_err(
                |e| match e {
                    statvault_census::CensusError::Spec { .. } => {
                        anyhow::Error::from(e).context(format!("spec {}", a.spec.display()))
                    }
                    other => other.into(),
                },
            )?
        }
    };
    let protected = match &method {
        Some(method) => {
            let tables = report
                .tables
                .iter()
                .map(|t| read_table(&a.out.join(&t.file)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Some(protect_into(&tables, method, &a.out)?)
        }
        None => None,
    };
    let audits = protected.as_deref().map(audits).unwrap_or_default();
    if a.json {
        // One document: the tabulation, and the audits when protected.
        let mut out = serde_json::to_value(&report)?;
        if protected.is_some() {
            out["audits"] = reports_json(&audits)?;
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for t in &report.tables {
            println!(
                "{:<45} {:>9} cells  total {:>10}  {}",
                t.id,
                t.cells,
                t.total,
                a.out.join(&t.file).display()
            );
        }
        eprintln!(
            "{} tables from {} records of snapshot {}: {:.2} s reading, {:.2} s scanning",
            report.tables.len(),
            report.rows,
            &report.snapshot[..12],
            report.seconds_reading,
            report.seconds_scanning
        );
        if protected.is_some() {
            print_reports(&audits, false)?;
        }
    }
    Ok(exit_code(audits.iter().all(|(_, r)| r.passed)))
}
