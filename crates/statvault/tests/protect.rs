//! `statvault tabulate --protect …` and `statvault protect …` end to end.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use statvault_census::Table;
use statvault_protect::{PTable, ProtectedTable};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/census-albania");

/// A vault holding a 30,000-person synthetic census; returns it and the snapshot.
fn census() -> (Workplace, String) {
    let w = Workplace::new(2, 2);
    let csv = w.path("census.csv").display().to_string();
    let r = run(&[
        "census",
        "synth",
        "--persons",
        "30000",
        "--seed",
        "5",
        "--out",
        &csv,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let schema = format!("{EXAMPLES}/schema.toml");
    let r = w.command(
        &["census", "ingest"],
        2,
        &["--schema", &schema, "--input", &csv],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let snapshot = r.stdout.trim().to_string();
    (w, snapshot)
}

fn tabulate(w: &Workplace, snapshot: &str, spec: &str, out: &Path, extra: &[&str]) -> Run {
    let spec = format!("{EXAMPLES}/{spec}");
    let out = out.display().to_string();
    let mut args = vec!["--snapshot", snapshot, "--spec", &spec, "--out", &out];
    args.extend_from_slice(extra);
    w.command(&["tabulate"], 2, &args)
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

fn protected(path: &Path) -> ProtectedTable {
    ProtectedTable::read(&fs::read(path).unwrap()).unwrap()
}

fn original(dir: &Path, id: &str) -> Table {
    Table::read(&fs::read(dir.join(format!("{id}.table.json"))).unwrap()).unwrap()
}

/// Copies only the protected files: what the public side gets.
fn public_copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for f in files(from, ".protected.json") {
        fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

#[test]
fn tabulate_protects_every_standard_table_and_the_audits_pass() {
    let (w, snapshot) = census();

    // The cell key method, national and county population kept exact.
    let ckm = w.path("ckm");
    let r = tabulate(
        &w,
        &snapshot,
        "tables.toml",
        &ckm,
        &[
            "--protect",
            "ckm",
            "--keep-totals",
            "population_municipality_sex",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let outputs = files(&ckm, ".protected.json");
    assert_eq!(outputs.len(), files(&ckm, ".table.json").len());
    assert_eq!(outputs.len(), 20);
    for path in &outputs {
        let text = fs::read_to_string(path).unwrap();
        assert!(!text.contains("record_key_sums") && !text.contains("\"records\""));
        let p = protected(path);
        let t = original(&ckm, &p.id);
        let audit = p.protection.audit.ckm.as_ref().unwrap();
        assert!(
            p.protection.audit.passed,
            "{}: {:?}",
            p.id, p.protection.audit
        );
        assert_eq!(audit.small_values, 0);
        assert_eq!(audit.inconsistent, Some(0));
        for (c, v) in p.values.iter().enumerate() {
            let v = v.expect("the cell key method publishes every cell");
            assert!(v == 0 || v > 2, "{} publishes {v}", p.id);
            assert!((v - t.values[c]).abs() <= 5);
            if t.values[c] == 0 {
                assert_eq!(v, 0, "zero stays zero");
            }
        }
    }
    let exact = protected(&ckm.join("population_municipality_sex.protected.json"));
    assert_eq!(exact.status[0], "u", "the national total is exact");
    assert_eq!(exact.values[0], Some(30_000));
    assert!(r.stdout.contains("pass"), "{}", r.stdout);
    let audit = run(&["protect", "audit", &ckm.display().to_string()]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    assert!(
        audit.stdout.contains("changed"),
        "the internal audit compares: {}",
        audit.stdout
    );

    // The threshold rule with secondary suppression, all tables linked.
    let sup = w.path("suppress");
    let r = tabulate(
        &w,
        &snapshot,
        "tables.toml",
        &sup,
        &["--protect", "suppress"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut suppressed = 0;
    for path in files(&sup, ".protected.json") {
        let p = protected(&path);
        let t = original(&sup, &p.id);
        assert!(
            p.protection.audit.passed,
            "{}: {:?}",
            p.id, p.protection.audit.failures
        );
        // The grid takes the cell key method unless suppression is asked for.
        if t.is_grid() {
            assert_eq!(p.protection.method, "ckm");
            continue;
        }
        for c in 0..t.cells() {
            if (1..10).contains(&t.records[c]) {
                assert_eq!((p.values[c], p.status[c].as_str()), (None, "c"));
            }
            if p.values[c].is_none() {
                suppressed += 1;
            } else {
                assert_eq!(p.values[c], Some(t.values[c]), "published cells are exact");
            }
        }
    }
    assert!(suppressed > 100, "30,000 people leave many small cells");
    let audit = run(&["protect", "audit", &sup.display().to_string()]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    assert!(audit.stdout.contains("primary"), "{}", audit.stdout);

    // Anyone's audit, from the published files alone.
    let public = w.path("public");
    public_copy(&sup, &public);
    let audit = run(&["protect", "audit", "--json", &public.display().to_string()]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    let reports: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(
        reports["population_municipality_sex_age5"]["with_originals"],
        false
    );

    // An attack written apart from statvault's, from the documents, with another
    // solver (HiGHS): it finds no cell exposed, and it finds one once a table's
    // secondary suppressions are published again.
    let attack = |dir: &Path, only: Option<&str>| {
        let out = std::process::Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attack_highs.py"))
            .arg(dir)
            .args(["3", "7"])
            .args(only)
            .output()
            .expect("running the HiGHS attack");
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.code().is_some(),
            "{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), report)
    };
    let (safe, report) = attack(&sup, None);
    assert!(safe && report.contains("0 exposed"), "{report}");
    let reopened = w.path("reopened");
    fs::create_dir_all(&reopened).unwrap();
    for f in fs::read_dir(&sup).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, reopened.join(f.file_name().unwrap())).unwrap();
    }
    let id = "working_age_county_sex_activity";
    let (t, path) = (
        original(&sup, id),
        reopened.join(format!("{id}.protected.json")),
    );
    let mut p = protected(&path);
    for c in 0..t.cells() {
        if p.status[c] == "c" && t.records[c] >= 10 {
            (p.values[c], p.status[c]) = (Some(t.values[c]), String::new());
        }
    }
    fs::write(&path, p.write()).unwrap();
    let (safe, report) = attack(&reopened, Some(id));
    assert!(!safe && report.contains("primary unknown"), "{report}");

    // The 20 protected tables become a release bundle; never built over.
    let meta = format!("{EXAMPLES}/../release/census-2023.toml");
    let bundle = w.path("release").display().to_string();
    let build = |out: &str, meta: &str| {
        run(&[
            "release",
            "build",
            "--tables",
            &public.display().to_string(),
            "--meta",
            meta,
            "--out",
            out,
        ])
    };
    let r = build(&bundle, &meta);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("20 tables"), "{}", r.stdout);
    let manifest =
        statvault_release::Manifest::read(&fs::read(w.path("release/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest.files.len(), 20 * 10 + 1);
    let r = build(&bundle, &meta);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("never overwritten"), "{}", r.stderr);
    let bad = w.path("bad.toml");
    fs::write(
        &bad,
        fs::read_to_string(&meta).unwrap().replace(
            "release_time = \"2026-12-01T10:00:00Z\"",
            "release_time = \"soon\"",
        ),
    )
    .unwrap();
    let r = build(
        &w.path("other").display().to_string(),
        &bad.display().to_string(),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("bad.toml") && r.stderr.contains("release_time"),
        "{}",
        r.stderr
    );
    assert!(!w.path("other").exists());

    // Publishing a primary cell again is caught, internally and publicly, exit 1.
    let id = "population_municipality_sex_age5";
    let t = original(&sup, id);
    let path = sup.join(format!("{id}.protected.json"));
    let mut p = protected(&path);
    let cell = (0..t.cells())
        .find(|&c| (1..10).contains(&t.records[c]))
        .unwrap();
    p.values[cell] = Some(t.values[cell]);
    p.status[cell] = String::new();
    fs::write(&path, p.write()).unwrap();
    let audit = run(&["protect", "audit", &path.display().to_string()]);
    assert_eq!(audit.code, 1, "{}{}", audit.stdout, audit.stderr);
    assert!(audit.stdout.contains("FAIL"), "{}", audit.stdout);
}

/// Finding: the grid suppressed by the old audit's model gave up 846 cells exactly and
/// left 5,826 primary cells short once the attacker knew that hidden counts are at
/// least 1 and what the categories' definitions imply. The audit now attacks that way.
#[test]
fn a_grid_suppressed_before_the_attacker_knew_the_definitions_fails_the_audit() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grid-suppressed-before-implications"
    );
    let internal = run(&["protect", "audit", fixture]);
    assert_eq!(internal.code, 1, "{}{}", internal.stdout, internal.stderr);
    assert!(
        internal.stdout.contains("FAIL") && internal.stdout.contains("under-protected: value 1"),
        "{}",
        internal.stdout
    );
    // From the published file alone, which carries no bounds: the schema gives them.
    let dir = tempfile::tempdir().unwrap();
    public_copy(Path::new(fixture), dir.path());
    let public = dir.path().display().to_string();
    let schema = format!("{EXAMPLES}/schema.toml");
    let with_definitions = run(&["protect", "audit", "--schema", &schema, &public]);
    assert_eq!(with_definitions.code, 1, "{}", with_definitions.stdout);
    assert!(
        with_definitions
            .stdout
            .contains("recomputable: attacker's interval [1.00, 1.00]"),
        "{}",
        with_definitions.stdout
    );
}

/// The same grid protected today: by the cell key method by default, and where
/// suppression is asked for, a pattern that passes the full attack inside and out.
#[test]
fn a_grid_suppressed_today_passes_the_attack_that_knows_the_definitions() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grid-suppressed-before-implications/grid_1km.table.json"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let r = run(&["protect", "suppress", "--out", &out("default"), fixture]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("perturbed"), "{}", r.stdout);
    let r = run(&[
        "protect",
        "suppress",
        "--suppress-grid",
        "--out",
        &out("suppressed"),
        fixture,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("0 exact, 0 under-protected"),
        "{}",
        r.stdout
    );
    let p = protected(&dir.path().join("suppressed/grid_1km.protected.json"));
    assert!(
        !p.dimensions[1].bounds.is_empty(),
        "the bounds are published"
    );
    let public = run(&["protect", "audit", &out("suppressed")]);
    assert_eq!(public.code, 0, "{}{}", public.stdout, public.stderr);
    assert!(public.stdout.contains("0 exact"), "{}", public.stdout);
}

#[test]
fn the_protect_command_reads_table_files_and_refuses_bad_input() {
    let (w, snapshot) = census();
    let tables = w.path("tables");
    assert_eq!(tabulate(&w, &snapshot, "tables.toml", &tables, &[]).code, 0);
    let table = tables
        .join("population_county_sex_age5.table.json")
        .display()
        .to_string();
    let out = w.path("out").display().to_string();

    // A generated p-table, read back and used.
    let ptable = w.path("p.csv").display().to_string();
    let r = run(&[
        "protect",
        "ptable",
        "--max-deviation",
        "8",
        "--variance",
        "3",
        "--js",
        "2",
        "--out",
        &ptable,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let generated = PTable::read(&fs::read_to_string(&ptable).unwrap()).unwrap();
    assert_eq!((generated.max_deviation(), generated.js()), (8, 2));
    let r = run(&["protect", "ckm", "--ptable", &ptable, "--out", &out, &table]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let p = protected(&w.path("out/population_county_sex_age5.protected.json"));
    assert_eq!(p.protection.parameters["max_deviation"], 8);

    let r = run(&[
        "protect",
        "suppress",
        "--threshold",
        "20",
        "--out",
        &out,
        &table,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Bad input: exit 2, the file and what is wrong named.
    let bad = w.path("bad.csv");
    fs::write(
        &bad,
        fs::read_to_string(&ptable)
            .unwrap()
            .replacen("\n1,0,", "\n1,zero,", 1),
    )
    .unwrap();
    let r = run(&[
        "protect",
        "ckm",
        "--ptable",
        &bad.display().to_string(),
        "--out",
        &out,
        &table,
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("bad.csv") && r.stderr.contains("line 3, column j"),
        "{}",
        r.stderr
    );

    let r = run(&["protect", "ptable", "--max-deviation", "3", "--js", "3"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("js = 3 must be below D = 3"),
        "{}",
        r.stderr
    );

    let sums = w.path("sums");
    // Tabulated and protected in one go, reported as one JSON document.
    let r = tabulate(
        &w,
        &snapshot,
        "mean-age.toml",
        &sums,
        &["--protect", "suppress", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["tables"][0]["id"], "age_sum_municipality_sex");
    assert_eq!(report["audits"]["age_sum_municipality_sex"]["passed"], true);
    let magnitude = sums
        .join("age_sum_municipality_sex.table.json")
        .display()
        .to_string();
    let r = run(&["protect", "ckm", "--out", &out, &magnitude]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("age_sum_municipality_sex") && r.stderr.contains("suppress"),
        "{}",
        r.stderr
    );
    // Suppression protects the magnitude table, threshold on contributors.
    let r = run(&["protect", "suppress", "--out", &out, &magnitude]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let r = run(&["protect", "audit", &table]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("population_county_sex_age5.table.json"),
        "{}",
        r.stderr
    );

    let r = run(&[
        "protect",
        "ckm",
        "--keep-totals",
        "nope",
        "--out",
        &out,
        &table,
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}
