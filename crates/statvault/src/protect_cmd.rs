//! `statvault protect …` and the `--protect` option of `tabulate`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use statvault_census::tabulate::dimension_bounds;
use statvault_census::{Schema, Table};
use statvault_protect::{
    audit, protect, AuditReport, CkmOptions, Method, PTable, PTableParams, ProtectedTable,
    SuppressOptions,
};

#[derive(Subcommand)]
pub enum ProtectCommand {
    /// Generates a count p-table by maximum entropy and writes it as CSV.
    Ptable(PtableArgs),
    /// Perturbs table files (`<id>.table.json`) by the cell key method into
    /// `<id>.protected.json`.
    Ckm(CkmArgs),
    /// Applies the threshold rule with secondary suppression to table files, all
    /// together, into `<id>.protected.json` (grid tables by the cell key method
    /// unless --suppress-grid).
    Suppress(SuppressArgs),
    /// Attacks protected tables and reports; exit 1 if any cell is exposed.
    Audit(AuditArgs),
}

#[derive(Args)]
pub struct PtableArgs {
    /// D: the largest perturbation.
    #[arg(long, value_name = "D", default_value_t = PTableParams::default().max_deviation)]
    max_deviation: u32,
    /// V: the variance of the perturbation.
    #[arg(long, value_name = "V", default_value_t = PTableParams::default().variance)]
    variance: f64,
    /// js: published counts never fall in 1..=js.
    #[arg(long, value_name = "JS", default_value_t = PTableParams::default().js)]
    js: u32,
    /// Probability that a count above js stays unchanged (free by default).
    #[arg(long, value_name = "P")]
    pstay: Option<f64>,
    /// Output CSV file (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodName {
    /// The cell key method (counts perturbed by a p-table).
    Ckm,
    /// The threshold rule with secondary suppression (grid tables by the cell key
    /// method unless --suppress-grid).
    Suppress,
}

/// Options of the cell key method.
#[derive(Args)]
pub struct CkmFlags {
    /// The p-table CSV for the cell key method (default: the shipped D=5, V=3, js=2).
    #[arg(long, value_name = "FILE")]
    ptable: Option<PathBuf>,
    /// Publish exactly (flagged `u`) the cells of table ID made only of totals and
    /// subtotals, wherever they appear: `population_municipality_sex` keeps national
    /// and county population exact. Repeatable.
    #[arg(long = "keep-totals", value_name = "ID")]
    keep_totals: Vec<String>,
}

/// Options of suppression.
#[derive(Args)]
pub struct SuppressFlags {
    /// Cells counting 1 ≤ n < THRESHOLD records are suppressed.
    #[arg(long, value_name = "N", default_value_t = SuppressOptions::default().threshold)]
    threshold: u64,
    /// The attacker's interval must reach this many records' worth either
    /// side of each suppressed cell.
    #[arg(long, value_name = "N", default_value_t = SuppressOptions::default().protection)]
    protection: u64,
    /// Treat empty cells as sensitive too.
    #[arg(long)]
    suppress_zeros: bool,
    /// Suppress in grid tables too; by default they take the cell key method with
    /// the shipped p-table, as the 2021 census round did.
    #[arg(long)]
    suppress_grid: bool,
}

impl CkmFlags {
    pub fn method(&self) -> anyhow::Result<Method> {
        let ptable = match &self.ptable {
            Some(path) => {
                let text = fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                PTable::read(&text).with_context(|| path.display().to_string())?
            }
            None => PTable::shipped(),
        };
        Ok(Method::Ckm {
            ptable,
            options: CkmOptions {
                keep_totals_of: self.keep_totals.clone(),
            },
        })
    }
}

impl SuppressFlags {
    pub fn method(&self) -> Method {
        Method::Suppress(SuppressOptions {
            threshold: self.threshold,
            protection: self.protection,
            suppress_zeros: self.suppress_zeros,
            suppress_grid: self.suppress_grid,
        })
    }
}

#[derive(Args)]
pub struct CkmArgs {
    #[command(flatten)]
    flags: CkmFlags,
    #[command(flatten)]
    io: ApplyIo,
}

#[derive(Args)]
pub struct SuppressArgs {
    #[command(flatten)]
    flags: SuppressFlags,
    #[command(flatten)]
    io: ApplyIo,
}

#[derive(Args)]
pub struct ApplyIo {
    /// Directory for `<id>.protected.json`, created if missing.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the audit reports as JSON.
    #[arg(long)]
    json: bool,
    /// Table files (`<id>.table.json`) or directories of them; suppression protects
    /// them all together because they share cells.
    #[arg(required = true, value_name = "TABLE")]
    tables: Vec<PathBuf>,
}

#[derive(Args)]
pub struct AuditArgs {
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
    /// Protected tables (`<id>.protected.json`) or directories of them. Where the
    /// original `<id>.table.json` lies beside one (the internal side), the audit uses
    /// the true values; otherwise it attacks only what is published.
    #[arg(required = true, value_name = "TABLE")]
    tables: Vec<PathBuf>,
    /// The census schema whose implications the attacker also knows, for tables
    /// written before tables carried them (a dimension without bounds gets them).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
}

pub fn run(cmd: ProtectCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProtectCommand::Ptable(a) => ptable(a),
        ProtectCommand::Ckm(a) => apply(&a.io, &a.flags.method()?),
        ProtectCommand::Suppress(a) => apply(&a.io, &a.flags.method()),
        ProtectCommand::Audit(a) => audit_files(&a),
    }
}

fn apply(io: &ApplyIo, method: &Method) -> anyhow::Result<ExitCode> {
    let tables = files_with_suffix(&io.tables, ".table.json")?
        .iter()
        .map(|p| read_table(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let protected = protect_into(&tables, method, &io.out)?;
    Ok(exit_code(print_reports(&audits(&protected), io.json)?))
}

fn ptable(a: PtableArgs) -> anyhow::Result<ExitCode> {
    let params = PTableParams {
        max_deviation: a.max_deviation,
        variance: a.variance,
        js: a.js,
        pstay: a.pstay,
    };
    let csv = PTable::generate(&params)?.write();
    match &a.out {
        Some(path) => {
            fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{csv}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Protects tables and writes `<id>.protected.json` into `out`.
pub fn protect_into(
    tables: &[Table],
    method: &Method,
    out: &Path,
) -> anyhow::Result<Vec<ProtectedTable>> {
    let started = Instant::now();
    let protected = protect(tables, method)?;
    let seconds = started.elapsed().as_secs_f64();
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for p in &protected {
        let path = out.join(format!("{}.protected.json", p.id));
        fs::write(&path, p.write()).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "{} tables protected in {:.3} s into {}",
        protected.len(),
        seconds,
        out.display()
    );
    Ok(protected)
}

/// Each protected table's audit, by table id.
pub fn audits(protected: &[ProtectedTable]) -> Vec<(&str, &AuditReport)> {
    protected
        .iter()
        .map(|p| (p.id.as_str(), &p.protection.audit))
        .collect()
}

/// Exit 1 if an audit failed (the files stay written, for inspection).
pub fn exit_code(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn audit_files(a: &AuditArgs) -> anyhow::Result<ExitCode> {
    let paths = files_with_suffix(&a.tables, ".protected.json")?;
    let mut protected = Vec::new();
    let mut originals = Vec::new();
    for path in &paths {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let p = ProtectedTable::read(&bytes)
            .map_err(anyhow::Error::msg)
            .with_context(|| path.display().to_string())?;
        let original = path.with_file_name(format!("{}.table.json", p.id));
        if original.exists() {
            originals.push(read_table(&original)?);
        }
        protected.push(p);
    }
    if let Some(path) = &a.schema {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let schema = Schema::parse(&text).map_err(|e| e.in_file(path.display()))?;
        let dimensions = protected
            .iter_mut()
            .flat_map(|p| p.dimensions.iter_mut())
            .chain(originals.iter_mut().flat_map(|t| t.dimensions.iter_mut()));
        for d in dimensions.filter(|d| d.bounds.is_empty()) {
            d.bounds = dimension_bounds(&schema, d);
        }
    }
    // Either every original is at hand or the audit is the public one.
    let originals = (originals.len() == protected.len()).then_some(originals.as_slice());
    let reports = audit(&protected, originals)?;
    let named: Vec<(&str, &AuditReport)> = protected
        .iter()
        .map(|p| p.id.as_str())
        .zip(&reports)
        .collect();
    Ok(exit_code(print_reports(&named, a.json)?))
}

/// The reports as one JSON object by table id.
pub fn reports_json(reports: &[(&str, &AuditReport)]) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::Value::Object(
        reports
            .iter()
            .map(|(id, r)| Ok((id.to_string(), serde_json::to_value(r)?)))
            .collect::<anyhow::Result<_>>()?,
    ))
}

/// Prints the reports (a line per table, or JSON); true if every audit passed.
pub fn print_reports(reports: &[(&str, &AuditReport)], json: bool) -> anyhow::Result<bool> {
    if json {
        println!("{}", serde_json::to_string_pretty(&reports_json(reports)?)?);
    } else {
        for (id, r) in reports {
            println!("{:<45} {}", id, summary(r));
            for f in &r.failures {
                println!("    {f}");
            }
        }
    }
    Ok(reports.iter().all(|(_, r)| r.passed))
}

/// One line per table: the verdict and the figures that back it.
pub fn summary(r: &AuditReport) -> String {
    let verdict = if r.passed { "pass" } else { "FAIL" };
    let mut parts = vec![format!("{verdict}  {:>7} cells", r.cells)];
    if let Some(s) = &r.suppression {
        parts.push(format!("{} suppressed", s.suppressed));
        if let (Some(p), Some(sec)) = (s.primary, s.secondary) {
            parts.push(format!("({p} primary, {sec} secondary)"));
        }
        parts.push(format!("{} exact", s.exact));
        if let Some(u) = s.under_protected {
            parts.push(format!("{u} under-protected"));
        }
    }
    if let Some(c) = &r.ckm {
        parts.push(format!("{} perturbed", c.perturbed));
        if c.unprotected_totals > 0 {
            parts.push(format!("{} exact totals", c.unprotected_totals));
        }
        if let (Some(share), Some(mad), Some(mean)) =
            (c.changed_share, c.mean_absolute_deviation, c.mean_deviation)
        {
            parts.push(format!(
                "{:.1}% changed, mean |dev| {mad:.2}, mean dev {mean:+.3}",
                share * 100.0
            ));
        }
        parts.push(format!("{} values in 1..={}", c.small_values, c.js));
    }
    parts.join(", ")
}

pub fn read_table(path: &Path) -> anyhow::Result<Table> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Table::read(&bytes)
        .map_err(anyhow::Error::msg)
        .with_context(|| path.display().to_string())
}

/// The files named, and in each directory named its files ending in `suffix`.
fn files_with_suffix(paths: &[PathBuf], suffix: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            found.retain(|p| p.to_string_lossy().ends_with(suffix));
            found.sort();
            if found.is_empty() {
                bail!("{}: no *{suffix} files", path.display());
            }
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}
