//! ApplicationSets, as Argo CD's ApplicationSetService serves them: list,
//! get, create (`upsert`, `dryRun`), delete, and the resource tree of the
//! Applications a set owns.
//!
//! RBAC is Argo CD's: resource `applicationsets`, object
//! `<project>/<name>` (`<project>/<namespace>/<name>` outside the control
//! plane), the project being the template's `spec.project`. A templated
//! project (`{{...}}`) cannot be judged before the set generates, so a
//! create naming one is refused, as Argo CD refuses it. Sets live in the
//! control plane and in the namespaces `applicationsetcontroller.namespaces`
//! enables, there only when their project lists the namespace in
//! `sourceNamespaces`; a set anywhere else answers as one that does not
//! exist. Sets are read from the API server at each request: they are few,
//! and a list right after a create shows it. Their Applications come from
//! the app store, found by ownerReference.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use driftless_api::{Application, ApplicationSet};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

use super::apps::{Requirement, parse_selector};
use super::{AppSetPath, JsonBody, namespace_of, query_pairs, query_value, query_values};
use crate::applicationsets as sets;
use crate::auth::Identity;
use crate::error::ApiError;
use crate::rbac;
use crate::state::AppState;

const RESOURCE: &str = "applicationsets";
/// The query key naming a set's namespace.
const NAMESPACE_KEY: &str = "appsetNamespace";
/// How often an upsert reads the set again after a conflicting write.
const CONFLICT_RETRIES: usize = 5;

fn api(state: &AppState, namespace: &str) -> Api<ApplicationSet> {
    Api::namespaced(state.client.clone(), namespace)
}

fn encode(set: &ApplicationSet) -> Result<Json<Value>, ApiError> {
    Ok(Json(set.to_json_shown()))
}

/// The RBAC object of a set: `<project>/<name>`, or
/// `<project>/<namespace>/<name>` outside the control plane.
fn object(state: &AppState, set: &ApplicationSet) -> String {
    rbac::app_object(
        set.spec.project(),
        set.metadata.namespace.as_deref().unwrap_or_default(),
        set.metadata.name.as_deref().unwrap_or_default(),
        state.config.namespace(),
    )
}

/// A name and namespace the API server could hold, so that a hostile one
/// (`../x`, a very long one) is refused before anything is read. Such a
/// set cannot exist: the answer tells nothing.
fn check_names(namespace: &str, name: &str) -> Result<(), ApiError> {
    if !driftless_api::is_dns_subdomain(name) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not a valid ApplicationSet name (a DNS subdomain: a-z, 0-9, -, .)",
            name.chars().take(64).collect::<String>()
        )));
    }
    if !driftless_api::is_dns_label(namespace) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not a valid namespace (a DNS label: a-z, 0-9, -)",
            namespace.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

/// Why a set of `project` may not live in `namespace`, if it may not:
/// the namespace is neither the control plane's nor enabled for sets, or
/// the project does not list it in `sourceNamespaces`.
async fn check_tenancy(state: &AppState, namespace: &str, project: &str) -> Result<(), String> {
    let tenancy = &state.config.tenancy;
    if !tenancy.appset_namespace_enabled(namespace) {
        let patterns = tenancy.appset_namespaces.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        return Err(format!(
            "metadata.namespace: ApplicationSets in namespace {namespace:?} are not handled: it is not the control-plane namespace {:?} \
             and is not enabled for both ApplicationSets (applicationsetcontroller.namespaces: {}) and Applications (application.namespaces)",
            tenancy.control_plane,
            if patterns.is_empty() { "unset".to_string() } else { patterns }
        ));
    }
    state.check_tenancy(namespace, project).await
}

/// The set `namespace/name`, if `who` may do `action` on it. A set that
/// does not exist, or lives where tenancy does not allow it, is refused
/// exactly as one the policy hides.
async fn find(state: &AppState, who: &Identity, namespace: &str, name: &str, action: &str) -> Result<ApplicationSet, ApiError> {
    check_names(namespace, name)?;
    let denied = || ApiError::permission_denied(RESOURCE, action, &format!("{namespace}/{name}"), &who.username);
    if !state.config.tenancy.appset_namespace_enabled(namespace) {
        return Err(denied());
    }
    let set = api(state, namespace)
        .get_opt(name)
        .await
        .map_err(|e| ApiError::kube(&format!("read ApplicationSet {namespace}/{name}"), e))?
        .ok_or_else(denied)?;
    if check_tenancy(state, namespace, set.spec.project()).await.is_err()
        || !state.allowed(&state.policy(), who, RESOURCE, action, &object(state, &set))
    {
        return Err(denied());
    }
    Ok(set)
}

/// `true`/`false` (or absent: false) for a query flag; anything else is a 400.
fn flag(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match query_value(pairs, key) {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => {
            Err(ApiError::bad_request(format!("{key}={:?}: expected true or false", other.chars().take(64).collect::<String>())))
        }
    }
}

/// The ApplicationSet of a create request, checked: kind, name,
/// namespace (from the body, else `appsetNamespace`, else the control
/// plane), a project that is not templated, generators Argo CD knows; what
/// the server owns (status, resourceVersion, uid...) removed.
fn set_from(state: &AppState, pairs: &[(String, String)], body: Value) -> Result<ApplicationSet, ApiError> {
    let mut body = body;
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::bad_request("request body: expected an ApplicationSet (a JSON object)"));
    };
    // Argo CD's clients often leave out apiVersion and kind.
    obj.entry("apiVersion").or_insert_with(|| json!(format!("{}/{}", driftless_api::GROUP, driftless_api::VERSION)));
    let kind = obj.entry("kind").or_insert_with(|| json!("ApplicationSet"));
    if kind != "ApplicationSet" {
        return Err(ApiError::bad_request(format!("kind: expected ApplicationSet, got {kind}")));
    }
    let mut set: ApplicationSet = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("applicationset: {e}")))?;
    let name = set.metadata.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_request("metadata.name: required"))?;
    let namespace = set.metadata.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| namespace_of(state, pairs, NAMESPACE_KEY));
    check_names(&namespace, &name)?;
    let project = set.spec.project();
    if sets::templated(project) {
        return Err(ApiError::bad_request(format!(
            "spec.template.spec.project: {:?} is templated: the API cannot tell which projects the set would generate \
             Applications into, so it refuses it, as Argo CD does",
            project.chars().take(253).collect::<String>()
        )));
    }
    sets::check_generators(&set).map_err(ApiError::bad_request)?;
    set.metadata.namespace = Some(namespace);
    sets::clear_server_fields(&mut set);
    Ok(set)
}

/// `GET /api/v1/applicationsets` (`projects`, `selector`, `appsetNamespace`):
/// the sets the caller may get, sorted by name.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    let projects = query_values(&pairs, "projects");
    let selector: Vec<Requirement> = match query_value(&pairs, "selector") {
        Some(s) => parse_selector(s).map_err(|e| ApiError::bad_request(format!("selector={s:?}: {e}")))?,
        None => Vec::new(),
    };
    let tenancy = &state.config.tenancy;
    let only = query_value(&pairs, NAMESPACE_KEY).filter(|n| !n.is_empty());
    if let Some(ns) = only
        && !driftless_api::is_dns_label(ns)
    {
        return Err(ApiError::bad_request(format!(
            "{NAMESPACE_KEY}: {:?} is not a namespace name",
            ns.chars().take(64).collect::<String>()
        )));
    }
    // The control plane alone unless sets may live elsewhere, so that a
    // namespace-scoped install needs no cluster-wide list.
    let api: Api<ApplicationSet> = match only {
        Some(ns) if !tenancy.appset_namespace_enabled(ns) => return Ok(Json(json!({ "metadata": {}, "items": [] }))),
        Some(ns) => api(&state, ns),
        None if tenancy.appset_namespaces.is_empty() => api(&state, tenancy.control_plane.as_str()),
        None => Api::all(state.client.clone()),
    };
    let listed = api.list(&ListParams::default()).await.map_err(|e| ApiError::kube("list ApplicationSets", e))?;
    let policy = state.policy();
    let rules = state.enforcer(&policy, &who).narrow(RESOURCE, "get");
    let snapshot = state.projects.snapshot();
    let mut items: Vec<ApplicationSet> = listed
        .items
        .into_iter()
        .filter(|s| {
            let ns = s.metadata.namespace.as_deref().unwrap_or_default();
            let labels = s.metadata.labels.clone().unwrap_or_default();
            tenancy.appset_namespace_enabled(ns)
                && state.visible(ns, s.spec.project(), &snapshot)
                && (projects.is_empty() || projects.iter().any(|p| p == s.spec.project()))
                && selector.iter().all(|r| r.matches(&labels))
                && rules.allows(RESOURCE, "get", &object(&state, s))
        })
        .collect();
    items.sort_by(|a, b| (&a.metadata.name, &a.metadata.namespace).cmp(&(&b.metadata.name, &b.metadata.namespace)));
    let items: Vec<Value> = items.iter().map(ApplicationSet::to_json_shown).collect();
    Ok(Json(json!({ "metadata": { "resourceVersion": listed.metadata.resource_version }, "items": items })))
}

/// `GET /api/v1/applicationsets/{name}` (`appsetNamespace`).
pub async fn get(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, at: AppSetPath) -> Result<Json<Value>, ApiError> {
    encode(&find(&state, &who, &at.namespace, &at.name, "get").await?)
}

/// `POST /api/v1/applicationsets?upsert=&dryRun=` with the ApplicationSet
/// as the body: creates it; an existing set with the same spec is answered
/// as it is, one with another spec is replaced only with `upsert=true`
/// (with `update` on it, and `create` on the new project when it moves).
/// `dryRun=true` has the API server validate it and stores nothing.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    let (upsert, dry_run) = (flag(&pairs, "upsert")?, flag(&pairs, "dryRun")?);
    let set = set_from(&state, &pairs, body)?;
    let (ns, name) = (set.metadata.namespace.clone().unwrap_or_default(), set.metadata.name.clone().unwrap_or_default());
    let what = format!("ApplicationSet {ns}/{name}");
    state.enforce(&who, RESOURCE, "create", &object(&state, &set))?;
    // A project that does not exist is the caller's mistake (Argo CD's
    // InvalidArgument); a namespace tenancy does not allow is refused with
    // the reason, as an app's create is.
    match state.project(set.spec.project()).await {
        Err(driftless_engine::project::LoadError::Api { name, source }) => {
            return Err(ApiError::internal(&format!("read AppProject {name}"), source));
        }
        Err(e) => return Err(ApiError::bad_request(format!("{what}: {e}"))),
        Ok(_) => {}
    }
    check_tenancy(&state, &ns, set.spec.project()).await.map_err(|e| ApiError::forbidden(format!("{what}: {e}")))?;
    let api = api(&state, &ns);
    let params = PostParams { dry_run, ..Default::default() };
    let stored = match api.create(&params, &set).await {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(&name).await.map_err(|e| ApiError::kube(&format!("read {what}"), e))?;
            if sets::unchanged(&existing, &set) {
                return encode(&existing);
            }
            if !upsert {
                return Err(ApiError::conflict(format!("{what} already exists and its spec differs: pass upsert=true to replace it")));
            }
            replace(&state, &who, existing, &set, dry_run).await?
        }
        other => other.map_err(|e| ApiError::kube(&format!("create {what}"), e))?,
    };
    if !dry_run {
        tracing::info!(user = %who.username, applicationset = %format!("{ns}/{name}"), "ApplicationSet created or updated");
    }
    encode(&stored)
}

/// `POST /api/v1/applicationsets/generate` with `{"applicationSet": ...}`:
/// the Applications the set would make now, as Argo CD's Generate
/// answers (`{"applications": [...]}`); nothing is stored. It reads what
/// the set's generators read (Git, cluster Secrets), so it needs
/// `create` on the set, as Argo CD's does.
pub async fn generate(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    let Some(body) = body.get("applicationSet").cloned() else {
        return Err(ApiError::bad_request("applicationSet: required (the ApplicationSet to generate from)"));
    };
    let set = set_from(&state, &pairs, body)?;
    let (ns, name) = (set.metadata.namespace.clone().unwrap_or_default(), set.metadata.name.clone().unwrap_or_default());
    state.enforce(&who, RESOURCE, "create", &object(&state, &set))?;
    check_tenancy(&state, &ns, set.spec.project()).await.map_err(|e| ApiError::forbidden(format!("ApplicationSet {ns}/{name}: {e}")))?;
    let sources = driftless_appset::sources::EngineSources { engine: &state.compare, namespace: ns.clone() };
    let apps = driftless_appset::applications(&set, &sources)
        .await
        .map_err(|e| ApiError::bad_request(format!("ApplicationSet {ns}/{name}: {e}")))?;
    Ok(Json(json!({ "applications": apps })))
}

/// Replaces the spec of `existing` with `set`'s and merges in its labels
/// and annotations (as Argo CD's upsert does), conditional on the
/// resourceVersion read: a write in between makes it read and try again.
/// The caller needs `update` on the set as it is and as it will be.
async fn replace(
    state: &AppState,
    who: &Identity,
    existing: ApplicationSet,
    set: &ApplicationSet,
    dry_run: bool,
) -> Result<ApplicationSet, ApiError> {
    let (ns, name) = (set.metadata.namespace.clone().unwrap_or_default(), set.metadata.name.clone().unwrap_or_default());
    let what = format!("ApplicationSet {ns}/{name}");
    let api = api(state, &ns);
    let params = PostParams { dry_run, ..Default::default() };
    let mut current = existing;
    for attempt in 1..=CONFLICT_RETRIES {
        let denied = || ApiError::permission_denied(RESOURCE, "update", &format!("{ns}/{name}"), &who.username);
        if check_tenancy(state, &ns, current.spec.project()).await.is_err()
            || !state.allowed(&state.policy(), who, RESOURCE, "update", &object(state, &current))
        {
            return Err(denied());
        }
        state.enforce(who, RESOURCE, "update", &object(state, set))?;
        sets::upsert_into(&mut current, set);
        match api.replace(&name, &params, &current).await {
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => {
                current = api.get(&name).await.map_err(|e| ApiError::kube(&format!("read {what}"), e))?;
            }
            other => return other.map_err(|e| ApiError::kube(&format!("update {what}"), e)),
        }
    }
    unreachable!("the last attempt returns")
}

/// `DELETE /api/v1/applicationsets/{name}` (`appsetNamespace`): the
/// Applications it owns are deleted with it by the API server's garbage
/// collector (their ownerReferences), and their resources as each
/// Application's finalizer says.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppSetPath,
) -> Result<Json<Value>, ApiError> {
    let set = find(&state, &who, &at.namespace, &at.name, "delete").await?;
    api(&state, &at.namespace)
        .delete(&at.name, &DeleteParams::default())
        .await
        .map_err(|e| ApiError::kube(&format!("delete ApplicationSet {}/{}", at.namespace, at.name), e))?;
    tracing::info!(user = %who.username, applicationset = %format!("{}/{}", at.namespace, at.name), "ApplicationSet deleted");
    Ok(Json(json!({ "project": set.spec.project() })))
}

/// One Application as a node of the set's tree (Argo CD's ResourceNode),
/// its sync status in `info`.
fn node(app: &Application, parent: &Value) -> Value {
    let status = app.status.clone().unwrap_or_default();
    json!({
        "group": driftless_api::GROUP,
        "version": driftless_api::VERSION,
        "kind": "Application",
        "namespace": app.metadata.namespace,
        "name": app.metadata.name,
        "uid": app.metadata.uid,
        "resourceVersion": app.metadata.resource_version,
        "createdAt": app.metadata.creation_timestamp,
        "parentRefs": [parent],
        "health": status.health,
        "info": [
            { "name": "Sync Status", "value": format!("{:?}", status.sync.status) },
            { "name": "Project", "value": if app.spec.project.is_empty() { "default" } else { app.spec.project.as_str() } },
        ],
    })
}

/// `GET /api/v1/applicationsets/{name}/resource-tree` (`appsetNamespace`):
/// the Applications the set owns that the caller may see (Argo CD's
/// ApplicationSetTree), in name order.
pub async fn tree(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    at: AppSetPath,
) -> Result<Json<Value>, ApiError> {
    let set = find(&state, &who, &at.namespace, &at.name, "get").await?;
    state.apps_ready().await?;
    let parent = json!({
        "group": driftless_api::GROUP, "version": driftless_api::VERSION, "kind": "ApplicationSet",
        "namespace": set.metadata.namespace, "name": set.metadata.name, "uid": set.metadata.uid,
    });
    let policy = state.policy();
    let rules = state.enforcer(&policy, &who).narrow("applications", "get");
    let projects = state.projects.snapshot();
    let nodes: Vec<Value> = state
        .store
        .select(|a| sets::owns(&set, a) && state.app_visible(a, &projects) && rules.allows("applications", "get", &state.app_object(a)))
        .iter()
        .map(|a| node(a, &parent))
        .collect();
    Ok(Json(json!({ "nodes": nodes })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_true_false_or_refused() {
        let p = query_pairs(Some("upsert=true&dryRun=&x=yes"));
        assert!(flag(&p, "upsert").expect("valid"));
        assert!(!flag(&p, "dryRun").expect("valid") && !flag(&p, "missing").expect("valid"));
        assert_eq!(flag(&p, "x").expect_err("refused").status(), http::StatusCode::BAD_REQUEST);
    }
}
