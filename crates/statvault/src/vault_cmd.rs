//! `statvault vault …`: each command turns its arguments into one library call.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use statvault_crypto::{Hash, PublicKey, VaultKeys};
use statvault_vault::s3::{LockMode, Retention, S3Backend};
use statvault_vault::{
    add, extend_retention, gc, replicate, restore, verify, AddOptions, Backend, InitOptions,
    LocalBackend, ObjectLock, ReplicateOptions, Repository, RestoreOptions, Vault, VerifyOptions,
};

use crate::cli::{RepoArg, RetentionCommand, SharesArg, VaultCommand};
use crate::custody_cmd::AgentArg;
use crate::shares::{passphrase_for_share, share_paths, ShareFiles};
use crate::terminal::Bar;

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// How many custodians receive a share of the master key.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=255))]
    custodians: u8,
    /// How many shares are needed to read or write the vault.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u8).range(1..=255))]
    threshold: u8,
    /// Directory that receives one share file per custodian.
    #[arg(long, value_name = "DIR")]
    shares_out: PathBuf,
    /// Protect each share with its custodian's passphrase (Argon2id); prompts for
    /// each, or reads one line per custodian from standard input.
    #[arg(long)]
    passphrase: bool,
    #[command(flatten)]
    lock: ObjectLockArgs,
}

/// Object Lock for a vault in S3.
#[derive(Args)]
pub struct ObjectLockArgs {
    /// Keep every object from deletion and overwrite (s3:// only; the bucket is
    /// created with Object Lock if it is missing): governance (a privileged user can
    /// lift it) or compliance (nobody can before the date).
    #[arg(long, value_name = "MODE")]
    object_lock: Option<LockMode>,
    /// How long each object is kept after it is written, then after each extension:
    /// days (90d) or years (7y).
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse_days, requires = "object_lock")]
    retention: u32,
}

impl ObjectLockArgs {
    /// Object Lock needs object storage.
    fn check(&self, repo: &Repository) -> anyhow::Result<()> {
        if self.object_lock.is_some() && matches!(repo, Repository::Local(_)) {
            bail!("--object-lock needs a vault in object storage (s3://BUCKET/PREFIX), not {repo}");
        }
        Ok(())
    }

    fn retention(&self) -> Option<Retention> {
        self.object_lock.map(|mode| Retention {
            mode,
            days: self.retention,
        })
    }
}

/// `90d` or `7y` (365 days each) as days.
fn parse_days(text: &str) -> Result<u32, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u32 = number
        .parse()
        .map_err(|_| format!("{text:?}: a number of days or years, as 90d or 7y"))?;
    let days = match unit {
        "d" => Some(n),
        "y" => n.checked_mul(365),
        _ => None,
    };
    days.filter(|d| (1..=36_500).contains(d))
        .ok_or_else(|| format!("{text:?}: between 1d and 100y, as 90d or 7y"))
}

#[derive(Args)]
pub struct ReplicateArgs {
    /// The vault to copy: a directory or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "REPO")]
    from: Repository,
    /// The replica: created on the first run (a bucket with versioning, and Object
    /// Lock with --object-lock); then only extended.
    #[arg(long, value_name = "REPO")]
    to: Repository,
    /// Run again every SECS seconds, for ever (a refused source stops it, exit 1).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// The vault's signing key as 'vault init' printed it: the source must carry it.
    /// Without it the first replication pins the source's key at the replica.
    #[arg(long, value_name = "HEX|FILE", value_parser = parse_kept_key)]
    key: Option<PublicKey>,
    #[command(flatten)]
    lock: ObjectLockArgs,
    /// Print each round's report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    repo: RepoArg,
}

#[derive(Args)]
pub struct ExtendArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct SetRetentionArgs {
    #[command(flatten)]
    repo: RepoArg,
    #[command(flatten)]
    lock: ObjectLockArgs,
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    repo: RepoArg,
    #[command(flatten)]
    shares: SharesArg,
    #[command(flatten)]
    agent: AgentArg,
    /// A label recorded in the snapshot (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Fail and commit nothing rather than skip unreadable, special or changing files.
    #[arg(long)]
    strict: bool,
    /// Print the report as JSON instead of the bare snapshot id.
    #[arg(long)]
    json: bool,
    /// Files and directories to add.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// With shares, also show each snapshot's paths, tags, file count and size.
    #[command(flatten)]
    shares: SharesArg,
    /// Print JSON (with the log head to keep) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    repo: RepoArg,
    #[command(flatten)]
    shares: SharesArg,
    #[command(flatten)]
    agent: AgentArg,
    /// Snapshot id, a unique prefix of one, or "latest".
    #[arg(value_name = "SNAPSHOT")]
    snapshot: String,
    /// Directory to restore into; it must be new or empty unless --force.
    #[arg(long, value_name = "DIR")]
    target: PathBuf,
    /// Restore into a non-empty directory, replacing files in the way.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// With shares, also decrypt the index and snapshots (and with --read-data, every
    /// chunk).
    #[command(flatten)]
    shares: SharesArg,
    #[command(flatten)]
    agent: AgentArg,
    /// Read every pack: hash it, and with shares decrypt and re-hash every chunk.
    #[arg(long)]
    read_data: bool,
    /// A log head you kept (from 'vault snapshots --json'); the log must still hold it,
    /// which detects a truncated or rewritten log.
    #[arg(long, value_name = "HASH")]
    head: Option<Hash>,
    /// The vault's signing key as 'vault init' printed it (64 hex digits, or a file
    /// holding them): the config must still name it, which detects a vault whose
    /// config and whole log were rewritten with another key.
    #[arg(long, value_name = "HEX|FILE", value_parser = parse_kept_key)]
    key: Option<PublicKey>,
    /// Print the report as JSON: problems, leftovers and counts.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GcArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// A log head you kept: gc refuses to run if the log no longer holds it.
    #[arg(long, value_name = "HASH")]
    head: Option<Hash>,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(cmd: VaultCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        VaultCommand::Replicate(a) => replicate_cmd(a),
        VaultCommand::Unlock(a) => unlock_cmd(a),
        VaultCommand::Retention(RetentionCommand::Extend(a)) => extend_cmd(a),
        VaultCommand::Retention(RetentionCommand::Set(a)) => set_retention_cmd(a),
        VaultCommand::Init(a) => init(a),
        VaultCommand::Add(a) => add_cmd(a),
        VaultCommand::Snapshots(a) => snapshots(a),
        VaultCommand::Restore(a) => restore_cmd(a),
        VaultCommand::Verify(a) => verify_cmd(a),
        VaultCommand::Gc(a) => gc_cmd(a),
        VaultCommand::Agent(a) => crate::custody_cmd::agent(a),
        VaultCommand::Unseal(a) => crate::custody_cmd::unseal(a),
        VaultCommand::Seal(a) => crate::custody_cmd::seal(a),
        VaultCommand::Status(a) => crate::custody_cmd::status(a),
        VaultCommand::Audit(a) => crate::custody_cmd::audit(a),
    }
}

pub fn open(repo: &RepoArg) -> anyhow::Result<Vault> {
    let backend = repo
        .repo
        .backend()
        .with_context(|| format!("vault {}", repo.repo))?;
    Vault::open(backend).with_context(|| format!("vault {}", repo.repo))
}

/// The backend for a new vault: the directory is made, or the bucket created with
/// versioning (and Object Lock if asked), and the retention recorded.
fn create_backend(repo: &Repository, lock: &ObjectLockArgs) -> anyhow::Result<Arc<dyn Backend>> {
    match repo {
        Repository::Local(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok(Arc::new(LocalBackend::new(dir)))
        }
        Repository::S3(url) => {
            let s3 = S3Backend::from_env(url).with_context(|| format!("vault {url}"))?;
            let bucket = &s3.location().bucket;
            if s3
                .create_bucket(lock.object_lock.is_some())
                .with_context(|| format!("creating bucket {bucket}"))?
            {
                eprintln!(
                    "created bucket {bucket} with versioning{}",
                    if lock.object_lock.is_some() {
                        " and Object Lock"
                    } else {
                        ""
                    }
                );
            }
            if let Some(retention) = lock.retention() {
                s3.set_retention(retention)
                    .with_context(|| format!("setting Object Lock on {url}"))?;
            }
            Ok(Arc::new(s3))
        }
    }
}

pub fn unlock(vault: &Vault, shares: &SharesArg) -> anyhow::Result<VaultKeys> {
    Ok(vault.unlock(&share_paths(shares), &mut passphrase_for_share)?)
}

fn init(a: InitArgs) -> anyhow::Result<ExitCode> {
    if a.threshold > a.custodians {
        bail!(
            "--threshold {} is more than --custodians {}",
            a.threshold,
            a.custodians
        );
    }
    a.lock.check(&a.repo.repo)?;
    let share_files = ShareFiles::prepare(&a.shares_out, a.custodians, a.passphrase)?;
    let backend = create_backend(&a.repo.repo, &a.lock)?;
    let (vault, master) = Vault::init(backend, a.custodians, a.threshold, &InitOptions::default())?;
    for (i, path) in share_files
        .write(&master, &vault.config.identity())?
        .iter()
        .enumerate()
    {
        eprintln!(
            "share for custodian {} of {}: {}",
            i + 1,
            a.custodians,
            path.display()
        );
    }
    let state = vault.head()?;
    eprintln!("vault {} created in {}", vault.config.vault_id, a.repo.repo);
    eprintln!("{} of {} shares are needed to read or write it. Hand each share file to its custodian and delete it here.", a.threshold, a.custodians);
    eprintln!(
        "signing key {}: custodians keep it with the log head below, off this host; 'vault verify --key' and '--head' check the vault against them",
        vault.config.public_key().to_hex()
    );
    println!("{}", state.head().1);
    Ok(ExitCode::SUCCESS)
}

fn add_cmd(a: AddArgs) -> anyhow::Result<ExitCode> {
    let report = match a.agent.client() {
        Some(agent) => serde_json::from_value(agent.add(&a.paths, &a.tags)?)?,
        None => {
            let vault = open(&a.repo)?;
            let keys = unlock(&vault, &a.shares)?;
            let opts = AddOptions {
                tags: a.tags,
                strict: a.strict,
                ..AddOptions::default()
            };
            add(&vault, &keys, &a.paths, &opts, &Bar::new())?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        eprintln!(
            "{} files, {} dirs, {} bytes ({} files unchanged); {} new chunks, {} new bytes stored as {} bytes in {} packs; log head {} (entry {})",
            report.files, report.dirs, report.bytes, report.unchanged_files, report.new_chunks, report.new_bytes,
            report.stored_bytes, report.packs, report.log_head, report.log_seq
        );
        if !report.skipped.is_empty() {
            eprintln!(
                "{} item(s) skipped, see the warnings above",
                report.skipped.len()
            );
        }
        println!("{}", report.snapshot);
    }
    Ok(ExitCode::SUCCESS)
}

fn snapshots(a: SnapshotsArgs) -> anyhow::Result<ExitCode> {
    let vault = open(&a.repo)?;
    let state = vault.head()?;
    let keys = if share_paths(&a.shares).is_empty() {
        None
    } else {
        Some(unlock(&vault, &a.shares)?)
    };
    let mut rows = Vec::new();
    for (id, entry) in state.snapshots() {
        let mut row = serde_json::json!({
            "id": id, "log_seq": entry.seq, "time": entry.time,
            "objects_added": entry.added.len(), "bytes_added": entry.added.iter().map(|o| o.size).sum::<u64>(),
        });
        if let Some(keys) = &keys {
            let snap = vault.load_snapshot(keys, &state, id)?;
            row["paths"] = snap
                .paths
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            row["tags"] = snap
                .tags
                .iter()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect();
            row["files"] = snap.file_count().into();
            row["bytes"] = snap.total_bytes().into();
        }
        rows.push(row);
    }
    let (head, head_hash) = state.head();
    if a.json {
        let out = serde_json::json!({
            "vault_id": vault.config.vault_id, "head": head_hash, "head_seq": head.seq, "snapshots": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:<16} {:>5} {:<20} {:>14}  paths",
            "snapshot", "entry", "time (UTC)", "bytes"
        );
        for r in &rows {
            println!(
                "{:<16} {:>5} {:<20} {:>14}  {}",
                &r["id"].as_str().unwrap_or_default()[..16],
                r["log_seq"],
                statvault_release::meta::utc_time(r["time"].as_u64().unwrap_or(0)),
                r.get("bytes").map_or("-".into(), |b| b.to_string()),
                r.get("paths")
                    .and_then(|p| p.as_array())
                    .map_or("(needs shares)".into(), |p| {
                        p.iter()
                            .filter_map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    }),
            );
        }
        println!(
            "log head {head_hash} (entry {}): keep it to detect a truncated log",
            head.seq
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn restore_cmd(a: RestoreArgs) -> anyhow::Result<ExitCode> {
    if let Some(agent) = a.agent.client() {
        if a.force {
            bail!(
                "--force is not offered through the agent: restore into a new or empty directory"
            );
        }
        let files = agent.restore(&a.snapshot, &a.target)?;
        eprintln!(
            "restored {} files, {} bytes into {} (through the agent; regular files only)",
            files.len(),
            files.iter().map(|f| f.size).sum::<u64>(),
            a.target.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let vault = open(&a.repo)?;
    let keys = unlock(&vault, &a.shares)?;
    let report = restore(
        &vault,
        &keys,
        &a.snapshot,
        &a.target,
        &RestoreOptions { force: a.force },
        &Bar::new(),
    )?;
    eprintln!(
        "restored snapshot {}: {} files, {} dirs, {} symlinks, {} bytes into {}",
        report.snapshot,
        report.files,
        report.dirs,
        report.symlinks,
        report.bytes,
        a.target.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify_cmd(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let (report, decrypted) = match a.agent.client() {
        Some(agent) => {
            if a.head.is_some() || a.key.is_some() {
                bail!(
                    "--head and --key are checked without the agent: 'vault verify --repo' alone"
                );
            }
            let (answer, _) = agent.ask(&statvault_agent::wire::Request::Verify {
                read_data: a.read_data,
            })?;
            let statvault_agent::wire::Answer::Verified { report, decrypted } = answer else {
                bail!("an unexpected answer: {answer:?}");
            };
            (serde_json::from_value(report)?, decrypted)
        }
        None => {
            let vault = open(&a.repo)?;
            let keys = if share_paths(&a.shares).is_empty() {
                None
            } else {
                Some(unlock(&vault, &a.shares)?)
            };
            let opts = VerifyOptions {
                keys: keys.as_ref(),
                read_data: a.read_data,
                kept_head: a.head,
                kept_key: a.key,
            };
            (verify(&vault, &opts, &Bar::new())?, keys.is_some())
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            println!("damaged: {p}");
        }
        for l in &report.leftovers {
            println!("leftover: {l} (not committed by the log; 'vault gc' removes it)");
        }
        let depth = match (decrypted, a.read_data) {
            (false, false) => "log, signatures, object sizes and metadata hashes (no shares: contents not decrypted)",
            (false, true) => "log, signatures and every file's hash (no shares: chunks not decrypted)",
            (true, false) => "log, signatures, metadata, index and snapshots (packs not read: add --read-data)",
            (true, true) => "everything: log, signatures, index, snapshots and every chunk",
        };
        eprintln!(
            "checked {depth}: {} log entries, {} snapshots, {} objects, {} packs read, {} chunks re-hashed",
            report.log_entries, report.snapshots, report.objects, report.packs_read, report.chunks_checked
        );
        if let Some(head) = report.head {
            eprintln!("log head {head}");
        }
        if report.problems.is_empty() && report.anchored {
            eprintln!("no damage found");
        } else if report.problems.is_empty() {
            eprintln!("no damage found, but unanchored: without --head, --key or shares this only shows that the vault agrees with itself (a config and log rewritten with another key would pass)");
        } else {
            eprintln!("{} damaged object(s)", report.problems.len());
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--key`: 64 hex digits, or a file that holds them.
pub fn parse_kept_key(text: &str) -> Result<PublicKey, String> {
    if let Ok(key) = PublicKey::from_hex(text) {
        return Ok(key);
    }
    let held = fs::read_to_string(text)
        .map_err(|e| format!("neither 64 hex digits nor a readable file ({text}: {e})"))?;
    PublicKey::from_hex(held.trim()).map_err(|e| format!("{text}: {e}"))
}

fn replicate_cmd(a: ReplicateArgs) -> anyhow::Result<ExitCode> {
    let from = a
        .from
        .backend()
        .with_context(|| format!("source {}", a.from))?;
    let to = create_backend(&a.to, &a.lock).with_context(|| format!("replica {}", a.to))?;
    let opts = ReplicateOptions { key: a.key };
    loop {
        let started = std::time::Instant::now();
        match replicate(from.clone(), to.clone(), &opts, &Bar::new()) {
            Ok(report) if a.json => println!("{}", serde_json::to_string(&report)?),
            Ok(report) => eprintln!(
                "{} → {}: {} entries and {} objects ({} bytes) copied, {} already there; both hold log head {} (entry {}) and {} audit records ({} audit objects copied) [{:.1} s]",
                a.from,
                a.to,
                report.entries_copied,
                report.objects_copied,
                report.bytes_copied,
                report.objects_present,
                report.head.map_or("-".into(), |h| h.to_hex()),
                report.head_seq,
                report.audit_records,
                report.audit_copied,
                started.elapsed().as_secs_f64()
            ),
            // A refused source (forked, rolled back, another key) stops replication.
            Err(e) if e.is_damage() || a.interval.is_none() => {
                return Err(anyhow::Error::new(e).context(format!("replicating {} to {}", a.from, a.to)))
            }
            Err(e) => eprintln!("replicating {} to {}: {e} (retrying in {} s)", a.from, a.to, a.interval.unwrap_or(0)),
        }
        match a.interval {
            Some(secs) => std::thread::sleep(std::time::Duration::from_secs(secs)),
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn unlock_cmd(a: UnlockArgs) -> anyhow::Result<ExitCode> {
    let backend = a
        .repo
        .repo
        .backend()
        .with_context(|| format!("vault {}", a.repo.repo))?;
    match backend
        .break_lock()
        .with_context(|| format!("removing the write lock of {}", a.repo.repo))?
    {
        Some(holder) => eprintln!(
            "removed the write lock of {} (held by {holder})",
            a.repo.repo
        ),
        None => eprintln!("{} has no write lock to remove", a.repo.repo),
    }
    Ok(ExitCode::SUCCESS)
}

fn extend_cmd(a: ExtendArgs) -> anyhow::Result<ExitCode> {
    let vault = open(&a.repo)?;
    let Some(report) = extend_retention(&vault, false, &Bar::new())? else {
        bail!(
            "{} has no Object Lock retention ('vault retention set' turns it on)",
            a.repo.repo
        );
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        eprintln!(
            "{} objects checked, {} extended ({:?}, {} days); the earliest retention now ends {}",
            report.checked,
            report.extended,
            report.retention.mode,
            report.retention.days,
            report
                .earliest_end
                .map_or("-".into(), statvault_vault::s3::iso_date)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn set_retention_cmd(a: SetRetentionArgs) -> anyhow::Result<ExitCode> {
    let Some(retention) = a.lock.retention() else {
        bail!("name the mode: --object-lock governance|compliance");
    };
    let vault = open(&a.repo)?;
    let lock = vault.backend().object_lock().with_context(|| {
        format!(
            "{}: Object Lock needs a vault in object storage",
            a.repo.repo
        )
    })?;
    lock.set_retention(retention)
        .with_context(|| format!("setting Object Lock on {}", a.repo.repo))?;
    let report = extend_retention(&vault, false, &Bar::new())?
        .context("the retention just set does not read back")?;
    eprintln!(
        "Object Lock {:?} for {} days; {} objects checked, {} extended",
        report.retention.mode, report.retention.days, report.checked, report.extended
    );
    Ok(ExitCode::SUCCESS)
}

fn gc_cmd(a: GcArgs) -> anyhow::Result<ExitCode> {
    let vault = open(&a.repo)?;
    let removed = gc(&vault, a.head, a.dry_run)?;
    let verb = if a.dry_run { "would remove" } else { "removed" };
    for name in &removed {
        println!("{verb} {name}");
    }
    eprintln!("{verb} {} leftover object(s)", removed.len());
    Ok(ExitCode::SUCCESS)
}
