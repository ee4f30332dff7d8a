//! Strategic merge patch as kustomize applies it (kyaml merge2 with the
//! Kubernetes schema): maps merge, `null` deletes, lists with merge keys
//! merge element-wise (patched elements first, in patch order, then the
//! untouched originals; see `merge_keyed`), primitive lists with the `merge`
//! strategy are unioned, every other list is replaced. `$patch: delete|replace|merge` are
//! honoured; other `$` directives are kept as ordinary fields, exactly as
//! kustomize does.

use serde_json::{Map, Value};

use super::schema::{FieldMeta, Schema};
use crate::yaml::parse::resolve_plain;

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
            let keys: &[String] = meta.map_or(&[], |m| &m.merge_keys);
            let dest_list = match dest {
                Some(Value::Array(d)) => Some(d),
                _ => None,
            };
            let is_maps = pl.iter().all(Value::is_object) && !pl.is_empty();
            match dest_list {
                // kustomize quirk: with no list in the resource, a patch list
                // holding a bare `$patch: replace` comes out as just that marker.
                None if !keys.is_empty()
                    && pl.iter().any(|p| directive(p) == Some("replace") && p.as_object().is_some_and(|m| m.len() == 1)) =>
                {
                    Some(Value::Array(vec![serde_json::json!({"$patch": "replace"})]))
                }
                d if !keys.is_empty() && (is_maps || pl.is_empty()) => Some(Value::Array(merge_keyed(d, pl, keys, def, s)?)),
                Some(d) if meta.is_some_and(|m| m.merge) && !is_maps => Some(Value::Array(union(d, pl))),
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

/// Lists merged on their keys, the way kyaml's merge walker does it with
/// kustomize's options (`setAssociativeSequenceElements`, `appendListNode`).
///
/// Every distinct tuple of key values, the patch elements' first, then the
/// originals', names one element of the result: the first original and the
/// first patch element holding all of the tuple's non-empty values are
/// merged. The originals are then set back into that result by their keys.
/// With several keys (a port's number and protocol) a key present on one
/// side only decides whether two elements are the same; see `unify`.
///
/// kyaml merges an original in place and both lists share the node, which
/// shows in the output (an original set back over a `$patch: replace`
/// element restores it), so elements live in `nodes` and lists hold indices.
fn merge_keyed(dest: Option<Vec<Value>>, patch: &[Value], keys: &[String], def: Option<&str>, s: &Schema) -> Result<Vec<Value>, String> {
    // A bare `{$patch: replace}` element replaces the whole list.
    let bare_replace = |p: &Value| directive(p) == Some("replace") && p.as_object().is_some_and(|m| m.len() == 1);
    if patch.iter().any(bare_replace) {
        return patch.iter().filter(|p| !bare_replace(p)).map(|p| clean(p, def, s)).collect();
    }
    let mut nodes = patch.to_vec();
    let patch_ids: Vec<usize> = (0..nodes.len()).collect();
    // With no list in the resource, kyaml merges the patch list into itself:
    // one list, so what is deleted from it is gone from the patch side too.
    let shared = dest.is_none();
    let mut dest_ids: Vec<usize> = match dest {
        None => patch_ids.clone(),
        Some(d) => {
            nodes.extend(d);
            (patch.len()..nodes.len()).collect()
        }
    };
    let mut tuples: Vec<Vec<String>> = Vec::new();
    for &i in patch_ids.iter().chain(&dest_ids) {
        let t: Vec<String> = keys.iter().map(|k| key_text(nodes[i].get(k))).collect();
        if !tuples.contains(&t) {
            tuples.push(t);
        }
    }
    if keys.len() > 1 {
        unify(&mut tuples);
    }
    // Keys no element has a value for are left out everywhere (kyaml
    // `validateKeys`), unless none has any.
    let used: Vec<bool> = (0..keys.len()).map(|i| tuples.iter().any(|t| !t[i].is_empty())).collect();
    let kept = |i: usize| used[i] || !used.contains(&true);
    let vk: Vec<&str> = keys.iter().enumerate().filter(|(i, _)| kept(*i)).map(|(_, k)| k.as_str()).collect();

    let mut items = Vec::new();
    for t in &tuples {
        let vv: Vec<String> = t.iter().enumerate().filter(|(i, _)| kept(*i)).map(|(_, v)| v.clone()).collect();
        let pairs: Vec<(&str, &str)> = vk.iter().copied().zip(vv.iter().map(String::as_str)).collect();
        // Each side is searched on the tuple's non-empty values only.
        let mut look: Vec<(&str, &str)> = pairs.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
        if look.is_empty() {
            look = pairs.clone();
        }
        let d = find(&nodes, &dest_ids, &look);
        let p = find(&nodes, if shared { &dest_ids } else { &patch_ids }, &look);
        match walk(&mut nodes, d, p, def, s)?.filter(|&v| nodes[v].as_object().is_some_and(|m| !m.is_empty())) {
            // Deleted (or left empty): so is every original matching the tuple.
            None => set_element(&nodes, &mut dest_ids, &vk, &vv, None),
            Some(v) => {
                // The merged element gets the tuple's key values it lacks.
                if let Some(m) = nodes[v].as_object_mut() {
                    for (k, x) in pairs.iter().filter(|(_, x)| !x.is_empty()) {
                        m.entry(*k).or_insert_with(|| resolve_plain(x));
                    }
                }
                set_element(&nodes, &mut items, &vk, &vv, Some(v));
            }
        }
    }
    let mut out = items;
    for &e in &dest_ids {
        let mut v = Vec::new();
        for k in &vk {
            match nodes[e].get(*k) {
                Some(f) => v.push(key_text(Some(f))),
                // kyaml appends an original lacking a key field, then goes on
                // with the values it has, no longer aligned with the keys:
                // a port without protocol is matched on its number alone.
                None => out.push(e),
            }
        }
        // With several keys kyaml first removes what matches, as replacing
        // would keep duplicates.
        if vk.len() > 1 {
            set_element(&nodes, &mut out, &vk, &v, None);
        }
        set_element(&nodes, &mut out, &vk, &v, Some(e));
    }
    Ok(out.into_iter().map(|i| nodes[i].clone()).collect())
}

/// A key field's text as kyaml compares it; empty when missing, null or not
/// a scalar.
fn key_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// kyaml `mergeValues`: two tuples sharing a value and differing only where
/// one is empty name the same element (port 80 without a protocol is port
/// 80/TCP when 80/TCP exists); both take the filled-in values. Each tuple is
/// compared as it was when its turn came, so the order matters as in kyaml.
fn unify(tuples: &mut [Vec<String>]) {
    for i in 0..tuples.len() {
        let a = tuples[i].clone();
        for j in 0..tuples.len() {
            let mut common = false;
            let merged: Option<Vec<String>> = a
                .iter()
                .zip(&tuples[j])
                .map(|(x, y)| {
                    common |= x == y;
                    if x == y || y.is_empty() {
                        Some(x.clone())
                    } else if x.is_empty() {
                        Some(y.clone())
                    } else {
                        None
                    }
                })
                .collect();
            if let Some(m) = merged.filter(|_| common) {
                tuples[i] = m.clone();
                tuples[j] = m;
            }
        }
    }
}

/// The first mapping in `list` whose fields hold exactly these values.
fn find(nodes: &[Value], list: &[usize], look: &[(&str, &str)]) -> Option<usize> {
    list.iter().copied().find(|&i| look.iter().all(|(k, v)| nodes[i].get(*k).is_some_and(|f| key_text(Some(f)) == *v)))
}

/// kyaml's walk of one element. An original is merged in place; a patch
/// element alone, or one saying `$patch: replace`, becomes the element.
/// Returns the node holding the result, `None` when deleted.
fn walk(nodes: &mut [Value], d: Option<usize>, p: Option<usize>, def: Option<&str>, s: &Schema) -> Result<Option<usize>, String> {
    let Some(p) = p else { return Ok(d) };
    let patch = nodes[p].clone();
    // kyaml removes `$patch` from the patch node as it reads it: walked
    // again (for another tuple), the node merges as a plain element, and
    // with no list in the resource it is the original too.
    if let Some(m) = nodes[p].as_object_mut() {
        m.remove("$patch");
    }
    let own = d.filter(|&d| d != p && directive(&patch) != Some("replace"));
    let merged = merge_value(own.map(|d| nodes[d].clone()), &patch, def, None, s)?;
    Ok(merged.map(|m| {
        let at = own.unwrap_or(p);
        nodes[at] = m;
        at
    }))
}

/// kyaml `ElementSetter`: drops empty elements, replaces each element
/// matching `keys` = `values` by `elem` (removes it when `None`) and appends
/// `elem` when none matched. An empty value matches any value of its key;
/// keys past the end of `values` reuse the last comparison, and with no
/// values at all nothing matches and nothing is kept.
fn set_element(nodes: &[Value], list: &mut Vec<usize>, keys: &[&str], values: &[String], elem: Option<usize>) {
    let mut found = false;
    let mut out = Vec::new();
    for &i in list.iter() {
        let n = &nodes[i];
        if n.is_null() || n.as_object().is_some_and(Map::is_empty) {
            continue;
        }
        let mut hit = false;
        let matched = keys.iter().enumerate().all(|(j, k)| {
            if let Some(v) = values.get(j) {
                hit = n.get(*k).is_some_and(|f| v.is_empty() || key_text(Some(f)) == *v);
            }
            hit
        });
        if matched {
            found = true;
            out.extend(elem);
        } else if !values.is_empty() {
            out.push(i);
        }
    }
    if !found {
        out.extend(elem);
    }
    *list = out;
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
    fn ports_merge_on_number_and_protocol() {
        let s = Schema::load();
        let ports = |d: Value, p: Value| {
            let out = apply(deploy(json!([{"name": "a", "ports": d}])), &deploy(json!([{"name": "a", "ports": p}])), &s).unwrap().unwrap();
            out["spec"]["template"]["spec"]["containers"][0]["ports"].clone()
        };
        let base = json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 90}]);
        // 80 has a protocol on one side only: the original stays as it is and
        // the patch element is dropped. 90 has none on either side and
        // merges; 53/UDP is new and comes first.
        let p = json!([{"containerPort": 80, "name": "http"}, {"containerPort": 90, "name": "ninety"}, {"containerPort": 53, "protocol": "UDP"}]);
        assert_eq!(
            ports(base.clone(), p),
            json!([{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 80, "protocol": "TCP"}, {"containerPort": 90, "name": "ninety"}])
        );
        // An original without protocol, set back by its number alone,
        // replaces every patch element with that number, 90/UDP included.
        let p = json!([{"containerPort": 90, "name": "ninety"}, {"containerPort": 90, "protocol": "UDP"}]);
        assert_eq!(ports(base.clone(), p), base);
    }

    #[test]
    fn null_deletes_and_unknown_lists_replace() {
        let s = Schema::load();
        let d = json!({"apiVersion": "x/v1", "kind": "Foo", "spec": {"a": 1, "l": [{"name": "a"}]}});
        let p = json!({"spec": {"a": null, "l": [{"name": "b"}]}});
        assert_eq!(apply(d, &p, &s).unwrap().unwrap()["spec"], json!({"l": [{"name": "b"}]}));
    }
}
