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
    strip_noise(&mut out, opts);
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

/// Removes server bookkeeping: status (as argocd-cm's compare options
/// say), aggregated ClusterRole rules, noisy metadata and annotations.
fn strip_noise(obj: &mut Value, opts: &DiffOptions) {
    let group_kind = (
        obj["apiVersion"].as_str().and_then(|v| v.rsplit_once('/')).map_or("", |(g, _)| g).to_string(),
        obj["kind"].as_str().unwrap_or_default().to_string(),
    );
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    // Argo CD ignores status of all kinds by default (ignoreResourceStatusField: all).
    if opts.ignores_status(&group_kind.0, &group_kind.1) {
        map.remove("status");
    }
    // The ClusterRole controller fills an aggregated role's rules.
    let is_cluster_role = group_kind == ("rbac.authorization.k8s.io".to_string(), "ClusterRole".to_string());
    if opts.ignore_aggregated_roles && is_cluster_role && map.get("aggregationRule").is_some_and(|a| !a.is_null()) {
        map.remove("rules");
    }
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
    use crate::options::IgnoreStatus;
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
    fn compare_options_decide_about_status_and_aggregated_rules() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}, "status": {"replicas": 1}});
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "a"}, "status": {"x": 1}});
        let has_status = |obj: &Value, status| {
            let opts = DiffOptions::default().with_compare_options(status, false);
            normalize_with(obj, obj, None, obj, &opts).get("status").is_some()
        };
        assert!(!has_status(&deployment, IgnoreStatus::All) && !has_status(&crd, IgnoreStatus::All));
        assert!(has_status(&deployment, IgnoreStatus::Crd) && !has_status(&crd, IgnoreStatus::Crd));
        assert!(has_status(&deployment, IgnoreStatus::None) && has_status(&crd, IgnoreStatus::None));

        let role = |aggregated: bool| {
            let mut r = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "view"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
            if aggregated {
                r["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]});
            }
            r
        };
        let rules = |obj: &Value, ignore| {
            let opts = DiffOptions::default().with_compare_options(IgnoreStatus::All, ignore);
            normalize_with(obj, obj, None, obj, &opts).get("rules").is_some()
        };
        assert!(!rules(&role(true), true), "an aggregated role's rules are the controller's");
        assert!(rules(&role(true), false) && rules(&role(false), true), "only aggregated roles, only when asked");
    }

    #[test]
    fn removes_empties_bottom_up() {
        let mut v = json!({"a": {"b": {}, "c": []}, "d": [{}, {"e": {}}, 1], "f": 0});
        remove_empty(&mut v);
        assert_eq!(v, json!({"d": [1], "f": 0}));
    }
}
