//! Numbers and times as readers of each language write them: thousands grouped
//! (`2 402 113` in Albanian, `2,402,113` in English) and times in Tirana's clock
//! (Central European Time, summer time from the last Sunday of March to the last
//! Sunday of October, as the EU sets it), with the month's name.

use statvault_release::meta::{parse_utc, utc_time};

const MONTHS_SQ: [&str; 12] = [
    "janar", "shkurt", "mars", "prill", "maj", "qershor", "korrik", "gusht", "shtator", "tetor",
    "nëntor", "dhjetor",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `value` with its thousands grouped: a no-break space in Albanian, a comma in English.
pub fn number(lang: &str, value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let separator = if lang == "sq" { "\u{a0}" } else { "," };
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(d);
    }
    if value < 0 {
        out.insert(0, '-');
    }
    out
}

/// The Unix time of the last Sunday of `month` (3 or 10) of `year`, 01:00 UTC: when
/// EU summer time starts or ends.
fn last_sunday_0100(year: &str, month: &str) -> Option<u64> {
    let last_day = parse_utc(&format!("{year}-{month}-31T01:00:00Z"))?;
    // 1970-01-01 was a Thursday: days since then plus 4, mod 7, is 0 on Sundays.
    let weekday = (last_day / 86_400 + 4) % 7;
    Some(last_day - weekday * 86_400)
}

/// Tirana's offset from UTC at `secs`, in hours.
fn tirane_offset(secs: u64) -> u64 {
    let year = &utc_time(secs)[..4];
    match (last_sunday_0100(year, "03"), last_sunday_0100(year, "10")) {
        (Some(start), Some(end)) if (start..end).contains(&secs) => 2,
        _ => 1,
    }
}

/// A `YYYY-MM-DDTHH:MM:SSZ` time as a reader in Tirana says it: "1 dhjetor 2026,
/// 11:00" or "1 December 2026, 11:00"; anything else as it is.
pub fn date_time(lang: &str, utc: &str) -> String {
    let Some(secs) = parse_utc(utc) else {
        return utc.to_string();
    };
    let local = utc_time(secs + tirane_offset(secs) * 3600);
    let month: usize = local[5..7].parse().unwrap_or(1);
    let names = if lang == "sq" { MONTHS_SQ } else { MONTHS_EN };
    format!(
        "{} {} {}, {}",
        local[8..10].trim_start_matches('0'),
        names[month - 1],
        &local[..4],
        &local[11..16]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_as_each_language_writes_them() {
        assert_eq!(number("en", 2_402_113), "2,402,113");
        assert_eq!(number("sq", 2_402_113), "2\u{a0}402\u{a0}113");
        assert_eq!(number("en", -1000), "-1,000");
        assert_eq!(number("en", 999), "999");
    }

    #[test]
    fn times_are_tiranas_with_summer_time() {
        assert_eq!(
            date_time("en", "2026-12-01T10:00:00Z"),
            "1 December 2026, 11:00"
        );
        assert_eq!(
            date_time("sq", "2026-07-01T10:00:00Z"),
            "1 korrik 2026, 12:00"
        );
        // Summer time starts on 29 March 2026 at 01:00 UTC, ends on 25 October.
        assert_eq!(
            date_time("en", "2026-03-29T00:59:00Z"),
            "29 March 2026, 01:59"
        );
        assert_eq!(
            date_time("en", "2026-03-29T01:00:00Z"),
            "29 March 2026, 03:00"
        );
        assert_eq!(
            date_time("en", "2026-10-25T00:59:00Z"),
            "25 October 2026, 02:59"
        );
        assert_eq!(
            date_time("en", "2026-10-25T01:00:00Z"),
            "25 October 2026, 02:00"
        );
        assert_eq!(date_time("en", "soon"), "soon");
    }
}
