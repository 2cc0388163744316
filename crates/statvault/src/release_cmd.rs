//! `statvault release …`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use statvault_crypto::share::{combine_release_key, release_key_identity, ShareFile};
use statvault_crypto::{MasterKey, ReleaseKey};
use statvault_release::calendar::{self, Calendar, Change};
use statvault_release::minisign::MinisignKey;
use statvault_release::tlog::TransparencyLog;
use statvault_release::{sign, verify, Signer, VerifyOptions};

use crate::shares::{passphrase_for_share, ShareFiles};

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Builds a release bundle from protected tables: every table as CSV, SDMX-CSV,
    /// JSON-stat, PX and XLSX, the metadata, and a manifest of hashes and provenance.
    Build(BuildArgs),
    /// Creates the office's release signing key: a passphrase-protected key file, or
    /// shares for K of N custodians; writes the public key in minisign's format.
    Keygen(KeygenArgs),
    /// Signs a built bundle (minisign format) and logs it in the transparency log
    /// beside it; records the release in the calendar.
    Sign(SignArgs),
    /// Signs a new version of a published release, with the reason for the revision;
    /// every earlier version stays available.
    Revise(ReviseArgs),
    /// Checks a bundle: signature, every file's hashes, no file added or missing,
    /// inclusion in the transparency log, and the log's consistency with a checkpoint
    /// kept earlier. Exit 1 naming every problem.
    Verify(VerifyArgs),
    /// Announces a release for a date in the calendar (and the log).
    Schedule(ScheduleArgs),
    /// Moves a scheduled release to a later date, with a reason.
    Postpone(PostponeArgs),
    /// Withdraws a release, with a reason; its bundles stay available.
    Withdraw(NoticeArgs),
    /// Prints the release calendar.
    Calendar(CalendarArgs),
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

#[derive(Args)]
pub struct KeygenArgs {
    /// Write the key to this file, sealed with a passphrase (asked on the terminal or
    /// read as one line of standard input).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["custodians", "shares_out"])]
    out: Option<PathBuf>,
    /// Instead, split the key among this many custodians…
    #[arg(long, value_name = "N", requires_all = ["threshold", "shares_out"],
          value_parser = clap::value_parser!(u8).range(1..=255))]
    custodians: Option<u8>,
    /// …any K of whom can sign.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u8).range(1..=255))]
    threshold: Option<u8>,
    /// Directory that receives one share file per custodian.
    #[arg(long, value_name = "DIR")]
    shares_out: Option<PathBuf>,
    /// Protect each custodian's share with a passphrase too.
    #[arg(long)]
    passphrase: bool,
    /// Where to write the public key (minisign format).
    #[arg(long, value_name = "FILE")]
    pubkey: PathBuf,
}

/// The release signing key: its key file, or K custodians' share files.
#[derive(Args)]
pub struct KeyArg {
    /// The key file, or a custodian's share of the key (repeat for K shares).
    /// Defaults to the comma-separated paths in STATVAULT_RELEASE_KEY.
    #[arg(
        long = "key",
        value_name = "FILE",
        env = "STATVAULT_RELEASE_KEY",
        value_delimiter = ',',
        required = true
    )]
    keys: Vec<PathBuf>,
    /// The signer's own record of the log it signed, kept on the office side where
    /// the releases directory's writers cannot reach it; the log is extended only if
    /// it is exactly that record. Default: $XDG_STATE_HOME/statvault/signer, else
    /// ~/.local/state/statvault/signer.
    #[arg(long, value_name = "DIR", env = "STATVAULT_SIGNER_STATE")]
    signer_state: Option<PathBuf>,
}

impl KeyArg {
    /// Unlocks the key and pairs it with its record.
    fn signer(&self) -> anyhow::Result<Signer> {
        let state = match &self.signer_state {
            Some(dir) => dir.clone(),
            None => statvault_release::signer::default_state_root()
                .context("no directory for the signer's record: give --signer-state or set HOME")?,
        };
        Ok(Signer::new(unlock_key(&self.keys)?, state))
    }
}

/// Runs a command that extends the log, and says so when it started the signer's
/// record (from the log's checkpoint signed by this key).
fn with_signer<T>(
    key: &KeyArg,
    extend: impl FnOnce(&Signer) -> Result<T, statvault_release::ReleaseError>,
) -> anyhow::Result<T> {
    let signer = key.signer()?;
    let had_record = signer.has_record();
    let done = extend(&signer)?;
    if !had_record {
        eprintln!(
            "note: started the signer's record in {}; later commands extend the log only if it is what this record says was signed",
            signer.state_dir().display()
        );
    }
    Ok(done)
}

#[derive(Args)]
pub struct SignArgs {
    #[command(flatten)]
    key: KeyArg,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The bundle (`release build --out`); its log and calendar are beside it.
    #[arg(value_name = "DIR")]
    bundle: PathBuf,
}

#[derive(Args)]
pub struct ReviseArgs {
    #[command(flatten)]
    key: KeyArg,
    /// Why this version replaces the previous one (published with it).
    #[arg(long)]
    reason: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The bundle of the new version, built with `version` one more than the last.
    #[arg(value_name = "DIR")]
    bundle: PathBuf,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The office's public key (minisign format). Without it, the key beside the log
    /// is used, which shows the bundle is intact but not who signed it.
    #[arg(long, value_name = "FILE")]
    pubkey: Option<PathBuf>,
    /// The release id the bundle must be (e.g. the one in the address it came from).
    #[arg(long, value_name = "ID")]
    release: Option<String>,
    /// A signed checkpoint you kept from the log earlier: the log must extend it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// The transparency log directory (default: `log/` beside the bundle).
    #[arg(long, value_name = "DIR")]
    log: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The bundle directory.
    #[arg(value_name = "DIR")]
    bundle: PathBuf,
}

/// The releases directory: bundles, `log/`, `calendar.json`, `calendar.ics`.
#[derive(Args)]
pub struct ReleasesArg {
    #[arg(long, value_name = "DIR", env = "STATVAULT_RELEASES")]
    releases: PathBuf,
}

/// Which release in which releases directory, and the key that logs the change.
#[derive(Args)]
pub struct CalendarTarget {
    #[command(flatten)]
    releases: ReleasesArg,
    #[command(flatten)]
    key: KeyArg,
    /// The release id (lower-case letters, digits and '-').
    #[arg(long, value_name = "ID")]
    release: String,
}

#[derive(Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    target: CalendarTarget,
    #[arg(long, value_name = "TEXT")]
    title_sq: String,
    #[arg(long, value_name = "TEXT")]
    title_en: String,
    /// Release time, UTC: YYYY-MM-DDTHH:MM:SSZ.
    #[arg(long, value_name = "TIME")]
    at: String,
    /// The e-mail address that answers for the release: the calendar's ORGANIZER
    /// (iCalendar's PUBLISH method needs one for every release).
    #[arg(long, value_name = "EMAIL")]
    organizer: Option<String>,
}

#[derive(Args)]
pub struct PostponeArgs {
    #[command(flatten)]
    notice: NoticeArgs,
    /// The new release time, UTC: YYYY-MM-DDTHH:MM:SSZ.
    #[arg(long, value_name = "TIME")]
    new_date: String,
}

/// A change that must say why.
#[derive(Args)]
pub struct NoticeArgs {
    #[command(flatten)]
    target: CalendarTarget,
    /// Why (published in the calendar and the log), in the office's words.
    #[arg(long)]
    reason: String,
    /// The reason in Albanian, for readers of the Albanian pages and letters.
    #[arg(long, value_name = "TEXT")]
    reason_sq: Option<String>,
    /// The reason in English, for readers of the English pages and letters.
    #[arg(long, value_name = "TEXT")]
    reason_en: Option<String>,
}

impl NoticeArgs {
    /// The reasons given by language.
    fn reasons(&self) -> statvault_census::schema::Labels {
        [("sq", &self.reason_sq), ("en", &self.reason_en)]
            .into_iter()
            .filter_map(|(lang, text)| Some((lang.to_string(), text.clone()?)))
            .collect()
    }
}

#[derive(Args)]
pub struct CalendarArgs {
    #[command(flatten)]
    releases: ReleasesArg,
    /// The office's public key (minisign format) to check the log with; without it,
    /// the key beside the log (integrity, not origin).
    #[arg(long, value_name = "FILE")]
    pubkey: Option<PathBuf>,
    /// Print the calendar as JSON (the bytes of calendar.json).
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
        }
        ReleaseCommand::Keygen(a) => keygen(a)?,
        ReleaseCommand::Sign(a) => sign_cmd(&a.key, &a.bundle, None, a.json)?,
        ReleaseCommand::Revise(a) => sign_cmd(&a.key, &a.bundle, Some(&a.reason), a.json)?,
        ReleaseCommand::Verify(a) => return verify_cmd(a),
        ReleaseCommand::Schedule(a) => {
            let title = [("sq", a.title_sq), ("en", a.title_en)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            let change = Change::Schedule {
                title,
                release_time: &a.at,
                organizer: a.organizer.as_deref(),
            };
            calendar_change(&a.target, change)?
        }
        ReleaseCommand::Postpone(a) => {
            let change = Change::Postpone {
                reason: &a.notice.reason,
                reasons: a.notice.reasons(),
                new_time: &a.new_date,
            };
            calendar_change(&a.notice.target, change)?
        }
        ReleaseCommand::Withdraw(a) => {
            let change = Change::Withdraw {
                reason: &a.reason,
                reasons: a.reasons(),
            };
            calendar_change(&a.target, change)?
        }
        ReleaseCommand::Calendar(a) => {
            print_calendar(&a.releases.releases, a.pubkey.as_deref(), a.json)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn keygen(a: KeygenArgs) -> anyhow::Result<()> {
    if a.pubkey.exists() {
        bail!(
            "{} already exists; a key file is never overwritten",
            a.pubkey.display()
        );
    }
    let (files, custodians, threshold) = match (&a.out, a.custodians, a.threshold, &a.shares_out) {
        (Some(out), None, None, None) => (ShareFiles::at(vec![out.clone()], true)?, 1, 1),
        (None, Some(n), Some(k), Some(dir)) => {
            if k > n {
                bail!("--threshold {k} is more than --custodians {n}");
            }
            (ShareFiles::prepare(dir, n, a.passphrase)?, n, k)
        }
        _ => bail!("give --out FILE, or --custodians N --threshold K --shares-out DIR"),
    };
    let master = MasterKey::generate();
    let identity = release_key_identity(&master, custodians, threshold);
    let public = MinisignKey::of(identity.public_key);
    for path in files.write(&master, &identity)? {
        let what = if custodians == 1 { "key file" } else { "share" };
        eprintln!("release key {} {what}: {}", public.id_hex(), path.display());
    }
    fs::write(&a.pubkey, public.write())
        .with_context(|| format!("writing {}", a.pubkey.display()))?;
    println!(
        "public key {} written to {}",
        public.id_hex(),
        a.pubkey.display()
    );
    Ok(())
}

/// Reads the key file or share files and rebuilds the release key.
pub fn unlock_key(paths: &[PathBuf]) -> anyhow::Result<ReleaseKey> {
    let files = paths
        .iter()
        .map(|p| Ok((p.clone(), ShareFile::read(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(combine_release_key(&files, &mut passphrase_for_share)?)
}

fn sign_cmd(key: &KeyArg, bundle: &Path, reason: Option<&str>, json: bool) -> anyhow::Result<()> {
    let report = with_signer(key, |signer| sign(bundle, signer, reason))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "signed {} version {} with key {}: {} files; log entry {} of {}",
            report.release,
            report.version,
            report.key_id,
            report.files,
            report.log_index,
            report.tree_size
        );
        println!("trusted comment: {}", report.trusted_comment);
        if report.resumed {
            eprintln!(
                "note: the log already held this bundle's entry (a signing cut short); its proof and signature were written now"
            );
        }
    }
    Ok(())
}

fn verify_cmd(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let read = |p: &Path| fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let key = match &a.pubkey {
        Some(p) => Some(
            MinisignKey::read(&read(p)?).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        ),
        None => None,
    };
    let options = VerifyOptions {
        key,
        release: a.release,
        kept_checkpoint: a.checkpoint.as_deref().map(read).transpose()?,
        log: a.log,
    };
    let report = verify(&a.bundle, &options)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "release {} version {}: {} files, {} bytes, key {} ({})",
            report.release,
            report.version,
            report.files,
            report.bytes,
            report.key_id,
            report.key_source
        );
        if let (Some(i), Some(n)) = (report.log_index, report.tree_size) {
            println!("log entry {i} of a tree of {n}");
        }
        if let Some(size) = report.log_size {
            println!("the transparency log has {size} signed entries");
        }
        if report.unsigned_entries > 0 {
            println!(
                "warning: the log file holds {} entries past its signed checkpoint; nobody signed them and they were ignored (only the office appends to the log)",
                report.unsigned_entries
            );
        }
        for problem in &report.problems {
            println!("FAIL {problem}");
        }
        if report.passed() {
            if report.log_size.is_some() {
                println!("the log extends this bundle's checkpoint");
            }
            if let Some(size) = report.kept_checkpoint_size {
                println!("the log extends the checkpoint you kept ({size} entries)");
            }
            for news in &report.later {
                println!("LATER {news}");
            }
            if report.later.is_empty() {
                println!("verified: signed by {}", report.key_id);
            } else {
                println!(
                    "verified: signed by {}, but no longer current: see LATER above",
                    report.key_id
                );
            }
            if report.key_source != "given" {
                eprintln!(
                    "note: checked against the key beside the log; give --pubkey with the office's published key to know who signed"
                );
            }
        }
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn calendar_change(target: &CalendarTarget, change: Change) -> anyhow::Result<()> {
    let proof = with_signer(&target.key, |signer| {
        calendar::change(&target.releases.releases, &target.release, change, signer)
    })?;
    println!("{}", proof.entry);
    println!("logged as entry {} of {}", proof.index, proof.tree_size);
    Ok(())
}

/// Prints the calendar as the signed log says it (calendar.json is never read: it is
/// only a rendering, and anyone who writes the releases directory can change it).
fn print_calendar(releases: &Path, pubkey: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let log_dir = releases.join(statvault_release::names::LOG_DIR);
    let log = TransparencyLog::open(&log_dir)?;
    let signed = match log.checkpoint_text()? {
        None if log.size() == 0 => 0,
        None => bail!(
            "{}: the log has entries but no checkpoint",
            log_dir.display()
        ),
        Some(text) => {
            let key_file = pubkey.map_or_else(
                || log_dir.join(statvault_release::names::LOG_KEY_FILE),
                Path::to_path_buf,
            );
            let key = MinisignKey::read(
                &fs::read_to_string(&key_file)
                    .with_context(|| format!("reading {}", key_file.display()))?,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", key_file.display()))?;
            log.check(&text, &key.key)
                .map_err(|message| statvault_release::ReleaseError::Tampered {
                    path: log_dir
                        .join(statvault_release::names::CHECKPOINT_FILE)
                        .display()
                        .to_string(),
                    message,
                })?
                .size
        }
    };
    let calendar = Calendar::from_log(log.entries().take(signed as usize));
    if json {
        print!("{}", String::from_utf8(calendar.write())?);
        return Ok(());
    }
    for r in &calendar.releases {
        let title = r.title.get("en").unwrap_or(&r.release);
        println!(
            "{}  {:<10} {}  {title}",
            r.release_time,
            format!("{:?}", r.status).to_lowercase(),
            r.release
        );
        for n in &r.notices {
            let reason = n
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            println!(
                "    {} {:?} for {}{reason}",
                n.logged, n.kind, n.release_time
            );
        }
    }
    Ok(())
}
