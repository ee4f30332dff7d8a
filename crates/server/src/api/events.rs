//! An app's Kubernetes Events (`GET /api/v1/applications/{name}/events`,
//! Argo CD's `ListResourceEvents` for the app itself): a core/v1 `EventList`
//! of the Events whose involvedObject is the app (the controller's, see
//! `driftless_controller::recorder`, and the server's own audit Events).

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::{AppPath, query_value};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/applications/{name}/events`: RBAC `applications, get` on
/// the app, tenancy as every app path. A managed resource's Events
/// (`resourceName`, `resourceUID`) are not served: they live in the
/// destination cluster.
pub async fn list(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, at: AppPath) -> Result<Json<Value>, ApiError> {
    let app = state.app(&who, &at.namespace, &at.name, "get").await?;
    if ["resourceName", "resourceUID"].iter().any(|k| query_value(&at.query, k).is_some_and(|v| !v.is_empty())) {
        return Err(ApiError::bad_request(
            "the events of one resource (resourceName, resourceUID) are not served: ask the destination cluster (kubectl get events)",
        ));
    }
    let mut selector = format!("involvedObject.namespace={},involvedObject.name={}", at.namespace, at.name);
    if let Some(uid) = &app.metadata.uid {
        selector.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let listed = Api::<Event>::namespaced(state.client.clone(), &at.namespace)
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(|e| ApiError::kube(&format!("list the events of application {}/{}", at.namespace, at.name), e))?;
    Ok(Json(json!({ "metadata": { "resourceVersion": listed.metadata.resource_version }, "items": listed.items })))
}
