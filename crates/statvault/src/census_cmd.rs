//! `statvault census …`.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use statvault_census::{synth_csv, Geography, SynthOptions};

#[derive(Args)]
pub struct SynthArgs {
    /// Number of persons (default: Albania's 2023 census, 2,402,113).
    #[arg(long, value_name = "N", default_value_t = 2_402_113, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    persons: u64,
    /// Seed: the same seed gives the same census, byte for byte.
    #[arg(long, value_name = "S", default_value_t = 2023)]
    seed: u64,
    /// Output file; `.csv` (one row per person with household and dwelling).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn synth(a: SynthArgs) -> anyhow::Result<ExitCode> {
    match a.out.extension().and_then(|e| e.to_str()) {
        Some("csv") => {}
        Some("parquet") => bail!(
            "{}: Parquet output is not built yet (it comes with census ingest); write .csv",
            a.out.display()
        ),
        _ => bail!("{}: the output file must end in .csv", a.out.display()),
    }
    // Written under a temporary name and renamed: a failed run leaves no partial file.
    let temp = a.out.with_extension("csv.partial");
    let file = fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    let opts = SynthOptions {
        persons: a.persons,
        seed: a.seed,
    };
    let written = synth_csv(
        &Geography::albania(),
        &opts,
        &mut std::io::BufWriter::new(file),
    )
    .and_then(|summary| fs::rename(&temp, &a.out).map(|()| summary));
    let summary = match written {
        Ok(summary) => summary,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e).with_context(|| format!("writing {}", a.out.display()));
        }
    };
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
