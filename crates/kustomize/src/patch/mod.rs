//! Patches: `patchesStrategicMerge`, `patches`, `patchesJson6902`.

pub mod json6902;
pub mod schema;
pub mod strategic;

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::resource::Resource;
use crate::select::Compiled;
use crate::types::Selector;
use schema::Schema;

/// A loaded patch document.
pub enum Loaded {
    /// Strategic merge patches (one per YAML document).
    Smp(Vec<Value>),
    /// A JSON 6902 operation list.
    Json(Value),
}

/// Parses patch text: a YAML/JSON list is a JSON 6902 patch, anything else
/// strategic merge documents.
pub fn load(text: &str, kfile: &Path, field: &str) -> Result<Loaded> {
    // Try the strategic-merge reading first; a list means JSON 6902, which
    // kustomize reads with YAML 1.1 typing.
    use crate::yaml::parse::{Mode, parse_with};
    let docs = parse_with(text, Mode::Patch).map_err(|e| Error::Field {
        path: kfile.to_path_buf(),
        field: field.into(),
        reason: format!("patch is not valid YAML: {e}"),
    })?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.len() == 1 && docs[0].is_array() {
        let v11 = parse_with(text, Mode::Yaml11).map_err(|e| Error::Field { path: kfile.to_path_buf(), field: field.into(), reason: e })?;
        let first = v11.into_iter().find(|d| !d.is_null()).unwrap_or(Value::Null);
        return Ok(Loaded::Json(first));
    }
    if docs.iter().any(|d| !d.is_object()) {
        return Err(Error::Field {
            path: kfile.to_path_buf(),
            field: field.into(),
            reason: "a patch must be a YAML object (strategic merge) or a list of operations (JSON 6902)".into(),
        });
    }
    for d in &docs {
        let has = |ptr: &str| d.pointer(ptr).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !has("/kind") || !has("/metadata/name") {
            return Err(Error::Field {
                path: kfile.to_path_buf(),
                field: field.into(),
                reason: "unable to parse the patch: a strategic merge patch needs `kind` and `metadata.name` (a JSON 6902 patch is a list of operations)".into(),
            });
        }
    }
    Ok(Loaded::Smp(docs))
}

fn patch_id(p: &Value) -> (String, String, String, String) {
    let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or("").to_string();
    (s("/apiVersion"), s("/kind"), s("/metadata/name"), s("/metadata/namespace"))
}

fn ns_eq(a: &str, b: &str) -> bool {
    let n = |s: &str| if s.is_empty() { "default".to_string() } else { s.to_string() };
    n(a) == n(b)
}

/// Applies a strategic merge patch to the one resource whose current or
/// previous id matches the patch's own apiVersion/kind/name/namespace.
pub fn smp_by_id(resources: &mut Vec<Resource>, patch: &Value, schema: &Schema, kfile: &Path, field: &str) -> Result<()> {
    let (av, kind, name, ns) = patch_id(patch);
    let hits: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.obj.get("apiVersion").and_then(Value::as_str).unwrap_or("") == av
                && r.kind() == kind
                && r.names.contains(&name)
                && r.namespaces.iter().any(|n| ns_eq(n, &ns))
        })
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [i] => apply_smp_at(resources, *i, patch, schema, kfile, field),
        [] => Err(Error::Field {
            path: kfile.to_path_buf(),
            field: field.into(),
            reason: format!(
                "no resource matches the patch target {kind}/{name} (apiVersion {av}{}); check the patch's apiVersion, kind, name and namespace",
                if ns.is_empty() { String::new() } else { format!(", namespace {ns}") }
            ),
        }),
        _ => Err(Error::Field {
            path: kfile.to_path_buf(),
            field: field.into(),
            reason: format!("patch target {kind}/{name} matches several resources; add a namespace to the patch"),
        }),
    }
}

/// Applies `patch` to resource `i`; a `$patch: delete` removes it.
/// With `keep_identity`, name, namespace and kind are restored afterwards.
fn apply_smp_at(resources: &mut Vec<Resource>, i: usize, patch: &Value, schema: &Schema, kfile: &Path, field: &str) -> Result<()> {
    let r = &mut resources[i];
    let (name, ns, kind) = (r.name().to_string(), r.namespace().to_string(), r.kind().to_string());
    let merged = strategic::apply(r.obj.clone(), patch, schema).map_err(|e| Error::Field {
        path: kfile.to_path_buf(),
        field: field.into(),
        reason: format!("patching {}: {e}", r.id_string()),
    })?;
    match merged {
        None => {
            resources.remove(i);
        }
        Some(v) => {
            r.obj = v;
            // The patch names its target by an earlier name; the object keeps
            // its current identity.
            restore_identity(r, Some((&name, &ns)), Some(&kind));
            r.sync_history();
        }
    }
    Ok(())
}

/// Puts back name/namespace and kind a targeted patch may not change.
fn restore_identity(r: &mut Resource, name_ns: Option<(&String, &String)>, kind: Option<&String>) {
    if let Some((name, ns)) = name_ns
        && let Some(m) = crate::resource::metadata_mut(&mut r.obj)
    {
        m.insert("name".into(), Value::String(name.clone()));
        if ns.is_empty() {
            m.remove("namespace");
        } else {
            m.insert("namespace".into(), Value::String(ns.clone()));
        }
    }
    if let (Some(kind), Some(o)) = (kind, r.obj.as_object_mut()) {
        o.insert("kind".into(), Value::String(kind.clone()));
    }
}

/// Indices of resources selected by `sel`.
pub fn select(resources: &[Resource], sel: &Selector, kfile: &Path, field: &str) -> Result<Vec<usize>> {
    let c = Compiled::new(sel).map_err(|e| Error::Field { path: kfile.to_path_buf(), field: format!("{field}.target"), reason: e })?;
    Ok(resources.iter().enumerate().filter(|(_, r)| c.matches(r)).map(|(i, _)| i).collect())
}

/// Applies a strategic merge patch to every selected resource.
pub fn smp_selected(
    resources: &mut Vec<Resource>,
    patch: &Value,
    sel: &Selector,
    schema: &Schema,
    allow: (bool, bool),
    kfile: &Path,
) -> Result<()> {
    let (allow_name_change, allow_kind_change) = allow;
    let mut idx = select(resources, sel, kfile, "patches")?;
    idx.reverse();
    for i in idx {
        let r = &mut resources[i];
        let (name, ns, kind) = (r.name().to_string(), r.namespace().to_string(), r.kind().to_string());
        let merged = strategic::apply(r.obj.clone(), patch, schema).map_err(|e| Error::Field {
            path: kfile.to_path_buf(),
            field: "patches".into(),
            reason: format!("patching {}: {e}", r.id_string()),
        })?;
        match merged {
            None => {
                resources.remove(i);
            }
            Some(v) => {
                r.obj = v;
                restore_identity(r, (!allow_name_change).then_some((&name, &ns)), (!allow_kind_change).then_some(&kind));
                r.sync_history();
            }
        }
    }
    Ok(())
}

/// Applies JSON 6902 operations to every selected resource.
pub fn json_selected(resources: &mut [Resource], ops: &Value, sel: &Selector, kfile: &Path, field: &str) -> Result<()> {
    let idx = select(resources, sel, kfile, field)?;
    for i in idx {
        let r = &mut resources[i];
        json6902::apply(&mut r.obj, ops).map_err(|e| Error::Field {
            path: kfile.to_path_buf(),
            field: field.into(),
            reason: format!("applying JSON patch to {}: {e}", r.id_string()),
        })?;
        r.sync_history();
    }
    Ok(())
}
