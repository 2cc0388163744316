//! Census microdata for statvault. So far: Albania's administrative geography with its
//! 2023 census totals, and a deterministic synthetic census generator whose published
//! marginals (sex, broad age groups, mean age, household size) match the 2023 census.
//!
//! ```
//! use statvault_census::{synth_csv, Geography, SynthOptions};
//!
//! let geography = Geography::albania();
//! assert_eq!(geography.counties.iter().map(|c| c.population).sum::<u64>(), 2_402_113);
//! let mut csv = Vec::new();
//! let summary = synth_csv(&geography, &SynthOptions { persons: 1_000, seed: 7 }, &mut csv).unwrap();
//! assert_eq!(summary.persons, 1_000);
//! ```

mod geography;
mod rng;
mod synth;

pub use geography::{County, Geography, Municipality};
pub use synth::{synth_csv, SynthOptions, SynthSummary, CSV_HEADER};
