//! core/PersistentVolumeClaim.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing, Unknown};
use crate::obj::{at, str_or_empty};

/// Annotations the PV controller sets while a provisioner works on the claim;
/// Argo CD checks the beta one, Kubernetes 1.23+ sets both.
const PROVISIONER_ANNOTATIONS: [&str; 2] = ["volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner"];

pub(super) fn health(obj: &Value) -> Health {
    match str_or_empty(obj, &["status", "phase"]) {
        "Lost" => Health::status(Degraded),
        "Bound" => Health::status(Healthy),
        "Pending" => {
            let provisioning = PROVISIONER_ANNOTATIONS.iter().any(|a| at(obj, &["metadata", "annotations", a]).is_some());
            if provisioning {
                Health::new(Progressing, "Provisioning volume")
            } else {
                // Nothing is provisioning it: it waits for a pod to use it
                // (WaitForFirstConsumer) and that must not block the sync.
                Health::new(Healthy, "Waiting for consumer")
            }
        }
        _ => Health::status(Unknown),
    }
}
