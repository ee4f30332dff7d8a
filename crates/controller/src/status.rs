//! Writing what the controller saw into `Application.status`, in Argo CD's
//! layout.

use driftless_api::{Application, ApplicationCondition, ApplicationStatus, ComparedTo, HealthStatus, ResourceStatus, SyncStatus};
use driftless_sync::compare::CompareResult;

use crate::desired::Desired;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Now, as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Fills the comparison fields of `status` from `result`.
pub fn apply_comparison(status: &mut ApplicationStatus, app: &Application, desired: &Desired, result: &CompareResult) {
    let multi_source = !app.spec.sources.is_empty();
    status.resources = result
        .resources
        .iter()
        .map(|r| ResourceStatus {
            group: r.key.group.clone(),
            version: r.api_version.rsplit_once('/').map(|(_, v)| v).unwrap_or(&r.api_version).to_string(),
            kind: r.key.kind.clone(),
            namespace: r.key.namespace.clone(),
            name: r.key.name.clone(),
            status: r.sync,
            health: r.health.clone(),
            hook: false,
            requires_pruning: r.requires_pruning,
            sync_wave: (r.wave != 0).then_some(r.wave),
        })
        .collect();
    status.sync = SyncStatus {
        status: result.sync,
        compared_to: Some(ComparedTo {
            source: app.primary_source().cloned(),
            sources: if multi_source { app.spec.sources.clone() } else { Vec::new() },
            destination: app.spec.destination.clone(),
            ignore_differences: app.spec.ignore_differences.clone(),
        }),
        revision: Some(desired.revision.clone()),
        revisions: if multi_source { desired.revisions.clone() } else { Vec::new() },
    };
    status.health = HealthStatus::status(result.health);
    status.summary.images = result.images.clone();
    status.source_type = Some(desired.source_type.as_str().to_string());
    status.reconciled_at = Some(now());
    clear_condition(status, driftless_api::condition::COMPARISON_ERROR);
    clear_condition(status, driftless_api::condition::INVALID_SPEC_ERROR);
}

/// Sets a condition of `type_`, keeping its first-seen time when the message
/// has not changed.
pub fn set_condition(status: &mut ApplicationStatus, type_: &str, message: String) {
    if let Some(c) = status.conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.message != message {
            c.message = message;
            c.last_transition_time = Some(now());
        }
        return;
    }
    status.conditions.push(ApplicationCondition { type_: type_.into(), message, last_transition_time: Some(now()) });
}

/// Removes conditions of `type_`.
pub fn clear_condition(status: &mut ApplicationStatus, type_: &str) {
    status.conditions.retain(|c| c.type_ != type_);
}

/// Replaces the app's whole status. A JSON patch, not a merge patch: fields
/// the new status leaves out must disappear, not linger from the old one.
pub async fn write(api: &Api<Application>, name: &str, status: &ApplicationStatus) -> Result<(), kube::Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(json!([{ "op": "add", "path": "/status", "value": status }])).expect("a literal JSON patch is valid");
    api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch)).await.map(drop)
}

/// Removes `.operation` (the request is being, or has been, carried out)
/// and the refresh annotation.
pub async fn clear_request(api: &Api<Application>, name: &str, operation: bool, refresh: bool) -> Result<(), kube::Error> {
    let mut patch = serde_json::Map::new();
    if operation {
        patch.insert("operation".into(), serde_json::Value::Null);
    }
    if refresh {
        patch.insert("metadata".into(), json!({ "annotations": { driftless_api::ANNOTATION_REFRESH: null } }));
    }
    if patch.is_empty() {
        return Ok(());
    }
    api.patch(name, &PatchParams::default(), &Patch::Merge(serde_json::Value::Object(patch))).await.map(drop)
}
