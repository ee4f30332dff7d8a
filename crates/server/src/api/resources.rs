//! An app's resources: the tree (managed resources and what they own, by
//! owner references, with health) and the managed resources with their
//! live and desired states and diffs, Secrets masked.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use driftless_api::SyncStatusCode;
use http::StatusCode;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PropagationPolicy};
use kube::discovery::{ApiCapabilities, Scope};
use kube::{Api, ResourceExt as _};
use serde_json::{Value, json};

use super::AppPath;
use crate::auth::Identity;
use crate::error::ApiError;
use crate::rbac;
use crate::state::AppState;

/// Kinds whose objects are owned by managed resources and shown beneath
/// them: Deployment -> ReplicaSet -> Pod, StatefulSet/DaemonSet/Job -> Pod,
/// CronJob -> Job, Service -> EndpointSlice, and SealedSecret/ExternalSecret
/// -> the Secret their controller makes.
const CHILD_KINDS: [(&str, &str, &str); 5] = [
    ("apps", "v1", "ReplicaSet"),
    ("batch", "v1", "Job"),
    ("", "v1", "Pod"),
    ("discovery.k8s.io", "v1", "EndpointSlice"),
    ("", "v1", "Secret"),
];

/// Finds the API resource of a group/version/kind (cached per server).
async fn resolve(state: &AppState, group: &str, version: &str, kind: &str) -> Option<(ApiResource, ApiCapabilities)> {
    let key = (group.to_string(), version.to_string(), kind.to_string());
    if let Some(found) = state.kinds.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return found.clone();
    }
    let found = kube::discovery::pinned_kind(&state.client, &GroupVersionKind::gvk(group, version, kind)).await.ok();
    state.kinds.lock().unwrap_or_else(|e| e.into_inner()).insert(key, found.clone());
    found
}

fn api_for(state: &AppState, ar: &ApiResource, caps: &ApiCapabilities, namespace: Option<&str>) -> Api<DynamicObject> {
    match (caps.scope.clone(), namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(state.client.clone(), ns, ar),
        _ => Api::all_with(state.client.clone(), ar),
    }
}

/// Argo CD's ResourceNode of a live object.
fn node(obj: &Value, ar: &ApiResource, parents: Vec<Value>, checks: &driftless_health::CustomChecks) -> Value {
    // Items of a list carry no apiVersion and kind; health needs them.
    let mut obj = obj.clone();
    obj["apiVersion"] = json!(ar.api_version);
    obj["kind"] = json!(ar.kind);
    let obj = &obj;
    let meta = &obj["metadata"];
    let health = driftless_health::assess(obj, checks).ok().flatten();
    json!({
        "group": ar.group,
        "version": ar.version,
        "kind": ar.kind,
        "namespace": meta["namespace"].as_str().unwrap_or(""),
        "name": meta["name"],
        "uid": meta["uid"],
        "parentRefs": parents,
        "health": health,
        "info": info(obj),
        "images": images(obj),
        "resourceVersion": meta["resourceVersion"],
        "createdAt": meta["creationTimestamp"],
    })
}

/// The container images a workload or pod runs.
fn images(obj: &Value) -> Vec<String> {
    let spec = if obj["kind"] == "Pod" { &obj["spec"] } else { &obj["spec"]["template"]["spec"] };
    spec["containers"].as_array().into_iter().flatten().filter_map(|c| c["image"].as_str().map(String::from)).collect()
}

/// The one-line facts Argo CD shows on a node: a pod's state and ready
/// containers.
fn info(obj: &Value) -> Vec<Value> {
    if obj["kind"] != "Pod" {
        return Vec::new();
    }
    let statuses = obj["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    let waiting = statuses.iter().find_map(|c| c["state"]["waiting"]["reason"].as_str().map(String::from));
    let reason = waiting
        .or_else(|| obj["status"]["reason"].as_str().map(String::from))
        .unwrap_or_else(|| obj["status"]["phase"].as_str().unwrap_or("Unknown").to_string());
    let total = obj["spec"]["containers"].as_array().map(Vec::len).unwrap_or(0);
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    vec![json!({ "name": "Status Reason", "value": reason }), json!({ "name": "Containers", "value": format!("{ready}/{total}") })]
}

/// `GET /api/v1/applications/{name}/resource-tree`.
pub async fn tree(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, at: AppPath) -> Result<Json<Value>, ApiError> {
    let (ns, name) = (at.namespace, at.name);
    let app = state.app(&who, &ns, &name, "get").await?;
    let nodes = tree_nodes(&state, &app).await?.into_iter().map(|(node, _)| node).collect::<Vec<_>>();
    Ok(Json(json!({ "nodes": nodes, "orphanedNodes": orphaned_nodes(&state, &app).await })))
}

/// The objects in the app's namespace that no app tracks, when its project
/// monitors them (`orphanedResources`), as Argo CD's `orphanedNodes`. A
/// failed scan shows none, logged: the rest of the tree still answers.
async fn orphaned_nodes(state: &AppState, app: &driftless_api::Application) -> Vec<Value> {
    let Ok(v) = state.compare.validate(app).await else { return Vec::new() };
    match state.compare.orphans(app, &v).await {
        Some(Ok(found)) => found.iter().map(|o| serde_json::to_value(o).unwrap_or_default()).collect(),
        Some(Err(e)) => {
            tracing::warn!("orphaned resources of {}: {e}", app.name_any());
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// `GET /api/v1/applications/{name}/resource?group=&version=&kind=&namespace=&resourceName=`:
/// the live manifest of one object of the app's resource tree (managed, or
/// owned by one that is), as Argo CD's `{"manifest": "<json>"}`, a Secret's
/// values masked.
pub async fn resource(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppPath,
) -> Result<Json<Value>, ApiError> {
    let (ns, name, pairs) = (at.namespace, at.name, at.query);
    let app = state.app(&who, &ns, &name, "get").await?;
    let wanted = Wanted::parse(&pairs)?;
    let (_, obj) = wanted.find(&state, &app).await?;
    let (masked, _) = driftless_diff::mask_secrets(Some(&obj), None);
    let text = serde_json::to_string(&masked.unwrap_or(Value::Null)).unwrap_or_default();
    Ok(Json(json!({ "manifest": text })))
}

/// `DELETE /api/v1/applications/{name}/resource?group=&version=&kind=&namespace=&resourceName=&force=&orphan=`:
/// deletes one object of the app's resource tree, with Argo CD 3's
/// `applications, delete/<group>/<kind>/<namespace>/<name>` (deleting the
/// app is not enough).
pub async fn delete_resource(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppPath,
) -> Result<Json<Value>, ApiError> {
    let (ns, name, pairs) = (at.namespace, at.name, at.query);
    let wanted = Wanted::parse(&pairs)?;
    let action = rbac::resource_action("delete", wanted.group, wanted.kind, wanted.namespace, wanted.name);
    let app = state.app(&who, &ns, &name, &action).await?;
    let flag = |k: &str| super::query_value(&pairs, k) == Some("true");
    let (node, _) = wanted.find(&state, &app).await?;
    let version = node["version"].as_str().unwrap_or("v1");
    let Some((ar, caps)) = resolve(&state, wanted.group, version, wanted.kind).await else {
        return Err(ApiError::bad_request(format!("{}/{} is not served by the API server", wanted.group, wanted.kind)));
    };
    let mut params = DeleteParams::default();
    if flag("force") {
        params.grace_period_seconds = Some(0);
    }
    if flag("orphan") {
        params.propagation_policy = Some(PropagationPolicy::Orphan);
    }
    let what = format!("{}/{} {}/{}", wanted.group, wanted.kind, wanted.namespace, wanted.name);
    api_for(&state, &ar, &caps, Some(wanted.namespace).filter(|n| !n.is_empty()))
        .delete(wanted.name, &params)
        .await
        .map_err(|e| ApiError::kube(&format!("delete {what}"), e))?;
    state.record(&app, "ResourceDeleted", "DeleteResource", format!("{} deleted resource {what}", who.username)).await;
    Ok(Json(json!({})))
}

/// One object of an app's resource tree, as a query names it.
struct Wanted<'a> {
    group: &'a str,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
}

impl<'a> Wanted<'a> {
    fn parse(pairs: &'a [(String, String)]) -> Result<Wanted<'a>, ApiError> {
        let want = |k: &str| super::query_value(pairs, k).unwrap_or("");
        let w = Wanted { group: want("group"), kind: want("kind"), namespace: want("namespace"), name: want("resourceName") };
        if w.kind.is_empty() || w.name.is_empty() {
            return Err(ApiError::bad_request("the query needs kind and resourceName (and group, namespace for the object's identity)"));
        }
        Ok(w)
    }

    /// Its node and live object, if it is in the app's tree.
    async fn find(&self, state: &AppState, app: &driftless_api::Application) -> Result<(Value, Value), ApiError> {
        // Listed objects carry no apiVersion or kind: the node says which they are.
        let found = tree_nodes(state, app).await?.into_iter().find(|(node, _)| {
            node["group"].as_str().unwrap_or("") == self.group
                && node["kind"] == self.kind
                && node["namespace"].as_str().unwrap_or("") == self.namespace
                && node["name"] == self.name
        });
        found.ok_or_else(|| {
            ApiError::not_found(format!(
                "{}/{} {}/{} is not in the resource tree of application {}",
                self.group,
                self.kind,
                self.namespace,
                self.name,
                app.metadata.name.as_deref().unwrap_or_default()
            ))
        })
    }
}

/// The app's resource tree: each node in Argo CD's shape, with the live
/// object it describes.
async fn tree_nodes(state: &AppState, app: &driftless_api::Application) -> Result<Vec<(Value, Value)>, ApiError> {
    let checks = state.compare.health_checks().await;
    let managed = app.status.as_ref().map(|s| s.resources.clone()).unwrap_or_default();
    let mut nodes: Vec<(Value, Value)> = Vec::new();
    let mut uids: HashSet<String> = HashSet::new();
    let mut namespaces: BTreeMap<String, ()> = BTreeMap::new();
    for r in &managed {
        let version = if r.version.is_empty() { "v1" } else { r.version.as_str() };
        let Some((ar, caps)) = resolve(state, &r.group, version, &r.kind).await else { continue };
        let api = api_for(state, &ar, &caps, r.namespace.as_deref());
        let live = api.get_opt(&r.name).await.map_err(|e| ApiError::kube(&format!("read {} {}", r.kind, r.name), e))?;
        let Some(live) = live else { continue };
        if let Some(uid) = live.uid() {
            uids.insert(uid);
        }
        if let Some(n) = live.namespace() {
            namespaces.insert(n, ());
        }
        let value = serde_json::to_value(&live).map_err(|e| ApiError::internal("encode a live object", e))?;
        nodes.push((node(&value, &ar, Vec::new(), &checks), value));
    }
    // Owned objects, level by level: a kind may own objects of a kind
    // listed before it (CronJob -> Job -> Pod), so repeat until nothing new.
    let mut candidates: Vec<(ApiResource, Value)> = Vec::new();
    for (group, version, kind) in CHILD_KINDS {
        let Some((ar, caps)) = resolve(state, group, version, kind).await else { continue };
        for n in namespaces.keys() {
            for mut v in children(state, &ar, &caps, n).await? {
                // The items of a list carry no apiVersion or kind of their own.
                v["apiVersion"] = json!(ar.api_version);
                v["kind"] = json!(ar.kind);
                candidates.push((ar.clone(), v));
            }
        }
    }
    loop {
        let mut added = false;
        for (ar, obj) in &candidates {
            let uid = obj["metadata"]["uid"].as_str().unwrap_or_default();
            if uid.is_empty() || uids.contains(uid) {
                continue;
            }
            let owners = obj["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
            let parents: Vec<Value> = owners
                .iter()
                .filter(|o| o["uid"].as_str().is_some_and(|u| uids.contains(u)))
                .map(|o| {
                    let group = o["apiVersion"].as_str().and_then(|v| v.rsplit_once('/')).map(|(g, _)| g).unwrap_or("");
                    json!({ "group": group, "kind": o["kind"], "namespace": obj["metadata"]["namespace"], "name": o["name"], "uid": o["uid"] })
                })
                .collect();
            if parents.is_empty() {
                continue;
            }
            uids.insert(uid.to_string());
            nodes.push((node(obj, ar, parents, &checks), obj.clone()));
            added = true;
        }
        if !added {
            break;
        }
    }
    Ok(nodes)
}

/// The objects of a child kind in namespace `n`. Secrets are listed by
/// their metadata alone: the tree (and the live manifest of a node) shows
/// that a Secret exists, never its values, so the server does not even
/// hold them. A server not allowed to list Secrets there (the cluster
/// install's, by design) shows none rather than failing the tree.
async fn children(state: &AppState, ar: &ApiResource, caps: &ApiCapabilities, n: &str) -> Result<Vec<Value>, ApiError> {
    let api = api_for(state, ar, caps, Some(n));
    let what = || format!("list {} in {n}", ar.kind);
    let encode = |e| ApiError::internal("encode a live object", e);
    if (ar.group.as_str(), ar.kind.as_str()) != ("", "Secret") {
        let list = api.list(&ListParams::default()).await.map_err(|e| ApiError::kube(&what(), e))?;
        return list.items.iter().map(|o| serde_json::to_value(o).map_err(encode)).collect();
    }
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => list.items.iter().map(|o| serde_json::to_value(o).map_err(encode)).collect(),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            tracing::debug!("{}: forbidden, the tree shows no Secrets there", what());
            Ok(Vec::new())
        }
        Err(e) => Err(ApiError::kube(&what(), e)),
    }
}

/// `GET /api/v1/applications/{name}/managed-resources`: renders Git and
/// compares with the cluster as the controller does (see the CLI's `app
/// diff`); every state is masked where it is a Secret.
pub async fn managed(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppPath,
) -> Result<Json<Value>, ApiError> {
    let (ns, name) = (at.namespace, at.name);
    let app = state.app(&who, &ns, &name, "get").await?;
    let opts = state.compare.diff_options(&app).await.map_err(|e| ApiError::bad_request(format!("application {ns}/{name}: {e}")))?;
    let (desired, compared) = state
        .compare
        .compare_app(&app)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("comparing application {ns}/{name}: {e}")))?;
    let text = |v: Option<Value>| serde_json::to_string(&v.unwrap_or(Value::Null)).unwrap_or_default();
    let mut items = Vec::new();
    for res in &compared.resources {
        let k = &res.key;
        let target = desired.targets.iter().find(|t| t.key == *k);
        let (live, target_state) = driftless_diff::mask_secrets(res.live.object(), target.map(|t| t.manifest.value()));
        let (live_n, predicted_n) = driftless_diff::normalize_pair(res.live.object(), res.predicted.as_ref(), &opts);
        let title = k.path();
        let diff = driftless_diff::unified_diff(&title, live_n.as_ref(), predicted_n.as_ref());
        let (live_n, predicted_n) = driftless_diff::mask_secrets(live_n.as_ref(), predicted_n.as_ref());
        items.push(json!({
            "group": k.group,
            "kind": k.kind,
            "namespace": k.namespace.clone().unwrap_or_default(),
            "name": k.name,
            "targetState": text(target_state),
            "liveState": text(live),
            "normalizedLiveState": text(live_n),
            "predictedLiveState": text(predicted_n),
            "hook": target.is_some_and(|t| t.is_hook()),
            "modified": res.sync != SyncStatusCode::Synced,
            "syncStatus": format!("{:?}", res.sync),
            "diff": diff,
        }));
    }
    Ok(Json(json!({ "items": items, "warnings": compared.warnings })))
}
