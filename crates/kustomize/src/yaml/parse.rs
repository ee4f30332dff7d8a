//! YAML → JSON value decoding with the scalar resolution rules of go-yaml v3,
//! which is what kustomize (through kyaml) uses when it reads manifests.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

/// Parses every document of a YAML stream. Empty documents become `Value::Null`.
///
/// Plain scalars under `metadata.annotations` of a top-level mapping keep their
/// source text as a string, because kustomize round-trips annotations as
/// `map[string]string` and so never re-types them.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    parse_with(text, Mode::Resource)
}

/// How scalars are typed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Manifests: go-yaml v3 typing, annotation values kept as source text.
    Resource,
    /// Strategic merge patches: go-yaml v3 typing throughout.
    Patch,
    /// JSON 6902 patches, read by kustomize with YAML 1.1 rules
    /// (`yes`, `y`, `on` are booleans).
    Yaml11,
}

/// Parses a YAML stream with the given typing rules.
pub fn parse_with(text: &str, mode: Mode) -> Result<Vec<Value>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // go-yaml only accepts YAML's printable set in a stream.
    if let Some(c) = text.chars().find(|c| !yaml_printable(*c)) {
        return Err(format!("control characters are not allowed (found U+{:04X}); escape it inside a double-quoted string", c as u32));
    }
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let ev = match parser.next_event() {
            None => break,
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok((ev, _))) => ev,
        };
        match ev {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                b.anchors.clear();
                b.stack.clear();
                b.doc = None;
            }
            Event::DocumentEnd => {
                b.docs.push(b.doc.take().unwrap_or(Value::Null));
            }
            Event::Alias(id) => {
                let v = b.anchors.get(&id).cloned().ok_or_else(|| "unknown alias".to_string())?;
                b.push_value(v)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let raw_wanted = mode == Mode::Resource && b.in_annotations();
                let v = if raw_wanted && style == ScalarStyle::Plain && tag.is_none() {
                    Value::String(text.to_string())
                } else if mode == Mode::Yaml11 && style == ScalarStyle::Plain && tag.is_none() {
                    resolve_plain_v11(&text)
                } else {
                    resolve_scalar(&text, style, tag.as_deref())
                };
                if anchor > 0 {
                    b.anchors.insert(anchor, v.clone());
                }
                b.push_value(v)?;
            }
            Event::SequenceStart(anchor, _) => b.stack.push(Frame::Seq(Vec::new(), anchor)),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor)) = b.stack.pop() {
                    let v = Value::Array(items);
                    if anchor > 0 {
                        b.anchors.insert(anchor, v.clone());
                    }
                    b.push_value(v)?;
                }
            }
            Event::MappingStart(anchor, _) => b.stack.push(Frame::Map(Map::new(), None, anchor, HashSet::new())),
            Event::MappingEnd => {
                if let Some(Frame::Map(m, _, anchor, _)) = b.stack.pop() {
                    let v = Value::Object(m);
                    if anchor > 0 {
                        b.anchors.insert(anchor, v.clone());
                    }
                    b.push_value(v)?;
                }
            }
            _ => {}
        }
    }
    Ok(b.docs)
}

fn yaml_printable(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

enum Frame {
    Seq(Vec<Value>, usize),
    /// Mapping under construction, pending key, anchor, keys written
    /// explicitly (they override keys brought in by `<<`).
    Map(Map<String, Value>, Option<String>, usize, HashSet<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    doc: Option<Value>,
    docs: Vec<Value>,
}

impl Builder {
    /// True when the next scalar is a value directly under the top-level
    /// `metadata.annotations` mapping.
    fn in_annotations(&self) -> bool {
        if self.stack.len() != 3 {
            return false;
        }
        let key_of = |f: &Frame| match f {
            Frame::Map(_, Some(k), _, _) => Some(k.clone()),
            _ => None,
        };
        matches!(
            (key_of(&self.stack[0]).as_deref(), key_of(&self.stack[1]).as_deref(), &self.stack[2]),
            (Some("metadata"), Some("annotations"), Frame::Map(_, Some(_), _, _))
        )
    }

    fn push_value(&mut self, v: Value) -> Result<(), String> {
        match self.stack.last_mut() {
            None => self.doc = Some(v),
            Some(Frame::Seq(items, _)) => items.push(v),
            Some(Frame::Map(m, key, _, explicit)) => match key.take() {
                None => *key = Some(key_string(&v)?),
                Some(k) => {
                    if k == "<<" {
                        merge_into(m, v)?;
                    } else if explicit.contains(&k) {
                        // go-yaml refuses duplicate keys; so does kustomize.
                        return Err(format!("mapping key \"{k}\" already defined"));
                    } else {
                        explicit.insert(k.clone());
                        m.insert(k, v);
                    }
                }
            },
        }
        Ok(())
    }
}

/// Applies a YAML merge key (`<<`): keys already present win.
fn merge_into(m: &mut Map<String, Value>, v: Value) -> Result<(), String> {
    // Keys already present (written before the merge key) win.
    let sources = match v {
        Value::Object(o) => vec![o],
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(o) => Ok(o),
                _ => Err("merge key `<<` needs mappings".to_string()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("merge key `<<` needs a mapping".into()),
    };
    for src in sources {
        for (k, val) in src {
            m.entry(k).or_insert(val);
        }
    }
    Ok(())
}

fn key_string(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err("mapping keys must be scalars".into()),
    })
}

/// Resolves a scalar the way go-yaml v3 does when decoding into `interface{}`.
pub fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag {
        let full = format!("{}{}", t.handle, t.suffix);
        match full.as_str() {
            "!!str" | "tag:yaml.org,2002:str" => return Value::String(text.into()),
            "!!int" | "!!float" | "!!bool" | "!!null" => {
                let v = resolve_plain(text);
                if !v.is_string() {
                    return v;
                }
                return Value::String(text.into());
            }
            _ => {}
        }
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.into());
    }
    resolve_plain(text)
}

/// go-yaml v3 implicit resolution of a plain scalar.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        if is_yaml_float(s)
            && let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64)
        {
            return Value::Number(n);
        }
        return Value::String(s.into());
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return Value::String(s.into());
    }
    if let Some(ts) = timestamp_json(s) {
        return Value::String(ts);
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    if let Some(v) = go_parse_int(&plain) {
        return v;
    }
    if is_yaml_float(&plain)
        && let Some(n) = plain.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(s.into())
}

/// go-yaml v2 (YAML 1.1) typing of a plain scalar.
pub fn resolve_plain_v11(s: &str) -> Value {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Value::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Value::Bool(false),
        _ => {}
    }
    match resolve_plain(s) {
        // v2 keeps timestamps as strings when decoding into interface{}.
        Value::String(_) => Value::String(s.to_string()),
        v => v,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
pub fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go `strconv.ParseInt(s, 0, 64)` then `ParseUint`, as a JSON number.
pub fn go_parse_int(s: &str) -> Option<Value> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= (i64::MAX as u128) + 1 {
            let v = -(mag as i128);
            return Some(Value::Number(Number::from(v as i64)));
        }
        return None;
    }
    if mag <= i64::MAX as u128 {
        return Some(Value::Number(Number::from(mag as i64)));
    }
    if mag <= u64::MAX as u128 {
        return Some(Value::Number(Number::from(mag as u64)));
    }
    None
}

/// A date (`2001-12-14`) decodes to a Go `time.Time`, which JSON-encodes in
/// RFC 3339. Only the date-only and `Z` forms are handled.
fn timestamp_json(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let (y, m, d) = (parts[0].parse::<u32>().ok()?, parts[1].parse::<u32>().ok()?, parts[2].parse::<u32>().ok()?);
    if parts[1].len() > 2 || parts[2].len() > 2 || !(1..=12).contains(&m) || d == 0 || d > days_in(y, m) {
        return None;
    }
    match time {
        None => Some(format!("{y:04}-{m:02}-{d:02}T00:00:00Z")),
        Some(t) => {
            let t = t.strip_suffix('Z')?;
            let hms: Vec<&str> = t.split(':').collect();
            if hms.len() != 3 || hms.iter().any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_digit())) {
                return None;
            }
            let (h, mi, se) = (hms[0].parse::<u32>().ok()?, hms[1].parse::<u32>().ok()?, hms[2].parse::<u32>().ok()?);
            if h > 23 || mi > 59 || se > 59 {
                return None;
            }
            Some(format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z"))
        }
    }
}

fn days_in(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_like_go_yaml_v3() {
        assert_eq!(resolve_plain("012"), json!(10));
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("yes"), json!("yes"));
        assert_eq!(resolve_plain("1_000"), json!(1000));
        assert_eq!(resolve_plain("1.50"), json!(1.5));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("2001-12-14"), json!("2001-12-14T00:00:00Z"));
        assert_eq!(resolve_plain("1:20"), json!("1:20"));
        assert_eq!(resolve_plain("08"), json!(8.0));
    }

    #[test]
    fn annotations_keep_source_text() {
        let d = parse_documents("metadata:\n  annotations:\n    a: 012\n  labels:\n    b: 012\n").unwrap();
        assert_eq!(d[0]["metadata"]["annotations"]["a"], json!("012"));
        assert_eq!(d[0]["metadata"]["labels"]["b"], json!(10));
    }
}
