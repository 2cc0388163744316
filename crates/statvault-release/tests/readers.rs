//! The stock readers from PyPI read what statvault writes: pandas and DuckDB the CSV
//! and SDMX-CSV files, pyjstat the JSON-stat documents, pyaxis the PX file, openpyxl the workbook, each in
//! both languages where the format has them. `scripts/test` installs them into
//! `target/test-venv`; `STATVAULT_PYTHON` may name another interpreter that has them.
//! An independent checker written from the specifications (tests/check_release.py)
//! checks a signed bundle, its log and the iCalendar file; libical (Debian's, through
//! the system Python's PyGObject: tests/check_ical.py) checks the calendar against RFC
//! 5546.

use std::path::{Path, PathBuf};
use std::process::Command;

use statvault_protect::ProtectedTable;
use statvault_release::formats::{csv, jsonstat, px, sdmx, xlsx};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STATVAULT_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "the readers are missing: run scripts/test, which installs them into target/test-venv"
    );
    venv
}

#[test]
fn stock_readers_read_every_format() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_formats.py");
    for name in ["suppressed", "ckm"] {
        let source = data.join(format!("{name}.protected.json"));
        let table = ProtectedTable::read(&std::fs::read(&source).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write =
            |file: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(file), bytes).unwrap();
        write("table.csv", csv::write(&table));
        write("table.sdmx.csv", sdmx::write(&table, None));
        write("table.sdmx.en.csv", sdmx::write(&table, Some("en")));
        write(
            "table.sdmx.xml",
            sdmx::structure(&table, "2026-11-21T12:00:00Z"),
        );
        write("table.sq.json", jsonstat::write(&table, "sq"));
        write("table.en.json", jsonstat::write(&table, "en"));
        write("table.px", px::write(&table, "20261121 12:00"));
        write("table.xlsx", xlsx::write(&table).unwrap());
        let out = Command::new(python())
            .arg(&script)
            .arg(&source)
            .arg(dir.path())
            .output()
            .expect("running the reader script");
        assert!(
            out.status.success(),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report = String::from_utf8_lossy(&out.stdout);
        for reader in [
            "pandas csv",
            "duckdb csv",
            "sdmx",
            "sdmx1",
            "pyjstat sq",
            "pyjstat en",
            "pyaxis sq",
            "pyaxis en",
            "pandas-pcaxis",
            "pxrd",
        ] {
            assert!(
                report.contains(&format!("{reader}: ok")),
                "{name}: {report}"
            );
        }
    }
}

#[test]
fn an_independent_implementation_checks_signature_log_and_calendar() {
    use statvault_release::calendar::{change, Change};
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let meta =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/release/census-2023.toml");
    let releases = tempfile::tempdir().unwrap();
    let office_state = tempfile::tempdir().unwrap();
    let key = statvault_release::Signer::new(
        statvault_crypto::MasterKey::generate().release_key(),
        office_state.path(),
    );
    let title = [("sq", "Strehimi"), ("en", "Housing, dwellings; 2023")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let schedule = Change::Schedule {
        title,
        release_time: "2027-03-01T10:00:00Z",
        organizer: Some("info@instat.gov.al"),
    };
    change(releases.path(), "housing", schedule, &key).unwrap();
    let bundle = releases.path().join("first-results-v1");
    statvault_release::build(&data, &meta, &bundle).unwrap();
    statvault_release::sign(&bundle, &key, None).unwrap();
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_release.py"))
        .arg(releases.path())
        .arg("first-results-v1")
        .output()
        .expect("running the independent checker");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in [
        "minisign signature",
        "file hashes (21)",
        "log checkpoint (2 entries)",
        "inclusion proof",
        "icalendar (2 events)",
    ] {
        assert!(report.contains(&format!("{check}: ok")), "{report}");
    }
}

/// libical's verdict on a calendar file: `Ok` with its report, or `Err` with the errors
/// it marked.
fn libical(calendar: &Path) -> Result<String, String> {
    let out = Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_ical.py"))
        .arg(calendar)
        .output()
        .expect("running libical's check (scripts/test installs gir1.2-ical-3.0)");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Namespace ICalGLib not available"),
        "libical's introspection data is missing: run scripts/test, which installs it"
    );
    if out.status.success() {
        Ok(report)
    } else {
        Err(format!("{report}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Finding: `METHOD:PUBLISH` without `ORGANIZER` failed libical's RFC 5546 check.
/// A calendar whose releases all name their organizer is a PUBLISH message libical
/// accepts; one with a release that names none is a plain calendar, also accepted;
/// and the check is one that fails, as the PUBLISH message stripped of its organizers
/// shows.
#[test]
fn libical_accepts_the_calendar_under_rfc_5546() {
    use statvault_release::calendar::{change, Change};
    let releases = tempfile::tempdir().unwrap();
    let office_state = tempfile::tempdir().unwrap();
    let key = statvault_release::Signer::new(
        statvault_crypto::MasterKey::generate().release_key(),
        office_state.path(),
    );
    let schedule = |release: &str, organizer: Option<&str>| {
        let title = [("sq", "Strehimi"), ("en", "Housing")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let change_ = Change::Schedule {
            title,
            release_time: "2027-03-01T10:00:00Z",
            organizer,
        };
        change(releases.path(), release, change_, &key).unwrap();
    };
    let ics = releases
        .path()
        .join(statvault_release::names::CALENDAR_ICS_FILE);
    schedule("housing", Some("info@instat.gov.al"));
    let postpone = Change::Postpone {
        reason: "systems under attack",
        reasons: Default::default(),
        new_time: "2027-04-01T10:00:00Z",
    };
    change(releases.path(), "housing", postpone, &key).unwrap();
    schedule("population", Some("info@instat.gov.al"));
    let publish = std::fs::read_to_string(&ics).unwrap();
    assert!(publish.contains("METHOD:PUBLISH"), "{publish}");
    assert_eq!(libical(&ics), Ok("libical: ok\n".into()));

    let stripped = releases.path().join("stripped.ics");
    let without: String = publish
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with("ORGANIZER"))
        .collect();
    std::fs::write(&stripped, without).unwrap();
    let refused = libical(&stripped).unwrap_err();
    assert!(refused.contains("ORGANIZER"), "{refused}");

    schedule("agriculture", None);
    let plain = std::fs::read_to_string(&ics).unwrap();
    assert!(!plain.contains("METHOD:"), "{plain}");
    assert_eq!(libical(&ics), Ok("libical: ok\n".into()));
}
