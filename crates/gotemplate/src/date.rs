//! Dates for Sprig's `date`, `dateInZone`, `unixEpoch`, `duration`, `ago`: times are Unix
//! seconds here (`now` gives them), formatted with Go's reference layout.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::value::{Res, Value, fault};

/// A time argument in seconds: numbers as Unix seconds, RFC 3339 strings parsed; anything
/// else is now, as Sprig's date does.
pub(crate) fn seconds(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.is_finite() => *f as i64,
        Value::Str(s) => s.parse::<Timestamp>().map_or_else(|_| Timestamp::now().as_second(), |t| t.as_second()),
        _ => Timestamp::now().as_second(),
    }
}

pub(crate) fn format(layout: &str, when: &Value, zone: &str) -> Res<String> {
    let ts = Timestamp::from_second(seconds(when)).or_else(|e| fault(e.to_string()))?;
    let tz = match zone {
        "Local" | "" => TimeZone::system(),
        "UTC" => TimeZone::UTC,
        name => TimeZone::get(name).unwrap_or(TimeZone::UTC),
    };
    let z = ts.to_zoned(tz);
    let offset = z.offset().seconds();
    let (sign, off) = if offset < 0 { ('-', -offset) } else { ('+', offset) };
    let (oh, om) = (off / 3600, off / 60 % 60);
    let abbrev = z.time_zone().to_offset_info(ts).abbreviation().to_string();
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    let month = MONTHS[(z.month() - 1) as usize];
    let day = DAYS[z.weekday().to_monday_zero_offset() as usize];
    let hour12 = match z.hour() % 12 {
        0 => 12,
        h => h,
    };
    // Longest tokens first, as Go's layout parser matches them.
    let tokens: [(&str, String); 27] = [
        ("January", month.to_string()),
        ("Monday", day.to_string()),
        ("2006", format!("{:04}", z.year())),
        ("-07:00", format!("{sign}{oh:02}:{om:02}")),
        ("-0700", format!("{sign}{oh:02}{om:02}")),
        ("Z07:00", if offset == 0 { "Z".into() } else { format!("{sign}{oh:02}:{om:02}") }),
        ("Z0700", if offset == 0 { "Z".into() } else { format!("{sign}{oh:02}{om:02}") }),
        ("-07", format!("{sign}{oh:02}")),
        ("Jan", month[..3].to_string()),
        ("Mon", day[..3].to_string()),
        ("MST", abbrev),
        ("002", format!("{:03}", z.day_of_year())),
        (".000", ".000".into()),
        (".999", String::new()),
        ("_2", format!("{:>2}", z.day())),
        ("01", format!("{:02}", z.month())),
        ("02", format!("{:02}", z.day())),
        ("03", format!("{hour12:02}")),
        ("04", format!("{:02}", z.minute())),
        ("05", format!("{:02}", z.second())),
        ("06", format!("{:02}", z.year() % 100)),
        ("15", format!("{:02}", z.hour())),
        ("PM", if z.hour() >= 12 { "PM".into() } else { "AM".into() }),
        ("pm", if z.hour() >= 12 { "pm".into() } else { "am".into() }),
        ("1", z.month().to_string()),
        ("2", z.day().to_string()),
        ("3", hour12.to_string()),
    ];
    let extra: [(&str, String); 2] = [("4", z.minute().to_string()), ("5", z.second().to_string())];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in tokens.iter().chain(extra.iter()) {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Go's time.Duration.String for nanoseconds.
pub(crate) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let n = nanos.unsigned_abs();
    let mut s = String::new();
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        s.push_str(&trim_frac(n, div));
        s.push_str(unit);
    } else {
        let secs = n / 1_000_000_000;
        let (h, m) = (secs / 3600, secs / 60 % 60);
        if h > 0 {
            s.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            s.push_str(&format!("{m}m"));
        }
        s.push_str(&trim_frac(n % 60_000_000_000, 1_000_000_000));
        s.push('s');
    }
    if neg { format!("-{s}") } else { s }
}

fn trim_frac(n: u64, div: u64) -> String {
    let whole = n / div;
    let frac = n % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}
