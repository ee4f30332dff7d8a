//! Sync windows: an app's (`GET /api/v1/applications/{name}/syncwindows`,
//! Argo CD's `ApplicationSyncWindowsResponse`) and a project's active ones
//! (`GET /api/v1/projects/{name}/syncwindows`, `SyncWindowsResponse`), as
//! the controller judges them (`driftless_engine::windows`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use driftless_api::AppProject;
use driftless_engine::project::LoadError;
use driftless_engine::windows;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::AppPath;
use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

/// The project `name` from the control-plane namespace (the implicit
/// `default` one if it does not exist), its errors as answers.
async fn load(state: &AppState, name: &str) -> Result<AppProject, ApiError> {
    state.project(name).await.map_err(|e| match e {
        LoadError::InvalidName(_) => ApiError::bad_request(e.to_string()),
        LoadError::Missing { .. } => ApiError::not_found(e.to_string()),
        LoadError::Api { source, .. } => ApiError::kube(&format!("read AppProject {name:?}"), source),
    })
}

/// `GET /api/v1/applications/{name}/syncwindows`: the windows that apply
/// to the app, the active ones, and whether a manual sync may run now
/// (`canSync`), with driftless's additions (`automatedCanSync`, `message`,
/// `nextChange`). A broken window of the project allows no sync.
pub async fn app(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, at: AppPath) -> Result<Json<Value>, ApiError> {
    let (ns, name) = (at.namespace, at.name);
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
