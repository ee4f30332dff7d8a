//! AppProject enforcement: which namespaces may hold an app, and which
//! repositories, destinations and kinds it may use. Projects live in the
//! control-plane namespace; the `default` project allows everything until
//! it is created with narrower rules, and holds only that namespace's apps.

use driftless_api::{AppProject, Application, GroupKind, glob_match};
use futures::FutureExt;
use kube::Api;
use kube::runtime::reflector::{ObjectRef, Store};

/// The ConfigMap of Argo CD's command-line parameters.
pub const CMD_PARAMS_CONFIGMAP: &str = "argocd-cmd-params-cm";
/// Its key naming the other namespaces that may hold Applications.
pub const APP_NAMESPACES_KEY: &str = "application.namespaces";

/// Where Applications may live: the control-plane namespace (which holds
/// every AppProject), and the namespaces matching `application.namespaces`
/// (Argo CD's "apps in any namespace"), each only for the projects that
/// list it in `sourceNamespaces`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenancy {
    /// The control plane's namespace.
    pub control_plane: String,
    /// Other namespaces that may hold Applications: globs, or `/regex/`.
    pub app_namespaces: Vec<String>,
}

impl Tenancy {
    /// Only the control-plane namespace holds Applications.
    pub fn new(control_plane: impl Into<String>) -> Tenancy {
        Tenancy { control_plane: control_plane.into(), app_namespaces: Vec::new() }
    }

    /// With `application.namespaces` as Argo CD writes it: comma-separated
    /// globs or `/regex/`s.
    pub fn with_app_namespaces(mut self, setting: &str) -> Result<Tenancy, String> {
        for p in setting.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(re) = regex_pattern(p) {
                regex::Regex::new(re).map_err(|e| format!("application.namespaces: {p:?} is not a valid regular expression: {e}"))?;
            }
            self.app_namespaces.push(p.to_string());
        }
        Ok(self)
    }

    /// The tenancy of the control plane in `control_plane`: other
    /// namespaces from `flag` (`--application-namespaces`) when given,
    /// else from `argocd-cmd-params-cm`'s `application.namespaces`, read
    /// once, as Argo CD reads it at start.
    pub async fn read(client: &kube::Client, control_plane: &str, flag: Option<&str>) -> Result<Tenancy, String> {
        let tenancy = Tenancy::new(control_plane);
        if let Some(flag) = flag {
            return tenancy.with_app_namespaces(flag);
        }
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), control_plane);
        let cm = cms.get_opt(CMD_PARAMS_CONFIGMAP).await.map_err(|e| format!("reading {CMD_PARAMS_CONFIGMAP} in namespace {control_plane}: {e}"))?;
        match cm.and_then(|cm| cm.data).and_then(|mut d| d.remove(APP_NAMESPACES_KEY)) {
            Some(setting) => tenancy.with_app_namespaces(&setting).map_err(|e| format!("{CMD_PARAMS_CONFIGMAP} {e}")),
            None => Ok(tenancy),
        }
    }

    /// Whether Applications in `namespace` are handled at all.
    pub fn namespace_enabled(&self, namespace: &str) -> bool {
        namespace == self.control_plane || self.app_namespaces.iter().any(|p| namespace_matches(p, namespace))
    }

    /// Why an Application in `namespace` may not be handled, if it may not.
    pub fn check_namespace(&self, namespace: &str) -> Result<(), String> {
        if self.namespace_enabled(namespace) {
            return Ok(());
        }
        Err(format!(
            "metadata.namespace: Applications in namespace {namespace:?} are not handled: it is not the control-plane namespace {:?} \
             and does not match application.namespaces ({})",
            self.control_plane,
            if self.app_namespaces.is_empty() { "unset".to_string() } else { self.app_namespaces.join(", ") }
        ))
    }

    /// Whether `project` may hold Applications in `namespace`: always in
    /// the control-plane namespace, elsewhere only when the namespace is
    /// enabled and listed in the project's `sourceNamespaces`.
    pub fn check_project(&self, project: &AppProject, namespace: &str) -> Result<(), String> {
        self.check_namespace(namespace)?;
        if namespace == self.control_plane || project.spec.source_namespaces.iter().any(|p| namespace_matches(p, namespace)) {
            return Ok(());
        }
        Err(format!(
            "spec.project: project {:?} does not permit Applications in namespace {namespace:?} (not in its spec.sourceNamespaces)",
            project.metadata.name.as_deref().unwrap_or("default")
        ))
    }
}

fn regex_pattern(p: &str) -> Option<&str> {
    p.strip_prefix('/').and_then(|r| r.strip_suffix('/')).filter(|r| !r.is_empty())
}

/// A namespace pattern as Argo CD matches them: `/regex/` (anchored by the
/// user) or a glob.
fn namespace_matches(pattern: &str, namespace: &str) -> bool {
    match regex_pattern(pattern) {
        Some(re) => regex::Regex::new(re).is_ok_and(|re| re.is_match(namespace)),
        None => glob(pattern, namespace),
    }
}

/// Why an app's project cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No such AppProject in the control-plane namespace.
    #[error("spec.project: AppProject {name:?} does not exist in the control-plane namespace {namespace}")]
    Missing {
        /// The project's name.
        name: String,
        /// The control-plane namespace.
        namespace: String,
    },
    /// The API server failed.
    #[error("spec.project: cannot read AppProject {name:?}: {source}")]
    Api {
        /// The project's name.
        name: String,
        /// What failed.
        #[source]
        source: kube::Error,
    },
}

/// The project named `name`, always from the control-plane namespace: from
/// the watched `store` when it has it, else read (a project created a
/// moment ago may not have reached it). A `default` project that does not
/// exist is the implicit one, which allows everything, as in Argo CD; it
/// holds only the control-plane namespace's apps ([`Tenancy::check_project`]).
pub async fn load(client: &kube::Client, store: Option<&Store<AppProject>>, tenancy: &Tenancy, name: &str) -> Result<AppProject, LoadError> {
    let ns = tenancy.control_plane.as_str();
    let name = if name.is_empty() { "default" } else { name };
    let key = ObjectRef::new(name).within(ns);
    let ready = store.filter(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()));
    if let Some(p) = ready.and_then(|s| s.get(&key)) {
        return Ok((*p).clone());
    }
    let api: Api<AppProject> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) if name == "default" => Ok(AppProject::default_project(ns)),
        Ok(None) => Err(LoadError::Missing { name: name.into(), namespace: ns.into() }),
        // Without the AppProject CRD only the implicit default project exists.
        Err(kube::Error::Api(s)) if s.code == 404 && name == "default" => Ok(AppProject::default_project(ns)),
        Err(source) => Err(LoadError::Api { name: name.into(), source }),
    }
}

/// The project of `app`, checked to hold the app's namespace: the error is
/// an InvalidSpecError message.
pub async fn load_for(client: &kube::Client, store: Option<&Store<AppProject>>, tenancy: &Tenancy, app: &Application) -> Result<AppProject, String> {
    let ns = app.metadata.namespace.as_deref().unwrap_or_default();
    tenancy.check_namespace(ns)?;
    let project = load(client, store, tenancy, &app.spec.project).await.map_err(|e| e.to_string())?;
    tenancy.check_project(&project, ns)?;
    Ok(project)
}

/// Checks the app's sources and destination against the project.
pub fn permits(project: &AppProject, app: &Application) -> Result<(), String> {
    let name = project.metadata.name.as_deref().unwrap_or("default");
    for s in app.spec.source.iter().chain(app.spec.sources.iter()) {
        if !project.spec.source_repos.iter().any(|p| glob(p, &s.repo_url)) {
            return Err(format!("spec.source.repoURL: repository {} is not permitted in project {name}", s.repo_url));
        }
    }
    let d = &app.spec.destination;
    let ns = d.namespace.as_deref().unwrap_or("");
    let ok = project.spec.destinations.iter().any(|pd| {
        let server_ok = match (&pd.server, &d.server) {
            (Some(p), Some(s)) => glob(p, s),
            (Some(p), None) => p == "*",
            (None, _) => true,
        };
        let name_ok = match (&pd.name, &d.name) {
            (Some(p), Some(n)) => glob(p, n),
            _ => true,
        };
        server_ok && name_ok && pd.namespace.as_deref().is_none_or(|p| glob(p, ns))
    });
    if !ok {
        return Err(format!(
            "spec.destination: {} namespace {ns:?} is not permitted in project {name}",
            d.server.as_deref().or(d.name.as_deref()).unwrap_or("")
        ));
    }
    Ok(())
}

/// Whether the project lets the app manage a resource of `group`/`kind`.
pub fn permits_kind(project: &AppProject, group: &str, kind: &str, namespaced: bool) -> bool {
    let matches = |list: &[GroupKind]| list.iter().any(|gk| glob(&gk.group, group) && glob(&gk.kind, kind));
    let s = &project.spec;
    if namespaced {
        (s.namespace_resource_whitelist.is_empty() || matches(&s.namespace_resource_whitelist)) && !matches(&s.namespace_resource_blacklist)
    } else {
        matches(&s.cluster_resource_whitelist) && !matches(&s.cluster_resource_blacklist)
    }
}

/// Argo CD's project glob: [`glob_match`], negated by a leading `!`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.strip_prefix('!') {
        Some(p) => !glob_match(p, text),
        None => glob_match(pattern, text),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn apps_outside_the_control_plane_need_application_namespaces_and_source_namespaces() {
        let t = Tenancy::new("argocd").with_app_namespaces("team-*, /^ops-[0-9]+$/").unwrap();
        assert!(t.namespace_enabled("argocd") && t.namespace_enabled("team-a") && t.namespace_enabled("ops-12"));
        assert!(!t.namespace_enabled("ops-x") && !t.namespace_enabled("kube-system"));
        assert!(t.check_namespace("kube-system").unwrap_err().contains("application.namespaces (team-*, /^ops-[0-9]+$/)"));
        let implicit = AppProject::default_project("argocd");
        assert!(t.check_project(&implicit, "argocd").is_ok(), "the implicit default project holds the control plane's apps");
        assert!(t.check_project(&implicit, "team-a").unwrap_err().contains("sourceNamespaces"), "and no other namespace's");
        let mut team = AppProject::new("team", AppProjectSpec { source_namespaces: vec!["team-*".into()], ..Default::default() });
        assert!(t.check_project(&team, "team-a").is_ok());
        team.spec.source_namespaces = vec!["team-b".into()];
        assert!(t.check_project(&team, "team-a").is_err());
        team.spec.source_namespaces = vec!["*".into()];
        assert!(t.check_project(&team, "kube-system").unwrap_err().contains("application.namespaces"), "both must agree");
        assert!(Tenancy::new("argocd").with_app_namespaces("/(/").unwrap_err().contains("regular expression"));
        assert!(!Tenancy::new("argocd").namespace_enabled("team-a"), "unset: the control plane only");
    }

    use super::*;
    use driftless_api::{AppProjectSpec, ApplicationDestination, ApplicationSource};

    fn app(repo: &str, ns: &str) -> Application {
        let mut a = Application::default();
        a.spec.source = Some(ApplicationSource { repo_url: repo.into(), ..Default::default() });
        a.spec.destination =
            ApplicationDestination { server: Some(driftless_api::IN_CLUSTER_SERVER.into()), name: None, namespace: Some(ns.into()) };
        a
    }

    #[test]
    fn default_project_allows_everything() {
        let p = AppProject::default_project("argocd");
        assert!(permits(&p, &app("https://git.example/x.git", "anything")).is_ok());
        assert!(permits_kind(&p, "rbac.authorization.k8s.io", "ClusterRole", false));
    }

    #[test]
    fn a_team_project_limits_repos_namespaces_and_kinds() {
        let p = AppProject::new(
            "team",
            AppProjectSpec {
                source_repos: vec!["https://git.example/team-*".into()],
                destinations: vec![ApplicationDestination { server: Some("*".into()), name: None, namespace: Some("team-*".into()) }],
                namespace_resource_blacklist: vec![GroupKind { group: "".into(), kind: "ResourceQuota".into() }],
                ..Default::default()
            },
        );
        assert!(permits(&p, &app("https://git.example/team-web", "team-prod")).is_ok());
        assert!(permits(&p, &app("https://git.example/other", "team-prod")).unwrap_err().contains("repoURL"));
        assert!(permits(&p, &app("https://git.example/team-web", "kube-system")).unwrap_err().contains("destination"));
        assert!(!permits_kind(&p, "", "ResourceQuota", true));
        assert!(permits_kind(&p, "apps", "Deployment", true));
        assert!(!permits_kind(&p, "", "Namespace", false), "no cluster-scoped kinds unless whitelisted");
    }
}
