#![no_main]
use libfuzzer_sys::fuzz_target;
use statvault_census::Schema;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(schema) = Schema::parse(text) {
            // A schema that parses keeps its promises: hierarchies end, parents resolve.
            for l in 0..schema.codelists.len() {
                let ancestors = schema.ancestors(l);
                assert!(ancestors.len() < schema.codelists.len());
                for (c, _) in schema.codelists[l].codes.iter().enumerate() {
                    for &a in &ancestors {
                        assert!(schema.ancestor_code(l, c as u16, a).is_some());
                    }
                }
            }
        }
    }
});
