//! Reading apps: list (filters, search, pages, `fields=` projection), get
//! (with refresh; the history is the app's `status.history`). Served from
//! the in-memory store.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use driftless_api::{ANNOTATION_REFRESH, Application};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Map, Value, json};

use super::{AppPath, JsonBody, namespace_of, query_pairs, query_value, query_values};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

/// The list filters, parsed from the query.
#[derive(Debug, Default)]
pub struct Filter {
    projects: Vec<String>,
    app_namespace: Option<String>,
    name: Option<String>,
    selector: Vec<Requirement>,
    sync: Vec<String>,
    health: Vec<String>,
    clusters: Vec<String>,
    namespaces: Vec<String>,
    search: Option<String>,
}

impl Filter {
    /// Reads `projects`/`project`, `appNamespace`, `name`, `selector`,
    /// `sync`, `health`, `cluster`, `namespace`, `search`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Filter, ApiError> {
        let mut projects = query_values(pairs, "projects");
        projects.extend(query_values(pairs, "project"));
        Ok(Filter {
            projects,
            app_namespace: query_value(pairs, "appNamespace").filter(|v| !v.is_empty()).map(String::from),
            name: query_value(pairs, "name").filter(|v| !v.is_empty()).map(String::from),
            selector: match query_value(pairs, "selector") {
                Some(s) => parse_selector(s).map_err(|e| ApiError::bad_request(format!("selector={s:?}: {e}")))?,
                None => Vec::new(),
            },
            sync: query_values(pairs, "sync"),
            health: query_values(pairs, "health"),
            clusters: query_values(pairs, "cluster"),
            namespaces: query_values(pairs, "namespace"),
            search: query_value(pairs, "search").map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()),
        })
    }

    /// Whether `app` passes every filter.
    pub fn matches(&self, app: &Application) -> bool {
        let one_of = |wanted: &[String], have: &str| wanted.is_empty() || wanted.iter().any(|w| w == have);
        let status = app.status.as_ref();
        let project = if app.spec.project.is_empty() { "default" } else { &app.spec.project };
        let name = app.metadata.name.as_deref().unwrap_or_default();
        let dest = &app.spec.destination;
        let labels = app.metadata.labels.clone().unwrap_or_default();
        one_of(&self.projects, project)
            && self.app_namespace.as_deref().is_none_or(|ns| app.metadata.namespace.as_deref() == Some(ns))
            && self.name.as_deref().is_none_or(|n| n == name)
            && self.selector.iter().all(|r| r.matches(&labels))
            && one_of(&self.sync, &format!("{:?}", status.map(|s| s.sync.status).unwrap_or_default()))
            && one_of(&self.health, status.map(|s| s.health.status).unwrap_or_default().as_str())
            && (self.clusters.is_empty()
                || self.clusters.iter().any(|c| dest.server.as_deref() == Some(c.as_str()) || dest.name.as_deref() == Some(c.as_str())))
            && one_of(&self.namespaces, dest.namespace.as_deref().unwrap_or_default())
            && self.search.as_deref().is_none_or(|s| name.to_lowercase().contains(s))
    }
}

/// One requirement of a label selector.
#[derive(Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `k=v`, `k==v`, `k in (a,b)`.
    In(String, Vec<String>),
    /// `k!=v`, `k notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    NotExists(String),
}

impl Requirement {
    /// Whether `labels` meet the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        }
    }
}

/// Parses a Kubernetes label selector (equality- and set-based).
pub fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    // Split on commas outside parentheses.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    let set = |v: &str| -> Result<Vec<String>, String> {
        let inner = v.trim().strip_prefix('(').and_then(|v| v.strip_suffix(')')).ok_or_else(|| format!("expected (a,b) in {v:?}"))?;
        Ok(inner.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
    };
    let mut out = Vec::new();
    for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let r = if let Some((k, v)) = p.split_once("!=") {
            Requirement::NotIn(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Requirement::In(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, v)) = p.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(v)?)
        } else if let Some((k, v)) = p.split_once(" in ") {
            Requirement::In(k.trim().into(), set(v)?)
        } else if let Some(k) = p.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else if p.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            Requirement::Exists(p.into())
        } else {
            return Err(format!("cannot parse requirement {p:?}"));
        };
        out.push(r);
    }
    Ok(out)
}

/// Keeps only `paths` (dotted, relative to the item) of `item`.
pub fn project(item: &Value, paths: &[Vec<&str>]) -> Value {
    let mut out = Value::Object(Map::new());
    for path in paths {
        let mut src = item;
        let mut found = true;
        for seg in path {
            match src.get(seg) {
                Some(v) => src = v,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        let mut dst = &mut out;
        for (i, seg) in path.iter().enumerate() {
            if i + 1 == path.len() {
                dst[*seg] = src.clone();
            } else {
                if !dst.get(*seg).is_some_and(Value::is_object) {
                    dst[*seg] = Value::Object(Map::new());
                }
                dst = &mut dst[*seg];
            }
        }
    }
    out
}

/// `GET /api/v1/applications`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    let filter = Filter::parse(&pairs)?;
    let number = |key: &str| -> Result<Option<usize>, ApiError> {
        query_value(&pairs, key)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<usize>().map_err(|_| ApiError::bad_request(format!("{key}={v:?}: expected a non-negative integer"))))
            .transpose()
    };
    let (offset, limit) = (number("offset")?.unwrap_or(0), number("limit")?.filter(|l| *l > 0));
    state.apps_ready().await?;
    let policy = state.policy();
    let rules = state.enforcer(&policy, &who).narrow("applications", "get");
    let projects = state.projects.snapshot();
    let apps = state
        .store
        .select(|a| filter.matches(a) && state.app_visible(a, &projects) && rules.allows("applications", "get", &state.app_object(a)));
    let total = apps.len();
    let page: Vec<&Arc<Application>> = apps.iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect();
    let remaining = total.saturating_sub(offset + page.len());
    let metadata = json!({ "remainingItemCount": remaining, "total": total, "offset": offset });
    let fields: Vec<String> = query_values(&pairs, "fields");
    if fields.is_empty() {
        // Straight from the typed apps: no intermediate JSON tree.
        #[derive(serde::Serialize)]
        struct Page<'a> {
            items: Vec<&'a Application>,
            metadata: Value,
        }
        let whole = Page { items: page.iter().map(|a| a.as_ref()).collect(), metadata };
        return Ok(match serde_json::to_vec(&whole) {
            Ok(body) => ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response(),
            // An app that cannot be encoded whole does not take the others with it.
            Err(_) => Json(json!({ "items": page.iter().map(|a| a.to_json_shown()).collect::<Vec<_>>(), "metadata": whole.metadata }))
                .into_response(),
        });
    }
    let item_paths: Vec<Vec<&str>> = fields.iter().filter_map(|f| f.strip_prefix("items.")).map(|f| f.split('.').collect()).collect();
    let items: Vec<Value> = page.iter().map(|a| project(&a.to_json_shown(), &item_paths)).collect();
    Ok(Json(json!({ "items": items, "metadata": metadata })).into_response())
}

/// `GET /api/v1/applications/{name}`; `refresh=normal|hard` sets Argo CD's
/// refresh annotation, which makes the controller compare (hard: without
/// its caches) at once.
pub async fn get(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, at: AppPath) -> Result<Json<Value>, ApiError> {
    let (ns, name, pairs) = (at.namespace, at.name, at.query);
    let app = state.app(&who, &ns, &name, "get").await?;
    let app = match query_value(&pairs, "refresh").filter(|r| !r.is_empty()) {
        None => (*app).clone(),
        Some(kind @ ("normal" | "hard")) => {
            let api: Api<Application> = Api::namespaced(state.client.clone(), &ns);
            let patch = json!({ "metadata": { "annotations": { ANNOTATION_REFRESH: kind } } });
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| ApiError::kube(&format!("refresh application {ns}/{name}"), e))?
        }
        Some(other) => return Err(ApiError::bad_request(format!("refresh={other:?}: expected normal or hard"))),
    };
    Ok(Json(app.to_json_shown()))
}

/// `POST /api/v1/applications?upsert=`: creates an Application (Argo CD's
/// create; `upsert=true` replaces the spec of an existing one).
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
    JsonBody(mut body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    // Argo CD's clients often leave out apiVersion and kind.
    if let Some(obj) = body.as_object_mut() {
        obj.entry("apiVersion").or_insert_with(|| json!(format!("{}/{}", driftless_api::GROUP, driftless_api::VERSION)));
        obj.entry("kind").or_insert_with(|| json!("Application"));
    }
    let mut app: Application = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("request body: {e}")))?;
    // A value nested deeper than driftless reads is refused here, not lost.
    let spec = serde_json::to_value(&app.spec).map_err(|e| ApiError::bad_request(format!("request body: spec: {e}")))?;
    let name = app.metadata.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_request("metadata.name: required"))?;
    let ns = app.metadata.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| namespace_of(&state, &pairs, "appNamespace"));
    app.metadata.namespace = Some(ns.clone());
    // What the caller may not set: the controller's report and requests.
    app.status = None;
    app.operation = None;
    app.metadata.resource_version = None;
    state.enforce(&who, "applications", "create", &state.app_object(&app))?;
    // Where the controller would not handle it, it is not created: as
    // Argo CD refuses it, with the reason.
    state.check_tenancy(&ns, &app.spec.project).await.map_err(|e| ApiError::forbidden(format!("application {ns}/{name}: {e}")))?;
    let api: Api<Application> = Api::namespaced(state.client.clone(), &ns);
    let upsert = query_value(&pairs, "upsert") == Some("true");
    let created = match api.create(&PostParams::default(), &app).await {
        Err(kube::Error::Api(s)) if s.code == 409 && upsert => {
            let existing = api.get(&name).await.map_err(|e| ApiError::kube(&format!("read application {ns}/{name}"), e))?;
            state.enforce(&who, "applications", "update", &state.app_object(&existing))?;
            state
                .check_tenancy(&ns, &existing.spec.project)
                .await
                .map_err(|_| ApiError::permission_denied("applications", "update", &format!("{ns}/{name}"), &who.username))?;
            let patch = json!({ "metadata": { "resourceVersion": existing.metadata.resource_version }, "spec": spec });
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| ApiError::kube(&format!("update application {ns}/{name}"), e))?
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            return Err(ApiError::conflict(format!("application {ns}/{name} already exists: pass upsert=true to update its spec")));
        }
        other => other.map_err(|e| ApiError::kube(&format!("create application {ns}/{name}"), e))?,
    };
    state.record(&created, "ResourceCreated", "Create", format!("{} created application", who.username)).await;
    Ok(Json(serde_json::to_value(created).map_err(|e| ApiError::internal("encode the application", e))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_match() {
        let r = parse_selector("team=a, tier!=db, env in (prod, staging), !legacy, owner").expect("valid");
        assert_eq!(r.len(), 5);
        let labels = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        let ok = labels(&[("team", "a"), ("env", "prod"), ("owner", "x")]);
        assert!(r.iter().all(|q| q.matches(&ok)));
        let bad = labels(&[("team", "a"), ("env", "dev"), ("owner", "x")]);
        assert!(!r.iter().all(|q| q.matches(&bad)));
        assert!(parse_selector("a in b").is_err());
    }

    #[test]
    fn projection_keeps_only_the_fields_asked_for() {
        let item = json!({ "metadata": { "name": "a", "uid": "u" }, "status": { "sync": { "status": "Synced", "revision": "r" } } });
        let paths = vec![vec!["metadata", "name"], vec!["status", "sync", "status"], vec!["spec", "missing"]];
        assert_eq!(project(&item, &paths), json!({ "metadata": { "name": "a" }, "status": { "sync": { "status": "Synced" } } }));
    }

    #[test]
    fn filters_match_apps() {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": "web-frontend", "namespace": "apps", "labels": { "team": "a" } },
            "spec": { "project": "", "destination": { "server": "https://kubernetes.default.svc", "namespace": "web" },
                      "source": { "repoURL": "r" } },
            "status": { "sync": { "status": "OutOfSync" }, "health": { "status": "Degraded" } }
        }))
        .expect("valid app");
        let f = |q: &str| Filter::parse(&query_pairs(Some(q))).expect("valid filter").matches(&app);
        assert!(f(""));
        assert!(f("projects=default&sync=OutOfSync&health=Degraded&namespace=web&search=FRONT&selector=team%3Da"));
        assert!(f("cluster=https://kubernetes.default.svc&appNamespace=apps"));
        assert!(!f("sync=Synced"));
        assert!(!f("projects=other"));
        assert!(!f("search=backend"));
        assert!(!f("appNamespace=argocd"));
        assert!(!f("selector=team%3Db"));
    }
}
