//! Charts and maps as SVG in the page, drawn on the server so they need no script:
//! horizontal bars (readable on a phone), a population pyramid for age × sex tables,
//! and a map of municipalities and counties as points or of the 1 km grid as squares,
//! coloured by value in five classes with a legend. Colours are SVG attributes, not
//! styles, so the strict Content-Security-Policy holds.

use std::fmt::Write as _;

use statvault_census::table::{strides, CategoryKind};
use statvault_census::Geography;
use statvault_protect::ProtectedTable;
use statvault_release::formats::{dimension_label, label};

use crate::pages::escape;

/// Most bars a chart draws.
const MAX_BARS: usize = 60;
/// Most squares or points a map draws.
const MAX_MARKS: usize = 20_000;
/// Five sequential classes, light to dark.
const COLOURS: [&str; 5] = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"];

/// The values along dimension `k` of a selection, the other dimensions at their first
/// selected category (usually their total); totals left out when there are codes.
fn series(t: &ProtectedTable, k: usize, fixed: &[(usize, usize)]) -> Vec<(usize, Option<i64>)> {
    let strides = strides(&t.dimensions);
    let base: usize = fixed.iter().map(|&(d, i)| i * strides[d]).sum();
    let categories = &t.dimensions[k].categories;
    let codes_only = categories.iter().any(|c| c.kind == CategoryKind::Code);
    (0..categories.len())
        .filter(|&i| !codes_only || categories[i].kind == CategoryKind::Code)
        .map(|i| (i, t.values[base + i * strides[k]]))
        .collect()
}

fn at_first(t: &ProtectedTable, except: &[usize]) -> Vec<(usize, usize)> {
    (0..t.dimensions.len())
        .filter(|d| !except.contains(d))
        .map(|d| (d, 0))
        .collect()
}

/// Bars along the first dimension with more than one category, or a pyramid when the
/// table has sex and an age dimension.
pub fn chart(lang: &str, t: &ProtectedTable) -> Option<String> {
    if let Some(svg) = pyramid(lang, t) {
        return Some(svg);
    }
    let k = t.dimensions.iter().position(|d| d.categories.len() > 1)?;
    let values = series(t, k, &at_first(t, &[k]));
    let values = &values[..values.len().min(MAX_BARS)];
    let max = values.iter().filter_map(|v| v.1).max().unwrap_or(0).max(1) as f64;
    let (row, width, text_width) = (18.0, 640.0, 190.0);
    let height = row * values.len() as f64 + 30.0;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">",
        label = escape(&dimension_label(&t.dimensions[k], lang))
    );
    for (n, (i, v)) in values.iter().enumerate() {
        let y = n as f64 * row + 4.0;
        let name = label(&t.dimensions[k].categories[*i], lang);
        let bar = v.map_or(0.0, |v| v as f64 / max * (width - text_width - 70.0));
        let _ = write!(
            svg,
            "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"12\">{name}</text>\
<rect x=\"{text_width}\" y=\"{y}\" width=\"{bar:.1}\" height=\"{h}\" fill=\"#8b0000\"><title>{name}: {value}</title></rect>\
<text x=\"{vx:.1}\" y=\"{ty}\" font-size=\"11\">{value}</text>",
            tx = text_width - 6.0,
            ty = y + 12.0,
            name = escape(&name),
            h = row - 4.0,
            vx = text_width + bar + 4.0,
            value = v.map_or("..".to_string(), |v| v.to_string()),
        );
    }
    Some(svg + "</svg>")
}

/// Males to the left, females to the right, one bar pair per age group.
fn pyramid(lang: &str, t: &ProtectedTable) -> Option<String> {
    let sex = t.dimensions.iter().position(|d| d.id == "sex")?;
    let age = t
        .dimensions
        .iter()
        .position(|d| d.id.starts_with("age") && d.categories.len() > 2)?;
    let of = |code: &str| {
        t.dimensions[sex]
            .categories
            .iter()
            .position(|c| c.code == code)
    };
    let (male, female) = (of("1")?, of("2")?);
    let mut fixed = at_first(t, &[age, sex]);
    fixed.push((sex, male));
    let men = series(t, age, &fixed);
    fixed.pop();
    fixed.push((sex, female));
    let women = series(t, age, &fixed);
    let max = men
        .iter()
        .chain(&women)
        .filter_map(|v| v.1)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (row, half, middle) = (16.0, 250.0, 320.0);
    let height = row * men.len() as f64 + 40.0;
    let (m, f) = if lang == "sq" {
        ("Meshkuj", "Femra")
    } else {
        ("Male", "Female")
    };
    let mut svg = format!(
        "<svg class=\"chart pyramid\" viewBox=\"0 0 640 {height}\" role=\"img\" aria-label=\"{m} / {f}\" xmlns=\"http://www.w3.org/2000/svg\">\
<text x=\"{lx}\" y=\"14\" text-anchor=\"end\" font-size=\"12\">{m}</text><text x=\"{rx}\" y=\"14\" font-size=\"12\">{f}</text>",
        lx = middle - 40.0,
        rx = middle + 40.0,
    );
    // Oldest at the top, as pyramids are drawn.
    for (n, ((i, man), (_, woman))) in men.iter().zip(&women).rev().enumerate() {
        let y = 22.0 + n as f64 * row;
        let width = |v: &Option<i64>| v.map_or(0.0, |v| v as f64 / max * (half - 40.0));
        let name = escape(&label(&t.dimensions[age].categories[*i], lang));
        let value = |v: &Option<i64>| v.map_or("..".to_string(), |v| v.to_string());
        let _ = write!(
            svg,
            "<rect x=\"{mx:.1}\" y=\"{y}\" width=\"{mw:.1}\" height=\"{h}\" fill=\"#2b5c8a\"><title>{name}, {m}: {mv}</title></rect>\
<rect x=\"{fx}\" y=\"{y}\" width=\"{fw:.1}\" height=\"{h}\" fill=\"#8b0000\"><title>{name}, {f}: {fv}</title></rect>\
<text x=\"{middle}\" y=\"{ty}\" text-anchor=\"middle\" font-size=\"10\">{name}</text>",
            mx = middle - 38.0 - width(man),
            mw = width(man),
            fx = middle + 38.0,
            fw = width(woman),
            h = row - 3.0,
            ty = y + 11.0,
            mv = value(man),
            fv = value(woman),
        );
    }
    Some(svg + "</svg>")
}

/// A map when the table has a geographic dimension: municipalities and counties as
/// points (counties at the mean of their municipalities), grid squares as squares.
pub fn map(lang: &str, t: &ProtectedTable) -> Option<String> {
    let k = t
        .dimensions
        .iter()
        .position(|d| ["municipality", "county", "grid_1km"].contains(&d.id.as_str()))?;
    let values = series(t, k, &at_first(t, &[k]));
    let geography = Geography::albania();
    let categories = &t.dimensions[k].categories;
    let grid = t.dimensions[k].id == "grid_1km";
    // Positions in one plane: EPSG:3035 metres for the grid, or longitude scaled by the
    // cosine of Albania's latitude (41°) against latitude, both in km.
    let position = |code: &str| -> Option<(f64, f64)> {
        if grid {
            let rest = code.strip_prefix("CRS3035RES1000mN")?;
            let (n, e) = rest.split_once('E')?;
            return Some((
                e.parse::<f64>().ok()? / 1000.0,
                n.parse::<f64>().ok()? / 1000.0,
            ));
        }
        let km = |lat: f64, lon: f64| (lon * 111.32 * 41f64.to_radians().cos(), lat * 110.57);
        if let Some(m) = geography.municipalities.iter().find(|m| m.code == code) {
            return Some(km(m.lat, m.lon));
        }
        let county = geography.counties.iter().position(|c| c.code == code)?;
        let members: Vec<_> = geography
            .municipalities
            .iter()
            .filter(|m| m.county == county)
            .collect();
        let n = members.len().max(1) as f64;
        Some(km(
            members.iter().map(|m| m.lat).sum::<f64>() / n,
            members.iter().map(|m| m.lon).sum::<f64>() / n,
        ))
    };
    let marks: Vec<((f64, f64), usize, Option<i64>)> = values
        .iter()
        .filter_map(|&(i, v)| Some((position(&categories[i].code)?, i, v)))
        .take(MAX_MARKS)
        .collect();
    if marks.is_empty() {
        return None;
    }
    // The grid's frame is its squares; points sit in the frame of the whole country,
    // so that a few selected municipalities are drawn where they are.
    let frame: Vec<(f64, f64)> = if grid {
        marks.iter().map(|m| m.0).collect()
    } else {
        geography
            .municipalities
            .iter()
            .filter_map(|m| position(&m.code))
            .collect()
    };
    let (xs, ys): (Vec<f64>, Vec<f64>) = frame.into_iter().unzip();
    let (x0, x1) = (
        xs.iter().cloned().fold(f64::MAX, f64::min),
        xs.iter().cloned().fold(f64::MIN, f64::max),
    );
    let (y0, y1) = (
        ys.iter().cloned().fold(f64::MAX, f64::min),
        ys.iter().cloned().fold(f64::MIN, f64::max),
    );
    let pad = if grid { 1.0 } else { 12.0 };
    let (w, h) = (x1 - x0 + 2.0 * pad, y1 - y0 + 2.0 * pad);
    // Class breaks at the quintiles of the published values.
    let mut sorted: Vec<i64> = marks.iter().filter_map(|m| m.2).collect();
    sorted.sort_unstable();
    let breaks: Vec<i64> = (1..5)
        .map(|q| sorted.get(sorted.len() * q / 5).copied().unwrap_or(0))
        .collect();
    let class = |v: i64| breaks.iter().filter(|&&b| v >= b).count().min(4);
    let mut svg = format!(
        "<svg class=\"map\" viewBox=\"0 0 {w:.1} {h:.1}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">\
<rect width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#f4f7fa\"/>",
        label = escape(&dimension_label(&t.dimensions[k], lang))
    );
    for ((x, y), i, v) in &marks {
        let (cx, cy) = (x - x0 + pad, y1 - y + pad);
        let fill = v.map_or("#bbbbbb", |v| COLOURS[class(v)]);
        let title = format!(
            "{}: {}",
            escape(&label(&categories[*i], lang)),
            v.map_or("..".to_string(), |v| v.to_string())
        );
        if grid {
            let _ = write!(svg, "<rect x=\"{cx:.0}\" y=\"{:.0}\" width=\"1\" height=\"1\" fill=\"{fill}\"><title>{title}</title></rect>", cy - 1.0);
        } else {
            let _ = write!(svg, "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"{fill}\" stroke=\"#333\" stroke-width=\"0.5\"><title>{title}</title></circle>");
        }
    }
    svg.push_str("</svg><ul class=\"map-legend\">");
    let mut lower = sorted.first().copied().unwrap_or(0);
    for (n, colour) in COLOURS.iter().enumerate() {
        let upper = breaks
            .get(n)
            .copied()
            .unwrap_or_else(|| sorted.last().copied().unwrap_or(0));
        let _ = write!(
            svg,
            "<li><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{colour}\"/></svg> {lower}–{upper}</li>"
        );
        lower = upper;
    }
    Some(svg + "</ul>")
}
