//! argoproj.io/Application as a resource of its parent (app-of-apps).
//!
//! Argo CD judges a child app only with an opt-in Lua check that copies the
//! child's reported health (argo-cd #6708), and that report may describe the
//! spec the child had before the parent's sync changed it (argo-cd #8778), so
//! a wave of child apps does not wait for the previous one. driftless judges
//! the child by default (argocd-cm `application.childHealth: "false"` turns it
//! off): Healthy only when the child is Healthy and Synced, its status is of
//! the spec it has now (`status.sync.comparedTo`), and no sync of it is
//! requested or running.

use driftless_api::{ApplicationDestination, ApplicationSource, ResourceIgnoreDifferences};
use serde::Deserialize;
use serde_json::Value;

use crate::HealthStatusCode::{Degraded, Healthy, Missing, Progressing, Suspended, Unknown};
use crate::obj::{at, conditions, str_at, str_or_empty};
use crate::{Health, HealthStatusCode};

/// What a child's status was computed for: the fields of `spec` that
/// `status.sync.comparedTo` records (the two have the same names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    source: Option<ApplicationSource>,
    #[serde(default)]
    sources: Vec<ApplicationSource>,
    #[serde(default)]
    destination: ApplicationDestination,
    #[serde(default)]
    ignore_differences: Vec<ResourceIgnoreDifferences>,
}

impl Target {
    fn read(obj: &Value, path: &[&str]) -> Result<Option<Target>, String> {
        match at(obj, path) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Target::deserialize(v).map(Some).map_err(|e| format!("{}: {e}", path.join("."))),
        }
    }

    /// Whether a status compared against `seen` is about this spec. Typed,
    /// so that an empty list and an absent one are the same.
    fn is_seen_in(&self, seen: &Target) -> bool {
        let sources = if self.sources.is_empty() { self.source == seen.source } else { self.sources == seen.sources };
        sources && same_destination(&self.destination, &seen.destination) && self.ignore_differences == seen.ignore_differences
    }
}

/// Argo CD has recorded the server it resolved a destination `name` to beside
/// the name: what the spec sets must match, what it leaves out may be there.
fn same_destination(spec: &ApplicationDestination, seen: &ApplicationDestination) -> bool {
    let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let agrees = |want: &Option<String>, got: &Option<String>| set(want).is_none() || set(want) == set(got);
    set(&spec.namespace) == set(&seen.namespace) && agrees(&spec.server, &seen.server) && agrees(&spec.name, &seen.name)
}

pub(super) fn health(obj: &Value) -> Health {
    let name = str_or_empty(obj, &["metadata", "name"]);
    let mut health = judge(obj);
    health.message = health.message.map(|why| format!("child app {name} {why}"));
    health
}

/// The judgement of [`health`], its message without the child's name ("is
/// OutOfSync", "has a sync requested"): also whether an app another waits
/// for is ready ([`crate::application_readiness`]).
pub(crate) fn judge(obj: &Value) -> Health {
    let say = |status: HealthStatusCode, why: String| Health::new(status, why);
    let Some(status) = at(obj, &["status"]).filter(|s| s.is_object()) else {
        return say(Progressing, "has no status yet".into());
    };
    if at(obj, &["operation"]).is_some_and(|op| !op.is_null()) {
        return say(Progressing, "has a sync requested".into());
    }
    let phase = str_or_empty(status, &["operationState", "phase"]);
    let op_message = str_or_empty(status, &["operationState", "message"]);
    if matches!(phase, "Running" | "Terminating") {
        return say(Progressing, colon("is syncing", op_message));
    }
    let (spec, seen) = match (Target::read(obj, &["spec"]), Target::read(status, &["sync", "comparedTo"])) {
        (Ok(spec), Ok(seen)) => (spec.unwrap_or_default(), seen),
        (Err(e), _) | (_, Err(e)) => return say(Unknown, format!("cannot be read: {e}")),
    };
    if !seen.is_some_and(|seen| spec.is_seen_in(&seen)) {
        return say(Progressing, colon("has not reported on its current spec yet", &errors(obj)));
    }
    match phase {
        "Failed" => return say(Degraded, colon("last sync failed", op_message)),
        "Error" => return say(Degraded, colon("last sync errored", op_message)),
        _ => {}
    }
    let Some(own) = at(status, &["health"]).filter(|h| h.is_object()) else {
        return say(Progressing, "has no health yet".into());
    };
    let own_message = str_or_empty(own, &["message"]);
    let code = match str_at(own, &["status"]).and_then(HealthStatusCode::parse) {
        Some(code) => code,
        None => return say(Unknown, "reports an invalid health status".into()),
    };
    match code {
        Degraded | Missing | Suspended | Unknown => return say(code, colon(&format!("is {code}"), own_message)),
        Healthy | Progressing => {}
    }
    let sync = str_or_empty(status, &["sync", "status"]);
    if sync != "Synced" {
        let sync = if sync.is_empty() { "Unknown" } else { sync };
        return say(Progressing, colon(&format!("is {sync}"), &errors(obj)));
    }
    match code {
        Healthy => Health::status(Healthy),
        _ => say(Progressing, colon("is Progressing", own_message)),
    }
}

/// `what: detail`, or `what` alone without a detail.
fn colon(what: &str, detail: &str) -> String {
    if detail.is_empty() { what.to_string() } else { format!("{what}: {detail}") }
}

/// The child's error conditions (InvalidSpecError, ComparisonError, ...),
/// which tell why its status does not move.
fn errors(obj: &Value) -> String {
    let each: Vec<String> =
        conditions(obj).iter().filter(|c| c.type_.ends_with("Error")).map(|c| format!("{}: {}", c.type_, c.message)).collect();
    each.join("; ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A child app in sync with its spec, Healthy, its last sync done.
    fn child() -> Value {
        let spec = json!({
            "project": "default",
            "source": {"repoURL": "https://git.example.com/deploy.git", "path": "apps/web", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "syncPolicy": {"automated": {}},
        });
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": spec,
            "status": {
                "health": {"status": "Healthy"},
                "sync": {"status": "Synced", "revision": "abc", "comparedTo": {
                    "source": spec["source"], "destination": spec["destination"]}},
                "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)",
                                   "operation": {"sync": {}}, "startedAt": "2026-01-01T00:00:00Z"},
            },
        })
    }

    fn with(mut obj: Value, path: &[&str], value: Value) -> Value {
        let (last, parents) = path.split_last().expect("a path");
        let mut cur = &mut obj;
        for key in parents {
            cur = cur.as_object_mut().expect("an object").entry(*key).or_insert(json!({}));
        }
        cur.as_object_mut().expect("an object").insert((*last).to_string(), value);
        obj
    }

    fn judged(obj: &Value) -> (HealthStatusCode, String) {
        let h = health(obj);
        (h.status, h.message.unwrap_or_default())
    }

    #[test]
    fn healthy_only_when_synced_and_healthy_at_its_spec() {
        assert_eq!(judged(&child()), (Healthy, String::new()));
        // Argo CD's writers may add the server a name resolved to; empty fields are absent ones.
        let named = with(child(), &["spec", "destination"], json!({"name": "in-cluster", "namespace": "web", "server": ""}));
        let named = with(
            named,
            &["status", "sync", "comparedTo", "destination"],
            json!({"name": "in-cluster", "server": "https://kubernetes.default.svc", "namespace": "web"}),
        );
        assert_eq!(judged(&named).0, Healthy);
        let multi =
            with(child(), &["spec", "sources"], json!([{"repoURL": "https://a", "path": "x"}, {"repoURL": "https://b", "ref": "values"}]));
        let sources = multi["spec"]["sources"].clone();
        let multi = with(multi, &["status", "sync", "comparedTo", "sources"], sources);
        assert_eq!(judged(&multi).0, Healthy);
    }

    #[test]
    fn no_status_yet_is_progressing() {
        let mut fresh = child();
        fresh.as_object_mut().expect("object").remove("status");
        assert_eq!(judged(&fresh), (Progressing, "child app web has no status yet".into()));
        assert_eq!(judged(&with(child(), &["status"], Value::Null)).0, Progressing);
        let no_health = with(child(), &["status", "health"], Value::Null);
        assert_eq!(judged(&no_health), (Progressing, "child app web has no health yet".into()));
    }

    #[test]
    fn a_status_of_an_older_spec_is_progressing() {
        // The parent just changed the child's path: its Healthy is of the old one.
        let moved = with(child(), &["spec", "source", "path"], json!("apps/web-v2"));
        assert_eq!(judged(&moved), (Progressing, "child app web has not reported on its current spec yet".into()));
        let retargeted = with(child(), &["spec", "destination", "namespace"], json!("web-2"));
        assert_eq!(judged(&retargeted).0, Progressing);
        let now_multi = with(child(), &["spec", "sources"], json!([{"repoURL": "https://a", "path": "x"}]));
        assert_eq!(judged(&now_multi).0, Progressing);
        let ignoring = with(child(), &["spec", "ignoreDifferences"], json!([{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]));
        assert_eq!(judged(&ignoring).0, Progressing);
        let never_compared = with(child(), &["status", "sync", "comparedTo"], Value::Null);
        assert_eq!(judged(&never_compared).0, Progressing);
        // Even a Degraded or failed report is of the old spec: the new one may fix it.
        let old_failure =
            with(with(moved, &["status", "health", "status"], json!("Degraded")), &["status", "operationState", "phase"], json!("Failed"));
        assert_eq!(judged(&old_failure).0, Progressing);
        // Why it does not move, when the child says.
        let invalid = with(
            never_compared,
            &["status", "conditions"],
            json!([
                {"type": "InvalidSpecError", "message": "project tools does not exist"},
                {"type": "SyncWindowBlocked", "message": "not an error"},
            ]),
        );
        assert_eq!(
            judged(&invalid).1,
            "child app web has not reported on its current spec yet: InvalidSpecError: project tools does not exist"
        );
    }

    #[test]
    fn out_of_sync_is_progressing() {
        let drifted = with(child(), &["status", "sync", "status"], json!("OutOfSync"));
        assert_eq!(judged(&drifted), (Progressing, "child app web is OutOfSync".into()));
        let broken = with(
            with(child(), &["status", "sync", "status"], json!("Unknown")),
            &["status", "conditions"],
            json!([{"type": "ComparisonError", "message": "repository not found"}]),
        );
        assert_eq!(judged(&broken), (Progressing, "child app web is Unknown: ComparisonError: repository not found".into()));
    }

    #[test]
    fn a_requested_or_running_sync_is_progressing() {
        let requested = with(child(), &["operation"], json!({"sync": {"revision": "main"}}));
        assert_eq!(judged(&requested), (Progressing, "child app web has a sync requested".into()));
        for phase in ["Running", "Terminating"] {
            let running = with(
                with(child(), &["status", "operationState", "phase"], json!(phase)),
                &["status", "operationState", "message"],
                json!("waiting for wave 2"),
            );
            assert_eq!(judged(&running), (Progressing, "child app web is syncing: waiting for wave 2".into()), "{phase}");
        }
        // A request after a failure: the new sync is what counts.
        let retried = with(with(child(), &["status", "operationState", "phase"], json!("Failed")), &["operation"], json!({"sync": {}}));
        assert_eq!(judged(&retried).0, Progressing);
    }

    #[test]
    fn a_degraded_child_or_failed_sync_is_degraded_and_says_why() {
        let degraded =
            with(child(), &["status", "health"], json!({"status": "Degraded", "message": "back-off 5m0s restarting failed container"}));
        assert_eq!(judged(&degraded), (Degraded, "child app web is Degraded: back-off 5m0s restarting failed container".into()));
        let failed = with(
            with(child(), &["status", "operationState", "phase"], json!("Failed")),
            &["status", "operationState", "message"],
            json!("one or more objects failed to apply"),
        );
        assert_eq!(judged(&failed), (Degraded, "child app web last sync failed: one or more objects failed to apply".into()));
        let errored = with(child(), &["status", "operationState", "phase"], json!("Error"));
        assert_eq!(judged(&errored).0, Degraded);
        assert!(judged(&errored).1.contains("errored"));
    }

    #[test]
    fn missing_suspended_and_unknown_are_the_childs_own() {
        for code in [Missing, Suspended, Unknown] {
            let obj = with(child(), &["status", "health"], json!({"status": code.as_str()}));
            assert_eq!(judged(&obj), (code, format!("child app web is {code}")));
        }
        let odd = with(child(), &["status", "health", "status"], json!("Fine"));
        assert_eq!(judged(&odd).0, Unknown);
        let progressing = with(child(), &["status", "health"], json!({"status": "Progressing", "message": "1 of 2 replicas"}));
        assert_eq!(judged(&progressing), (Progressing, "child app web is Progressing: 1 of 2 replicas".into()));
    }

    #[test]
    fn unreadable_specs_are_unknown() {
        let bad = with(child(), &["spec", "sources"], json!("not a list"));
        let (code, message) = judged(&bad);
        assert_eq!(code, Unknown);
        assert!(message.starts_with("child app web cannot be read: spec:"), "{message}");
    }
}
