//! SDMX: the data as SDMX-CSV 2.0 and its structure as an SDMX-ML 2.1 structure
//! message.
//!
//! SDMX-CSV 2.0: `STRUCTURE,STRUCTURE_ID,ACTION`, one column per dimension (id in
//! upper case), `OBS_VALUE` (`NaN` where suppressed), then the attributes `OBS_STATUS` (statvault's symbol:
//! `p`, `u` or empty) and `CONF_STATUS` (`C` confidential, `F` free). With labels
//! (SDMX-CSV 2.0's "labels=both", one file per language) every column but the fixed
//! three is headed `ID: name`, the structure cell is `ID: name`, and every coded cell
//! is `code: label`.
//!
//! The structure message (`<id>.sdmx.xml`) holds what a reader needs to read the data
//! without our code: the dataflow `INSTAT:<TABLE_ID>(1.0)`, its data structure
//! `DSD_<TABLE_ID>`, a concept per component and a codelist per coded component,
//! the status codes included, named in every language of the table.

use std::fmt::Write;

use statvault_protect::ProtectedTable;

use super::{csv_per_cell, dimension_label, escape_markup as xml, label, languages};

/// The agency that maintains every artefact.
const AGENCY: &str = "INSTAT";

/// The attributes: (id, names by language, codes with names by language).
type Attribute = (
    &'static str,
    [(&'static str, &'static str); 2],
    &'static [Status],
);
type Status = (&'static str, [(&'static str, &'static str); 2]);

const OBS_VALUE: (&str, [(&str, &str); 2]) = (
    "OBS_VALUE",
    [("sq", "Vlera e vëzhgimit"), ("en", "Observation value")],
);

const ATTRIBUTES: [Attribute; 2] = [
    (
        "OBS_STATUS",
        [("sq", "Statusi i vëzhgimit"), ("en", "Observation status")],
        &[
            (
                "p",
                [
                    ("sq", "E ndryshuar nga metoda e çelësit të qelizës"),
                    ("en", "Perturbed by the cell key method"),
                ],
            ),
            ("u", [("sq", "Total i saktë"), ("en", "Exact total")]),
        ],
    ),
    (
        "CONF_STATUS",
        [
            ("sq", "Statusi i konfidencialitetit"),
            ("en", "Confidentiality status"),
        ],
        &[
            ("C", [("sq", "Konfidenciale"), ("en", "Confidential")]),
            ("F", [("sq", "E lirë"), ("en", "Free")]),
        ],
    ),
];

/// The dataflow reference: `INSTAT:<TABLE_ID>(1.0)`.
pub fn structure_id(t: &ProtectedTable) -> String {
    format!("{AGENCY}:{}(1.0)", t.id.to_uppercase())
}

fn named(names: &[(&str, &str); 2], lang: &str) -> String {
    names
        .iter()
        .find(|(l, _)| *l == lang)
        .map_or(names[1].1, |(_, n)| n)
        .to_string()
}

/// Codes only, or codes with labels in `lang`.
pub fn write(t: &ProtectedTable, labels_in: Option<&str>) -> Vec<u8> {
    let with_name = |id: &str, name: String| match labels_in {
        Some(_) => format!("{id}: {name}"),
        None => id.to_string(),
    };
    let lang = labels_in.unwrap_or("en");
    let mut header: Vec<String> = ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
        .map(String::from)
        .to_vec();
    for d in &t.dimensions {
        header.push(with_name(&d.id.to_uppercase(), dimension_label(d, lang)));
    }
    header.push(with_name(OBS_VALUE.0, named(&OBS_VALUE.1, lang)));
    for (id, names, _) in &ATTRIBUTES {
        header.push(with_name(id, named(names, lang)));
    }
    let title = t.title.get(lang).cloned().unwrap_or_else(|| t.id.clone());
    let structure = with_name(&structure_id(t), title);
    let status_cell = |attribute: usize, code: &str| -> String {
        if code.is_empty() {
            return String::new();
        }
        let names = ATTRIBUTES[attribute]
            .2
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| named(n, lang));
        with_name(code, names.unwrap_or_default())
    };
    csv_per_cell(t, &header, |categories, value, status| {
        let mut row = vec!["dataflow".to_string(), structure.clone(), "I".to_string()];
        row.extend(
            categories
                .iter()
                .map(|c| with_name(&c.code, label(c, lang))),
        );
        // SDMX's missing value: readers that type the measure read it as not a number.
        row.push(value.map_or("NaN".to_string(), |v| v.to_string()));
        let confidential = status == "c";
        row.push(status_cell(0, if confidential { "" } else { status }));
        row.push(status_cell(1, if confidential { "C" } else { "F" }));
        row
    })
}

/// `<com:Name xml:lang="…">…</com:Name>` for each language.
fn names(out: &mut String, by_lang: impl IntoIterator<Item = (String, String)>) {
    for (lang, name) in by_lang {
        let _ = write!(
            out,
            r#"<com:Name xml:lang="{}">{}</com:Name>"#,
            xml(&lang),
            xml(&name)
        );
    }
}

/// A reference to an artefact of the agency.
fn reference(class: &str, package: &str, id: &str, parent: Option<&str>) -> String {
    match parent {
        Some(scheme) => format!(
            r#"<Ref id="{}" maintainableParentID="{}" maintainableParentVersion="1.0" agencyID="{AGENCY}" class="{class}" package="{package}"/>"#,
            xml(id),
            xml(scheme)
        ),
        None => format!(
            r#"<Ref id="{}" version="1.0" agencyID="{AGENCY}" class="{class}" package="{package}"/>"#,
            xml(id)
        ),
    }
}

/// The SDMX-ML 2.1 structure message of a table; `prepared` is the header's time
/// (the release's, so that a bundle is reproducible).
pub fn structure(t: &ProtectedTable, prepared: &str) -> Vec<u8> {
    let langs = languages(t);
    let id = t.id.to_uppercase();
    let (dsd, scheme) = (format!("DSD_{id}"), format!("CS_{id}"));
    let in_langs = |names: &[(&str, &str); 2]| -> Vec<(String, String)> {
        langs.iter().map(|l| (l.clone(), named(names, l))).collect()
    };
    let title: Vec<(String, String)> = langs
        .iter()
        .map(|l| {
            (
                l.clone(),
                t.title.get(l).cloned().unwrap_or_else(|| t.id.clone()),
            )
        })
        .collect();
    let mut out = String::from(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        "\n",
        r#"<mes:Structure xmlns:mes="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" xmlns:str="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" xmlns:com="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">"#
    ));
    let _ = write!(
        out,
        "<mes:Header><mes:ID>{}</mes:ID><mes:Test>false</mes:Test><mes:Prepared>{}</mes:Prepared><mes:Sender id=\"{AGENCY}\"/></mes:Header><mes:Structures>",
        xml(&id),
        xml(prepared)
    );
    // The dataflow, which the data's STRUCTURE_ID names.
    let _ = write!(
        out,
        r#"<str:Dataflows><str:Dataflow id="{}" agencyID="{AGENCY}" version="1.0">"#,
        xml(&id)
    );
    names(&mut out, title.clone());
    let _ = write!(
        out,
        "<str:Structure>{}</str:Structure></str:Dataflow></str:Dataflows><str:Codelists>",
        reference("DataStructure", "datastructure", &dsd, None)
    );
    for d in &t.dimensions {
        let _ = write!(
            out,
            r#"<str:Codelist id="CL_{}" agencyID="{AGENCY}" version="1.0">"#,
            xml(&d.id.to_uppercase())
        );
        names(
            &mut out,
            langs.iter().map(|l| (l.clone(), dimension_label(d, l))),
        );
        for c in &d.categories {
            let _ = write!(out, r#"<str:Code id="{}">"#, xml(&c.code));
            names(&mut out, langs.iter().map(|l| (l.clone(), label(c, l))));
            out.push_str("</str:Code>");
        }
        out.push_str("</str:Codelist>");
    }
    for (attribute, attribute_names, codes) in &ATTRIBUTES {
        let _ = write!(
            out,
            r#"<str:Codelist id="CL_{attribute}" agencyID="{AGENCY}" version="1.0">"#
        );
        names(&mut out, in_langs(attribute_names));
        for (code, code_names) in codes.iter() {
            let _ = write!(out, r#"<str:Code id="{code}">"#);
            names(&mut out, in_langs(code_names));
            out.push_str("</str:Code>");
        }
        out.push_str("</str:Codelist>");
    }
    let _ = write!(
        out,
        r#"</str:Codelists><str:Concepts><str:ConceptScheme id="{}" agencyID="{AGENCY}" version="1.0">"#,
        xml(&scheme)
    );
    names(&mut out, title.clone());
    for d in &t.dimensions {
        let _ = write!(out, r#"<str:Concept id="{}">"#, xml(&d.id.to_uppercase()));
        names(
            &mut out,
            langs.iter().map(|l| (l.clone(), dimension_label(d, l))),
        );
        out.push_str("</str:Concept>");
    }
    for (concept, concept_names) in std::iter::once((OBS_VALUE.0, &OBS_VALUE.1))
        .chain(ATTRIBUTES.iter().map(|(a, n, _)| (*a, n)))
    {
        let _ = write!(out, r#"<str:Concept id="{concept}">"#);
        names(&mut out, in_langs(concept_names));
        out.push_str("</str:Concept>");
    }
    let _ = write!(
        out,
        r#"</str:ConceptScheme></str:Concepts><str:DataStructures><str:DataStructure id="{}" agencyID="{AGENCY}" version="1.0">"#,
        xml(&dsd)
    );
    names(&mut out, title);
    out.push_str(r#"<str:DataStructureComponents><str:DimensionList id="DimensionDescriptor">"#);
    let concept = |id: &str| reference("Concept", "conceptscheme", id, Some(&scheme));
    let codelist = |id: &str| reference("Codelist", "codelist", &format!("CL_{id}"), None);
    for (position, d) in t.dimensions.iter().enumerate() {
        let dim = d.id.to_uppercase();
        let _ = write!(
            out,
            r#"<str:Dimension id="{}" position="{}"><str:ConceptIdentity>{}</str:ConceptIdentity><str:LocalRepresentation><str:Enumeration>{}</str:Enumeration></str:LocalRepresentation></str:Dimension>"#,
            xml(&dim),
            position + 1,
            concept(&dim),
            codelist(&dim)
        );
    }
    out.push_str(r#"</str:DimensionList><str:AttributeList id="AttributeDescriptor">"#);
    for (attribute, ..) in &ATTRIBUTES {
        let status = if *attribute == "CONF_STATUS" {
            "Mandatory"
        } else {
            "Conditional"
        };
        let _ = write!(
            out,
            r#"<str:Attribute id="{attribute}" assignmentStatus="{status}"><str:ConceptIdentity>{}</str:ConceptIdentity><str:LocalRepresentation><str:Enumeration>{}</str:Enumeration></str:LocalRepresentation><str:AttributeRelationship><str:PrimaryMeasure><Ref id="OBS_VALUE"/></str:PrimaryMeasure></str:AttributeRelationship></str:Attribute>"#,
            concept(attribute),
            codelist(attribute)
        );
    }
    let _ = write!(
        out,
        r#"</str:AttributeList><str:MeasureList id="MeasureDescriptor"><str:PrimaryMeasure id="OBS_VALUE"><str:ConceptIdentity>{}</str:ConceptIdentity></str:PrimaryMeasure></str:MeasureList></str:DataStructureComponents></str:DataStructure></str:DataStructures></mes:Structures></mes:Structure>"#,
        concept("OBS_VALUE")
    );
    out.push('\n');
    out.into_bytes()
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
            "dataflow,INSTAT:POPULATION_COUNTY_SEX(1.0),I,AL-01,1,NaN,,C"
        );
        let labelled = String::from_utf8(write(&t, Some("en"))).unwrap();
        assert!(labelled.starts_with("STRUCTURE,STRUCTURE_ID,ACTION,COUNTY: County,SEX: Sex,"));
        assert!(
            labelled.contains(",AL-09: Dibër,\"2: Women\"")
                || labelled.contains(",AL-09: Dibër,2: Women,")
        );
    }
}
