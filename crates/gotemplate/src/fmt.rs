//! Go's fmt: `print`, `println` and `printf` over template values.

use crate::value::{Heap, MAX_NESTING, MAX_OUTPUT, Res, Value, exp_suffix, go_float, go_quote, place_point, too_big, too_deep};

/// fmt.Sprint: spaces between operands when neither is a string.
pub(crate) fn sprint(heap: &Heap, args: &[Value]) -> Res<String> {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&heap.to_display(a)?);
        check(&out)?;
    }
    Ok(out)
}

/// fmt.Sprintln: spaces always, and a newline.
pub(crate) fn sprintln(heap: &Heap, args: &[Value]) -> Res<String> {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&heap.to_display(a)?);
        check(&out)?;
    }
    out.push('\n');
    Ok(out)
}

fn check(s: &str) -> Res<()> {
    if s.len() > MAX_OUTPUT { Err(too_big("output")) } else { Ok(()) }
}

#[derive(Clone, Copy, Default)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
    verb: char,
}

/// fmt.Sprintf.
pub(crate) fn sprintf(heap: &Heap, format: &str, args: &[Value]) -> Res<String> {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        check(&out)?;
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '+' => spec.plus = true,
                '-' => spec.minus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = number_or_star(&mut chars, args, &mut next, &mut out);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number_or_star(&mut chars, args, &mut next, &mut out).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        spec.verb = verb;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let s = format_arg(heap, &spec, arg, 0)?;
        out.push_str(&s);
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("{}={}", a.type_name(), heap.to_display(a)?));
        }
        out.push(')');
    }
    check(&out)?;
    Ok(out)
}

fn number_or_star(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &[Value],
    next: &mut usize,
    out: &mut String,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let v = args.get(*next);
        *next += 1;
        return match v {
            Some(Value::Int(i)) if (0..1_000_000).contains(i) => Some(*i as usize),
            _ => {
                out.push_str("%!(BADWIDTH)");
                None
            }
        };
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        // Widths are capped so that `%999999999d` cannot exhaust memory.
        n = Some((n.unwrap_or(0) * 10 + d as usize).min(MAX_OUTPUT));
    }
    n
}

fn bad_verb(heap: &Heap, spec: &Spec, v: &Value) -> Res<String> {
    Ok(match v {
        Value::Missing | Value::Nil => format!("%!{}(<nil>)", spec.verb),
        _ => format!("%!{}({}={})", spec.verb, v.type_name(), heap.to_display(v)?),
    })
}

fn format_arg(heap: &Heap, spec: &Spec, v: &Value, depth: usize) -> Res<String> {
    if depth > MAX_NESTING {
        return Err(too_deep());
    }
    let body = match v {
        Value::Missing | Value::Nil => match spec.verb {
            'v' => "<nil>".to_string(),
            _ => return bad_verb(heap, spec, v),
        },
        Value::Bool(b) => match spec.verb {
            'v' | 't' => b.to_string(),
            _ => return bad_verb(heap, spec, v),
        },
        Value::Int(i) => match format_int(spec, *i) {
            Some(s) => return Ok(pad_number(spec, s)),
            None => return bad_verb(heap, spec, v),
        },
        Value::Float(f) => match format_float(spec, *f) {
            Some(s) => return Ok(pad_number(spec, s)),
            None => return bad_verb(heap, spec, v),
        },
        Value::Str(s) => match spec.verb {
            'v' | 's' => truncate(s, spec.prec),
            'q' => {
                if spec.sharp && !s.contains('`') {
                    format!("`{s}`")
                } else {
                    go_quote(&truncate(s, spec.prec))
                }
            }
            'x' | 'X' => {
                let mut h = String::new();
                for (i, b) in truncate(s, spec.prec).bytes().enumerate() {
                    if spec.space && i > 0 {
                        h.push(' ');
                    }
                    if spec.sharp && (spec.space || i == 0) {
                        h.push_str(if spec.verb == 'x' { "0x" } else { "0X" });
                    }
                    h.push_str(&if spec.verb == 'x' { format!("{b:02x}") } else { format!("{b:02X}") });
                }
                h
            }
            _ => return bad_verb(heap, spec, v),
        },
        Value::List(l) => {
            let mut s = String::from("[");
            for (i, x) in heap.list(*l).iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&format_arg(heap, spec, x, depth + 1)?);
                check(&s)?;
            }
            s.push(']');
            return Ok(s);
        }
        Value::Map(m) => {
            let mut s = String::from("map[");
            for (i, (k, x)) in heap.map(*m).iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&format_arg(heap, spec, &Value::str(k.as_str()), depth + 1)?);
                s.push(':');
                s.push_str(&format_arg(heap, spec, x, depth + 1)?);
                check(&s)?;
            }
            s.push(']');
            return Ok(s);
        }
    };
    Ok(pad(spec, body))
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn pad(spec: &Spec, s: String) -> String {
    let n = s.chars().count();
    match spec.width {
        Some(w) if w > n => {
            if spec.minus {
                format!("{s}{}", " ".repeat(w - n))
            } else {
                format!("{}{s}", " ".repeat(w - n))
            }
        }
        _ => s,
    }
}

/// Pads a number, with zeros after its sign for the `0` flag.
fn pad_number(spec: &Spec, s: String) -> String {
    let n = s.chars().count();
    match spec.width {
        Some(w) if w > n && spec.zero && !spec.minus && spec.verb != 'c' && spec.verb != 'q' => {
            let (sign, digits) = match s.chars().next() {
                Some(c @ ('-' | '+' | ' ')) => (c.to_string(), s[1..].to_string()),
                _ => (String::new(), s.clone()),
            };
            if digits.chars().all(|c| c.is_ascii_alphabetic()) {
                return pad(spec, s); // Inf, NaN
            }
            format!("{sign}{}{digits}", "0".repeat(w - n))
        }
        _ => pad(spec, s),
    }
}

fn sign(spec: &Spec, neg: bool) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn format_int(spec: &Spec, i: i64) -> Option<String> {
    let neg = i < 0;
    let m = i.unsigned_abs();
    let digits = match spec.verb {
        'v' | 'd' => m.to_string(),
        'b' => format!("{m:b}"),
        'o' | 'O' => format!("{m:o}"),
        'x' => format!("{m:x}"),
        'X' => format!("{m:X}"),
        'c' => return Some(char::from_u32(i as u32).unwrap_or('\u{fffd}').to_string()),
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            let q = go_quote(&c.to_string());
            return Some(format!("'{}'", &q[1..q.len() - 1].replace("\\\"", "\"").replace('\'', "\\'")));
        }
        'U' => return Some(format!("U+{:04X}", i)),
        _ => return None,
    };
    let digits = match spec.prec {
        Some(p) if p > digits.len() => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    let prefix = match (spec.sharp, spec.verb) {
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        (true, 'o') => "0",
        (_, 'O') => "0o",
        _ => "",
    };
    Some(format!("{}{prefix}{digits}", sign(spec, neg)))
}

fn format_float(spec: &Spec, f: f64) -> Option<String> {
    if !f.is_finite() {
        let s = if f.is_nan() {
            "NaN".to_string()
        } else if f > 0.0 {
            format!(
                "{}Inf",
                if spec.plus {
                    "+"
                } else if spec.space {
                    " "
                } else {
                    "+"
                }
            )
        } else {
            "-Inf".to_string()
        };
        return matches!(spec.verb, 'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G').then_some(s);
    }
    let neg = f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative());
    let a = f.abs();
    let body = match spec.verb {
        'v' | 'g' | 'G' => match spec.prec {
            None => go_float(a),
            Some(p) => g_prec(a, p.max(1)),
        },
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), a),
        'e' | 'E' => e_prec(a, spec.prec.unwrap_or(6)),
        _ => return None,
    };
    let body = if spec.verb == 'E' || spec.verb == 'G' { body.to_uppercase() } else { body };
    Some(format!("{}{body}", sign(spec, neg)))
}

/// `%.Ne`.
fn e_prec(a: f64, p: usize) -> String {
    let s = format!("{:.*e}", p, a);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    format!("{m}{}", exp_suffix(e.parse().unwrap_or(0)))
}

/// `%.Ng`: N significant digits, trailing zeros dropped, exponent form as Go decides.
fn g_prec(a: f64, p: usize) -> String {
    if a == 0.0 {
        return "0".into();
    }
    let s = format!("{:.*e}", p - 1, a);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let digits = m.replace('.', "");
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nd = digits.len() as i32;
    let mut eprec = p as i32;
    if eprec > nd && nd > exp {
        eprec = nd;
    }
    if exp < -4 || exp >= eprec {
        let mut r = digits[..1].to_string();
        if digits.len() > 1 {
            r.push('.');
            r.push_str(&digits[1..]);
        }
        r + &exp_suffix(exp)
    } else {
        place_point(digits, exp)
    }
}
