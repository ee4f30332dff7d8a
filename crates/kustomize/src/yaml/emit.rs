//! YAML emitter reproducing kustomize's output byte for byte.
//!
//! kustomize serialises each resource to JSON and then through
//! `sigs.k8s.io/yaml.JSONToYAML`, i.e. go-yaml v2 (a libyaml port): keys are
//! sorted with go-yaml's "natural" order, strings are quoted when go-yaml v2
//! (YAML 1.1) would read them back as something else, long plain strings are
//! folded at 80 columns, and multi-line strings become literal blocks.

use std::cmp::Ordering;

use serde_json::{Map, Value};

pub use super::number::{format_number, go_format_g, go_json_float};
use super::style::{Style, choose_style, is_break, is_printable};

const BEST_WIDTH: usize = 80;

/// Emits one document (no `---`), ending with a newline.
pub fn to_yaml(v: &Value) -> String {
    let mut e = Emitter { out: String::new(), column: 0 };
    match v {
        Value::Object(m) if !m.is_empty() => e.mapping(m, 0, false),
        Value::Array(a) if !a.is_empty() => e.sequence(a, 0, false),
        other => {
            e.scalar_or_empty(other, 0, false);
            e.newline();
        }
    }
    e.out
}

struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn indent(&mut self, n: usize) {
        if self.column > 0 {
            self.newline();
        }
        for _ in 0..n {
            self.out.push(' ');
        }
        self.column = n;
    }

    /// Block mapping whose keys sit at `indent`. When `inline` the first key
    /// continues the current line (after `- `).
    fn mapping(&mut self, m: &Map<String, Value>, indent: usize, inline: bool) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort_by(|a, b| natural_cmp(a, b));
        for (i, k) in keys.into_iter().enumerate() {
            if !(i == 0 && inline) {
                self.indent(indent);
            }
            let v = &m[k];
            // libyaml only writes single-line keys up to 128 bytes as simple
            // keys; others use the explicit `? key` form.
            if k.len() > 128 || k.contains(is_break) {
                self.write("? ");
                self.string(k, indent + 2, false);
                self.indent(indent);
                self.write(": ");
                match v {
                    Value::Object(c) if !c.is_empty() => self.mapping(c, indent + 2, true),
                    Value::Array(c) if !c.is_empty() => self.sequence(c, indent + 2, true),
                    other => self.scalar_or_empty(other, indent + 2, false),
                }
                continue;
            }
            self.string(k, indent + 2, true);
            self.write(":");
            match v {
                Value::Object(c) if !c.is_empty() => self.mapping(c, indent + 2, false),
                Value::Array(c) if !c.is_empty() => self.sequence(c, indent, false),
                other => {
                    self.write(" ");
                    self.scalar_or_empty(other, indent + 2, false);
                }
            }
        }
        self.newline_if_needed();
    }

    /// Block sequence with `- ` at `indent`; with `inline` the first item
    /// continues the current line (`- - a`, `: - a`).
    fn sequence(&mut self, a: &[Value], indent: usize, inline: bool) {
        for (i, v) in a.iter().enumerate() {
            if !(i == 0 && inline) {
                self.indent(indent);
            }
            self.write("- ");
            match v {
                Value::Object(c) if !c.is_empty() => self.mapping(c, indent + 2, true),
                Value::Array(c) if !c.is_empty() => self.sequence(c, indent + 2, true),
                other => self.scalar_or_empty(other, indent + 2, false),
            }
        }
        self.newline_if_needed();
    }

    fn newline_if_needed(&mut self) {
        if self.column > 0 {
            self.newline();
        }
    }

    fn scalar_or_empty(&mut self, v: &Value, indent: usize, key: bool) {
        match v {
            Value::Null => self.write("null"),
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let s = format_number(n);
                self.write(&s);
            }
            Value::String(s) => self.string(s, indent, key),
            Value::Array(_) => self.write("[]"),
            Value::Object(_) => self.write("{}"),
        }
    }

    fn string(&mut self, s: &str, indent: usize, simple_key: bool) {
        let folded;
        let s = if s.contains('\u{85}') {
            folded = fold_nel(s);
            folded.as_str()
        } else {
            s
        };
        match choose_style(s, simple_key) {
            Style::Plain => self.write_plain(s, indent, !simple_key),
            Style::Single => self.write_single(s, indent, !simple_key),
            Style::Double => self.write_double(s, indent, !simple_key),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.indent(indent);
                } else {
                    self.write_char(c);
                }
                spaces = true;
            } else {
                self.write_char(c);
                spaces = false;
            }
        }
    }

    fn write_single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.write("'");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != chars.len() - 1 && !next_space {
                    self.indent(indent);
                } else {
                    self.write_char(c);
                }
                spaces = true;
            } else if c == '\u{2028}' || c == '\u{2029}' {
                // libyaml writes the separator raw, as a line break.
                self.out.push(c);
                self.column = 0;
                breaks = true;
            } else {
                if breaks {
                    self.indent(indent);
                    breaks = false;
                }
                if c == '\'' {
                    self.write_char('\'');
                }
                self.write_char(c);
                spaces = false;
            }
        }
        self.write("'");
    }

    fn write_double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.write("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        // go-yaml v2 bug: its BOM test looks at the start of the string, not
        // at the current character, so a string that starts with a BOM has
        // every character escaped.
        let leading_bom = s.starts_with('\u{FEFF}');
        for (i, &c) in chars.iter().enumerate() {
            if leading_bom || !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                let esc = match c {
                    '\0' => "\\0".to_string(),
                    '\u{7}' => "\\a".into(),
                    '\u{8}' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\u{B}' => "\\v".into(),
                    '\u{C}' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\u{1B}' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{A0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.write(&esc);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != chars.len() - 1 {
                    self.indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.write("\\");
                    }
                } else {
                    self.write_char(c);
                }
                spaces = true;
            } else {
                self.write_char(c);
                spaces = false;
            }
        }
        self.write("\"");
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.write("|");
        // libyaml's header: an indentation indicator when the text starts
        // with a space or any line break; chomping from the last two chars.
        let first = s.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.write("2");
        }
        let mut rev = s.chars().rev();
        let (last, before) = (rev.next(), rev.next());
        let chomp = match (last, before) {
            (Some(l), _) if !is_break(l) => "-",
            (Some(_), None) => "+",
            (Some(_), Some(b)) if is_break(b) => "+",
            (Some(_), Some(_)) => "",
            (None, _) => "-",
        };
        self.write(chomp);
        // Every break in the value is a line break; non-empty lines are indented.
        self.newline();
        let mut at_line_start = true;
        for c in s.chars() {
            if c == '\n' {
                self.newline();
                at_line_start = true;
            } else if c == '\u{2028}' || c == '\u{2029}' {
                // libyaml writes these separators as themselves but treats
                // them as line breaks (indentation follows).
                self.out.push(c);
                self.column = 0;
                at_line_start = true;
            } else {
                if at_line_start {
                    self.indent(indent);
                    at_line_start = false;
                }
                self.write_char(c);
            }
        }
    }

    fn write_char(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }
}

/// go-yaml v2 `keyList.Less`: letters sort after non-letters and digit runs
/// compare numerically.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if natural_less(a, b) {
        Ordering::Less
    } else if natural_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn natural_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// kustomize's JSON → YAML step leaves U+0085 (NEL) unescaped in JSON, and
/// go-yaml then reads it as a line break inside a double-quoted scalar and
/// folds it: blanks around breaks are dropped, a single break becomes a
/// space, n breaks become n-1 newlines.
pub fn fold_nel(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\u{85}' {
            // Only raw spaces count as blanks: JSON escapes tabs.
            while out.ends_with(' ') {
                out.pop();
            }
            let mut n = 0;
            while i < chars.len() && matches!(chars[i], '\u{85}' | ' ') {
                if chars[i] == '\u{85}' {
                    n += 1;
                }
                i += 1;
            }
            if n == 1 {
                out.push(' ');
            } else {
                for _ in 1..n {
                    out.push('\n');
                }
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Number, json};

    fn y(v: Value) -> String {
        to_yaml(&json!({ "k": v }))
    }

    #[test]
    fn quoting_follows_go_yaml_v2() {
        assert_eq!(y(json!("yes")), "k: \"yes\"\n");
        assert_eq!(y(json!("123")), "k: \"123\"\n");
        assert_eq!(y(json!("1:20")), "k: \"1:20\"\n");
        assert_eq!(y(json!("a: b")), "k: 'a: b'\n");
        assert_eq!(y(json!("-")), "k: '-'\n");
        assert_eq!(y(json!("--x")), "k: --x\n");
        assert_eq!(y(json!("")), "k: \"\"\n");
        assert_eq!(y(json!("a\tb")), "k: \"a\\tb\"\n");
        assert_eq!(y(json!("it's")), "k: it's\n");
        assert_eq!(y(json!("'x")), "k: '''x'\n");
        assert_eq!(to_yaml(&json!({"n": 1})), "\"n\": 1\n");
    }

    #[test]
    fn block_scalars() {
        assert_eq!(y(json!("a\nb")), "k: |-\n  a\n  b\n");
        assert_eq!(y(json!("a\nb\n")), "k: |\n  a\n  b\n");
        assert_eq!(y(json!("a\n\n")), "k: |+\n  a\n\n");
        assert_eq!(y(json!(" a\nb")), "k: |2-\n   a\n  b\n");
        assert_eq!(y(json!("a \nb")), "k: \"a \\nb\"\n");
    }

    #[test]
    fn numbers() {
        assert_eq!(format_number(&Number::from_f64(1.5).unwrap()), "1.5");
        assert_eq!(format_number(&Number::from_f64(1e20).unwrap()), "1e+20");
        assert_eq!(format_number(&Number::from_f64(1e21).unwrap()), "1e+21");
        assert_eq!(format_number(&Number::from_f64(1e-7).unwrap()), "1e-07");
        assert_eq!(format_number(&Number::from_f64(123456789.123).unwrap()), "1.23456789123e+08");
        assert_eq!(go_json_float(1e-7), "1e-7");
    }

    #[test]
    fn natural_key_order() {
        assert_eq!(natural_cmp("a9", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a_b", "aB"), Ordering::Less);
        assert_eq!(natural_cmp("app", "app.kubernetes.io/name"), Ordering::Less);
    }

    #[test]
    fn layout() {
        let v = json!({"b": [1, {"x": 1, "y": [2]}], "a": {"c": {}}, "d": [[1, 2]]});
        assert_eq!(to_yaml(&v), "a:\n  c: {}\nb:\n- 1\n- x: 1\n  \"y\":\n  - 2\nd:\n- - 1\n  - 2\n");
    }
}
