//! Boundaries an office publishes with a release (`geo/<dimension>.geojson` in the
//! bundle): a GeoJSON (RFC 7946) FeatureCollection of Polygon or MultiPolygon features,
//! each naming in `properties.code` the category of the dimension it outlines (the
//! municipalities' codes, say), in longitude and latitude (WGS 84). The site draws
//! them; the build checks them, so that a bundle never carries a file the site cannot
//! read.

use serde_json::Value;

/// Largest boundary file taken: the 61 municipalities at survey detail fit many times.
pub const MAX_BYTES: usize = 16 << 20;

/// One category's outline: its code and its polygons' outer rings, (longitude,
/// latitude) pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Boundary {
    /// The category's code (`AL-01`).
    pub code: String,
    /// Its polygons' outer rings, each closed, as (longitude, latitude) pairs.
    pub rings: Vec<Vec<(f64, f64)>>,
}

/// Reads a boundary file, or says which feature is wrong and why.
pub fn read(bytes: &[u8]) -> Result<Vec<Boundary>, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!("{} bytes, more than {MAX_BYTES}", bytes.len()));
    }
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let features = match doc["type"].as_str() {
        Some("FeatureCollection") => doc["features"]
            .as_array()
            .ok_or("a FeatureCollection without a features array")?
            .iter()
            .collect::<Vec<_>>(),
        Some("Feature") => vec![&doc],
        _ => return Err("not a GeoJSON FeatureCollection or Feature".into()),
    };
    let mut out: Vec<Boundary> = Vec::with_capacity(features.len());
    for (n, feature) in features.iter().enumerate() {
        let at = |message: &str| format!("feature {n}: {message}");
        // Natural Earth's files (vendored for the site's base map) name a region or a
        // country instead.
        let code = ["code", "region_code", "country_a2"]
            .iter()
            .find_map(|key| feature["properties"][key].as_str())
            .ok_or_else(|| at("no properties.code naming its category"))?;
        if out.iter().any(|b| b.code == code) {
            return Err(at(&format!("code {code:?} is outlined twice")));
        }
        let rings = outer_rings(&feature["geometry"]).map_err(|e| at(&e))?;
        out.push(Boundary {
            code: code.to_string(),
            rings,
        });
    }
    if out.is_empty() {
        return Err("no features".into());
    }
    Ok(out)
}

/// The outer ring of each polygon of a Polygon or MultiPolygon geometry.
fn outer_rings(geometry: &Value) -> Result<Vec<Vec<(f64, f64)>>, String> {
    let polygons: Vec<&Value> = match geometry["type"].as_str() {
        Some("Polygon") => vec![&geometry["coordinates"]],
        Some("MultiPolygon") => geometry["coordinates"]
            .as_array()
            .ok_or("MultiPolygon without coordinates")?
            .iter()
            .collect(),
        _ => return Err("its geometry is not a Polygon or MultiPolygon".into()),
    };
    polygons
        .into_iter()
        .map(|polygon| {
            let ring = polygon
                .get(0)
                .and_then(Value::as_array)
                .ok_or("a polygon without an outer ring")?;
            let points: Vec<(f64, f64)> = ring
                .iter()
                .map(|p| {
                    match (
                        p.get(0).and_then(Value::as_f64),
                        p.get(1).and_then(Value::as_f64),
                    ) {
                        (Some(lon), Some(lat))
                            if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) =>
                        {
                            Ok((lon, lat))
                        }
                        _ => Err(format!("{p} is not a longitude and latitude")),
                    }
                })
                .collect::<Result<_, _>>()?;
            if points.len() < 4 {
                return Err("a ring of fewer than four positions".into());
            }
            Ok(points)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_read_or_named_when_wrong() {
        let square = r#"[[[19.9,40.7],[20.0,40.7],[20.0,40.8],[19.9,40.8],[19.9,40.7]]]"#;
        let good = format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"code":"AL311"}},"geometry":{{"type":"Polygon","coordinates":{square}}}}}]}}"#
        );
        let read_back = read(good.as_bytes()).unwrap();
        assert_eq!(read_back[0].code, "AL311");
        assert_eq!(read_back[0].rings[0].len(), 5);
        for (bad, says) in [
            (
                good.replace("\"code\"", "\"name\""),
                "feature 0: no properties.code",
            ),
            (good.replace("Polygon", "Point"), "feature 0: its geometry"),
            (good.replace("19.9,40.7", "199,40.7"), "is not a longitude"),
            ("[]".to_string(), "not a GeoJSON"),
        ] {
            let err = read(bad.as_bytes()).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
