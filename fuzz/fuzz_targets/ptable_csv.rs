#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_protect::PTable;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(table) = PTable::read(text) {
            // What reads also writes and reads back the same.
            assert_eq!(PTable::read(&table.write()).unwrap(), table);
            // Lookups stay within the table's largest deviation.
            let d = table.max_deviation();
            for n in [0u64, 1, 2, 5, table.top_row(), 1_000_000] {
                for key in [0u32, 1 << 31, u32::MAX] {
                    assert!(table.perturb(n, key).abs_diff(n) <= d);
                }
            }
        }
    }
});
