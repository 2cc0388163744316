//! The 1 km grid of the EU 2021 census: cells of the ETRS89 Lambert azimuthal
//! equal-area projection (EPSG:3035), named `CRS3035RES1000mN{northing}E{easting}` by
//! their lower-left corner in metres.
//!
//! The projection is the ellipsoidal form of IOGP Guidance Note 7-2 (method 9820),
//! with the EPSG:3035 parameters: GRS 1980, origin 52° N 10° E, false easting
//! 4,321,000 m, false northing 3,210,000 m.

const A: f64 = 6_378_137.0;
const INVERSE_FLATTENING: f64 = 298.257_222_101;
const LAT0_DEG: f64 = 52.0;
const LON0_DEG: f64 = 10.0;
const FALSE_EASTING: f64 = 4_321_000.0;
const FALSE_NORTHING: f64 = 3_210_000.0;
/// The grid's cell size.
pub const CELL_METRES: i64 = 1000;

/// Constants of the projection that depend only on its parameters.
pub struct Laea {
    e: f64,
    qp: f64,
    sin_beta0: f64,
    cos_beta0: f64,
    rq: f64,
    d: f64,
}

impl Default for Laea {
    fn default() -> Self {
        let f = 1.0 / INVERSE_FLATTENING;
        let e = (2.0 * f - f * f).sqrt();
        let qp = q(e, std::f64::consts::FRAC_PI_2);
        let lat0 = LAT0_DEG.to_radians();
        let beta0 = (q(e, lat0) / qp).asin();
        let rq = A * (qp / 2.0).sqrt();
        let d = A * lat0.cos() / (1.0 - e * e * lat0.sin().powi(2)).sqrt() / (rq * beta0.cos());
        Laea {
            e,
            qp,
            sin_beta0: beta0.sin(),
            cos_beta0: beta0.cos(),
            rq,
            d,
        }
    }
}

fn q(e: f64, lat: f64) -> f64 {
    let s = lat.sin();
    (1.0 - e * e) * (s / (1.0 - e * e * s * s) - ((1.0 - e * s) / (1.0 + e * s)).ln() / (2.0 * e))
}

impl Laea {
    /// (easting, northing) in metres of a latitude and longitude in degrees.
    pub fn project(&self, lat_deg: f64, lon_deg: f64) -> (f64, f64) {
        let beta = (q(self.e, lat_deg.to_radians()) / self.qp).asin();
        let (sin_b, cos_b) = beta.sin_cos();
        let (sin_dl, cos_dl) = (lon_deg - LON0_DEG).to_radians().sin_cos();
        let b = self.rq
            * (2.0 / (1.0 + self.sin_beta0 * sin_b + self.cos_beta0 * cos_b * cos_dl)).sqrt();
        let easting = FALSE_EASTING + b * self.d * cos_b * sin_dl;
        let northing = FALSE_NORTHING
            + b / self.d * (self.cos_beta0 * sin_b - self.sin_beta0 * cos_b * cos_dl);
        (easting, northing)
    }

    /// The lower-left corner (northing, easting) of the 1 km cell holding a point.
    pub fn cell(&self, lat_deg: f64, lon_deg: f64) -> (i64, i64) {
        let (e, n) = self.project(lat_deg, lon_deg);
        let corner = |m: f64| (m / CELL_METRES as f64).floor() as i64 * CELL_METRES;
        (corner(n), corner(e))
    }
}

/// The cell's id as the EU census grid writes it (`CRS3035RES1000mN…E…`), from its
/// south-west corner.
pub fn cell_id((northing, easting): (i64, i64)) -> String {
    format!("CRS3035RES{CELL_METRES}mN{northing}E{easting}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_iogp_worked_example() {
        // IOGP Guidance Note 7-2, method 9820: 50° N 5° E → E 3,962,799.45 N 2,999,718.85.
        let (e, n) = Laea::default().project(50.0, 5.0);
        assert!((e - 3_962_799.45).abs() < 0.01, "{e}");
        assert!((n - 2_999_718.85).abs() < 0.01, "{n}");
    }

    #[test]
    fn names_cells_by_their_lower_left_corner() {
        let laea = Laea::default();
        let (n, e) = laea.cell(41.3275, 19.8189); // Tirana
        assert_eq!((n % 1000, e % 1000), (0, 0));
        let (pe, pn) = laea.project(41.3275, 19.8189);
        assert!((n as f64) <= pn && pn < n as f64 + 1000.0);
        assert!((e as f64) <= pe && pe < e as f64 + 1000.0);
        assert!(cell_id((n, e)).starts_with("CRS3035RES1000mN"));
    }
}
