//! `release sign` killed or failed at every write, fsync and rename it makes (with
//! tests/tools/faultfs.c, an LD_PRELOAD injector): re-running it must finish the
//! release, which must then verify, with one log entry and a calendar that is the
//! rendering of the log.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, statvault, Fault, Run};
use statvault_release::calendar::Calendar;
use statvault_release::tlog::TransparencyLog;

const BUNDLE: &str = "census-2023-first-results-v1";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A release key (one share, no passphrase) and a built, unsigned bundle in
    /// `base/`, with the signer's record beside `releases/`.
    fn new() -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        let base = f.dir.path().join("base");
        fs::create_dir_all(base.join("releases")).unwrap();
        let p = |rel: &str| f.dir.path().join(rel).display().to_string();
        let r = run(&[
            "release",
            "keygen",
            "--custodians",
            "1",
            "--threshold",
            "1",
            "--shares-out",
            &p("key"),
            "--pubkey",
            &p("office.pub"),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let tables = format!(
            "{}/../statvault-release/tests/data",
            env!("CARGO_MANIFEST_DIR")
        );
        let meta = format!(
            "{}/../../examples/release/census-2023.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = base.join("releases").join(BUNDLE).display().to_string();
        let r = run(&[
            "release", "build", "--tables", &tables, "--meta", &meta, "--out", &out,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        f
    }

    /// A fresh copy of `base/` for one case.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        let _ = fs::remove_dir_all(&to);
        let status = Command::new("cp")
            .arg("-a")
            .arg(self.dir.path().join("base"))
            .arg(&to)
            .status()
            .unwrap();
        assert!(status.success());
        to
    }

    fn sign(&self, case: &Path) -> Command {
        let mut cmd = statvault();
        cmd.env("STATVAULT_SIGNER_STATE", case.join("signer-state"))
            .env(
                "STATVAULT_RELEASE_KEY",
                self.dir.path().join("key/custodian-1-of-1.share"),
            )
            .args(["release", "sign"])
            .arg(case.join("releases").join(BUNDLE));
        cmd
    }

    /// The release is whole: it verifies against the office's key, the log holds its
    /// one entry, and calendar.json is the rendering of the log.
    fn assert_released(&self, case: &Path, what: &str) {
        let bundle = case.join("releases").join(BUNDLE).display().to_string();
        let pubkey = self.dir.path().join("office.pub").display().to_string();
        let r = run(&["release", "verify", "--pubkey", &pubkey, &bundle]);
        assert_eq!(r.code, 0, "{what}: {}{}", r.stdout, r.stderr);
        let log = TransparencyLog::open(&case.join("releases/log")).unwrap();
        assert_eq!(log.size(), 1, "{what}: one entry");
        let calendar = Calendar::from_log(log.entries()).write();
        assert!(
            calendar == fs::read(case.join("releases/calendar.json")).unwrap(),
            "{what}: calendar.json is not the log's"
        );
    }
}

/// Regression (a `sign` killed between its steps left a release that re-running could
/// not finish, "already signed", in 68 of 558 injected faults).
#[test]
fn release_sign_killed_or_failed_anywhere_is_finished_by_running_it_again() {
    let f = Fixture::new();
    let probe = f.copy("probe");
    let mut cases = 0;
    for op in ["write", "fsync", "rename"] {
        let log = f.dir.path().join("calls.log");
        let calls = Fault::count(&mut f.sign(&probe), op, &probe, &log);
        fs::remove_dir_all(&probe).unwrap();
        f.copy("probe");
        assert!(calls > 0, "no {op} calls counted");
        for n in 1..=calls {
            for mode in ["error", "kill"] {
                let what = format!("{op} #{n} of {calls}, {mode}");
                let case = f.copy("case");
                let fault = Fault {
                    op,
                    n,
                    mode,
                    path: &case,
                    log: None,
                };
                let out = Run::from(fault.inject(&mut f.sign(&case)).output().unwrap());
                if mode == "kill" {
                    assert_eq!(out.code, -1, "{what}: not killed: {}", out.stderr);
                }
                let again = Run::from(f.sign(&case).output().unwrap());
                assert!(
                    again.code == 0 || again.stderr.contains("already signed (log entry 0)"),
                    "{what}: re-running: exit {}: {}",
                    again.code,
                    again.stderr
                );
                f.assert_released(&case, &what);
                cases += 1;
            }
        }
    }
    eprintln!("{cases} faults injected into release sign, each finished by a re-run");
}
