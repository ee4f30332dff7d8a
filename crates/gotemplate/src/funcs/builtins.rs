//! Go's predefined template functions (`and`, `or` and `call` live in the executor).

use super::{Entry, Ty, string};
use crate::fmt::{sprint, sprintf, sprintln};
use crate::value::{Heap, Res, Value, fault};

pub(crate) const ENTRIES: &[Entry] = &[
    ("not", &[Ty::Any], None, |h, a| Ok(Value::Bool(!h.truth(&a[0])))),
    ("len", &[Ty::Any], None, len),
    ("index", &[Ty::Any], Some(Ty::Any), index),
    ("slice", &[Ty::Any], Some(Ty::Any), slice),
    ("eq", &[Ty::Any], Some(Ty::Any), eq),
    ("ne", &[Ty::Any, Ty::Any], None, |h, a| Ok(Value::Bool(!eq_bool(h, &a[0], &a[1..])?))),
    ("lt", &[Ty::Any, Ty::Any], None, |_, a| Ok(Value::Bool(lt(&a[0], &a[1])?))),
    ("le", &[Ty::Any, Ty::Any], None, |h, a| Ok(Value::Bool(le(h, &a[0], &a[1])?))),
    ("gt", &[Ty::Any, Ty::Any], None, |h, a| Ok(Value::Bool(!le(h, &a[0], &a[1])?))),
    ("ge", &[Ty::Any, Ty::Any], None, |_, a| Ok(Value::Bool(!lt(&a[0], &a[1])?))),
    ("print", &[], Some(Ty::Any), |h, a| string(sprint(h, a)?)),
    ("println", &[], Some(Ty::Any), |h, a| string(sprintln(h, a)?)),
    ("printf", &[Ty::Str], Some(Ty::Any), |h, a| string(sprintf(h, a[0].as_str().unwrap_or_default(), &a[1..])?)),
    ("html", &[], Some(Ty::Any), |h, a| string(html(&eval_args(h, a)?))),
    ("js", &[], Some(Ty::Any), |h, a| string(js(&eval_args(h, a)?))),
    ("urlquery", &[], Some(Ty::Any), |h, a| string(query_escape(&eval_args(h, a)?))),
];

/// Go's evalArgs for the escapers: one string as is, else fmt.Sprint.
fn eval_args(heap: &Heap, args: &[Value]) -> Res<String> {
    if let [Value::Str(s)] = args {
        return Ok(s.to_string());
    }
    sprint(heap, args)
}

fn len(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let n = match &a[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => h.list(*l).len(),
        Value::Map(m) => h.map(*m).len(),
        Value::Missing | Value::Nil => return fault("reflect: call of reflect.Value.Type on zero Value"),
        other => return fault(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

fn index_arg(v: &Value, cap: usize) -> Res<usize> {
    let x = match v {
        Value::Int(i) => *i,
        Value::Missing | Value::Nil => return fault("cannot index slice/array with nil"),
        other => return fault(format!("cannot index slice/array with type {}", other.type_name())),
    };
    if x < 0 || x as u64 > cap as u64 {
        return fault(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let mut item = a[0].clone();
    if item.is_nil() {
        return fault("index of untyped nil");
    }
    for ix in &a[1..] {
        item = match &item {
            Value::Missing | Value::Nil => return fault("index of nil pointer"),
            Value::List(l) => {
                let list = h.list(*l);
                let x = index_arg(ix, list.len())?;
                match list.get(x) {
                    Some(v) => v.clone(),
                    None => return fault("reflect: slice index out of range"),
                }
            }
            Value::Str(s) => {
                let x = index_arg(ix, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return fault("reflect: string index out of range"),
                }
            }
            Value::Map(m) => match ix {
                Value::Str(k) => h.map(*m).get(&**k).cloned().unwrap_or(Value::Nil),
                Value::Missing | Value::Nil => Value::Nil,
                other => return fault(format!("value has type {}; should be string", other.type_name())),
            },
            other => return fault(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let item = &a[0];
    if item.is_nil() {
        return fault("slice of untyped nil");
    }
    let idx = &a[1..];
    if idx.len() > 3 {
        return fault(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match item {
        Value::Str(s) => {
            if idx.len() == 3 {
                return fault("cannot 3-index slice a string");
            }
            s.len()
        }
        Value::List(l) => h.list(*l).len(),
        other => return fault(format!("can't slice item of type {}", other.type_name())),
    };
    let mut bounds = [0, len, len];
    for (i, x) in idx.iter().enumerate() {
        bounds[i] = index_arg(x, len)?;
    }
    if idx.len() < 2 {
        bounds[1] = len;
    }
    if bounds[0] > bounds[1] {
        return fault(format!("invalid slice index: {} > {}", bounds[0], bounds[1]));
    }
    if idx.len() == 3 && bounds[1] > bounds[2] {
        return fault(format!("invalid slice index: {} > {}", bounds[1], bounds[2]));
    }
    match item {
        Value::Str(s) => match s.get(bounds[0]..bounds[1]) {
            Some(sub) => string(sub),
            // Go slices bytes; a cut inside a character keeps the bytes it can.
            None => string(String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned()),
        },
        Value::List(l) => {
            let sub = h.list(*l)[bounds[0]..bounds[1]].to_vec();
            h.new_list(sub)
        }
        _ => unreachable!("checked above"),
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Missing | Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn incompatible(a: &Value, b: &Value) -> String {
    format!("incompatible types for comparison: {} and {}", a.type_name(), b.type_name())
}

fn eq(h: &mut Heap, a: &[Value]) -> Res<Value> {
    if a.len() < 2 {
        return fault("missing argument for comparison");
    }
    Ok(Value::Bool(eq_bool(h, &a[0], &a[1..])?))
}

fn eq_bool(h: &Heap, a: &Value, others: &[Value]) -> Res<bool> {
    let k1 = kind(a);
    for b in others {
        let k2 = kind(b);
        let truth = if k1 != k2 {
            // Comparable only when one side is nil (then unequal).
            if k1 != Kind::Invalid && k2 != Kind::Invalid {
                return fault(incompatible(a, b));
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                _ if k1 == Kind::Invalid => true,
                (Value::List(_), Value::List(_)) | (Value::Map(_), Value::Map(_)) => {
                    return fault(format!("non-comparable type {}: {}", h.to_display(b)?, b.type_name()));
                }
                _ => {
                    return fault(format!(
                        "non-comparable types {}: {}, {}: {}",
                        h.to_display(a)?,
                        a.type_name(),
                        b.type_name(),
                        h.to_display(b)?
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Res<bool> {
    let (k1, k2) = (kind(a), kind(b));
    for k in [k1, k2] {
        if matches!(k, Kind::Invalid | Kind::Other) {
            return fault("invalid type for comparison");
        }
    }
    if k1 != k2 {
        return fault(incompatible(a, b));
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => fault("invalid type for comparison"),
    }
}

fn le(h: &Heap, a: &Value, b: &Value) -> Res<bool> {
    Ok(lt(a, b)? || eq_bool(h, a, std::slice::from_ref(b))?)
}

/// Go's template.HTMLEscapeString.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's template.JSEscapeString.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '`' => out.push_str("\\u0060"),
            c if (c as u32) < 0x20 || (!c.is_ascii() && c.is_control()) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's url.QueryEscape.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
