//! configMapGenerator / secretGenerator and kustomize's name hash.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsys::Fs;
use crate::resource::{GenInfo, Resource};
use crate::types::{GeneratorArgs, GeneratorOptions};
use crate::yaml::emit::go_json_float;

/// Which generator.
#[derive(Clone, Copy, PartialEq)]
pub enum GenKind {
    ConfigMap,
    Secret,
}

impl GenKind {
    fn field(self) -> &'static str {
        match self {
            GenKind::ConfigMap => "configMapGenerator",
            GenKind::Secret => "secretGenerator",
        }
    }
}

/// Builds one generated object.
pub fn generate(
    kind: GenKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    dir: &Path,
    kfile: &Path,
    fs: &Fs,
) -> Result<Resource> {
    let field = kind.field();
    let err = |reason: String| Error::Field { path: kfile.to_path_buf(), field: field.into(), reason };
    if args.name.is_empty() {
        return Err(err("every generator needs a `name`".into()));
    }
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut env_files: Vec<String> = args.envs.clone();
    if let Some(e) = &args.env {
        env_files.push(e.clone());
    }
    for f in &env_files {
        let p = fs.resolve_file(dir, f, kfile)?;
        let text = fs.read_string(&p)?;
        for (k, v) in parse_env(&text).map_err(|e| err(format!("env file {f}: {e}")))? {
            pairs.push((k, v.into_bytes()));
        }
    }
    for lit in &args.literals {
        let (k, v) = lit.split_once('=').ok_or_else(|| err(format!("literal `{lit}` must be KEY=VALUE")))?;
        pairs.push((k.to_string(), unquote(v).into_bytes()));
    }
    for f in &args.files {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() {
                    return Err(err(format!("file source `{f}` has an empty key")));
                }
                (k.to_string(), p.to_string())
            }
            None => {
                let base = Path::new(f).file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                (base, f.clone())
            }
        };
        let p = fs.resolve_file(dir, &path, kfile)?;
        if p.is_dir() {
            return Err(err(format!("file source `{path}` is a directory; list the files individually")));
        }
        pairs.push((key, fs.read(&p)?));
    }
    let mut data = BTreeMap::new();
    let mut binary = BTreeMap::new();
    for (k, v) in pairs {
        if !valid_key(&k) {
            return Err(err(format!("key `{k}` is not a valid ConfigMap/Secret key (use letters, digits, '-', '_' or '.')")));
        }
        if data.contains_key(&k) || binary.contains_key(&k) {
            return Err(err(format!("key `{k}` appears more than once in generator `{}`; keys must be unique", args.name)));
        }
        match (kind, String::from_utf8(v)) {
            (GenKind::ConfigMap, Ok(s)) => {
                data.insert(k, Value::String(s));
            }
            (GenKind::ConfigMap, Err(e)) => {
                binary.insert(k, Value::String(base64_wrapped(e.as_bytes())));
            }
            (GenKind::Secret, Ok(s)) => {
                data.insert(k, Value::String(base64_wrapped(s.as_bytes())));
            }
            (GenKind::Secret, Err(e)) => {
                data.insert(k, Value::String(base64_wrapped(e.as_bytes())));
            }
        }
    }
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    let merged = merge_options(global, args.options.as_ref());
    if let Some(l) = merged.labels.as_ref().filter(|l| !l.is_empty()) {
        meta.insert("labels".into(), json!(l));
    }
    if let Some(a) = merged.annotations.as_ref().filter(|a| !a.is_empty()) {
        meta.insert("annotations".into(), json!(a));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert("kind".into(), json!(if kind == GenKind::ConfigMap { "ConfigMap" } else { "Secret" }));
    obj.insert("metadata".into(), Value::Object(meta));
    if kind == GenKind::Secret {
        let t = if args.type_.is_empty() { "Opaque" } else { args.type_.as_str() };
        obj.insert("type".into(), json!(t));
    } else if !args.type_.is_empty() {
        return Err(err("`type` only applies to secretGenerator".into()));
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data.into_iter().collect()));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary.into_iter().collect()));
    }
    if merged.immutable == Some(true) {
        obj.insert("immutable".into(), json!(true));
    }
    let behavior = if args.behavior.is_empty() { "create".to_string() } else { args.behavior.clone() };
    // kustomize treats an unknown behavior as unspecified, i.e. create.
    let behavior = if matches!(behavior.as_str(), "merge" | "replace") { behavior } else { "create".to_string() };
    let gen_kind = if kind == GenKind::ConfigMap { "ConfigMapGenerator" } else { "SecretGenerator" };
    let mut r = Resource::new(Value::Object(obj), &format!("generator:{gen_kind}:{}", fs.relative(kfile)));
    r.generated = Some(GenInfo { hash: merged.disable_name_suffix_hash != Some(true), behavior });
    Ok(r)
}

/// Per-generator options override the global ones; maps are merged.
fn merge_options(global: Option<&GeneratorOptions>, local: Option<&GeneratorOptions>) -> GeneratorOptions {
    let mut out = global.cloned().unwrap_or_default();
    if let Some(l) = local {
        if let Some(ls) = &l.labels {
            out.labels.get_or_insert_with(BTreeMap::new).extend(ls.clone());
        }
        if let Some(a) = &l.annotations {
            out.annotations.get_or_insert_with(BTreeMap::new).extend(a.clone());
        }
        if l.disable_name_suffix_hash.is_some() {
            out.disable_name_suffix_hash = l.disable_name_suffix_hash;
        }
        if l.immutable.is_some() {
            out.immutable = l.immutable;
        }
    }
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 253 && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) && k != "." && k != ".."
}

/// Literal values may be wrapped in matching quotes, which are dropped.
fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        return v[1..v.len() - 1].to_string();
    }
    v.to_string()
}

/// `KEY=VALUE` lines; `#` comments and blank lines are skipped.
fn parse_env(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            // The line may hold a secret: named by its number, never quoted.
            .ok_or_else(|| format!("line {} is not KEY=VALUE (reading values from the environment is not supported)", i + 1))?;
        if k.chars().any(char::is_whitespace) {
            return Err(format!("line {}: key `{k}` contains whitespace", i + 1));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// kustomize's generator encoding: base64 cut into 70-character lines, each
/// followed by a newline, once the encoding reaches 70 characters.
fn base64_wrapped(data: &[u8]) -> String {
    let enc = base64(data);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        s.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    s
}

/// kustomize's name suffix for a ConfigMap or Secret.
///
/// kustomize hashes a JSON document of kind, name, data (and binaryData /
/// stringData / type). Its lookup of `metadata/name` never matches, so the
/// name is always the empty string; reproduced here on purpose.
pub fn hash_suffix(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let field = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(Value::Object(m)) => Value::Object(m.clone()),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(other) => Value::String(other.to_string()),
    };
    let mut m = Map::new();
    m.insert("kind".into(), json!(kind));
    m.insert("name".into(), json!(""));
    m.insert("data".into(), field("data"));
    if kind == "Secret" {
        m.insert("type".into(), field("type"));
        if let Some(Value::Object(sd)) = obj.get("stringData") {
            m.insert("stringData".into(), Value::Object(sd.clone()));
        }
    } else if let Some(Value::Object(b)) = obj.get("binaryData") {
        m.insert("binaryData".into(), Value::Object(b.clone()));
    }
    encode_hash(&go_json(&Value::Object(m)))
}

/// First 10 hex digits of sha256, with kustomize's letter substitutions.
pub fn encode_hash(data: &str) -> String {
    let digest = Sha256::digest(data.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Go `encoding/json` output: sorted keys, HTML-safe escaping.
pub fn go_json(v: &Value) -> String {
    let mut s = String::new();
    write_go_json(v, &mut s);
    s
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&go_json_float(f)),
            _ => out.push('0'),
        },
        Value::String(s) => write_go_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(k, out);
                out.push(':');
                write_go_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_kustomize() {
        // `kubectl kustomize` names a configMapGenerator `cm` with literal
        // a=b `cm-4h2mbtbbt6`.
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}});
        assert_eq!(hash_suffix(&cm), "4h2mbtbbt6");
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn go_json_escapes_html() {
        assert_eq!(go_json(&json!({"b": "<&>", "a": 1})), "{\"a\":1,\"b\":\"\\u003c\\u0026\\u003e\"}");
    }
}
