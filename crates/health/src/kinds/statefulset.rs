//! apps/StatefulSet, after kubectl's rollout status as Argo CD borrows it.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Healthy, Progressing};
use crate::obj::{generation, int_at, int_or_zero, observed_generation, str_at, str_or_empty};

pub(super) fn health(obj: &Value) -> Health {
    let observed = observed_generation(obj);
    if observed == 0 || generation(obj) > observed {
        return Health::new(Progressing, "Waiting for statefulset spec update to be observed...");
    }
    let replicas = int_at(obj, &["spec", "replicas"]);
    let ready = int_or_zero(obj, &["status", "readyReplicas"]);
    let updated = int_or_zero(obj, &["status", "updatedReplicas"]);
    if let Some(replicas) = replicas.filter(|r| ready < *r) {
        return Health::new(Progressing, format!("Waiting for {} pods to be ready...", replicas - ready));
    }
    // The API server defaults the strategy to RollingUpdate.
    let strategy = str_at(obj, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    let rolling = crate::obj::at(obj, &["spec", "updateStrategy", "rollingUpdate"]).filter(|v| v.is_object());
    if strategy == "RollingUpdate"
        && let Some(rolling) = rolling
    {
        let partition = int_at(rolling, &["partition"]);
        if let (Some(replicas), Some(partition)) = (replicas, partition)
            && updated < replicas - partition
        {
            return Health::new(
                Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    replicas - partition
                ),
            );
        }
        return Health::new(Healthy, format!("partitioned roll out complete: {updated} new pods have been updated..."));
    }
    if strategy == "OnDelete" {
        return Health::new(Healthy, format!("statefulset has {ready} ready pods"));
    }
    let update_rev = str_or_empty(obj, &["status", "updateRevision"]);
    let current_rev = str_or_empty(obj, &["status", "currentRevision"]);
    if update_rev != current_rev {
        return Health::new(
            Progressing,
            format!("waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}..."),
        );
    }
    let current = int_or_zero(obj, &["status", "currentReplicas"]);
    Health::new(Healthy, format!("statefulset rolling update complete {current} pods at revision {current_rev}..."))
}
