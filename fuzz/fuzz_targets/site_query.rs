#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_protect::ProtectedTable;
use statvault_site::select::{cells, parse_query, select, subtable};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let Ok(params) = parse_query(query) else { return };
    static TABLE: std::sync::OnceLock<ProtectedTable> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        ProtectedTable::read(include_bytes!(
            "../../crates/statvault-release/tests/data/ckm.protected.json"
        ))
        .unwrap()
    });
    if let Ok(chosen) = select(table, &params) {
        // Every selection is within the table, and the cut has exactly its cells.
        assert!(cells(&chosen) <= table.values.len() as u128);
        let sub = subtable(table, &chosen);
        assert_eq!(sub.values.len() as u128, cells(&chosen));
    }
});
