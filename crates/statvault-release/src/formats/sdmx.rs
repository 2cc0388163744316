//! SDMX-CSV 2.0: `STRUCTURE,STRUCTURE_ID,ACTION`, one column per dimension (id in
//! upper case), `OBS_VALUE`, then the attributes `OBS_STATUS` (statvault's symbol:
//! `p`, `u` or empty) and `CONF_STATUS` (`C` confidential, `F` free). With labels, each
//! dimension column holds `code: label` and its header `ID: name`, as SDMX-CSV 2.0's
//! "labels=both" mode does; one file per language.

use statvault_protect::ProtectedTable;

use super::{csv_per_cell, dimension_label, label};

/// The dataflow reference: `INSTAT:<TABLE_ID>(1.0)`.
pub fn structure_id(t: &ProtectedTable) -> String {
    format!("INSTAT:{}(1.0)", t.id.to_uppercase())
}

/// Codes only, or codes with labels in `lang`.
pub fn write(t: &ProtectedTable, labels_in: Option<&str>) -> Vec<u8> {
    let mut header: Vec<String> = ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
        .map(String::from)
        .to_vec();
    for d in &t.dimensions {
        let id = d.id.to_uppercase();
        header.push(match labels_in {
            Some(l) => format!("{id}: {}", dimension_label(d, l)),
            None => id,
        });
    }
    header.extend(["OBS_VALUE", "OBS_STATUS", "CONF_STATUS"].map(String::from));
    let structure = structure_id(t);
    csv_per_cell(t, &header, |categories, value, status| {
        let mut row = vec!["dataflow".to_string(), structure.clone(), "I".to_string()];
        row.extend(categories.iter().map(|c| match labels_in {
            Some(l) => format!("{}: {}", c.code, label(c, l)),
            None => c.code.clone(),
        }));
        row.push(value.map_or(String::new(), |v| v.to_string()));
        let confidential = status == "c";
        row.push(if confidential { "" } else { status }.to_string());
        row.push(if confidential { "C" } else { "F" }.to_string());
        row
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::sample;

    #[test]
    fn rows_carry_the_structure_action_and_both_statuses() {
        let t = sample::table();
        let text = String::from_utf8(write(&t, None)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "STRUCTURE,STRUCTURE_ID,ACTION,COUNTY,SEX,OBS_VALUE,OBS_STATUS,CONF_STATUS"
        );
        assert_eq!(
            lines[1],
            "dataflow,INSTAT:POPULATION_COUNTY_SEX(1.0),I,AL,_T,300,u,F"
        );
        assert_eq!(
            lines[5],
            "dataflow,INSTAT:POPULATION_COUNTY_SEX(1.0),I,AL-01,1,,,C"
        );
        let labelled = String::from_utf8(write(&t, Some("en"))).unwrap();
        assert!(labelled.starts_with("STRUCTURE,STRUCTURE_ID,ACTION,COUNTY: County,SEX: Sex,"));
        assert!(
            labelled.contains(",AL-09: Dibër,\"2: Women\"")
                || labelled.contains(",AL-09: Dibër,2: Women,")
        );
    }
}
