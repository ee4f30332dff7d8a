//! Runtime values: what Go's templates see of JSON data and of function results, and
//! how Go prints them.

use std::collections::BTreeMap;
use std::rc::Rc;

/// Output, strings and collections beyond this are refused (hostile templates).
pub(crate) const MAX_OUTPUT: usize = 4 << 20;
/// Values nest at most this deep when printed, copied or encoded (maps can hold themselves).
pub(crate) const MAX_NESTING: usize = 100;

/// A value. Maps and lists live in the execution's heap: Go's maps are shared and mutable
/// (`set`, `unset`, `merge` change them in place), and a flat heap means no reference
/// cycles and no deep recursion when a hostile template's nested values are dropped.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// Go's invalid value: a missing map key, printed `<no value>`.
    Missing,
    /// A nil interface (JSON null, `nil`).
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(usize),
    Map(usize),
}

/// Why a function or evaluation failed: a message placed at its node, or a limit.
#[derive(Debug)]
pub(crate) enum Fault {
    Msg(String),
    Limit(String),
}

pub(crate) type Res<T> = Result<T, Fault>;

pub(crate) fn fault<T>(msg: impl Into<String>) -> Res<T> {
    Err(Fault::Msg(msg.into()))
}

pub(crate) fn too_big(what: &str) -> Fault {
    Fault::Limit(format!("{what} exceeds {MAX_OUTPUT} bytes"))
}

pub(crate) fn too_deep() -> Fault {
    Fault::Limit(format!("value nests deeper than {MAX_NESTING} levels"))
}

impl Value {
    pub fn str(s: impl Into<Rc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// Go's name of the value's dynamic type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// reflect.Kind's name.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "invalid",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            other => other.type_name(),
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Missing | Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The maps of one execution.
#[derive(Default)]
pub(crate) struct Heap {
    maps: Vec<BTreeMap<String, Value>>,
    lists: Vec<Vec<Value>>,
    /// Entries and elements made so far, against `MAX_CELLS`.
    cells: usize,
}

/// At most this many map entries, list elements and string bytes/16 are made by one run.
const MAX_CELLS: usize = 4 << 20;

impl Heap {
    pub fn alloc(&mut self, m: BTreeMap<String, Value>) -> Res<Value> {
        self.charge(m.len() + 1)?;
        self.maps.push(m);
        Ok(Value::Map(self.maps.len() - 1))
    }

    pub fn new_list(&mut self, l: Vec<Value>) -> Res<Value> {
        self.charge(l.len() + 1)?;
        self.lists.push(l);
        Ok(Value::List(self.lists.len() - 1))
    }

    pub fn list(&self, id: usize) -> &[Value] {
        &self.lists[id]
    }

    pub fn charge(&mut self, n: usize) -> Res<()> {
        self.cells = self.cells.saturating_add(n);
        if self.cells > MAX_CELLS {
            return Err(Fault::Limit(format!("the template made more than {MAX_CELLS} values")));
        }
        Ok(())
    }

    pub fn map(&self, id: usize) -> &BTreeMap<String, Value> {
        &self.maps[id]
    }

    pub fn map_mut(&mut self, id: usize) -> &mut BTreeMap<String, Value> {
        &mut self.maps[id]
    }

    /// Takes JSON data in.
    pub fn import_json(&mut self, v: &serde_json::Value, depth: usize) -> Res<Value> {
        if depth > MAX_NESTING * 2 {
            return Err(too_deep());
        }
        Ok(match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            // JSON numbers are float64 in Go's decoding, as Argo CD's parameters are.
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => {
                let items = a.iter().map(|x| self.import_json(x, depth + 1)).collect::<Res<_>>()?;
                self.new_list(items)?
            }
            serde_json::Value::Object(o) => {
                let m = o.iter().map(|(k, x)| Ok((k.clone(), self.import_json(x, depth + 1)?))).collect::<Res<BTreeMap<_, _>>>()?;
                self.alloc(m)?
            }
        })
    }

    /// Back to JSON (for toJson and the YAML emitter). Non-finite floats fail, as in Go.
    pub fn to_json(&self, v: &Value, depth: usize) -> Res<serde_json::Value> {
        if depth > MAX_NESTING {
            return Err(too_deep());
        }
        Ok(match v {
            Value::Missing | Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                if let Some(n) = serde_json::Number::from_f64(*f) {
                    // Whole numbers encode as Go does: 3, not 3.0.
                    if f.fract() == 0.0 && f.abs() < 1e21 { serde_json::Value::from(*f as i64) } else { serde_json::Value::Number(n) }
                } else {
                    return fault(format!("json: unsupported value: {}", go_float(*f)));
                }
            }
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => serde_json::Value::Array(self.list(*l).iter().map(|x| self.to_json(x, depth + 1)).collect::<Res<_>>()?),
            Value::Map(id) => serde_json::Value::Object(
                self.map(*id).iter().map(|(k, x)| Ok((k.clone(), self.to_json(x, depth + 1)?))).collect::<Res<_>>()?,
            ),
        })
    }

    /// A copy whose maps are new (Go's deepCopy; lists are immutable here).
    pub fn deep_copy(&mut self, v: &Value, depth: usize) -> Res<Value> {
        if depth > MAX_NESTING {
            return Err(too_deep());
        }
        Ok(match v {
            Value::List(l) => {
                let items = self.list(*l).to_vec();
                let items = items.iter().map(|x| self.deep_copy(x, depth + 1)).collect::<Res<_>>()?;
                self.new_list(items)?
            }
            Value::Map(id) => {
                let entries: Vec<(String, Value)> = self.map(*id).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let mut m = BTreeMap::new();
                for (k, x) in entries {
                    m.insert(k, self.deep_copy(&x, depth + 1)?);
                }
                self.alloc(m)?
            }
            other => other.clone(),
        })
    }

    /// Go's truth: false, 0, "", nil, empty list or map are false.
    pub fn truth(&self, v: &Value) -> bool {
        match v {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !self.list(*l).is_empty(),
            Value::Map(id) => !self.map(*id).is_empty(),
        }
    }

    /// reflect.DeepEqual on these values.
    pub fn deep_equal(&self, a: &Value, b: &Value, depth: usize) -> bool {
        if depth > MAX_NESTING {
            return false;
        }
        match (a, b) {
            (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                let (x, y) = (self.list(*x), self.list(*y));
                x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| self.deep_equal(p, q, depth + 1))
            }
            (Value::Map(x), Value::Map(y)) => {
                let (x, y) = (self.map(*x), self.map(*y));
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| self.deep_equal(v, w, depth + 1)))
            }
            _ => false,
        }
    }

    /// Go's `%v` (and print's) rendering of a value.
    pub fn print(&self, v: &Value, out: &mut String) -> Res<()> {
        self.print_at(v, out, 0)
    }

    fn print_at(&self, v: &Value, out: &mut String, depth: usize) -> Res<()> {
        if depth > MAX_NESTING {
            return Err(too_deep());
        }
        if out.len() > MAX_OUTPUT {
            return Err(too_big("output"));
        }
        match v {
            Value::Missing => out.push_str(if depth == 0 { "<no value>" } else { "<nil>" }),
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, x) in self.list(*l).iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    self.print_at(x, out, depth + 1)?;
                }
                out.push(']');
            }
            Value::Map(id) => {
                out.push_str("map[");
                for (i, (k, x)) in self.map(*id).iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    self.print_at(x, out, depth + 1)?;
                }
                out.push(']');
            }
        }
        Ok(())
    }

    pub fn to_display(&self, v: &Value) -> Res<String> {
        let mut s = String::new();
        self.print_at(v, &mut s, 1)?;
        Ok(s)
    }
}

/// Go's shortest `%v` of a float64: `%g`, with an exponent when it is below -4 or from 6
/// on (so 1e+06, 1.23456789e+08: large whole numbers from JSON print so in Go too).
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (neg, digits, exp) = shortest_digits(f);
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if !(-4..6).contains(&exp) {
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push_str(&exp_suffix(exp));
    } else {
        s.push_str(&place_point(&digits, exp));
    }
    s
}

/// Go's `e+06` exponent form.
pub(crate) fn exp_suffix(exp: i32) -> String {
    format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Digits `d.ddd` with the decimal exponent `exp`, written without an exponent.
pub(crate) fn place_point(digits: &str, exp: i32) -> String {
    if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if (exp as usize) + 1 >= digits.len() {
        format!("{}{}", digits, "0".repeat(exp as usize + 1 - digits.len()))
    } else {
        let (a, b) = digits.split_at(exp as usize + 1);
        format!("{a}.{b}")
    }
}

/// The shortest round-trip decimal digits of `f` and its exponent (`d.ddd × 10^exp`).
pub(crate) fn shortest_digits(f: f64) -> (bool, String, i32) {
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    (f < 0.0, mant.replace('.', ""), exp.parse().unwrap_or(0))
}

/// Go's strconv.Quote.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
