//! JSON-stat 2.0 dataset, one document per language (a category has one label per
//! document). `id`/`size` in the table's order, `dimension.<id>.category` with `index`
//! (codes in order), `label` and `child` (from the table's sums), `role.geo` for
//! geographic dimensions, `value` (null where suppressed), `status` (an array, null
//! where unflagged, when at least half the cells are flagged; else an object of the
//! flagged cells), `note` with the legend, and `extension.statvault` with the protection
//! method, parameters, audit summary and provenance.

use serde_json::{json, Map, Value};
use statvault_protect::protected::legend_lines;
use statvault_protect::ProtectedTable;

use super::{dimension_label, label};

/// Dimensions an atlas can draw.
const GEOGRAPHIC: [&str; 4] = ["municipality", "county", "country", "grid_1km"];

/// The table as a JSON-stat 2.0 dataset in language `lang`.
pub fn write(t: &ProtectedTable, lang: &str) -> Vec<u8> {
    let mut dimension = Map::new();
    for d in &t.dimensions {
        let index: Vec<&str> = d.categories.iter().map(|c| c.code.as_str()).collect();
        let labels: Map<String, Value> = d
            .categories
            .iter()
            .map(|c| (c.code.clone(), Value::String(label(c, lang))))
            .collect();
        let mut category = json!({ "index": index, "label": labels });
        if !d.sums.is_empty() {
            let child: Map<String, Value> = d
                .sums
                .iter()
                .map(|s| (s.total.clone(), json!(s.parts)))
                .collect();
            category["child"] = Value::Object(child);
        }
        dimension.insert(
            d.id.clone(),
            json!({ "label": dimension_label(d, lang), "category": category }),
        );
    }
    // JSON-stat allows both: an array when most cells are flagged (the cell key method
    // flags every treated cell), an object of the flagged cells otherwise.
    let flagged = t.status.iter().filter(|s| !s.is_empty()).count();
    let status = if flagged * 2 >= t.status.len() {
        json!(t
            .status
            .iter()
            .map(|s| (!s.is_empty()).then_some(s.as_str()))
            .collect::<Vec<_>>())
    } else {
        Value::Object(
            t.status
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_empty())
                .map(|(i, s)| (i.to_string(), Value::String(s.clone())))
                .collect(),
        )
    };
    let notes = legend_lines(lang);
    let geo: Vec<&str> = t
        .dimensions
        .iter()
        .map(|d| d.id.as_str())
        .filter(|id| GEOGRAPHIC.contains(id))
        .collect();
    let mut doc = json!({
        "version": "2.0",
        "class": "dataset",
        "label": t.title.get(lang).cloned().unwrap_or_else(|| t.id.clone()),
        "source": "INSTAT — statvault",
        "id": t.dimensions.iter().map(|d| &d.id).collect::<Vec<_>>(),
        "size": t.dimensions.iter().map(|d| d.categories.len()).collect::<Vec<_>>(),
        "dimension": dimension,
        "value": t.values,
        "status": status,
        "note": notes,
        "extension": {
            "statvault": {
                "table": t.id,
                "unit": t.unit,
                "measure": t.measure,
                "provenance": t.provenance,
                "protection": t.protection,
            }
        },
    });
    if !geo.is_empty() {
        doc["role"] = json!({ "geo": geo });
    }
    let mut out = serde_json::to_vec(&doc).expect("JSON serializes");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::sample;

    #[test]
    fn a_dataset_with_sizes_labels_children_nulls_and_flags() {
        let doc: Value = serde_json::from_slice(&write(&sample::table(), "en")).unwrap();
        assert_eq!(doc["version"], "2.0");
        assert_eq!(doc["class"], "dataset");
        assert_eq!(doc["id"], json!(["county", "sex"]));
        assert_eq!(doc["size"], json!([3, 3]));
        assert_eq!(doc["role"]["geo"], json!(["county"]));
        assert_eq!(
            doc["dimension"]["county"]["category"]["index"],
            json!(["AL", "AL-01", "AL-09"])
        );
        assert_eq!(
            doc["dimension"]["county"]["category"]["child"]["AL"],
            json!(["AL-01", "AL-09"])
        );
        assert_eq!(doc["dimension"]["sex"]["category"]["label"]["2"], "Women");
        assert_eq!(doc["value"][4], Value::Null);
        // Every cell flagged: status is an array.
        assert_eq!(doc["status"][4], "c");
        assert_eq!(doc["status"][0], "u");
        let mut sparse = sample::table();
        for s in sparse.status.iter_mut().skip(1) {
            *s = String::new();
        }
        let doc: Value = serde_json::from_slice(&write(&sparse, "en")).unwrap();
        assert_eq!(doc["status"], json!({"0": "u"}));
        let sq: Value = serde_json::from_slice(&write(&sample::table(), "sq")).unwrap();
        assert_eq!(sq["dimension"]["sex"]["category"]["label"]["2"], "Femra");
        assert!(sq["note"][1]
            .as_str()
            .unwrap()
            .starts_with("c: konfidenciale"));
    }
}
