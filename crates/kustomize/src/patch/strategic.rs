//! Strategic merge patch as kustomize applies it (kyaml merge2 with the
//! Kubernetes schema): maps merge, `null` deletes, lists with a patch merge
//! key merge element-wise (patched elements first, in patch order, then the
//! untouched originals), primitive lists with the `merge` strategy are
//! unioned, every other list is replaced. `$patch: delete|replace|merge` are
//! honoured; other `$` directives are kept as ordinary fields, exactly as
//! kustomize does.

use serde_json::{Map, Value};

use super::schema::{FieldMeta, Schema};

/// Merges `patch` into `dest` (an object) for a resource of the given
/// apiVersion/kind. Returns `None` when the patch deletes the object.
pub fn apply(dest: Value, patch: &Value, schema: &Schema) -> Result<Option<Value>, String> {
    let av = dest.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
    let kind = dest.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    let root = schema.root(&av, &kind).map(str::to_string);
    merge_value(Some(dest), patch, root.as_deref(), None, schema)
}

fn directive(v: &Value) -> Option<&str> {
    v.get("$patch").and_then(Value::as_str)
}

/// Merges one value; `None` means "remove the field".
fn merge_value(dest: Option<Value>, patch: &Value, def: Option<&str>, meta: Option<&FieldMeta>, s: &Schema) -> Res {
    // kustomize refuses to merge a mapping into a list or the reverse.
    match (&dest, patch) {
        (Some(Value::Array(_)), Value::Object(_)) => return Err("wrong node kind: expected a list but the patch has a mapping".into()),
        (Some(Value::Object(_)), Value::Array(_)) => return Err("wrong node kind: expected a mapping but the patch has a list".into()),
        _ => {}
    }
    Ok(match patch {
        Value::Null => None,
        Value::Object(pm) => match directive(patch) {
            Some("delete") => None,
            Some("replace") => Some(Value::Object(strip(pm, def, s)?)),
            _ => {
                let base = match dest {
                    Some(Value::Object(d)) => d,
                    _ => Map::new(),
                };
                Some(Value::Object(merge_map(base, pm, def, s)?))
            }
        },
        Value::Array(pl) => {
            let key = meta.and_then(|m| m.merge_key.clone());
            let dest_list = match dest {
                Some(Value::Array(d)) => Some(d),
                _ => None,
            };
            let is_maps = pl.iter().all(Value::is_object) && !pl.is_empty();
            match (key, dest_list) {
                // kustomize quirk: with no list in the resource, a patch list
                // holding a bare `$patch: replace` comes out as just that marker.
                (Some(_), None) if pl.iter().any(|p| directive(p) == Some("replace") && p.as_object().is_some_and(|m| m.len() == 1)) => {
                    Some(Value::Array(vec![serde_json::json!({"$patch": "replace"})]))
                }
                (Some(k), d) if is_maps || pl.is_empty() => Some(Value::Array(merge_keyed(d.unwrap_or_default(), pl, &k, def, s)?)),
                (_, Some(d)) if meta.is_some_and(|m| m.merge) && !is_maps => Some(Value::Array(union(d, pl))),
                _ => Some(Value::Array(pl.iter().map(|v| clean(v, def, s)).collect::<Result<_, _>>()?)),
            }
        }
        other => Some(other.clone()),
    })
}

type Res = Result<Option<Value>, String>;

/// Merges patch fields into a map.
fn merge_map(
    mut dest: Map<String, Value>,
    patch: &Map<String, Value>,
    def: Option<&str>,
    s: &Schema,
) -> Result<Map<String, Value>, String> {
    for (k, pv) in patch {
        if k == "$patch" {
            continue;
        }
        let meta = s.field(def, k);
        let child_def = meta.and_then(|m| m.type_name.clone());
        let d = dest.remove(k);
        if let Some(v) = merge_value(d, pv, child_def.as_deref(), meta, s).map_err(|e| format!("{k}: {e}"))? {
            dest.insert(k.clone(), v);
        }
    }
    Ok(dest)
}

/// A patch value taken as-is: directives and nulls removed.
fn clean(v: &Value, def: Option<&str>, s: &Schema) -> Result<Value, String> {
    Ok(match v {
        Value::Object(m) => Value::Object(merge_map(Map::new(), m, def, s)?),
        other => other.clone(),
    })
}

fn strip(m: &Map<String, Value>, def: Option<&str>, s: &Schema) -> Result<Map<String, Value>, String> {
    merge_map(Map::new(), m, def, s)
}

/// Lists merged by `key`.
fn merge_keyed(mut dest: Vec<Value>, patch: &[Value], key: &str, def: Option<&str>, s: &Schema) -> Result<Vec<Value>, String> {
    // A bare `{$patch: replace}` element replaces the whole list.
    let bare_replace = |p: &Value| directive(p) == Some("replace") && p.as_object().is_some_and(|m| m.len() == 1);
    if patch.iter().any(bare_replace) {
        return patch.iter().filter(|p| !bare_replace(p)).map(|p| clean(p, def, s)).collect();
    }
    // kustomize quirk: when a patch element lacks the merge key, elements only
    // in the original and keyless patch elements are all dropped.
    let keyless = patch.iter().any(|p| p.get(key).is_none() && directive(p).is_none());
    let mut front = Vec::new();
    for pe in patch {
        let kv = pe.get(key);
        if directive(pe) == Some("replace") {
            // kustomize leaves the element untouched in this case.
            continue;
        }
        if directive(pe) == Some("delete") {
            dest.retain(|d| d.get(key) != kv || kv.is_none());
            continue;
        }
        if keyless && kv.is_none() {
            continue;
        }
        let pos = kv.and_then(|kv| dest.iter().position(|d| d.get(key) == Some(kv)));
        let existing = pos.map(|i| dest.remove(i));
        if let Some(v) = merge_value(existing, pe, def, None, s)? {
            front.push(v);
        }
    }
    if !keyless {
        front.extend(dest);
    }
    Ok(front)
}

/// Primitive list union: patch values first, then the remaining originals.
fn union(dest: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in patch.iter().chain(dest.iter()) {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn merges_by_key_patched_first() {
        let s = Schema::load();
        let d = deploy(json!([{"name": "a", "image": "a"}, {"name": "c", "image": "c"}]));
        let p = deploy(json!([{"name": "c", "image": "c2"}]));
        let out = apply(d, &p, &s).unwrap().unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "c", "image": "c2"}, {"name": "a", "image": "a"}]));
    }

    #[test]
    fn directives() {
        let s = Schema::load();
        let d = deploy(json!([{"name": "a"}, {"name": "b"}]));
        let p = deploy(json!([{"name": "a", "$patch": "delete"}]));
        assert_eq!(apply(d.clone(), &p, &s).unwrap().unwrap()["spec"]["template"]["spec"]["containers"], json!([{"name": "b"}]));
        let p = deploy(json!([{"name": "z"}, {"$patch": "replace"}]));
        assert_eq!(apply(d.clone(), &p, &s).unwrap().unwrap()["spec"]["template"]["spec"]["containers"], json!([{"name": "z"}]));
        let p = json!({"kind": "Deployment", "$patch": "delete"});
        assert!(apply(d, &p, &s).unwrap().is_none());
    }

    #[test]
    fn null_deletes_and_unknown_lists_replace() {
        let s = Schema::load();
        let d = json!({"apiVersion": "x/v1", "kind": "Foo", "spec": {"a": 1, "l": [{"name": "a"}]}});
        let p = json!({"spec": {"a": null, "l": [{"name": "b"}]}});
        assert_eq!(apply(d, &p, &s).unwrap().unwrap()["spec"], json!({"l": [{"name": "b"}]}));
    }
}
