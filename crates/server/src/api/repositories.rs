//! Repositories and credential templates, as Argo CD's RepositoryService
//! and RepoCredsService serve them: list, get, create (or upsert), delete,
//! over the repository Secrets of the control-plane namespace
//! (`driftless_engine::repo_secrets`). Credentials are write-only: no
//! answer holds one. Project tokens are refused every path here.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use driftless_engine::repo_secrets::{self, AddError, Kind, RepositoryInfo, RepositoryInput};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{JsonBody, query_pairs, query_value, refuse_project_tokens};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::rbac;
use crate::state::AppState;

const RESOURCE: &str = "repositories";

/// The RBAC object of a repository: `project/url` for one of a project.
fn object(r: &RepositoryInfo) -> String {
    rbac::scoped_object(Some(r.project.as_str()), &r.repo)
}

fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Repository => "repository",
        Kind::Template => "repository credential template",
    }
}

/// Every registration of `kind` the caller may get; repositories with
/// their connection state, each tested now (8 at a time).
async fn list(state: &AppState, who: &Identity, kind: Kind) -> Result<Json<Value>, ApiError> {
    refuse_project_tokens(who, RESOURCE, "get", "*")?;
    let policy = state.policy();
    let items: Vec<RepositoryInfo> = repo_secrets::list(&state.client, state.config.namespace(), kind)
        .await
        .map_err(|e| ApiError::kube("read the repository Secrets", e))?
        .into_iter()
        .filter(|r| state.allowed(&policy, who, RESOURCE, "get", &object(r)))
        .collect();
    let items: Vec<RepositoryInfo> = match kind {
        // Argo CD tests repositories, not templates.
        Kind::Template => items,
        Kind::Repository => {
            futures::stream::iter(items.into_iter().map(|mut r| async move {
                r.test(&state.compare).await;
                r
            }))
            .buffered(8)
            .collect()
            .await
        }
    };
    Ok(Json(json!({ "metadata": {}, "items": items })))
}

/// The registration of `url`, if `who` may do `action` on it. An unknown
/// one is 404 only to who could do `action` on it if it existed.
async fn one(state: &AppState, who: &Identity, kind: Kind, url: &str, action: &str) -> Result<RepositoryInfo, ApiError> {
    refuse_project_tokens(who, RESOURCE, action, url)?;
    let denied = || ApiError::permission_denied(RESOURCE, action, url, &who.username);
    let policy = state.policy();
    let found = repo_secrets::get(&state.client, state.config.namespace(), kind, url)
        .await
        .map_err(|e| ApiError::kube("read the repository Secrets", e))?;
    match found {
        Some(r) if state.allowed(&policy, who, RESOURCE, action, &object(&r)) => Ok(r),
        Some(_) => Err(denied()),
        None if state.allowed(&policy, who, RESOURCE, action, url) => Err(ApiError::not_found(format!("{} {url:?} not found", what(kind)))),
        None => Err(denied()),
    }
}

/// Registers a repository or template: `repositories, create` (and
/// `update` to replace one with `upsert=true`).
async fn create(state: &AppState, who: &Identity, kind: Kind, raw: Option<&str>, input: RepositoryInput) -> Result<Json<Value>, ApiError> {
    let upsert = query_value(&query_pairs(raw), "upsert") == Some("true");
    let probe = rbac::scoped_object(input.project.as_deref(), input.repo.trim());
    refuse_project_tokens(who, RESOURCE, "create", &probe)?;
    state.enforce(who, RESOURCE, "create", &probe)?;
    if upsert {
        state.enforce(who, RESOURCE, "update", &probe)?;
    }
    // As Argo CD: a repository is stored only once it answers with these
    // credentials (templates are not tested).
    if kind == Kind::Repository {
        let creds = input.creds(kind).map_err(|e| ApiError::bad_request(e.to_string()))?;
        repo_secrets::test_creds(&state.compare, &creds).await.map_err(ApiError::bad_request)?;
    }
    match repo_secrets::add(&state.client, state.config.namespace(), kind, &input, upsert).await {
        Ok(info) => {
            tracing::info!(user = %who.username, repo = %info.repo, secret = %info.secret, "{} registered", what(kind));
            Ok(Json(json!(info)))
        }
        Err(e @ AddError::Invalid(_)) => Err(ApiError::bad_request(e.to_string())),
        Err(e @ AddError::Exists(_)) => Err(ApiError::conflict(e.to_string())),
        Err(AddError::Api { secret, source }) => Err(ApiError::kube(&format!("write Secret {secret}"), source)),
    }
}

/// Removes a registration: `repositories, delete`.
async fn delete(state: &AppState, who: &Identity, kind: Kind, url: &str) -> Result<Json<Value>, ApiError> {
    let found = one(state, who, kind, url, "delete").await?;
    repo_secrets::remove(&state.client, state.config.namespace(), kind, &found.repo)
        .await
        .map_err(|e| ApiError::kube(&format!("delete Secret {}", found.secret), e))?;
    tracing::info!(user = %who.username, repo = %found.repo, secret = %found.secret, "{} removed", what(kind));
    Ok(Json(json!({})))
}

/// `GET /api/v1/repositories`.
pub async fn list_repositories(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>) -> Result<Json<Value>, ApiError> {
    list(&state, &who, Kind::Repository).await
}

/// `GET /api/v1/repositories/{repo}` (the URL, percent-encoded).
pub async fn get_repository(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(repo): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut found = one(&state, &who, Kind::Repository, &repo, "get").await?;
    found.test(&state.compare).await;
    Ok(Json(json!(found)))
}

/// `POST /api/v1/repositories` (`upsert=true` replaces).
pub async fn create_repository(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
    JsonBody(input): JsonBody<RepositoryInput>,
) -> Result<Json<Value>, ApiError> {
    create(&state, &who, Kind::Repository, raw.as_deref(), input).await
}

/// `DELETE /api/v1/repositories/{repo}`.
pub async fn delete_repository(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(repo): Path<String>,
) -> Result<Json<Value>, ApiError> {
    delete(&state, &who, Kind::Repository, &repo).await
}

/// `GET /api/v1/repocreds`.
pub async fn list_templates(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>) -> Result<Json<Value>, ApiError> {
    list(&state, &who, Kind::Template).await
}

/// `POST /api/v1/repocreds` (`upsert=true` replaces).
pub async fn create_template(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
    JsonBody(input): JsonBody<RepositoryInput>,
) -> Result<Json<Value>, ApiError> {
    create(&state, &who, Kind::Template, raw.as_deref(), input).await
}

/// `DELETE /api/v1/repocreds/{url}`.
pub async fn delete_template(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(url): Path<String>,
) -> Result<Json<Value>, ApiError> {
    delete(&state, &who, Kind::Template, &url).await
}
