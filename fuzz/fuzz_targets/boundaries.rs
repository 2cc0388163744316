#![no_main]
//! A boundary file of a release (`geo/<dimension>.geojson`): read or refused with a
//! message, never a panic; what is read has codes given once and rings of positions on
//! the globe.
use libfuzzer_sys::fuzz_target;
use statvault_release::boundaries::read;

fuzz_target!(|data: &[u8]| {
    if let Ok(outlines) = read(data) {
        for (n, outline) in outlines.iter().enumerate() {
            assert!(outlines[..n].iter().all(|o| o.code != outline.code));
            for ring in &outline.rings {
                assert!(ring.len() >= 4);
                assert!(ring
                    .iter()
                    .all(|(lon, lat)| lon.abs() <= 180.0 && lat.abs() <= 90.0));
            }
        }
    }
});
