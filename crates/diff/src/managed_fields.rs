//! `managedFieldsManagers`: remove the fields that given field managers own,
//! per the live object's `metadata.managedFields` (FieldsV1 format).
//!
//! FieldsV1 is a JSON tree whose keys are path elements:
//! `f:<name>` a field, `k:<json object>` a list element by its key fields,
//! `v:<json value>` a set element by value, `i:<n>` a list element by index,
//! and `.` the node itself. A node that is `{}` or contains `.` is owned as a
//! whole, and like structured-merge-diff's `RemoveItems` we remove it whole;
//! a node with only children is descended into.

use crate::compare::scalars_equal;
use serde_json::{Map, Value};

/// The FieldsV1 trees of `live`'s managedFields entries written by one of
/// `managers` (any operation, any subresource: an HPA writes `spec.replicas`
/// through the scale subresource, and it is still the same field).
pub(crate) fn owned_sets<'a>(live: &'a Value, managers: &[String]) -> Vec<&'a Map<String, Value>> {
    let Some(entries) = live.pointer("/metadata/managedFields").and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str).is_some_and(|m| managers.iter().any(|want| want == m)))
        .filter_map(|e| e.get("fieldsV1").and_then(Value::as_object))
        .collect()
}

/// Removes from `node` every field that `set` owns.
pub(crate) fn remove_owned(node: &mut Value, set: &Map<String, Value>) {
    match node {
        Value::Object(map) => remove_from_object(map, set),
        Value::Array(items) => remove_from_array(items, set),
        _ => {}
    }
}

/// Whether a FieldsV1 node means "owned as a whole".
fn owns_whole(child: &Value) -> bool {
    match child {
        Value::Object(m) => m.is_empty() || m.contains_key("."),
        // Not valid FieldsV1; treat conservatively as "nothing owned".
        _ => false,
    }
}

fn remove_from_object(map: &mut Map<String, Value>, set: &Map<String, Value>) {
    for (key, child) in set {
        let Some(name) = key.strip_prefix("f:") else {
            continue;
        };
        if owns_whole(child) {
            map.remove(name);
        } else if let (Some(value), Some(child_set)) = (map.get_mut(name), child.as_object()) {
            remove_owned(value, child_set);
        }
    }
}

fn remove_from_array(items: &mut Vec<Value>, set: &Map<String, Value>) {
    let mut doomed = Vec::new();
    for (key, child) in set {
        let selected: Vec<usize> = if let Some(keys) = key.strip_prefix("k:") {
            match serde_json::from_str::<Map<String, Value>>(keys) {
                Ok(keys) => (0..items.len()).filter(|&i| key_matches(&items[i], &keys)).collect(),
                Err(_) => continue,
            }
        } else if let Some(value) = key.strip_prefix("v:") {
            match serde_json::from_str::<Value>(value) {
                Ok(value) => (0..items.len()).filter(|&i| items[i] == value).collect(),
                Err(_) => continue,
            }
        } else if let Some(index) = key.strip_prefix("i:") {
            match index.parse::<usize>() {
                Ok(i) if i < items.len() => vec![i],
                _ => continue,
            }
        } else {
            continue;
        };
        // A set value (`v:`) has no children: owning it means owning it whole.
        if owns_whole(child) || key.starts_with("v:") {
            doomed.extend(selected);
        } else if let Some(child_set) = child.as_object() {
            for i in selected {
                if let Some(item) = items.get_mut(i) {
                    remove_owned(item, child_set);
                }
            }
        }
    }
    doomed.sort_unstable();
    doomed.dedup();
    // Remove from the back so earlier indices stay valid.
    for i in doomed.into_iter().rev() {
        items.remove(i);
    }
}

/// Whether list element `item` is the one named by the key fields `keys`.
/// A key field missing from the element is tolerated (the server may default
/// it, e.g. `protocol: TCP` on ports) as long as at least one key matches.
fn key_matches(item: &Value, keys: &Map<String, Value>) -> bool {
    let Some(obj) = item.as_object() else {
        return false;
    };
    let mut any = false;
    for (k, want) in keys {
        match obj.get(k) {
            Some(have) if scalars_equal(have, want) => any = true,
            Some(_) => return false,
            None => {}
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn removes_leaf_fields() {
        let mut obj = json!({"spec": {"replicas": 3, "paused": false}});
        remove_owned(&mut obj, &set(json!({"f:spec": {"f:replicas": {}}})));
        assert_eq!(obj, json!({"spec": {"paused": false}}));
    }

    #[test]
    fn removes_keyed_list_elements_and_their_fields() {
        let mut obj = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "sidecar", "image": "s:1"}
        ]}});
        let fields = set(json!({"f:spec": {"f:containers": {
            "k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}, "f:name": {}},
            "k:{\"name\":\"app\"}": {"f:env": {"k:{\"name\":\"X\"}": {"f:value": {}}}}
        }}}));
        remove_owned(&mut obj, &fields);
        assert_eq!(obj, json!({"spec": {"containers": [{"name": "app", "image": "a:1", "env": [{"name": "X"}]}]}}));
    }

    #[test]
    fn removes_set_values_and_indices() {
        let mut obj = json!({"metadata": {"finalizers": ["a", "b", "c"]}, "l": [1, 2, 3]});
        remove_owned(&mut obj, &set(json!({"f:metadata": {"f:finalizers": {"v:\"b\"": {}}}, "f:l": {"i:0": {}}})));
        assert_eq!(obj, json!({"metadata": {"finalizers": ["a", "c"]}, "l": [2, 3]}));
    }

    #[test]
    fn multi_key_elements_tolerate_defaulted_keys() {
        let mut ports = json!([{"containerPort": 80}, {"containerPort": 81, "protocol": "UDP"}]);
        let fields = set(json!({
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}},
            "k:{\"containerPort\":81,\"protocol\":\"TCP\"}": {".": {}}
        }));
        remove_owned(&mut ports, &fields);
        assert_eq!(ports, json!([{"containerPort": 81, "protocol": "UDP"}]));
    }

    #[test]
    fn selects_entries_by_manager() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kubectl", "fieldsV1": {"f:a": {}}},
            {"manager": "hpa", "operation": "Update", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]}});
        let sets = owned_sets(&live, &["hpa".to_owned()]);
        assert_eq!(sets.len(), 1);
        assert!(sets[0].contains_key("f:spec"));
    }
}
