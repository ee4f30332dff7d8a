//! The function map: Go's builtins, Sprig's generic functions (less `env`, `expandenv`
//! and `getHostByName`, as Argo CD removes them so that templates learn nothing of the
//! controller's environment) and Argo CD's `normalize`, `slugify`, `toYaml`, `fromYaml`,
//! `fromYamlArray`.

pub(crate) mod builtins;
mod collections;
mod misc;
pub(crate) mod strings;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::value::{Heap, Res, Value, fault};

/// A parameter's Go type, which decides how arguments are converted and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `interface{}` (and `reflect.Value`).
    Any,
    Str,
    Int,
    Float,
    Bool,
    /// `map[string]interface{}`.
    Map,
}

impl Ty {
    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::Map => "map[string]interface {}",
        }
    }

    /// The word in Go's "expected X; found Y" for a literal.
    pub fn expected(self) -> &'static str {
        match self {
            Ty::Int => "integer",
            Ty::Float => "float",
            other => other.go_name(),
        }
    }
}

pub(crate) type Call = fn(&mut Heap, &[Value]) -> Res<Value>;

pub(crate) struct Func {
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
    pub call: Call,
}

/// One entry of a module's table: name, fixed parameters, variadic type, body.
pub(crate) type Entry = (&'static str, &'static [Ty], Option<Ty>, Call);

fn table() -> &'static HashMap<&'static str, Func> {
    static TABLE: OnceLock<HashMap<&'static str, Func>> = OnceLock::new();
    TABLE.get_or_init(|| {
        builtins::ENTRIES
            .iter()
            .chain(strings::ENTRIES)
            .chain(collections::ENTRIES)
            .chain(misc::ENTRIES)
            .map(|(name, params, variadic, call)| (*name, Func { params, variadic: *variadic, call: *call }))
            .collect()
    })
}

/// Whether a template may name this function (checked at parse time, as Go does).
pub(crate) fn exists(name: &str) -> bool {
    matches!(name, "and" | "or" | "call") || table().contains_key(name)
}

pub(crate) fn lookup(name: &str) -> Option<&'static Func> {
    table().get(name)
}

// Conversions shared by the modules, with Sprig's (spf13/cast's) rules.

/// Sprig's strval: strings as they are, anything else as `%v` prints it.
pub(crate) fn strval(heap: &Heap, v: &Value) -> Res<String> {
    match v {
        Value::Str(s) => Ok(s.to_string()),
        Value::Missing => Ok("<nil>".into()),
        other => heap.to_display(other),
    }
}

/// cast.ToInt64: numbers truncated, strings parsed (base prefixes allowed), else 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.is_finite() => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_int_base0(s.trim()).unwrap_or(0),
        _ => 0,
    }
}

fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else {
        // cast trims leading zeros and reads decimal.
        let t = lower.trim_start_matches('0');
        if t.is_empty() && !lower.is_empty() { 0 } else { t.parse().ok()? }
    };
    Some(if neg { -v } else { v })
}

/// cast.ToFloat64.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

pub(crate) fn string(v: impl Into<std::rc::Rc<str>>) -> Res<Value> {
    Ok(Value::str(v))
}

/// A string result, refused beyond the output limit.
pub(crate) fn checked(s: String) -> Res<Value> {
    if s.len() > crate::value::MAX_OUTPUT {
        return Err(crate::value::too_big("a string"));
    }
    Ok(Value::str(s))
}

/// Go's slice view of a value (`[]interface{}` and friends), or None.
pub(crate) fn as_list(heap: &Heap, v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::List(l) => Some(heap.list(*l).to_vec()),
        _ => None,
    }
}

pub(crate) fn string_list(heap: &mut Heap, items: Vec<String>) -> Res<Value> {
    let vals = items.into_iter().map(Value::str).collect();
    heap.new_list(vals)
}

/// The `[]string` of Sprig's strslice.
pub(crate) fn strslice(heap: &Heap, v: &Value) -> Res<Vec<String>> {
    match v {
        Value::List(l) => heap.list(*l).iter().filter(|x| !x.is_nil()).map(|x| strval(heap, x)).collect(),
        Value::Missing | Value::Nil => Ok(Vec::new()),
        other => Ok(vec![strval(heap, other)?]),
    }
}

pub(crate) fn need_int(v: &Value) -> Res<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        other => fault(format!("expected int, got {}", other.type_name())),
    }
}
