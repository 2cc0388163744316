//! Albania's 12 counties and 61 municipalities with 2023 census populations, from the
//! reference data in `data/albania/` (see its README for sources and caveats).
//!
//! County totals are exact census figures. Municipal figures are exact for 31
//! municipalities; for the others the county's residual (its total minus the exact
//! municipal figures) is shared out by the README's pro-rata estimate where one
//! exists, else by the 2011 census figure, else equally among the rest of the county.

const COUNTIES: &str = include_str!("../data/albania/counties.csv");
const MUNICIPALITIES: &str = include_str!("../data/albania/municipalities.csv");
const SOURCES: &str = include_str!("../data/albania/population_sources.csv");

/// A county (qark).
#[derive(Clone, Debug, PartialEq)]
pub struct County {
    /// ISO 3166-2:AL code, e.g. `AL-11`.
    pub code: String,
    /// Its name, in Albanian.
    pub name: String,
    /// 2023 census population.
    pub population: u64,
}

/// A municipality (bashki).
#[derive(Clone, Debug, PartialEq)]
pub struct Municipality {
    /// Eurostat LAU code, e.g. `AL221`.
    pub code: String,
    /// Its name, in Albanian.
    pub name: String,
    /// Index into `Geography::counties`.
    pub county: usize,
    /// 2023 population: exact, or allocated from the county residual (see module docs).
    pub population: u64,
    /// Approximate position of the municipal seat (WGS 84 degrees).
    pub lat: f64,
    /// Approximate longitude of the municipal seat (WGS 84 degrees).
    pub lon: f64,
}

/// Albania's counties and municipalities.
#[derive(Clone, Debug, PartialEq)]
pub struct Geography {
    /// The 12 counties, by code.
    pub counties: Vec<County>,
    /// The 61 municipalities, by code.
    pub municipalities: Vec<Municipality>,
}

/// Splits one line of the embedded reference CSV files (RFC 4180 quoting).
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("a field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().expect("a field").push(c),
        }
    }
    out
}

fn rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = fields(lines.next().expect("a header line"));
    lines
        .map(|l| header.iter().cloned().zip(fields(l)).collect())
        .collect()
}

/// Shares `total` out in proportion to `weights`, in whole units that add up exactly
/// (largest remainder).
pub(crate) fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let short = total - out.iter().sum::<u64>();
    for &i in order.iter().cycle().take(short as usize) {
        out[i] += 1;
    }
    out
}

impl Geography {
    /// The reference data, parsed and checked (the module docs say how the municipal
    /// figures are made).
    pub fn albania() -> Geography {
        let number = |s: &str| s.trim().parse::<f64>().ok();
        let counties: Vec<County> = rows(COUNTIES)
            .into_iter()
            .map(|r| County {
                code: r["county_code"].clone(),
                name: r["county"].clone(),
                population: number(&r["population_2023"]).expect("exact county totals") as u64,
            })
            .collect();
        let sources = rows(SOURCES);
        let mut municipalities: Vec<Municipality> = rows(MUNICIPALITIES)
            .into_iter()
            .map(|r| Municipality {
                county: counties
                    .iter()
                    .position(|c| c.code == r["county_code"])
                    .expect("a known county"),
                code: r["municipality_code"].clone(),
                name: r["municipality"].clone(),
                population: 0,
                lat: number(&r["lat"]).expect("a latitude"),
                lon: number(&r["lon"]).expect("a longitude"),
            })
            .collect();
        for (ci, county) in counties.iter().enumerate() {
            let members: Vec<usize> = (0..municipalities.len())
                .filter(|&m| municipalities[m].county == ci)
                .collect();
            let codes: Vec<String> = members
                .iter()
                .map(|&m| municipalities[m].code.clone())
                .collect();
            let source = |code: &str| {
                sources
                    .iter()
                    .find(|s| s["municipality_code"] == code)
                    .expect("a source row")
            };
            let mut exact_sum = 0;
            let mut rest = Vec::new();
            for (&m, code) in members.iter().zip(&codes) {
                let s = source(code);
                if matches!(s["status"].as_str(), "C23" | "D23") {
                    let value = number(&s["value_in_main_csv"]).expect("a 2023 figure") as u64;
                    exact_sum += value;
                    municipalities[m].population = value;
                } else {
                    rest.push((
                        m,
                        number(&s["est_2023_prorata"]).or_else(|| number(&s["census_2011"])),
                    ));
                }
            }
            let known: Vec<f64> = rest.iter().filter_map(|(_, w)| *w).collect();
            let fallback = if known.is_empty() {
                1.0
            } else {
                known.iter().sum::<f64>() / known.len() as f64
            };
            let weights: Vec<f64> = rest.iter().map(|(_, w)| w.unwrap_or(fallback)).collect();
            let residual = county
                .population
                .checked_sub(exact_sum)
                .expect("exact figures within the county total");
            for ((m, _), share) in rest.iter().zip(apportion(residual, &weights)) {
                municipalities[*m].population = share;
            }
        }
        Geography {
            counties,
            municipalities,
        }
    }

    /// The national population: the sum of the counties.
    pub fn total(&self) -> u64 {
        self.counties.iter().map(|c| c.population).sum()
    }

    /// Persons per municipality for a census of `persons` people, proportional to the
    /// 2023 figures and adding up exactly; at the full size, exactly the 2023 figures.
    pub fn persons_per_municipality(&self, persons: u64) -> Vec<u64> {
        let weights: Vec<f64> = self
            .municipalities
            .iter()
            .map(|m| m.population as f64)
            .collect();
        apportion(persons, &weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counties_are_exact_and_municipalities_add_up_to_them() {
        let g = Geography::albania();
        assert_eq!((g.counties.len(), g.municipalities.len()), (12, 61));
        assert_eq!(g.total(), 2_402_113);
        for (ci, c) in g.counties.iter().enumerate() {
            let sum: u64 = g
                .municipalities
                .iter()
                .filter(|m| m.county == ci)
                .map(|m| m.population)
                .sum();
            assert_eq!(sum, c.population, "{}", c.name);
        }
        assert!(g.municipalities.iter().all(|m| m.population > 0));
        let tirane = g.municipalities.iter().find(|m| m.code == "AL224").unwrap();
        assert_eq!(
            (tirane.name.as_str(), tirane.population),
            ("Tiranë", 598_176)
        );
        assert_eq!(
            g.persons_per_municipality(2_402_113),
            g.municipalities
                .iter()
                .map(|m| m.population)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn quoted_fields_split_correctly() {
        assert_eq!(
            fields(r#"a,"b, c","say ""hi""",d"#),
            ["a", "b, c", r#"say "hi""#, "d"]
        );
    }

    proptest! {
        #[test]
        fn apportion_adds_up_exactly(total in 0u64..10_000_000, weights in proptest::collection::vec(0.0f64..1e6, 1..80)) {
            let shares = apportion(total, &weights);
            if weights.iter().sum::<f64>() > 0.0 {
                prop_assert_eq!(shares.iter().sum::<u64>(), total);
            }
            let sum: f64 = weights.iter().sum();
            for (s, w) in shares.iter().zip(&weights) {
                if sum > 0.0 {
                    prop_assert!((*s as f64 - total as f64 * w / sum).abs() <= 1.0);
                }
            }
        }
    }
}
