//! The demo's custody step: the unseal agent, unsealed by three custodians, serving a
//! statistician's tabulation, refusing (and recording) the same account's attempt to
//! restore the census, sealed by an operator; then the audit log verified.
//!
//! The demo plays every account in one process, asking the agent as `Agent::handle`
//! is asked for each connection on its socket; `tests/custody.rs` does the same with
//! real OS users over the socket.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use statvault_agent::wire::{self, Answer, Request};
use statvault_agent::{Agent, AgentOptions, Peer, Policy};
use statvault_crypto::share::ShareFile;
use statvault_vault::audit::{records_since, verify_audit, Outcome};
use statvault_vault::Vault;

const POLICY: &str = r#"format = "statvault-agent-policy/1"
seal_after = "30m"
[roles.custodian]
users = ["ana", "besnik", "drita"]
[roles.statistician]
users = ["stat"]
quota = { period = "day", tabulations = 50, cells = 5000000 }
[roles.microdata]
users = ["erion"]
[roles.operator]
users = ["ops"]
"#;

const SMALL_SPEC: &str = r#"format = "statvault-table-spec/1"
[[table]]
id = "population_county_education_activity"
title = { sq = "Popullsia 15+ sipas qarkut, arsimit dhe aktivitetit", en = "Population 15+ by county, education and activity" }
dimensions = ["county", "education", "activity"]
where = { age = { min = 15, max = 120 } }
"#;

fn peer(user: &str, uid: u32) -> Peer {
    Peer {
        uid,
        user: user.into(),
        groups: Vec::new(),
    }
}

/// Asks the agent as `who`; returns its answer (the files that may follow are not
/// needed here).
fn ask(agent: &Agent, who: &Peer, request: Request) -> anyhow::Result<Answer> {
    let mut wire_bytes = Vec::new();
    agent.handle(who, request, &mut std::io::empty(), &mut wire_bytes)?;
    Ok(wire::receive(&mut wire_bytes.as_slice())?)
}

pub fn custody(
    vault: &Vault,
    shares: &[PathBuf],
    snapshot: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let agent = Agent::open(
        vault.backend().clone(),
        AgentOptions {
            policy: Policy::parse("demo policy", POLICY)?,
            scratch: dir.join("agent-work"),
            syslog: None,
            column_cache: 0,
        },
    )?;
    let custodians = [("ana", 1001, 0), ("besnik", 1002, 2), ("drita", 1003, 4)];
    let mut kept = None;
    for (user, uid, share) in custodians {
        let path = &shares[share];
        let clear = ShareFile::read(path)?
            .unlocked(path, &mut |_| bail_passphrase())?
            .to_json();
        match ask(&agent, &peer(user, uid), Request::Unseal { share: clear })? {
            Answer::Share { shares, threshold } => {
                println!(
                    "   {user} gives custodian share {}: {shares} of {threshold}; still sealed",
                    share + 1
                )
            }
            Answer::Unsealed {
                custodians,
                checkpoint,
            } => {
                println!(
                    "   {user} gives custodian share {}: unsealed by custodians {custodians:?}",
                    share + 1
                );
                kept = checkpoint;
            }
            other => bail!("unsealing: {other:?}"),
        }
    }
    let stat = peer("stat", 1010);
    let tabulate = || {
        ask(
            &agent,
            &stat,
            Request::Tabulate {
                snapshot: snapshot.into(),
                spec: SMALL_SPEC.into(),
            },
        )
    };
    match tabulate()? {
        Answer::Tables { report, .. } => println!(
            "   stat tabulates through the agent: {} cells; the key never leaves the agent",
            report["tables"][0]["cells"]
        ),
        other => bail!("tabulating: {other:?}"),
    }
    match ask(
        &agent,
        &stat,
        Request::Restore {
            snapshot: snapshot.into(),
        },
    )? {
        Answer::Refused { reason } => {
            println!("   stat asks for the census microdata: refused ({reason})")
        }
        other => bail!("the statistician's restore was not refused: {other:?}"),
    }
    match ask(
        &agent,
        &peer("ops", 1020),
        Request::Seal {
            reason: Some("lockdown drill".into()),
        },
    )? {
        Answer::Sealed { .. } => {
            println!("   ops seals the agent (lockdown drill): the key is wiped")
        }
        other => bail!("sealing: {other:?}"),
    }
    match tabulate()? {
        Answer::Refused { reason } => println!("   stat tabulates again: refused ({reason})"),
        other => bail!("a sealed agent answered: {other:?}"),
    }
    drop(agent);

    let report = verify_audit(vault, &vault.config.public_key(), kept.as_deref())?;
    if !report.problems.is_empty() {
        bail!("the audit log does not verify: {:?}", report.problems);
    }
    let records = records_since(vault, 0)?;
    let attempt = records
        .iter()
        .find(|r| r.command == "restore" && r.outcome == Outcome::Refused)
        .context("the refused restore is not in the audit log")?;
    println!(
        "   audit log: {} records, {} signed, verified against the checkpoint kept at unseal; record {} shows {} (uid {}) refused a {}",
        report.records, report.signed, attempt.index, attempt.user, attempt.uid, attempt.command
    );
    Ok(())
}

fn bail_passphrase() -> Result<statvault_crypto::Passphrase, statvault_crypto::CryptoError> {
    Err(statvault_crypto::CryptoError::Shares(
        "the demo's shares have no passphrase".into(),
    ))
}
