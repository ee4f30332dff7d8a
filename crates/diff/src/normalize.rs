//! Normalisation: remove what never counts as drift, then apply the matching
//! `ignoreDifferences` rules.

use crate::managed_fields;
use crate::mask;
use crate::options::{DiffOptions, Identity};
use crate::pointer;
use serde_json::Value;

/// Metadata the server owns or that only records history; never drift.
const NOISE_METADATA: &[&str] =
    &["managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink", "deletionGracePeriodSeconds"];

/// Annotations written by tools as bookkeeping, not as desired state.
/// (`argocd.argoproj.io/tracking-id` is deliberately kept: it is part of
/// what driftless applies, and a changed tracking id is real drift.)
const NOISE_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// Normalises `obj`, matching rules by `identity_of`'s identity (with
/// `fallback` filling a missing namespace) and taking managed fields from
/// `managers_from`.
pub(crate) fn normalize_with(
    obj: &Value,
    identity_of: &Value,
    fallback: Option<&Value>,
    managers_from: &Value,
    opts: &DiffOptions,
) -> Value {
    let mut out = obj.clone();
    strip_noise(&mut out);
    // The server stores `stringData` as base64 `data`; fold it the same way so
    // a manifest using stringData compares with the live data (as Argo CD).
    if mask::is_secret(&out) {
        mask::fold_string_data(&mut out);
    }
    let id = Identity::of(identity_of, fallback);
    let mut touched = false;
    for rule in opts.matching(&id) {
        touched = true;
        for path in &rule.pointers {
            pointer::remove(&mut out, path);
        }
        for jq in &rule.jq {
            let mut paths = jq.paths(&out);
            // Deepest/last first, so removing one path never shifts the array
            // index of another.
            paths.sort_unstable();
            paths.dedup();
            for path in paths.iter().rev() {
                pointer::remove(&mut out, path);
            }
        }
        if !rule.managers.is_empty() {
            for set in managed_fields::owned_sets(managers_from, &rule.managers) {
                managed_fields::remove_owned(&mut out, set);
            }
        }
    }
    // As Argo CD does after applying ignore rules: removing the last field of
    // a map leaves `{}` on one side and maybe nothing on the other.
    if touched {
        remove_empty(&mut out);
    }
    out
}

/// Removes server bookkeeping: status, noisy metadata and annotations.
fn strip_noise(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    // Argo CD ignores status of all kinds by default (ignoreResourceStatusField: all).
    map.remove("status");
    let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for key in NOISE_METADATA {
        meta.remove(*key);
    }
    if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        for key in NOISE_ANNOTATIONS {
            annotations.remove(*key);
        }
    }
    // `annotations: {}` and no annotations are the same to the server.
    for key in ["annotations", "labels"] {
        if meta.get(key).is_some_and(is_empty_collection) {
            meta.remove(key);
        }
    }
}

fn is_empty_collection(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// Recursively drops empty maps and lists (and list elements that became
/// empty maps), bottom-up.
fn remove_empty(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                remove_empty(child);
            }
            map.retain(|_, child| !matches!(child, Value::Object(m) if m.is_empty()) && !matches!(child, Value::Array(a) if a.is_empty()));
        }
        Value::Array(items) => {
            for child in items.iter_mut() {
                remove_empty(child);
            }
            items.retain(|child| !matches!(child, Value::Object(m) if m.is_empty()));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_noise_but_keeps_tracking_id() {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "1", "generation": 2,
                "creationTimestamp": "t", "managedFields": [], "selfLink": "/x",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "argocd.argoproj.io/tracking-id": "app:/ConfigMap:ns/a"},
                "labels": {}},
            "data": {"k": "v"},
            "status": {"x": 1}
        });
        let out = normalize_with(&obj, &obj, None, &obj, &DiffOptions::default());
        assert_eq!(
            out,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "annotations": {"argocd.argoproj.io/tracking-id": "app:/ConfigMap:ns/a"}},
                "data": {"k": "v"}
            })
        );
    }

    #[test]
    fn removes_empties_bottom_up() {
        let mut v = json!({"a": {"b": {}, "c": []}, "d": [{}, {"e": {}}, 1], "f": 0});
        remove_empty(&mut v);
        assert_eq!(v, json!({"d": [1], "f": 0}));
    }
}
