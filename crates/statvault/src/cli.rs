use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{census_cmd, custody_cmd, demo, protect_cmd, release_cmd, site_cmd, vault_cmd};

/// statvault: official statistics that survive an attack.
///
/// Census microdata in a sealed, encrypted, tamper-evident vault; its tables published
/// as signed releases. Exit codes: 0 success, 1 a check found damage, 2 usage or input
/// error.
#[derive(Parser)]
#[command(name = "statvault", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The encrypted, deduplicated, tamper-evident store.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Census microdata: a synthetic census, validated ingest into the vault.
    #[command(subcommand)]
    Census(CensusCommand),
    /// Computes the tables of a spec from a census snapshot, all in one scan.
    Tabulate(census_cmd::TabulateArgs),
    /// Disclosure control: p-tables, the cell key method, suppression, audits.
    #[command(subcommand)]
    Protect(protect_cmd::ProtectCommand),
    /// Release bundles of protected tables.
    #[command(subcommand)]
    Release(release_cmd::ReleaseCommand),
    /// The public site: calendar, releases, tables, API, feed.
    #[command(subcommand)]
    Site(site_cmd::SiteCommand),
    /// The whole pipeline on a synthetic census, narrated, ending with the site.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Creates a vault and splits its master key among custodians.
    Init(vault_cmd::InitArgs),
    /// Adds files and directories as a new snapshot; prints the snapshot id.
    Add(vault_cmd::AddArgs),
    /// Lists snapshots and the log head to keep (no shares needed).
    Snapshots(vault_cmd::SnapshotsArgs),
    /// Restores a snapshot into a directory.
    Restore(vault_cmd::RestoreArgs),
    /// Checks the vault; exit 1 and a line per damaged object if anything is wrong.
    Verify(vault_cmd::VerifyArgs),
    /// Removes leftovers of interrupted writes (objects no log entry commits).
    Gc(vault_cmd::GcArgs),
    /// Removes the write lock a killed statvault process left on a vault in object
    /// storage. Run it only when no statvault process works on the vault.
    Unlock(vault_cmd::UnlockArgs),
    /// Copies a vault to a replica (any place to any place), checking every object and
    /// the signed log, needing no shares; never deletes or overwrites at the replica.
    Replicate(vault_cmd::ReplicateArgs),
    /// Object Lock retention of a vault in S3: set it, or extend it for every object
    /// the vault still references.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Runs the unseal agent: it holds the vault's key once K custodians unseal it, and
    /// serves vault operations on a Unix socket by role and quota, recording every
    /// request in the vault's audit log.
    Agent(custody_cmd::AgentArgs),
    /// Gives your custodian share to the agent (one custodian at a time).
    Unseal(custody_cmd::UnsealArgs),
    /// Lockdown: the agent wipes the key at once; operations in flight fail.
    Seal(custody_cmd::SealArgs),
    /// Whether the agent is sealed, and your roles.
    Status(custody_cmd::StatusArgs),
    /// The vault's audit log: every request to the agent, signed and chained.
    #[command(subcommand)]
    Audit(custody_cmd::AuditCommand),
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Moves the retention of every referenced object forward before it runs out
    /// ('vault add' does it too, for the objects that may be due).
    Extend(vault_cmd::ExtendArgs),
    /// Turns Object Lock on for an existing vault, or lengthens it (it never
    /// shortens: the strictest setting ever recorded applies).
    Set(vault_cmd::SetRetentionArgs),
}

#[derive(Subcommand)]
pub enum CensusCommand {
    /// Writes a deterministic synthetic census of Albania, one row per person.
    Synth(census_cmd::SynthArgs),
    /// Checks every record of a CSV or Parquet file against a schema; if all are
    /// valid, stores them in the vault as a new snapshot and prints its id.
    Ingest(census_cmd::IngestArgs),
}

/// Where the vault is.
#[derive(Args)]
pub struct RepoArg {
    /// The vault: a directory, or s3://BUCKET/PREFIX (endpoint, region and
    /// credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "STATVAULT_REPO", value_name = "DIR|s3://BUCKET/PREFIX")]
    pub repo: statvault_vault::Repository,
}

/// Custodian shares that unlock the vault.
#[derive(Args)]
pub struct SharesArg {
    /// A custodian's share file; repeat it for each share (K are needed). Defaults to
    /// the comma-separated paths in STATVAULT_SHARES.
    #[arg(long = "share", value_name = "FILE")]
    pub shares: Vec<PathBuf>,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Vault(cmd) => vault_cmd::run(cmd),
        Command::Census(CensusCommand::Synth(args)) => census_cmd::synth(args),
        Command::Census(CensusCommand::Ingest(args)) => census_cmd::ingest(args),
        Command::Tabulate(args) => census_cmd::tabulate(args),
        Command::Protect(cmd) => protect_cmd::run(cmd),
        Command::Release(cmd) => release_cmd::run(cmd),
        Command::Site(cmd) => site_cmd::run(cmd),
        Command::Demo(args) => demo::run(args),
    }
}
