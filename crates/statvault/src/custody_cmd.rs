//! Custody: `vault agent`, `vault unseal`, `vault seal`, `vault status` and
//! `vault audit …`, and the `--agent` path of the commands that read the vault.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use statvault_agent::wire::{Answer, Request, Seal};
use statvault_agent::{Agent, AgentClient, AgentOptions, Policy};
use statvault_crypto::share::ShareFile;
use statvault_crypto::PublicKey;
use statvault_vault::audit::{hostname, records_since, syslog_line, verify_audit, AuditRecord};
use statvault_vault::utc::{parse_utc, utc_time};

use crate::cli::RepoArg;
use crate::shares::passphrase_for_share;
use crate::vault_cmd::{open, parse_kept_key};

/// The agent to ask instead of reading share files.
#[derive(Args, Clone)]
pub struct AgentArg {
    /// The unseal agent's socket ('vault agent'): the agent holds the key and does the
    /// work, within your roles and quotas, recorded in the audit log.
    #[arg(long = "agent", env = "STATVAULT_AGENT", value_name = "SOCKET")]
    pub socket: Option<PathBuf>,
}

impl AgentArg {
    pub fn client(&self) -> Option<AgentClient> {
        self.socket.as_ref().map(AgentClient::new)
    }
}

#[derive(Args)]
pub struct AgentArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// The Unix socket to serve on; a socket left by a dead agent is replaced.
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    /// Who holds which role, quotas and automatic sealing (TOML; see
    /// docs/agent-policy.md). Without it, only the agent's own user may do anything.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Seal after this long without a request (90s, 30m, 12h, 7d); overrides the
    /// policy's seal_after.
    #[arg(long, value_name = "DURATION", value_parser = statvault_agent::policy::parse_duration)]
    seal_after: Option<std::time::Duration>,
    /// Seal this long after unsealing, however busy; overrides the policy's max_unsealed.
    #[arg(long, value_name = "DURATION", value_parser = statvault_agent::policy::parse_duration)]
    max_unsealed: Option<std::time::Duration>,
    /// Private directory for work in progress (default: beside the socket).
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,
    /// Also send each audit record to this syslog server (RFC 5424 over UDP), for the
    /// office's SIEM.
    #[arg(long, value_name = "HOST:PORT")]
    syslog: Option<std::net::SocketAddr>,
    /// Memory for census columns decoded by tabulations, kept for the next ones while
    /// the agent is unsealed and wiped when it seals; 0 reads every column from the
    /// vault every time.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    column_cache_mib: usize,
}

#[derive(Args)]
pub struct UnsealArgs {
    #[command(flatten)]
    agent: RequiredAgent,
    /// Your share file; its passphrase is asked here and never sent.
    #[arg(long, value_name = "FILE")]
    share: PathBuf,
}

#[derive(Args)]
pub struct SealArgs {
    #[command(flatten)]
    agent: RequiredAgent,
    /// Why: recorded in the audit log.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    agent: RequiredAgent,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RequiredAgent {
    /// The unseal agent's socket.
    #[arg(long = "agent", env = "STATVAULT_AGENT", value_name = "SOCKET")]
    socket: PathBuf,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Lists the records (who, what, how much, outcome).
    List(AuditListArgs),
    /// Checks the audit log against its signed checkpoints and one you kept; exit 1
    /// on any damage, naming it. Prints the checkpoint to keep.
    Verify(AuditVerifyArgs),
    /// Writes the records as JSON lines, or as RFC 5424 syslog lines for a SIEM.
    Export(AuditExportArgs),
}

#[derive(Args)]
pub struct AuditListArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Only records from this time on (2026-11-30T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<u64>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// A checkpoint printed earlier (by unseal, seal or this command) and kept off the
    /// host: the log must still hold what it signs.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// The vault's signing key as 'vault init' printed it; without it, the key the
    /// vault's config names (which an intruder who replaced the config chose).
    #[arg(long, value_name = "HEX|FILE", value_parser = parse_kept_key)]
    key: Option<PublicKey>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AuditExportArgs {
    #[command(flatten)]
    repo: RepoArg,
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<u64>,
    /// jsonl (the records as stored) or syslog (RFC 5424, one line each).
    #[arg(long, value_name = "FORMAT", default_value = "jsonl", value_parser = ["jsonl", "syslog"])]
    format: String,
}

fn parse_time(text: &str) -> Result<u64, String> {
    parse_utc(text).ok_or_else(|| format!("{text:?}: a UTC time such as 2026-11-30T00:00:00Z"))
}

pub fn agent(a: AgentArgs) -> anyhow::Result<ExitCode> {
    let mut policy = match &a.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading policy {}", path.display()))?;
            Policy::parse(&path.display().to_string(), &text)?
        }
        None => Policy::only(&statvault_agent::peer::current().user),
    };
    policy.seal_after = a.seal_after.or(policy.seal_after);
    policy.max_unsealed = a.max_unsealed.or(policy.max_unsealed);
    let stop = statvault_agent::stop_on_signals();
    let backend = a
        .repo
        .repo
        .backend()
        .with_context(|| format!("vault {}", a.repo.repo))?;
    let scratch = a.scratch.clone().unwrap_or_else(|| {
        let mut name = a.socket.clone().into_os_string();
        name.push(".work");
        PathBuf::from(name)
    });
    let agent = Arc::new(
        Agent::open(
            backend,
            AgentOptions {
                policy,
                scratch,
                syslog: a.syslog,
                column_cache: a.column_cache_mib << 20,
            },
        )
        .with_context(|| format!("vault {}", a.repo.repo))?,
    );
    eprintln!(
        "agent for vault {} on {}: sealed; {} custodians' shares unseal it ('vault unseal')",
        agent.vault().config.vault_id,
        a.socket.display(),
        agent.vault().config.threshold
    );
    let served = agent
        .clone()
        .serve(&a.socket, &|| stop.load(Ordering::SeqCst));
    agent.shutdown("the agent stopped");
    eprintln!("stopped; the key is wiped");
    served?;
    Ok(ExitCode::SUCCESS)
}

pub fn unseal(a: UnsealArgs) -> anyhow::Result<ExitCode> {
    let file = ShareFile::read(&a.share)?;
    let clear = file.unlocked(&a.share, &mut passphrase_for_share)?;
    let client = AgentClient::new(&a.agent.socket);
    let (answer, _) = client.ask(&Request::Unseal {
        share: clear.to_json(),
    })?;
    match answer {
        Answer::Share { shares, threshold } => {
            eprintln!("share of custodian {} taken: {shares} of {threshold}; the agent stays sealed until {threshold} custodians have given theirs", file.custodian());
        }
        Answer::Unsealed {
            custodians,
            checkpoint,
        } => {
            eprintln!("unsealed by custodians {custodians:?}");
            print_checkpoint(checkpoint.as_deref());
        }
        other => bail!("an unexpected answer: {other:?}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn seal(a: SealArgs) -> anyhow::Result<ExitCode> {
    let client = AgentClient::new(&a.agent.socket);
    let (answer, _) = client.ask(&Request::Seal { reason: a.reason })?;
    let Answer::Sealed {
        in_flight,
        checkpoint,
    } = answer
    else {
        bail!("an unexpected answer: {answer:?}");
    };
    eprintln!("sealed: the key is wiped; {in_flight} operation(s) in flight were stopped; K custodians must unseal again");
    print_checkpoint(checkpoint.as_deref());
    Ok(ExitCode::SUCCESS)
}

fn print_checkpoint(checkpoint: Option<&str>) {
    if let Some(note) = checkpoint {
        eprintln!("audit log checkpoint (keep it off this host; 'vault audit verify --checkpoint FILE' checks the log against it):");
        print!("{note}");
    }
}

pub fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = AgentClient::new(&a.agent.socket);
    let (answer, _) = client.ask(&Request::Status)?;
    let Answer::Status {
        state,
        shares,
        threshold,
        vault_id,
        roles,
        unsealed_for,
        seals_in,
    } = &answer
    else {
        bail!("an unexpected answer: {answer:?}");
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    match state {
        Seal::Sealed => println!("sealed: {shares} of {threshold} shares given"),
        Seal::Unsealed => println!(
            "unsealed for {} s{}",
            unsealed_for.unwrap_or(0),
            seals_in.map_or(String::new(), |s| format!("; seals itself in {s} s"))
        ),
    }
    println!("vault {vault_id}; your roles: {}", roles.join(", "));
    Ok(ExitCode::SUCCESS)
}

pub fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::List(a) => {
            let vault = open(&a.repo)?;
            let records = records_since(&vault, a.since.unwrap_or(0))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&records)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:>6} {:<20} {:<12} {:<9} {:<8} {:>12}  details",
                "record", "time (UTC)", "user", "command", "outcome", "bytes/cells"
            );
            for r in &records {
                println!(
                    "{:>6} {:<20} {:<12} {:<9} {:<8} {:>12}  {}",
                    r.index,
                    utc_time(r.time),
                    format!("{}", r.user),
                    r.command,
                    format!("{:?}", r.outcome).to_lowercase(),
                    if r.cells > 0 { r.cells } else { r.bytes },
                    details(r)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify(a) => audit_verify(a),
        AuditCommand::Export(a) => {
            let vault = open(&a.repo)?;
            let host = hostname();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for r in records_since(&vault, a.since.unwrap_or(0))? {
                use std::io::Write;
                if a.format == "syslog" {
                    writeln!(out, "{}", syslog_line(&r, &host))?;
                } else {
                    writeln!(out, "{}", serde_json::to_string(&r)?)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn details(r: &AuditRecord) -> String {
    let mut parts = Vec::new();
    if !r.custodians.is_empty() {
        parts.push(format!("custodians {:?}", r.custodians));
    }
    if let Some(s) = &r.snapshot {
        parts.push(format!("snapshot {}", &s[..s.len().min(12)]));
    }
    if let Some(s) = &r.spec_sha256 {
        parts.push(format!("spec {}", &s[..12]));
    }
    if let Some(reason) = &r.reason {
        parts.push(reason.clone());
    }
    parts.join("; ")
}

fn audit_verify(a: AuditVerifyArgs) -> anyhow::Result<ExitCode> {
    let vault = open(&a.repo)?;
    let kept = a
        .checkpoint
        .as_deref()
        .map(|p: &Path| {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        })
        .transpose()?;
    let key = a.key.unwrap_or_else(|| vault.config.public_key());
    let report = verify_audit(&vault, &key, kept.as_deref())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            println!("damaged: {p}");
        }
        eprintln!(
            "{} records, {} signed by the newest checkpoint that verifies ({} checkpoints)",
            report.records, report.signed, report.checkpoints
        );
        if report.records > report.signed {
            eprintln!(
                "{} record(s) after it are not signed yet (written while sealed); the next unseal signs them",
                report.records - report.signed
            );
        }
        if report.problems.is_empty() {
            eprintln!(
                "no damage found{}",
                if kept.is_some() && a.key.is_some() {
                    ""
                } else {
                    " (unanchored without --checkpoint and --key: this shows only that the log agrees with itself)"
                }
            );
            print_checkpoint(report.checkpoint.as_deref());
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
