//! One module per format; each writes a protected table to bytes.

pub mod csv;
pub mod jsonstat;
pub mod px;
pub mod sdmx;
pub mod xlsx;

pub use statvault_census::table::coordinates;
use statvault_census::table::{Category, Dimension};
use statvault_protect::ProtectedTable;

/// The table's languages, Albanian first, then the others in code order.
pub fn languages(t: &ProtectedTable) -> Vec<String> {
    let mut langs: Vec<String> = t.title.keys().cloned().collect();
    langs.sort_by_key(|l| (l != "sq", l.clone()));
    if langs.is_empty() {
        langs.push("en".into());
    }
    langs
}

/// A label in a language, the code where the label is missing.
pub fn label(c: &Category, lang: &str) -> String {
    c.label.get(lang).cloned().unwrap_or_else(|| c.code.clone())
}

/// A dimension's name in a language, its id where the label is missing.
pub fn dimension_label(d: &Dimension, lang: &str) -> String {
    d.label.get(lang).cloned().unwrap_or_else(|| d.id.clone())
}

/// Text safe in XML and HTML, in content and in quoted attribute values.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// CSV (RFC 4180, UTF-8, `\n` line ends): `header`, then one row per cell, made by
/// `row` from the cell's categories, value and status.
pub(crate) fn csv_per_cell(
    t: &ProtectedTable,
    header: &[String],
    row: impl Fn(&[&Category], Option<i64>, &str) -> Vec<String>,
) -> Vec<u8> {
    let mut out = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    out.write_record(header).expect("writing to memory");
    for (cell, (value, status)) in t.values.iter().zip(&t.status).enumerate() {
        let categories: Vec<&Category> = t
            .dimensions
            .iter()
            .zip(coordinates(&t.dimensions, cell))
            .map(|(d, k)| &d.categories[k])
            .collect();
        out.write_record(row(&categories, *value, status))
            .expect("writing to memory");
    }
    out.into_inner().expect("writing to memory")
}

#[cfg(test)]
pub(crate) mod sample {
    use statvault_census::schema::Labels;
    use statvault_census::table::{Category, CategoryKind, Dimension, Provenance, Sum};
    use statvault_protect::protected::{Protection, FORMAT};
    use statvault_protect::ProtectedTable;

    fn labels(sq: &str, en: &str) -> Labels {
        Labels::from([("sq".into(), sq.into()), ("en".into(), en.into())])
    }

    fn cat(code: &str, sq: &str, en: &str, kind: CategoryKind) -> Category {
        Category {
            code: code.into(),
            label: labels(sq, en),
            kind,
            level: None,
        }
    }

    /// County (total, two counties) × sex (total, men, women, one label with a comma
    /// and a quote), one cell suppressed, one exact total.
    pub fn table() -> ProtectedTable {
        use CategoryKind::*;
        ProtectedTable {
            format: FORMAT.into(),
            id: "population_county_sex".into(),
            title: labels(
                "Popullsia sipas qarkut, gjinisë",
                "Population by county and sex",
            ),
            unit: "person".into(),
            measure: "count".into(),
            provenance: Provenance {
                snapshot: "ab".into(),
                log_head: "cd".into(),
                spec_blake3: "ef".into(),
                source_blake3: "01".into(),
                statvault: "0.1.0".into(),
            },
            dimensions: vec![
                Dimension {
                    id: "county".into(),
                    label: labels("Qarku", "County"),
                    categories: vec![
                        cat("AL", "Shqipëri", "Albania", Total),
                        cat("AL-01", "Berat", "Berat", Code),
                        cat("AL-09", "Dibër", "Dibër", Code),
                    ],
                    sums: vec![Sum {
                        total: "AL".into(),
                        parts: vec!["AL-01".into(), "AL-09".into()],
                    }],
                    bounds: Vec::new(),
                },
                Dimension {
                    id: "sex".into(),
                    label: labels("Gjinia", "Sex"),
                    categories: vec![
                        cat("_T", "Gjithsej", "Total", Total),
                        cat("1", "Meshkuj", "Men, \"all\"", Code),
                        cat("2", "Femra", "Women", Code),
                    ],
                    sums: vec![Sum {
                        total: "_T".into(),
                        parts: vec!["1".into(), "2".into()],
                    }],
                    bounds: Vec::new(),
                },
            ],
            values: vec![
                Some(300),
                Some(151),
                Some(149),
                Some(120),
                None,
                Some(61),
                Some(180),
                None,
                Some(88),
            ],
            status: ["u", "p", "p", "p", "c", "p", "p", "c", "p"]
                .map(String::from)
                .to_vec(),
            protection: Protection {
                method: "ckm".into(),
                parameters: Default::default(),
                ptable_blake3: None,
                audit: Default::default(),
            },
        }
    }
}
