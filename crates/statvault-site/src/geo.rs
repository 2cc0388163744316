//! Albania's outline and its 12 county boundaries (Natural Earth, vendored in
//! `data/albania`, see its README), projected once to EPSG:3035 (ETRS89-LAEA, the
//! projection of the 1 km grid's codes) in kilometres, so that counties, municipal
//! seats and grid squares are drawn in one plane, and areas come out true.

use std::sync::OnceLock;

/// A ring of a polygon, projected, in km.
pub type Ring = Vec<(f64, f64)>;

/// A place's outline, projected.
pub struct Outline {
    /// The category it outlines (ISO 3166-2:AL for counties, `AL-01`).
    pub code: String,
    /// Its rings, outer and holes, in projected coordinates.
    pub rings: Vec<Ring>,
    /// Square kilometres (the projection keeps areas).
    pub area_km2: f64,
    /// Where its name is written: the centroid of its largest ring.
    pub label_at: (f64, f64),
}

/// The outlines the maps draw: the country, and each county.
pub struct Boundaries {
    /// The country's outline.
    pub outline: Vec<Ring>,
    /// Each county's outline.
    pub counties: Vec<Outline>,
}

const REGIONS: [(&str, &str); 12] = [
    ("AL-BE", include_str!("../data/albania/regions/AL-BE.json")),
    ("AL-DB", include_str!("../data/albania/regions/AL-DB.json")),
    ("AL-DU", include_str!("../data/albania/regions/AL-DU.json")),
    ("AL-EB", include_str!("../data/albania/regions/AL-EB.json")),
    ("AL-FI", include_str!("../data/albania/regions/AL-FI.json")),
    ("AL-GK", include_str!("../data/albania/regions/AL-GK.json")),
    ("AL-KE", include_str!("../data/albania/regions/AL-KE.json")),
    ("AL-KK", include_str!("../data/albania/regions/AL-KK.json")),
    ("AL-LZ", include_str!("../data/albania/regions/AL-LZ.json")),
    ("AL-SD", include_str!("../data/albania/regions/AL-SD.json")),
    ("AL-TI", include_str!("../data/albania/regions/AL-TI.json")),
    ("AL-VR", include_str!("../data/albania/regions/AL-VR.json")),
];
const COUNTRY: &str = include_str!("../data/albania/country-AL.json");
const CODES: &str = include_str!("../data/albania/iso-3166-2.csv");

/// Points closer than this to the last one kept are dropped: finer than a drawing
/// of the country shows, and it keeps pages small.
const DETAIL_KM: f64 = 0.4;

/// The boundaries, read and projected on first use.
pub fn albania() -> &'static Boundaries {
    static BOUNDARIES: OnceLock<Boundaries> = OnceLock::new();
    BOUNDARIES.get_or_init(|| {
        let iso = |natural_earth: &str| {
            CODES
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(','))
                .find(|(ne, _)| *ne == natural_earth)
                .map(|(_, rest)| rest.split(',').next().unwrap_or(rest).to_string())
                .expect("every vendored county is in iso-3166-2.csv")
        };
        let vendored = |json: &str| read(json.as_bytes()).expect("vendored GeoJSON");
        let counties = REGIONS
            .iter()
            .flat_map(|(_, json)| vendored(json))
            .map(|mut outline| {
                outline.code = iso(&outline.code);
                outline
            })
            .collect();
        Boundaries {
            outline: vendored(COUNTRY)
                .into_iter()
                .flat_map(|o| o.rings)
                .collect(),
            counties,
        }
    })
}

/// The outlines of a boundary file (`statvault_release::boundaries`), projected and
/// thinned, or why it cannot be read.
pub fn read(bytes: &[u8]) -> Result<Vec<Outline>, String> {
    Ok(statvault_release::boundaries::read(bytes)?
        .into_iter()
        .filter_map(|b| {
            let rings: Vec<Ring> = b
                .rings
                .iter()
                .map(|r| project(r))
                .filter(|r| r.len() >= 3)
                .collect();
            let largest = rings.iter().max_by(|a, b| area(a).total_cmp(&area(b)))?;
            Some(Outline {
                code: b.code,
                label_at: middle(largest),
                area_km2: rings.iter().map(area).sum(),
                rings,
            })
        })
        .collect())
}

/// A ring of longitudes and latitudes, projected and thinned.
fn project(ring: &[(f64, f64)]) -> Ring {
    let mut out: Ring = Vec::new();
    for &(lon, lat) in ring {
        let p = laea(lon, lat);
        if out
            .last()
            .is_none_or(|q| (p.0 - q.0).hypot(p.1 - q.1) >= DETAIL_KM)
        {
            out.push(p);
        }
    }
    out
}

/// A ring's area by the shoelace formula, in km².
fn area(ring: &Ring) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f64>()
        .abs()
        / 2.0
}

/// A ring's centroid (area-weighted): inside the ring for the compact shapes of
/// counties, where a name is written.
fn middle(ring: &Ring) -> (f64, f64) {
    let n = ring.len();
    let (mut cx, mut cy, mut twice_area) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        let cross = a.0 * b.1 - b.0 * a.1;
        twice_area += cross;
        cx += (a.0 + b.0) * cross;
        cy += (a.1 + b.1) * cross;
    }
    (cx / (3.0 * twice_area), cy / (3.0 * twice_area))
}

/// EPSG:3035 (Lambert azimuthal equal-area on GRS80, centre 52°N 10°E, false easting
/// 4321 km and northing 3210 km) of a longitude and latitude, in km: the formulas of
/// IOGP Guidance Note 7-2, §3.2.3.2.
pub fn laea(lon: f64, lat: f64) -> (f64, f64) {
    const A: f64 = 6_378.137;
    const E: f64 = 0.081_819_191_042_815_8;
    let q = |phi: f64| {
        let s = phi.sin();
        (1.0 - E * E)
            * (s / (1.0 - E * E * s * s) - (1.0 / (2.0 * E)) * ((1.0 - E * s) / (1.0 + E * s)).ln())
    };
    let (phi0, lambda0) = (52f64.to_radians(), 10f64.to_radians());
    let qp = q(std::f64::consts::FRAC_PI_2);
    let beta = |phi: f64| (q(phi) / qp).asin();
    let rq = A * (qp / 2.0).sqrt();
    let (b0, b) = (beta(phi0), beta(lat.to_radians()));
    let d = A * (phi0.cos() / (1.0 - E * E * phi0.sin().powi(2)).sqrt()) / (rq * b0.cos());
    let dl = lon.to_radians() - lambda0;
    let big_b = rq * (2.0 / (1.0 + b0.sin() * b.sin() + b0.cos() * b.cos() * dl.cos())).sqrt();
    (
        4_321.0 + big_b * d * b.cos() * dl.sin(),
        3_210.0 + (big_b / d) * (b0.cos() * b.sin() - b0.sin() * b.cos() * dl.cos()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_is_epsg_3035() {
        // IOGP Guidance Note 7-2's example: 50°N 5°E is E 3,962,799 m, N 2,999,719 m.
        let (e, n) = laea(5.0, 50.0);
        assert!(
            (e - 3_962.799).abs() < 0.01 && (n - 2_999.719).abs() < 0.01,
            "{e} {n}"
        );
    }

    #[test]
    fn the_counties_cover_albania_with_their_true_areas() {
        let albania = albania();
        assert_eq!(albania.counties.len(), 12);
        let total: f64 = albania.counties.iter().map(|c| c.area_km2).sum();
        // Albania is 28,748 km²; Natural Earth's 1:10m coastline is coarse.
        assert!((27_000.0..30_500.0).contains(&total), "{total}");
        let tirane = albania.counties.iter().find(|c| c.code == "AL-11").unwrap();
        // Tirana county is 1,652 km².
        assert!(
            (1_400.0..1_900.0).contains(&tirane.area_km2),
            "{}",
            tirane.area_km2
        );
        assert!(!albania.outline.is_empty());
    }
}
