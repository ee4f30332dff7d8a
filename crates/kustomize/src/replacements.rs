//! `replacements`: copy a field of one object into fields of others.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::resource::Resource;
use crate::target::Ctx;
use crate::types::{FieldOptions, Replacement, ReplacementField, Selector};

/// Applies the replacements in order.
pub fn apply(ctx: &Ctx, dir: &Path, kfile: &Path, reps: &[ReplacementField], res: &mut [Resource]) -> Result<()> {
    let err = |reason: String| Error::Field { path: kfile.to_path_buf(), field: "replacements".into(), reason };
    let mut all: Vec<Replacement> = Vec::new();
    for r in reps {
        match r {
            ReplacementField::Inline(x) => all.push((**x).clone()),
            ReplacementField::Path { path } => {
                let p = ctx.fs.resolve_file(dir, path, kfile)?;
                let text = ctx.fs.read_string(&p)?;
                let docs = crate::yaml::parse::parse_with(&text, crate::yaml::parse::Mode::Patch)
                    .map_err(|e| Error::Yaml { path: p.clone(), reason: e })?;
                for d in docs.into_iter().filter(|d| !d.is_null()) {
                    let items = match d {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for it in items {
                        let x: Replacement = serde_json::from_value(it).map_err(|e| err(format!("{path}: {e}")))?;
                        all.push(x);
                    }
                }
            }
        }
    }
    for rep in &all {
        apply_one(rep, res).map_err(err)?;
    }
    Ok(())
}

fn id_selected(r: &Resource, s: &Selector) -> bool {
    let gvk = r.gvk();
    if !gvk.selected_by(&s.group, &s.version, &s.kind) {
        return false;
    }
    if !s.name.is_empty() && !r.names.contains(&s.name) {
        return false;
    }
    if !s.namespace.is_empty() && !r.namespaces.contains(&s.namespace) {
        return false;
    }
    let sel =
        Selector { label_selector: s.label_selector.clone(), annotation_selector: s.annotation_selector.clone(), ..Default::default() };
    match crate::select::Compiled::new(&sel) {
        Ok(c) => c.matches(r),
        Err(_) => false,
    }
}

fn apply_one(rep: &Replacement, res: &mut [Resource]) -> std::result::Result<(), String> {
    let src = rep.source.as_ref().ok_or("each replacement needs a `source`")?;
    let encodings = src.options.iter().chain(rep.targets.iter().filter_map(|t| t.options.as_ref()));
    for o in encodings {
        if !o.encoding.is_empty() {
            return Err(format!("options.encoding `{}` is not supported yet by the native engine", o.encoding));
        }
    }
    let sel = Selector {
        group: src.group.clone(),
        version: src.version.clone(),
        kind: src.kind.clone(),
        name: src.name.clone(),
        namespace: src.namespace.clone(),
        ..Default::default()
    };
    let hits: Vec<&Resource> = res.iter().filter(|r| id_selected(r, &sel)).collect();
    let source = match hits.as_slice() {
        [one] => *one,
        [] => return Err(format!("nothing selected by source {}/{}", src.kind, src.name)),
        _ => return Err(format!("multiple matches for source selector {}/{}; add a namespace or name", src.kind, src.name)),
    };
    let fp = src.field_path.clone().unwrap_or_else(|| "metadata.name".into());
    let segs = split_path(&fp);
    let mut value =
        get(&source.obj, &segs).ok_or_else(|| format!("fieldPath `{fp}` is missing for replacement source {}", source.id_string()))?;
    if let Some(o) = &src.options
        && !o.delimiter.is_empty()
    {
        let s = value.as_str().ok_or("delimiter option can only be used with scalar source values")?.to_string();
        let parts: Vec<&str> = s.split(o.delimiter.as_str()).collect();
        let part = usize::try_from(o.index)
            .ok()
            .and_then(|i| parts.get(i))
            .ok_or_else(|| format!("options.index {} is out of bounds for value {s}", o.index))?;
        value = Value::String(part.to_string());
    }
    for t in &rep.targets {
        let select = t.select.as_ref().ok_or("each replacement target needs `select`")?;
        let compiled_rejects: Vec<&Selector> = t.reject.iter().collect();
        for r in res.iter_mut() {
            if !id_selected(r, select) || compiled_rejects.iter().any(|rj| reject_matches(r, rj)) {
                continue;
            }
            for p in &t.field_paths {
                let segs = split_path(p);
                let opts = t.options.clone().unwrap_or_default();
                let mut untyped = false;
                set(&mut r.obj, &segs, &value, &opts, &mut untyped)
                    .map_err(|e| format!("{e} (target {}, fieldPath `{p}`)", r.id_string()))?;
                if untyped && segs.iter().all(|s| !s.contains('[') && s != "*") {
                    let ptr: String = segs.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
                    r.untyped.push(ptr);
                }
            }
            r.sync_history();
        }
    }
    Ok(())
}

/// A reject selector with only empty fields rejects nothing.
fn reject_matches(r: &Resource, s: &Selector) -> bool {
    let empty = s.group.is_empty()
        && s.version.is_empty()
        && s.kind.is_empty()
        && s.name.is_empty()
        && s.namespace.is_empty()
        && s.label_selector.is_empty()
        && s.annotation_selector.is_empty();
    !empty && id_selected(r, s)
}

/// Splits `a.b.[name=x].c` (dots inside brackets are kept).
pub fn split_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn parse_match(seg: &str) -> Option<(String, String)> {
    let inner = seg.strip_prefix('[')?.strip_suffix(']')?;
    let (k, v) = inner.split_once('=')?;
    Some((k.to_string(), v.to_string()))
}

fn get(v: &Value, segs: &[String]) -> Option<Value> {
    let mut cur = v;
    for s in segs {
        cur = match (cur, parse_match(s)) {
            (Value::Array(a), Some((k, val))) => a.iter().find(|e| e.get(&k).is_some_and(|x| scalar_eq(x, &val)))?,
            (Value::Array(a), None) => a.get(s.parse::<usize>().ok()?)?,
            (Value::Object(m), None) => m.get(s.trim_start_matches('[').trim_end_matches(']'))?,
            _ => return None,
        };
    }
    Some(cur.clone())
}

fn scalar_eq(x: &Value, s: &str) -> bool {
    match x {
        Value::String(v) => v == s,
        Value::Number(n) => n.to_string() == s,
        Value::Bool(b) => b.to_string() == s,
        _ => false,
    }
}

/// Writes `value` at `segs`. `untyped` reports a leaf that received a
/// re-typed scalar (see below).
fn set(v: &mut Value, segs: &[String], value: &Value, o: &FieldOptions, untyped: &mut bool) -> std::result::Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        let new = if o.delimiter.is_empty() {
            match (value, &*v) {
                // An existing string field keeps its type.
                (Value::String(_), Value::String(_)) => value.clone(),
                // kustomize copies the scalar text without its tag, so a
                // quoted "8443" lands in a new field as the number 8443.
                (Value::String(s), _) => {
                    let t = crate::yaml::parse::resolve_plain(s);
                    *untyped = !t.is_string();
                    t
                }
                _ => value.clone(),
            }
        } else {
            let cur = v.as_str().unwrap_or("").to_string();
            let mut parts: Vec<String> = cur.split(o.delimiter.as_str()).map(str::to_string).collect();
            let src = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            match usize::try_from(o.index) {
                Ok(i) if i < parts.len() => parts[i] = src,
                Ok(_) => parts.push(src),
                Err(_) => parts.insert(0, src),
            }
            Value::String(parts.join(&o.delimiter))
        };
        *v = new;
        return Ok(());
    };
    if first == "*" {
        match v {
            Value::Array(a) => {
                for e in a.iter_mut() {
                    set(e, rest, value, o, untyped)?;
                }
            }
            Value::Object(m) => {
                for e in m.values_mut() {
                    set(e, rest, value, o, untyped)?;
                }
            }
            _ => {}
        }
        return Ok(());
    }
    match (v, parse_match(first)) {
        (Value::Array(a), Some((k, val))) => {
            let mut found = false;
            for e in a.iter_mut().filter(|e| e.get(&k).is_some_and(|x| scalar_eq(x, &val))) {
                found = true;
                set(e, rest, value, o, untyped)?;
            }
            if !found {
                if !o.create {
                    return Err(format!("unable to find field `{first}`"));
                }
                let mut m = Map::new();
                m.insert(k, Value::String(val));
                let mut e = Value::Object(m);
                set(&mut e, rest, value, o, untyped)?;
                a.push(e);
            }
            Ok(())
        }
        (Value::Array(a), None) => {
            let i: usize = first.parse().map_err(|_| format!("`{first}` is not a list index"))?;
            let e = a.get_mut(i).ok_or_else(|| format!("index {i} out of range"))?;
            set(e, rest, value, o, untyped)
        }
        (v @ Value::Null, _) if o.create => {
            *v = Value::Object(Map::new());
            set(v, segs, value, o, untyped)
        }
        (Value::Object(m), None) => {
            let key = first.trim_start_matches('[').trim_end_matches(']').to_string();
            if !m.contains_key(&key) {
                if !o.create {
                    return Err(format!("unable to find field `{key}`; set `options.create: true` to create it"));
                }
                let init = if rest.first().is_some_and(|r| parse_match(r).is_some()) { Value::Array(Vec::new()) } else { Value::Null };
                m.insert(key.clone(), init);
            }
            let child = m.get_mut(&key).ok_or("missing field")?;
            set(child, rest, value, o, untyped)
        }
        _ => Err(format!("cannot descend into `{first}`")),
    }
}
