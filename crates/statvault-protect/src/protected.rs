//! The protected table file (`<id>.protected.json`, `docs/protection.md`): what may
//! leave the internal side. It keeps the table's dimensions, labels and provenance,
//! replaces values by published ones (null where suppressed), adds one public status
//! flag per cell and the protection method, parameters and audit summary. It carries
//! no record counts and no record-key sums.

use serde::{Deserialize, Serialize};
use statvault_census::schema::Labels;
use statvault_census::table::{cell_count, check_sums, Dimension, Provenance};
use statvault_census::Table;

use crate::AuditReport;

/// The `format` field of every protected table file this version writes.
pub const FORMAT: &str = "statvault-protected-table/1";

/// The status of one cell. The primary/secondary distinction stays internal: both
/// publish as `c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CellStatus {
    /// Published as counted (the threshold rule let it through).
    Published,
    /// Published with cell-key noise (every cell the method treats, changed or not,
    /// so the flag reveals nothing about the noise).
    Perturbed,
    /// Suppressed because it is below the threshold.
    PrimarySuppressed,
    /// Suppressed so that no primary cell can be recomputed.
    SecondarySuppressed,
    /// A total kept exact on request (national and county population).
    UnprotectedTotal,
}

impl CellStatus {
    /// The public symbol, as every release format shows it.
    pub fn symbol(self) -> &'static str {
        match self {
            CellStatus::Published => "",
            CellStatus::Perturbed => "p",
            CellStatus::PrimarySuppressed | CellStatus::SecondarySuppressed => "c",
            CellStatus::UnprotectedTotal => "u",
        }
    }

    /// Suppressed, primary or secondary: published as `c` with no value.
    pub fn is_suppressed(self) -> bool {
        matches!(
            self,
            CellStatus::PrimarySuppressed | CellStatus::SecondarySuppressed
        )
    }
}

/// The legend every output carries, in the table's languages.
pub const LEGEND: [(&str, &str, &str); 3] = [
    (
        "p",
        "vlerë e ngatërruar me metodën e çelësit të qelizës",
        "value perturbed by the cell key method",
    ),
    (
        "c",
        "konfidenciale: vlera nuk publikohet",
        "confidential: value suppressed",
    ),
    (
        "u",
        "total i publikuar pa ngatërrim",
        "total published without perturbation",
    ),
];

/// The legend as `symbol: meaning` lines, in Albanian for `sq`, else in English.
pub fn legend_lines(lang: &str) -> Vec<String> {
    LEGEND
        .iter()
        .map(|(symbol, sq, en)| format!("{symbol}: {}", if lang == "sq" { sq } else { en }))
        .collect()
}

/// A table as published after disclosure control: `<id>.protected.json`
/// (`docs/protection.md` §5). Values are absent where suppressed, and every cell
/// carries its public status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtectedTable {
    /// `statvault-protected-table/1`.
    pub format: String,
    /// The table's id, as in its spec.
    pub id: String,
    /// The title, per language.
    pub title: Labels,
    /// What a record of the table is (`person`, `household`, `dwelling`).
    pub unit: String,
    /// `count`, or the variable summed.
    pub measure: String,
    /// Which snapshot, log head, spec and source the table came from.
    pub provenance: Provenance,
    /// The dimensions with their categories, sums and bounds, as in the table file.
    pub dimensions: Vec<Dimension>,
    /// Row-major like the table; null where suppressed.
    pub values: Vec<Option<i64>>,
    /// Public symbol per cell: "", "p", "c" or "u".
    pub status: Vec<String>,
    /// The method, its parameters and its audit.
    pub protection: Protection,
}

/// How a table was protected, and what its audit found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Protection {
    /// `ckm` or `suppress`.
    pub method: String,
    /// The method's parameters, by name.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// BLAKE3 of the p-table CSV (cell key method only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptable_blake3: Option<String>,
    /// The audit run when the table was protected.
    pub audit: AuditReport,
}

impl ProtectedTable {
    /// `table` as published: per cell its value (None if suppressed) and status; the
    /// audit is attached afterwards.
    pub(crate) fn from_table(
        table: &Table,
        cells: impl IntoIterator<Item = (Option<i64>, CellStatus)>,
        method: &str,
        parameters: serde_json::Map<String, serde_json::Value>,
        ptable_blake3: Option<String>,
    ) -> ProtectedTable {
        let (values, status) = cells
            .into_iter()
            .map(|(v, s)| (v, s.symbol().to_string()))
            .unzip();
        ProtectedTable {
            format: FORMAT.into(),
            id: table.id.clone(),
            title: table.title.clone(),
            unit: table.unit.clone(),
            measure: table.measure.clone(),
            provenance: table.provenance.clone(),
            dimensions: table.dimensions.clone(),
            values,
            status,
            protection: Protection {
                method: method.into(),
                parameters,
                ptable_blake3,
                audit: AuditReport::default(),
            },
        }
    }

    /// Cells in the table: the product of its dimensions' category counts.
    pub fn cells(&self) -> usize {
        cell_count(&self.dimensions).expect("ProtectedTable::read checked the cell count")
    }

    /// The file's bytes: one line of JSON and a newline.
    pub fn write(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).expect("a protected table serializes");
        out.push(b'\n');
        out
    }

    /// Parses a protected table and checks its shape and symbols.
    pub fn read(bytes: &[u8]) -> Result<ProtectedTable, String> {
        let t: ProtectedTable = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if t.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", t.format));
        }
        let cells = cell_count(&t.dimensions).ok_or("the dimensions multiply beyond counting")?;
        check_sums(&t.dimensions)?;
        if t.values.len() != cells || t.status.len() != cells {
            return Err(format!(
                "{cells} cells but {} values and {} status flags",
                t.values.len(),
                t.status.len()
            ));
        }
        for (i, (v, s)) in t.values.iter().zip(&t.status).enumerate() {
            match (v, s.as_str()) {
                (None, "c") | (Some(_), "" | "p" | "u") => {}
                _ => return Err(format!("cell {i}: value {v:?} with status {s:?}")),
            }
        }
        Ok(t)
    }

    /// The status symbols as cell statuses, for the audit; `c` reads as secondary
    /// because the public file does not say which.
    pub fn statuses(&self) -> Vec<CellStatus> {
        self.status
            .iter()
            .map(|s| match s.as_str() {
                "p" => CellStatus::Perturbed,
                "c" => CellStatus::SecondarySuppressed,
                "u" => CellStatus::UnprotectedTotal,
                _ => CellStatus::Published,
            })
            .collect()
    }
}
