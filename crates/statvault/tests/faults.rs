//! Injected I/O errors and kills at every write, fsync, link, rename and unlink that
//! `vault add`, `census ingest` and `vault gc` make inside the vault (tests/tools/
//! faultfs.c, an LD_PRELOAD injector). After each one, every snapshot committed before
//! restores bit-identically, `verify --head KEPT` names nothing but leftovers, and `gc`
//! brings the vault back to a clean state that the next `add` builds on.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A vault with two committed snapshots (files, then a census), its kept head, and
/// each snapshot restored once as the reference.
struct Fixture {
    w: Workplace,
    kept_head: String,
    snapshots: Vec<(String, PathBuf)>,
    more: PathBuf,
    census_csv: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let w = Workplace::new(1, 1);
        let files = w.path("files");
        fs::create_dir_all(files.join("gis")).unwrap();
        fs::write(files.join("persons.csv"), "id,age\n".repeat(5000)).unwrap();
        fs::write(files.join("gis/raster.bin"), noise(3 << 20, 7)).unwrap();
        let first = w.vault("add", 1, &[files.to_str().unwrap()]);
        assert_eq!(first.code, 0, "{}", first.stderr);
        let census_csv = w.path("census.csv");
        let synth = synth("1500", "3", census_csv.to_str().unwrap());
        assert_eq!(synth.code, 0, "{}", synth.stderr);
        let second = w.command(
            &["census", "ingest"],
            1,
            &["--schema", SCHEMA, "--input", census_csv.to_str().unwrap()],
        );
        assert_eq!(second.code, 0, "{}", second.stderr);
        let listed: serde_json::Value =
            serde_json::from_str(&w.vault("snapshots", 0, &["--json"]).stdout).unwrap();
        let kept_head = listed["head"].as_str().unwrap().to_string();
        let mut snapshots = Vec::new();
        for s in listed["snapshots"].as_array().unwrap() {
            let id = s["id"].as_str().unwrap().to_string();
            let target = w.path(&format!("reference-{}", &id[..8]));
            let r = w.vault("restore", 1, &[&id, "--target", target.to_str().unwrap()]);
            assert_eq!(r.code, 0, "{}", r.stderr);
            snapshots.push((id, target));
        }
        assert_eq!(snapshots.len(), 2);
        let more = w.path("more");
        fs::create_dir_all(&more).unwrap();
        fs::write(more.join("vector.gpkg"), noise(2 << 20, 11)).unwrap();
        fs::write(more.join("notes.txt"), "boundaries 2023\n").unwrap();
        Fixture {
            w,
            kept_head,
            snapshots,
            more,
            census_csv,
        }
    }

    /// A fresh copy of the vault to break.
    fn copy(&self, name: &str) -> PathBuf {
        let copy = self.w.path(name);
        let _ = fs::remove_dir_all(&copy);
        let status = Command::new("cp")
            .arg("-a")
            .arg(&self.w.repo)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success());
        copy
    }

    fn command(&self, repo: &Path, args: &[&str]) -> Command {
        let mut cmd = statvault();
        cmd.args(args)
            .arg("--repo")
            .arg(repo)
            .arg("--share")
            .arg(&self.w.shares[0]);
        cmd
    }

    fn verify(&self, repo: &Path) -> Command {
        self.command(
            repo,
            &["vault", "verify", "--read-data", "--head", &self.kept_head],
        )
    }

    /// The command under test, run on `repo`.
    fn faulted(&self, what: Operation, repo: &Path) -> Command {
        match what {
            Operation::Add => {
                let mut c = self.command(repo, &["vault", "add"]);
                c.arg(&self.more);
                c
            }
            Operation::Ingest => {
                let mut c = self.command(repo, &["census", "ingest", "--schema", SCHEMA]);
                c.arg("--input").arg(&self.census_csv);
                c
            }
            Operation::Gc => {
                let mut c = statvault();
                c.args(["vault", "gc", "--head", &self.kept_head, "--repo"])
                    .arg(repo);
                c
            }
        }
    }

    /// Leftovers for gc to remove: a pack, an index and a temporary file no entry
    /// commits, as a crashed add leaves them.
    fn plant_leftovers(&self, repo: &Path) {
        fs::create_dir_all(repo.join("packs/00")).unwrap();
        fs::create_dir_all(repo.join("tmp")).unwrap();
        fs::write(repo.join(format!("packs/00/00{}", "1".repeat(62))), b"x").unwrap();
        fs::write(repo.join(format!("index/{}", "2".repeat(64))), b"y").unwrap();
        fs::write(repo.join("tmp/0123.tmp"), b"z").unwrap();
    }

    /// What must hold after any fault: the earlier snapshots restore as they were, the
    /// log still holds the kept head and nothing is damaged, gc cleans up and a new add
    /// commits on top.
    fn assert_nothing_lost(&self, repo: &Path, case: &str) {
        let verify = Run::from(self.verify(repo).output().unwrap());
        assert_eq!(
            verify.code, 0,
            "{case}: verify names damage:\n{}{}",
            verify.stdout, verify.stderr
        );
        assert!(
            verify.stdout.lines().all(|l| l.starts_with("leftover: ")),
            "{case}: {}",
            verify.stdout
        );
        for (id, reference) in &self.snapshots {
            let target = repo.with_extension("restored");
            let _ = fs::remove_dir_all(&target);
            let r = Run::from(
                self.command(repo, &["vault", "restore", id])
                    .arg("--target")
                    .arg(&target)
                    .output()
                    .unwrap(),
            );
            assert_eq!(r.code, 0, "{case}: restore {id}: {}", r.stderr);
            assert_same_tree(reference, &target);
            fs::remove_dir_all(&target).unwrap();
        }
        let gc = Run::from(
            Command::new(env!("CARGO_BIN_EXE_statvault"))
                .args(["vault", "gc", "--head", &self.kept_head, "--repo"])
                .arg(repo)
                .output()
                .unwrap(),
        );
        assert_eq!(gc.code, 0, "{case}: gc: {}", gc.stderr);
        let again = Run::from(
            self.faulted(Operation::Add, repo)
                .arg("--json")
                .output()
                .unwrap(),
        );
        assert_eq!(again.code, 0, "{case}: add after gc: {}", again.stderr);
        let verify = Run::from(self.verify(repo).output().unwrap());
        assert_eq!(
            (verify.code, verify.stdout.as_str()),
            (0, ""),
            "{case}: after gc and a new add: {}",
            verify.stderr
        );
    }

    /// Runs `what` once to count its calls of `op` inside the vault, then once per
    /// call with that call failing (EIO) and once with the process killed before it.
    fn every_fault(&self, what: Operation, op: &str) -> usize {
        let probe = self.copy("probe");
        if what == Operation::Gc {
            self.plant_leftovers(&probe);
        }
        let log = self.w.path("calls.log");
        let calls = Fault::count(&mut self.faulted(what, &probe), op, &probe, &log);
        eprintln!("{what:?}: {calls} calls of {op} inside the vault, each failed and killed");
        for n in 1..=calls {
            for mode in ["error", "kill"] {
                let case = format!("{what:?}: {op} #{n} of {calls}, {mode}");
                let repo = self.copy("case");
                if what == Operation::Gc {
                    self.plant_leftovers(&repo);
                }
                let fault = Fault {
                    op,
                    n,
                    mode,
                    path: &repo,
                    log: None,
                };
                let out = Run::from(
                    fault
                        .inject(&mut self.faulted(what, &repo))
                        .output()
                        .unwrap(),
                );
                match mode {
                    "kill" => assert_eq!(out.code, -1, "{case}: not killed: {}", out.stderr),
                    _ => assert!(
                        out.code == 0 || out.code == 2,
                        "{case}: exit {}: {}",
                        out.code,
                        out.stderr
                    ),
                }
                self.assert_nothing_lost(&repo, &case);
            }
        }
        calls
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Add,
    Ingest,
    Gc,
}

fn every_fault_of(what: Operation, ops: &[&str]) {
    let f = Fixture::new();
    let total: usize = ops.iter().map(|op| f.every_fault(what, op)).sum();
    assert!(total > 0, "{what:?} made no call the injector saw");
}

#[test]
fn fsync_error_after_the_log_link_loses_no_commit() {
    // The finding: the fsync of log/ after the entry's link failed, and add deleted the
    // objects the entry commits. Every fsync of an add is tried here.
    let f = Fixture::new();
    let repo = f.copy("fsync");
    let log = f.w.path("fsyncs.log");
    let count = Fault {
        op: "fsync",
        n: 0,
        mode: "error",
        path: &repo,
        log: Some(&log),
    };
    let out = count
        .inject(&mut f.faulted(Operation::Add, &repo))
        .output()
        .unwrap();
    assert!(out.status.success());
    let calls: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let last = calls.len();
    assert!(
        calls[last - 1].ends_with("/log"),
        "the add's last fsync is of log/: {calls:?}"
    );
    let repo = f.copy("fsync");
    let fault = Fault {
        op: "fsync",
        n: last,
        mode: "error",
        path: &repo,
        log: None,
    };
    let out = Run::from(
        fault
            .inject(&mut f.faulted(Operation::Add, &repo))
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("durable") && out.stderr.contains("nothing was removed"),
        "the error says the entry is there but unconfirmed: {}",
        out.stderr
    );
    f.assert_nothing_lost(&repo, "fsync of log/ after the link");
}

#[test]
fn every_write_fsync_link_and_rename_of_add() {
    every_fault_of(Operation::Add, &["write", "fsync", "link", "rename"]);
}

#[test]
fn every_write_fsync_link_and_rename_of_census_ingest() {
    every_fault_of(Operation::Ingest, &["write", "fsync", "link", "rename"]);
}

#[test]
fn every_unlink_of_gc() {
    every_fault_of(
        Operation::Gc,
        &["unlink", "write", "fsync", "link", "rename"],
    );
}
