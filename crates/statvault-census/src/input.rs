//! Reading microdata input, CSV or Parquet, as batches of text cells column by column,
//! so that one validation serves both formats. Problems of the file's structure
//! (ragged rows, text that is not UTF-8) are record errors like any other: they go to
//! the report with their line and column, and the row is left out of validation.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use parquet::basic::Type as Physical;
use parquet::column::reader::ColumnReader;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::{CensusError, ValidationReport};

/// Text cells of one column of a batch.
#[derive(Default, Debug)]
pub struct TextColumn {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl TextColumn {
    /// The text of row `row`.
    pub fn get(&self, row: usize) -> &[u8] {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        &self.bytes[start..self.ends[row]]
    }

    fn push(&mut self, cell: &[u8]) {
        self.bytes.extend_from_slice(cell);
        self.ends.push(self.bytes.len());
    }

    fn push_display(&mut self, value: impl std::fmt::Display) {
        use std::io::Write;
        write!(self.bytes, "{value}").expect("writing to memory");
        self.ends.push(self.bytes.len());
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// A batch of rows of the input, as text, column by column.
#[derive(Default, Debug)]
pub struct TextBatch {
    /// One column per input column, in the header's order.
    pub columns: Vec<TextColumn>,
    /// Where each row is in the input: CSV line of the record's start, or Parquet row.
    pub positions: Vec<u64>,
    /// Rows with a structural error already reported, left out of validation.
    pub broken: Vec<bool>,
}

impl TextBatch {
    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.positions.len()
    }

    fn reset(&mut self, width: usize) {
        self.columns.resize_with(width, TextColumn::default);
        self.columns.iter_mut().for_each(TextColumn::clear);
        self.positions.clear();
        self.broken.clear();
    }
}

enum Source {
    Csv {
        reader: csv::Reader<Box<dyn Read + Send>>,
        record: csv::ByteRecord,
    },
    Parquet {
        reader: SerializedFileReader<File>,
        next_group: usize,
        rows_before: u64,
    },
}

/// Reads census input, CSV or Parquet, in batches of text cells.
pub struct InputReader {
    source: Source,
    header: Vec<String>,
    name: String,
    size: u64,
}

impl InputReader {
    /// Opens a `.csv` or `.parquet` file and reads its header.
    pub fn open(path: &Path) -> Result<InputReader, CensusError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| CensusError::io(&name, e))?;
        let size = file
            .metadata()
            .map_err(|e| CensusError::io(&name, e))?
            .len();
        let input_err = |message: String| CensusError::Input {
            file: name.clone(),
            message,
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Self::csv(Box::new(file), name.clone(), size),
            Some("parquet") => {
                // Read a row group at a time, straight from the file.
                let reader = SerializedFileReader::new(file)
                    .map_err(|e| input_err(format!("not a readable Parquet file: {e}")))?;
                let schema = reader.metadata().file_metadata().schema_descr_ptr();
                let mut header = Vec::new();
                for column in schema.columns() {
                    if column.max_rep_level() > 0 || column.path().parts().len() > 1 {
                        return Err(input_err(format!(
                            "column {} is nested or repeated; census input is flat",
                            column.path()
                        )));
                    }
                    header.push(column.name().to_string());
                }
                check_header(&header).map_err(input_err)?;
                Ok(InputReader {
                    source: Source::Parquet {
                        reader,
                        next_group: 0,
                        rows_before: 0,
                    },
                    header,
                    name,
                    size,
                })
            }
            _ => Err(input_err(
                "the input must be a .csv or .parquet file".into(),
            )),
        }
    }

    /// A CSV reader over any byte stream (used by `open` and by the fuzz target).
    pub fn csv(
        input: Box<dyn Read + Send>,
        name: String,
        size: u64,
    ) -> Result<InputReader, CensusError> {
        let input_err = |message: String| CensusError::Input {
            file: name.clone(),
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut record = csv::ByteRecord::new();
        let found = reader
            .read_byte_record(&mut record)
            .map_err(|e| input_err(format!("reading the header line: {e}")))?;
        if !found {
            return Err(input_err(
                "the file is empty: expected a header line naming the columns".into(),
            ));
        }
        let mut header = Vec::new();
        for (i, cell) in record.iter().enumerate() {
            let cell = if i == 0 {
                cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
            } else {
                cell
            };
            let text = std::str::from_utf8(cell).map_err(|_| {
                input_err(format!(
                    "line 1, column {}: the header is not UTF-8 text (save the file as UTF-8)",
                    i + 1
                ))
            })?;
            header.push(text.trim().to_string());
        }
        check_header(&header).map_err(input_err)?;
        Ok(InputReader {
            source: Source::Csv { reader, record },
            header,
            name,
            size,
        })
    }

    /// The input's column names.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The input's file name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input size in bytes, for progress.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// "line" for CSV, "row" for Parquet: how positions are named in messages.
    pub fn position_word(&self) -> &'static str {
        match self.source {
            Source::Csv { .. } => "line",
            Source::Parquet { .. } => "row",
        }
    }

    /// Bytes consumed so far (for CSV; Parquet reports row groups as fractions).
    pub fn consumed(&self) -> u64 {
        match &self.source {
            Source::Csv { reader, .. } => reader.position().byte(),
            Source::Parquet {
                reader, next_group, ..
            } => {
                let groups = reader.num_row_groups().max(1) as u64;
                self.size * *next_group as u64 / groups
            }
        }
    }

    /// Fills `batch` with the next rows (up to `max_rows` for CSV, one row group for
    /// Parquet). Returns false when the input is exhausted.
    pub fn next_batch(
        &mut self,
        batch: &mut TextBatch,
        max_rows: usize,
        report: &mut ValidationReport,
    ) -> Result<bool, CensusError> {
        let width = self.header.len();
        batch.reset(width);
        match &mut self.source {
            Source::Csv { reader, record } => {
                while batch.rows() < max_rows {
                    match reader.read_byte_record(record) {
                        Ok(false) => break,
                        Ok(true) => {}
                        Err(e) => {
                            return Err(CensusError::Input {
                                file: self.name.clone(),
                                message: format!("unreadable CSV: {e}"),
                            })
                        }
                    }
                    let line = record.position().map_or(0, |p| p.line());
                    let mut broken = false;
                    if record.len() != width {
                        broken = true;
                        report.add(
                            "(row)",
                            &format!("ragged row: header has {width} fields"),
                            || format!("line {line}: {} fields", record.len()),
                            &record.as_slice()[..record.as_slice().len().min(60)],
                        );
                    }
                    for (c, column) in batch.columns.iter_mut().enumerate() {
                        let cell = record.get(c).unwrap_or_default();
                        if !broken && std::str::from_utf8(cell).is_err() {
                            broken = true;
                            report.add(
                                &self.header[c],
                                "not UTF-8 text (save the file as UTF-8)",
                                || format!("line {line}, column {}", c + 1),
                                cell,
                            );
                        }
                        column.push(cell);
                    }
                    batch.positions.push(line);
                    batch.broken.push(broken);
                }
            }
            Source::Parquet {
                reader,
                next_group,
                rows_before,
            } => {
                if *next_group >= reader.num_row_groups() {
                    return Ok(false);
                }
                let group = reader
                    .get_row_group(*next_group)
                    .map_err(|e| CensusError::Input {
                        file: self.name.clone(),
                        message: format!("row group {next_group}: {e}"),
                    })?;
                let rows = group.metadata().num_rows().max(0) as u64;
                for (c, column) in batch.columns.iter_mut().enumerate() {
                    let col_err = |e: parquet::errors::ParquetError| CensusError::Input {
                        file: self.name.clone(),
                        message: format!("column {}, row group {next_group}: {e}", self.header[c]),
                    };
                    let reader = group.get_column_reader(c).map_err(col_err)?;
                    read_as_text(reader, rows as usize, column).map_err(col_err)?;
                }
                batch.positions.extend((1..=rows).map(|r| *rows_before + r));
                batch.broken.resize(rows as usize, false);
                *rows_before += rows;
                *next_group += 1;
            }
        }
        Ok(batch.rows() > 0)
    }
}

fn check_header(header: &[String]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(format!("column {}: the header names no column", i + 1));
        }
        if !seen.insert(name) {
            return Err(format!(
                "column {}: {name:?} appears twice in the header",
                i + 1
            ));
        }
    }
    Ok(())
}

/// Reads a Parquet column chunk as text cells; a null is an empty cell.
fn read_as_text(
    reader: ColumnReader,
    rows: usize,
    out: &mut TextColumn,
) -> parquet::errors::Result<()> {
    use parquet::column::reader::ColumnReaderImpl;
    use parquet::data_type::DataType;
    fn each<T: DataType>(
        mut r: ColumnReaderImpl<T>,
        rows: usize,
        out: &mut TextColumn,
        put: impl Fn(&T::T, &mut TextColumn),
    ) -> parquet::errors::Result<()> {
        let (mut values, mut defs) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        while r
            .read_records(1 << 16, Some(&mut defs), None, &mut values)?
            .0
            > 0
        {}
        let max_def = defs.iter().copied().max().unwrap_or(0);
        let mut next = values.iter();
        if defs.is_empty() {
            values.iter().for_each(|v| put(v, out));
        } else {
            for d in defs {
                match (d == max_def).then(|| next.next()).flatten() {
                    Some(v) => put(v, out),
                    None => out.push(b""),
                }
            }
        }
        Ok(())
    }
    match reader {
        ColumnReader::BoolColumnReader(r) => each(r, rows, out, |v, o| o.push_display(*v as u8)),
        ColumnReader::Int32ColumnReader(r) => each(r, rows, out, |v, o| o.push_display(v)),
        ColumnReader::Int64ColumnReader(r) => each(r, rows, out, |v, o| o.push_display(v)),
        ColumnReader::FloatColumnReader(r) => each(r, rows, out, |v, o| o.push_display(v)),
        ColumnReader::DoubleColumnReader(r) => each(r, rows, out, |v, o| o.push_display(v)),
        ColumnReader::ByteArrayColumnReader(r) => each(r, rows, out, |v, o| o.push(v.data())),
        ColumnReader::FixedLenByteArrayColumnReader(r) => {
            each(r, rows, out, |v, o| o.push(v.data()))
        }
        ColumnReader::Int96ColumnReader(_) => Err(parquet::errors::ParquetError::General(format!(
            "physical type {} is not used for census variables",
            Physical::INT96
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Row = Vec<Vec<u8>>;

    fn read_all(bytes: Vec<u8>) -> Result<(Vec<String>, Vec<Row>, ValidationReport), CensusError> {
        let size = bytes.len() as u64;
        let mut reader =
            InputReader::csv(Box::new(std::io::Cursor::new(bytes)), "t.csv".into(), size)?;
        let mut report = ValidationReport::new("t.csv".into(), 3);
        let mut batch = TextBatch::default();
        let mut rows = Vec::new();
        while reader.next_batch(&mut batch, 5, &mut report)? {
            for r in 0..batch.rows() {
                rows.push(batch.columns.iter().map(|c| c.get(r).to_vec()).collect());
            }
        }
        Ok((reader.header().to_vec(), rows, report))
    }

    fn quote(cell: &str) -> String {
        format!("\"{}\"", cell.replace('"', "\"\""))
    }

    proptest! {
        #[test]
        fn quoted_cells_round_trip(rows in prop::collection::vec(prop::collection::vec("[a-zë,\"\n ]{0,6}", 3), 1..20)) {
            let mut text = String::from("a,b,c\n");
            for row in &rows {
                text += &row.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",");
                text += "\n";
            }
            let (header, read, report) = read_all(text.into_bytes()).unwrap();
            prop_assert_eq!(header, ["a", "b", "c"]);
            prop_assert!(report.is_empty());
            let expected: Vec<Vec<Vec<u8>>> = rows.iter().map(|r| r.iter().map(|c| c.as_bytes().to_vec()).collect()).collect();
            prop_assert_eq!(read, expected);
        }

        #[test]
        fn any_bytes_give_rows_or_a_clear_error(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok((header, rows, _)) = read_all(bytes) {
                prop_assert!(rows.iter().all(|r| r.len() == header.len()));
            }
        }
    }

    #[test]
    fn ragged_rows_and_bad_encoding_are_record_errors() {
        let (_, rows, report) = read_all(b"a,b\n1,2\n3\n4,\xff\n5,6,7\n".to_vec()).unwrap();
        assert_eq!(rows.len(), 4);
        let text = report.to_string();
        assert!(
            text.contains("ragged row: header has 2 fields (2×)"),
            "{text}"
        );
        assert!(text.contains("line 3: 1 fields"), "{text}");
        assert!(text.contains("b: not UTF-8 text"), "{text}");
        assert!(text.contains("line 4, column 2"), "{text}");
        let empty = read_all(Vec::new()).unwrap_err().to_string();
        assert!(empty.contains("empty"), "{empty}");
        let twice = read_all(b"a,a\n1,2\n".to_vec()).unwrap_err().to_string();
        assert!(twice.contains("appears twice"), "{twice}");
    }
}
