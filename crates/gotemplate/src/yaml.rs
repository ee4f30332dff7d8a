//! YAML for `toYaml`/`fromYaml`: the output follows what Argo CD's sigs.k8s.io/yaml (go-yaml
//! v2) writes (sorted keys, block style, lists not indented under their key, strings quoted
//! only when they would read back as something else, multi-line strings as literal blocks).

use serde_json::Value;

use crate::value::go_float;

pub(crate) fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(m, 0, false, &mut out),
        Value::Array(l) if !l.is_empty() => list(l, 0, false, &mut out),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

pub(crate) fn from_yaml(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| format!("error converting YAML to JSON: {e}"))
}

fn pad(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn map(m: &serde_json::Map<String, Value>, indent: usize, inline_first: bool, out: &mut String) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 || !inline_first {
            pad(indent, out);
        }
        out.push_str(&string(k, indent));
        out.push(':');
        after_key(&m[k], indent, out);
    }
}

fn after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(m, indent + 2, false, out);
        }
        Value::Array(l) if !l.is_empty() => {
            out.push('\n');
            list(l, indent, false, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent));
            out.push('\n');
        }
    }
}

fn list(l: &[Value], indent: usize, inline_first: bool, out: &mut String) {
    for (i, v) in l.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(indent, out);
        }
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => map(m, indent + 2, true, out),
            Value::Array(l) if !l.is_empty() => list(l, indent + 2, true, out),
            other => {
                out.push_str(&scalar(other, indent));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => string(s, indent),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Would a plain scalar read back as something other than this string (YAML 1.1 as go-yaml
/// v2 resolves it)?
fn resolves_to_other(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y", "yes", "Yes", "YES", "n", "N", "no",
        "No", "NO", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", ".nan", ".NaN",
        ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let t = s.replace('_', "");
    let t = t.strip_prefix(['-', '+']).unwrap_or(&t);
    if t.is_empty() {
        return false;
    }
    let lower = t.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        return !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(b) = lower.strip_prefix("0b") {
        return !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1');
    }
    if t.bytes().all(|c| c.is_ascii_digit()) {
        return true;
    }
    // Floats: digits with one dot and an optional exponent.
    let (mant, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let mant_ok = mant.bytes().filter(|c| *c == b'.').count() <= 1
        && mant.bytes().any(|c| c.is_ascii_digit())
        && mant.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok && (mant.contains('.') || exp.is_some())
}

fn needs_quotes(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    let second = s.chars().nth(1);
    s.starts_with(' ')
        || s.ends_with(' ')
        || "[]{},#&*!|>'\"%@`".contains(first)
        || ("-?:".contains(first) && second.is_none_or(|c| c == ' '))
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
}

fn double_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn string(s: &str, indent: usize) -> String {
    if resolves_to_other(s) {
        return double_quoted(s);
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return double_quoted(s);
    }
    if s.contains('\n') {
        // Literal block, unless lines would lose spaces.
        if s.starts_with(' ') || s.split('\n').any(|l| l.ends_with(' ')) {
            return double_quoted(s);
        }
        let body = s.trim_end_matches('\n');
        let chomp = match s.len() - body.len() {
            0 => "-",
            1 => "",
            _ => "+",
        };
        let mut out = format!("|{chomp}");
        let lines: Vec<&str> = if chomp == "+" { s[..s.len() - 1].split('\n').collect() } else { body.split('\n').collect() };
        for line in lines {
            out.push('\n');
            if !line.is_empty() {
                pad(indent + 2, &mut out);
                out.push_str(line);
            }
        }
        return out;
    }
    if needs_quotes(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}
