//! Acting on apps as the CLI does: sync and rollback request an operation
//! through `.operation` (with `initiatedBy.username` = the caller), the
//! controller carries it out; delete sets the cascade finalizer first.
//! Each is recorded as a Kubernetes Event naming the user.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use driftless_api::{Application, Operation, OperationInitiator, SyncOperation, SyncOperationResource};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppPath, JsonBody, query_value};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

/// Argo CD's ApplicationSyncRequest (the fields driftless acts on).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    resources: Vec<SyncOperationResource>,
    /// `{"apply":{"force":true}}` or `{"hook":{...}}`.
    #[serde(default)]
    strategy: Option<Value>,
    #[serde(default)]
    sync_options: Option<SyncOptions>,
    #[serde(default)]
    app_namespace: Option<String>,
}

/// `{"items": ["Replace=true", ...]}`.
#[derive(Deserialize, Default)]
pub struct SyncOptions {
    #[serde(default)]
    items: Vec<String>,
}

/// Argo CD's ApplicationRollbackRequest.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRequest {
    id: i64,
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    app_namespace: Option<String>,
}

fn apps_api(state: &AppState, ns: &str) -> Api<Application> {
    Api::namespaced(state.client.clone(), ns)
}

fn initiator(who: &Identity) -> OperationInitiator {
    OperationInitiator { username: Some(who.username.clone()), automated: false }
}

/// How often a request is tried again when the app changed under it.
const CONFLICT_RETRIES: usize = 5;

/// Sets `.operation` unless one is pending or running (409), and returns
/// the app as stored.
async fn request(state: &AppState, ns: &str, app: &Application, op: Operation) -> Result<Application, ApiError> {
    let name = app.metadata.name.as_deref().unwrap_or_default();
    let api = apps_api(state, ns);
    let (mut current, mut conflicts) = (app.clone(), 0);
    loop {
        if current.operation.is_some() {
            return Err(ApiError::conflict(format!("application {ns}/{name} already has an operation requested that has not started")));
        }
        if let Some(s) = current.status.as_ref().and_then(|s| s.operation_state.as_ref()).filter(|s| !s.phase.is_completed()) {
            return Err(ApiError::conflict(format!(
                "another operation is already in progress on application {ns}/{name} ({:?}: {})",
                s.phase,
                s.message.as_deref().unwrap_or("")
            )));
        }
        // resourceVersion: a concurrent request for the same app loses with
        // a conflict instead of replacing the first.
        let patch = json!({ "metadata": { "resourceVersion": current.metadata.resource_version }, "operation": op });
        match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            // The copy was older than the stored app (the cache lags, or the
            // controller just wrote its status): read it and decide again,
            // as Argo CD does on a conflict.
            Err(kube::Error::Api(s)) if s.code == 409 && conflicts < CONFLICT_RETRIES => {
                conflicts += 1;
                current = api.get(name).await.map_err(|e| ApiError::kube(&format!("read application {ns}/{name}"), e))?;
            }
            other => return other.map_err(|e| ApiError::kube(&format!("request an operation on application {ns}/{name}"), e)),
        }
    }
}

/// Refuses a manual sync (a rollback is one) that the project's sync
/// windows deny, as Argo CD does: here, with the window's reason, not only
/// as a failed operation later in the controller.
async fn windows_permit(state: &AppState, app: &Application) -> Result<(), ApiError> {
    let project = state.project(&app.spec.project).await.map_err(|e| ApiError::forbidden(e.to_string()))?;
    let windows = driftless_engine::windows::assess(&project, app, k8s_openapi::jiff::Timestamp::now());
    if windows.manual.allowed { Ok(()) } else { Err(ApiError::forbidden(format!("cannot sync: {}", windows.manual))) }
}

fn encode(app: &Application) -> Result<Json<Value>, ApiError> {
    Ok(Json(serde_json::to_value(app).map_err(|e| ApiError::internal("encode the application", e))?))
}

/// `POST /api/v1/applications/{name}/sync`.
pub async fn sync(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppPath,
    JsonBody(req): JsonBody<SyncRequest>,
) -> Result<Json<Value>, ApiError> {
    let name = at.name;
    let ns = req.app_namespace.clone().filter(|n| !n.is_empty()).unwrap_or(at.namespace);
    let app = state.app(&who, &ns, &name, "sync").await?;
    windows_permit(&state, &app).await?;
    let op = Operation {
        sync: Some(SyncOperation {
            revision: req.revision.filter(|r| !r.is_empty()),
            prune: req.prune,
            dry_run: req.dry_run,
            resources: req.resources,
            sync_options: req.sync_options.map(|o| o.items).unwrap_or_default(),
            sync_strategy: req.strategy,
            ..Default::default()
        }),
        initiated_by: Some(initiator(&who)),
        ..Default::default()
    };
    let target = op.sync.as_ref().and_then(|s| s.revision.clone()).unwrap_or_else(|| "the target revision".into());
    let updated = request(&state, &ns, &app, op).await?;
    state.record(&updated, "OperationStarted", "Sync", format!("{} initiated sync to {target}", who.username)).await;
    encode(&updated)
}

/// `POST /api/v1/applications/{name}/rollback`: a sync to a history
/// entry's revision and source; refused while automated sync is on (it
/// would sync straight back) and when the sync windows deny a sync.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppPath,
    JsonBody(req): JsonBody<RollbackRequest>,
) -> Result<Json<Value>, ApiError> {
    let name = at.name;
    let ns = req.app_namespace.clone().filter(|n| !n.is_empty()).unwrap_or(at.namespace);
    let app = state.app(&who, &ns, &name, "sync").await?;
    let automated = app.spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref()).is_some_and(|a| a.enabled != Some(false));
    if automated {
        return Err(ApiError::bad_request(format!(
            "rollback cannot be initiated when automated sync is enabled on application {ns}/{name}: turn automation off first"
        )));
    }
    let history = app.status.as_ref().map(|s| s.history.as_slice()).unwrap_or_default();
    let entry = history.iter().find(|h| h.id == req.id).ok_or_else(|| {
        let ids: Vec<String> = history.iter().map(|h| h.id.to_string()).collect();
        ApiError::bad_request(format!("application {ns}/{name} has no history id {}; its ids are [{}]", req.id, ids.join(", ")))
    })?;
    windows_permit(&state, &app).await?;
    let op = Operation {
        sync: Some(SyncOperation {
            revision: Some(entry.revision.clone()),
            prune: req.prune,
            dry_run: req.dry_run,
            source: entry.source.clone(),
            ..Default::default()
        }),
        initiated_by: Some(initiator(&who)),
        ..Default::default()
    };
    let note = format!("{} initiated rollback to history id {} (revision {})", who.username, entry.id, entry.revision);
    let updated = request(&state, &ns, &app, op).await?;
    state.record(&updated, "OperationStarted", "Rollback", note).await;
    encode(&updated)
}

/// `DELETE /api/v1/applications/{name}/operation`: withdraws a requested
/// operation the controller has not started, or asks the controller to stop
/// the running one (its phase becomes Terminating, as in Argo CD).
pub async fn terminate(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppPath,
) -> Result<Json<Value>, ApiError> {
    let (ns, name) = (at.namespace, at.name);
    let app = state.app(&who, &ns, &name, "sync").await?;
    let running = app.status.as_ref().and_then(|s| s.operation_state.as_ref()).is_some_and(|s| !s.phase.is_completed());
    let (patch, reason, message) = if app.operation.is_some() {
        (
            json!({ "metadata": { "resourceVersion": app.metadata.resource_version }, "operation": null }),
            "OperationTerminated",
            format!("{} terminated the requested operation", who.username),
        )
    } else if running {
        (
            json!({ "metadata": { "resourceVersion": app.metadata.resource_version },
                    "status": { "operationState": { "phase": "Terminating" } } }),
            "OperationTerminating",
            format!("{} is terminating the running operation", who.username),
        )
    } else {
        return Err(ApiError::not_found(format!("application {ns}/{name} has no operation to terminate")));
    };
    let updated = apps_api(&state, &ns)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| ApiError::kube(&format!("terminate the operation of application {ns}/{name}"), e))?;
    state.record(&updated, reason, "Terminate", message).await;
    Ok(Json(json!({})))
}

/// `DELETE /api/v1/applications/{name}?cascade=true|false`: with cascade
/// (the default) the controller deletes the app's resources first.
pub async fn delete(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, at: AppPath) -> Result<Json<Value>, ApiError> {
    let (ns, name, pairs) = (at.namespace, at.name, at.query);
    let cascade = match query_value(&pairs, "cascade").unwrap_or("true") {
        "" | "true" => true,
        "false" => false,
        other => return Err(ApiError::bad_request(format!("cascade={other:?}: expected true or false"))),
    };
    let app = state.app(&who, &ns, &name, "delete").await?;
    let api = apps_api(&state, &ns);
    driftless_engine::finalizer::set_cascade(&api, (*app).clone(), cascade)
        .await
        .map_err(|e| ApiError::kube(&format!("set the finalizers of application {ns}/{name}"), e))?;
    api.delete(&name, &DeleteParams::default()).await.map_err(|e| ApiError::kube(&format!("delete application {ns}/{name}"), e))?;
    let what = if cascade { "with its resources" } else { "keeping its resources" };
    state.record(&app, "ResourceDeleted", "Delete", format!("{} deleted application {what}", who.username)).await;
    Ok(Json(json!({})))
}

/// `POST /api/v1/applications/{name}/confirm-deletion`: a person's
/// go-ahead for the pruning of `Prune=confirm` resources a sync waits on,
/// and the deletion of `Delete=confirm` resources with the app (RBAC: the
/// `delete` action). The time is the server's: a body is not read, so a
/// client cannot date a confirmation back or ahead.
pub async fn confirm_deletion(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppPath,
) -> Result<Json<Value>, ApiError> {
    let (ns, name) = (at.namespace, at.name);
    let app = state.app(&who, &ns, &name, "delete").await?;
    let approved_at = driftless_engine::status::now().0.to_string();
    let patch = json!({ "metadata": { "annotations": { driftless_api::ANNOTATION_DELETION_APPROVED: approved_at } } });
    let updated = apps_api(&state, &ns)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| ApiError::kube(&format!("confirm deletion for application {ns}/{name}"), e))?;
    state
        .record(&app, "DeletionConfirmed", "ConfirmDeletion", format!("{} confirmed pruning and deletion at {approved_at}", who.username))
        .await;
    encode(&updated)
}
