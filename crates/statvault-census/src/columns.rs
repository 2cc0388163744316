//! Parquet files of flat, required columns, written and read with the low-level
//! column API of the `parquet` crate (no Arrow: the census needs only a few physical
//! types, and the build stays lean).

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

/// One column's values for a row group.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    I32(Vec<i32>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    /// UTF-8 strings.
    Text(Vec<ByteArray>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::I32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    /// Appends to an INT32 column.
    pub fn push_i32(&mut self, v: i32) {
        match self {
            Values::I32(o) => o.push(v),
            _ => unreachable!("an INT32 column"),
        }
    }

    pub fn clear(&mut self) {
        match self {
            Values::I32(v) => v.clear(),
            Values::I64(v) => v.clear(),
            Values::F64(v) => v.clear(),
            Values::Text(v) => v.clear(),
        }
    }

    fn field(&self, name: &str) -> parquet::errors::Result<Type> {
        let (physical, logical) = match self {
            Values::I32(_) => (Physical::INT32, None),
            Values::I64(_) => (Physical::INT64, None),
            Values::F64(_) => (Physical::DOUBLE, None),
            Values::Text(_) => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
        };
        Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(logical)
            .build()
    }
}

/// Writes row groups of named columns to a Parquet file.
pub struct ColumnsWriter<W: Write + Send> {
    writer: SerializedFileWriter<W>,
}

impl<W: Write + Send> ColumnsWriter<W> {
    /// `template` gives the names and types; `compress` chooses zstd pages (for files
    /// people read directly) or plain pages (inside the vault, which compresses);
    /// `dictionary` turns dictionary encoding on, which pays for columns of few
    /// distinct values and only costs for keys and measurements.
    pub fn new(
        out: W,
        template: &[(&str, &Values)],
        compress: bool,
        dictionary: bool,
    ) -> parquet::errors::Result<Self> {
        let fields = template
            .iter()
            .map(|(name, v)| v.field(name).map(Arc::new))
            .collect::<parquet::errors::Result<Vec<_>>>()?;
        let schema = Type::group_type_builder("schema")
            .with_fields(fields)
            .build()?;
        let props = WriterProperties::builder()
            .set_compression(if compress {
                Compression::ZSTD(Default::default())
            } else {
                Compression::UNCOMPRESSED
            })
            .set_dictionary_enabled(dictionary)
            .set_created_by(format!("statvault {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(ColumnsWriter {
            writer: SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props))?,
        })
    }

    /// Writes one row group; every column must hold the same number of values.
    pub fn write_row_group(&mut self, columns: &[&Values]) -> parquet::errors::Result<()> {
        let mut group = self.writer.next_row_group()?;
        for values in columns {
            let mut column = group
                .next_column()?
                .ok_or_else(|| parquet::errors::ParquetError::General("too many columns".into()))?;
            match values {
                Values::I32(v) => column.typed::<Int32Type>().write_batch(v, None, None)?,
                Values::I64(v) => column.typed::<Int64Type>().write_batch(v, None, None)?,
                Values::F64(v) => column.typed::<DoubleType>().write_batch(v, None, None)?,
                Values::Text(v) => column.typed::<ByteArrayType>().write_batch(v, None, None)?,
            };
            column.close()?;
        }
        group.close()?;
        Ok(())
    }

    pub fn finish(self) -> parquet::errors::Result<W> {
        self.writer.into_inner()
    }
}

/// Reads every value of one required column (column `index` of the file) of Parquet
/// physical type `T`.
pub fn read_column<T: DataType>(file: Bytes, index: usize) -> parquet::errors::Result<Vec<T::T>> {
    let reader = SerializedFileReader::new(file)?;
    let rows = reader.metadata().file_metadata().num_rows().max(0) as usize;
    let mut out = Vec::with_capacity(rows);
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g)?;
        let mut typed = T::get_column_reader(group.get_column_reader(index)?).ok_or_else(|| {
            parquet::errors::ParquetError::General(format!(
                "column {index} is not of physical type {}",
                T::get_physical_type()
            ))
        })?;
        while typed.read_records(1 << 16, None, None, &mut out)?.0 > 0 {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip() {
        let a = Values::I32(vec![3, 1, 2, 3]);
        let b = Values::I64(vec![-5, 1 << 40, 0, 7]);
        let c = Values::F64(vec![0.5, 1.0, -2.0, 3.25]);
        let d = Values::Text(["x", "yy", "", "ë"].map(ByteArray::from).to_vec());
        let template = [("a", &a), ("b", &b), ("c", &c), ("d", &d)];
        let mut w = ColumnsWriter::new(Vec::new(), &template, true, true).unwrap();
        w.write_row_group(&[&a, &b, &c, &d]).unwrap();
        w.write_row_group(&[&a, &b, &c, &d]).unwrap();
        let file = Bytes::from(w.finish().unwrap());
        assert_eq!(
            read_column::<Int32Type>(file.clone(), 0).unwrap(),
            [3, 1, 2, 3, 3, 1, 2, 3]
        );
        assert_eq!(
            read_column::<Int64Type>(file.clone(), 1).unwrap()[..4],
            [-5, 1 << 40, 0, 7]
        );
        assert!(read_column::<Int32Type>(file, 1).is_err());
    }
}
