//! The validator: one object against its compiled schema, every violation
//! with the JSON path it is at, what was expected and what was found.

use serde_json::Value;

use super::{Additional, Format, Node, NodeId, Schemas, Type};

/// Values longer than this are not quoted in messages.
const QUOTE_MAX: usize = 64;
/// Nesting deeper than this is not descended into: no real manifest is,
/// and a hostile one must not exhaust the stack.
const MAX_DEPTH: usize = 200;

/// One way an object breaks its schema.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Where: `spec.template.spec.containers[0].imagePullPolicy`; empty for
    /// the object itself.
    pub path: String,
    /// The same path as segments: field names, and `[i]` for array items.
    pub segments: Vec<String>,
    /// What is wrong: expected and found.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

#[derive(Clone)]
enum Seg<'a> {
    Field(&'a str),
    Index(usize),
}

pub(super) struct Checker<'s> {
    pub(super) schemas: &'s Schemas,
    /// A custom resource: `null` is a value like any other, as the API
    /// server's structural validation sees it (built-in objects decode
    /// `null` as the field's zero value).
    pub(super) crd: bool,
    /// Whether values may be quoted (never a Secret's).
    pub(super) quote: bool,
}

struct Walk<'a> {
    path: Vec<Seg<'a>>,
    out: Vec<Violation>,
}

impl<'s> Checker<'s> {
    pub(super) fn run(&self, root: NodeId, value: &Value) -> Vec<Violation> {
        let mut w = Walk { path: Vec::new(), out: Vec::new() };
        self.check(root, value, &mut w, true);
        w.out.sort();
        w.out.dedup();
        w.out
    }

    fn node(&self, id: NodeId) -> &'s Node {
        &self.schemas.nodes[id]
    }

    /// Checks `value` against node `id`. `unknown`: whether fields no
    /// schema names are reported here (not in an `allOf` part, whose
    /// siblings may name them, nor in a `oneOf` alternative).
    fn check<'a>(&self, id: NodeId, value: &'a Value, w: &mut Walk<'a>, unknown: bool) {
        if w.path.len() > MAX_DEPTH {
            self.report(w, format!("nested more than {MAX_DEPTH} levels deep; not checked further"));
            return;
        }
        let node = self.node(id);
        if node.int_or_string && !(value.is_string() || is_integer(value)) {
            self.report(w, format!("expected an integer or a string, got {}", self.describe(value)));
            return;
        }
        if let Some(ty) = node.ty
            && !matches_type(ty, value)
        {
            self.report(w, format!("expected {}, got {}", ty.name(), self.describe(value)));
            return;
        }
        if let Some(values) = &node.enumeration
            && !values.contains(value)
        {
            let allowed: Vec<String> = values.iter().map(|v| quote_json(v, true)).collect();
            self.report(w, format!("unsupported value {}: expected one of {}", self.describe_value(value), allowed.join(", ")));
        }
        if let Some(f) = node.format {
            self.check_format(f, value, w);
        }
        match value {
            Value::Object(map) => self.check_object(id, map, w, unknown),
            Value::Array(items) => {
                if let Some(item) = node.items {
                    for (i, v) in items.iter().enumerate() {
                        w.path.push(Seg::Index(i));
                        self.check_member(item, v, w);
                        w.path.pop();
                    }
                }
            }
            _ => {}
        }
        for &part in &node.all_of {
            self.check(part, value, w, false);
        }
        if !node.any_of.is_empty() && !node.any_of.iter().any(|&alt| self.passes(alt, value, w)) {
            self.report(w, format!("{} matches none of the alternatives the schema allows (anyOf)", self.describe(value)));
        }
        if !node.one_of.is_empty() {
            let passing = node.one_of.iter().filter(|&&alt| self.passes(alt, value, w)).count();
            if passing != 1 {
                let how = if passing == 0 { "none" } else { "more than one" };
                self.report(w, format!("{} matches {how} of the alternatives the schema allows (oneOf)", self.describe(value)));
            }
        }
        if let Some(not) = node.not
            && self.passes(not, value, w)
        {
            self.report(w, format!("{} matches a schema it must not match (not)", self.describe(value)));
        }
    }

    /// An array item or a map value: `null` only where the schema says
    /// `nullable` (or in a built-in object, which decodes it as empty).
    fn check_member<'a>(&self, id: NodeId, value: &'a Value, w: &mut Walk<'a>) {
        if value.is_null() {
            if self.crd && !self.node(id).nullable && self.node(id).ty.is_some() {
                self.report(w, "expected a value, got null".into());
            }
            return;
        }
        self.check(id, value, w, true);
    }

    fn passes(&self, id: NodeId, value: &Value, w: &Walk<'_>) -> bool {
        let mut scratch = Walk { path: w.path.clone(), out: Vec::new() };
        self.check(id, value, &mut scratch, false);
        scratch.out.is_empty()
    }

    fn check_object<'a>(&self, id: NodeId, map: &'a serde_json::Map<String, Value>, w: &mut Walk<'a>, unknown: bool) {
        let node = self.node(id);
        for r in &node.required {
            if map.get(r).is_none_or(Value::is_null) {
                self.report(w, format!("required field {r:?} is missing"));
            }
        }
        if node.embedded && !map.is_empty() {
            for field in ["apiVersion", "kind"] {
                if !map.get(field).is_some_and(Value::is_string) {
                    self.report(w, format!("an embedded object needs {field:?}"));
                }
            }
        }
        let (named, additional) = self.object_view(id);
        for (field, v) in map {
            w.path.push(Seg::Field(field));
            match node.properties.get(field) {
                // `null` is how a field is left unset (pruned or zero).
                Some(_) if v.is_null() => {}
                Some(&child) => self.check(child, v, w, true),
                None if named.iter().any(|p| p == field) => {}
                None if node.embedded && matches!(field.as_str(), "apiVersion" | "kind" | "metadata") => {}
                None => match additional {
                    Additional::Schema(s) => self.check_member(s, v, w),
                    Additional::Open => {}
                    Additional::Closed if unknown => {
                        w.path.pop();
                        self.report_at(w, field, "unknown field (not in the schema)".into());
                        continue;
                    }
                    Additional::Closed => {}
                },
            }
            w.path.pop();
        }
    }

    /// The fields named by `id` and its `allOf` parts, and what other
    /// fields are: the first said, else unknown where fields are named.
    fn object_view(&self, id: NodeId) -> (Vec<&'s str>, Additional) {
        let (mut named, mut said, mut pending, mut seen) = (Vec::new(), None, vec![id], Vec::new());
        while let Some(n) = pending.pop() {
            if seen.contains(&n) {
                continue;
            }
            seen.push(n);
            let node = self.node(n);
            named.extend(node.properties.keys().map(String::as_str));
            said = said.or(node.additional);
            pending.extend(node.all_of.iter().rev());
        }
        let additional = said.unwrap_or(if named.is_empty() { Additional::Open } else { Additional::Closed });
        (named, additional)
    }

    fn check_format(&self, f: Format, value: &Value, w: &mut Walk<'_>) {
        let ok = match (f, value) {
            (Format::Int32, v) if v.is_number() => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            (Format::Int64, v) if v.is_number() => v.as_i64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.2e18),
            (Format::Byte, Value::String(s)) => is_base64(s),
            (Format::DateTime, Value::String(s)) => is_date_time(s),
            _ => true,
        };
        if !ok {
            let expected = match f {
                Format::Int32 => "a 32-bit integer",
                Format::Int64 => "a 64-bit integer",
                Format::Byte => "base64-encoded data",
                Format::DateTime => "a date-time as RFC 3339 writes it (2006-01-02T15:04:05Z)",
            };
            self.report(w, format!("expected {expected}, got {}", self.describe(value)));
        }
    }

    fn report(&self, w: &mut Walk<'_>, message: String) {
        let segments = w
            .path
            .iter()
            .map(|s| match s {
                Seg::Field(f) => f.to_string(),
                Seg::Index(i) => format!("[{i}]"),
            })
            .collect();
        w.out.push(Violation { path: render_path(&w.path), segments, message });
    }

    fn report_at<'a>(&self, w: &mut Walk<'a>, field: &'a str, message: String) {
        w.path.push(Seg::Field(field));
        self.report(w, message);
        w.path.pop();
    }

    /// A value's type, and the value itself when short and quotable.
    fn describe(&self, value: &Value) -> String {
        let ty = match value {
            Value::Null => return "null".into(),
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "number",
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => return "array".into(),
            Value::Object(_) => return "object".into(),
        };
        format!("{ty} {}", self.describe_value(value))
    }

    fn describe_value(&self, value: &Value) -> String {
        quote_json(value, self.quote)
    }
}

/// A scalar as JSON, cut when long; `<hidden>` when values may not be shown.
fn quote_json(value: &Value, quote: bool) -> String {
    if !quote {
        return "<hidden>".into();
    }
    let text = value.to_string();
    if text.chars().count() > QUOTE_MAX { format!("{}...", text.chars().take(QUOTE_MAX).collect::<String>()) } else { text }
}

fn matches_type(ty: Type, v: &Value) -> bool {
    match ty {
        Type::Object => v.is_object(),
        Type::Array => v.is_array(),
        Type::String => v.is_string(),
        Type::Integer => is_integer(v),
        Type::Number => v.is_number(),
        Type::Boolean => v.is_boolean(),
    }
}

fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0 && f.is_finite())
}

/// `spec.containers[0].image`; a field that is not a plain name is
/// bracketed and quoted: `metadata.labels["app.kubernetes.io/name"]`.
fn render_path(path: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
            Seg::Field(f) if !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$') => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(f);
            }
            Seg::Field(f) => s.push_str(&format!("[{}]", Value::String(f.to_string()))),
        }
    }
    s
}

/// Standard base64 as Go decodes `[]byte`: line breaks ignored, padded.
fn is_base64(s: &str) -> bool {
    let clean: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    if !clean.len().is_multiple_of(4) {
        return false;
    }
    let body = clean.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    clean.len() - body <= 2 && clean[..body].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// RFC 3339: `2006-01-02T15:04:05[.frac](Z|±07:00)`.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if !matches!(b[10], b'T' | b't') || !digits(11..13) || b[13] != b':' || !digits(14..16) || b[16] != b':' || !digits(17..19) {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
