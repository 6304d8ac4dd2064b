//! Timestamps: parsing the spellings logs and traces use, and formatting UTC.
//!
//! Every instant is an `i64` of microseconds since 1970-01-01T00:00:00Z. Accepted:
//! `YYYY-MM-DD[T ]HH:MM[:SS[.f{1,9}]]` with `Z`, `±HH:MM`, `±HHMM` or no zone (taken as UTC;
//! Azure's 2023 trace has 7 fractional digits and no zone, its 2024 trace 0, 6 or 7 digits and
//! `+00:00`), and numbers: unix seconds, or milliseconds / microseconds when the magnitude
//! says so (see [`from_unix_number`]). Fractions beyond microseconds are truncated.

/// Days from 1970-01-01 to the civil date (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const US_PER_S: i64 = 1_000_000;

#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses a date-time string; `None` when it is not one of the accepted spellings.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let year = digits(b, 0, 4)? as i64;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = 0i64;
    let mut frac_us = 0i64;
    let mut i = 10;
    if i < b.len() {
        if b[i] != b'T' && b[i] != b't' && b[i] != b' ' {
            return None;
        }
        let hour = digits(b, 11, 2)?;
        if b.get(13) != Some(&b':') {
            return None;
        }
        let minute = digits(b, 14, 2)?;
        i = 16;
        let mut second = 0;
        if b.get(16) == Some(&b':') {
            second = digits(b, 17, 2)?;
            i = 19;
            if matches!(b.get(19), Some(b'.') | Some(b',')) {
                i = 20;
                let start = i;
                let mut scale = 100_000i64;
                while i < b.len() && b[i].is_ascii_digit() {
                    if scale > 0 {
                        frac_us += (b[i] - b'0') as i64 * scale;
                        scale /= 10;
                    }
                    i += 1;
                }
                if i == start || i - start > 9 {
                    return None;
                }
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs = hour as i64 * 3600 + minute as i64 * 60 + second as i64;
        // Zone.
        match b.get(i) {
            None => {}
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, i + 1, 2)? as i64;
                let om = if b.get(i + 3) == Some(&b':') {
                    if i + 6 != b.len() {
                        return None;
                    }
                    digits(b, i + 4, 2)?
                } else {
                    if i + 5 != b.len() {
                        return None;
                    }
                    digits(b, i + 3, 2)?
                } as i64;
                let off = oh * 3600 + om * 60;
                secs -= if sign == b'+' { off } else { -off };
            }
            _ => return None,
        }
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + secs) * US_PER_S + frac_us)
}

pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Interprets a unix time number: seconds below 1e11 (year 5138), milliseconds below 1e14,
/// microseconds above. `None` for negative, NaN or infinite values.
pub fn from_unix_number(x: f64) -> Option<i64> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let us = if x < 1e11 {
        x * 1e6
    } else if x < 1e14 {
        x * 1e3
    } else {
        x
    };
    if us > i64::MAX as f64 / 2.0 {
        return None;
    }
    Some(us.round() as i64)
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (`.ffffff` when not whole
/// seconds).
pub fn format_utc(us: i64) -> String {
    let secs = us.div_euclid(US_PER_S);
    let frac = us.rem_euclid(US_PER_S);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:06}Z")
    }
}

/// Formats an offset from the start of a relative trace as `+[Nd ]HH:MM:SS`.
pub fn format_relative(us: i64) -> String {
    let secs = us.div_euclid(US_PER_S);
    let (d, rem) = (secs / 86_400, secs % 86_400);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if d > 0 {
        format!("+{d}d {hh:02}:{mm:02}:{ss:02}")
    } else {
        format!("+{hh:02}:{mm:02}:{ss:02}")
    }
}

/// A time as [`format_utc`], or as [`format_relative`] for traces of relative times.
pub fn format_time(us: i64, relative: bool) -> String {
    if relative {
        format_relative(us)
    } else {
        format_utc(us)
    }
}

/// Parses a duration such as `1s`, `10s`, `1m`, `5m`, `1h`, `250ms` into microseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" | "sec" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        "d" => 86_400e6,
        _ => return None,
    };
    let us = v * mult;
    (1.0..1e17).contains(&us).then(|| us.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_2023_and_2024_spellings_parse() {
        let a = parse_datetime("2023-11-16 18:17:03.9799600").unwrap();
        assert_eq!(format_utc(a), "2023-11-16T18:17:03.979960Z");
        let b = parse_datetime("2024-05-12 00:00:00.001163+00:00").unwrap();
        assert_eq!(format_utc(b), "2024-05-12T00:00:00.001163Z");
        let c = parse_datetime("2024-05-12 00:00:00+00:00").unwrap();
        assert_eq!(format_utc(c), "2024-05-12T00:00:00Z");
    }

    #[test]
    fn rfc3339_offsets_convert_to_utc() {
        let a = parse_datetime("2026-11-22T10:00:00+02:00").unwrap();
        assert_eq!(format_utc(a), "2026-11-22T08:00:00Z");
        let b = parse_datetime("2026-11-22T10:00:00.5-0130").unwrap();
        assert_eq!(format_utc(b), "2026-11-22T11:30:00.500000Z");
        assert_eq!(
            parse_datetime("2026-11-22"),
            Some(days_from_civil(2026, 11, 22) * 86_400 * US_PER_S)
        );
    }

    #[test]
    fn bad_dates_are_rejected() {
        for s in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30T00:00:00Z",
            "2026-01-01T25:00:00Z",
            "2026-01-01T00:00:00+2",
            "2026-01-01T00:00:00.Z",
            "2026-01-01X00:00",
        ] {
            assert_eq!(parse_datetime(s), None, "{s}");
        }
    }

    #[test]
    fn unix_numbers_pick_their_unit_by_magnitude() {
        assert_eq!(
            from_unix_number(1_731_780_000.0),
            Some(1_731_780_000_000_000)
        );
        assert_eq!(
            from_unix_number(1_731_780_000_123.0),
            Some(1_731_780_000_123_000)
        );
        assert_eq!(from_unix_number(-1.0), None);
        assert_eq!(from_unix_number(f64::NAN), None);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_468, -1, 0, 1, 19_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1s"), Some(1_000_000));
        assert_eq!(parse_duration("10s"), Some(10_000_000));
        assert_eq!(parse_duration("1m"), Some(60_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("fast"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(format_relative(3_723_000_000), "+01:02:03");
    }
}
