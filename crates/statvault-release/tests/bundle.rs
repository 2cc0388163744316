//! `release build` on the protected tables in tests/data.

use std::fs;
use std::path::{Path, PathBuf};

use statvault_release::{build, Manifest, ReleaseError};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn meta() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/release/census-2023.toml")
}

/// Every file under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_bundle_lists_every_file_with_its_hashes_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("release");
    let report = build(&data(), &meta(), &out).unwrap();
    assert_eq!((report.tables, report.version), (2, 1));
    let manifest = Manifest::read(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.release, "census-2023-first-results");
    let mut listed: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
    listed.push("manifest.json".into());
    listed.sort();
    assert_eq!(
        listed,
        listing(&out),
        "the manifest lists every file, nothing more"
    );
    for f in &manifest.files {
        let bytes = fs::read(out.join(&f.path)).unwrap();
        assert_eq!(
            statvault_release::manifest::FileEntry::of(&f.path, &bytes),
            *f
        );
    }
    for suffix in [
        ".csv",
        ".sdmx.csv",
        ".sdmx.sq.csv",
        ".sdmx.en.csv",
        ".sdmx.xml",
        ".sq.json",
        ".en.json",
        ".px",
        ".xlsx",
    ] {
        assert!(
            listed.contains(&format!("tables/population_county_sex_age5{suffix}")),
            "{suffix}"
        );
    }
    let provenance = &manifest.provenance;
    assert_eq!(provenance.len(), 2);
    assert!(provenance
        .iter()
        .all(|p| p.audit_passed && p.snapshot.len() == 64));
    assert!(provenance
        .iter()
        .any(|p| p.method == "ckm" && p.ptable_blake3.is_some()));
    let release: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("release.json")).unwrap()).unwrap();
    assert_eq!(release["meta"]["release_time"], "2026-12-01T10:00:00Z");
    assert_eq!(release["tables"][1]["protection"]["method"], "suppress");

    // The same input builds the same bytes.
    let again = dir.path().join("again");
    build(&data(), &meta(), &again).unwrap();
    for f in listing(&out) {
        assert_eq!(
            fs::read(out.join(&f)).unwrap(),
            fs::read(again.join(&f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn bad_input_is_named_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("release");
    // Bad metadata.
    let bad_meta = dir.path().join("bad.toml");
    fs::write(
        &bad_meta,
        fs::read_to_string(meta())
            .unwrap()
            .replace("version = 1", "version = 0"),
    )
    .unwrap();
    let e = build(&data(), &bad_meta, &out).unwrap_err();
    assert!(
        matches!(e, ReleaseError::Meta { .. }) && e.to_string().contains("bad.toml"),
        "{e}"
    );
    assert!(!out.exists());
    // A table that does not parse.
    let tables = dir.path().join("tables");
    fs::create_dir(&tables).unwrap();
    for f in fs::read_dir(data()).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, tables.join(f.file_name().unwrap())).unwrap();
    }
    fs::write(tables.join("broken.protected.json"), b"{\"format\": 1}").unwrap();
    let e = build(&tables, &meta(), &out).unwrap_err();
    assert!(e.to_string().contains("broken.protected.json"), "{e}");
    assert!(!out.exists());
    assert_eq!(
        listing(dir.path())
            .iter()
            .filter(|p| p.contains("partial"))
            .count(),
        0
    );
    // An existing release is never overwritten.
    fs::remove_file(tables.join("broken.protected.json")).unwrap();
    build(&tables, &meta(), &out).unwrap();
    let before = fs::read(out.join("manifest.json")).unwrap();
    let e = build(&tables, &meta(), &out).unwrap_err();
    assert!(e.to_string().contains("never overwritten"), "{e}");
    assert_eq!(fs::read(out.join("manifest.json")).unwrap(), before);
}
