//! UTC times as `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, proleptic Gregorian), as releases,
//! calendars and Object Lock dates write them.

/// `YYYY-MM-DDTHH:MM:SSZ` with plausible fields.
pub fn is_utc_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    b.len() == 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z'
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (civil-from-days, proleptic Gregorian).
pub fn utc_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The Unix time of a `YYYY-MM-DDTHH:MM:SSZ` time (days-from-civil), or `None`.
pub fn parse_utc(s: &str) -> Option<u64> {
    if !is_utc_time(s) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("checked digits");
    let (mut y, m, d) = (num(0..4), num(5..7), num(8..10));
    if m <= 2 {
        y -= 1;
    }
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    u64::try_from(secs).ok()
}

/// The system clock as nanoseconds since the Unix epoch (0 before it): the one clock
/// every part of statvault reads.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The system clock in whole seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    u64::try_from(now_nanos() / 1_000_000_000).unwrap_or(0)
}

/// The current time, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    utc_time(now_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_round_trip() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(1_706_659_200), "2024-01-31T00:00:00Z");
        assert_eq!(parse_utc("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        for secs in (0..4_000_000_000u64).step_by(86_399 * 37) {
            assert_eq!(parse_utc(&utc_time(secs)), Some(secs));
        }
        assert_eq!(parse_utc("2024-02-29 23:59:59"), None);
    }
}
