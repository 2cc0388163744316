//! Tidy CSV: one row per cell. For each dimension its code column, then its label in
//! each language (`<dim>_label_<lang>`); then `value` (empty where suppressed) and
//! `status` (the public symbol). RFC 4180, UTF-8, `\n` line ends.

use statvault_protect::ProtectedTable;

use super::{csv_per_cell, label, languages};

/// The table as CSV, one row per cell: per dimension its code and its label in each
/// language, then the value and its status.
pub fn write(t: &ProtectedTable) -> Vec<u8> {
    let langs = languages(t);
    let mut header = Vec::new();
    for d in &t.dimensions {
        header.push(d.id.clone());
        header.extend(langs.iter().map(|l| format!("{}_label_{l}", d.id)));
    }
    header.extend(["value".to_string(), "status".to_string()]);
    csv_per_cell(t, &header, |categories, value, status| {
        let mut row = Vec::with_capacity(header.len());
        for c in categories {
            row.push(c.code.clone());
            row.extend(langs.iter().map(|l| label(c, l)));
        }
        row.push(value.map_or(String::new(), |v| v.to_string()));
        row.push(status.to_string());
        row
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::sample;

    #[test]
    fn one_row_per_cell_with_codes_labels_values_and_flags() {
        let text = String::from_utf8(write(&sample::table())).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "county,county_label_sq,county_label_en,sex,sex_label_sq,sex_label_en,value,status"
        );
        assert_eq!(lines.len(), 1 + 9);
        assert_eq!(lines[1], "AL,Shqipëri,Albania,_T,Gjithsej,Total,300,u");
        assert_eq!(
            lines[2],
            "AL,Shqipëri,Albania,1,Meshkuj,\"Men, \"\"all\"\"\",151,p"
        );
        assert_eq!(
            lines[5],
            "AL-01,Berat,Berat,1,Meshkuj,\"Men, \"\"all\"\"\",,c"
        );
    }
}
