#![no_main]
//! A PxWebApi v2 selection, as a client sends it: a POSTed JSON query, or (first byte
//! odd) the `valuecodes[…]`/`codelist[…]` parameters of a GET. Whatever it is, choosing
//! either fails cleanly or stays within the table.
use libfuzzer_sys::fuzz_target;
use statvault_protect::ProtectedTable;
use statvault_site::pxweb::{choose, query_from_params, Query};
use statvault_site::select::{cells, parse_query};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let query: Query = if mode % 2 == 1 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        let Ok(params) = parse_query(text) else { return };
        query_from_params(&params)
    } else {
        let Ok(query) = serde_json::from_slice(rest) else { return };
        query
    };
    static TABLE: std::sync::OnceLock<ProtectedTable> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        ProtectedTable::read(include_bytes!(
            "../../crates/statvault-release/tests/data/ckm.protected.json"
        ))
        .unwrap()
    });
    if let Ok(chosen) = choose(table, &query) {
        assert_eq!(chosen.len(), table.dimensions.len());
        assert!(cells(&chosen) <= table.values.len() as u128);
        for (d, picked) in table.dimensions.iter().zip(&chosen) {
            assert!(!picked.is_empty() && picked.iter().all(|&k| k < d.categories.len()));
        }
    }
});
