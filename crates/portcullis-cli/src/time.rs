//! Times in human terms: RFC 3339 parsing and formatting, durations, "in 5 min" / "2 h ago".
//!
//! Civil dates are converted with the days-from-civil arithmetic of the proleptic Gregorian
//! calendar (eras of 400 years, years starting in March), so no date library is needed.

/// Parses `--at`: a Unix time in seconds (`1700000000`) or an RFC 3339 date-time
/// (`2023-11-14T22:13:20Z`, `2023-11-14T23:13:20+01:00`, fractions of a second dropped).
///
/// # Errors
/// A message naming both accepted forms.
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("`{text}` is too large for a Unix time"));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "`{text}` is neither a Unix time in seconds (1700000000) nor an RFC 3339 date-time \
             (2023-11-14T22:13:20Z)"
        )
    })
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = bytes.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |at: usize, allowed: &[u8]| bytes.get(at).is_some_and(|b| allowed.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = bytes.get(19..)?;
    if let Some((b'.', after)) = rest.split_first() {
        let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = after.get(digits..)?;
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
            let (hours, minutes) = (h1 * 10 + h2, m1 * 10 + m2);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count years from March, so that the leap day ends the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2023-11-14T22:13:20Z`; the plain number for a time outside the years 0 to 9999.
pub(crate) fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return unix.to_string();
    }
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A claim's numeric time as whole seconds: `None` for a value that is not a finite number
/// within a million years of 1970.
pub(crate) fn whole_seconds(value: f64) -> Option<i64> {
    if !value.is_finite() || value.abs() > 3.2e13 {
        return None;
    }
    // In range: |value| <= 3.2e13 is far inside i64, and the floor is an integer.
    #[allow(clippy::cast_possible_truncation)]
    Some(value.floor() as i64)
}

/// `45 s`, `4 min 30 s`, `2 h 5 min`, `3 d 4 h`: two units at most, the larger first.
pub(crate) fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let pair = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    if d > 0 {
        pair(d, "d", h, "h")
    } else if h > 0 {
        pair(h, "h", m, "min")
    } else if m > 0 {
        pair(m, "min", s, "s")
    } else {
        format!("{s} s")
    }
}

/// `in 4 min 30 s`, `2 h ago`, `now`: `when` seen from `now`.
pub(crate) fn relative(when: i64, now: i64) -> String {
    match when.cmp(&now) {
        std::cmp::Ordering::Equal => "now".to_owned(),
        std::cmp::Ordering::Greater => format!("in {}", human_duration(when.abs_diff(now))),
        std::cmp::Ordering::Less => format!("{} ago", human_duration(when.abs_diff(now))),
    }
}

/// `2023-11-14T22:13:20Z (in 5 min)`.
pub(crate) fn describe(when: i64, now: i64) -> String {
    format!("{} ({})", format_rfc3339(when), relative(when, now))
}

/// The system clock, in whole seconds.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_unix_times_parse_to_the_same_instant() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14t22:13:20.999z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T23:43:20+01:30"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T20:13:20-02:00"), Ok(1_700_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Ok(951_782_400));
        // RFC 7519's own example `exp`.
        assert_eq!(parse_time("2011-03-22T18:43:00Z"), Ok(1_300_819_380));
    }

    #[test]
    fn malformed_times_are_refused_with_both_forms_named() {
        for bad in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20.Z",
            "-5",
            "99999999999999999999",
        ] {
            let err = parse_time(bad).unwrap_err();
            assert!(err.contains('`'), "{bad}: {err}");
        }
    }

    #[test]
    fn formatting_round_trips_over_four_centuries() {
        let mut t = -62_135_596_800; // 0001-01-01
        while t < 253_402_300_799 {
            assert_eq!(parse_time(&format_rfc3339(t)), Ok(t), "{t}");
            t += 86_400 * 97 + 3_607;
        }
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(i64::MAX / 2), (i64::MAX / 2).to_string());
    }

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(human_duration(0), "0 s");
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(270), "4 min 30 s");
        assert_eq!(human_duration(300), "5 min");
        assert_eq!(human_duration(7_500), "2 h 5 min");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
        assert_eq!(relative(1_000, 1_000), "now");
        assert_eq!(relative(1_300, 1_000), "in 5 min");
        assert_eq!(relative(1_000, 8_200), "2 h ago");
        assert_eq!(whole_seconds(1.9), Some(1));
        assert_eq!(whole_seconds(f64::NAN), None);
        assert_eq!(whole_seconds(1e300), None);
    }
}
