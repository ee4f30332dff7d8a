//! The lexer: Go's text/template items, from text and `{{ }}` actions.

use crate::Error;

/// One item of the template text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    /// `{{` (after its trim marker, if any).
    Open,
    /// `}}`.
    Close,
    Space,
    Ident(String),
    /// `.name` (the name without the dot).
    Field(String),
    /// `$name` or `$`.
    Var(String),
    Dot,
    Str(String),
    Number(String),
    Char(String),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Keyword(&'static str),
}

/// A token and the byte offset where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub tok: Tok,
    pub pos: usize,
}

const KEYWORDS: [&str; 10] = ["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"];

/// The line (1-based) of a byte offset, as Go counts it.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    1 + text.as_bytes()[..pos.min(text.len())].iter().filter(|b| **b == b'\n').count()
}

fn err(text: &str, pos: usize, reason: impl Into<String>) -> Error {
    Error::Parse { line: line_of(text, pos), col: pos - text[..pos].rfind('\n').map_or(0, |i| i + 1), reason: reason.into() }
}

/// Splits `text` into items. Trim markers are applied here, as Go's lexer does.
pub(crate) fn lex(text: &str) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        // Text up to the next action.
        let start = i;
        let open = text[i..].find("{{").map(|o| o + i);
        let end = open.unwrap_or(text.len());
        let mut chunk = &text[start..end];
        let trim_left = open.is_some_and(|o| b.get(o + 2) == Some(&b'-') && b.get(o + 3).is_some_and(|c| is_space(*c)));
        if trim_left {
            chunk = chunk.trim_end_matches(is_space_char);
        }
        if !chunk.is_empty() {
            items.push(Item { tok: Tok::Text(chunk.to_string()), pos: start });
        }
        let Some(open) = open else { break };
        let mut j = open + 2;
        if trim_left {
            j += 2;
        }
        // A comment is the whole action.
        let after_space = skip_space(b, j, trim_left);
        if text[after_space..].starts_with("/*") {
            let Some(close) = text[after_space + 2..].find("*/") else {
                return Err(err(text, open, "unclosed comment"));
            };
            let mut k = after_space + 2 + close + 2;
            let (trim_right, close_at) = right_delim(text, k);
            let Some(close_at) = close_at else {
                return Err(err(text, open, "comment ends before closing delimiter"));
            };
            k = close_at + 2;
            if trim_right {
                k = skip_space(b, k, true);
            }
            i = k;
            continue;
        }
        items.push(Item { tok: Tok::Open, pos: open });
        i = lex_action(text, j, &mut items)?;
    }
    Ok(items)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn skip_space(b: &[u8], mut i: usize, yes: bool) -> usize {
    if yes {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
    }
    i
}

/// At `i` (after optional spaces): ` -}}` or `}}`. Returns (trim, index of `}}`).
fn right_delim(text: &str, i: usize) -> (bool, Option<usize>) {
    let b = text.as_bytes();
    let j = skip_space(b, i, true);
    if j > i && text[j..].starts_with("-}}") {
        return (true, Some(j + 1));
    }
    if text[i..].starts_with("}}") {
        return (false, Some(i));
    }
    (false, None)
}

/// Lexes one action from `i` (after `{{` and its trim marker); returns where text resumes.
fn lex_action(text: &str, mut i: usize, items: &mut Vec<Item>) -> Result<usize, Error> {
    let b = text.as_bytes();
    let mut parens = 0i32;
    loop {
        if i >= b.len() {
            return Err(err(text, i, "unclosed action"));
        }
        let c = b[i];
        // The end of the action, with or without a trim marker.
        if is_space(c) {
            let (trim, close) = right_delim(text, i);
            if trim {
                let close = close.unwrap_or(i);
                items.push(Item { tok: Tok::Close, pos: close });
                return Ok(skip_space(b, close + 2, true));
            }
            let j = skip_space(b, i, true);
            items.push(Item { tok: Tok::Space, pos: i });
            i = j;
            continue;
        }
        if text[i..].starts_with("}}") {
            if parens > 0 {
                return Err(err(text, i, "unclosed left paren"));
            }
            items.push(Item { tok: Tok::Close, pos: i });
            return Ok(i + 2);
        }
        let start = i;
        let tok = match c {
            b'(' => {
                parens += 1;
                i += 1;
                Tok::LParen
            }
            b')' => {
                parens -= 1;
                if parens < 0 {
                    return Err(err(text, i, "unexpected right paren"));
                }
                i += 1;
                Tok::RParen
            }
            b'|' | b',' | b'=' => {
                i += 1;
                match c {
                    b'|' => Tok::Pipe,
                    b',' => Tok::Comma,
                    _ => Tok::Assign,
                }
            }
            b':' => {
                if b.get(i + 1) != Some(&b'=') {
                    return Err(err(text, i, "expected :="));
                }
                i += 2;
                Tok::Declare
            }
            b'"' => {
                i = scan_quoted(text, i, "unterminated quoted string")?;
                let raw = text.get(start..i).ok_or_else(|| err(text, start, "bad string"))?;
                Tok::Str(unquote(raw).ok_or_else(|| err(text, start, format!("invalid syntax: {raw}")))?)
            }
            b'`' => {
                let Some(close) = text[i + 1..].find('`') else {
                    return Err(err(text, start, "unterminated raw quoted string"));
                };
                i = i + 1 + close + 1;
                Tok::Str(text[start + 1..i - 1].to_string())
            }
            b'\'' => {
                i = scan_quoted(text, i, "unterminated character constant")?;
                Tok::Char(text.get(start..i).ok_or_else(|| err(text, start, "bad character"))?.to_string())
            }
            b'$' => {
                i += 1;
                while i < b.len() && is_alnum(text, i) {
                    i += char_len(text, i);
                }
                Tok::Var(text[start..i].to_string())
            }
            b'.' => {
                // `.5` is a number; `.name` a field; `.` alone the cursor.
                if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    i = scan_number(b, i);
                    Tok::Number(text[start..i].to_string())
                } else {
                    i += 1;
                    while i < b.len() && is_alnum(text, i) {
                        i += char_len(text, i);
                    }
                    if i == start + 1 { Tok::Dot } else { Tok::Field(text[start + 1..i].to_string()) }
                }
            }
            b'+' | b'-' | b'0'..=b'9' => {
                i = scan_number(b, i);
                // A number must not run into letters (`3x`).
                if i < b.len() && is_alnum(text, i) {
                    let mut k = i;
                    while k < b.len() && is_alnum(text, k) {
                        k += char_len(text, k);
                    }
                    return Err(err(text, start, format!("bad number syntax: \"{}\"", &text[start..k])));
                }
                if i == start + 1 && !c.is_ascii_digit() {
                    return Err(err(text, start, format!("bad number syntax: \"{}\"", c as char)));
                }
                Tok::Number(text[start..i].to_string())
            }
            _ if is_alnum(text, i) => {
                while i < b.len() && is_alnum(text, i) {
                    i += char_len(text, i);
                }
                let word = &text[start..i];
                match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    w => match KEYWORDS.iter().find(|k| **k == w) {
                        Some(k) => Tok::Keyword(k),
                        None => Tok::Ident(w.to_string()),
                    },
                }
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(err(text, i, format!("unexpected {ch:?} in command")));
            }
        };
        items.push(Item { tok, pos: start });
    }
}

/// The end (past the closing quote) of the quoted literal starting at `start`, whose
/// opening quote closes it; backslashes escape.
fn scan_quoted(text: &str, start: usize, unterminated: &str) -> Result<usize, Error> {
    let b = text.as_bytes();
    let quote = b[start];
    let mut i = start + 1;
    loop {
        match b.get(i) {
            None | Some(b'\n') => return Err(err(text, start, unterminated)),
            Some(b'\\') => i += 2,
            Some(c) if *c == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
}

fn char_len(text: &str, i: usize) -> usize {
    text[i..].chars().next().map_or(1, char::len_utf8)
}

fn is_alnum(text: &str, i: usize) -> bool {
    text[i..].chars().next().is_some_and(|c| c == '_' || c.is_alphanumeric())
}

/// Scans a Go number literal loosely (sign, prefixes, digits, `_`, `.`, exponents);
/// `parse_number` judges it.
fn scan_number(b: &[u8], mut i: usize) -> usize {
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let hex = b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X'));
    if hex {
        i += 2;
    }
    while let Some(&c) = b.get(i) {
        let exp = if hex { matches!(c, b'p' | b'P') } else { matches!(c, b'e' | b'E') };
        if exp && matches!(b.get(i + 1), Some(b'+' | b'-')) {
            i += 2;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Go's strconv.Unquote for a double-quoted string.
pub(crate) fn unquote(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => return None,
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&hex, 16).ok()?;
                if e == 'x' {
                    // A byte; only ASCII keeps the string valid UTF-8 here.
                    out.push(char::from_u32(v).filter(char::is_ascii).unwrap_or('\u{fffd}'));
                } else {
                    out.push(char::from_u32(v)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push(char::from_u32(v).filter(char::is_ascii).unwrap_or('\u{fffd}'));
            }
            _ => return None,
        }
    }
    Some(out)
}
