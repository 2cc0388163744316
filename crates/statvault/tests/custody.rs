//! Custody with real Unix sockets and real OS users (made here with useradd, run with
//! setpriv): the agent unsealed by K custodians from their own accounts, roles and
//! quotas from the policy, lockdown under load, a dead agent's socket, an audit log
//! that fails closed and whose tampering `vault audit verify` names.
//!
//! These tests need root (to make the users and act as them), as CI has.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run, statvault, synth, tree_bytes, Fault, Run, Workplace, SCHEMA, TABLES};

const CUSTODIANS: [&str; 3] = ["sv-ana", "sv-ben", "sv-drita"];
const STATISTICIAN: &str = "sv-stat";
const MICRODATA: &str = "sv-erion";
const STRANGER: &str = "sv-eve";

/// The test users, made once.
fn users() {
    static MADE: std::sync::Once = std::sync::Once::new();
    MADE.call_once(|| {
        // SAFETY: geteuid cannot fail.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the custody tests make OS users and act as them: run them as root"
        );
        for user in CUSTODIANS
            .iter()
            .chain(&[STATISTICIAN, MICRODATA, STRANGER])
        {
            let known = Command::new("id").arg(user).output().unwrap();
            if !known.status.success() {
                let made = Command::new("useradd")
                    .args(["--no-create-home", "--shell", "/usr/sbin/nologin", user])
                    .status()
                    .unwrap();
                assert!(made.success(), "useradd {user}");
            }
        }
    });
}

fn policy(quota: &str) -> String {
    format!(
        r#"format = "statvault-agent-policy/1"
[roles.custodian]
users = ["sv-ana", "sv-ben", "sv-drita"]
[roles.statistician]
users = ["sv-stat"]
{quota}
[roles.microdata]
users = ["sv-erion"]
[roles.operator]
users = ["root"]
"#
    )
}

/// A vault with a small census, its shares given to the custodians, and an agent.
struct Office {
    place: Workplace,
    socket: PathBuf,
    agent: Option<Child>,
}

impl Office {
    fn new(quota: &str) -> Office {
        users();
        let place = Workplace::new(3, 2);
        fs::set_permissions(place.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let census = place.path("census.csv").display().to_string();
        assert_eq!(synth("3000", "7", &census).code, 0);
        let r = place.command(
            &["census", "ingest"],
            2,
            &["--schema", SCHEMA, "--input", &census],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        fs::set_permissions(place.path("shares"), fs::Permissions::from_mode(0o755)).unwrap();
        for (share, user) in place.shares.iter().zip(CUSTODIANS) {
            chown(Path::new(share), user);
        }
        fs::write(place.path("policy.toml"), policy(quota)).unwrap();
        let mut office = Office {
            socket: place.path("agent.sock"),
            place,
            agent: None,
        };
        office.start_agent(None);
        office
    }

    fn start_agent(&mut self, fault: Option<Fault>) {
        self.start_agent_with(fault, &[]);
    }

    fn start_agent_with(&mut self, fault: Option<Fault>, extra: &[&str]) {
        let mut cmd = statvault();
        cmd.args(["vault", "agent", "--repo", &self.place.repo, "--socket"])
            .arg(&self.socket)
            .arg("--policy")
            .arg(self.place.path("policy.toml"))
            .args(extra)
            .stderr(Stdio::null());
        if let Some(fault) = fault {
            // The disk is full.
            fault
                .inject(&mut cmd)
                .env("FAULT_ERRNO", libc::ENOSPC.to_string());
        }
        self.agent = Some(cmd.spawn().unwrap());
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the agent did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill_agent(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }

    /// `statvault ARGS` as `user`.
    fn as_user(&self, user: &str, args: &[&str]) -> Run {
        Command::new("setpriv")
            .args(["--reuid", user, "--regid", user, "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_statvault"))
            .args(args)
            .env_remove("STATVAULT_SHARES")
            .current_dir(self.place.dir.path())
            .output()
            .unwrap()
            .into()
    }

    fn agent_arg(&self) -> String {
        self.socket.display().to_string()
    }

    fn unseal(&self, custodian: usize) -> Run {
        let share = self.place.shares[custodian].clone();
        self.as_user(
            CUSTODIANS[custodian],
            &[
                "vault",
                "unseal",
                "--agent",
                &self.agent_arg(),
                "--share",
                &share,
            ],
        )
    }

    /// A directory `user` may write.
    fn dir_for(&self, user: &str, name: &str) -> PathBuf {
        let dir = self.place.path(name);
        fs::create_dir_all(&dir).unwrap();
        chown(&dir, user);
        dir
    }

    fn tabulate(&self, user: &str, spec: &str, out: &Path) -> Run {
        self.as_user(
            user,
            &[
                "tabulate",
                "--repo",
                &self.place.repo,
                "--agent",
                &self.agent_arg(),
                "--snapshot",
                "latest",
                "--spec",
                spec,
                "--out",
                out.to_str().unwrap(),
            ],
        )
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        let r = run(&[
            "vault",
            "audit",
            "list",
            "--repo",
            &self.place.repo,
            "--json",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    }

    fn audit_verify(&self, extra: &[&str]) -> Run {
        let mut args = vec!["vault", "audit", "verify", "--repo", &self.place.repo];
        args.extend_from_slice(extra);
        run(&args)
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        self.kill_agent();
    }
}

fn chown(path: &Path, user: &str) {
    let status = Command::new("chown").arg(user).arg(path).status().unwrap();
    assert!(status.success());
}

fn refused_naming(r: &Run, what: &str) {
    assert_eq!(
        r.code, 2,
        "expected a refusal naming {what:?}: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(what),
        "expected {what:?} in: {}",
        r.stderr
    );
}

/// The records of `command` by `user`, as (outcome, reason).
fn recorded(records: &[serde_json::Value], user: &str, command: &str) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|r| r["user"] == user && r["command"] == command)
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn custodians_unseal_with_one_share_each_from_their_own_account() {
    let office = Office::new("");
    let other = Workplace::new(3, 2);
    let foreign = office.place.path("foreign.share");
    fs::copy(&other.shares[0], &foreign).unwrap();
    chown(&foreign, CUSTODIANS[1]);
    let agent = office.agent_arg();

    // A stolen share used from a statistician's account; a share of another vault;
    // then custodian 1's share twice.
    let stolen = office.place.path("stolen.share");
    fs::copy(&office.place.shares[0], &stolen).unwrap();
    chown(&stolen, STATISTICIAN);
    let r = office.as_user(
        STATISTICIAN,
        &[
            "vault",
            "unseal",
            "--agent",
            &agent,
            "--share",
            stolen.to_str().unwrap(),
        ],
    );
    refused_naming(&r, "needs custodian");
    let r = office.as_user(
        CUSTODIANS[1],
        &[
            "vault",
            "unseal",
            "--agent",
            &agent,
            "--share",
            foreign.to_str().unwrap(),
        ],
    );
    refused_naming(&r, "belongs to vault");
    let r = office.unseal(0);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("1 of 2"), "{}", r.stderr);
    refused_naming(&office.unseal(0), "already gave custodian 1's share");
    let status = office.as_user(STATISTICIAN, &["vault", "status", "--agent", &agent]);
    assert!(
        status.stdout.contains("sealed: 1 of 2"),
        "{}",
        status.stdout
    );

    // Custodian 2 unseals; the answer carries an audit checkpoint to keep.
    let r = office.unseal(1);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("statvault.audit/"), "{}", r.stdout);
    let status = office.as_user(STATISTICIAN, &["vault", "status", "--agent", &agent]);
    assert!(status.stdout.contains("unsealed"), "{}", status.stdout);
    refused_naming(&office.unseal(2), "already unsealed");

    let records = office.audit();
    assert_eq!(recorded(&records, STATISTICIAN, "unseal").len(), 1);
    assert!(recorded(&records, CUSTODIANS[1], "unseal")
        .iter()
        .any(|(o, why)| o == "refused" && why.contains("belongs to vault")));
    assert_eq!(
        recorded(&records, CUSTODIANS[0], "unseal")
            .iter()
            .map(|(o, _)| o.as_str())
            .collect::<Vec<_>>(),
        ["done", "refused"]
    );
    let kept = office.place.path("kept.checkpoint");
    fs::write(&kept, &r.stdout).unwrap();
    let verified = office.audit_verify(&["--checkpoint", kept.to_str().unwrap()]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
}

/// Finding: tabulating again through the agent into the same directory failed with
/// "File exists", where tabulating with shares replaces the tables. The second run
/// also answers from the columns the agent kept, which must give the same tables.
#[test]
fn tabulating_twice_through_the_agent_replaces_the_tables_from_its_kept_columns() {
    let office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(2).code, 0);
    let out = office.dir_for(STATISTICIAN, "tables").join("again");
    let first = office.tabulate(STATISTICIAN, TABLES, &out);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = tree_bytes(&out);
    let second = office.tabulate(STATISTICIAN, TABLES, &out);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(tree_bytes(&out), before);
}

#[test]
fn a_statistician_gets_tables_never_microdata_and_every_attempt_is_recorded() {
    let office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(2).code, 0);
    let out = office.dir_for(STATISTICIAN, "tables");
    let r = office.tabulate(STATISTICIAN, TABLES, &out.join("agent"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The same tables as a custodian's offline tabulation, byte for byte.
    let offline = office.place.path("offline");
    let r = office.place.command(
        &["tabulate"],
        2,
        &[
            "--snapshot",
            "latest",
            "--spec",
            TABLES,
            "--out",
            offline.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let strip = |tree: Vec<(PathBuf, Vec<u8>)>, root: &Path| {
        tree.into_iter()
            .map(|(p, b)| (p.strip_prefix(root).unwrap().to_path_buf(), b))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(tree_bytes(&out.join("agent")), &out.join("agent")),
        strip(tree_bytes(&offline), &offline)
    );

    // Microdata: refused to the statistician, given to the microdata role.
    let target = office.dir_for(STATISTICIAN, "restored");
    let restore = |user: &str, target: &Path| {
        office.as_user(
            user,
            &[
                "vault",
                "restore",
                "--repo",
                &office.place.repo,
                "--agent",
                &office.agent_arg(),
                "latest",
                "--target",
                target.to_str().unwrap(),
            ],
        )
    };
    refused_naming(
        &restore(STATISTICIAN, &target.join("census")),
        "needs microdata",
    );
    assert!(!target.join("census").exists());
    let granted = office.dir_for(MICRODATA, "granted");
    let r = restore(MICRODATA, &granted.join("census"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(fs::read_dir(granted.join("census"))
        .unwrap()
        .next()
        .is_some());

    // A table by a record key would isolate records; a stranger gets nothing.
    let spec = office.place.path("by-person.toml");
    fs::write(
        &spec,
        "format = \"statvault-table-spec/1\"\n[[table]]\nid = \"x\"\ntitle = { sq = \"x\", en = \"x\" }\ndimensions = [\"sex\"]\nwhere = { person_id = { min = 1, max = 1 } }\n",
    )
    .unwrap();
    refused_naming(
        &office.tabulate(STATISTICIAN, spec.to_str().unwrap(), &out.join("x")),
        "person_id, a record key",
    );
    let stranger = office.dir_for(STRANGER, "stranger");
    refused_naming(
        &office.tabulate(STRANGER, TABLES, &stranger.join("t")),
        "not in the agent's policy",
    );

    let records = office.audit();
    let restores = recorded(&records, STATISTICIAN, "restore");
    assert_eq!(restores.len(), 1);
    assert_eq!(restores[0].0, "refused");
    assert!(recorded(&records, STRANGER, "tabulate")[0].0 == "refused");
    let done: Vec<_> = records
        .iter()
        .filter(|r| {
            r["user"] == STATISTICIAN && r["command"] == "tabulate" && r["outcome"] == "done"
        })
        .collect();
    assert_eq!(done.len(), 1);
    assert!(done[0]["cells"].as_u64().unwrap() > 0);
    assert_eq!(done[0]["custodians"], serde_json::json!([1, 3]));
    let restored = recorded(&records, MICRODATA, "restore");
    assert_eq!(restored.last().unwrap().0, "done");
}

#[test]
fn quotas_refuse_saying_which_limit_and_until_when_and_survive_a_restart() {
    let mut office = Office::new("quota = { period = \"day\", tabulations = 2 }");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    let out = office.dir_for(STATISTICIAN, "tables");
    for i in 0..2 {
        let r = office.tabulate(STATISTICIAN, TABLES, &out.join(i.to_string()));
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let r = office.tabulate(STATISTICIAN, TABLES, &out.join("2"));
    refused_naming(&r, "2 of the 2 tabulations allowed a day");
    assert!(r.stderr.contains("renews at"), "{}", r.stderr);

    // A new agent counts from the audit log: still over quota.
    office.kill_agent();
    office.start_agent(None);
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    refused_naming(
        &office.tabulate(STATISTICIAN, TABLES, &out.join("3")),
        "2 of the 2 tabulations",
    );
}

#[test]
fn a_seal_stops_ten_busy_clients_and_everything_until_unsealed_again() {
    let office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    let out = office.dir_for(STATISTICIAN, "busy");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (outcomes, sealed) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..10)
            .map(|c| {
                let (office, out, stop) = (&office, &out, &stop);
                scope.spawn(move || {
                    let mut codes = Vec::new();
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let r =
                            office.tabulate(STATISTICIAN, TABLES, &out.join(format!("{c}-{n}")));
                        codes.push((r.code, r.stderr));
                        n += 1;
                    }
                    codes
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        let sealed = run(&[
            "vault",
            "seal",
            "--agent",
            &office.agent_arg(),
            "--reason",
            "drill",
        ]);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let outcomes: Vec<_> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        (outcomes, sealed)
    });
    assert_eq!(sealed.code, 0, "{}", sealed.stderr);
    assert!(
        outcomes.iter().any(|(code, _)| *code == 0),
        "some tabulations ran before the seal"
    );
    for (code, stderr) in &outcomes {
        assert!(
            *code == 0 || (*code == 2 && stderr.contains("sealed")),
            "a clean answer or a refusal naming the seal: {code} {stderr}"
        );
    }
    refused_naming(
        &office.tabulate(STATISTICIAN, TABLES, &out.join("after")),
        "the agent is sealed",
    );
    // Nothing half-done: the vault and the audit log verify.
    let verified = run(&["vault", "verify", "--repo", &office.place.repo]);
    assert_eq!(verified.code, 0, "{}", verified.stdout);
    let audit = office.audit_verify(&[]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    assert!(office
        .audit()
        .iter()
        .any(|r| r["command"] == "seal" && r["reason"] == "drill"));
}

#[test]
fn a_dead_agents_socket_is_replaced_and_a_live_agent_is_not_disturbed() {
    let mut office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    // A second agent on the same socket: refused, the first keeps serving unsealed.
    let second = run(&[
        "vault",
        "agent",
        "--repo",
        &office.place.repo,
        "--socket",
        &office.agent_arg(),
    ]);
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains("another agent is running"),
        "{}",
        second.stderr
    );
    let status = office.as_user(
        STATISTICIAN,
        &["vault", "status", "--agent", &office.agent_arg()],
    );
    assert!(status.stdout.contains("unsealed"), "{}", status.stdout);
    // Killed with SIGKILL: the socket file stays; the next agent replaces it, sealed.
    if let Some(agent) = &mut office.agent {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(agent.id() as i32, libc::SIGKILL) };
        let _ = agent.wait();
    }
    office.agent = None;
    assert!(office.socket.exists());
    office.start_agent(None);
    let status = office.as_user(
        STATISTICIAN,
        &["vault", "status", "--agent", &office.agent_arg()],
    );
    assert!(
        status.stdout.contains("sealed: 0 of 2"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_request_whose_record_cannot_be_written_is_refused_and_nothing_is_done() {
    let mut office = Office::new("");
    office.kill_agent();
    // The agent's third audit segment (after two unseal records) fails: disk full.
    let entries = PathBuf::from(&office.place.repo).join("audit/entries");
    let fault = Fault {
        op: "link",
        n: 3,
        mode: "error",
        path: &entries,
        log: None,
    };
    office.start_agent(Some(fault));
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    let out = office.dir_for(STATISTICIAN, "t");
    let r = office.tabulate(STATISTICIAN, TABLES, &out.join("refused"));
    refused_naming(&r, "the audit log could not be written");
    assert!(r.stderr.contains("nothing was done"), "{}", r.stderr);
    assert!(!out.join("refused").exists());
    // The next record is written: the request is served and recorded.
    let r = office.tabulate(STATISTICIAN, TABLES, &out.join("served"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let audit = office.audit_verify(&[]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
}

#[test]
fn a_tampered_audit_log_is_named_by_audit_verify() {
    let office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    let unsealed = office.unseal(1);
    let kept = office.place.path("kept.checkpoint");
    fs::write(&kept, &unsealed.stdout).unwrap();
    let entries = PathBuf::from(&office.place.repo).join("audit/entries");
    let segment = entries.join("0000000000000000");
    let original = fs::read_to_string(&segment).unwrap();
    // A custodian's name rewritten.
    fs::write(&segment, original.replace("sv-ana", "sv-eve")).unwrap();
    let r = office.audit_verify(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("0000000000000000") || r.stdout.contains("changed"),
        "{}",
        r.stdout
    );
    fs::write(&segment, &original).unwrap();
    // The tail dropped with its checkpoints: only the kept checkpoint finds it.
    fs::remove_file(entries.join("0000000000000001")).unwrap();
    for c in fs::read_dir(PathBuf::from(&office.place.repo).join("audit/checkpoints")).unwrap() {
        fs::remove_file(c.unwrap().path()).unwrap();
    }
    assert_eq!(office.audit_verify(&[]).code, 0);
    let r = office.audit_verify(&["--checkpoint", kept.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("records were removed"), "{}", r.stdout);
}

#[test]
fn a_statistician_ingests_through_the_agent_and_a_killed_agent_loses_no_commit() {
    let mut office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    // Files only the statistician may read: the client reads them with its own rights.
    let input = office.dir_for(STATISTICIAN, "input");
    let ingest = |file: &Path| {
        office.as_user(
            STATISTICIAN,
            &[
                "census",
                "ingest",
                "--repo",
                &office.place.repo,
                "--agent",
                &office.agent_arg(),
                "--schema",
                SCHEMA,
                "--input",
                file.to_str().unwrap(),
            ],
        )
    };
    let small = input.join("small.csv");
    let large = input.join("large.csv");
    assert_eq!(synth("2000", "3", small.to_str().unwrap()).code, 0);
    assert_eq!(synth("400000", "4", large.to_str().unwrap()).code, 0);
    for file in [&small, &large] {
        chown(file, STATISTICIAN);
        fs::set_permissions(file, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let r = ingest(&small);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let snapshot = r.stdout.trim().to_string();
    assert_eq!(snapshot.len(), 64, "{}", r.stdout);
    let done: Vec<_> = office
        .audit()
        .into_iter()
        .filter(|r| r["command"] == "ingest" && r["outcome"] == "done")
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["paths"], serde_json::json!(["small.csv"]));
    assert_eq!(done[0]["bytes"], fs::metadata(&small).unwrap().len());
    assert_eq!(done[0]["snapshot"], snapshot.as_str());

    // kill -9 of the agent while it ingests: the client fails cleanly, every commit
    // stays, and the next agent starts sealed.
    let pid = office.agent.as_ref().unwrap().id();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| ingest(&large));
        let started = Instant::now();
        while office
            .audit()
            .iter()
            .filter(|r| r["command"] == "ingest" && r["outcome"] == "started")
            .count()
            < 2
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the ingest did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let r = client.join().unwrap();
        assert_eq!(r.code, 2, "{}", r.stderr);
    });
    office.kill_agent();
    let verified = run(&["vault", "verify", "--repo", &office.place.repo]);
    assert_eq!(verified.code, 0, "{}", verified.stdout);
    let listed = run(&["vault", "snapshots", "--repo", &office.place.repo, "--json"]);
    assert!(listed.stdout.contains(&snapshot), "{}", listed.stdout);
    office.start_agent(None);
    let status = office.as_user(
        STATISTICIAN,
        &["vault", "status", "--agent", &office.agent_arg()],
    );
    assert!(
        status.stdout.contains("sealed: 0 of 2"),
        "{}",
        status.stdout
    );
    assert_eq!(office.audit_verify(&[]).code, 0);
}

#[test]
fn the_unsealed_key_lies_in_locked_memory() {
    let office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    let pid = office.agent.as_ref().unwrap().id();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(locked > 0, "{status}");
}

#[test]
fn an_idle_agent_seals_itself_and_records_why() {
    let mut office = Office::new("");
    office.kill_agent();
    office.start_agent_with(None, &["--seal-after", "1s"]);
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    let status = || {
        office.as_user(
            STATISTICIAN,
            &["vault", "status", "--agent", &office.agent_arg()],
        )
    };
    assert!(status().stdout.contains("unsealed"));
    let started = Instant::now();
    while !status().stdout.contains("sealed: 0 of 2") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the idle agent did not seal"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(office.audit().iter().any(
        |r| r["command"] == "seal" && r["reason"].as_str().is_some_and(|w| w.contains("idle"))
    ));
}

#[test]
fn every_record_is_forwarded_to_syslog_as_rfc5424() {
    let mut office = Office::new("");
    office.kill_agent();
    let siem = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    siem.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let to = siem.local_addr().unwrap().to_string();
    office.start_agent_with(None, &["--syslog", &to]);
    assert_eq!(office.unseal(0).code, 0);
    refused_naming(
        &office.tabulate(STRANGER, TABLES, &office.dir_for(STRANGER, "t").join("x")),
        "not in the agent's policy",
    );
    let mut lines = Vec::new();
    let mut buffer = [0u8; 65_536];
    while lines.len() < 2 {
        let n = siem.recv(&mut buffer).expect("a syslog line");
        lines.push(String::from_utf8(buffer[..n].to_vec()).unwrap());
    }
    // authpriv.notice for a done record, authpriv.warning for a refusal.
    assert!(lines[0].starts_with("<85>1 "), "{}", lines[0]);
    assert!(
        lines[0].contains("command=\"unseal\" outcome=\"done\""),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("<84>1 "), "{}", lines[1]);
    assert!(lines[1].contains("user=\"sv-eve\""), "{}", lines[1]);
    // The same lines as `vault audit export --format syslog` writes.
    let exported = run(&[
        "vault",
        "audit",
        "export",
        "--repo",
        &office.place.repo,
        "--format",
        "syslog",
    ]);
    assert_eq!(exported.stdout.lines().collect::<Vec<_>>(), lines);
}

#[test]
fn an_operator_adds_through_the_agent_what_they_can_read_recorded_under_its_own_path() {
    let office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    let data = office.place.path("gis");
    fs::create_dir_all(data.join("layers/roads")).unwrap();
    fs::write(
        data.join("layers/roads/roads.geojson"),
        "{\"type\":\"FeatureCollection\"}",
    )
    .unwrap();
    fs::write(data.join("readme.txt"), "boundaries of 2023").unwrap();
    fs::set_permissions(data.join("readme.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("layers/roads", data.join("roads")).unwrap();
    let agent = office.agent_arg();
    let data_arg = data.to_str().unwrap();
    let public = office.dir_for(STATISTICIAN, "public");
    fs::write(public.join("notes.txt"), "readable by all").unwrap();
    refused_naming(
        &office.as_user(
            STATISTICIAN,
            &[
                "vault",
                "add",
                "--repo",
                &office.place.repo,
                "--agent",
                &agent,
                public.to_str().unwrap(),
            ],
        ),
        "needs operator",
    );
    // root is the operator.
    let r = run(&[
        "vault",
        "add",
        "--repo",
        &office.place.repo,
        "--agent",
        &agent,
        "--tag",
        "gis",
        data_arg,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let snapshot = r.stdout.trim().to_string();
    let restored = office.place.path("restored");
    let r = office.place.vault(
        "restore",
        2,
        &[&snapshot, "--target", restored.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    common::assert_same_tree(&data, &restored.join("gis"));
    let listed = office.place.vault("snapshots", 2, &["--json"]);
    assert!(
        listed.stdout.contains(&format!("\"{data_arg}\"")),
        "{}",
        listed.stdout
    );
    let added: Vec<_> = office
        .audit()
        .into_iter()
        .filter(|r| r["command"] == "add" && r["outcome"] == "done")
        .collect();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["paths"], serde_json::json!([data_arg]));
    assert_eq!(added[0]["snapshot"], snapshot.as_str());
}

#[test]
fn a_user_holding_connections_open_cannot_keep_anyone_from_sealing() {
    let office = Office::new("");
    assert_eq!(office.unseal(0).code, 0);
    assert_eq!(office.unseal(1).code, 0);
    // A stranger opens 200 connections, more than the agent serves in all, and sends
    // nothing.
    let mut holder = Command::new("setpriv")
        .args([
            "--reuid",
            STRANGER,
            "--regid",
            STRANGER,
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(
            "import socket, sys, time\n\
             held = []\n\
             for _ in range(200):\n\
             \x20   s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)\n\
             print('holding', flush=True)\n\
             time.sleep(60)\n",
        )
        .arg(&office.socket)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "holding");
    let sealed = run(&[
        "vault",
        "seal",
        "--agent",
        &office.agent_arg(),
        "--reason",
        "held",
    ]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(sealed.code, 0, "{}", sealed.stderr);
    let status = office.as_user(
        CUSTODIANS[2],
        &["vault", "status", "--agent", &office.agent_arg()],
    );
    assert!(
        status.stdout.contains("sealed: 0 of 2"),
        "{}",
        status.stdout
    );
}
