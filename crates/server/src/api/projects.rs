//! AppProjects, as Argo CD's ProjectService serves them: list, get,
//! create, update, delete (RBAC `projects, <action>, <name>`), and the
//! tokens of project roles. Projects live in the control-plane namespace
//! only. An answer never holds a credential: a project holds none, and
//! token records are only ids and times.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use driftless_api::AppProject;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::TokenRequest;
use super::{JsonBody, query_pairs, query_value};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::project_tokens::{self, Which};
use crate::rbac::Policy;
use crate::state::AppState;

/// Argo CD's ProjectCreateRequest and ProjectUpdateRequest.
#[derive(Deserialize)]
pub struct ProjectRequest {
    project: Value,
    #[serde(default)]
    upsert: bool,
}

fn api(state: &AppState) -> Api<AppProject> {
    Api::namespaced(state.client.clone(), state.config.namespace())
}

fn encode(p: &AppProject) -> Result<Json<Value>, ApiError> {
    Ok(Json(serde_json::to_value(p).map_err(|e| ApiError::internal("encode the project", e))?))
}

/// A name the API server could hold (a DNS subdomain), so that a hostile
/// one (`../x`, a very long one) is refused before anything is read.
fn check_name(name: &str) -> Result<(), ApiError> {
    if driftless_api::is_dns_subdomain(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("{name:?} is not a valid project name (a DNS subdomain: a-z, 0-9, -, .)")))
    }
}

/// `projects, <action>, <name>` for `who`: 403 otherwise (before anything
/// is read, so the answer says nothing of whether the project exists).
fn enforce(state: &AppState, who: &Identity, action: &str, name: &str) -> Result<(), ApiError> {
    state.enforce(who, "projects", action, name)
}

/// The project in a request body, checked: its name (matching `name` when
/// the path gives one), role names and policies (a line that could grant
/// outside the project is refused, as Argo CD refuses it), and only spec
/// and metadata kept.
fn project_from(body: Value, name: Option<&str>, namespace: &str) -> Result<AppProject, ApiError> {
    let mut body = body;
    if let Some(obj) = body.as_object_mut() {
        obj.entry("apiVersion").or_insert_with(|| json!(format!("{}/{}", driftless_api::GROUP, driftless_api::VERSION)));
        obj.entry("kind").or_insert_with(|| json!("AppProject"));
        obj.entry("spec").or_insert_with(|| json!({}));
    }
    let mut p: AppProject = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("project: {e}")))?;
    let given = p.metadata.name.clone().unwrap_or_default();
    check_name(&given)?;
    if let Some(name) = name
        && name != given
    {
        return Err(ApiError::bad_request(format!("project.metadata.name {given:?} does not match the path's {name:?}")));
    }
    let mut roles = std::collections::BTreeSet::new();
    for r in &p.spec.roles {
        if r.name.is_empty() || r.name.contains(':') || r.name.len() > 253 || !roles.insert(r.name.as_str()) {
            return Err(ApiError::bad_request(format!("spec.roles: role name {:?} is empty, repeated or contains ':'", r.name)));
        }
    }
    if let Some(e) = Policy::default().add_project(&p).into_iter().next() {
        return Err(ApiError::bad_request(e.to_string()));
    }
    p.metadata.namespace = Some(namespace.to_string());
    p.status = None;
    p.metadata.managed_fields = None;
    Ok(p)
}

/// `GET /api/v1/projects`: the projects the caller may get.
pub async fn list(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>) -> Json<Value> {
    let policy = state.policy();
    let rules = state.enforcer(&policy, &who).narrow("projects", "get");
    let projects = state.projects.snapshot();
    let items: Vec<&AppProject> = projects
        .items
        .values()
        .filter(|p| rules.allows("projects", "get", p.metadata.name.as_deref().unwrap_or_default()))
        .map(AsRef::as_ref)
        .collect();
    Json(json!({ "metadata": {}, "items": items }))
}

/// `GET /api/v1/projects/{name}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    enforce(&state, &who, "get", &name)?;
    check_name(&name)?;
    let project = match state.projects.get(&name) {
        Some(p) => (*p).clone(),
        None => api(&state).get(&name).await.map_err(|e| ApiError::kube(&format!("read project {name}"), e))?,
    };
    encode(&project)
}

/// `POST /api/v1/projects` (`{"project": {...}, "upsert": false}`).
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    JsonBody(req): JsonBody<ProjectRequest>,
) -> Result<Json<Value>, ApiError> {
    let name = req.project["metadata"]["name"].as_str().unwrap_or_default().to_string();
    enforce(&state, &who, "create", &name)?;
    let project = project_from(req.project, None, state.config.namespace())?;
    let created = match api(&state).create(&PostParams::default(), &project).await {
        Err(kube::Error::Api(s)) if s.code == 409 && req.upsert => {
            enforce(&state, &who, "update", &name)?;
            replace(&state, project).await?
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            return Err(ApiError::conflict(format!("project {name:?} already exists: update it (PUT), or pass upsert")));
        }
        other => other.map_err(|e| ApiError::kube(&format!("create project {name}"), e))?,
    };
    tracing::info!(user = %who.username, project = %name, "project created");
    state.projects.set(created.clone());
    encode(&created)
}

/// `PUT /api/v1/projects/{name}` (`{"project": {...}}`): replaces the
/// spec (and labels, annotations); the status stays the server's.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<ProjectRequest>,
) -> Result<Json<Value>, ApiError> {
    enforce(&state, &who, "update", &name)?;
    let project = project_from(req.project, Some(&name), state.config.namespace())?;
    let updated = replace(&state, project).await?;
    tracing::info!(user = %who.username, project = %name, "project updated");
    state.projects.set(updated.clone());
    encode(&updated)
}

/// Writes `project`'s spec (whole: a merge patch would keep what the body
/// left out), labels and annotations, conditional on its resourceVersion
/// when the body carries one.
async fn replace(state: &AppState, project: AppProject) -> Result<AppProject, ApiError> {
    let name = project.metadata.name.clone().unwrap_or_default();
    let mut current = api(state).get(&name).await.map_err(|e| ApiError::kube(&format!("read project {name}"), e))?;
    let meta = project.metadata;
    current.spec = project.spec;
    current.metadata.resource_version = meta.resource_version.or(current.metadata.resource_version);
    current.metadata.labels = meta.labels.or(current.metadata.labels);
    current.metadata.annotations = meta.annotations.or(current.metadata.annotations);
    api(state).replace(&name, &PostParams::default(), &current).await.map_err(|e| ApiError::kube(&format!("update project {name}"), e))
}

/// `DELETE /api/v1/projects/{name}`: refused while apps use it, as Argo CD
/// refuses it.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    enforce(&state, &who, "delete", &name)?;
    check_name(&name)?;
    state.apps_ready().await?;
    let using = state.store.select(|a| (if a.spec.project.is_empty() { "default" } else { a.spec.project.as_str() }) == name).len();
    if using > 0 {
        return Err(ApiError::bad_request(format!("project {name:?} is referenced by {using} applications: delete or move them first")));
    }
    api(&state).delete(&name, &DeleteParams::default()).await.map_err(|e| ApiError::kube(&format!("delete project {name}"), e))?;
    tracing::info!(user = %who.username, project = %name, "project deleted");
    state.projects.remove(&name);
    Ok(Json(json!({})))
}

fn token_error(e: project_tokens::Error) -> ApiError {
    use project_tokens::Error as E;
    match e {
        E::NoProject { .. } | E::NoRole { .. } | E::NoToken { .. } => ApiError::not_found(e.to_string()),
        E::DuplicateId { .. } => ApiError::conflict(e.to_string()),
        E::NegativeExpiry(_) => ApiError::bad_request(e.to_string()),
        E::NoKey(_) => ApiError::internal("sign a project token", e),
        E::Api { what, source } => ApiError::kube(&what, source),
    }
}

/// `POST /api/v1/projects/{project}/roles/{role}/token`
/// (`{"expiresIn": seconds, "id": "..."}`): `{"token": "..."}`.
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path((project, role)): Path<(String, String)>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    enforce(&state, &who, "update", &project)?;
    check_name(&project)?;
    let key = state
        .settings
        .secret_value("server.secretkey")
        .ok_or_else(|| ApiError::internal("sign a project token", "argocd-secret has no server.secretkey"))?;
    let issued =
        project_tokens::issue(&state.client, state.config.namespace(), &project, &role, key.as_bytes(), req.expires_in, Some(req.id))
            .await
            .map_err(token_error)?;
    tracing::info!(user = %who.username, %project, %role, id = ?issued.record.id, "project token issued");
    state.projects.set(issued.project);
    Ok(Json(json!({ "token": issued.token })))
}

/// `DELETE /api/v1/projects/{project}/roles/{role}/token/{iat}` (`?id=`
/// revokes by id instead): the token is refused from the next request on.
pub async fn delete_token(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path((project, role, iat)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    enforce(&state, &who, "update", &project)?;
    check_name(&project)?;
    let pairs = query_pairs(raw.as_deref());
    let which = match query_value(&pairs, "id").filter(|i| !i.is_empty()) {
        Some(id) => Which::Id(id.to_string()),
        None => Which::IssuedAt(
            iat.parse().map_err(|_| ApiError::bad_request(format!("{iat:?}: expected the token's issue time (Unix seconds), or ?id=")))?,
        ),
    };
    let stored = project_tokens::revoke(&state.client, state.config.namespace(), &project, &role, &which).await.map_err(token_error)?;
    tracing::info!(user = %who.username, %project, %role, token = %which, "project token revoked");
    state.projects.set(stored);
    Ok(Json(json!({})))
}
