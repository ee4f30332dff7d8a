//! Clusters, as Argo CD's ClusterService serves them: list, get (by URL-
//! encoded server, or `id.type=name`), and delete (the cluster Secret). Each
//! answer probes the clusters it shows, so the connection state is the
//! one of the request; apps are counted from the app store. No credential
//! is ever part of an answer: `ClusterInfo` has no field for one, and
//! project tokens are refused every path here, whatever the policy says.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use driftless_api::Application;
use driftless_engine::cluster_status::{self, ClusterId, RemoveError};
use driftless_engine::clusters::ClusterInfo;
use serde_json::{Value, json};

use super::{query_pairs, query_value};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::rbac;
use crate::state::AppState;

/// `GET /api/v1/clusters`: Argo CD's `ClusterList`, only the clusters the
/// caller may get.
pub async fn list(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>) -> Result<Json<Value>, ApiError> {
    super::refuse_project_tokens(&who, "clusters", "get", "*")?;
    let policy = state.policy();
    let items: Vec<ClusterInfo> =
        overview(&state, None).await?.into_iter().filter(|c| state.allowed(&policy, &who, "clusters", "get", &object(c))).collect();
    Ok(Json(json!({ "metadata": {}, "items": items })))
}

/// `GET /api/v1/clusters/{server}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(server): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ClusterInfo>, ApiError> {
    let id = cluster_id(server, raw.as_deref())?;
    Ok(Json(one(&state, &who, &id, "get").await?))
}

/// `DELETE /api/v1/clusters/{server}`: deletes the cluster Secret.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(server): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id = cluster_id(server, raw.as_deref())?;
    let cluster = one(&state, &who, &id, "delete").await?;
    match cluster_status::remove(&state.compare, &cluster).await {
        Ok(secret) => {
            tracing::info!(user = %who.username, cluster = %cluster.name, %secret, "cluster removed");
            Ok(Json(json!({})))
        }
        Err(e @ RemoveError::InCluster(_)) => Err(ApiError::bad_request(e.to_string())),
        Err(RemoveError::Api { secret, source, .. }) => Err(ApiError::kube(&format!("delete cluster Secret {secret}"), source)),
    }
}

/// The path names a server unless `id.type` says `name` (Argo CD's
/// `name_escaped` too: the path is decoded either way); `id.value`, when
/// given, names the cluster instead of the path.
fn cluster_id(path: String, raw: Option<&str>) -> Result<ClusterId, ApiError> {
    let pairs = query_pairs(raw);
    let value = query_value(&pairs, "id.value").filter(|v| !v.is_empty()).map(String::from).unwrap_or(path);
    match query_value(&pairs, "id.type").unwrap_or_default() {
        "" | "server" => Ok(ClusterId::Server(value)),
        "name" | "name_escaped" => Ok(ClusterId::Name(value)),
        other => Err(ApiError::bad_request(format!("id.type={other:?}: expected server or name"))),
    }
}

/// The cluster `id` names, if `who` may do `action` on it. An unknown
/// cluster is 404 only to who could do `action` on it if it existed: others
/// get the refusal a cluster they may not touch gets (naming it as asked).
async fn one(state: &AppState, who: &Identity, id: &ClusterId, action: &str) -> Result<ClusterInfo, ApiError> {
    let asked = id.to_string();
    super::refuse_project_tokens(who, "clusters", action, &asked)?;
    let denied = || ApiError::permission_denied("clusters", action, &asked, &who.username);
    let policy = state.policy();
    match overview(state, Some(id)).await?.into_iter().next() {
        Some(cluster) if state.allowed(&policy, who, "clusters", action, &object(&cluster)) => Ok(cluster),
        Some(_) => Err(denied()),
        None if state.allowed(&policy, who, "clusters", action, &asked) => Err(ApiError::not_found(format!("cluster {asked:?} not found"))),
        None => Err(denied()),
    }
}

async fn overview(state: &AppState, only: Option<&ClusterId>) -> Result<Vec<ClusterInfo>, ApiError> {
    state.apps_ready().await?;
    let apps = state.store.select(|_| true);
    let apps: Vec<&Application> = apps.iter().map(AsRef::as_ref).collect();
    cluster_status::overview(&state.compare, only, &apps).await.map_err(|e| ApiError::internal("read the cluster Secrets", e))
}

/// The RBAC object of a cluster; an unusable Secret's entry, which has no
/// server, is known by its name.
fn object(c: &ClusterInfo) -> String {
    rbac::scoped_object(c.project.as_deref(), if c.server.is_empty() { &c.name } else { &c.server })
}
