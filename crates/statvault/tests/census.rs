//! `statvault census synth | ingest` and `statvault tabulate` end to end.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use common::*;
use statvault_census::table::{CategoryKind, Table};

fn ingest(w: &Workplace, schema: &str, input: &Path) -> Run {
    w.command(
        &["census", "ingest"],
        2,
        &["--schema", schema, "--input", &input.display().to_string()],
    )
}

fn tabulate(w: &Workplace, snapshot: &str, spec: &str, out: &Path) -> Run {
    w.command(
        &["tabulate"],
        2,
        &[
            "--snapshot",
            snapshot,
            "--spec",
            spec,
            "--out",
            &out.display().to_string(),
        ],
    )
}

fn read_table(dir: &Path, id: &str) -> Table {
    Table::read(&fs::read(dir.join(format!("{id}.table.json"))).unwrap()).unwrap()
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
    assert_eq!(synth("20000", "9", &out("a.parquet")).code, 0);
    assert_eq!(synth("20000", "9", &out("b.parquet")).code, 0);
    assert_eq!(
        fs::read(out("a.parquet")).unwrap(),
        fs::read(out("b.parquet")).unwrap()
    );
}

#[test]
fn synth_refuses_what_it_cannot_write_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let xlsx = synth("10", "1", &out("c.xlsx"));
    assert_eq!(xlsx.code, 2);
    assert!(xlsx.stderr.contains(".csv or .parquet"), "{}", xlsx.stderr);
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

/// The synthetic census, as CSV and as Parquet, ingests to the same data and
/// tabulates to the same tables; totals add up along every hierarchy.
#[test]
fn synth_ingest_tabulate_round_trip() {
    let w = Workplace::new(3, 2);
    let (csv, parquet) = (w.path("census.csv"), w.path("census.parquet"));
    for f in [&csv, &parquet] {
        assert_eq!(synth("30000", "4", &f.display().to_string()).code, 0);
    }
    let from_csv = ingest(&w, SCHEMA, &csv);
    assert_eq!(from_csv.code, 0, "{}", from_csv.stderr);
    assert!(
        from_csv.stderr.contains("30000 persons"),
        "{}",
        from_csv.stderr
    );
    let from_parquet = ingest(&w, SCHEMA, &parquet);
    assert_eq!(from_parquet.code, 0, "{}", from_parquet.stderr);
    let (a, b) = (w.path("tables-csv"), w.path("tables-parquet"));
    let r = tabulate(&w, from_csv.stdout.trim(), TABLES, &a);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("grid_1km"), "{}", r.stdout);
    assert_eq!(tabulate(&w, from_parquet.stdout.trim(), TABLES, &b).code, 0);

    let spec = fs::read_to_string(TABLES).unwrap();
    let ids: Vec<&str> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("id = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    assert!(ids.len() >= 20);
    for id in &ids {
        let (ta, tb) = (read_table(&a, id), read_table(&b, id));
        assert_eq!(
            ta.values, tb.values,
            "table {id}: same values from CSV and Parquet"
        );
        assert_eq!(ta.dimensions, tb.dimensions);
        assert_ne!(
            ta.record_key_sums, tb.record_key_sums,
            "record keys are drawn anew at each ingest"
        );
    }

    // Population by municipality, sex, age group: the country total is every person,
    // each county is the sum of its municipalities, each total the sum of its parts.
    let t = read_table(&a, "population_municipality_sex_age5");
    let geo = &t.dimensions[0];
    let (sexes, ages) = (
        t.dimensions[1].categories.len(),
        t.dimensions[2].categories.len(),
    );
    let at = |g: usize, s: usize, a: usize| t.values[(g * sexes + s) * ages + a];
    assert_eq!(geo.categories[0].kind, CategoryKind::Total);
    assert_eq!(at(0, 0, 0), 30_000);
    let counties: HashMap<&str, usize> = geo
        .categories
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == CategoryKind::Subtotal)
        .map(|(i, c)| (c.code.as_str(), i))
        .collect();
    assert_eq!(counties.len(), 12);
    let geography = statvault_census::Geography::albania();
    for s in 0..sexes {
        for a in 0..ages {
            let mut sums = vec![0i64; geo.categories.len()];
            for m in &geography.municipalities {
                let i = geo
                    .categories
                    .iter()
                    .position(|c| c.code == m.code && c.kind == CategoryKind::Code)
                    .unwrap();
                sums[counties[geography.counties[m.county].code.as_str()]] += at(i, s, a);
            }
            for &c in counties.values() {
                assert_eq!(sums[c], at(c, s, a), "county subtotal at sex {s}, age {a}");
            }
            assert_eq!(
                counties.values().map(|&c| at(c, s, a)).sum::<i64>(),
                at(0, s, a)
            );
        }
    }
    for g in 0..geo.categories.len() {
        for a in 0..ages {
            assert_eq!(at(g, 0, a), at(g, 1, a) + at(g, 2, a), "sex total");
        }
    }
    // Municipal totals are the generator's allocation of the 2023 figures.
    let per_municipality = geography.persons_per_municipality(30_000);
    for (m, expected) in geography.municipalities.iter().zip(per_municipality) {
        let i = geo
            .categories
            .iter()
            .position(|c| c.code == m.code)
            .unwrap();
        assert_eq!(at(i, 0, 0) as u64, expected, "{}", m.name);
    }

    // The GEOSTAT grid: T = M + F = the three age groups, summed over cells = everyone.
    let grid = read_table(&a, "grid_1km");
    let vars: Vec<&str> = grid.dimensions[1]
        .categories
        .iter()
        .map(|c| c.code.as_str())
        .collect();
    let v = |cell: usize, code: &str| {
        grid.values[cell * vars.len() + vars.iter().position(|c| *c == code).unwrap()]
    };
    let mut total = 0;
    for cell in 0..grid.dimensions[0].categories.len() {
        assert!(grid.dimensions[0].categories[cell]
            .code
            .starts_with("CRS3035RES1000mN"));
        assert_eq!(v(cell, "T"), v(cell, "M") + v(cell, "F"));
        assert_eq!(
            v(cell, "T"),
            v(cell, "Y_LT15") + v(cell, "Y_1564") + v(cell, "Y_GE65")
        );
        assert_eq!(
            v(cell, "T"),
            v(cell, "NAT") + v(cell, "EU_OTH") + v(cell, "OTH")
        );
        assert!(v(cell, "T") > 0);
        total += v(cell, "T");
    }
    assert_eq!(total, 30_000);
    // What the schema's implications say between the variables is written down, and
    // holds (those born during the year are under 15; the employed are 15 and over).
    let bounds: Vec<(String, String)> = grid.dimensions[1]
        .bounds
        .iter()
        .map(|b| (b.parts.join("+"), b.within.join("+")))
        .collect();
    for expected in [
        ("EMP", "T"),
        ("CHG_IN+CHG_OUT+SAME", "T"),
        ("T", "CHG_IN+CHG_OUT+SAME+Y_LT15"),
        ("EMP", "Y_1564+Y_GE65"),
    ] {
        assert!(
            bounds.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {bounds:?}"
        );
    }
    assert_eq!(grid.broken_bound(), None);

    // Households: counted once each, and persons in households add up.
    let households = read_table(&a, "households_municipality_size");
    let by_size = read_table(&a, "persons_in_households_county_size");
    let sizes = &households.dimensions[1].categories;
    assert_eq!(sizes[0].kind, CategoryKind::Total);
    assert_eq!(by_size.values[0], 30_000);
    assert!(households.values[0] > 30_000 / 4 && households.values[0] < 30_000 / 2);
}

#[test]
fn tabulate_refuses_a_bad_spec_and_a_snapshot_that_is_not_a_census() {
    let w = Workplace::new(2, 2);
    let csv = w.path("census.csv");
    assert_eq!(synth("2000", "1", &csv.display().to_string()).code, 0);
    let snapshot = ingest(&w, SCHEMA, &csv).stdout.trim().to_string();
    let spec = w.path("spec.toml");
    fs::write(
        &spec,
        "format = \"statvault-table-spec/1\"\n[[table]]\nid = \"t\"\ndimensions = [\"colour\"]\n",
    )
    .unwrap();
    let out = w.path("out");
    let r = tabulate(&w, &snapshot, &spec.display().to_string(), &out);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown variable \"colour\""),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "nothing written");
    fs::write(&spec, "format = \"statvault-table-spec/1\"\n[[table]]\nid = \"t\"\nunit = \"household\"\ndimensions = [\"sex\"]\n").unwrap();
    let r = tabulate(&w, &snapshot, &spec.display().to_string(), &out);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("sex describes person records"),
        "{}",
        r.stderr
    );

    let files = w.path("files");
    fs::create_dir(&files).unwrap();
    fs::write(files.join("a.txt"), "not a census").unwrap();
    let added = w.vault("add", 2, &[&files.display().to_string()]);
    let r = tabulate(&w, added.stdout.trim(), TABLES, &out);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a census dataset"), "{}", r.stderr);
}

/// A census dataset altered by someone with the key (or written by a faulty program)
/// and committed as a new snapshot: a packed column cut short, a code beyond its
/// codelist, record keys claimed stored in a dataset that draws them. Each is refused
/// naming the file, never tabulated with wrong codes or keys.
#[test]
fn a_damaged_packed_column_or_record_key_claim_is_refused_naming_the_file() {
    let w = Workplace::new(2, 2);
    let csv = w.path("census.csv");
    assert_eq!(synth("1000", "4", &csv.display().to_string()).code, 0);
    let snapshot = ingest(&w, SCHEMA, &csv).stdout.trim().to_string();
    let restored = w.path("restored");
    let target = restored.display().to_string();
    let r = w.vault("restore", 2, &["--target", &target, &snapshot]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let census = restored.join("census");
    let spec = w.path("spec.toml");
    fs::write(
        &spec,
        "format = \"statvault-table-spec/1\"\n[[table]]\nid = \"t\"\ndimensions = [\"sex\", \"age\"]\n",
    )
    .unwrap();
    let spec = spec.display().to_string();
    let damaged = |change: &dyn Fn(&Path), expected: &str| {
        let copy = w.path("damaged").join("census");
        let _ = fs::remove_dir_all(copy.parent().unwrap());
        fs::create_dir_all(copy.join("columns")).unwrap();
        for (path, bytes) in tree_bytes(&census) {
            fs::write(copy.join(path.strip_prefix(&census).unwrap()), bytes).unwrap();
        }
        change(&copy);
        let added = w.vault("add", 2, &[&copy.display().to_string()]);
        assert_eq!(added.code, 0, "{}", added.stderr);
        let out = w.path("out");
        let r = tabulate(&w, added.stdout.trim(), &spec, &out);
        // Exit 1: a check found damage in the vault's data.
        assert_eq!(r.code, 1, "{expected}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(expected), "{expected} in {}", r.stderr);
        assert!(
            !r.stderr.contains("spec.toml"),
            "the spec is not at fault: {}",
            r.stderr
        );
        assert!(!out.exists(), "nothing written");
    };
    damaged(
        &|c| {
            let file = c.join("columns/sex.packed");
            let bytes = fs::read(&file).unwrap();
            fs::write(&file, &bytes[..bytes.len() - 1]).unwrap();
        },
        "columns/sex.packed: 124 bytes, 1000 values of 1 bits take 125",
    );
    damaged(
        &|c| {
            // Age is 8 bits for 0..=120; 200 is no age.
            let file = c.join("columns/age.packed");
            let mut bytes = fs::read(&file).unwrap();
            bytes[7] = 200;
            fs::write(&file, bytes).unwrap();
        },
        "columns/age.packed: value 200 in row 8 outside its 121 codes",
    );
    damaged(
        &|c| {
            let file = c.join("dataset.json");
            let mut meta: serde_json::Value =
                serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
            meta.as_object_mut().unwrap().remove("record_key_seed");
            fs::write(&file, serde_json::to_vec(&meta).unwrap()).unwrap();
        },
        "draws its record keys from a record_key_seed and stores none",
    );
}

/// Each kind of bad input: exit 2, a message naming what is wrong and where, and the
/// vault exactly as it was.
#[test]
fn bad_input_is_refused_and_nothing_is_committed() {
    let w = Workplace::new(2, 2);
    let good = w.path("good.csv");
    assert_eq!(synth("3000", "2", &good.display().to_string()).code, 0);
    assert_eq!(ingest(&w, SCHEMA, &good).code, 0);
    let text = fs::read_to_string(&good).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let with_line = |n: usize, f: &dyn Fn(&str) -> String| -> Vec<u8> {
        let mut out = lines
            .clone()
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        out[n - 1] = f(lines[n - 1]);
        (out.join("\n") + "\n").into_bytes()
    };
    let field = |line: &str, i: usize, value: &str| {
        let mut f: Vec<&str> = line.split(',').collect();
        f[i] = value;
        f.join(",")
    };
    let schema_text = fs::read_to_string(SCHEMA).unwrap();
    // A member of a household of two or more, and a tenure other than its household's.
    let household = |n: usize| lines[n - 1].split(',').nth(1).unwrap();
    let second = (3..=lines.len())
        .find(|&n| household(n) == household(n - 1))
        .unwrap();
    let tenure = if lines[second - 1].split(',').nth(12) == Some("1") {
        "2"
    } else {
        "1"
    };
    let split_line = format!("line {second}, column 13");
    // An adult said to be born during the year.
    let adult = (2..=lines.len())
        .find(|&n| {
            lines[n - 1]
                .split(',')
                .nth(6)
                .unwrap()
                .parse::<u32>()
                .unwrap()
                >= 20
        })
        .unwrap();
    let adult_line = format!("line {adult}, column 7");
    // (name, input bytes, schema text, what the message must say)
    let cases: Vec<(&str, Vec<u8>, String, Vec<&str>)> = vec![
        (
            "ragged row",
            with_line(10, &|l| format!("{l},extra")),
            schema_text.clone(),
            vec!["ragged row", "line 10"],
        ),
        (
            "open quote",
            with_line(12, &|l| field(l, 4, "\"AL311")),
            schema_text.clone(),
            vec!["line 12"],
        ),
        (
            "not UTF-8",
            {
                let mut b = with_line(7, &|l| field(l, 4, "XX"));
                let p = b.windows(2).position(|w| w == b"XX").unwrap();
                b[p] = 0xEB;
                b
            },
            schema_text.clone(),
            vec!["not UTF-8", "line 7, column 5"],
        ),
        (
            "unknown code",
            with_line(5, &|l| field(l, 5, "7")),
            schema_text.clone(),
            vec![
                "sex: not a code of codelist sex",
                "line 5, column 6",
                "\"7\"",
            ],
        ),
        (
            "duplicate key",
            with_line(9, &|l| field(l, 0, "3")),
            schema_text.clone(),
            vec!["duplicate key of a person", "line 9", "first at line 4"],
        ),
        (
            "orphan person",
            with_line(11, &|l| field(l, 1, "")),
            schema_text.clone(),
            vec![
                "household_id",
                "must belong to a household",
                "line 11, column 2",
            ],
        ),
        (
            "age out of range",
            with_line(20, &|l| field(l, 6, "130")),
            schema_text.clone(),
            vec!["age: out of range 0–120", "line 20, column 7", "\"130\""],
        ),
        (
            "age not a number",
            with_line(21, &|l| field(l, 6, "forty")),
            schema_text.clone(),
            vec!["age: not an integer", "line 21"],
        ),
        (
            "wrong county",
            with_line(6, &|l| field(l, 3, "AL-12")),
            schema_text.clone(),
            vec!["county: is not the county of the municipality"],
        ),
        (
            "household split",
            with_line(second, &|l| field(l, 12, tenure)),
            schema_text.clone(),
            vec![
                "tenure: differs between rows of the same household",
                &split_line,
            ],
        ),
        (
            "breaks an implication",
            with_line(adult, &|l| field(l, 11, "9")),
            schema_text.clone(),
            vec![
                "age: breaks implication 1 of the schema: residence_1y in 9 gives age in 0",
                &adult_line,
            ],
        ),
        ("empty file", Vec::new(), schema_text.clone(), vec!["empty"]),
        (
            "header only",
            format!("{}\n", lines[0]).into_bytes(),
            schema_text.clone(),
            vec!["no records"],
        ),
        (
            "missing column",
            lines
                .iter()
                .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
                .collect::<String>()
                .into_bytes(),
            schema_text.clone(),
            vec!["lon", "no column"],
        ),
        (
            "schema: unknown variable",
            text.clone().into_bytes(),
            schema_text.replacen("from = \"age\"", "from = \"years\"", 1),
            vec!["unknown variable \"years\""],
        ),
        (
            "schema: implication on a code that is not",
            text.clone().into_bytes(),
            format!("{schema_text}\n[[implications]]\nwhen = {{ residence_1y = [\"8\"] }}\nthen = {{ age = {{ max = 0 }} }}\n"),
            vec!["implication 7, when: \"8\" is not a code of residence_1y"],
        ),
        (
            "schema: hierarchy cycle",
            text.clone().into_bytes(),
            schema_text.replacen(
                "[codelists.country]\n",
                "[codelists.country]\nparent = \"municipality\"\n",
                1,
            ),
            vec!["cycle"],
        ),
    ];
    let before = tree_bytes(Path::new(&w.repo));
    for (name, input, schema, expect) in cases {
        let input_path = w.path("bad.csv");
        fs::write(&input_path, &input).unwrap();
        let schema_path = w.path("bad-schema.toml");
        fs::write(&schema_path, schema).unwrap();
        let r = ingest(&w, &schema_path.display().to_string(), &input_path);
        assert_eq!(r.code, 2, "{name}: exit code\n{}", r.stderr);
        for e in expect {
            assert!(
                r.stderr.contains(e),
                "{name}: wanted {e:?} in\n{}",
                r.stderr
            );
        }
        assert!(r.stdout.is_empty(), "{name}: no snapshot id printed");
        assert_eq!(
            tree_bytes(Path::new(&w.repo)),
            before,
            "{name}: the vault is untouched"
        );
    }
    let snapshots = w.vault("snapshots", 0, &["--json"]);
    let listed: serde_json::Value = serde_json::from_str(&snapshots.stdout).unwrap();
    assert_eq!(
        listed["snapshots"].as_array().unwrap().len(),
        1,
        "only the good ingest"
    );
}

#[test]
fn errors_are_grouped_with_counts_and_the_first_examples() {
    let w = Workplace::new(2, 2);
    let good = w.path("good.csv");
    assert_eq!(synth("500", "3", &good.display().to_string()).code, 0);
    let text = fs::read_to_string(&good).unwrap();
    let bad: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i > 0 && i % 10 == 0 {
                l.replacen(",AL", ",XX", 2) + "\n"
            } else {
                l.to_string() + "\n"
            }
        })
        .collect();
    fs::write(&good, bad).unwrap();
    let r = ingest(&w, SCHEMA, &good);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("100 errors in 500 records"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("county: not a code of codelist county (50×)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("… and 45 more"), "{}", r.stderr);
    let json = w.command(
        &["census", "ingest"],
        2,
        &[
            "--schema",
            SCHEMA,
            "--input",
            &good.display().to_string(),
            "--json",
        ],
    );
    assert_eq!(json.code, 2);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["errors"], 100);
    assert_eq!(
        report["groups"][0]["examples"][0]["at"],
        "line 11, column 4"
    );
}

/// Finding: valid Parquet compressed with snappy (pyarrow's default), gzip, lz4 or
/// brotli was refused. Every codec the `parquet` crate reads, written by pyarrow and
/// by DuckDB, ingests to the same records as the CSV it came from.
#[test]
fn parquet_in_every_codec_from_pyarrow_and_duckdb_is_ingested() {
    let w = Workplace::new(2, 2);
    let csv = w.path("census.csv");
    assert_eq!(synth("2000", "8", &csv.display().to_string()).code, 0);
    let dir = w.path("parquet");
    fs::create_dir_all(&dir).unwrap();
    let script = r#"
import sys, duckdb, pyarrow.csv as pacsv, pyarrow.parquet as pq
source, out = sys.argv[1], sys.argv[2]
table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
for codec in ["snappy", "gzip", "brotli", "lz4", "zstd", "none"]:
    pq.write_table(table, f"{out}/pyarrow-{codec}.parquet", compression=codec)
db = duckdb.connect()
for codec in ["snappy", "gzip", "brotli", "lz4_raw", "zstd", "uncompressed"]:
    db.execute(f"COPY (SELECT * FROM read_csv('{source}')) TO '{out}/duckdb-{codec}.parquet' (FORMAT parquet, COMPRESSION {codec})")
"#;
    let made = std::process::Command::new(python())
        .args([
            "-c",
            script,
            &csv.display().to_string(),
            &dir.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let from_csv = ingest(&w, SCHEMA, &csv);
    assert_eq!(from_csv.code, 0, "{}", from_csv.stderr);
    let valid = |stderr: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with("valid:"))
            .map(|l| l.split("; stored").next().unwrap().to_string())
    };
    let expected = valid(&from_csv.stderr).unwrap();
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 12);
    for file in files {
        let r = ingest(&w, SCHEMA, &file);
        assert_eq!(r.code, 0, "{}: {}", file.display(), r.stderr);
        assert_eq!(
            valid(&r.stderr).as_ref(),
            Some(&expected),
            "{}",
            file.display()
        );
    }
}
