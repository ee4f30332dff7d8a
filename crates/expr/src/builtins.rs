//! Functions (expr's builtins, Argo CD's `time.*` and `strings.*`) and
//! the methods of `time.Time` and `time.Duration`, over evaluated
//! arguments. The parser has checked argument counts. Errors are messages;
//! the evaluator adds where.

use std::rc::Rc;

use jiff::{SignedDuration, Timestamp};

use crate::ast::Func;
use crate::eval::element;
use crate::gotime::{SECOND, duration_in, duration_string, format, parse_rfc3339, saturating_nanos, time_string, zero_time};
use crate::ops::{MAX_STRING, capped, compare, shift, too_long};
use crate::value::V;

fn string_arg<'a>(name: &str, v: &'a V) -> Result<&'a str, String> {
    match v {
        V::Str(s) => Ok(s),
        other => Err(format!("{name} expects a string, got {}", other.type_name())),
    }
}

fn list_of_strings(v: impl IntoIterator<Item = String>) -> V {
    V::List(Rc::new(v.into_iter().map(|s| V::Str(Rc::from(s))).collect()))
}

/// Calls `func` on `args`; `now` answers `now()` and `time.Now()`.
pub(crate) fn call(func: Func, args: &[V], now: Timestamp) -> Result<V, String> {
    let name = func_name(func);
    let text = |i: usize| string_arg(name, &args[i]);
    Ok(match func {
        Func::Len => V::Int(match &args[0] {
            // Go's len of a string counts bytes.
            V::Str(s) => s.len(),
            V::List(l) => l.len(),
            V::Map(m) => m.len(),
            other => return Err(format!("invalid argument for len (type {})", other.type_name())),
        } as i64),
        Func::Lower => capped(text(0)?.to_lowercase())?,
        Func::Upper => capped(text(0)?.to_uppercase())?,
        Func::Trim => match args.get(1) {
            None => V::str(text(0)?.trim()),
            Some(cutset) => {
                let cutset = string_arg(name, cutset)?;
                V::str(text(0)?.trim_matches(|c| cutset.contains(c)))
            }
        },
        Func::TrimPrefix => V::str(text(0)?.strip_prefix(text(1)?).unwrap_or(text(0)?)),
        Func::TrimSuffix => V::str(text(0)?.strip_suffix(text(1)?).unwrap_or(text(0)?)),
        Func::HasPrefix => V::Bool(text(0)?.starts_with(text(1)?)),
        Func::HasSuffix => V::Bool(text(0)?.ends_with(text(1)?)),
        Func::Contains => V::Bool(text(0)?.contains(text(1)?)),
        Func::Split => {
            let (s, sep) = (text(0)?, text(1)?);
            // Go splits around every character when the separator is empty.
            if sep.is_empty() { list_of_strings(s.chars().map(String::from)) } else { list_of_strings(s.split(sep).map(String::from)) }
        }
        Func::Join => {
            let sep = args.get(1).map(|s| string_arg(name, s)).transpose()?.unwrap_or("");
            let V::List(items) = &args[0] else {
                return Err(format!("join expects a list of strings, got {}", args[0].type_name()));
            };
            let parts = items.iter().map(|i| string_arg(name, i)).collect::<Result<Vec<_>, _>>()?;
            capped(parts.join(sep))?
        }
        Func::Replace => {
            let (s, old, new) = (text(0)?, text(1)?, text(2)?);
            let count = if old.is_empty() { s.chars().count() + 1 } else { s.matches(old).count() };
            let grown = s.len().saturating_add(count.saturating_mul(new.len()));
            if grown > MAX_STRING {
                return Err(too_long(grown));
            }
            capped(s.replace(old, new))?
        }
        Func::IndexOf => V::Int(text(0)?.find(text(1)?).map_or(-1, |i| i as i64)),
        Func::LastIndexOf => V::Int(text(0)?.rfind(text(1)?).map_or(-1, |i| i as i64)),
        Func::String => capped(args[0].to_value().to_go_string())?,
        Func::Int => match &args[0] {
            V::Int(i) => V::Int(*i),
            V::Float(f) => V::Int(*f as i64),
            V::Str(s) => V::Int(s.trim().parse().map_err(|_| format!("int: cannot parse {s:?} as an integer"))?),
            other => return Err(format!("invalid operation: int({})", other.type_name())),
        },
        Func::Float => match &args[0] {
            V::Int(i) => V::Float(*i as f64),
            V::Float(f) => V::Float(*f),
            V::Str(s) => V::Float(s.trim().parse().map_err(|_| format!("float: cannot parse {s:?} as a number"))?),
            other => return Err(format!("invalid operation: float({})", other.type_name())),
        },
        Func::Abs | Func::Ceil | Func::Floor | Func::Round => numeric(func, &args[0])?,
        Func::Max | Func::Min => extreme(func, args)?,
        Func::First | Func::Last => match &args[0] {
            V::List(items) => {
                let item = if func == Func::First { items.first() } else { items.last() };
                item.cloned().unwrap_or(V::Nil)
            }
            V::Nil => V::Nil,
            other => return Err(format!("{name} expects a list, got {}", other.type_name())),
        },
        Func::Keys | Func::Values => match &args[0] {
            V::Map(map) if func == Func::Keys => list_of_strings(map.keys().cloned()),
            V::Map(map) => V::List(Rc::new(map.values().cloned().collect())),
            other => return Err(format!("{name} expects a map, got {}", other.type_name())),
        },
        Func::Type => V::str(args[0].type_name()),
        Func::Get => match (&args[0], &args[1]) {
            (V::Map(map), V::Str(k)) => map.get(&**k).cloned().unwrap_or(V::Nil),
            (V::List(items), V::Int(i)) => element(*i, items.len()).map_or(V::Nil, |at| items[at].clone()),
            _ => V::Nil,
        },
        Func::Now => V::Time(now),
        Func::Duration => {
            let s = text(0)?;
            let d: SignedDuration = s.parse().map_err(|_| format!("duration: cannot parse {s:?} (such as 1h30m, 5m or 300ms)"))?;
            V::Duration(saturating_nanos(d))
        }
        Func::Date => V::Time(date(text(0)?)?),
        Func::TimeParse => V::Time(parse_rfc3339(text(0)?).map_err(|e| format!("time.Parse: {e}"))?),
    })
}

/// `date(s)`: RFC 3339, or a civil date and time taken as UTC
/// (`2006-01-02T15:04:05`, `2006-01-02 15:04:05`, `2006-01-02`).
fn date(s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    let civil = s
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| s.parse::<jiff::civil::Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight())));
    civil
        .ok()
        .and_then(|dt| jiff::tz::Offset::UTC.to_timestamp(dt).ok())
        .ok_or_else(|| format!("date: cannot parse {s:?} (such as 2006-01-02T15:04:05Z or 2006-01-02)"))
}

fn numeric(func: Func, v: &V) -> Result<V, String> {
    Ok(match (func, v) {
        (Func::Abs, V::Int(i)) => V::Int(i.wrapping_abs()),
        (Func::Abs, V::Float(f)) => V::Float(f.abs()),
        (_, V::Int(i)) => V::Float(*i as f64),
        (Func::Ceil, V::Float(f)) => V::Float(f.ceil()),
        (Func::Floor, V::Float(f)) => V::Float(f.floor()),
        (_, V::Float(f)) => V::Float(f.round()),
        (_, other) => return Err(format!("{} expects a number, got {}", func_name(func), other.type_name())),
    })
}

/// `max(1, 2.5)`, `min([3, 1])`: numbers (or strings, times, durations)
/// compared as `<` compares them.
fn extreme(func: Func, args: &[V]) -> Result<V, String> {
    let name = func_name(func);
    let items: &[V] = match args {
        [V::List(items)] => items,
        _ => args,
    };
    let mut best: Option<&V> = None;
    for item in items {
        let Some(b) = best else {
            best = Some(item);
            continue;
        };
        let ord = compare(item, b).ok_or_else(|| format!("{name}: cannot compare {} and {}", item.type_name(), b.type_name()))?;
        let better = if func == Func::Max { ord == Some(std::cmp::Ordering::Greater) } else { ord == Some(std::cmp::Ordering::Less) };
        if better {
            best = Some(item);
        }
    }
    if let Some(b) = best.filter(|b| compare(b, b).is_none()) {
        return Err(format!("{name}: cannot compare {}", b.type_name()));
    }
    best.cloned().ok_or_else(|| format!("{name} of an empty list"))
}

fn func_name(func: Func) -> &'static str {
    match func {
        Func::Len => "len",
        Func::Lower => "lower",
        Func::Upper => "upper",
        Func::Trim => "trim",
        Func::TrimPrefix => "trimPrefix",
        Func::TrimSuffix => "trimSuffix",
        Func::HasPrefix => "hasPrefix",
        Func::HasSuffix => "hasSuffix",
        Func::Contains => "strings.Contains",
        Func::Split => "split",
        Func::Join => "join",
        Func::Replace => "replace",
        Func::IndexOf => "indexOf",
        Func::LastIndexOf => "lastIndexOf",
        Func::String => "string",
        Func::Int => "int",
        Func::Float => "float",
        Func::Abs => "abs",
        Func::Ceil => "ceil",
        Func::Floor => "floor",
        Func::Round => "round",
        Func::Max => "max",
        Func::Min => "min",
        Func::First => "first",
        Func::Last => "last",
        Func::Keys => "keys",
        Func::Values => "values",
        Func::Type => "type",
        Func::Get => "get",
        Func::Now => "now",
        Func::Duration => "duration",
        Func::Date => "date",
        Func::TimeParse => "time.Parse",
    }
}

/// A method of a `time.Time` or `time.Duration` (the parser has checked
/// the name is one of them and the argument count).
pub(crate) fn method(recv: &V, name: &str, args: &[V]) -> Result<V, String> {
    let arg_error = |want: &str| {
        let got = args.first().map_or("nothing", V::type_name);
        format!("{name} expects a {want} argument, got {got}")
    };
    match recv {
        V::Time(t) => {
            let t = *t;
            let dt = jiff::tz::Offset::UTC.to_datetime(t);
            Ok(match (name, args) {
                ("Sub", [V::Time(u)]) => V::Duration(saturating_nanos(t.duration_since(*u))),
                ("Sub" | "Before" | "After" | "Equal", _) if !matches!(args, [V::Time(_)]) => {
                    return Err(arg_error("time.Time"));
                }
                ("Before", [V::Time(u)]) => V::Bool(t < *u),
                ("After", [V::Time(u)]) => V::Bool(t > *u),
                ("Equal", [V::Time(u)]) => V::Bool(t == *u),
                ("Add", [V::Duration(d)]) => shift(t, *d)?,
                ("Add", _) => return Err(arg_error("time.Duration")),
                ("Format", [V::Str(layout)]) => V::str(&format(t, layout)),
                ("Format", _) => return Err(arg_error("string")),
                ("Unix", _) => V::Int(t.as_second()),
                ("UnixMilli", _) => V::Int(t.as_millisecond()),
                // Go's UnixNano is undefined outside int64's years; it wraps here.
                ("UnixNano", _) => V::Int(t.as_nanosecond() as i64),
                ("IsZero", _) => V::Bool(t == zero_time()),
                ("UTC", _) => V::Time(t),
                ("Year", _) => V::Int(dt.year().into()),
                ("YearDay", _) => V::Int(dt.day_of_year().into()),
                ("Day", _) => V::Int(dt.day().into()),
                ("Hour", _) => V::Int(dt.hour().into()),
                ("Minute", _) => V::Int(dt.minute().into()),
                ("Second", _) => V::Int(dt.second().into()),
                ("String", _) => V::str(&time_string(t)),
                _ => return Err(format!("time.Time has no method {name}")),
            })
        }
        V::Duration(d) => {
            let d = *d;
            Ok(match name {
                "Hours" => V::Float(duration_in(d, 3600 * SECOND)),
                "Minutes" => V::Float(duration_in(d, 60 * SECOND)),
                "Seconds" => V::Float(duration_in(d, SECOND)),
                "Milliseconds" => V::Int(d / 1_000_000),
                "Microseconds" => V::Int(d / 1_000),
                "Nanoseconds" => V::Int(d),
                "String" => V::str(&duration_string(d)),
                // Go's Abs gives the largest duration for the smallest.
                "Abs" => V::Duration(d.checked_abs().unwrap_or(i64::MAX)),
                _ => return Err(format!("time.Duration has no method {name}")),
            })
        }
        other => Err(format!("{} has no method {name}", other.type_name())),
    }
}
