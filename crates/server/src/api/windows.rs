//! Sync windows: an app's (`GET /api/v1/applications/{name}/syncwindows`,
//! Argo CD's `ApplicationSyncWindowsResponse`) and a project's active ones
//! (`GET /api/v1/projects/{name}/syncwindows`, `SyncWindowsResponse`), as
//! the controller judges them (`driftless_engine::windows`).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use driftless_api::AppProject;
use driftless_engine::project::{self, LoadError};
use driftless_engine::windows;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{app_namespace, query_pairs};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

/// The project `name` from the control-plane namespace (the implicit
/// `default` one if it does not exist).
async fn load(state: &AppState, name: &str) -> Result<AppProject, ApiError> {
    // A name goes into the API server's URL: only a Kubernetes name may.
    let valid = name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if !name.is_empty() && !valid {
        return Err(ApiError::bad_request(format!("project {:?}: not a valid name", name.chars().take(64).collect::<String>())));
    }
    project::load(&state.client, None, &state.config.tenancy, name).await.map_err(|e| match e {
        LoadError::Missing { .. } => ApiError::not_found(e.to_string()),
        LoadError::Api { source, .. } => ApiError::kube(&format!("read AppProject {name:?}"), source),
    })
}

/// `GET /api/v1/applications/{name}/syncwindows`: the windows that apply
/// to the app, the active ones, and whether a manual sync may run now
/// (`canSync`), with driftless's additions (`automatedCanSync`, `message`,
/// `nextChange`). A broken window of the project allows no sync.
pub async fn app(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ns = app_namespace(&state, &query_pairs(raw.as_deref()));
    let app = state.app(&who, &ns, &name, "get").await?;
    let project = load(&state, &app.spec.project).await?;
    let assessment = windows::assess(&project, &app, Timestamp::now());
    Ok(Json(json!(assessment.response())))
}

/// `GET /api/v1/projects/{name}/syncwindows`: the project's active windows.
/// A broken window is a 409 naming it.
pub async fn project(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.enforce(&who, "projects", "get", &name)?;
    let project = load(&state, &name).await?;
    let states = windows::states(&project, Timestamp::now()).map_err(|e| ApiError::conflict(e.to_string()))?;
    let active: Vec<_> = states.into_iter().filter(|s| s.active).map(|s| s.window).collect();
    Ok(Json(json!({ "windows": active })))
}
