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
use crate::{geo, locale};

/// Most bars a chart draws of all its categories.
const MAX_BARS: usize = 60;
/// Bars drawn, the largest, where there are more categories.
const TOP_BARS: usize = 20;
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
/// table has sex and an age dimension. Past MAX_BARS categories (the 1 km grid, whose
/// chart is its map) only the largest TOP_BARS are drawn, and the chart says so. A
/// value axis with its unit runs along the bottom.
pub fn chart(lang: &str, t: &ProtectedTable, unit: &str) -> Option<String> {
    if let Some(svg) = pyramid(lang, t) {
        return Some(svg);
    }
    let k = t.dimensions.iter().position(|d| d.categories.len() > 1)?;
    let mut values = series(t, k, &at_first(t, &[k]));
    let all = values.len();
    if all > MAX_BARS {
        values.sort_by_key(|v| std::cmp::Reverse(v.1.unwrap_or(i64::MIN)));
        values.truncate(TOP_BARS);
    }
    let max = values.iter().filter_map(|v| v.1).max().unwrap_or(0).max(1) as f64;
    let (row, width, text_width) = (18.0, 640.0, 190.0);
    let span = width - text_width - 70.0;
    let top = if all > MAX_BARS { 18.0 } else { 0.0 };
    let axis_y = top + row * values.len() as f64 + 6.0;
    let height = axis_y + 36.0;
    let name = dimension_label(&t.dimensions[k], lang);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">",
        label = escape(&format!("{name} ({unit})"))
    );
    if all > MAX_BARS {
        let note = if lang == "sq" {
            format!("{TOP_BARS} më të mëdhatë nga {all}")
        } else {
            format!("The {TOP_BARS} largest of {all}")
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"12\" font-size=\"12\" font-weight=\"700\">{}</text>",
            escape(&note)
        );
    }
    for (n, (i, v)) in values.iter().enumerate() {
        let y = top + n as f64 * row + 4.0;
        let name = label(&t.dimensions[k].categories[*i], lang);
        let bar = v.map_or(0.0, |v| v as f64 / max * span);
        let value = v.map_or("..".to_string(), |v| locale::number(lang, v));
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
        );
    }
    // The value axis: a line, ticks at 0, half and the largest value, and the unit.
    let _ = write!(
        svg,
        "<line x1=\"{text_width}\" y1=\"{axis_y}\" x2=\"{x2}\" y2=\"{axis_y}\" stroke=\"#555\"/>",
        x2 = text_width + span
    );
    for share in [0.0, 0.5, 1.0] {
        let x = text_width + share * span;
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{axis_y}\" x2=\"{x:.1}\" y2=\"{y2}\" stroke=\"#555\"/><text x=\"{x:.1}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            locale::number(lang, (max * share).round() as i64),
            y2 = axis_y + 4.0,
            ty = axis_y + 15.0,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{x:.1}\" y=\"{y}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
        escape(unit),
        x = text_width + span / 2.0,
        y = axis_y + 30.0,
    );
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

/// A map when the table has a geographic dimension, over Albania's outline and county
/// boundaries: counties coloured by persons per km² (by the value itself where the
/// measure is not a count), municipalities as circles whose area is their value,
/// labelled, and 1 km squares coloured by value (persons per km², as each is 1 km²).
/// Every shape can be tapped or focused to read its name and value (site.js writes
/// them under the map), besides its tooltip. `unit` names what the values count.
/// `supplied` are outlines the release publishes for the dimension's categories (an
/// office's municipal boundaries, `geo/<dimension>.geojson`): drawn as the counties are,
/// in place of circles.
pub fn map(
    lang: &str,
    t: &ProtectedTable,
    unit: &str,
    supplied: &[geo::Outline],
) -> Option<String> {
    let k = t
        .dimensions
        .iter()
        .position(|d| ["municipality", "county", "grid_1km"].contains(&d.id.as_str()))?;
    let strides = strides(&t.dimensions);
    let base: usize = at_first(t, &[k]).iter().map(|&(d, i)| i * strides[d]).sum();
    let categories = &t.dimensions[k].categories;
    let value = |i: usize| t.values[base + i * strides[k]];
    let albania = geo::albania();
    let geography = Geography::albania();
    let count = t.measure == "count";

    // Places drawn by their outline: counties (vendored), then what the release supplies.
    let outlined: Vec<(&geo::Outline, String, Option<i64>)> = albania
        .counties
        .iter()
        .chain(supplied)
        .filter_map(|place| {
            let i = categories.iter().position(|c| c.code == place.code)?;
            Some((place, label(&categories[i], lang), value(i)))
        })
        .collect();
    let seats: Vec<((f64, f64), String, Option<i64>)> = categories
        .iter()
        .enumerate()
        .filter(|(_, c)| outlined.iter().all(|(o, _, _)| o.code != c.code))
        .filter_map(|(i, c)| {
            let m = geography.municipalities.iter().find(|m| m.code == c.code)?;
            Some((geo::laea(m.lon, m.lat), label(c, lang), value(i)))
        })
        .collect();
    let squares: Vec<((f64, f64), String, Option<i64>)> = categories
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((grid_corner(&c.code)?, label(c, lang), value(i))))
        .take(MAX_MARKS)
        .collect();
    if outlined.is_empty() && seats.is_empty() && squares.is_empty() {
        return None;
    }

    // The frame: the country's outline, with a margin.
    let (xs, ys): (Vec<f64>, Vec<f64>) = albania.outline.iter().flatten().copied().unzip();
    let fold = |v: &[f64]| {
        v.iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
    };
    let ((x0, x1), (y0, y1)) = (fold(&xs), fold(&ys));
    let pad = 8.0;
    let (w, h) = (x1 - x0 + 2.0 * pad, y1 - y0 + 2.0 * pad);
    let at = |(x, y): (f64, f64)| (x - x0 + pad, y1 - y + pad);
    let path = |rings: &[geo::Ring]| {
        let mut d = String::new();
        for ring in rings {
            for (n, &p) in ring.iter().enumerate() {
                let (x, y) = at(p);
                let _ = write!(d, "{}{x:.1} {y:.1}", if n == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
        d
    };
    let number = |v: Option<i64>| v.map_or("..".to_string(), |v| locale::number(lang, v));
    let mut svg = format!(
        "<svg class=\"map\" viewBox=\"0 0 {w:.0} {h:.0}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">\
<rect width=\"{w:.0}\" height=\"{h:.0}\" fill=\"#eef3f7\"/>",
        label = escape(&dimension_label(&t.dimensions[k], lang))
    );
    let mut legend = String::new();

    // The counties not in the table are the base of the map; the places outlined are a
    // choropleth.
    let density = |place: &geo::Outline, v: Option<i64>| {
        v.map(|v| {
            if count {
                (v as f64 / place.area_km2).round() as i64
            } else {
                v
            }
        })
    };
    for county in &albania.counties {
        if outlined.iter().all(|(o, _, _)| o.code != county.code) {
            let _ = write!(
                svg,
                "<path d=\"{}\" fill=\"#f8f8f8\" stroke=\"#fff\" stroke-width=\"0.8\"/>",
                path(&county.rings)
            );
        }
    }
    let classes = Classes::of(outlined.iter().filter_map(|(o, _, v)| density(o, *v)));
    for (place, name, v) in &outlined {
        let d = density(place, *v);
        let about = if count {
            format!("{name}: {} {unit}, {} / km²", number(*v), number(d))
        } else {
            format!("{name}: {} {unit}", number(*v))
        };
        let _ = write!(
            svg,
            "<path d=\"{}\" fill=\"{fill}\" stroke=\"#fff\" stroke-width=\"0.8\" tabindex=\"0\" data-about=\"{a}\"><title>{a}</title></path>",
            path(&place.rings),
            fill = d.map_or("#bbbbbb", |d| classes.colour(d)),
            a = escape(&about),
        );
    }
    let _ = write!(
        svg,
        "<path d=\"{}\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>",
        path(&albania.outline)
    );
    if !outlined.is_empty() {
        let title = if count {
            format!("{unit} / km²")
        } else {
            unit.to_string()
        };
        legend.push_str(&classes.legend(lang, &title));
    }

    // Grid squares, coloured by value.
    let grid_classes = Classes::of(squares.iter().filter_map(|s| s.2));
    for (corner, name, v) in &squares {
        let (x, y) = at(*corner);
        let fill = v.map_or("#bbbbbb", |v| grid_classes.colour(v));
        let about = escape(&format!("{name}: {} {unit}", number(*v)));
        let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"1\" height=\"1\" fill=\"{fill}\" data-about=\"{about}\"><title>{about}</title></rect>", y - 1.0);
    }
    if !squares.is_empty() {
        legend.push_str(&grid_classes.legend(lang, &format!("{unit} / km² (1 km²)")));
    }

    // Municipal seats: circles by area, the largest values labelled.
    let largest = seats.iter().filter_map(|s| s.2).max().unwrap_or(1).max(1) as f64;
    let mut by_size: Vec<usize> = (0..seats.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(seats[i].2.unwrap_or(0)));
    let labelled: Vec<usize> = by_size.iter().copied().take(12).collect();
    for &i in &by_size {
        let (p, name, v) = &seats[i];
        let (x, y) = at(*p);
        let r = 1.5 + 12.0 * (v.unwrap_or(0) as f64 / largest).sqrt();
        let about = escape(&format!("{name}: {} {unit}", number(*v)));
        let _ = write!(svg, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.1}\" fill=\"#2b5c8a\" fill-opacity=\"0.55\" stroke=\"#1b3a57\" stroke-width=\"0.6\" tabindex=\"0\" data-about=\"{about}\"><title>{about}</title></circle>");
    }
    // Names last, over every shape, with a white halo to stay readable.
    let mut names: Vec<((f64, f64), String)> = labelled
        .iter()
        .map(|&i| (seats[i].0, seats[i].1.clone()))
        .collect();
    if seats.is_empty() {
        names.extend(
            outlined
                .iter()
                .map(|(o, name, _)| (o.label_at, name.clone())),
        );
    }
    for (p, name) in names {
        let (x, y) = at(p);
        // The map says what a shape is; "Berat (county)" is "Berat" on it.
        let name = name.split(" (").next().unwrap_or(&name).to_string();
        let _ = write!(svg, "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"6\" text-anchor=\"middle\" paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"1.6\" fill=\"#111\">{}</text>", y - 3.0, escape(&name));
    }
    if !seats.is_empty() {
        let _ = write!(
            legend,
            "<p class=\"map-legend\">{}</p>",
            escape(&if lang == "sq" {
                format!("Sipërfaqja e rrethit: {unit}; bashkitë në selitë e tyre (nuk ka kufij të hapur të bashkive)")
            } else {
                format!("Circle area: {unit}; municipalities at their seats (no open municipal boundaries exist)")
            })
        );
    }
    Some(format!(
        "{svg}</svg><output class=\"map-identify\" aria-live=\"polite\"></output>{legend}"
    ))
}

/// One sentence on the places of a geographic table, the other dimensions at their
/// first category: how many have a value, their sum, and the largest.
pub fn summary(lang: &str, t: &ProtectedTable, unit: &str) -> Option<String> {
    let k = t
        .dimensions
        .iter()
        .position(|d| ["municipality", "county", "grid_1km"].contains(&d.id.as_str()))?;
    let values = series(t, k, &at_first(t, &[k]));
    let shown: Vec<(usize, i64)> = values.iter().filter_map(|&(i, v)| Some((i, v?))).collect();
    let &(top, most) = shown.iter().max_by_key(|(_, v)| *v)?;
    let total: i64 = shown.iter().map(|(_, v)| v).sum();
    let name = label(&t.dimensions[k].categories[top], lang);
    let n = |v: i64| locale::number(lang, v);
    let (with_value, of, in_all, largest) = if lang == "sq" {
        ("vende me vlerë", "nga", "gjithsej", "më i madhi")
    } else {
        ("places with a value", "of", "in all", "the largest")
    };
    Some(format!(
        "{} {with_value} ({of} {}), {} {unit} {in_all}; {largest}: {name}, {} {unit}.",
        n(shown.len() as i64),
        n(values.len() as i64),
        n(total),
        n(most)
    ))
}

/// The south-west corner of a 1 km square from its INSPIRE code, in EPSG:3035 km.
fn grid_corner(code: &str) -> Option<(f64, f64)> {
    let rest = code.strip_prefix("CRS3035RES1000mN")?;
    let (n, e) = rest.split_once('E')?;
    Some((
        e.parse::<f64>().ok()? / 1000.0,
        n.parse::<f64>().ok()? / 1000.0,
    ))
}

/// Five classes at the quintiles of some values, light to dark.
struct Classes {
    breaks: Vec<i64>,
    low: i64,
    high: i64,
}

impl Classes {
    fn of(values: impl Iterator<Item = i64>) -> Classes {
        let mut sorted: Vec<i64> = values.collect();
        sorted.sort_unstable();
        let breaks = (1..5)
            .map(|q| sorted.get(sorted.len() * q / 5).copied().unwrap_or(0))
            .collect();
        Classes {
            breaks,
            low: sorted.first().copied().unwrap_or(0),
            high: sorted.last().copied().unwrap_or(0),
        }
    }

    fn colour(&self, v: i64) -> &'static str {
        COLOURS[self.breaks.iter().filter(|&&b| v >= b).count().min(4)]
    }

    /// The legend: its title, then each class's colour and range.
    fn legend(&self, lang: &str, title: &str) -> String {
        let mut html = format!(
            "<p class=\"map-legend-title\">{}</p><ul class=\"map-legend\">",
            escape(title)
        );
        let mut lower = self.low;
        for (n, colour) in COLOURS.iter().enumerate() {
            let upper = self.breaks.get(n).copied().unwrap_or(self.high);
            let _ = write!(
                html,
                "<li><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{colour}\"/></svg> {}–{}</li>",
                locale::number(lang, lower),
                locale::number(lang, upper)
            );
            lower = upper;
        }
        html + "</ul>"
    }
}
