//! Kinds without a built-in rule (mostly custom resources).
//!
//! Argo CD ships a Lua script per popular CRD; nearly all of them read the
//! same few signals, so instead of bundling scripts we read those signals
//! here. An object showing none of them has no health, like a ConfigMap.

use serde_json::Value;

use crate::HealthStatusCode::{Degraded, Healthy, Progressing};
use crate::obj::{Condition, conditions, generation, int_at};
use crate::{GroupKind, Health};

/// Health from `status.observedGeneration` and `status.conditions`, or `None`
/// when the object carries neither.
pub(crate) fn health(gk: &GroupKind<'_>, obj: &Value) -> Option<Health> {
    if is_builtin_group(gk.group) {
        return None;
    }
    let observed = int_at(obj, &["status", "observedGeneration"]);
    // Conditions describe an older spec until the controller catches up.
    if let Some(observed) = observed
        && generation(obj) > observed
    {
        return Some(Health::new(Progressing, "Waiting for spec update to be observed..."));
    }
    let conds = conditions(obj);
    let find = |t: &str| conds.iter().find(|c| c.type_ == t);
    // kstatus conventions (Flux, Cluster API, many operators).
    if let Some(c) = find("Stalled").filter(|c| c.status == "True") {
        return Some(Health::new(Degraded, describe(c)));
    }
    if let Some(c) = find("Reconciling").filter(|c| c.status == "True") {
        return Some(Health::new(Progressing, describe(c)));
    }
    if let Some(c) = find("Ready") {
        let status = match c.status {
            "True" => Healthy,
            // What Argo CD's bundled scripts (cert-manager, Crossplane, ...) do.
            "False" => Degraded,
            _ => Progressing,
        };
        return Some(Health::new(status, describe(c)));
    }
    if let Some(c) = find("Available") {
        // Not (yet) available is waiting, not failing, as for APIService.
        let status = if c.status == "True" { Healthy } else { Progressing };
        return Some(Health::new(status, describe(c)));
    }
    observed.map(|_| Health::status(Healthy))
}

/// The condition's message, else its reason.
pub(super) fn describe(c: &Condition<'_>) -> String {
    if c.message.is_empty() { c.reason.to_string() } else { c.message.to_string() }
}

/// Kubernetes' own API groups: their kinds without a rule in Argo CD (Node,
/// PodDisruptionBudget, ...) have no health there, so none here either.
fn is_builtin_group(group: &str) -> bool {
    // Gateway API is a set of CRDs in a k8s.io group, with controllers'
    // conditions like any other custom resource.
    group.is_empty() || !group.contains('.') || (group.ends_with(".k8s.io") && group != "gateway.networking.k8s.io")
}
