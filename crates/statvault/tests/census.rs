//! `statvault census synth` end to end.

mod common;

use std::fs;

use common::*;

/// `statvault census synth --persons N --seed S --out OUT`.
fn synth(persons: &str, seed: &str, out: &str) -> Run {
    run(&[
        "census",
        "synth",
        "--persons",
        persons,
        "--seed",
        seed,
        "--out",
        out,
    ])
}

#[test]
fn synth_writes_a_deterministic_census() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let r = synth("20000", "9", &out("a.csv"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("20000 persons"), "{}", r.stderr);
    let a = fs::read_to_string(out("a.csv")).unwrap();
    assert_eq!(a.lines().count(), 20_001);
    assert!(a.starts_with("person_id,household_id,dwelling_id,county,municipality,sex,age"));
    assert_eq!(synth("20000", "9", &out("b.csv")).code, 0);
    assert_eq!(
        a,
        fs::read_to_string(out("b.csv")).unwrap(),
        "same seed, same bytes"
    );
}

#[test]
fn synth_refuses_what_it_cannot_write_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let parquet = synth("10", "1", &out("c.parquet"));
    assert_eq!(parquet.code, 2);
    assert!(parquet.stderr.contains("Parquet"), "{}", parquet.stderr);
    assert_eq!(synth("0", "1", &out("c.csv")).code, 2);
    let missing_dir = synth("10", "1", &out("no/such/dir/c.csv"));
    assert_eq!(missing_dir.code, 2);
    assert!(
        missing_dir.stderr.contains("no/such/dir"),
        "{}",
        missing_dir.stderr
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing partial left behind"
    );
}
