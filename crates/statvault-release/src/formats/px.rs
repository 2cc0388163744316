//! PX (PC-Axis), as PxWeb reads it: UTF-8 (`CODEPAGE="utf-8"`), the first language the
//! default and the others as `KEYWORD[lang]`, every dimension but the last in `STUB`
//! and the last in `HEADING` (so `DATA` is in the table's row-major order), `VALUES`
//! (labels) and `CODES`, suppressed cells as `".."` (PX's confidentiality symbol,
//! described by `DATASYMBOL2`), and the other flags as `DATANOTECELL` with the legend
//! in `NOTE`. PX strings cannot contain `"`; statvault writes `'` instead.

use std::fmt::Write;

use statvault_protect::protected::legend_lines;
use statvault_protect::ProtectedTable;

use super::{coordinates, dimension_label, label, languages};

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "'").replace(['\r', '\n'], " "))
}

fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(quoted).collect::<Vec<_>>().join(",")
}

/// PX's `CREATION-DATE` ("YYYYMMDD HH:MM") of a release time: builds of the same
/// release are byte for byte the same.
pub fn creation_date(release_time: &str) -> String {
    let t = release_time;
    format!("{}{}{} {}", &t[0..4], &t[5..7], &t[8..10], &t[11..16])
}

/// PX's `MATRIX` is at most 20 characters: a longer table id keeps its first 13 and a
/// `-` with 6 hex digits of its BLAKE3, so that two long ids stay apart.
fn matrix_name(id: &str) -> String {
    if id.chars().count() <= 20 {
        return id.to_string();
    }
    let head: String = id.chars().take(13).collect();
    format!("{head}-{}", &blake3::hash(id.as_bytes()).to_hex()[..6])
}

/// The table as a PX file (PX 2013), every language in one file; `created` is the
/// CREATION-DATE.
pub fn write(t: &ProtectedTable, created: &str) -> Vec<u8> {
    let langs = languages(t);
    let default = langs[0].as_str();
    let mut out = String::new();
    let keyword = |out: &mut String, name: &str, lang: &str, args: Option<&str>, value: &str| {
        let tag = if lang == default {
            String::new()
        } else {
            format!("[{lang}]")
        };
        let args = args.map(|a| format!("({})", quoted(a))).unwrap_or_default();
        writeln!(out, "{name}{tag}{args}={value};").expect("writing to a string");
    };
    writeln!(out, "CHARSET=\"ANSI\";").expect("string");
    writeln!(out, "AXIS-VERSION=\"2013\";").expect("string");
    writeln!(out, "CODEPAGE=\"utf-8\";").expect("string");
    writeln!(out, "LANGUAGE={};", quoted(default)).expect("string");
    // PX 2013 writes the list bare: `LANGUAGES="sq","en";`.
    writeln!(out, "LANGUAGES={};", list(langs.iter().map(String::as_str))).expect("string");
    writeln!(out, "CREATION-DATE={};", quoted(created)).expect("string");
    writeln!(out, "DECIMALS=0;\nSHOWDECIMALS=0;").expect("string");
    writeln!(out, "MATRIX={};", quoted(&matrix_name(&t.id))).expect("string");
    // Not language-dependent: once, in no language's brackets.
    writeln!(out, "SUBJECT-CODE={};", quoted("CENSUS")).expect("string");
    for lang in &langs {
        let title = t.title.get(lang).cloned().unwrap_or_else(|| t.id.clone());
        let census = if lang == "sq" { "Censusi" } else { "Census" };
        keyword(&mut out, "SUBJECT-AREA", lang, None, &quoted(census));
        keyword(&mut out, "CONTENTS", lang, None, &quoted(&title));
        keyword(&mut out, "TITLE", lang, None, &quoted(&title));
        keyword(&mut out, "UNITS", lang, None, &quoted(&t.unit));
        let names: Vec<String> = t
            .dimensions
            .iter()
            .map(|d| dimension_label(d, lang))
            .collect();
        let (stub, heading) = names.split_at(names.len().saturating_sub(1));
        // A table of one dimension has only a heading: PX has no empty STUB.
        if !stub.is_empty() {
            keyword(
                &mut out,
                "STUB",
                lang,
                None,
                &list(stub.iter().map(String::as_str)),
            );
        }
        keyword(
            &mut out,
            "HEADING",
            lang,
            None,
            &list(heading.iter().map(String::as_str)),
        );
        for (d, name) in t.dimensions.iter().zip(&names) {
            let values: Vec<String> = d.categories.iter().map(|c| label(c, lang)).collect();
            keyword(
                &mut out,
                "VALUES",
                lang,
                Some(name),
                &list(values.iter().map(String::as_str)),
            );
            let codes = d.categories.iter().map(|c| c.code.as_str());
            keyword(&mut out, "CODES", lang, Some(name), &list(codes));
        }
        let legend = legend_lines(lang);
        keyword(&mut out, "NOTE", lang, None, &quoted(&legend.join("; ")));
        keyword(&mut out, "DATASYMBOL2", lang, None, &quoted("c"));
        // Cell flags, in the default language's value names.
        if lang == default {
            for (cell, status) in t.status.iter().enumerate() {
                if status.is_empty() || status == "c" {
                    continue;
                }
                let at = coordinates(&t.dimensions, cell);
                let names: Vec<String> = t
                    .dimensions
                    .iter()
                    .zip(at)
                    .map(|(d, k)| label(&d.categories[k], lang))
                    .collect();
                writeln!(
                    out,
                    "DATANOTECELL({})={};",
                    list(names.iter().map(String::as_str)),
                    quoted(status)
                )
                .expect("string");
            }
        }
    }
    out.push_str("DATA=\n");
    let width = t.dimensions.last().map_or(1, |d| d.categories.len().max(1));
    for row in t.values.chunks(width) {
        let cells: Vec<String> = row
            .iter()
            .map(|v| v.map_or("\"..\"".to_string(), |v| v.to_string()))
            .collect();
        out.push_str(&cells.join(" "));
        out.push('\n');
    }
    out.push_str(";\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::sample;

    #[test]
    fn keywords_in_both_languages_and_data_in_table_order() {
        let text = String::from_utf8(write(&sample::table(), "20261121 12:00")).unwrap();
        for line in [
            "CODEPAGE=\"utf-8\";",
            "LANGUAGE=\"sq\";",
            "LANGUAGES=\"sq\",\"en\";",
            "MATRIX=\"population_co-",
            "SUBJECT-CODE=\"CENSUS\";",
            "STUB=\"Qarku\";",
            "HEADING=\"Gjinia\";",
            "HEADING[en]=\"Sex\";",
            "VALUES(\"Gjinia\")=\"Gjithsej\",\"Meshkuj\",\"Femra\";",
            "VALUES[en](\"Sex\")=\"Total\",\"Men, 'all'\",\"Women\";",
            "CODES(\"Qarku\")=\"AL\",\"AL-01\",\"AL-09\";",
            "DATANOTECELL(\"Shqipëri\",\"Gjithsej\")=\"u\";",
            "DATA=\n300 151 149\n120 \"..\" 61\n180 \"..\" 88\n;\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("SUBJECT-CODE["), "not language-dependent");
    }

    #[test]
    fn the_2013_specification_is_kept_where_readers_failed() {
        // LANGUAGES had parentheses (pandas-pcaxis could read no file), MATRIX was
        // longer than 20 characters, and a table of one dimension had an empty STUB.
        let mut one = sample::table();
        one.dimensions.truncate(1);
        one.values.truncate(3);
        one.status.truncate(3);
        one.id = "a_table_id_much_longer_than_twenty".into();
        let text = String::from_utf8(write(&one, "20261121 12:00")).unwrap();
        let matrix = text
            .lines()
            .find_map(|l| l.strip_prefix("MATRIX=\"")?.strip_suffix("\";"))
            .unwrap();
        assert!(matrix.chars().count() <= 20, "{matrix}");
        assert_ne!(matrix, matrix_name("a_table_id_much_longer_than_thirty"));
        assert!(!text.contains("STUB"), "{text}");
        assert!(text.contains("HEADING=\"Qarku\";"), "{text}");
        assert!(text.contains("LANGUAGES=\"sq\",\"en\";"));
    }
}
