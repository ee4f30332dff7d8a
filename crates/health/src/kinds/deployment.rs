//! apps/Deployment, after kubectl's rollout status as Argo CD borrows it.

use serde_json::Value;

use crate::HealthStatusCode::{Degraded, Healthy, Progressing, Suspended};
use crate::obj::{bool_at, condition, generation, int_at, int_or_zero, name, observed_generation};
use crate::{Health, HealthStatusCode};

pub(super) fn health(obj: &Value) -> Health {
    if bool_at(obj, &["spec", "paused"]) {
        return Health::new(Suspended, "Deployment is paused");
    }
    if generation(obj) > observed_generation(obj) {
        return Health::new(Progressing, "Waiting for rollout to finish: observed deployment generation less than desired generation");
    }
    let replicas = int_at(obj, &["spec", "replicas"]);
    let updated = int_or_zero(obj, &["status", "updatedReplicas"]);
    let current = int_or_zero(obj, &["status", "replicas"]);
    let available = int_or_zero(obj, &["status", "availableReplicas"]);
    if condition(obj, "Progressing").is_some_and(|c| c.reason == "ProgressDeadlineExceeded") {
        return Health::new(Degraded, format!("Deployment {:?} exceeded its progress deadline", name(obj)));
    }
    if let Some(replicas) = replicas.filter(|r| updated < *r) {
        return progressing(format!("Waiting for rollout to finish: {updated} out of {replicas} new replicas have been updated..."));
    }
    if current > updated {
        return progressing(format!("Waiting for rollout to finish: {} old replicas are pending termination...", current - updated));
    }
    if available < updated {
        return progressing(format!("Waiting for rollout to finish: {available} of {updated} updated replicas are available..."));
    }
    Health::status(Healthy)
}

fn progressing(message: String) -> Health {
    Health::new(HealthStatusCode::Progressing, message)
}
