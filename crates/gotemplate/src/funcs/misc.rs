//! Sprig's defaults, conversions, math, JSON/YAML, reflection, URL, semver, date and random
//! functions.

use super::{Entry, Ty, checked, string, to_f64, to_i64};
use crate::exec::map_of;
#[cfg(test)]
use crate::value::go_float;
use crate::value::{Heap, Res, Value, fault};

const A: Ty = Ty::Any;
const S: Ty = Ty::Str;
const I: Ty = Ty::Int;

pub(crate) const ENTRIES: &[Entry] = &[
    ("hello", &[], None, |_, _| string("Hello!")),
    ("default", &[A], Some(A), |h, a| {
        Ok(match a.get(1) {
            Some(g) if !empty(h, g) => g.clone(),
            _ => a[0].clone(),
        })
    }),
    ("empty", &[A], None, |h, a| Ok(Value::Bool(empty(h, &a[0])))),
    ("coalesce", &[], Some(A), |h, a| Ok(a.iter().find(|v| !empty(h, v)).cloned().unwrap_or(Value::Nil))),
    ("all", &[], Some(A), |h, a| Ok(Value::Bool(a.iter().all(|v| !empty(h, v))))),
    ("any", &[], Some(A), |h, a| Ok(Value::Bool(a.iter().any(|v| !empty(h, v))))),
    ("ternary", &[A, A, Ty::Bool], None, |_, a| Ok(if matches!(a[2], Value::Bool(true)) { a[0].clone() } else { a[1].clone() })),
    ("fail", &[S], None, |_, a| fault(a[0].as_str().unwrap_or_default().to_string())),
    ("atoi", &[S], None, |_, a| Ok(Value::Int(a[0].as_str().unwrap_or_default().parse().unwrap_or(0)))),
    ("int", &[A], None, |_, a| Ok(Value::Int(to_i64(&a[0])))),
    ("int64", &[A], None, |_, a| Ok(Value::Int(to_i64(&a[0])))),
    ("float64", &[A], None, |_, a| Ok(Value::Float(to_f64(&a[0])))),
    ("toDecimal", &[A], None, |h, a| Ok(Value::Int(i64::from_str_radix(&h.to_display(&a[0])?, 8).unwrap_or(0)))),
    ("add1", &[A], None, |_, a| Ok(Value::Int(to_i64(&a[0]).wrapping_add(1)))),
    ("add", &[], Some(A), |_, a| Ok(Value::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add)))),
    ("sub", &[A, A], None, |_, a| Ok(Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))),
    ("mul", &[A], Some(A), |_, a| Ok(Value::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)))),
    ("div", &[A, A], None, |_, a| int_div(to_i64(&a[0]), to_i64(&a[1]), false)),
    ("mod", &[A, A], None, |_, a| int_div(to_i64(&a[0]), to_i64(&a[1]), true)),
    ("max", &[A], Some(A), |_, a| Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0)))),
    ("biggest", &[A], Some(A), |_, a| Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0)))),
    ("min", &[A], Some(A), |_, a| Ok(Value::Int(a.iter().map(to_i64).min().unwrap_or(0)))),
    ("floor", &[A], None, |_, a| Ok(Value::Float(to_f64(&a[0]).floor()))),
    ("ceil", &[A], None, |_, a| Ok(Value::Float(to_f64(&a[0]).ceil()))),
    ("round", &[A, I], Some(Ty::Float), round),
    ("addf", &[], Some(A), |_, a| Ok(Value::Float(decimal_fold(0.0, a, Op::Add)))),
    ("add1f", &[A], None, |_, a| Ok(Value::Float(decimal_fold(to_f64(&a[0]), &[Value::Int(1)], Op::Add)))),
    ("subf", &[A], Some(A), |_, a| Ok(Value::Float(decimal_fold(to_f64(&a[0]), &a[1..], Op::Sub)))),
    ("mulf", &[A], Some(A), |_, a| Ok(Value::Float(decimal_fold(to_f64(&a[0]), &a[1..], Op::Mul)))),
    ("divf", &[A], Some(A), divf),
    ("maxf", &[A], Some(A), |_, a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max)))),
    ("minf", &[A], Some(A), |_, a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::INFINITY, f64::min)))),
    ("toJson", &[A], None, |h, a| string(to_json(h, &a[0], false, true).unwrap_or_default())),
    ("toPrettyJson", &[A], None, |h, a| string(to_json(h, &a[0], true, true).unwrap_or_default())),
    ("toRawJson", &[A], None, |h, a| string(to_json(h, &a[0], false, false).unwrap_or_default())),
    ("mustToJson", &[A], None, |h, a| string(to_json(h, &a[0], false, true)?)),
    ("mustToPrettyJson", &[A], None, |h, a| string(to_json(h, &a[0], true, true)?)),
    ("mustToRawJson", &[A], None, |h, a| string(to_json(h, &a[0], false, false)?)),
    ("fromJson", &[S], None, |h, a| Ok(parse_json(h, a[0].as_str().unwrap_or_default()).unwrap_or(Value::Nil))),
    ("mustFromJson", &[S], None, |h, a| parse_json(h, a[0].as_str().unwrap_or_default())),
    ("toYaml", &[A], None, |h, a| {
        // Argo CD's toYaml gives "" when the value cannot be encoded.
        let Ok(json) = h.to_json(&a[0], 0) else { return string("") };
        checked(crate::yaml::to_yaml(&json).trim_end_matches('\n').to_string())
    }),
    ("fromYaml", &[S], None, |h, a| match crate::yaml::from_yaml(a[0].as_str().unwrap_or_default()) {
        Ok(serde_json::Value::Object(o)) => h.import_json(&serde_json::Value::Object(o), 0),
        Ok(serde_json::Value::Null) => map_of(h, Vec::new()),
        Ok(other) => {
            let e = format!(
                "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            );
            map_of(h, vec![("Error".into(), Value::str(e))])
        }
        Err(e) => map_of(h, vec![("Error".into(), Value::str(e))]),
    }),
    ("fromYamlArray", &[S], None, |h, a| match crate::yaml::from_yaml(a[0].as_str().unwrap_or_default()) {
        Ok(v @ serde_json::Value::Array(_)) => h.import_json(&v, 0),
        Ok(serde_json::Value::Null) => Ok(Value::Nil),
        Ok(other) => {
            let e = format!("error unmarshaling JSON: json: cannot unmarshal {} into Go value of type []interface {{}}", json_kind(&other));
            let l = vec![Value::str(e)];
            h.new_list(l)
        }
        Err(e) => {
            let l = vec![Value::str(e)];
            h.new_list(l)
        }
    }),
    ("typeOf", &[A], None, |_, a| string(a[0].type_name())),
    ("typeIs", &[S, A], None, |_, a| Ok(Value::Bool(a[0].as_str() == Some(a[1].type_name())))),
    ("typeIsLike", &[S, A], None, |_, a| {
        let t = a[1].type_name();
        let want = a[0].as_str().unwrap_or_default();
        Ok(Value::Bool(want == t || want == format!("*{t}")))
    }),
    ("kindOf", &[A], None, |_, a| string(a[0].kind_name())),
    ("kindIs", &[S, A], None, |_, a| Ok(Value::Bool(a[0].as_str() == Some(a[1].kind_name())))),
    ("deepEqual", &[A, A], None, |h, a| Ok(Value::Bool(h.deep_equal(&a[0], &a[1], 0)))),
    ("uuidv4", &[], None, |_, _| string(uuidv4()?)),
    ("randAlphaNum", &[I], None, |_, a| rand_string(&a[0], b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")),
    ("randAlpha", &[I], None, |_, a| rand_string(&a[0], b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")),
    ("randNumeric", &[I], None, |_, a| rand_string(&a[0], b"0123456789")),
    ("randAscii", &[I], None, |_, a| {
        let printable: Vec<u8> = (32u8..=126).collect();
        rand_string(&a[0], &printable)
    }),
    ("urlParse", &[S], None, url_parse),
    ("urlJoin", &[Ty::Map], None, url_join),
    ("semver", &[S], None, |h, a| {
        let v = crate::semver::Version::parse(a[0].as_str().unwrap_or_default()).or_else(fault)?;
        let pairs = vec![
            ("Major".to_string(), Value::Int(v.major as i64)),
            ("Minor".to_string(), Value::Int(v.minor as i64)),
            ("Patch".to_string(), Value::Int(v.patch as i64)),
            ("Prerelease".to_string(), Value::str(v.pre.as_str())),
            ("Metadata".to_string(), Value::str(v.meta.as_str())),
            ("Original".to_string(), Value::str(v.original.as_str())),
        ];
        map_of(h, pairs)
    }),
    ("semverCompare", &[S, S], None, |_, a| {
        let ok = crate::semver::compare(a[0].as_str().unwrap_or_default(), a[1].as_str().unwrap_or_default()).or_else(fault)?;
        Ok(Value::Bool(ok))
    }),
    ("now", &[], None, |_, _| Ok(Value::Int(jiff::Timestamp::now().as_second()))),
    ("unixEpoch", &[A], None, |_, a| string(crate::date::seconds(&a[0]).to_string())),
    ("date", &[S, A], None, |_, a| string(crate::date::format(a[0].as_str().unwrap_or_default(), &a[1], "Local")?)),
    ("dateInZone", &[S, A, S], None, |_, a| {
        string(crate::date::format(a[0].as_str().unwrap_or_default(), &a[1], a[2].as_str().unwrap_or_default())?)
    }),
    ("date_in_zone", &[S, A, S], None, |_, a| {
        string(crate::date::format(a[0].as_str().unwrap_or_default(), &a[1], a[2].as_str().unwrap_or_default())?)
    }),
    ("htmlDate", &[A], None, |_, a| string(crate::date::format("2006-01-02", &a[0], "Local")?)),
    ("htmlDateInZone", &[A, S], None, |_, a| string(crate::date::format("2006-01-02", &a[0], a[1].as_str().unwrap_or_default())?)),
    ("duration", &[A], None, |_, a| string(crate::date::go_duration(to_i64(&a[0]).saturating_mul(1_000_000_000)))),
    ("ago", &[A], None, |_, a| {
        let secs = jiff::Timestamp::now().as_second() - crate::date::seconds(&a[0]);
        string(crate::date::go_duration(secs.saturating_mul(1_000_000_000)))
    }),
];

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
    }
}

/// Sprig's empty: nil, false, 0, "", and empty lists and maps.
pub(crate) fn empty(h: &Heap, v: &Value) -> bool {
    !h.truth(v)
}

fn int_div(a: i64, b: i64, rem: bool) -> Res<Value> {
    if b == 0 {
        return fault("runtime error: integer divide by zero");
    }
    Ok(Value::Int(if rem { a.wrapping_rem(b) } else { a.wrapping_div(b) }))
}

fn round(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let round_on = a.get(2).map_or(0.5, to_f64);
    let val = to_f64(&a[0]);
    let pow = 10f64.powf(to_f64(&a[1]));
    let digit = pow * val;
    let r = if digit.fract() >= round_on { digit.ceil() } else { digit.floor() };
    Ok(Value::Float(r / pow))
}

/// The shortest decimal form of a float as an exact (mantissa, scale) pair, when it fits.
fn decimal(f: f64) -> Option<(i128, u32)> {
    if !f.is_finite() {
        return None;
    }
    let s = format!("{f}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.len() > 30 || int.len() > 30 {
        return None;
    }
    Some((format!("{int}{frac}").parse().ok()?, frac.len() as u32))
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
}

/// `a op b` exactly on the shortest decimal forms, if they fit an i128.
fn exact(a: f64, b: f64, op: Op) -> Option<f64> {
    let (ma, sa) = decimal(a)?;
    let (mb, sb) = decimal(b)?;
    let (m, s) = match op {
        Op::Mul => (ma.checked_mul(mb)?, sa + sb),
        Op::Add | Op::Sub => {
            let scale = sa.max(sb);
            let ma = ma.checked_mul(10i128.checked_pow(scale - sa)?)?;
            let mb = mb.checked_mul(10i128.checked_pow(scale - sb)?)?;
            let m = if let Op::Add = op { ma.checked_add(mb)? } else { ma.checked_sub(mb)? };
            (m, scale)
        }
    };
    format!("{m}e-{s}").parse::<f64>().ok()
}

/// Sprig does float math in decimal (shopspring/decimal): 0.1 + 0.2 is 0.3. Exact here
/// while the numbers fit an i128, else plain floats.
fn decimal_fold(start: f64, rest: &[Value], op: Op) -> f64 {
    rest.iter().fold(start, |acc, v| {
        let x = to_f64(v);
        exact(acc, x, op).unwrap_or(match op {
            Op::Add => acc + x,
            Op::Sub => acc - x,
            Op::Mul => acc * x,
        })
    })
}

fn divf(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let mut acc = to_f64(&a[0]);
    for v in &a[1..] {
        let d = to_f64(v);
        if d == 0.0 {
            return fault("decimal division by 0");
        }
        // shopspring/decimal divides to 16 decimal places.
        acc = format!("{:.16}", acc / d).parse().unwrap_or(acc / d);
    }
    Ok(Value::Float(acc))
}

fn to_json(h: &Heap, v: &Value, pretty: bool, escape_html: bool) -> Res<String> {
    let j = h.to_json(v, 0)?;
    let s = if pretty { serde_json::to_string_pretty(&j) } else { serde_json::to_string(&j) };
    let s = s.or_else(|e| fault(e.to_string()))?;
    let s = if escape_html { s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026") } else { s };
    Ok(s.replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029"))
}

fn parse_json(h: &mut Heap, text: &str) -> Res<Value> {
    let j: serde_json::Value = serde_json::from_str(text).or_else(|e| fault(e.to_string()))?;
    h.import_json(&j, 0)
}

fn random_bytes(n: usize) -> Res<Vec<u8>> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut buf).or_else(|_| fault("no random numbers available"))?;
    Ok(buf)
}

fn uuidv4() -> Res<String> {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

fn rand_string(count: &Value, alphabet: &[u8]) -> Res<Value> {
    let n = to_i64(count);
    if n < 0 {
        return fault("Requested random string length -1 is less than 0.".replace("-1", &n.to_string()));
    }
    if n as usize > crate::value::MAX_OUTPUT {
        return Err(crate::value::too_big("a random string"));
    }
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n as usize);
    while out.len() < n as usize {
        for b in random_bytes(n as usize - out.len() + 8)? {
            if (b as usize) < limit && out.len() < n as usize {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    string(out)
}

fn url_parse(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let text = a[0].as_str().unwrap_or_default();
    let u = crate::url::GoUrl::parse(text).or_else(|e| fault(format!("unable to parse url: {e}")))?;
    let hostname = u.hostname();
    let pairs = vec![
        ("scheme".to_string(), Value::str(u.scheme)),
        ("host".to_string(), Value::str(u.host)),
        ("hostname".to_string(), Value::str(hostname)),
        ("path".to_string(), Value::str(u.path)),
        ("query".to_string(), Value::str(u.query)),
        ("opaque".to_string(), Value::str(u.opaque)),
        ("fragment".to_string(), Value::str(u.fragment)),
        ("userinfo".to_string(), Value::str(u.userinfo)),
    ];
    map_of(h, pairs)
}

fn url_join(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let Value::Map(id) = a[0] else { return string("") };
    let m = h.map(id).clone();
    let get = |k: &str| -> Res<String> {
        match m.get(k) {
            None => Ok(String::new()),
            Some(Value::Str(s)) => Ok(s.to_string()),
            Some(other) => fault(format!("unable to parse {k} key, must be of type string, but {} found", other.type_name())),
        }
    };
    let u = crate::url::GoUrl {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        userinfo: get("userinfo")?,
    };
    string(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_math_is_exact_for_short_decimals() {
        assert_eq!(decimal_fold(0.1, &[Value::Float(0.2)], Op::Add), 0.3);
        assert_eq!(decimal_fold(1.1, &[Value::Float(3.0)], Op::Mul), 3.3);
        assert_eq!(go_float(decimal_fold(0.3, &[Value::Float(0.1)], Op::Sub)), "0.2");
    }
}
