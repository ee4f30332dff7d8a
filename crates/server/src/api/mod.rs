//! The HTTP routes: Argo CD's REST paths and JSON shapes.

mod applicationsets;
mod apps;
mod clusters;
mod dependencies;
mod events;
mod ops;
mod projects;
mod repositories;
mod resources;
mod session;
mod stream;
mod windows;

pub use session::session_response;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::{delete, get, post};
use percent_encoding::percent_decode_str;

use crate::openapi::{self, Routes};
use crate::state::AppState;

const APPS: &str = "ApplicationService";
const APPSETS: &str = "ApplicationSetService";
const SESSION: &str = "SessionService";
const ACCOUNT: &str = "AccountService";
const SETTINGS: &str = "SettingsService";
const CLUSTERS: &str = "ClusterService";
const PROJECTS: &str = "ProjectService";
const REPOSITORIES: &str = "RepositoryService";
const REPOCREDS: &str = "RepoCredsService";

/// Every route, behind the authentication middleware (which runs only for
/// matched routes: an unknown path is a plain 404).
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Routes::new()
        .route(
            APPS,
            "/api/v1/applications",
            &[("get", "List applications"), ("post", "Create an application (upsert=true)")],
            get(apps::list).post(apps::create),
        )
        .route(
            APPS,
            "/api/v1/applications/{name}",
            &[
                ("get", "Get an application (refresh=normal|hard requests a refresh)"),
                ("delete", "Delete an application (cascade=true|false)"),
            ],
            get(apps::get).delete(ops::delete),
        )
        .route(APPS, "/api/v1/applications/{name}/resource-tree", &[("get", "Get the resource tree")], get(resources::tree))
        .route(
            APPS,
            "/api/v1/applications/{name}/resource",
            &[
                ("get", "Get the live manifest of one object of the resource tree (group, version, kind, namespace, resourceName)"),
                ("delete", "Delete one object of the resource tree (RBAC applications, delete/<group>/<kind>/<namespace>/<name>)"),
            ],
            get(resources::resource).delete(resources::delete_resource),
        )
        .route(
            APPS,
            "/api/v1/applications/{name}/managed-resources",
            &[("get", "Get managed resources with live and desired state and diffs")],
            get(resources::managed),
        )
        .route(
            APPS,
            "/api/v1/applications/{name}/events",
            &[("get", "The app's Kubernetes Events (a core/v1 EventList): the controller's and the server's")],
            get(events::list),
        )
        .route(
            APPS,
            "/api/v1/applications/{name}/dependencies",
            &[("get", "The app's dependency graph (driftless.dev/depends-on): what it waits for, nodes and edges; apps the caller may not get hidden")],
            get(dependencies::graph),
        )
        .route(APPS, "/api/v1/applications/{name}/sync", &[("post", "Sync an application")], post(ops::sync))
        .route(APPS, "/api/v1/applications/{name}/syncwindows", &[("get", "Sync windows: assigned, active, canSync")], get(windows::app))
        .route(APPS, "/api/v1/applications/{name}/rollback", &[("post", "Roll back to a history id")], post(ops::rollback))
        .route(
            APPS,
            "/api/v1/applications/{name}/confirm-deletion",
            &[("post", "Confirm the pruning (Prune=confirm) or deletion (Delete=confirm) of resources waiting for it (RBAC: delete)")],
            post(ops::confirm_deletion),
        )
        .route(
            APPS,
            "/api/v1/applications/{name}/operation",
            &[("delete", "Terminate the requested or running operation")],
            delete(ops::terminate),
        )
        .route(APPS, "/api/v1/stream/applications", &[("get", "Watch application changes (server-sent events)")], get(stream::watch))
        .route(
            APPSETS,
            "/api/v1/applicationsets",
            &[
                ("get", "List ApplicationSets (projects, selector, appsetNamespace)"),
                ("post", "Create an ApplicationSet (upsert=true replaces a different spec; dryRun=true only validates)"),
            ],
            get(applicationsets::list).post(applicationsets::create),
        )
        .route(
            APPSETS,
            "/api/v1/applicationsets/generate",
            &[("post", "The Applications an ApplicationSet would make now (body: {applicationSet}); nothing is stored")],
            post(applicationsets::generate),
        )
        .route(
            APPSETS,
            "/api/v1/applicationsets/{name}",
            &[
                ("get", "Get an ApplicationSet (appsetNamespace)"),
                ("delete", "Delete an ApplicationSet: its Applications go with it (ownerReferences)"),
            ],
            get(applicationsets::get).delete(applicationsets::delete),
        )
        .route(
            APPSETS,
            "/api/v1/applicationsets/{name}/resource-tree",
            &[("get", "The Applications an ApplicationSet owns, with their health and sync status")],
            get(applicationsets::tree),
        )
        .route(CLUSTERS, "/api/v1/clusters", &[("get", "List clusters, each probed now, with its apps counted")], get(clusters::list))
        .route(
            CLUSTERS,
            "/api/v1/clusters/{server}",
            &[
                ("get", "Get a cluster by URL-encoded server (id.type=name: by name)"),
                ("delete", "Remove a cluster: delete its cluster Secret (not in-cluster)"),
            ],
            get(clusters::get).delete(clusters::delete),
        )
        .route(
            REPOSITORIES,
            "/api/v1/repositories",
            &[("get", "List repositories (no credential is ever shown)"), ("post", "Register a repository (upsert=true replaces)")],
            get(repositories::list_repositories).post(repositories::create_repository),
        )
        .route(
            REPOSITORIES,
            "/api/v1/repositories/{repo}",
            &[("get", "Get a repository by URL-encoded URL"), ("delete", "Remove a repository: delete its Secret")],
            get(repositories::get_repository).delete(repositories::delete_repository),
        )
        .route(
            REPOCREDS,
            "/api/v1/repocreds",
            &[("get", "List credential templates"), ("post", "Register a credential template (upsert=true replaces)")],
            get(repositories::list_templates).post(repositories::create_template),
        )
        .route(REPOCREDS, "/api/v1/repocreds/{url}", &[("delete", "Remove a credential template")], delete(repositories::delete_template))
        .route(
            PROJECTS,
            "/api/v1/projects",
            &[("get", "List projects"), ("post", "Create a project ({project, upsert})")],
            get(projects::list).post(projects::create),
        )
        .route(
            PROJECTS,
            "/api/v1/projects/{name}",
            &[("get", "Get a project"), ("put", "Update a project ({project})"), ("delete", "Delete a project no app uses")],
            get(projects::get).put(projects::update).delete(projects::delete),
        )
        .route(
            PROJECTS,
            "/api/v1/projects/{project}/roles/{role}/token",
            &[("post", "Create a project role token ({expiresIn, id})")],
            post(projects::create_token),
        )
        .route(
            PROJECTS,
            "/api/v1/projects/{project}/roles/{role}/token/{iat}",
            &[("delete", "Revoke a project role token by issue time (or ?id=)")],
            delete(projects::delete_token),
        )
        .route(PROJECTS, "/api/v1/projects/{name}/syncwindows", &[("get", "A project's active sync windows")], get(windows::project))
        .route(SESSION, "/api/v1/session", &[("post", "Log in"), ("delete", "Log out")], post(session::login).delete(session::logout))
        .route(SESSION, "/api/v1/session/userinfo", &[("get", "Who is logged in")], get(session::userinfo))
        .route(ACCOUNT, "/api/v1/account/{name}/token", &[("post", "Create an API token")], post(session::create_token))
        .route(
            ACCOUNT,
            "/api/v1/account/can-i/{resource}/{action}/{*subresource}",
            &[("get", "Whether the caller may do an action (yes or no)")],
            get(session::can_i),
        )
        .route(ACCOUNT, "/api/v1/account/password", &[("put", "Change a password")], axum::routing::put(session::change_password))
        .route("SSO", "/auth/login", &[("get", "Log in through the SSO provider (return_url=)")], get(crate::oidc::login))
        .route("SSO", "/auth/callback", &[("get", "The SSO provider's redirect back (code, state)")], get(crate::oidc::callback))
        .route(SETTINGS, "/api/v1/settings", &[("get", "Public settings (URL, SSO)")], get(session::settings))
        .route(
            "Webhook",
            "/api/webhook",
            &[(
                "post",
                "A Git provider's push (GitHub, GitLab, Bitbucket Cloud and Server, Gitea, Gogs, Azure DevOps) or a registry's (distribution notifications, Harbor): refreshes the apps it concerns; no login, signed with argocd-secret's webhook.* secrets when set",
            )],
            post(crate::webhook::receive).layer(axum::Extension(Arc::new(crate::webhook::Limits::default()))),
        )
        .route("Server", "/swagger.json", &[("get", "This OpenAPI description")], get(swagger))
        .route("Server", "/healthz", &[("get", "Liveness")], get(|| async { "ok" }))
        .merge(
            "UI",
            &[
                ("get", "/", "The UI: to the app list"),
                ("get", "/login", "The UI: login page"),
                ("get", "/applications", "The UI: app list"),
                ("get", "/applications/{namespace}/{name}", "The UI: app page"),
                ("get", "/applicationsets", "The UI: ApplicationSet list"),
                ("get", "/applicationsets/{namespace}/{name}", "The UI: ApplicationSet page"),
                ("get", "/clusters", "The UI: clusters"),
                ("get", "/assets/{file}", "The UI: scripts, styles, icons"),
            ],
            crate::ui::router(),
        );
    let (router, docs) = routes.finish();
    let spec = Arc::new(openapi::spec(&docs));
    router
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&state), crate::auth::middleware))
        .layer(axum::Extension(spec))
        .with_state(state)
}

async fn swagger(axum::Extension(spec): axum::Extension<Arc<serde_json::Value>>) -> Json<serde_json::Value> {
    Json((*spec).clone())
}

/// A JSON request body, whatever its Content-Type says (scripts often send
/// none); an empty body reads as `{}`. Malformed bodies get a 400 saying why.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = crate::error::ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        // The rejection's own status: 413 for a body over the limit.
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| crate::error::ApiError::new(e.status(), format!("request body: {e}")))?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes).map(JsonBody).map_err(|e| crate::error::ApiError::bad_request(format!("request body: {e}")))
    }
}

/// Query parameters in order, decoded; repeated keys stay repeated (Argo
/// CD's `projects=a&projects=b`).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    raw.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// Every value of `key`, comma lists split.
pub fn query_values(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == key).flat_map(|(_, v)| v.split(',')).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
}

/// The last value of `key`.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The app a request names: `{name}` in its path (or `namespace/name`,
/// its slash encoded), its namespace from `appNamespace=` (else the control
/// plane's), and the query's pairs.
pub struct AppPath {
    /// The app's namespace.
    pub namespace: String,
    /// The app's name.
    pub name: String,
    /// The query, decoded.
    pub query: Vec<(String, String)>,
}

impl axum::extract::FromRequestParts<Arc<AppState>> for AppPath {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (namespace, name, query) = qualified_name(parts, state, "appNamespace").await?;
        Ok(AppPath { namespace, name, query })
    }
}

/// The ApplicationSet a request names, as [`AppPath`] names an app, its
/// namespace from `appsetNamespace=`.
pub struct AppSetPath {
    /// The set's namespace.
    pub namespace: String,
    /// The set's name.
    pub name: String,
}

impl axum::extract::FromRequestParts<Arc<AppState>> for AppSetPath {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (namespace, name, _) = qualified_name(parts, state, "appsetNamespace").await?;
        Ok(AppSetPath { namespace, name })
    }
}

/// `{name}` of the path as namespace and name: `namespace/name` (its slash
/// encoded), else the name in the namespace the query's `key` names (else
/// the control plane's); and the decoded query.
async fn qualified_name(
    parts: &mut http::request::Parts,
    state: &Arc<AppState>,
    key: &str,
) -> Result<(String, String, Vec<(String, String)>), crate::error::ApiError> {
    let axum::extract::Path(name) = <axum::extract::Path<String> as axum::extract::FromRequestParts<_>>::from_request_parts(parts, state)
        .await
        .map_err(|e| crate::error::ApiError::bad_request(format!("request path: {e}")))?;
    let query = query_pairs(parts.uri.query());
    let (namespace, name) = match name.split_once('/') {
        Some((ns, name)) => {
            if query_value(&query, key).is_some_and(|q| !q.is_empty() && q != ns) {
                return Err(crate::error::ApiError::bad_request(format!("the path names namespace {ns:?} and {key} another")));
            }
            (ns.to_string(), name.to_string())
        }
        None => (namespace_of(state, &query, key), name),
    };
    Ok((namespace, name, query))
}

/// Project tokens never reach clusters or repositories, whatever the
/// policy says: their credentials are the control plane's, not a
/// project's (CVE-2025-55190's class).
pub fn refuse_project_tokens(
    who: &crate::auth::Identity,
    resource: &str,
    action: &str,
    object: &str,
) -> Result<(), crate::error::ApiError> {
    match who.project_token() {
        Some(_) => Err(crate::error::ApiError::permission_denied(resource, action, object, &who.username)),
        None => Ok(()),
    }
}

/// The namespace the query's `key` names, else the server's.
pub fn namespace_of(state: &AppState, pairs: &[(String, String)], key: &str) -> String {
    query_value(pairs, key).filter(|v| !v.is_empty()).unwrap_or(state.config.namespace()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_repeat() {
        let p = query_pairs(Some("projects=a&projects=b%2Cc&search=my+app&fields=items.metadata.name"));
        assert_eq!(query_values(&p, "projects"), vec!["a", "b", "c"]);
        assert_eq!(query_value(&p, "search"), Some("my app"));
        assert_eq!(query_value(&p, "limit"), None);
    }
}
