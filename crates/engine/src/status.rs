//! Folding what a comparison saw into `Application.status`, in Argo CD's
//! layout: pure functions, written by the controller.

use driftless_api::{Application, ApplicationCondition, ApplicationStatus, ComparedTo, HealthStatus, ResourceStatus, SyncStatus};
use driftless_sync::compare::CompareResult;

use crate::desired::Desired;

pub use crate::clock::now;

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
            requires_deletion_confirmation: r.requires_deletion_confirmation,
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
    status.summary.is_app_of_apps = status.resources.iter().any(|r| r.group == "argoproj.io" && r.kind == "Application");
    status.source_type = Some(desired.source_type.as_str().to_string());
    // When Git was last consulted, as in Argo CD: a comparison woken by a
    // live event does not move it, so an unchanged app needs no write.
    status.reconciled_at = Some(desired.fetched_at.clone());
    clear_condition(status, driftless_api::condition::COMPARISON_ERROR);
    clear_condition(status, driftless_api::condition::INVALID_SPEC_ERROR);
    show(status, driftless_api::condition::SHARED_RESOURCE_WARNING, shared_warning(result));
    show(status, crate::settings::EXCLUDED_RESOURCE_WARNING, (!desired.excluded.is_empty()).then(|| desired.excluded.join("; ")));
}

/// Shows the policies' verdict: PolicyViolation lists what blocks (denies,
/// modules that cannot judge), PolicyWarning the warnings; each cleared
/// when there is none.
pub fn show_policy(status: &mut ApplicationStatus, verdict: &driftless_policy::Verdict) {
    show(status, driftless_api::condition::POLICY_VIOLATION, verdict.blocking_summary(crate::policies::SHOWN));
    show(status, driftless_api::condition::POLICY_WARNING, verdict.warning_summary(crate::policies::SHOWN));
}

/// Sets the condition `type_` to `message`, or clears it.
fn show(status: &mut ApplicationStatus, type_: &str, message: Option<String>) {
    match message {
        Some(m) => set_condition(status, type_, m),
        None => clear_condition(status, type_),
    }
}

/// The SharedResourceWarning of a comparison: which of the app's resources
/// another app tracks, and what driftless does about them.
fn shared_warning(result: &CompareResult) -> Option<String> {
    if result.shared.is_empty() {
        return None;
    }
    let each: Vec<String> = result.shared.iter().map(ToString::to_string).collect();
    Some(format!(
        "{}: it is left alone (never applied or pruned by this app; the sync option FailOnSharedResource=true fails the sync instead)",
        each.join("; ")
    ))
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
