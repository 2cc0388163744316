//! Signed releases end to end with the real binary: keys, signing, the stock
//! `minisign`, the transparency log, the calendar, and every attack the release issue
//! lists, each of which `release verify` must name with exit 1.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, run_with_input, statvault, Fault, Run, Server};
use statvault_crypto::share::{combine_release_key, ShareFile};
use statvault_crypto::{Passphrase, ReleaseKey};
use statvault_release::checkpoint::Checkpoint;
use statvault_release::tlog::{EntryKind, LogEntry, TransparencyLog};
use statvault_release::Signer;

const PASSPHRASE: &str = "census custodian";

fn tables() -> String {
    format!(
        "{}/../statvault-release/tests/data",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn example_meta() -> String {
    format!(
        "{}/../../examples/release/census-2023.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A releases directory with the office's key beside it.
struct Office {
    dir: tempfile::TempDir,
}

impl Office {
    fn new() -> Office {
        let office = Office {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir(office.path("releases")).unwrap();
        office.keygen("office");
        office
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn p(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    fn keygen(&self, name: &str) {
        let r = run_with_input(
            statvault().args([
                "release",
                "keygen",
                "--out",
                &self.p(&format!("{name}.key")),
                "--pubkey",
                &self.p(&format!("{name}.pub")),
            ]),
            &format!("{PASSPHRASE}\n"),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    fn key(&self, name: &str) -> ReleaseKey {
        let path = self.path(&format!("{name}.key"));
        let files = vec![(path.clone(), ShareFile::read(&path).unwrap())];
        combine_release_key(&files, &mut |_| Ok(Passphrase::new(PASSPHRASE.into()))).unwrap()
    }

    /// `release build` with the example metadata, edited by `(from, to)` replacements.
    fn build(&self, bundle: &str, edits: &[(&str, &str)]) -> Run {
        let mut meta = fs::read_to_string(example_meta()).unwrap();
        for (from, to) in edits {
            meta = meta.replacen(from, to, 1);
        }
        let meta_path = self.path(&format!("{bundle}.toml"));
        fs::write(&meta_path, meta).unwrap();
        run(&[
            "release",
            "build",
            "--tables",
            &tables(),
            "--meta",
            &meta_path.display().to_string(),
            "--out",
            &self.p(&format!("releases/{bundle}")),
        ])
    }

    /// `release sign` (or `revise` with a reason) with key `key`.
    fn sign(&self, bundle: &str, key: &str, reason: Option<&str>) -> Run {
        let key_path = self.p(&format!("{key}.key"));
        let bundle_path = self.p(&format!("releases/{bundle}"));
        let mut args = vec!["release", "sign", "--key", &key_path, &bundle_path];
        if let Some(reason) = reason {
            args = vec![
                "release",
                "revise",
                "--reason",
                reason,
                "--key",
                &key_path,
                &bundle_path,
            ];
        }
        run_with_input(self.office_side().args(args), &format!("{PASSPHRASE}\n"))
    }

    /// A command run on the office side, with the signer's record kept there.
    fn office_side(&self) -> Command {
        let mut cmd = statvault();
        cmd.env("STATVAULT_SIGNER_STATE", self.path("signer-state"));
        cmd
    }

    fn verify(&self, bundle: &str, extra: &[&str]) -> Run {
        let pubkey = self.p("office.pub");
        let bundle_path = self.p(&format!("releases/{bundle}"));
        let mut args = vec!["release", "verify", "--pubkey", &pubkey];
        args.extend_from_slice(extra);
        args.push(&bundle_path);
        run(&args)
    }

    fn calendar(&self, args: &[&str]) -> Run {
        let releases = self.p("releases");
        let key = self.p("office.key");
        let mut all = vec![args[0], args[1], "--releases", &releases, "--key", &key];
        all.extend_from_slice(&args[2..]);
        run_with_input(self.office_side().args(all), &format!("{PASSPHRASE}\n"))
    }

    /// `release schedule` of release `id` for 2027-03-01T10:00:00Z.
    fn schedule(&self, id: &str) -> Run {
        self.calendar(&[
            "release",
            "schedule",
            "--release",
            id,
            "--title-sq",
            "Strehimi",
            "--title-en",
            "Housing",
            "--at",
            "2027-03-01T10:00:00Z",
        ])
    }

    /// A signed first release in `releases/v1`.
    fn published() -> Office {
        let office = Office::new();
        assert_eq!(office.build("v1", &[]).code, 0);
        let r = office.sign("v1", "office", None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        office
    }
}

fn failed_naming(r: &Run, what: &str) {
    assert_eq!(
        r.code, 1,
        "expected a failed check naming {what}:\n{}{}",
        r.stdout, r.stderr
    );
    assert!(
        r.stdout.contains(what),
        "the report does not name {what}:\n{}",
        r.stdout
    );
}

#[test]
fn the_stock_minisign_and_release_verify_accept_a_signed_bundle() {
    let office = Office::published();
    let minisign = Command::new("minisign")
        .args([
            "-Vm",
            &office.p("releases/v1/manifest.json"),
            "-p",
            &office.p("office.pub"),
        ])
        .output()
        .expect("minisign is installed by scripts/test (Debian package minisign)");
    let out = String::from_utf8_lossy(&minisign.stdout);
    assert!(
        minisign.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&minisign.stderr)
    );
    assert!(
        out.contains("Trusted comment: release:census-2023-first-results version:1"),
        "{out}"
    );

    let r = office.verify("v1", &["--release", "census-2023-first-results"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("verified: signed by"), "{}", r.stdout);
    // Without --pubkey the key beside the log is used, and the user is told so.
    let r = run(&["release", "verify", &office.p("releases/v1")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("give --pubkey"), "{}", r.stderr);

    // The key file is sealed with the passphrase: a wrong one is refused (exit 2).
    let r = run_with_input(
        statvault().args([
            "release",
            "sign",
            "--key",
            &office.p("office.key"),
            &office.p("releases/v1"),
        ]),
        "not the passphrase\n",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let key_file = fs::read_to_string(office.path("office.key")).unwrap();
    assert!(key_file.contains("argon2id"), "{key_file}");

    // A signed bundle is never signed again.
    let r = office.sign("v1", "office", None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already signed"), "{}", r.stderr);
}

#[test]
fn any_byte_changed_in_any_file_is_named() {
    let office = Office::published();
    let bundle = office.path("releases/v1");
    let mut files = Vec::new();
    let mut stack = vec![bundle.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 19, "{files:?}");
    for file in files {
        let original = fs::read(&file).unwrap();
        let mut changed = original.clone();
        let at = changed.len() / 2;
        changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
        fs::write(&file, &changed).unwrap();
        let name = file.strip_prefix(&bundle).unwrap().display().to_string();
        let r = office.verify("v1", &[]);
        assert_eq!(
            r.code, 1,
            "a byte changed in {name} went unnoticed:\n{}",
            r.stdout
        );
        let named = if name == "manifest.json" {
            // The signature no longer matches the manifest.
            "manifest.json"
        } else {
            &name
        };
        assert!(r.stdout.contains(named), "{name}:\n{}", r.stdout);
        fs::write(&file, &original).unwrap();
    }
    assert_eq!(office.verify("v1", &[]).code, 0);
}

#[test]
fn files_added_or_removed_are_named() {
    let office = Office::published();
    fs::write(office.path("releases/v1/tables/fake.csv"), "a,b\n1,2\n").unwrap();
    failed_naming(&office.verify("v1", &[]), "tables/fake.csv: added");
    fs::remove_file(office.path("releases/v1/tables/fake.csv")).unwrap();

    let victim = fs::read_dir(office.path("releases/v1/tables"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = format!("tables/{}", victim.file_name().unwrap().to_string_lossy());
    fs::remove_file(&victim).unwrap();
    failed_naming(&office.verify("v1", &[]), &format!("{name}: missing"));

    fs::remove_file(office.path("releases/v1/manifest.json.minisig")).unwrap();
    failed_naming(&office.verify("v1", &[]), "not signed");
}

#[test]
fn a_manifest_signed_by_another_key_is_refused() {
    let office = Office::new();
    office.keygen("intruder");
    assert_eq!(office.build("v1", &[]).code, 0);
    // The intruder's own releases directory: the office's log would refuse its key.
    fs::create_dir(office.path("forged")).unwrap();
    fs::rename(office.path("releases/v1"), office.path("forged/v1")).unwrap();
    let r = run_with_input(
        statvault().args([
            "release",
            "sign",
            "--key",
            &office.p("intruder.key"),
            &office.p("forged/v1"),
        ]),
        &format!("{PASSPHRASE}\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&[
        "release",
        "verify",
        "--pubkey",
        &office.p("office.pub"),
        &office.p("forged/v1"),
    ]);
    failed_naming(&r, "signed by key");

    // Nor does the office's log take an entry signed by another key.
    assert_eq!(office.build("v2", &[]).code, 0);
    assert_eq!(office.sign("v2", "office", None).code, 0);
    assert_eq!(
        office
            .build("other", &[("census-2023-first-results", "other")])
            .code,
        0
    );
    let r = office.sign("other", "intruder", None);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("this log is signed by key"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_bundle_replayed_under_another_release_id_is_refused() {
    let office = Office::published();
    let id = "census-2023-housing";
    assert_eq!(
        office
            .build("housing", &[("census-2023-first-results", id)])
            .code,
        0
    );
    assert_eq!(office.sign("housing", "office", None).code, 0);
    assert_eq!(office.verify("housing", &["--release", id]).code, 0);

    // The first-results bundle, served where the housing release should be.
    fs::rename(
        office.path("releases/housing"),
        office.path("releases/housing.real"),
    )
    .unwrap();
    copy_dir(
        &office.path("releases/v1"),
        &office.path("releases/housing"),
    );
    failed_naming(
        &office.verify("housing", &["--release", id]),
        "replayed under another id",
    );

    // The housing manifest with the first-results signature and proof.
    fs::remove_dir_all(office.path("releases/housing")).unwrap();
    copy_dir(
        &office.path("releases/housing.real"),
        &office.path("releases/housing"),
    );
    for f in ["manifest.json.minisig", "transparency.json"] {
        fs::copy(
            office.path(&format!("releases/v1/{f}")),
            office.path(&format!("releases/housing/{f}")),
        )
        .unwrap();
    }
    let r = office.verify("housing", &["--release", id]);
    failed_naming(&r, "manifest.json.minisig: the signature does not match");
    failed_naming(
        &r,
        "transparency.json: log entry 0 records Release of census-2023-first-results",
    );
}

#[test]
fn a_rewritten_or_rolled_back_log_fails_against_a_kept_checkpoint() {
    let office = Office::published();
    let kept = office.path("kept-checkpoint");
    fs::copy(office.path("releases/log/checkpoint"), &kept).unwrap();
    let kept_arg = kept.display().to_string();
    assert_eq!(
        office
            .build("housing", &[("census-2023-first-results", "housing")])
            .code,
        0
    );
    assert_eq!(office.sign("housing", "office", None).code, 0);
    let r = office.verify("v1", &["--checkpoint", &kept_arg]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("extends the checkpoint you kept (1 entries)"),
        "{}",
        r.stdout
    );

    // The office itself rewrites entry 0 and re-signs a checkpoint with its real key.
    let log_dir = office.path("releases/log");
    let entries: Vec<LogEntry> = TransparencyLog::open(&log_dir).unwrap().entries().collect();
    fs::remove_file(log_dir.join("entries.jsonl")).unwrap();
    let mut log = TransparencyLog::open(&log_dir).unwrap();
    // With the key but without the office's record of what it signed.
    let elsewhere = tempfile::tempdir().unwrap();
    let key = Signer::new(office.key("office"), elsewhere.path());
    for mut entry in entries {
        if entry.index == 0 {
            entry.logged = "2020-01-01T00:00:00Z".into();
        }
        log.append(entry, &key).unwrap();
    }
    let r = office.verify("housing", &["--checkpoint", &kept_arg]);
    failed_naming(&r, "the kept checkpoint (size 1) is not a prefix of the log (size 2): the log's history was rewritten");
    // The first bundle's own proof no longer fits either.
    failed_naming(
        &office.verify("v1", &[]),
        "the bundle's checkpoint (size 1) is not a prefix",
    );

    // A log rolled back to fewer entries than a kept checkpoint.
    let fresh = Office::published();
    assert_eq!(
        fresh
            .build("housing", &[("census-2023-first-results", "housing")])
            .code,
        0
    );
    assert_eq!(fresh.sign("housing", "office", None).code, 0);
    let kept = fresh.path("kept");
    fs::copy(fresh.path("releases/log/checkpoint"), &kept).unwrap();
    let log_dir = fresh.path("releases/log");
    let first = TransparencyLog::open(&log_dir)
        .unwrap()
        .entries()
        .next()
        .unwrap();
    fs::remove_file(log_dir.join("entries.jsonl")).unwrap();
    TransparencyLog::open(&log_dir)
        .unwrap()
        .append(first, &Signer::new(fresh.key("office"), elsewhere.path()))
        .unwrap();
    let r = fresh.verify("v1", &["--checkpoint", &kept.display().to_string()]);
    failed_naming(&r, "truncated or rolled back");

    // A kept checkpoint that is not the office's is named too.
    let mut forged = fs::read_to_string(&kept).unwrap();
    forged = forged.replacen("\n2\n", "\n3\n", 1);
    fs::write(&kept, forged).unwrap();
    let r = fresh.verify("v1", &["--checkpoint", &kept.display().to_string()]);
    failed_naming(
        &r,
        "the kept checkpoint: the checkpoint's signature does not verify",
    );
}

#[test]
fn the_calendar_keeps_postponements_revisions_and_withdrawals() {
    let office = Office::new();
    let id = "census-2023-first-results";
    let r = office.calendar(&[
        "release",
        "schedule",
        "--release",
        id,
        "--title-sq",
        "Censusi 2023",
        "--title-en",
        "Census 2023",
        "--at",
        "2026-12-01T10:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = office.calendar(&[
        "release",
        "postpone",
        "--release",
        id,
        "--reason",
        "the office's systems are under attack",
        "--new-date",
        "2027-01-15T10:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // A bundle built for the old date does not go out under the new one.
    assert_eq!(office.build("v1-early", &[]).code, 0);
    let r = office.sign("v1-early", "office", None);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("announced for 2027-01-15T10:00:00Z"),
        "{}",
        r.stderr
    );
    let v1 = [("2026-12-01T10:00:00Z", "2027-01-15T10:00:00Z")];
    assert_eq!(office.build("v1", &v1).code, 0);
    assert_eq!(office.sign("v1", "office", None).code, 0, "published");

    // A correction is a new version with a reason, never a re-signing of version 1.
    let v2 = [
        ("2026-12-01T10:00:00Z", "2027-01-20T10:00:00Z"),
        ("version = 1", "version = 2"),
    ];
    assert_eq!(office.build("v2", &v2).code, 0);
    let r = office.sign("v2", "office", None);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("use release revise --reason"),
        "{}",
        r.stderr
    );
    let r = office.sign("v2", "office", Some("corrected the Tirana age groups"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for bundle in ["v1", "v2"] {
        let r = office.verify(bundle, &["--release", id]);
        assert_eq!(r.code, 0, "{bundle}: {}", r.stdout);
    }
    let r = office.calendar(&[
        "release",
        "withdraw",
        "--release",
        id,
        "--reason",
        "superseded by the final results",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Regression (release verify called a revised or withdrawn version "verified"
    // without saying so): it verifies, and says what the log holds since.
    let r = office.verify("v1", &["--release", id]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("LATER version 2 replaces it (log entry 3): corrected the Tirana age groups")
            && r.stdout.contains(
                "LATER the release was withdrawn (log entry 4): superseded by the final results"
            )
            && r.stdout.contains("but no longer current"),
        "{}",
        r.stdout
    );
    let r = office.verify("v2", &["--release", id]);
    assert!(
        r.stdout.contains("LATER the release was withdrawn") && !r.stdout.contains("LATER version"),
        "{}",
        r.stdout
    );

    let calendar: serde_json::Value =
        serde_json::from_slice(&fs::read(office.path("releases/calendar.json")).unwrap()).unwrap();
    let entry = &calendar["releases"][0];
    assert_eq!(entry["status"], "withdrawn");
    let versions = entry["versions"].as_array().unwrap();
    assert_eq!(
        (
            versions[0]["bundle"].as_str(),
            versions[1]["bundle"].as_str()
        ),
        (Some("v1"), Some("v2"))
    );
    assert_eq!(versions[1]["reason"], "corrected the Tirana age groups");
    let kinds: Vec<&str> = entry["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "schedule",
            "postponement",
            "release",
            "revision",
            "withdrawal"
        ]
    );
    let log = TransparencyLog::open(&office.path("releases/log")).unwrap();
    assert_eq!(log.size(), 5);
    // calendar.json is the rendering of the log, byte for byte, as anyone can rebuild it.
    let entries: Vec<LogEntry> = log.entries().collect();
    assert!(
        statvault_release::calendar::Calendar::from_log(entries).write()
            == fs::read(office.path("releases/calendar.json")).unwrap()
    );
    let revision = log.entries().nth(3).unwrap();
    assert_eq!(
        revision.revises_manifest_sha256,
        versions[0]["manifest_sha256"].as_str().map(String::from)
    );
    let ics = fs::read_to_string(office.path("releases/calendar.ics")).unwrap();
    assert!(
        ics.contains("STATUS:CANCELLED") && ics.contains("SEQUENCE:4"),
        "{ics}"
    );

    // `release calendar` shows what the signed log says, whatever calendar.json says.
    let path = office.path("releases/calendar.json");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("the office's systems are under attack", "forged"),
    )
    .unwrap();
    let pubkey = office.p("office.pub");
    let r = run(&[
        "release",
        "calendar",
        "--releases",
        &office.p("releases"),
        "--pubkey",
        &pubkey,
    ]);
    assert!(
        r.stdout.contains("the office's systems are under attack") && !r.stdout.contains("forged"),
        "{}",
        r.stdout
    );
    fs::write(&path, text).unwrap();
    // Bad calendar input is exit 2 and changes nothing.
    let before = fs::read(office.path("releases/log/entries.jsonl")).unwrap();
    let r = office.calendar(&[
        "release",
        "postpone",
        "--release",
        "nope",
        "--reason",
        "x",
        "--new-date",
        "2027-02-01T10:00:00Z",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("nope is not in the calendar"),
        "{}",
        r.stderr
    );
    let r = office.calendar(&[
        "release",
        "schedule",
        "--release",
        "x",
        "--title-sq",
        "x",
        "--title-en",
        "x",
        "--at",
        "tomorrow",
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(
        fs::read(office.path("releases/log/entries.jsonl")).unwrap(),
        before
    );
}

#[test]
fn a_split_release_key_signs_with_k_of_n_shares() {
    let dir = tempfile::tempdir().unwrap();
    let p = |rel: &str| dir.path().join(rel).display().to_string();
    let r = run(&[
        "release",
        "keygen",
        "--custodians",
        "3",
        "--threshold",
        "2",
        "--shares-out",
        &p("shares"),
        "--pubkey",
        &p("office.pub"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    fs::create_dir(dir.path().join("releases")).unwrap();
    let bundle = p("releases/v1");
    let r = run(&[
        "release",
        "build",
        "--tables",
        &tables(),
        "--meta",
        &example_meta(),
        "--out",
        &bundle,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let one = p("shares/custodian-1-of-3.share");
    let three = p("shares/custodian-3-of-3.share");
    let r = run(&["release", "sign", "--key", &one, &bundle]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("needs 2"), "{}", r.stderr);
    let r = run(&["release", "sign", "--key", &one, "--key", &three, &bundle]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["release", "verify", "--pubkey", &p("office.pub"), &bundle]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let checkpoint = fs::read_to_string(dir.path().join("releases/log/checkpoint")).unwrap();
    let key = statvault_release::minisign::MinisignKey::read(
        &fs::read_to_string(p("office.pub")).unwrap(),
    )
    .unwrap();
    assert_eq!(Checkpoint::verify(&checkpoint, &key.key).unwrap().size, 1);
}

/// Appends a well-formed entry to the public log, as an intruder with write access to
/// the releases directory (and no key) does.
fn intruder_appends(office: &Office, kind: EntryKind, release: &str, reason: &str) {
    let log_dir = office.path("releases/log");
    let log = TransparencyLog::open(&log_dir).unwrap();
    let mut forged = log.entries().last().unwrap();
    forged.index = log.size();
    forged.kind = kind;
    forged.release = release.into();
    forged.manifest_sha256 = None;
    forged.reason = Some(reason.into());
    let path = TransparencyLog::entries_path(&log_dir);
    let mut text = fs::read(&path).unwrap();
    text.extend_from_slice(&forged.write());
    text.push(b'\n');
    fs::write(&path, text).unwrap();
}

/// Regression (forged log entries get signed by the office): an intruder appended an
/// unsigned withdrawal with their own reason, and the office's next unrelated
/// `release schedule` signed a checkpoint over it.
#[test]
fn an_intruders_log_entry_is_refused_by_the_next_release_command_not_signed() {
    let office = Office::published();
    let checkpoint = fs::read_to_string(office.path("releases/log/checkpoint")).unwrap();
    intruder_appends(
        &office,
        EntryKind::Withdrawal,
        "census-2023-first-results",
        "the figures were invented",
    );

    let r = office.schedule("housing");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "entry 1 (line 2, Withdrawal of census-2023-first-results) was not signed by this key"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        fs::read_to_string(office.path("releases/log/checkpoint")).unwrap(),
        checkpoint,
        "nothing was signed"
    );
    // Readers ignore the unsigned entry and say it is there.
    let r = office.verify("v1", &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("the transparency log has 1 signed entries"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("holds 1 entries past its signed checkpoint"),
        "{}",
        r.stdout
    );

    // Once the office removes it, work goes on; a new state directory (a lost record)
    // starts from the checkpoint the key signed, and says so.
    let path = TransparencyLog::entries_path(&office.path("releases/log"));
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.lines().next().unwrap().to_string() + "\n").unwrap();
    fs::rename(office.path("signer-state"), office.path("old-signer-state")).unwrap();
    let r = office.schedule("housing");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("started the signer's record in"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_signers_record_may_not_live_in_the_releases_directory() {
    let office = Office::new();
    assert_eq!(office.build("v1", &[]).code, 0);
    let mut cmd = office.office_side();
    cmd.env("STATVAULT_SIGNER_STATE", office.path("releases/state"))
        .args([
            "release",
            "sign",
            "--key",
            &office.p("office.key"),
            &office.p("releases/v1"),
        ]);
    let r = run_with_input(&mut cmd, &format!("{PASSPHRASE}\n"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("where whoever writes releases could rewrite it"),
        "{}",
        r.stderr
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            fs::copy(&p, &target).unwrap();
        }
    }
}

/// Regression (`release verify` hangs on a FIFO or a symlink to /dev/zero inside a
/// bundle): each is now named as a problem at once, exit 1.
#[test]
fn release_verify_names_a_fifo_or_a_link_to_dev_zero_and_does_not_hang() {
    let office = Office::published();
    let bundle = office.path("releases/v1");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let table = manifest["files"][0]["path"].as_str().unwrap().to_string();
    fs::remove_file(bundle.join(&table)).unwrap();
    let fifo = std::ffi::CString::new(bundle.join(&table).to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the FIFO.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    fs::remove_file(bundle.join("transparency.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", bundle.join("transparency.json")).unwrap();

    // Under coreutils' timeout: a verify that hangs fails the test (exit 124) rather
    // than stalling the run.
    let r: Run = Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_statvault"))
        .args(["release", "verify", "--pubkey", &office.p("office.pub")])
        .arg(&bundle)
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{table}: not a regular file")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("transparency.json: not a regular file"),
        "{}",
        r.stdout
    );
}

/// Regression (release commands are not safe together): two at once lost calendar
/// updates or moved the checkpoint backwards, both exiting 0. They now take the
/// signer's lock in turn.
#[test]
fn release_commands_run_at_once_lose_nothing() {
    let office = Office::new();
    let ids: Vec<String> = (0..4).map(|i| format!("survey-{i}")).collect();
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let office = &office;
                scope.spawn(move || office.schedule(id))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &runs {
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let log = TransparencyLog::open(&office.path("releases/log")).unwrap();
    assert_eq!(log.size(), 4);
    let text = fs::read_to_string(office.path("releases/log/checkpoint")).unwrap();
    let key = statvault_release::minisign::MinisignKey::read(
        &fs::read_to_string(office.path("office.pub")).unwrap(),
    )
    .unwrap();
    assert_eq!(log.check(&text, &key.key).unwrap().size, 4);
    let calendar = statvault_release::calendar::Calendar::read(
        &fs::read(office.path("releases/calendar.json")).unwrap(),
    )
    .unwrap();
    for id in &ids {
        assert!(calendar.get(id).is_some(), "{id} lost from the calendar");
    }
}

/// Regression (leftovers of killed commands stayed behind): a half-built bundle and a
/// temporary calendar of a process that is gone are removed by the next command.
#[test]
fn leftovers_of_killed_commands_are_removed_by_the_next() {
    let office = Office::published();
    // A pid that is not running (beyond the kernel's default pid_max).
    let dead = 4_194_304 + 7;
    let partial = office.path(&format!("releases/v2.partial-{dead}"));
    fs::create_dir_all(partial.join("tables")).unwrap();
    let temp = office.path(&format!("releases/calendar.json.tmp-{dead}"));
    fs::write(&temp, "half").unwrap();
    let live = office.path(&format!(
        "releases/calendar.json.tmp-{}",
        std::process::id()
    ));
    fs::write(&live, "ours, still running").unwrap();
    let r = office.schedule("housing");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !partial.exists() && !temp.exists(),
        "the dead process's leftovers stayed"
    );
    assert!(live.exists(), "a running process's file was removed");
}

/// Regression (the mirror replaced its log non-atomically, and a crash in that window
/// made the next pull accept a rolled-back log): a mirror killed at any file
/// operation of a pull still refuses a primary that serves an older log, keeps a log
/// its checkpoint signs, and finishes the pull when run again.
#[test]
fn a_mirror_killed_anywhere_in_a_pull_never_takes_a_rolled_back_log() {
    let office = Office::new();
    let snapshot = |name: &str| {
        copy_dir(&office.path("releases"), &office.path(name));
        office.path(name)
    };
    let past = [("2026-12-01T10:00:00Z", "2024-01-15T10:00:00Z")];
    assert_eq!(office.schedule("housing").code, 0);
    let oldest = snapshot("log-1");
    assert_eq!(office.build("v1", &past).code, 0);
    assert_eq!(office.sign("v1", "office", None).code, 0);
    let older = snapshot("log-2");
    assert_eq!(office.schedule("labour").code, 0);
    let revised = [past[0], ("version = 1", "version = 2")];
    assert_eq!(office.build("v2", &revised).code, 0);
    let r = office.sign("v2", "office", Some("a corrected table"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let serve = |dir: &Path| {
        Server::start(statvault().args([
            "site",
            "serve",
            "--releases",
            dir.to_str().unwrap(),
            "--pubkey",
            &office.p("office.pub"),
            "--addr",
            "127.0.0.1:0",
        ]))
    };
    let (rolled_back, before, now) = (
        serve(&oldest),
        serve(&older),
        serve(&office.path("releases")),
    );
    let pull = |from: &Server, out: &Path| {
        let mut cmd = statvault();
        cmd.args(["site", "mirror", "--from", &from.url, "--out"])
            .arg(out)
            .args(["--pubkey", &office.p("office.pub")]);
        cmd
    };
    let base = office.path("mirror-base");
    let r: Run = pull(&before, &base).output().unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mirror = office.path("mirror");
    let reset = || {
        let _ = fs::remove_dir_all(&mirror);
        copy_dir(&base, &mirror);
    };
    reset();
    let ops = Fault::count(
        &mut pull(&now, &mirror),
        "any",
        &mirror,
        &office.path("ops.log"),
    );
    assert!(ops > 10, "the pull made {ops} file operations");
    let key = statvault_release::minisign::MinisignKey::read(
        &fs::read_to_string(office.path("office.pub")).unwrap(),
    )
    .unwrap();
    for n in 1..=ops {
        reset();
        let killed = Fault {
            op: "any",
            n,
            mode: "kill",
            path: &mirror,
            log: None,
        }
        .inject(&mut pull(&now, &mirror))
        .output()
        .unwrap();
        assert_eq!(killed.status.code(), None, "operation {n} was not reached");
        let r: Run = pull(&rolled_back, &mirror).output().unwrap().into();
        assert_eq!(r.code, 1, "killed at operation {n}: {}", r.stderr);
        assert!(r.stderr.contains("rolled back"), "{}", r.stderr);
        let log = TransparencyLog::open(&mirror.join("log")).unwrap();
        let checkpoint = fs::read_to_string(mirror.join("log/checkpoint")).unwrap();
        let kept = log.check(&checkpoint, &key.key).unwrap();
        assert!(kept.size >= 2, "killed at operation {n}: the log went back");
        let r: Run = pull(&now, &mirror).output().unwrap().into();
        assert_eq!(r.code, 0, "killed at operation {n}: {}", r.stderr);
        assert!(mirror.join("v2/manifest.json").exists());
    }
}
