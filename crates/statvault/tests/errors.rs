//! The common failures of each command, output matched exactly: one line, what failed
//! with its own context, the cause once, exit 2, nothing on standard output.
//!
//! Finding: `error: census.csv: No such file or directory (os error 2): No such file or
//! directory (os error 2)`. Library errors put their cause in their text and also
//! returned it as their source, and the binary printed both; it hid that by dropping
//! any cause whose text it had printed already, which would also drop a distinct cause
//! that happened to read alike. Substring checks could not catch either.

mod common;

use common::*;

const MISSING: &str = "No such file or directory (os error 2)";

/// Runs `args` and checks the whole of what it printed.
fn fails_exactly(args: &[&str], stderr: String) {
    let r = run(args);
    assert_eq!(r.stderr, stderr, "{args:?}");
    assert_eq!(r.stdout, "", "{args:?}");
    assert_eq!(r.code, 2, "{args:?}");
}

#[test]
fn each_commands_common_failure_says_what_failed_and_its_cause_once() {
    let w = Workplace::new(2, 2);
    let path = |name: &str| w.path(name).display().to_string();
    let (share1, share2) = (w.shares[0].as_str(), w.shares[1].as_str());
    let with_shares = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--repo", &w.repo, "--share", share1, "--share", share2].map(String::from));
        all
    };
    let strs = |v: &[String]| -> Vec<String> { v.to_vec() };
    let check = |args: Vec<String>, stderr: String| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_exactly(&refs, stderr);
    };

    // census ingest: the input, then the schema, missing.
    let ingest = |schema: &str, input: &str| {
        strs(&with_shares(&[
            "census", "ingest", "--schema", schema, "--input", input,
        ]))
    };
    check(
        ingest(SCHEMA, &path("census.csv")),
        format!("error: {}: {MISSING}\n", path("census.csv")),
    );
    check(
        ingest(&path("schema.toml"), &path("census.csv")),
        format!("error: reading schema {}: {MISSING}\n", path("schema.toml")),
    );

    // A schema naming a variable it lacks: the file, the item's line and column.
    let bad_schema = path("bad-schema.toml");
    let text =
        std::fs::read_to_string(SCHEMA)
            .unwrap()
            .replacen("from = \"age\"", "from = \"years\"", 1);
    let line = 1 + text
        .lines()
        .position(|l| l == "[derived.age_group5]")
        .unwrap();
    std::fs::write(&bad_schema, text).unwrap();
    check(
        ingest(&bad_schema, &path("census.csv")),
        format!(
            "error: schema {bad_schema}, line {line}, column 1: derived variable age_group5: unknown variable \"years\"\n"
        ),
    );

    // vault: a directory that holds no vault.
    check(
        strs(&["vault", "verify", "--repo", &path("nowhere")].map(String::from)),
        format!(
            "error: vault {}: no vault here: the repository has no 'config' (create one with 'vault init')\n",
            path("nowhere")
        ),
    );
    // A share file that is not there.
    check(
        strs(
            &[
                "vault",
                "snapshots",
                "--repo",
                &w.repo,
                "--share",
                &path("lost.share"),
            ]
            .map(String::from),
        ),
        format!("error: cannot read {}: {MISSING}\n", path("lost.share")),
    );

    // tabulate: the spec missing.
    check(
        strs(&with_shares(&[
            "tabulate",
            "--snapshot",
            "latest",
            "--spec",
            &path("tables.toml"),
            "--out",
            &path("out"),
        ])),
        format!("error: reading spec {}: {MISSING}\n", path("tables.toml")),
    );

    // protect: a table file missing, for applying and for auditing.
    check(
        strs(
            &[
                "protect",
                "suppress",
                "--out",
                &path("out"),
                &path("t.table.json"),
            ]
            .map(String::from),
        ),
        format!("error: reading {}: {MISSING}\n", path("t.table.json")),
    );
    check(
        strs(&["protect", "audit", &path("t.protected.json")].map(String::from)),
        format!("error: reading {}: {MISSING}\n", path("t.protected.json")),
    );

    // release verify: no bundle there.
    check(
        strs(&["release", "verify", &path("bundle")].map(String::from)),
        format!("error: bundle {}: not a directory\n", path("bundle")),
    );

    // site: no releases directory.
    check(
        strs(
            &[
                "site",
                "export",
                "--releases",
                &path("releases"),
                "--out",
                &path("site"),
            ]
            .map(String::from),
        ),
        format!("error: {} is not a directory\n", path("releases")),
    );
}

/// Each library's error for a failed read holds its cause in its text and not also as
/// its source, so a chain of contexts shows the cause once.
#[test]
fn a_library_error_carries_its_cause_once() {
    let cause = || std::io::Error::from(std::io::ErrorKind::NotFound);
    let errors: Vec<anyhow::Error> = vec![
        statvault_vault::VaultError::Io {
            path: "config".into(),
            cause: cause(),
        }
        .into(),
        statvault_census::CensusError::Io {
            path: "census.csv".into(),
            cause: cause(),
        }
        .into(),
        statvault_release::ReleaseError::Io {
            path: "manifest.json".into(),
            cause: cause(),
        }
        .into(),
        statvault_census::CensusError::Vault(statvault_vault::VaultError::Io {
            path: "config".into(),
            cause: cause(),
        })
        .into(),
    ];
    for err in errors {
        let shown = format!("{:#}", err.context("reading"));
        assert_eq!(shown.matches("entity not found").count(), 1, "{shown}");
    }
}
