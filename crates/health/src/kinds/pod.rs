//! core/Pod.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing, Unknown};
use crate::obj::{array_at, at, condition, int_or_zero, str_at, str_or_empty};

pub(super) fn health(obj: &Value) -> Health {
    // The API server defaults restartPolicy to Always.
    let restart_policy = str_at(obj, &["spec", "restartPolicy"]).unwrap_or("Always");
    let statuses = array_at(obj, &["status", "containerStatuses"]);
    let message = str_or_empty(obj, &["status", "message"]);

    // Only for long-running pods: a hook pod (Never/OnFailure) stuck on e.g.
    // ImagePullBackOff must stay Progressing, or the hook would fail early and
    // then still run once the image appears.
    if restart_policy == "Always" {
        let waiting_errors: Vec<&str> = statuses
            .iter()
            .filter_map(|c| at(c, &["state", "waiting"]))
            .filter(|w| {
                let reason = str_or_empty(w, &["reason"]);
                reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
            })
            .map(|w| str_or_empty(w, &["message"]))
            .collect();
        if !waiting_errors.is_empty() {
            return Health::new(Degraded, waiting_errors.join(", "));
        }
    }

    match str_or_empty(obj, &["status", "phase"]) {
        "Pending" => Health::new(Progressing, message),
        "Succeeded" => Health::new(Healthy, message),
        "Failed" => {
            if !message.is_empty() {
                return Health::new(Degraded, message);
            }
            let init = array_at(obj, &["status", "initContainerStatuses"]);
            let reason = init.iter().chain(statuses).find_map(fail_message).unwrap_or_default();
            Health::new(Degraded, reason)
        }
        "Running" => match restart_policy {
            "Always" => {
                if condition(obj, "Ready").is_some_and(|c| c.status == "True") {
                    return Health::new(Healthy, message);
                }
                // Not ready and a container has died before: it is failing,
                // not starting.
                if statuses.iter().any(|c| at(c, &["lastState", "terminated"]).is_some_and(|t| !t.is_null())) {
                    return Health::new(Degraded, message);
                }
                Health::new(Progressing, message)
            }
            // Finite pods, typically hooks: running means not done yet.
            "OnFailure" | "Never" => Health::new(Progressing, message),
            _ => Health::new(Unknown, message),
        },
        _ => Health::new(Unknown, message),
    }
}

/// Why a terminated container failed, if it did.
fn fail_message(status: &Value) -> Option<String> {
    let terminated = at(status, &["state", "terminated"]).filter(|t| t.is_object())?;
    let message = str_or_empty(terminated, &["message"]);
    if !message.is_empty() {
        return Some(message.to_string());
    }
    let reason = str_or_empty(terminated, &["reason"]);
    if reason == "OOMKilled" {
        return Some(reason.to_string());
    }
    let code = int_or_zero(terminated, &["exitCode"]);
    (code != 0).then(|| format!("container {:?} failed with exit code {code}", str_or_empty(status, &["name"])))
}
