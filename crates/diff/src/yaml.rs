//! A small deterministic YAML emitter for `serde_json::Value`: block style,
//! 2-space indent, keys sorted, strings quoted whenever a plain scalar would
//! read back as something else. Meant for humans reading diffs, so stable
//! output matters more than covering every YAML nicety.

use serde_json::Value;

/// Renders `value` as a YAML document (no `---`), ending in a newline.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, value, 0),
        Value::Array(a) if !a.is_empty() => write_list(&mut out, value, 0),
        // A literal block at column 0 would not parse: indent its body.
        scalar => {
            out.push_str(&inline(scalar, 2));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, value: &Value, indent: usize) {
    let Value::Object(map) = value else { return };
    // Sorted explicitly: serde_json's map order depends on a cargo feature
    // that any crate in the build can switch on.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (key, child) in entries {
        pad(out, indent);
        out.push_str(&scalar_string(key));
        out.push(':');
        write_child(out, child, indent);
    }
}

fn write_list(out: &mut String, value: &Value, indent: usize) {
    let Value::Array(items) = value else { return };
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // First entry on the dash's line, the rest aligned under it.
                let mut nested = String::new();
                write_map(&mut nested, item, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            Value::Array(a) if !a.is_empty() => {
                let mut nested = String::new();
                write_list(&mut nested, item, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// Writes what follows `key:`.
fn write_child(out: &mut String, child: &Value, indent: usize) {
    match child {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, child, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_list(out, child, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar, indent + 2));
            out.push('\n');
        }
    }
}

/// A scalar or empty collection on one line (or a literal block for
/// multi-line strings, whose body is indented by `indent`).
fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => match literal_block(s, indent) {
            Some(block) => block,
            None => scalar_string(s),
        },
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// Multi-line text as a `|` block, which is how people write ConfigMap
/// files; `None` when a block could not represent it faithfully.
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || s.chars().any(|c| c != '\n' && needs_escape(c)) {
        return None;
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    // Leading spaces on the first line would be read as indentation; a body
    // ending in more newlines would need keep-chomping: quote those instead.
    if body.starts_with(' ') || body.ends_with('\n') || body.is_empty() {
        return None;
    }
    let chomp = if s.ends_with('\n') { "|" } else { "|-" };
    let mut out = chomp.to_owned();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(&mut out, indent);
            out.push_str(line);
        }
    }
    Some(out)
}

/// A string as a plain scalar when that reads back as the same string,
/// else double-quoted.
fn scalar_string(s: &str) -> String {
    if plain_is_safe(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters YAML treats as line breaks or that a reader may mangle
/// (controls, NEL, line/paragraph separators, BOM): never written raw.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return false;
    }
    // Indicator characters that start flow, anchors, tags, comments, blocks...
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(needs_escape) {
        return false;
    }
    !looks_like_other_type(s)
}

/// Whether a YAML 1.1 or 1.2 reader might take `s` as null, bool, number or
/// timestamp (1.1 readers are still common, hence `yes`/`on`/`0o17`/`1:30`).
fn looks_like_other_type(s: &str) -> bool {
    const WORDS: &[&str] = &["null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"];
    let lower = s.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    if [".inf", ".nan"].contains(&unsigned) {
        return true;
    }
    // YAML 1.1 timestamps: 2026-11-01, 2026-11-01T10:00:00Z.
    let b = s.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return true;
    }
    let first = unsigned.chars().next();
    if !first.is_some_and(|c| c.is_ascii_digit() || c == '.') {
        return false;
    }
    // Numbers in any base, with `_` separators, floats, sexagesimal and dates
    // all consist of these characters only; quoting a few harmless strings
    // such as "1.2.3" is the price of never misquoting.
    unsigned.chars().all(|c| c.is_ascii_hexdigit() || "._:-+xo".contains(c))
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_block_style_sorted() {
        let v = json!({"kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": 3,
            "template": {"spec": {"containers": [{"name": "a", "image": "x:1", "args": ["-v", "2"]}]}}},
            "empty": {}, "none": [], "nothing": null});
        let want = "\
apiVersion: apps/v1
empty: {}
kind: Deployment
none: []
nothing: null
spec:
  replicas: 3
  template:
    spec:
      containers:
        - args:
            - \"-v\"
            - \"2\"
          image: x:1
          name: a
";
        assert_eq!(to_yaml(&v), want);
    }

    #[test]
    fn quotes_what_would_change_type() {
        for s in [
            "",
            "true",
            "Yes",
            "null",
            "~",
            "1",
            "1.5",
            "0x1F",
            "1e3",
            "1_000",
            "12:30",
            "2024-01-01",
            ".inf",
            " x",
            "a: b",
            "#c",
            "- d",
            "*e",
        ] {
            assert!(scalar_string(s).starts_with('"'), "{s:?} should be quoted");
        }
        for s in ["500m", "1Gi", "nginx:1.25", "app.kubernetes.io/name", "hello world", "IfNotPresent", "x-y"] {
            assert_eq!(scalar_string(s), s, "{s:?} should be plain");
        }
    }

    #[test]
    fn multiline_strings_use_literal_blocks() {
        let v = json!({"data": {"a.conf": "line1\nline2\n", "b": "x\ny", "c": "x\n\n"}});
        assert_eq!(to_yaml(&v), "data:\n  a.conf: |\n    line1\n    line2\n  b: |-\n    x\n    y\n  c: \"x\\n\\n\"\n");
    }

    #[test]
    fn nested_lists() {
        let v = json!([[1, 2], {"a": [3]}]);
        assert_eq!(to_yaml(&v), "- - 1\n  - 2\n- a:\n    - 3\n");
    }
}
