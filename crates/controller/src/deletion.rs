//! Deletion of an Application with Argo CD's finalizer (cascade): its
//! PreDelete hooks, then its resources (`Delete=false` ones kept,
//! `Delete=confirm` ones once a person confirmed), then, once they are
//! gone, its PostDelete hooks; then the hooks are cleaned up and the
//! Application goes. Anything that stops it (a project that does not hold
//! the app, bad settings, a render that fails, a failing hook, resources
//! waiting for confirmation) deletes nothing more: the finalizer stays,
//! with a condition saying why, and the deletion is tried again. Removing
//! the finalizer by hand is the way out: the app goes, its resources stay.

use std::collections::HashSet;
use std::time::Duration;

use driftless_api::{Application, RESOURCES_FINALIZER, condition};
use driftless_engine::{Validated, status};
use driftless_health::CustomChecks;
use driftless_sync::cluster::Cluster;
use driftless_sync::execute::{ExecuteOptions, run_deletion_hooks};
use driftless_sync::plan::{DeletionPlan, plan_deletion, removed_after_deletion, resources_to_delete};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;

use crate::reconcile::{Context, ReconcileError};
use crate::writer::AppWriter;

/// How soon to look again while resources are on their way out.
const GONE_POLL: Duration = Duration::from_secs(1);
/// How soon to try again after something stopped the deletion.
const BLOCKED_RETRY: Duration = Duration::from_secs(30);

/// One pass of the deletion of `app` (see the module's comment); the
/// Action says when to look again.
pub(crate) async fn finalize(ctx: &Context, app: &Application, writer: &AppWriter) -> Result<Action, ReconcileError> {
    ctx.forget(app);
    if !app.finalizers().iter().any(|f| f == RESOURCES_FINALIZER) {
        return Ok(Action::await_change());
    }
    // Reverse order: the apps that depend on this one go first.
    if let Some(wait) = crate::dependencies::wait_for_dependents(ctx, app, writer).await? {
        return Ok(wait);
    }
    let engine = &ctx.engine;
    // Which objects are the app's is argocd-cm's to say: bad settings delete nothing.
    let checked = match engine.app_settings().await {
        Ok(s) => engine.project_of(app).await.map(|_| s).map_err(|msg| (condition::INVALID_SPEC_ERROR, msg)),
        Err(msg) => Err((condition::COMPARISON_ERROR, msg)),
    };
    if let Err((type_, msg)) = checked {
        return blocked(app, writer, type_, format!("cannot delete the app's resources: {msg}"), Duration::from_secs(60)).await;
    }
    let v = match engine.validate(app).await {
        Ok(v) => v,
        Err(msg) => {
            return blocked(app, writer, condition::DELETION_ERROR, format!("cannot delete the app's resources: {msg}"), BLOCKED_RETRY)
                .await;
        }
    };
    let hooks = match deletion_hooks(ctx, app, &v).await {
        Ok(h) => h,
        Err(msg) => {
            let msg = format!(
                "cannot render the app's deletion hooks at its last synced revision, so nothing is deleted: {msg} \
                 (removing the finalizer {RESOURCES_FINALIZER} by hand deletes the app and leaves its resources)"
            );
            return blocked(app, writer, condition::DELETION_ERROR, msg, BLOCKED_RETRY).await;
        }
    };
    // Hooks are created as a sync would create them (impersonation).
    let writes = match engine.sync_cluster(app, &v).await {
        Ok(w) => w,
        Err(msg) => {
            return blocked(app, writer, condition::DELETION_ERROR, format!("cannot run the deletion hooks: {msg}"), BLOCKED_RETRY).await;
        }
    };
    let cluster: &Cluster = writes.as_ref().unwrap_or(&v.destination.cluster);
    let checks = engine.health_checks().await;
    let none = HashSet::new();
    let exec = ExecuteOptions {
        dry_run: false,
        validate: true,
        replace: false,
        force: false,
        prune_propagation: None,
        existing: &none,
        validated: &none,
        dry_run_first: false,
        health: &checks,
        wave_timeout: ctx.config.wave_timeout,
        poll: Duration::from_millis(500),
        recorded: &[],
        on_applied: None,
    };
    if let Err(e) = run_deletion_hooks(cluster, &hooks.pre_delete, &exec).await {
        let msg = format!(
            "{e}; the app's resources are not deleted (delete the hook to run it again, or remove the finalizer \
             {RESOURCES_FINALIZER} to delete the app and leave its resources)"
        );
        return blocked(app, writer, condition::DELETION_ERROR, msg, BLOCKED_RETRY).await;
    }

    // Only the live objects matter: compare with no targets finds them all.
    let status = app.status.clone().unwrap_or_default();
    let empty = driftless_engine::Desired::empty();
    let no_checks = CustomChecks::none();
    let opts = engine.compare_options(app, &status, &no_checks, &v.destination, &v.settings);
    let compared = match engine.compare(&empty, &v.destination, &opts).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("finding resources of {}: {e}", app.name_any());
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
    };
    let since = app.metadata.deletion_timestamp.as_ref().map(|t| t.0).unwrap_or_default();
    let resources = resources_to_delete(&compared.extraneous, &hooks, app.deletion_confirmed(since));
    for r in &resources.delete {
        let going = !r.live["metadata"]["deletionTimestamp"].is_null();
        if !going && let Err(e) = v.destination.cluster.delete(&r.api_version, &r.key, Some("foreground")).await {
            tracing::warn!("deleting {}: {e}", r.key);
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
    }
    if !resources.waiting.is_empty() {
        let each: Vec<String> = resources.waiting.iter().map(|r| r.key.to_string()).collect();
        let msg = format!(
            "{} resource(s) with Delete=confirm wait for a person to confirm their deletion: {}; confirm with \
             `driftless app confirm-deletion {} -N {}` (it sets the annotation {} on the app)",
            each.len(),
            each.join(", "),
            app.name_any(),
            app.namespace().unwrap_or_default(),
            driftless_api::ANNOTATION_DELETION_APPROVED
        );
        // The confirmation wakes the app; the resync is a fallback.
        return blocked(app, writer, condition::DELETION_ERROR, msg, ctx.config.resync).await;
    }
    if !resources.delete.is_empty() {
        // Foreground deletion: an object stays until its dependents are gone.
        return Ok(Action::requeue(GONE_POLL));
    }

    if let Err(e) = run_deletion_hooks(cluster, &hooks.post_delete, &exec).await {
        let msg = format!(
            "{e}; the app's resources are deleted, the app stays (delete the hook to run it again, or remove the \
             finalizer {RESOURCES_FINALIZER})"
        );
        return blocked(app, writer, condition::DELETION_ERROR, msg, BLOCKED_RETRY).await;
    }
    for t in hooks.tasks().filter(|t| removed_after_deletion(t.action.delete_policies())) {
        if let Err(e) = cluster.delete(&t.api_version, &t.key, Some("background")).await {
            tracing::warn!("deleting hook {}: {e}", t.key);
        }
    }
    let finalizers: Vec<&String> = app.finalizers().iter().filter(|f| *f != RESOURCES_FINALIZER).collect();
    let patch = serde_json::json!({ "metadata": { "finalizers": finalizers } });
    writer.api().patch(&app.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await?;
    Ok(Action::await_change())
}

/// The deletion hooks of `app`, rendered at its last synced revision (the
/// last compared one for an app never synced; none for an app never
/// compared, which deployed nothing).
async fn deletion_hooks(ctx: &Context, app: &Application, v: &Validated) -> Result<DeletionPlan, String> {
    let status = app.status.as_ref();
    let last = status.and_then(|s| s.history.last());
    let revision = last.map(|h| h.revision.clone()).or_else(|| status.and_then(|s| s.sync.revision.clone())).filter(|r| !r.is_empty());
    let Some(revision) = revision else { return Ok(DeletionPlan::default()) };
    let source = last.and_then(|h| h.source.clone()).unwrap_or_else(|| v.source.clone());
    // A fetch within the resync period will do: the revision is a commit,
    // and the deletion renders it at every pass.
    let since = std::time::Instant::now().checked_sub(ctx.config.resync).unwrap_or_else(std::time::Instant::now);
    let desired = ctx.engine.desired_at_since(app, v, &source, &revision, since).await?;
    let mode = v.settings.helm_hooks_for(app)?;
    // One name per deletion for hooks with only a generateName.
    let id = app.metadata.deletion_timestamp.as_ref().map(|t| t.0.as_second().to_string()).unwrap_or_default();
    Ok(plan_deletion(&desired.targets, mode, &id))
}

/// Says why the deletion stops (condition `type_`), and when to try again.
async fn blocked(app: &Application, writer: &AppWriter, type_: &str, msg: String, retry: Duration) -> Result<Action, ReconcileError> {
    let mut status = app.status.clone().unwrap_or_default();
    // This far, no app depends on it any more (the copy may predate that).
    status::clear_condition(&mut status, condition::DEPENDENTS_EXIST);
    status::set_condition(&mut status, type_, msg);
    if app.status.as_ref() != Some(&status) {
        writer.write(&status).await?;
    }
    Ok(Action::requeue(retry))
}
