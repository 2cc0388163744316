//! XLSX (Office Open XML), what most users open: one sheet per language, named by the
//! language code. Each sheet: the title (bold) in A1, the header on row 3 (each
//! dimension's name, then value and flag, bold, frozen), one row per cell with the
//! categories' labels, the value as a number (empty where suppressed) and the flag;
//! then, after a blank row, the legend of the flags and the protection method.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};
use statvault_protect::protected::legend_lines;
use statvault_protect::ProtectedTable;

use super::{coordinates, dimension_label, label, languages};

/// The header row (0-based); data starts on the next row.
pub const HEADER_ROW: u32 = 2;

/// The creation time every workbook records: a fixed one, not the time of writing, so
/// that the same table always makes the same bytes (bundles are reproducible).
const CREATED: (u16, u8, u8) = (2000, 1, 1);

/// The workbook of a bundle: Albanian first, compressed as small as the default level
/// makes it (it is written once, downloaded often).
pub fn write(t: &ProtectedTable) -> Result<Vec<u8>, XlsxError> {
    workbook(t, "sq", 6)
}

/// A workbook made on request: the sheet of `first` (a language) first, where it opens,
/// and deflate's fastest level, a third of the default's time on the 1 km grid (127,088
/// rows a sheet) for a file 1.7 times the size.
pub fn write_in(t: &ProtectedTable, first: &str) -> Result<Vec<u8>, XlsxError> {
    workbook(t, first, 1)
}

fn workbook(t: &ProtectedTable, first: &str, level: u8) -> Result<Vec<u8>, XlsxError> {
    let mut langs = languages(t);
    langs.sort_by_key(|l| l != first);
    let mut book = Workbook::new();
    let (year, month, day) = CREATED;
    book.set_properties(
        &DocProperties::new().set_creation_datetime(&ExcelDateTime::from_ymd(year, month, day)?),
    );
    let bold = Format::new().set_bold();
    for lang in langs {
        let sq = lang == "sq";
        let sheet = book.add_worksheet();
        sheet.set_name(&lang)?;
        let title = t.title.get(&lang).cloned().unwrap_or_else(|| t.id.clone());
        sheet.write_string_with_format(0, 0, &title, &bold)?;
        let mut col: u16 = 0;
        for d in &t.dimensions {
            sheet.write_string_with_format(HEADER_ROW, col, dimension_label(d, &lang), &bold)?;
            col += 1;
        }
        let (value, flag) = if sq {
            ("Vlera", "Shënimi")
        } else {
            ("Value", "Flag")
        };
        sheet.write_string_with_format(HEADER_ROW, col, value, &bold)?;
        sheet.write_string_with_format(HEADER_ROW, col + 1, flag, &bold)?;
        sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
        let mut row = HEADER_ROW;
        for (cell, (v, status)) in t.values.iter().zip(&t.status).enumerate() {
            row += 1;
            for (c, (d, k)) in t
                .dimensions
                .iter()
                .zip(coordinates(&t.dimensions, cell))
                .enumerate()
            {
                sheet.write_string(row, c as u16, label(&d.categories[k], &lang))?;
            }
            if let Some(v) = v {
                sheet.write_number(row, col, *v as f64)?;
            }
            if !status.is_empty() {
                sheet.write_string(row, col + 1, status)?;
            }
        }
        row += 2;
        for line in legend_lines(&lang) {
            sheet.write_string(row, 0, line)?;
            row += 1;
        }
        let method = if sq { "Mbrojtja" } else { "Protection" };
        sheet.write_string(row, 0, format!("{method}: {}", t.protection.method))?;
        // Widths from the labels, not from every cell: autofit scans each written cell
        // and dominated the build of large tables. Title and notes overflow to the right.
        for (c, d) in t.dimensions.iter().enumerate() {
            let widest = d
                .categories
                .iter()
                .map(|k| label(k, &lang).chars().count())
                .chain([dimension_label(d, &lang).chars().count()])
                .max()
                .unwrap_or(8);
            sheet.set_column_width(c as u16, (widest + 2).min(60) as f64)?;
        }
        sheet.set_column_width(col, 12)?;
        sheet.set_column_width(col + 1, (flag.len() + 2) as f64)?;
    }
    book.set_zip_compression_level(level);
    book.save_to_buffer()
}
