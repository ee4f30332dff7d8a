//! AppProject enforcement: which namespaces may hold an app, and which
//! repositories, destinations and kinds it may use. Projects live in the
//! control-plane namespace; the `default` project allows everything until
//! it is created with narrower rules, and holds only that namespace's apps.

use driftless_api::{AppProject, Application, ClusterResourceRestrictionItem, GroupKind, glob_match};
use futures::FutureExt;
use kube::Api;
use kube::runtime::reflector::{ObjectRef, Store};

/// The ConfigMap of Argo CD's command-line parameters.
pub const CMD_PARAMS_CONFIGMAP: &str = "argocd-cmd-params-cm";
/// Its key naming the other namespaces that may hold Applications.
pub const APP_NAMESPACES_KEY: &str = "application.namespaces";
/// Its key for the other namespaces that may hold ApplicationSets.
pub const APPSET_NAMESPACES_KEY: &str = "applicationsetcontroller.namespaces";

/// Where Applications may live: the control-plane namespace (which holds
/// every AppProject), and the namespaces matching `application.namespaces`
/// (Argo CD's "apps in any namespace"), each only for the projects that
/// list it in `sourceNamespaces`.
#[derive(Clone, Debug)]
pub struct Tenancy {
    /// The control plane's namespace.
    pub control_plane: String,
    /// Other namespaces that may hold Applications.
    pub app_namespaces: Vec<NamespacePattern>,
    /// Other namespaces that may hold ApplicationSets
    /// (`applicationsetcontroller.namespaces`); their apps are made in
    /// the set's namespace, which must hold Applications too.
    pub appset_namespaces: Vec<NamespacePattern>,
}

/// A namespace pattern as Argo CD writes them: `/regex/` (anchored by the
/// user) or a glob. A regex is compiled once: every reconcile and every
/// app of a listing is matched against the patterns.
#[derive(Clone)]
pub enum NamespacePattern {
    /// A glob (`*`, `?`; `!` negates).
    Glob(String),
    /// `/regex/`.
    Regex(regex::Regex),
}

impl NamespacePattern {
    /// Reads a pattern; a `/regex/` that does not compile is an error.
    pub fn parse(p: &str) -> Result<NamespacePattern, regex::Error> {
        match p.strip_prefix('/').and_then(|r| r.strip_suffix('/')).filter(|r| !r.is_empty()) {
            Some(re) => regex::Regex::new(re).map(NamespacePattern::Regex),
            None => Ok(NamespacePattern::Glob(p.to_string())),
        }
    }

    /// Whether `namespace` matches.
    pub fn matches(&self, namespace: &str) -> bool {
        match self {
            NamespacePattern::Glob(g) => glob(g, namespace),
            NamespacePattern::Regex(re) => re.is_match(namespace),
        }
    }
}

impl std::fmt::Display for NamespacePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NamespacePattern::Glob(g) => f.write_str(g),
            NamespacePattern::Regex(re) => write!(f, "/{}/", re.as_str()),
        }
    }
}

impl std::fmt::Debug for NamespacePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// Comma-separated globs or `/regex/`s, as the setting `key` holds them.
fn patterns(key: &str, setting: &str) -> Result<Vec<NamespacePattern>, String> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| NamespacePattern::parse(p).map_err(|e| format!("{key}: {p:?} is not a valid regular expression: {e}")))
        .collect()
}

impl Tenancy {
    /// Only the control-plane namespace holds Applications.
    pub fn new(control_plane: impl Into<String>) -> Tenancy {
        Tenancy { control_plane: control_plane.into(), app_namespaces: Vec::new(), appset_namespaces: Vec::new() }
    }

    /// With `application.namespaces` as Argo CD writes it: comma-separated
    /// globs or `/regex/`s.
    pub fn with_app_namespaces(mut self, setting: &str) -> Result<Tenancy, String> {
        self.app_namespaces = patterns(APP_NAMESPACES_KEY, setting)?;
        Ok(self)
    }

    /// With `applicationsetcontroller.namespaces`, written as
    /// `application.namespaces` is.
    pub fn with_appset_namespaces(mut self, setting: &str) -> Result<Tenancy, String> {
        self.appset_namespaces = patterns(APPSET_NAMESPACES_KEY, setting)?;
        Ok(self)
    }

    /// The tenancy of the control plane in `control_plane`: other
    /// namespaces from the flags (`--application-namespaces`,
    /// `--applicationset-namespaces`) when given, else from
    /// `argocd-cmd-params-cm`'s `application.namespaces` and
    /// `applicationsetcontroller.namespaces`, read once, as Argo CD reads
    /// them at start.
    pub async fn read(client: &kube::Client, control_plane: &str, apps: Option<&str>, appsets: Option<&str>) -> Result<Tenancy, String> {
        let tenancy = Tenancy::new(control_plane);
        let mut params = std::collections::BTreeMap::new();
        if apps.is_none() || appsets.is_none() {
            let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), control_plane);
            let cm = cms
                .get_opt(CMD_PARAMS_CONFIGMAP)
                .await
                .map_err(|e| format!("reading {CMD_PARAMS_CONFIGMAP} in namespace {control_plane}: {e}"))?;
            params = cm.and_then(|cm| cm.data).unwrap_or_default();
        }
        let setting = |flag: Option<&str>, key: &str| flag.map(str::to_string).or_else(|| params.get(key).cloned()).unwrap_or_default();
        let in_cm = |e: String| if apps.is_some() && appsets.is_some() { e } else { format!("{CMD_PARAMS_CONFIGMAP} {e}") };
        tenancy
            .with_app_namespaces(&setting(apps, APP_NAMESPACES_KEY))
            .and_then(|t| t.with_appset_namespaces(&setting(appsets, APPSET_NAMESPACES_KEY)))
            .map_err(in_cm)
    }

    /// Whether ApplicationSets in `namespace` are handled: those of the
    /// control plane, and of namespaces enabled for both sets and apps.
    pub fn appset_namespace_enabled(&self, namespace: &str) -> bool {
        namespace == self.control_plane
            || (self.appset_namespaces.iter().any(|p| p.matches(namespace)) && self.namespace_enabled(namespace))
    }

    /// Whether Applications in `namespace` are handled at all.
    pub fn namespace_enabled(&self, namespace: &str) -> bool {
        namespace == self.control_plane || self.app_namespaces.iter().any(|p| p.matches(namespace))
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
            if self.app_namespaces.is_empty() {
                "unset".to_string()
            } else {
                self.app_namespaces.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            }
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

/// A project's `sourceNamespaces` entry matching `namespace` (an entry
/// that does not compile matches nothing).
fn namespace_matches(pattern: &str, namespace: &str) -> bool {
    NamespacePattern::parse(pattern).is_ok_and(|p| p.matches(namespace))
}

/// Why an app's project cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a name an AppProject can have (it would go into a URL).
    #[error("spec.project: {0:?} is not a valid project name (a DNS subdomain: a-z, 0-9, -, .)")]
    InvalidName(String),
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
pub async fn load(
    client: &kube::Client,
    store: Option<&Store<AppProject>>,
    tenancy: &Tenancy,
    name: &str,
) -> Result<AppProject, LoadError> {
    let ns = tenancy.control_plane.as_str();
    let name = if name.is_empty() { "default" } else { name };
    if !driftless_api::is_dns_subdomain(name) {
        return Err(LoadError::InvalidName(name.chars().take(64).collect()));
    }
    let key = ObjectRef::new(name).within(ns);
    let ready = store.filter(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()));
    if let Some(store) = ready {
        match store.get(&key) {
            Some(p) => return Ok((*p).clone()),
            // Listed, and no default project: the implicit one. Another
            // missing project is read, in case it was created a moment ago.
            None if name == "default" => return Ok(AppProject::default_project(ns)),
            None => {}
        }
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
pub async fn load_for(
    client: &kube::Client,
    store: Option<&Store<AppProject>>,
    tenancy: &Tenancy,
    app: &Application,
) -> Result<AppProject, String> {
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
        if !permits_repo(project, &s.repo_url) {
            return Err(format!("spec.source.repoURL: repository {} is not permitted in project {name}", s.repo_url));
        }
    }
    let d = &app.spec.destination;
    let ns = d.namespace.as_deref().unwrap_or("");
    if !permits_destination(project, app, ns) {
        return Err(format!(
            "spec.destination: {} namespace {ns:?} is not permitted in project {name}",
            d.server.as_deref().or(d.name.as_deref()).unwrap_or("")
        ));
    }
    Ok(())
}

/// Whether `sourceRepos` permits `url`, as Argo CD documents it: an allow
/// pattern matches it and no `!pattern` does.
fn permits_repo(project: &AppProject, url: &str) -> bool {
    let mut permitted = false;
    for p in &project.spec.source_repos {
        match p.strip_prefix('!') {
            Some(denied) if glob_match(denied, url) => return false,
            Some(_) => {}
            None => permitted |= glob_match(p, url),
        }
    }
    permitted
}

/// Whether the project lets the app deploy to `namespace` of its
/// destination cluster, as Argo CD documents it: an allow entry (no `!`)
/// matches by server (or name) and namespace, and no deny entry refuses,
/// a deny entry refusing when one of its `!patterns` does not hold.
fn permits_destination(project: &AppProject, app: &Application, namespace: &str) -> bool {
    let d = &app.spec.destination;
    let mut permitted = false;
    for pd in &project.spec.destinations {
        let negated = |p: &Option<String>| p.as_deref().is_some_and(|p| p.starts_with('!'));
        let server_ok = match (&pd.server, &d.server) {
            (Some(p), Some(s)) => glob(p, s),
            // An app naming its cluster: any server pattern stands for it.
            (Some(p), None) => p == "*",
            (None, _) => pd.name.is_none(),
        };
        let name_ok = match (&pd.name, &d.name) {
            (Some(p), Some(n)) => glob(p, n),
            _ => false,
        };
        let namespace_ok = pd.namespace.as_deref().is_none_or(|p| glob(p, namespace));
        if negated(&pd.server) || negated(&pd.name) || negated(&pd.namespace) {
            let refuses = |p: &Option<String>, ok: bool| negated(p) && !ok;
            if refuses(&pd.server, server_ok) || refuses(&pd.name, name_ok) || refuses(&pd.namespace, namespace_ok) {
                return false;
            }
        } else if (server_ok || name_ok) && namespace_ok {
            permitted = true;
        }
    }
    permitted
}

/// Whether the project lets the app manage one object: its kind, and for
/// a namespaced one (`namespace` Some) that namespace of the destination,
/// as Argo CD checks every resource (hooks included) and not only the
/// app's destination.
pub fn permits_object(
    project: &AppProject,
    app: &Application,
    group: &str,
    kind: &str,
    name: &str,
    namespace: Option<&str>,
) -> Result<(), String> {
    let project_name = project.metadata.name.as_deref().unwrap_or("default");
    if !permits_kind(project, group, kind, name, namespace.is_some()) {
        return Err(format!("{group}/{kind} {name} is not permitted in project {project_name}"));
    }
    if let Some(ns) = namespace
        && !permits_destination(project, app, ns)
    {
        return Err(format!("{kind} {name}: namespace {ns:?} is not a permitted destination of project {project_name}"));
    }
    Ok(())
}

/// Whether the project lets the app manage the resource `name` of
/// `group`/`kind`. An entry of the cluster lists with a name (a glob)
/// covers only the objects it matches, as in Argo CD.
pub fn permits_kind(project: &AppProject, group: &str, kind: &str, name: &str, namespaced: bool) -> bool {
    let matches = |list: &[GroupKind]| list.iter().any(|gk| glob(&gk.group, group) && glob(&gk.kind, kind));
    let matches_named = |list: &[ClusterResourceRestrictionItem]| {
        list.iter().any(|i| glob(&i.group, group) && glob(&i.kind, kind) && i.name.as_deref().is_none_or(|n| n.is_empty() || glob(n, name)))
    };
    let s = &project.spec;
    if namespaced {
        (s.namespace_resource_whitelist.is_empty() || matches(&s.namespace_resource_whitelist)) && !matches(&s.namespace_resource_blacklist)
    } else {
        matches_named(&s.cluster_resource_whitelist) && !matches_named(&s.cluster_resource_blacklist)
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

    #[test]
    fn arbitrary_application_namespaces_never_panic() {
        // A small deterministic fuzz: settings made of glob, regex and
        // separator pieces parse or fail with a message, never panic, and
        // never enable a namespace by accident when they fail.
        let mut next = crate::fuzz::xorshift(0x2545_f491_4f6c_dd1d);
        let pieces = ["team-", "*", "?", "/", "^", "$", "(", ")", "[", "]", ",", " ", "\\", "{", "}", ".*", "!", "ns", "\u{0}", "é"];
        for _ in 0..5000 {
            let n = (next() % 10) as usize;
            let setting: String = (0..n).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect();
            match Tenancy::new("argocd").with_app_namespaces(&setting) {
                Ok(t) => {
                    let _ = t.namespace_enabled("team-a");
                    assert!(t.namespace_enabled("argocd"));
                }
                Err(e) => assert!(e.starts_with("application.namespaces:"), "{e}"),
            }
        }
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
    fn negated_repositories_and_destinations_refuse_as_argo_cd_does() {
        let mut p = AppProject::new(
            "team",
            AppProjectSpec {
                source_repos: vec!["https://git.example/*".into(), "!https://git.example/secret-*".into()],
                destinations: vec![
                    ApplicationDestination { server: Some("*".into()), name: None, namespace: Some("team-*".into()) },
                    ApplicationDestination { server: Some("*".into()), name: None, namespace: Some("!team-prod".into()) },
                    ApplicationDestination { server: Some("!https://team1-*".into()), name: None, namespace: Some("*".into()) },
                ],
                ..Default::default()
            },
        );
        assert!(permits(&p, &app("https://git.example/web", "team-dev")).is_ok());
        assert!(permits(&p, &app("https://git.example/secret-x", "team-dev")).unwrap_err().contains("repoURL"), "a matching ! refuses");
        assert!(permits(&p, &app("https://other.example/web", "team-dev")).is_err(), "nothing permits it");
        assert!(permits(&p, &app("https://git.example/web", "team-prod")).unwrap_err().contains("destination"), "a ! namespace refuses");
        let mut elsewhere = app("https://git.example/web", "team-dev");
        elsewhere.spec.destination.server = Some("https://team1-east".into());
        assert!(permits(&p, &elsewhere).is_err(), "a ! server refuses");
        p.spec.source_repos = vec!["!https://git.example/secret-*".into()];
        assert!(permits(&p, &app("https://git.example/web", "team-dev")).is_err(), "only ! patterns: nothing is allowed");
        p.spec.source_repos = vec!["*".into()];
        let named = ApplicationDestination { server: None, name: Some("prod".into()), namespace: Some("team-dev".into()) };
        let mut a = app("https://other.example/web", "team-dev");
        a.spec.destination = named;
        p.spec.destinations = vec![ApplicationDestination { server: None, name: Some("prod".into()), namespace: Some("*".into()) }];
        assert!(permits(&p, &a).is_ok(), "a destination by cluster name");
        p.spec.destinations = vec![ApplicationDestination { server: None, name: Some("staging".into()), namespace: Some("*".into()) }];
        assert!(permits(&p, &a).is_err());
    }

    #[test]
    fn a_named_cluster_resource_entry_covers_only_the_objects_it_names() {
        let item = |kind: &str, name: Option<&str>| ClusterResourceRestrictionItem {
            group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: name.map(Into::into),
        };
        let mut p = AppProject::default_project("argocd");
        p.spec.cluster_resource_whitelist = vec![item("ClusterRole", Some("team-*"))];
        assert!(permits_kind(&p, "rbac.authorization.k8s.io", "ClusterRole", "team-reader", false));
        assert!(!permits_kind(&p, "rbac.authorization.k8s.io", "ClusterRole", "cluster-admin", false), "not widened to the whole kind");
        p.spec.cluster_resource_whitelist = vec![item("*", None)];
        p.spec.cluster_resource_blacklist = vec![item("ClusterRole", Some("cluster-admin"))];
        assert!(!permits_kind(&p, "rbac.authorization.k8s.io", "ClusterRole", "cluster-admin", false));
        assert!(permits_kind(&p, "rbac.authorization.k8s.io", "ClusterRole", "team-reader", false));
        assert!(permits_kind(&p, "rbac.authorization.k8s.io", "ClusterRoleBinding", "cluster-admin", false));
    }

    #[test]
    fn default_project_allows_everything() {
        let p = AppProject::default_project("argocd");
        assert!(permits(&p, &app("https://git.example/x.git", "anything")).is_ok());
        assert!(permits_kind(&p, "rbac.authorization.k8s.io", "ClusterRole", "admin", false));
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
        assert!(!permits_kind(&p, "", "ResourceQuota", "q", true));
        assert!(permits_kind(&p, "apps", "Deployment", "d", true));
        assert!(!permits_kind(&p, "", "Namespace", "n", false), "no cluster-scoped kinds unless whitelisted");
        let a = app("https://git.example/team-web", "team-prod");
        assert!(permits_object(&p, &a, "", "ConfigMap", "c", Some("team-dev")).is_ok());
        assert!(permits_object(&p, &a, "", "ConfigMap", "c", Some("kube-system")).unwrap_err().contains("namespace \"kube-system\""));
        assert!(permits_object(&p, &a, "rbac.authorization.k8s.io", "ClusterRole", "c", None).unwrap_err().contains("not permitted"));
    }
}
