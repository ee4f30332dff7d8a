//! apps/ReplicaSet.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing};
use crate::obj::{condition, generation, int_at, int_or_zero, observed_generation};

pub(super) fn health(obj: &Value) -> Health {
    if generation(obj) > observed_generation(obj) {
        return Health::new(Progressing, "Waiting for rollout to finish: observed replica set generation less than desired generation");
    }
    if let Some(failure) = condition(obj, "ReplicaFailure").filter(|c| c.status == "True") {
        return Health::new(Degraded, failure.message);
    }
    let available = int_or_zero(obj, &["status", "availableReplicas"]);
    if let Some(replicas) = int_at(obj, &["spec", "replicas"]).filter(|r| available < *r) {
        return Health::new(
            Progressing,
            format!("Waiting for rollout to finish: {available} out of {replicas} new replicas are available..."),
        );
    }
    Health::status(Healthy)
}
