#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_census::input::{InputReader, TextBatch};
use statvault_census::ValidationReport;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = InputReader::csv(Box::new(std::io::Cursor::new(data.to_vec())), "fuzz.csv".into(), data.len() as u64) else {
        return;
    };
    let width = reader.header().len();
    let mut report = ValidationReport::new("fuzz.csv".into(), 3);
    let mut batch = TextBatch::default();
    while let Ok(true) = reader.next_batch(&mut batch, 7, &mut report) {
        assert_eq!(batch.columns.len(), width);
        for row in 0..batch.rows() {
            for column in &batch.columns {
                let cell = column.get(row);
                // Cells of rows not marked broken are UTF-8.
                if !batch.broken[row] {
                    assert!(std::str::from_utf8(cell).is_ok());
                }
            }
        }
    }
});
