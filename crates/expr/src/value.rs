//! Values: the public `Value` a program answers, and `V`, the value an
//! evaluation works with, whose lists, maps and strings are shared (`Rc`)
//! so that `app` and its parts are converted from JSON once per run and
//! never copied again.

use std::collections::BTreeMap;
use std::rc::Rc;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value as Json;

use crate::Value;
use crate::gotime::{duration_string, saturating_nanos, time_string};

/// A value during evaluation.
#[derive(Debug, Clone)]
pub(crate) enum V {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<V>>),
    Map(Rc<BTreeMap<String, V>>),
    Time(Timestamp),
    /// Go's `time.Duration`: nanoseconds.
    Duration(i64),
}

impl V {
    /// A JSON value: integers (as written, no fraction) are `Int`, other
    /// numbers `Float`, as Kubernetes' unstructured objects hold them.
    /// `cost` grows by one per value and one per 256 bytes of strings.
    pub fn from_json(json: &Json, cost: &mut usize) -> V {
        *cost += 1;
        match json {
            Json::Null => V::Nil,
            Json::Bool(b) => V::Bool(*b),
            Json::Number(n) => n.as_i64().map_or_else(|| V::Float(n.as_f64().unwrap_or(f64::NAN)), V::Int),
            Json::String(s) => {
                *cost += s.len() / 256;
                V::str(s)
            }
            Json::Array(items) => V::List(Rc::new(items.iter().map(|i| V::from_json(i, cost)).collect())),
            Json::Object(map) => V::Map(Rc::new(map.iter().map(|(k, v)| (k.clone(), V::from_json(v, cost))).collect())),
        }
    }

    pub fn str(s: &str) -> V {
        V::Str(Rc::from(s))
    }

    /// The public value.
    pub fn to_value(&self) -> Value {
        match self {
            V::Nil => Value::Nil,
            V::Bool(b) => Value::Bool(*b),
            V::Int(i) => Value::Int(*i),
            V::Float(f) => Value::Float(*f),
            V::Str(s) => Value::Str(s.to_string()),
            V::List(items) => Value::List(items.iter().map(V::to_value).collect()),
            V::Map(map) => Value::Map(map.iter().map(|(k, v)| (k.clone(), v.to_value())).collect()),
            V::Time(t) => Value::Time(*t),
            V::Duration(d) => Value::Duration(SignedDuration::from_nanos(*d)),
        }
    }

    /// The name expr's `type()` gives, used in error messages too.
    pub fn type_name(&self) -> &'static str {
        match self {
            V::Nil => "nil",
            V::Bool(_) => "bool",
            V::Int(_) => "int",
            V::Float(_) => "float",
            V::Str(_) => "string",
            V::List(_) => "array",
            V::Map(_) => "map",
            V::Time(_) => "time.Time",
            V::Duration(_) => "time.Duration",
        }
    }

    /// A short rendering for error messages: scalars as Go prints them,
    /// containers by their type.
    pub fn brief(&self) -> String {
        match self {
            V::List(_) | V::Map(_) => self.type_name().to_string(),
            V::Str(s) if s.chars().count() > 40 => format!("{}...", s.chars().take(40).collect::<String>()),
            _ => self.to_value().to_go_string(),
        }
    }
}

impl Value {
    /// A JSON value as an expression sees it: integers are `Int`, other
    /// numbers `Float`.
    pub fn from_json(json: &Json) -> Value {
        V::from_json(json, &mut 0).to_value()
    }

    /// The boolean, if it is one: Argo CD fires a trigger only when its
    /// `when` answers exactly `true`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Go's `fmt.Sprintf("%v", v)` of the value (`<nil>` for nil), as
    /// Argo CD turns a trigger's `oncePer` into a key: lists `[a b]`, maps
    /// `map[k:v]` with sorted keys, floats in Go's shortest form (`1.5`,
    /// `1e+06`), times `2006-01-02 15:04:05 +0000 UTC`, durations `1h2m3s`.
    pub fn to_go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out);
        out
    }

    fn write_go(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.write_go(out);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push_str("map[");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Time(t) => out.push_str(&time_string(*t)),
            Value::Duration(d) => out.push_str(&duration_string(saturating_nanos(*d))),
        }
    }
}

/// Go's `%v` of a float64: `%g` with the shortest digits that read back
/// the same, in exponent form when the exponent is below -4 or from 6 on
/// (`1e+06`, `1.23456789e+08`, `1e-05`; so whole numbers from JSON that
/// are not integers print so in Argo CD too).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `1.5e6`, `-2e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if exponent < 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-exponent - 1) as usize));
    }
    let point = exponent as usize + 1;
    if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        let cases = [
            (1.5, "1.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (123456789.0, "1.23456789e+08"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1e100, "1e+100"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn json_numbers_keep_integers_apart_from_floats() {
        let v = Value::from_json(&serde_json::json!({"i": 3, "f": 1.0, "big": 1e300, "u": u64::MAX, "l": [null, "s"]}));
        let Value::Map(m) = &v else { panic!("{v:?}") };
        assert_eq!(m["i"], Value::Int(3));
        assert_eq!(m["f"], Value::Float(1.0));
        assert_eq!(m["u"], Value::Float(u64::MAX as f64));
        assert_eq!(v.to_go_string(), "map[big:1e+300 f:1 i:3 l:[<nil> s] u:1.8446744073709552e+19]");
    }
}
