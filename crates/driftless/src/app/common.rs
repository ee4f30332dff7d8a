//! What the `app` commands share: the connection, app names, and the ways
//! an Application's fields are shown to people.

use std::collections::HashMap;

use anyhow::bail;
use driftless_api::{Application, ApplicationCondition, OperationInitiator, OperationState, ResourceResult};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;

/// A connection to the cluster and the namespace apps default to.
pub struct Ctx {
    /// The API server, from kubeconfig (or in-cluster config).
    pub client: kube::Client,
    /// `-N`, else the kubeconfig context's namespace.
    pub namespace: String,
    /// Whether `-N` was given (a manifest's own namespace yields to it).
    pub namespace_given: bool,
    /// The control-plane namespace (`--control-plane-namespace`).
    pub control_plane: String,
}

impl Ctx {
    /// Connects through kubeconfig, as `kubectl` and `argocd --core` do.
    pub async fn connect(app_namespace: Option<String>, control_plane: String) -> anyhow::Result<Ctx> {
        let client = crate::kube_client::connect().await?;
        let given = app_namespace.filter(|s| !s.is_empty());
        let namespace = given.clone().unwrap_or_else(|| client.default_namespace().to_string());
        Ok(Ctx { client, namespace, namespace_given: given.is_some(), control_plane })
    }

    /// Applications in `namespace`.
    pub fn api(&self, namespace: &str) -> Api<Application> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Splits an `argocd`-style `ns/name` into namespace and name; a bare
    /// name is in the default namespace.
    pub fn resolve(&self, app: &str) -> anyhow::Result<AppRef> {
        let (ns, name) = match app.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (self.namespace.clone(), app.to_string()),
        };
        if ns.is_empty() || name.is_empty() || name.contains('/') {
            bail!("invalid application name {app:?}: use NAME or NAMESPACE/NAME");
        }
        Ok(AppRef { api: self.api(&ns), namespace: ns, name })
    }

    /// Reads an Application, with an error that says where it looked.
    pub async fn get(&self, app: &str) -> anyhow::Result<(AppRef, Application)> {
        let r = self.resolve(app)?;
        let found = r.api.get_opt(&r.name).await.map_err(|e| api_error(e, &r))?;
        match found {
            Some(a) => Ok((r, a)),
            None => bail!(
                "application {:?} not found in namespace {:?}: see `driftless app list -N {}`, or name it as NAMESPACE/NAME",
                r.name,
                r.namespace,
                r.namespace
            ),
        }
    }
}

/// An Application's namespace and name, with its API.
pub struct AppRef {
    /// Where Applications of that namespace live.
    pub api: Api<Application>,
    /// The Application's namespace.
    pub namespace: String,
    /// The Application's name.
    pub name: String,
}

impl std::fmt::Display for AppRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Turns an API error into a message that names the app and, for the
/// common cases, the fix.
pub fn api_error(err: kube::Error, app: &AppRef) -> anyhow::Error {
    match &err {
        kube::Error::Api(s) if s.code == 404 && s.details.as_ref().is_none_or(|d| d.kind != "applications") => anyhow::anyhow!(
            "the Application CRD is not installed in this cluster (reading app {app}): run `driftless crds | kubectl apply --server-side -f -`"
        ),
        kube::Error::Api(s) if s.code == 403 => {
            anyhow::anyhow!("not allowed to access Applications in namespace {:?}: {}", app.namespace, s.message)
        }
        _ => anyhow::Error::new(err).context(format!("app {app}")),
    }
}

/// `Auto-Prune`, `Auto` or `Manual`, as `argocd app list` shows the policy.
pub fn sync_policy(app: &Application) -> &'static str {
    match automated(app) {
        Some(a) if a.prune => "Auto-Prune",
        Some(_) => "Auto",
        None => "Manual",
    }
}

/// The automated policy when it is on.
pub fn automated(app: &Application) -> Option<&driftless_api::SyncPolicyAutomated> {
    app.spec.sync_policy.as_ref()?.automated.as_ref().filter(|a| a.enabled != Some(false))
}

/// `Type(count),...` or `<none>`, as `argocd app list` summarises conditions.
pub fn conditions_summary(conditions: &[ApplicationCondition]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in conditions {
        match counts.iter_mut().find(|(t, _)| *t == c.type_) {
            Some((_, n)) => *n += 1,
            None => counts.push((&c.type_, 1)),
        }
    }
    if counts.is_empty() {
        return "<none>".into();
    }
    counts.iter().map(|(t, n)| if *n > 1 { format!("{t}({n})") } else { t.to_string() }).collect::<Vec<_>>().join(",")
}

/// The destination cluster: server URL, else name.
pub fn cluster(app: &Application) -> String {
    let d = &app.spec.destination;
    d.server.clone().or_else(|| d.name.clone()).unwrap_or_default()
}

/// The first 7 characters of a commit.
pub fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

/// A timestamp as people read it (RFC 3339, UTC).
pub fn time(t: &Time) -> String {
    t.0.to_string()
}

/// The current time of day, for live logs.
pub fn clock() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%H:%M:%S").to_string()
}

/// Headers of the resource table of `app get` and `app sync`.
pub const RESOURCE_HEADERS: [&str; 8] = ["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "HOOK", "MESSAGE"];

/// One row per resource: the app's resources with their sync status and
/// health, the last sync's message for each, and the hooks it ran.
pub fn resource_rows(app: &Application) -> Vec<Vec<String>> {
    let status = app.status.clone().unwrap_or_default();
    let results: Vec<ResourceResult> =
        status.operation_state.as_ref().and_then(|o| o.sync_result.as_ref()).map(|r| r.resources.clone()).unwrap_or_default();
    let key = |group: &str, kind: &str, ns: &str, name: &str| (group.to_string(), kind.to_string(), ns.to_string(), name.to_string());
    let mut messages: HashMap<(String, String, String, String), &ResourceResult> = HashMap::new();
    for r in results.iter().filter(|r| r.hook_type.is_none()) {
        messages.insert(key(&r.group, &r.kind, &r.namespace, &r.name), r);
    }
    let mut rows = Vec::new();
    for r in &status.resources {
        let ns = r.namespace.clone().unwrap_or_default();
        let message = messages.get(&key(&r.group, &r.kind, &ns, &r.name)).map(|m| m.message.clone()).unwrap_or_default();
        let health = r.health.as_ref().map(|h| h.status.to_string()).unwrap_or_default();
        let mut status = format!("{:?}", r.status);
        if r.requires_pruning {
            status.push_str(if r.requires_deletion_confirmation {
                " (requires pruning: awaits confirmation)"
            } else {
                " (requires pruning)"
            });
        }
        rows.push(vec![r.group.clone(), r.kind.clone(), ns, r.name.clone(), status, health, String::new(), one_line(&message)]);
    }
    for h in results.iter().filter(|r| r.hook_type.is_some()) {
        let phase = h.hook_phase.map(|p| format!("{p:?}")).unwrap_or_default();
        let hook = h.hook_type.map(|t| format!("{t:?}")).unwrap_or_default();
        rows.push(vec![
            h.group.clone(),
            h.kind.clone(),
            h.namespace.clone(),
            h.name.clone(),
            phase,
            String::new(),
            hook,
            one_line(&h.message),
        ]);
    }
    rows
}

/// The resource table of a sync's results (what `app sync` prints at the end).
pub fn result_rows(state: &OperationState) -> Vec<Vec<String>> {
    let results = state.sync_result.as_ref().map(|r| r.resources.as_slice()).unwrap_or_default();
    results
        .iter()
        .map(|r| {
            vec![
                r.group.clone(),
                r.kind.clone(),
                r.namespace.clone(),
                r.name.clone(),
                r.status.map(|s| format!("{s:?}")).or_else(|| r.hook_phase.map(|p| format!("{p:?}"))).unwrap_or_default(),
                String::new(),
                r.hook_type.map(|t| format!("{t:?}")).unwrap_or_default(),
                one_line(&r.message),
            ]
        })
        .collect()
}

/// Messages can span lines (API server errors do); a table cell cannot.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Who started a sync: a person's name, or `automated` (`automated`
/// naming it) with why when automation says (an automatic rollback
/// records its reason as the name).
pub fn initiator(by: &OperationInitiator, automated: &str) -> String {
    match (by.automated, by.username.as_deref().filter(|u| !u.is_empty())) {
        (true, Some(why)) => format!("{automated} ({why})"),
        (true, None) => automated.to_string(),
        (false, who) => who.unwrap_or_default().to_string(),
    }
}

/// Summary lines of an operation, for `app get` and `app sync`.
pub fn operation_summary(state: &OperationState) -> String {
    let mut out = String::new();
    let sync = state.operation.sync.clone().unwrap_or_default();
    let revision =
        state.sync_result.as_ref().map(|r| r.revision.as_str()).filter(|r| !r.is_empty()).or(sync.revision.as_deref()).unwrap_or("");
    let who = state.operation.initiated_by.as_ref().map(|i| initiator(i, "automated sync policy"));
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<20}{}\n", format!("{k}:"), v));
    kv("Operation", if sync.dry_run { "Sync (dry run)".into() } else { "Sync".into() });
    kv("Sync Revision", revision.to_string());
    if let Some(who) = who.filter(|w| !w.is_empty()) {
        kv("Initiated By", who);
    }
    kv("Phase", format!("{:?}", state.phase));
    kv("Start", time(&state.started_at));
    if let Some(f) = &state.finished_at {
        kv("Finished", time(f));
        let secs = f.0.as_second() - state.started_at.0.as_second();
        kv("Duration", format!("{secs}s"));
    }
    if let Some(m) = state.message.as_deref().filter(|m| !m.is_empty()) {
        kv("Message", one_line(m));
    }
    out
}
