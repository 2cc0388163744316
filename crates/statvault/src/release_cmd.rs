//! `statvault release …`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Builds a release bundle from protected tables: every table as CSV, SDMX-CSV,
    /// JSON-stat, PX and XLSX, the metadata, and a manifest of hashes and provenance.
    Build(BuildArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// Directory of protected tables (`<id>.protected.json`).
    #[arg(long, value_name = "DIR")]
    tables: PathBuf,
    /// Release metadata (TOML; see docs/release-format.md).
    #[arg(long, value_name = "FILE")]
    meta: PathBuf,
    /// The bundle directory to create (must not exist).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: ReleaseCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReleaseCommand::Build(a) => {
            let report = statvault_release::build(&a.tables, &a.meta, &a.out)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "release {} version {}: {} tables, {} files, {} bytes in {}",
                    report.release,
                    report.version,
                    report.tables,
                    report.files,
                    report.bytes,
                    a.out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
