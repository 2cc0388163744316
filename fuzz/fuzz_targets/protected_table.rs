#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_protect::{audit, ProtectedTable};

fuzz_target!(|data: &[u8]| {
    if let Ok(table) = ProtectedTable::read(data) {
        assert_eq!(ProtectedTable::read(&table.write()).unwrap(), table);
        // Anyone's audit of what was read: an error is fine, a panic is not.
        if table.cells() <= 64 {
            let _ = audit(&[table], None);
        }
    }
});
