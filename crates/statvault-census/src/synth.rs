//! The synthetic census: one CSV row per person, with the household and dwelling each
//! person lives in. Deterministic for a seed.
//!
//! Realism comes from the published 2023 facts (`data/albania/README.md`): 49.6 % male,
//! 15.5 % aged 0–14, 64.8 % 15–64 and 19.7 % 65+, mean age about 42.5, 3.2 persons per
//! household, 82.5 % of dwellings owner-occupied. Ages are drawn first, for the exact
//! marginals; households are then formed around an adult reference person, children
//! going preferably to households whose reference person is of parenting age.
//! Dwellings scatter around the municipal seat, so a 1 km grid is meaningful.

use std::io::Write;

use parquet::data_type::ByteArray;

use crate::columns::{ColumnsWriter, Values};

use crate::geography::Geography;
use crate::rng::{cumulative, Rng};

/// What to synthesize.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Persons in the census.
    pub persons: u64,
    /// The random generator's seed: one seed, one census.
    pub seed: u64,
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SynthSummary {
    /// Persons.
    pub persons: u64,
    /// Households.
    pub households: u64,
    /// Dwellings.
    pub dwellings: u64,
}

/// The header of the CSV `synth` writes: one row per person, with their household
/// and dwelling.
pub const CSV_HEADER: &str = "person_id,household_id,dwelling_id,county,municipality,sex,age,relationship,education,activity,birthplace,residence_1y,tenure,lat,lon";

/// Shares of the five-year age groups 0–4 … 95–99, in per cent (sum 100): 0–14 15.5,
/// 15–64 64.8, 65+ 19.7; mean age in completed years ≈ 42.4.
const AGE_GROUPS: [f64; 20] = [
    4.4, 5.2, 5.9, 5.4, 5.7, 6.0, 6.2, 6.4, 6.6, 6.8, 7.1, 7.4, 7.2, 5.6, 5.0, 4.0, 2.8, 1.5, 0.6,
    0.2,
];
/// Household sizes 1…7 in per cent: mean 3.2 persons.
const HOUSEHOLD_SIZES: [f64; 7] = [17.0, 22.0, 18.0, 22.0, 12.0, 6.0, 3.0];
const SHARED_DWELLING: f64 = 0.03;

// Codes (labels are in the schema that a later change adds).
const MALE: u8 = 1;
const FEMALE: u8 = 2;
const NOT_APPLICABLE: u8 = 9;
const REFERENCE: u8 = 1;
const SPOUSE: u8 = 2;
const CHILD: u8 = 3;
const PARENT: u8 = 4;
const OTHER: u8 = 5;

struct Person {
    age: u8,
    sex: u8,
}

/// The file format `synth` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthFormat {
    /// CSV with `CSV_HEADER`.
    Csv,
    /// zstd-compressed Parquet with the CSV's columns: ids INT64, county and
    /// municipality as strings, codes and age INT32, coordinates DOUBLE.
    Parquet,
}

/// One synthetic person with the household and dwelling they live in.
struct Row<'a> {
    person: u64,
    household: u64,
    dwelling: u64,
    county: &'a ByteArray,
    municipality: &'a ByteArray,
    /// sex, age, relationship, education, activity, birthplace, residence_1y, tenure.
    codes: [u8; 8],
    lat: f64,
    lon: f64,
}

/// Where rows go: CSV text or Parquet row groups.
enum RowSink<W: Write + Send> {
    Csv(std::io::BufWriter<W>),
    Parquet {
        writer: ColumnsWriter<W>,
        columns: Vec<Values>,
    },
}

const PARQUET_ROW_GROUP: usize = 1 << 18;

impl<W: Write + Send> RowSink<W> {
    fn new(format: SynthFormat, out: W) -> std::io::Result<Self> {
        Ok(match format {
            SynthFormat::Csv => {
                let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
                writeln!(out, "{CSV_HEADER}")?;
                RowSink::Csv(out)
            }
            SynthFormat::Parquet => {
                let columns: Vec<Values> = CSV_HEADER
                    .split(',')
                    .enumerate()
                    .map(|(i, _)| match i {
                        0..=2 => Values::I64(Vec::new()),
                        3 | 4 => Values::Text(Vec::new()),
                        13 | 14 => Values::F64(Vec::new()),
                        _ => Values::I32(Vec::new()),
                    })
                    .collect();
                let template: Vec<(&str, &Values)> = CSV_HEADER.split(',').zip(&columns).collect();
                let writer = ColumnsWriter::new(out, &template, true, true)
                    .map_err(std::io::Error::other)?;
                RowSink::Parquet { writer, columns }
            }
        })
    }

    fn push(&mut self, r: &Row) -> std::io::Result<()> {
        match self {
            RowSink::Csv(out) => {
                write!(out, "{},{},{},", r.person, r.household, r.dwelling)?;
                out.write_all(r.county.data())?;
                out.write_all(b",")?;
                out.write_all(r.municipality.data())?;
                for c in r.codes {
                    write!(out, ",{c}")?;
                }
                writeln!(out, ",{:.5},{:.5}", r.lat, r.lon)
            }
            RowSink::Parquet { writer, columns } => {
                for (i, column) in columns.iter_mut().enumerate() {
                    match (i, column) {
                        (0, Values::I64(v)) => v.push(r.person as i64),
                        (1, Values::I64(v)) => v.push(r.household as i64),
                        (2, Values::I64(v)) => v.push(r.dwelling as i64),
                        (3, Values::Text(v)) => v.push(r.county.clone()),
                        (4, Values::Text(v)) => v.push(r.municipality.clone()),
                        (13, Values::F64(v)) => v.push(round5(r.lat)),
                        (14, Values::F64(v)) => v.push(round5(r.lon)),
                        (i, Values::I32(v)) => v.push(r.codes[i - 5] as i32),
                        _ => unreachable!("columns follow CSV_HEADER"),
                    }
                }
                if columns[0].len() >= PARQUET_ROW_GROUP {
                    Self::write_group(writer, columns)?;
                }
                Ok(())
            }
        }
    }

    fn write_group(writer: &mut ColumnsWriter<W>, columns: &mut [Values]) -> std::io::Result<()> {
        if columns[0].len() > 0 {
            writer
                .write_row_group(&columns.iter().collect::<Vec<_>>())
                .map_err(std::io::Error::other)?;
            columns.iter_mut().for_each(Values::clear);
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            RowSink::Csv(mut out) => out.flush(),
            RowSink::Parquet {
                mut writer,
                mut columns,
            } => {
                Self::write_group(&mut writer, &mut columns)?;
                writer.finish().map_err(std::io::Error::other)?.flush()
            }
        }
    }
}

/// The coordinates as the CSV prints them (5 decimals, about 1 m), so that the CSV
/// and Parquet forms of one census hold the same values.
fn round5(x: f64) -> f64 {
    format!("{x:.5}").parse().expect("a formatted number")
}

/// Writes a synthetic census of `opts.persons` persons spread over `geography` as
/// its populations say, in `format`, to `out`.
pub fn synth<W: Write + Send>(
    geography: &Geography,
    opts: &SynthOptions,
    format: SynthFormat,
    out: W,
) -> std::io::Result<SynthSummary> {
    let mut rng = Rng::new(opts.seed);
    let ages = cumulative(&AGE_GROUPS);
    let sizes = cumulative(&HOUSEHOLD_SIZES);
    let mut summary = SynthSummary::default();
    let mut sink = RowSink::new(format, out)?;
    let county_codes: Vec<ByteArray> = geography
        .counties
        .iter()
        .map(|c| ByteArray::from(c.code.as_str()))
        .collect();
    for (m, persons) in geography
        .municipalities
        .iter()
        .zip(geography.persons_per_municipality(opts.persons))
    {
        let county = &county_codes[m.county];
        let municipality = ByteArray::from(m.code.as_str());
        let people: Vec<Person> = (0..persons)
            .map(|_| {
                let age = (rng.pick(&ages) * 5) as u8 + rng.below(5) as u8;
                // More women among the old, as everywhere: 50.7 % male below 65, 45 % above.
                let male = if age < 65 { 0.507 } else { 0.45 };
                Person {
                    age,
                    sex: if rng.unit() < male { MALE } else { FEMALE },
                }
            })
            .collect();
        let households = form_households(&people, &sizes, &mut rng);
        // Scatter around the seat: wider for larger municipalities (sd 0.01°–0.05°).
        let spread = 0.01 + 0.00005 * (m.population as f64).sqrt();
        let mut dwelling = (0.0, 0.0, 0u8);
        for (h, members) in households.iter().enumerate() {
            summary.households += 1;
            // A few households share the dwelling of the one before, in the same
            // municipality.
            if h == 0 || rng.unit() >= SHARED_DWELLING {
                summary.dwellings += 1;
                let tenure = match rng.unit() {
                    u if u < 0.825 => 1,
                    u if u < 0.912 => 2,
                    _ => 3,
                };
                dwelling = (
                    m.lat + spread * rng.normal(),
                    m.lon + spread * 1.3 * rng.normal(),
                    tenure,
                );
            }
            let reference_age = people[members[0]].age;
            let mut has_spouse = false;
            for (i, &p) in members.iter().enumerate() {
                let person = &people[p];
                let relationship = relationship(i, person.age, reference_age, &mut has_spouse);
                summary.persons += 1;
                sink.push(&Row {
                    person: summary.persons,
                    household: summary.households,
                    dwelling: summary.dwellings,
                    county,
                    municipality: &municipality,
                    codes: [
                        person.sex,
                        person.age,
                        relationship,
                        education(person, &mut rng),
                        activity(person, &mut rng),
                        birthplace(&mut rng),
                        residence_one_year_ago(person, &mut rng),
                        dwelling.2,
                    ],
                    lat: dwelling.0,
                    lon: dwelling.1,
                })?;
            }
        }
    }
    sink.finish()?;
    Ok(summary)
}

/// Groups the people of one municipality into households: sizes drawn from the size
/// distribution, one adult reference person each (the oldest people if adults run
/// short), children first into households whose reference person is 20–59.
fn form_households(people: &[Person], sizes: &[f64], rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut plan = Vec::new();
    let mut left = people.len();
    while left > 0 {
        let size = (rng.pick(sizes) + 1).min(left);
        plan.push(size);
        left -= size;
    }
    let mut order: Vec<usize> = (0..people.len()).collect();
    rng.shuffle(&mut order);
    // Adults first (in random order), then the rest: the first `plan.len()` lead.
    order.sort_by_key(|&p| people[p].age < 18);
    let (leads, rest) = order.split_at(plan.len());
    let mut households: Vec<Vec<usize>> = leads.iter().map(|&p| vec![p]).collect();
    let mut parenting = Vec::new();
    let mut other = Vec::new();
    for (h, &size) in plan.iter().enumerate() {
        let slots = if (20..60).contains(&people[leads[h]].age) {
            &mut parenting
        } else {
            &mut other
        };
        slots.extend(std::iter::repeat_n(h, size - 1));
    }
    rng.shuffle(&mut parenting);
    rng.shuffle(&mut other);
    let (children, adults): (Vec<usize>, Vec<usize>) =
        rest.iter().partition(|&&p| people[p].age < 18);
    for p in children {
        let h = parenting
            .pop()
            .or_else(|| other.pop())
            .expect("a slot for everyone");
        households[h].push(p);
    }
    for p in adults {
        let h = other
            .pop()
            .or_else(|| parenting.pop())
            .expect("a slot for everyone");
        households[h].push(p);
    }
    households
}

fn relationship(position: usize, age: u8, reference_age: u8, has_spouse: &mut bool) -> u8 {
    let gap = age as i16 - reference_age as i16;
    match position {
        0 => REFERENCE,
        _ if age >= 18 && gap.abs() <= 12 && !*has_spouse => {
            *has_spouse = true;
            SPOUSE
        }
        _ if gap <= -15 => CHILD,
        _ if gap >= 18 => PARENT,
        _ => OTHER,
    }
}

/// Highest level completed, for people aged 15 and over: 1 none, 2 primary, 3 lower
/// secondary, 4 upper secondary, 5 tertiary. Younger generations are more educated.
fn education(person: &Person, rng: &mut Rng) -> u8 {
    if person.age < 15 {
        return NOT_APPLICABLE;
    }
    let weights: &[f64; 5] = match person.age {
        15..=19 => &[1.0, 4.0, 55.0, 40.0, 0.0],
        20..=34 => &[1.0, 3.0, 24.0, 40.0, 32.0],
        35..=54 => &[2.0, 6.0, 36.0, 36.0, 20.0],
        55..=69 => &[4.0, 14.0, 40.0, 30.0, 12.0],
        _ => &[14.0, 34.0, 30.0, 16.0, 6.0],
    };
    rng.pick(&cumulative(weights)) as u8 + 1
}

/// Activity status for people aged 15 and over: 1 employed, 2 unemployed, 3 student,
/// 4 retired, 5 other inactive.
fn activity(person: &Person, rng: &mut Rng) -> u8 {
    if person.age < 15 {
        return NOT_APPLICABLE;
    }
    let weights: &[f64; 5] = match (person.age, person.sex) {
        (15..=19, _) => &[10.0, 4.0, 80.0, 0.0, 6.0],
        (20..=24, _) => &[42.0, 12.0, 38.0, 0.0, 8.0],
        (25..=64, MALE) => &[74.0, 10.0, 1.0, 3.0, 12.0],
        (25..=64, _) => &[58.0, 9.0, 1.0, 4.0, 28.0],
        _ => &[6.0, 0.0, 0.0, 90.0, 4.0],
    };
    rng.pick(&cumulative(weights)) as u8 + 1
}

/// 1 Albania, 2 another EU country, 3 elsewhere.
fn birthplace(rng: &mut Rng) -> u8 {
    match rng.unit() {
        u if u < 0.960 => 1,
        u if u < 0.985 => 2,
        _ => 3,
    }
}

/// One year before the census: 1 same dwelling, 2 elsewhere in Albania, 3 abroad;
/// not applicable to babies born since.
fn residence_one_year_ago(person: &Person, rng: &mut Rng) -> u8 {
    if person.age == 0 {
        return NOT_APPLICABLE;
    }
    match rng.unit() {
        u if u < 0.930 => 1,
        u if u < 0.985 => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(persons: u64, seed: u64) -> (Vec<u8>, SynthSummary) {
        let mut csv = Vec::new();
        let summary = synth(
            &Geography::albania(),
            &SynthOptions { persons, seed },
            SynthFormat::Csv,
            &mut csv,
        )
        .unwrap();
        (csv, summary)
    }

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(generate(5_000, 1), generate(5_000, 1));
        assert_ne!(generate(5_000, 1).0, generate(5_000, 2).0);
    }

    #[test]
    fn marginals_match_the_2023_census() {
        let (csv, summary) = generate(300_000, 2023);
        let text = String::from_utf8(csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len() as u64, summary.persons);
        assert_eq!(summary.persons, 300_000);
        let n = rows.len() as f64;
        let share =
            |f: &dyn Fn(&Vec<&str>) -> bool| rows.iter().filter(|r| f(r)).count() as f64 / n;
        let age = |r: &Vec<&str>| r[6].parse::<u32>().unwrap();
        let male = share(&|r| r[5] == "1");
        let old = share(&|r| age(r) >= 65);
        let young = share(&|r| age(r) < 15);
        let mean_age = rows.iter().map(|r| age(r) as f64).sum::<f64>() / n;
        let household_size = n / summary.households as f64;
        assert!((male - 0.496).abs() < 0.005, "male share {male}");
        assert!((old - 0.197).abs() < 0.005, "65+ share {old}");
        assert!((young - 0.155).abs() < 0.005, "0-14 share {young}");
        assert!((mean_age - 42.5).abs() < 0.6, "mean age {mean_age}");
        assert!(
            (household_size - 3.2).abs() < 0.1,
            "household size {household_size}"
        );
        // Every household has exactly one reference person, an adult, listed first.
        let mut last_household = "";
        for r in &rows {
            if r[1] != last_household {
                assert_eq!(
                    r[7], "1",
                    "first member of household {} is its reference person",
                    r[1]
                );
                last_household = r[1];
            } else {
                assert_ne!(r[7], "1");
            }
        }
        assert!(rows.iter().filter(|r| r[7] == "1").all(|r| age(r) >= 18));
    }

    #[test]
    fn county_totals_are_exact_at_full_scale_shares() {
        // At any size, municipalities get their share of the 2023 figures; counties
        // add up from them (exactly the 2023 totals at the full 2,402,113).
        let g = Geography::albania();
        let (csv, _) = generate(24_021, 5);
        let text = String::from_utf8(csv).unwrap();
        let per_municipality = g.persons_per_municipality(24_021);
        for (m, expected) in g.municipalities.iter().zip(per_municipality) {
            let found = text
                .lines()
                .skip(1)
                .filter(|l| l.split(',').nth(4) == Some(m.code.as_str()))
                .count() as u64;
            assert_eq!(found, expected, "{}", m.name);
        }
    }
}
