//! Output order: kustomize's legacy kind order (the default) or FIFO.

use crate::resource::{Gvk, Resource};

/// Kinds emitted first, in this order.
pub const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds emitted last, in this order.
pub const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn rank(kind: &str, first: &[String], last: &[String]) -> i64 {
    if let Some(i) = first.iter().position(|k| k == kind) {
        return i as i64 - first.len() as i64;
    }
    if let Some(i) = last.iter().position(|k| k == kind) {
        return 1 + i as i64;
    }
    0
}

fn gvk_string(g: &Gvk) -> String {
    let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
    format!("{}_{}_{}", or(&g.group, "~G"), or(&g.version, "~V"), or(&g.kind, "~K"))
}

/// Sorts by kind rank, then group/version/kind, then namespace and name.
pub fn legacy(resources: &mut [Resource], first: &[String], last: &[String]) {
    resources.sort_by(|a, b| {
        let (ga, gb) = (a.gvk(), b.gvk());
        if ga != gb {
            let (ra, rb) = (rank(&ga.kind, first, last), rank(&gb.kind, first, last));
            if ra != rb {
                return ra.cmp(&rb);
            }
            let (sa, sb) = (gvk_string(&ga), gvk_string(&gb));
            // Core Namespaces sort after grouped ones with the same rank.
            if ga.kind == "Namespace" && gb.kind == "Namespace" && (ga.group.is_empty() || gb.group.is_empty()) {
                return sb.cmp(&sa);
            }
            return sa.cmp(&sb);
        }
        let key = |r: &Resource| {
            let ns = if r.namespace().is_empty() { "~X" } else { r.namespace() };
            let nm = if r.name().is_empty() { "~N" } else { r.name() };
            format!("{ns}|{nm}")
        };
        key(a).cmp(&key(b))
    });
}

/// The default lists as owned strings.
pub fn defaults() -> (Vec<String>, Vec<String>) {
    (ORDER_FIRST.iter().map(|s| s.to_string()).collect(), ORDER_LAST.iter().map(|s| s.to_string()).collect())
}
