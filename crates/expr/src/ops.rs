//! Operators over values, as expr's runtime applies them: integers and
//! floats mix (`/` always gives a float), `+` joins strings, times and
//! durations add and subtract, comparisons take numbers, strings, times
//! or durations, `==` compares anything (numbers by value, containers
//! deeply), `in` looks in lists and among a map's keys. Errors are
//! messages; the evaluator adds where.

use std::cmp::Ordering;
use std::rc::Rc;

use jiff::SignedDuration;

use crate::ast::BinOp;
use crate::gotime::saturating_nanos;
use crate::value::V;

/// The longest string an expression may build (bytes).
pub(crate) const MAX_STRING: usize = 1 << 20;

/// Refuses strings longer than `MAX_STRING`.
pub(crate) fn capped(s: String) -> Result<V, String> {
    if s.len() > MAX_STRING {
        return Err(too_long(s.len()));
    }
    Ok(V::Str(Rc::from(s)))
}

/// The error for a string of `len` bytes, past `MAX_STRING`.
pub(crate) fn too_long(len: usize) -> String {
    format!("string too long ({len} bytes; at most {MAX_STRING})")
}

fn mismatched(op: BinOp, l: &V, r: &V) -> String {
    format!("invalid operation: {} (mismatched types {} and {})", op.symbol(), l.type_name(), r.type_name())
}

/// `l op r` for every operator but `matches` (the evaluator compiles
/// and keeps its regexes).
pub(crate) fn binary(op: BinOp, l: &V, r: &V) -> Result<V, String> {
    use V::{Duration as D, Float as F, Int as I, Str as S, Time as T};
    let float = |a: f64, b: f64| -> Option<V> {
        Some(V::Float(match op {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
            _ => return None,
        }))
    };
    let result = match (op, l, r) {
        (BinOp::Eq, ..) => Some(V::Bool(equal(l, r))),
        (BinOp::Ne, ..) => Some(V::Bool(!equal(l, r))),
        (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, ..) => {
            let ord = compare(l, r).ok_or_else(|| mismatched(op, l, r))?;
            Some(V::Bool(match op {
                BinOp::Lt => ord == Some(Ordering::Less),
                BinOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                BinOp::Gt => ord == Some(Ordering::Greater),
                _ => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            }))
        }
        (BinOp::In, ..) => Some(V::Bool(contains(r, l)?)),
        (BinOp::Contains | BinOp::StartsWith | BinOp::EndsWith, S(a), S(b)) => Some(V::Bool(match op {
            BinOp::Contains => a.contains(&**b),
            BinOp::StartsWith => a.starts_with(&**b),
            _ => a.ends_with(&**b),
        })),
        (BinOp::Add, I(a), I(b)) => Some(I(a.wrapping_add(*b))),
        (BinOp::Sub, I(a), I(b)) => Some(I(a.wrapping_sub(*b))),
        (BinOp::Mul, I(a), I(b)) => Some(I(a.wrapping_mul(*b))),
        (BinOp::Mod, I(_), I(0)) => return Err("integer divide by zero".into()),
        (BinOp::Mod, I(a), I(b)) => Some(I(a.wrapping_rem(*b))),
        (_, I(a), I(b)) => float(*a as f64, *b as f64),
        (_, I(a), F(b)) => float(*a as f64, *b),
        (_, F(a), I(b)) => float(*a, *b as f64),
        (_, F(a), F(b)) => float(*a, *b),
        (BinOp::Add, S(a), S(b)) => Some(capped(format!("{a}{b}"))?),
        (BinOp::Add, T(t), D(d)) | (BinOp::Add, D(d), T(t)) => Some(shift(*t, *d)?),
        (BinOp::Sub, T(t), D(d)) => Some(shift(*t, d.wrapping_neg())?),
        (BinOp::Sub, T(a), T(b)) => Some(D(saturating_nanos(a.duration_since(*b)))),
        (BinOp::Add, D(a), D(b)) => Some(D(a.wrapping_add(*b))),
        (BinOp::Sub, D(a), D(b)) => Some(D(a.wrapping_sub(*b))),
        (BinOp::Mul, D(d), I(n)) | (BinOp::Mul, I(n), D(d)) => Some(D(d.wrapping_mul(*n))),
        (BinOp::Mul, D(d), F(f)) | (BinOp::Mul, F(f), D(d)) => Some(D((*d as f64 * f) as i64)),
        (BinOp::Div, D(a), D(b)) => Some(V::Float(*a as f64 / *b as f64)),
        _ => None,
    };
    result.ok_or_else(|| mismatched(op, l, r))
}

/// `t + d`, an error past the years jiff holds (-9999 to 9999).
pub(crate) fn shift(t: jiff::Timestamp, nanos: i64) -> Result<V, String> {
    t.checked_add(SignedDuration::from_nanos(nanos)).map(V::Time).map_err(|_| "time out of range".to_string())
}

/// `==`: nil only equals nil; numbers by value whatever their type;
/// times as instants; lists and maps element by element.
pub(crate) fn equal(l: &V, r: &V) -> bool {
    match (l, r) {
        (V::Nil, V::Nil) => true,
        (V::Bool(a), V::Bool(b)) => a == b,
        (V::Int(_) | V::Float(_), V::Int(_) | V::Float(_)) => compare(l, r) == Some(Some(Ordering::Equal)),
        (V::Str(a), V::Str(b)) => a == b,
        (V::Time(a), V::Time(b)) => a == b,
        (V::Duration(a), V::Duration(b)) => a == b,
        (V::List(a), V::List(b)) => Rc::ptr_eq(a, b) || (a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| equal(x, y))),
        (V::Map(a), V::Map(b)) => {
            Rc::ptr_eq(a, b) || (a.len() == b.len() && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| ka == kb && equal(va, vb)))
        }
        _ => false,
    }
}

/// The order of two values, `None` when they cannot be compared and
/// `Some(None)` when they can but are unordered (NaN).
pub(crate) fn compare(l: &V, r: &V) -> Option<Option<Ordering>> {
    Some(match (l, r) {
        (V::Int(a), V::Int(b)) => Some(a.cmp(b)),
        (V::Int(a), V::Float(b)) => (*a as f64).partial_cmp(b),
        (V::Float(a), V::Int(b)) => a.partial_cmp(&(*b as f64)),
        (V::Float(a), V::Float(b)) => a.partial_cmp(b),
        (V::Str(a), V::Str(b)) => Some(a.cmp(b)),
        (V::Time(a), V::Time(b)) => Some(a.cmp(b)),
        (V::Duration(a), V::Duration(b)) => Some(a.cmp(b)),
        _ => return None,
    })
}

/// `needle in haystack`: an element of a list, a key of a map; nothing is
/// in nil.
pub(crate) fn contains(haystack: &V, needle: &V) -> Result<bool, String> {
    match (haystack, needle) {
        (V::Nil, _) => Ok(false),
        (V::List(items), _) => Ok(items.iter().any(|item| equal(item, needle))),
        (V::Map(map), V::Str(key)) => Ok(map.contains_key(&**key)),
        (V::Map(_), other) => Err(format!("cannot use {} as a key of a map (its keys are strings)", other.type_name())),
        (other, _) => Err(format!("operator \"in\" not defined on {}", other.type_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> V {
        V::str(x)
    }

    fn eval(op: BinOp, l: V, r: V) -> String {
        match binary(op, &l, &r) {
            Ok(v) => v.to_value().to_go_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn arithmetic_mixes_numbers_as_expr() {
        assert_eq!(eval(BinOp::Add, V::Int(1), V::Int(2)), "3");
        assert_eq!(eval(BinOp::Add, V::Int(1), V::Float(0.5)), "1.5");
        assert_eq!(eval(BinOp::Div, V::Int(7), V::Int(2)), "3.5");
        assert_eq!(eval(BinOp::Div, V::Int(1), V::Int(0)), "+Inf");
        assert_eq!(eval(BinOp::Mod, V::Int(7), V::Int(3)), "1");
        assert_eq!(eval(BinOp::Mod, V::Int(7), V::Int(0)), "error: integer divide by zero");
        assert_eq!(eval(BinOp::Mod, V::Int(i64::MIN), V::Int(-1)), "0");
        assert_eq!(eval(BinOp::Add, V::Int(i64::MAX), V::Int(1)), i64::MIN.to_string());
        assert_eq!(eval(BinOp::Pow, V::Int(2), V::Int(10)), "1024");
        assert_eq!(eval(BinOp::Add, s("a"), s("b")), "ab");
        assert_eq!(eval(BinOp::Add, s("a"), V::Int(1)), "error: invalid operation: + (mismatched types string and int)");
        assert_eq!(eval(BinOp::Mul, V::Duration(60_000_000_000), V::Int(5)), "5m0s");
    }

    #[test]
    fn comparisons_and_equality() {
        assert_eq!(eval(BinOp::Lt, V::Int(1), V::Float(1.5)), "true");
        assert_eq!(eval(BinOp::Ge, s("b"), s("a")), "true");
        assert_eq!(eval(BinOp::Lt, V::Float(f64::NAN), V::Int(1)), "false");
        assert_eq!(eval(BinOp::Lt, V::Nil, V::Int(1)), "error: invalid operation: < (mismatched types nil and int)");
        assert_eq!(eval(BinOp::Eq, V::Int(1), V::Float(1.0)), "true");
        assert_eq!(eval(BinOp::Eq, V::Nil, V::Int(0)), "false");
        assert_eq!(eval(BinOp::Ne, V::Nil, s("")), "true");
        let list = V::List(Rc::new(vec![s("Error"), s("Failed")]));
        assert_eq!(eval(BinOp::In, s("Failed"), list.clone()), "true");
        assert_eq!(eval(BinOp::In, s("Running"), list), "false");
        assert_eq!(eval(BinOp::In, s("x"), V::Nil), "false");
        assert_eq!(eval(BinOp::In, s("x"), s("xyz")), "error: operator \"in\" not defined on string");
        assert_eq!(eval(BinOp::Contains, s("xyz"), s("y")), "true");
        assert_eq!(eval(BinOp::StartsWith, V::Nil, s("y")), "error: invalid operation: startsWith (mismatched types nil and string)");
    }
}
