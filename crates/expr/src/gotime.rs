//! Go's `time` as Argo CD's expressions see it: RFC 3339 parsing as
//! `time.Parse(time.RFC3339, s)`, `Time.Format` with Go's reference-date
//! layouts, `Time.String` and `Duration.String`. Times are kept as instants
//! and shown in UTC (an offset a timestamp was written with is not kept).

use jiff::civil::DateTime;
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};

/// Nanoseconds in a second, as Go's `time.Second`.
pub(crate) const SECOND: i64 = 1_000_000_000;

/// Go's zero `time.Time`: January 1, year 1, 00:00:00 UTC.
pub(crate) fn zero_time() -> Timestamp {
    Timestamp::from_second(-62_135_596_800).unwrap_or(Timestamp::MIN)
}

/// `time.Parse(time.RFC3339, s)`: `2006-01-02T15:04:05Z`, an optional
/// fraction of a second (`.5`, `,123456789`), `Z` or an offset `+02:00`.
pub(crate) fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    let bad = |why: &str| format!("cannot parse {s:?} as an RFC 3339 time such as 2006-01-02T15:04:05Z: {why}");
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, want: u8| b.get(at) == Some(&want);
    let fields = (|| {
        let ok = sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':');
        ok.then_some(())?;
        Some((num(0, 4)?, num(5, 2)?, num(8, 2)?, num(11, 2)?, num(14, 2)?, num(17, 2)?))
    })();
    let Some((year, month, day, hour, minute, second)) = fields else {
        return Err(bad("expected the form 2006-01-02T15:04:05"));
    };
    let mut pos = 19;
    let mut nanos = 0i64;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        let digits = b[pos + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad("a fraction of a second needs digits"));
        }
        // Go keeps nine digits and ignores the rest.
        for (i, d) in b[pos + 1..pos + 1 + digits].iter().take(9).enumerate() {
            nanos += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
        }
        pos += 1 + digits;
    }
    let offset_seconds = match b.get(pos) {
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if pos + 6 == b.len() && sep(pos + 3, b':') => {
            let (Some(h), Some(m)) = (num(pos + 1, 2), num(pos + 4, 2)) else {
                return Err(bad("bad time zone offset"));
            };
            if h >= 24 || m >= 60 {
                return Err(bad("time zone offset out of range"));
            }
            let total = (h * 3600 + m * 60) as i32;
            if *sign == b'-' { -total } else { total }
        }
        _ => return Err(bad("expected Z or an offset such as +02:00 at the end")),
    };
    let civil = DateTime::new(year as i16, month as i8, day as i8, hour as i8, minute as i8, second as i8, nanos as i32)
        .map_err(|e| bad(&e.to_string()))?;
    let offset = Offset::from_seconds(offset_seconds).map_err(|e| bad(&e.to_string()))?;
    offset.to_timestamp(civil).map_err(|e| bad(&e.to_string()))
}

/// Go's `Time.String()` of a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn time_string(t: Timestamp) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// `Time.Format(layout)` in UTC with Go's reference date
/// `Mon Jan 2 15:04:05 MST 2006`: years, months, days, weekdays, hours
/// (24 and 12), minutes, seconds, fractions (`.000`, `.999`), AM/PM,
/// offsets and zone names; anything else is copied.
pub(crate) fn format(t: Timestamp, layout: &str) -> String {
    let dt = Offset::UTC.to_datetime(t);
    let month = MONTHS[(dt.month() - 1) as usize];
    let weekday = WEEKDAYS[dt.weekday().to_monday_zero_offset() as usize];
    let hour12 = match dt.hour() % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::new();
    let mut rest = layout;
    while let Some(c) = rest.chars().next() {
        let (text, used) = chunk(rest, &dt, month, weekday, hour12).unwrap_or_else(|| (c.to_string(), c.len_utf8()));
        out.push_str(&text);
        rest = &rest[used..];
    }
    out
}

/// The layout element `rest` starts with, formatted, and its length.
fn chunk(rest: &str, dt: &DateTime, month: &str, weekday: &str, hour12: i8) -> Option<(String, usize)> {
    let starts = |p: &str| rest.starts_with(p);
    // Go takes `Jan`/`Mon` only when no lower-case letter follows (`Janet`).
    let word_end = |n: usize| !rest[n..].starts_with(|c: char| c.is_ascii_lowercase());
    let two = |n: i8| format!("{n:02}");
    Some(match rest.as_bytes()[0] {
        b'J' if starts("January") => (month.to_string(), 7),
        b'J' if starts("Jan") && word_end(3) => (month[..3].to_string(), 3),
        b'M' if starts("Monday") => (weekday.to_string(), 6),
        b'M' if starts("Mon") && word_end(3) => (weekday[..3].to_string(), 3),
        b'M' if starts("MST") => ("UTC".into(), 3),
        b'0' if starts("002") => (format!("{:03}", dt.day_of_year()), 3),
        b'0' => {
            let text = match rest.as_bytes().get(1)? {
                b'1' => two(dt.month()),
                b'2' => two(dt.day()),
                b'3' => two(hour12),
                b'4' => two(dt.minute()),
                b'5' => two(dt.second()),
                b'6' => format!("{:02}", dt.year().rem_euclid(100)),
                _ => return None,
            };
            (text, 2)
        }
        b'1' if starts("15") => (two(dt.hour()), 2),
        b'1' => (dt.month().to_string(), 1),
        b'2' if starts("2006") => (format!("{:04}", dt.year()), 4),
        b'2' => (dt.day().to_string(), 1),
        b'_' if starts("__2") => (format!("{:>3}", dt.day_of_year()), 3),
        b'_' if starts("_2") && !starts("_2006") => (format!("{:>2}", dt.day()), 2),
        b'3' => (hour12.to_string(), 1),
        b'4' => (dt.minute().to_string(), 1),
        b'5' => (dt.second().to_string(), 1),
        b'P' if starts("PM") => ((if dt.hour() >= 12 { "PM" } else { "AM" }).into(), 2),
        b'p' if starts("pm") => ((if dt.hour() >= 12 { "pm" } else { "am" }).into(), 2),
        b'-' | b'Z' => zone(rest)?,
        b'.' | b',' => fraction(rest, dt.subsec_nanosecond())?,
        _ => return None,
    })
}

/// Offsets of a UTC time: `-0700` is `+0000`, `Z07:00` is `Z`.
fn zone(rest: &str) -> Option<(String, usize)> {
    const FORMS: [(&str, &str); 10] = [
        ("-07:00:00", "+00:00:00"),
        ("-070000", "+000000"),
        ("-07:00", "+00:00"),
        ("-0700", "+0000"),
        ("-07", "+00"),
        ("Z07:00:00", "Z"),
        ("Z070000", "Z"),
        ("Z07:00", "Z"),
        ("Z0700", "Z"),
        ("Z07", "Z"),
    ];
    FORMS.iter().find(|(form, _)| rest.starts_with(form)).map(|(form, text)| (text.to_string(), form.len()))
}

/// `.000` (fixed digits) or `.999` (trailing zeros dropped, and the point
/// with them), when no digit follows the run.
fn fraction(rest: &str, nanos: i32) -> Option<(String, usize)> {
    let b = rest.as_bytes();
    let digit = *b.get(1).filter(|d| **d == b'0' || **d == b'9')?;
    let run = b[1..].iter().take_while(|c| **c == digit).count();
    if b.get(1 + run).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let all = format!("{nanos:09}");
    let kept = &all[..run.min(9)];
    let text = if digit == b'0' {
        format!("{}{kept}", b[0] as char)
    } else {
        let trimmed = kept.trim_end_matches('0');
        if trimmed.is_empty() { String::new() } else { format!("{}{trimmed}", b[0] as char) }
    };
    Some((text, 1 + run))
}

/// Go's `Duration.String()`: `1h2m3.5s`, `1m0s`, `2ms`, `1.5µs`, `0s`.
pub(crate) fn duration_string(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let with_fraction = |whole: u64, part: u64, digits: usize| {
        let frac = format!("{part:0digits$}");
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() { whole.to_string() } else { format!("{whole}.{frac}") }
    };
    const SEC: u64 = SECOND as u64;
    let body = if n < 1_000 {
        format!("{n}ns")
    } else if n < 1_000_000 {
        format!("{}µs", with_fraction(n / 1_000, n % 1_000, 3))
    } else if n < SEC {
        format!("{}ms", with_fraction(n / 1_000_000, n % 1_000_000, 6))
    } else {
        let secs = n / SEC;
        let (hours, minutes) = (secs / 3600, secs / 60 % 60);
        let seconds = with_fraction(secs % 60, n % SEC, 9);
        match (hours, minutes) {
            (0, 0) => format!("{seconds}s"),
            (0, m) => format!("{m}m{seconds}s"),
            (h, m) => format!("{h}h{m}m{seconds}s"),
        }
    };
    format!("{sign}{body}")
}

/// A duration in Go's nanoseconds; beyond `Duration`'s range it
/// saturates, as Go's `Time.Sub` does.
pub(crate) fn saturating_nanos(d: SignedDuration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(if d.is_negative() { i64::MIN } else { i64::MAX })
}

/// `Duration.Hours()`, `Minutes()`, `Seconds()`: whole units plus the
/// remainder's fraction, as Go computes them (exact for whole units).
pub(crate) fn duration_in(nanos: i64, unit: i64) -> f64 {
    (nanos / unit) as f64 + (nanos % unit) as f64 / unit as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn parses_rfc3339_as_go() {
        assert_eq!(ts("2024-03-01T10:00:00Z").as_second(), 1_709_287_200);
        assert_eq!(ts("2024-03-01T12:00:00+02:00"), ts("2024-03-01T10:00:00Z"));
        assert_eq!(ts("2024-03-01T10:00:00.5Z").subsec_nanosecond(), 500_000_000);
        assert_eq!(ts("2024-03-01T10:00:00,1234567891Z").subsec_nanosecond(), 123_456_789);
        for bad in [
            "",
            "2024-03-01",
            "2024-03-01 10:00:00Z",
            "2024-03-01t10:00:00Z",
            "2024-03-01T10:00:00z",
            "2024-02-30T10:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T10:00:60Z",
            "2024-03-01T10:00:00+25:00",
            "2024-03-01T10:00:00.Z",
            "2024-03-01T10:00:00",
            "2024-03-01T10:00:00Zjunk",
            "２024-03-01T10:00:00Z",
        ] {
            let err = parse_rfc3339(bad).unwrap_err();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_with_go_layouts() {
        let t = ts("2006-01-02T15:04:05.120Z");
        assert_eq!(format(t, "2006-01-02T15:04:05Z07:00"), "2006-01-02T15:04:05Z");
        assert_eq!(format(t, "Mon Jan _2 15:04:05 MST 2006"), "Mon Jan  2 15:04:05 UTC 2006");
        assert_eq!(format(t, "Monday, January 2 3:4:5 PM -0700 (002)"), "Monday, January 2 3:4:5 PM +0000 (002)");
        assert_eq!(format(t, "06/1/02 03pm .000 .999 .9 ,00"), "06/1/02 03pm .120 .12 .1 ,12");
        assert_eq!(format(t, "Janet é 2006-01-02"), "Janet é 2006-01-02");
        assert_eq!(time_string(t), "2006-01-02 15:04:05.12 +0000 UTC");
        assert_eq!(time_string(zero_time()), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn durations_print_as_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (2_000_000, "2ms"),
            (SECOND, "1s"),
            (SECOND * 61, "1m1s"),
            (SECOND * 3600, "1h0m0s"),
            (SECOND * 3723 + 500_000_000, "1h2m3.5s"),
            (-SECOND * 90, "-1m30s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(duration_string(nanos), want);
        }
        assert_eq!(duration_in(SECOND * 90, SECOND * 60), 1.5);
    }
}
