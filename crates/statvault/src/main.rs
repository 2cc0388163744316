//! The `statvault` command: parses arguments, runs the command, maps the outcome to an
//! exit code (0 success, 1 a check found damage, 2 usage or input error).

mod census_cmd;
mod cli;
mod custody_cmd;
mod demo;
mod demo_custody;
mod protect_cmd;
mod release_cmd;
mod shares;
mod site_cmd;
mod terminal;
mod vault_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Most commands hold vault or release keys: no core file, no ptrace, whatever the
    // command (best effort: a refusal leaves the keys' own pages out of dumps anyway).
    let _ = statvault_crypto::protect_process();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", message(&err));
            exit_code_for(&err)
        }
    }
}

/// The error and its causes, outermost first. Library errors carry their cause in
/// their own text and never also as a source, so each shows once.
fn message(err: &anyhow::Error) -> String {
    err.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Damage found in the vault (or a tampered release log) is exit 1, like a failed
/// check; everything else
/// (bad arguments, unreadable input, wrong shares) is exit 2.
fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    let damage = err.chain().any(|e| {
        e.downcast_ref::<statvault_vault::VaultError>()
            .is_some_and(|v| v.is_damage())
            || e.downcast_ref::<statvault_census::CensusError>()
                .is_some_and(|c| c.is_damage())
            || e.downcast_ref::<statvault_release::ReleaseError>()
                .is_some_and(|r| r.is_damage())
            || e.downcast_ref::<statvault_agent::AgentError>()
                .is_some_and(|a| a.is_damage())
    });
    ExitCode::from(if damage { 1 } else { 2 })
}
