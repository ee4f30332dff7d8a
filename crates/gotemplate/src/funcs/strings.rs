//! Sprig's string, regex, encoding and path functions; Argo CD's `normalize` and `slugify`.

use heck::{ToKebabCase, ToSnakeCase, ToUpperCamelCase};

use super::{Entry, Ty, checked, need_int, string, string_list, strslice, strval};
use crate::exec::map_of;
use crate::value::{Heap, MAX_OUTPUT, Res, Value, fault, go_quote, too_big};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    need_int(v).unwrap_or(0)
}

const S: Ty = Ty::Str;
const I: Ty = Ty::Int;
const A: Ty = Ty::Any;

pub(crate) const ENTRIES: &[Entry] = &[
    ("trim", &[S], None, |_, a| string(s(&a[0]).trim())),
    ("trimAll", &[S, S], None, trim_all),
    ("trimall", &[S, S], None, trim_all),
    ("trimPrefix", &[S, S], None, |_, a| string(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1])))),
    ("trimSuffix", &[S, S], None, |_, a| string(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1])))),
    ("upper", &[S], None, |_, a| string(s(&a[0]).to_uppercase())),
    ("lower", &[S], None, |_, a| string(s(&a[0]).to_lowercase())),
    ("title", &[S], None, |_, a| string(title(s(&a[0])))),
    ("untitle", &[S], None, |_, a| string(untitle(s(&a[0])))),
    ("repeat", &[I, S], None, repeat),
    ("substr", &[I, I, S], None, substr),
    ("nospace", &[S], None, |_, a| string(s(&a[0]).chars().filter(|c| !c.is_whitespace()).collect::<String>())),
    ("trunc", &[I, S], None, trunc),
    ("abbrev", &[I, S], None, |_, a| string(abbrev(int(&a[0]), s(&a[1])))),
    ("abbrevboth", &[I, I, S], None, |_, a| string(abbrevboth(int(&a[0]), int(&a[1]), s(&a[2])))),
    ("initials", &[S], None, |_, a| string(s(&a[0]).split_whitespace().filter_map(|w| w.chars().next()).collect::<String>())),
    ("contains", &[S, S], None, |_, a| Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))))),
    ("hasPrefix", &[S, S], None, |_, a| Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))),
    ("hasSuffix", &[S, S], None, |_, a| Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))),
    ("quote", &[], Some(A), |h, a| {
        let parts: Vec<String> = a.iter().filter(|v| !v.is_nil()).map(|v| Ok(go_quote(&strval(h, v)?))).collect::<Res<_>>()?;
        checked(parts.join(" "))
    }),
    ("squote", &[], Some(A), |h, a| {
        let parts: Vec<String> = a.iter().filter(|v| !v.is_nil()).map(|v| Ok(format!("'{}'", strval(h, v)?))).collect::<Res<_>>()?;
        checked(parts.join(" "))
    }),
    ("cat", &[], Some(A), |h, a| {
        let parts: Vec<String> = a.iter().filter(|v| !v.is_nil()).map(|v| h.to_display(v)).collect::<Res<_>>()?;
        checked(parts.join(" "))
    }),
    ("indent", &[I, S], None, |_, a| indent(int(&a[0]), s(&a[1]), false)),
    ("nindent", &[I, S], None, |_, a| indent(int(&a[0]), s(&a[1]), true)),
    ("replace", &[S, S, S], None, |_, a| checked(s(&a[2]).replace(s(&a[0]), s(&a[1])))),
    ("plural", &[S, S, I], None, |_, a| string(if int(&a[2]) == 1 { s(&a[0]) } else { s(&a[1]) })),
    ("snakecase", &[S], None, |_, a| string(s(&a[0]).to_snake_case())),
    ("camelcase", &[S], None, |_, a| string(s(&a[0]).to_upper_camel_case())),
    ("kebabcase", &[S], None, |_, a| string(s(&a[0]).to_kebab_case())),
    ("swapcase", &[S], None, |_, a| string(swapcase(s(&a[0])))),
    ("wrap", &[I, S], None, |_, a| checked(wrap(s(&a[1]), int(&a[0]), "\n", false))),
    ("wrapWith", &[I, S, S], None, |_, a| checked(wrap(s(&a[2]), int(&a[0]), s(&a[1]), true))),
    ("splitList", &[S, S], None, |h, a| {
        let parts = go_split(s(&a[1]), s(&a[0]), -1);
        string_list(h, parts)
    }),
    ("split", &[S, S], None, |h, a| split_map(h, go_split(s(&a[1]), s(&a[0]), -1))),
    ("splitn", &[S, I, S], None, |h, a| split_map(h, go_split(s(&a[2]), s(&a[0]), int(&a[1])))),
    ("join", &[S, A], None, |h, a| checked(strslice(h, &a[1])?.join(s(&a[0])))),
    ("sortAlpha", &[A], None, |h, a| {
        let mut l = match &a[0] {
            Value::List(_) => strslice(h, &a[0])?,
            other => vec![strval(h, other)?],
        };
        l.sort();
        string_list(h, l)
    }),
    ("toString", &[A], None, |h, a| checked(strval(h, &a[0])?)),
    ("toStrings", &[A], None, |h, a| {
        let l = strslice(h, &a[0])?;
        string_list(h, l)
    }),
    ("regexMatch", &[S, S], None, |_, a| Ok(Value::Bool(regex(s(&a[0])).is_ok_and(|r| r.is_match(s(&a[1])))))),
    ("mustRegexMatch", &[S, S], None, |_, a| Ok(Value::Bool(regex(s(&a[0]))?.is_match(s(&a[1]))))),
    ("regexFind", &[S, S], None, regex_find),
    ("mustRegexFind", &[S, S], None, regex_find),
    ("regexFindAll", &[S, S, I], None, regex_find_all),
    ("mustRegexFindAll", &[S, S, I], None, regex_find_all),
    ("regexReplaceAll", &[S, S, S], None, |_, a| checked(must_regex(s(&a[0]))?.replace_all(s(&a[1]), s(&a[2])).into_owned())),
    ("mustRegexReplaceAll", &[S, S, S], None, |_, a| checked(must_regex(s(&a[0]))?.replace_all(s(&a[1]), s(&a[2])).into_owned())),
    ("regexReplaceAllLiteral", &[S, S, S], None, |_, a| {
        checked(must_regex(s(&a[0]))?.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned())
    }),
    ("mustRegexReplaceAllLiteral", &[S, S, S], None, |_, a| {
        checked(must_regex(s(&a[0]))?.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned())
    }),
    ("regexSplit", &[S, S, I], None, regex_split),
    ("mustRegexSplit", &[S, S, I], None, regex_split),
    ("regexQuoteMeta", &[S], None, |_, a| string(quote_meta(s(&a[0])))),
    ("b64enc", &[S], None, |_, a| {
        use base64::Engine;
        checked(base64::engine::general_purpose::STANDARD.encode(s(&a[0])))
    }),
    ("b64dec", &[S], None, |_, a| {
        use base64::Engine;
        string(match base64::engine::general_purpose::STANDARD.decode(s(&a[0])) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            // Sprig returns the error's text as the result.
            Err(base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _)) => {
                format!("illegal base64 data at input byte {at}")
            }
            Err(_) => format!("illegal base64 data at input byte {}", s(&a[0]).len()),
        })
    }),
    ("b32enc", &[S], None, |_, a| checked(data_encoding::BASE32.encode(s(&a[0]).as_bytes()))),
    ("b32dec", &[S], None, |_, a| {
        string(match data_encoding::BASE32.decode(s(&a[0]).as_bytes()) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("illegal base32 data at input byte {}", e.position),
        })
    }),
    ("sha1sum", &[S], None, |_, a| string(digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, s(&a[0])))),
    ("sha256sum", &[S], None, |_, a| string(digest(&ring::digest::SHA256, s(&a[0])))),
    ("sha512sum", &[S], None, |_, a| string(digest(&ring::digest::SHA512, s(&a[0])))),
    ("adler32sum", &[S], None, |_, a| {
        let mut h = adler2::Adler32::new();
        h.write_slice(s(&a[0]).as_bytes());
        string(h.checksum().to_string())
    }),
    ("base", &[S], None, |_, a| string(path_base(s(&a[0])))),
    ("dir", &[S], None, |_, a| string(path_dir(s(&a[0])))),
    ("clean", &[S], None, |_, a| string(path_clean(s(&a[0])))),
    ("ext", &[S], None, |_, a| string(path_ext(s(&a[0])))),
    ("isAbs", &[S], None, |_, a| Ok(Value::Bool(s(&a[0]).starts_with('/')))),
    ("normalize", &[S], None, |_, a| string(normalize(s(&a[0])))),
    ("slugify", &[], Some(A), slugify),
];

fn trim_all(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let cut: Vec<char> = s(&a[0]).chars().collect();
    string(s(&a[1]).trim_matches(|c| cut.contains(&c)))
}

fn repeat(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let n = int(&a[0]);
    let text = s(&a[1]);
    if n < 0 {
        return fault("strings: negative Repeat count");
    }
    if (n as u128) * (text.len() as u128) > MAX_OUTPUT as u128 {
        return Err(too_big("repeat's result"));
    }
    string(text.repeat(n as usize))
}

/// Byte offsets as Go's; a cut inside a character keeps what is valid.
fn byte_slice(text: &str, from: usize, to: usize) -> String {
    String::from_utf8_lossy(&text.as_bytes()[from..to]).into_owned()
}

fn substr(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let (start, end, text) = (int(&a[0]), int(&a[1]), s(&a[2]));
    let len = text.len() as i64;
    let (from, to) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    if from < 0 || to < 0 || from > to || to > len {
        return fault(format!("runtime error: slice bounds out of range [{from}:{to}]"));
    }
    string(byte_slice(text, from as usize, to as usize))
}

fn trunc(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let (c, text) = (int(&a[0]), s(&a[1]));
    let len = text.len() as i64;
    if c < 0 && len + c > 0 {
        return string(byte_slice(text, (len + c) as usize, text.len()));
    }
    if c >= 0 && len > c {
        return string(byte_slice(text, 0, c as usize));
    }
    string(text)
}

fn abbrev(width: i64, text: &str) -> String {
    if width < 4 || text.len() as i64 <= width {
        return text.to_string();
    }
    format!("{}...", byte_slice(text, 0, (width - 3) as usize))
}

fn abbrevboth(left: i64, right: i64, text: &str) -> String {
    if right < 4 || (left > 0 && right < 7) || text.is_empty() || text.len() as i64 <= right {
        return text.to_string();
    }
    let len = text.len() as i64;
    let mut offset = left.min(len);
    if len - offset < right - 3 {
        offset = len - (right - 3);
    }
    if offset <= 4 {
        return format!("{}...", byte_slice(text, 0, (right - 3) as usize));
    }
    if offset + right - 3 < len {
        return format!("...{}", abbrev(right - 3, &byte_slice(text, offset as usize, text.len())));
    }
    format!("...{}", byte_slice(text, (len - (right - 3)) as usize, text.len()))
}

/// Go's strings.Title: the first letter of each word upper-cased.
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_sep = true;
    for c in text.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn untitle(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_space = true;
    for c in text.chars() {
        if prev_space && c.is_alphabetic() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev_space = c.is_whitespace();
    }
    out
}

fn swapcase(text: &str) -> String {
    text.chars()
        .flat_map(|c| -> Vec<char> {
            if c.is_uppercase() {
                c.to_lowercase().collect()
            } else if c.is_lowercase() {
                c.to_uppercase().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn indent(n: i64, text: &str, newline: bool) -> Res<Value> {
    let n = n.max(0) as u128;
    let lines = text.matches('\n').count() as u128 + 1;
    if n * lines + text.len() as u128 > MAX_OUTPUT as u128 {
        return Err(too_big("indent's result"));
    }
    let pad = " ".repeat(n as usize);
    let body = format!("{pad}{}", text.replace('\n', &format!("\n{pad}")));
    string(if newline { format!("\n{body}") } else { body })
}

/// Word wrapping as Sprig's (Apache Commons' WordUtils): break at the last space within
/// the width; words longer than the width are cut when `long_words`, else kept whole.
fn wrap(text: &str, width: i64, newline: &str, long_words: bool) -> String {
    if text.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let window = &b[offset..(offset + width + 1).min(b.len())];
        if let Some(sp) = window.iter().rposition(|c| *c == b' ') {
            out.extend_from_slice(&b[offset..offset + sp]);
            out.extend_from_slice(newline.as_bytes());
            offset += sp + 1;
        } else if long_words {
            out.extend_from_slice(&b[offset..offset + width]);
            out.extend_from_slice(newline.as_bytes());
            offset += width;
        } else {
            match b[offset + width..].iter().position(|c| *c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = b.len();
                }
                Some(i) => {
                    let at = offset + width + i;
                    out.extend_from_slice(&b[offset..at]);
                    out.extend_from_slice(newline.as_bytes());
                    offset = at + 1;
                }
            }
        }
        if out.len() > MAX_OUTPUT {
            break;
        }
    }
    out.extend_from_slice(&b[offset..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's strings.SplitN (n < 0: all; n == 0: nothing; an empty separator splits characters).
fn go_split(text: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if sep.is_empty() {
        let chars: Vec<char> = text.chars().collect();
        let mut out: Vec<String> = Vec::new();
        for (i, c) in chars.iter().enumerate() {
            if out.len() + 1 == limit {
                out.push(chars[i..].iter().collect());
                return out;
            }
            out.push(c.to_string());
        }
        return out;
    }
    text.splitn(limit, sep).map(str::to_string).collect()
}

fn split_map(h: &mut Heap, parts: Vec<String>) -> Res<Value> {
    let pairs = parts.into_iter().enumerate().map(|(i, p)| (format!("_{i}"), Value::str(p))).collect();
    map_of(h, pairs)
}

/// Compiles a pattern; errors read as Go's regexp package words them where the two agree.
fn regex(pattern: &str) -> Res<regex::Regex> {
    regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().or_else(|e| {
        let text = e.to_string();
        let last = text.lines().last().unwrap_or_default().trim_start_matches("error: ");
        let reason = match last {
            "unclosed character class" => "missing closing ]",
            "unclosed group" => "missing closing )",
            "unopened group" => "unexpected )",
            "repetition operator missing expression" => "missing argument to repetition operator",
            other => other,
        };
        fault(format!("error parsing regexp: {reason}: `{pattern}`"))
    })
}

/// MustCompile's panic, as the functions that use it report it.
fn must_regex(pattern: &str) -> Res<regex::Regex> {
    regex(pattern).map_err(|e| match e {
        crate::value::Fault::Msg(m) => crate::value::Fault::Msg(format!("regexp: Compile(`{pattern}`): {m}")),
        other => other,
    })
}

fn regex_find(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let r = must_regex(s(&a[0]))?;
    string(r.find(s(&a[1])).map_or("", |m| m.as_str()))
}

fn regex_find_all(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let r = must_regex(s(&a[0]))?;
    let n = int(&a[2]);
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let found: Vec<String> = r.find_iter(s(&a[1])).take(limit).map(|m| m.as_str().to_string()).collect();
    string_list(h, found)
}

/// Go's Regexp.Split.
fn regex_split(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let r = must_regex(s(&a[0]))?;
    let (text, n) = (s(&a[1]), int(&a[2]));
    if n == 0 {
        return h.new_list(Vec::new());
    }
    if !s(&a[0]).is_empty() && text.is_empty() {
        return string_list(h, vec![String::new()]);
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in r.find_iter(text) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(text[beg..end].to_string());
        }
        beg = m.end();
    }
    if end != text.len() {
        out.push(text[beg..].to_string());
    }
    string_list(h, out)
}

/// Go's regexp.QuoteMeta.
fn quote_meta(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn digest(alg: &'static ring::digest::Algorithm, text: &str) -> String {
    ring::digest::digest(alg, text.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Go's path.Clean.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

/// Argo CD's SanitizeName: lower case, every character outside `[-a-z0-9.]` replaced by
/// `-`, cut at 253 bytes, `-` and `.` trimmed from both ends.
pub fn normalize(name: &str) -> String {
    let mut out: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' { c } else { '-' })
        .collect();
    out.truncate(253);
    out.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// Argo CD's SlugifyName: `slugify [maxSize] [smartTruncate] name` (defaults 50, true):
/// normalized, then gosimple/slug's rules (characters outside `[a-z0-9-_]` to `-`, runs of
/// `-` collapsed, `-`/`_` trimmed), cut at a word boundary when smart.
fn slugify(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let mut max = 50i64;
    let mut smart = true;
    let mut name = String::new();
    for (i, v) in a.iter().enumerate() {
        if i + 1 == a.len() {
            name = match v {
                Value::Str(s) => s.to_string(),
                other => return fault(format!("interface conversion: interface {{}} is {}, not string", other.type_name())),
            };
        } else if i == 0 {
            max = match v {
                Value::Int(n) => *n,
                other => return fault(format!("interface conversion: interface {{}} is {}, not int", other.type_name())),
            };
        } else if i == 1 {
            smart = match v {
                Value::Bool(b) => *b,
                other => return fault(format!("interface conversion: interface {{}} is {}, not bool", other.type_name())),
            };
        }
    }
    let _ = h;
    let mut slug = normalize(&name);
    if !smart && max >= 0 && slug.len() as i64 >= max {
        slug.truncate(max as usize);
    }
    let mut collapsed = String::with_capacity(slug.len());
    for c in slug.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' };
        if !(c == '-' && collapsed.ends_with('-')) {
            collapsed.push(c);
        }
    }
    let mut slug = collapsed.trim_matches(|c| c == '-' || c == '_').to_string();
    if max > 0 && smart && slug.len() as i64 > max {
        let m = max as usize;
        slug = match slug.as_bytes()[..=m].iter().rposition(|c| *c == b'-') {
            Some(i) => slug[..i].to_string(),
            None => slug[..m].to_string(),
        };
    }
    string(slug)
}
