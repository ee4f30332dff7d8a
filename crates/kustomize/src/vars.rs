//! Legacy `vars`: `$(NAME)` substitution in kustomize's var reference fields.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, visit};
use crate::resource::Resource;
use crate::types::Var;

/// Where `$(VAR)` is expanded.
fn var_ref_specs() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    let pod_leafs = [
        "containers/args",
        "containers/command",
        "containers/env/value",
        "containers/volumeMounts/mountPath",
        "initContainers/args",
        "initContainers/command",
        "initContainers/env/value",
        "initContainers/volumeMounts/mountPath",
        "volumes/nfs/server",
    ];
    for leaf in pod_leafs {
        v.push(FieldSpec::new("CronJob", "", "", &format!("spec/jobTemplate/spec/template/spec/{leaf}"), false));
        for k in ["DaemonSet", "Deployment", "Job", "ReplicaSet", "StatefulSet"] {
            if k == "StatefulSet" && leaf == "volumes/nfs/server" {
                continue;
            }
            v.push(FieldSpec::new(k, "", "", &format!("spec/template/spec/{leaf}"), false));
        }
        v.push(FieldSpec::new("Pod", "", "", &format!("spec/{leaf}"), false));
    }
    for (k, p) in [
        ("Ingress", "spec/rules/host"),
        ("Ingress", "spec/tls/hosts"),
        ("Ingress", "spec/tls/secretName"),
        ("Service", "spec/ports/port"),
        ("Service", "spec/ports/targetPort"),
        ("StatefulSet", "spec/volumeClaimTemplates/spec/nfs/server"),
        ("PersistentVolume", "spec/nfs/server"),
        ("Deployment", "spec/template/metadata/annotations"),
        ("", "metadata/labels"),
        ("", "metadata/annotations"),
    ] {
        v.push(FieldSpec::new(k, "", "", p, false));
    }
    v
}

/// Resolves all vars and expands them in the var reference fields.
pub fn resolve(vars: &[Var], res: &mut [Resource], kfile: &Path, extra: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let err = |reason: String| Error::Field { path: kfile.to_path_buf(), field: "vars".into(), reason };
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    for var in vars {
        if values.contains_key(&var.name) {
            return Err(err(format!("var `{}` is declared more than once; var names must be unique", var.name)));
        }
        let o = &var.obj_ref;
        let (mut group, mut version) = (o.group.clone(), o.version.clone());
        if !o.api_version.is_empty() {
            match o.api_version.split_once('/') {
                Some((g, v)) => {
                    group = g.to_string();
                    version = v.to_string();
                }
                None => version = o.api_version.clone(),
            }
        }
        let hits: Vec<&Resource> = res
            .iter()
            .filter(|r| {
                r.gvk().selected_by(&group, &version, &o.kind)
                    && r.names.contains(&o.name)
                    && (o.namespace.is_empty() || r.namespaces.contains(&o.namespace))
            })
            .collect();
        let target = match hits.as_slice() {
            [one] => *one,
            [] => return Err(err(format!("var `{}` cannot be resolved: no {} named `{}`", var.name, o.kind, o.name))),
            _ => {
                return Err(err(format!(
                    "var `{}` matches more than one {} named `{}`; add a namespace to objref",
                    var.name, o.kind, o.name
                )));
            }
        };
        let fp = var.field_ref.as_ref().map(|f| f.field_path.clone()).filter(|f| !f.is_empty()).unwrap_or_else(|| "metadata.name".into());
        let segs = crate::replacements::split_path(&fp.replace('[', ".[").replace("..[", ".["));
        let v = lookup(&target.obj, &segs)
            .ok_or_else(|| err(format!("var `{}`: field `{fp}` not found in {}", var.name, target.id_string())))?;
        values.insert(var.name.clone(), v);
    }
    let mut specs = var_ref_specs();
    specs.extend(extra.iter().cloned());
    for r in res.iter_mut() {
        stringify_untyped(r);
        let gvk = r.gvk();
        for fs in specs.iter().filter(|f| f.applies_to(&gvk)) {
            let _ = visit::<()>(&mut r.obj, &fs.path, false, &mut |v| {
                expand_value(v, &values);
                Ok(())
            });
        }
    }
    Ok(())
}

/// In label and annotation maps visited by the var pass, kustomize turns
/// untagged scalars (those written by replacements) into strings.
fn stringify_untyped(r: &mut Resource) {
    let deployment = r.kind() == "Deployment";
    let ptrs = std::mem::take(&mut r.untyped);
    for p in &ptrs {
        let in_map = p.starts_with("/metadata/labels/")
            || p.starts_with("/metadata/annotations/")
            || (deployment && p.starts_with("/spec/template/metadata/annotations/"));
        if !in_map {
            continue;
        }
        if let Some(v) = r.obj.pointer_mut(p) {
            let s = match &*v {
                Value::Number(n) => crate::yaml::emit::format_number(n),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            *v = Value::String(s);
        }
    }
    r.untyped = ptrs;
}

fn lookup(v: &Value, segs: &[String]) -> Option<Value> {
    let mut cur = v;
    for s in segs {
        let idx = s.strip_prefix('[').and_then(|x| x.strip_suffix(']'));
        cur = match (cur, idx) {
            (Value::Array(a), Some(i)) => a.get(i.parse::<usize>().ok()?)?,
            (Value::Object(m), _) => m.get(s)?,
            _ => return None,
        };
    }
    Some(cur.clone())
}

fn expand_value(v: &mut Value, values: &BTreeMap<String, Value>) {
    match v {
        Value::String(s) => {
            // A field that is exactly `$(VAR)` takes the var's value as is.
            if let Some(name) = s.strip_prefix("$(").and_then(|x| x.strip_suffix(')'))
                && let Some(val) = values.get(name)
            {
                *v = val.clone();
                return;
            }
            *s = expand(s, values);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| expand_value(x, values)),
        Value::Object(m) => m.values_mut().for_each(|x| expand_value(x, values)),
        _ => {}
    }
}

/// Kubernetes `$(VAR)` expansion; `$$` escapes a dollar.
fn expand(s: &str, values: &BTreeMap<String, Value>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && i + 1 < chars.len() {
            match chars[i + 1] {
                '$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                '(' => {
                    if let Some(end) = chars[i + 2..].iter().position(|c| *c == ')') {
                        let name: String = chars[i + 2..i + 2 + end].iter().collect();
                        match values.get(&name) {
                            Some(Value::String(v)) => out.push_str(v),
                            Some(other) => out.push_str(&other.to_string()),
                            None => out.push_str(&format!("$({name})")),
                        }
                        i += end + 3;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands() {
        let mut m = BTreeMap::new();
        m.insert("A".to_string(), Value::String("x".into()));
        assert_eq!(expand("a-$(A)-$(B)-$$(A)", &m), "a-x-$(B)-$(A)");
    }
}
