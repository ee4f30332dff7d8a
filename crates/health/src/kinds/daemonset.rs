//! apps/DaemonSet, after kubectl's rollout status as Argo CD borrows it.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Healthy, Progressing};
use crate::obj::{generation, int_or_zero, name, observed_generation, str_at};

pub(super) fn health(obj: &Value) -> Health {
    if generation(obj) > observed_generation(obj) {
        return Health::new(Progressing, "Waiting for rollout to finish: observed daemon set generation less than desired generation");
    }
    let updated = int_or_zero(obj, &["status", "updatedNumberScheduled"]);
    let desired = int_or_zero(obj, &["status", "desiredNumberScheduled"]);
    let available = int_or_zero(obj, &["status", "numberAvailable"]);
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return Health::new(Healthy, format!("daemon set {updated} out of {desired} new pods have been updated"));
    }
    if updated < desired {
        return Health::new(
            Progressing,
            format!("Waiting for daemon set {:?} rollout to finish: {updated} out of {desired} new pods have been updated...", name(obj)),
        );
    }
    if available < desired {
        return Health::new(
            Progressing,
            format!("Waiting for daemon set {:?} rollout to finish: {available} of {desired} updated pods are available...", name(obj)),
        );
    }
    Health::status(Healthy)
}
