//! AppProject enforcement: which repositories, destinations and kinds an
//! app may use. The `default` project allows everything until it is
//! created with narrower rules.

use driftless_api::{AppProject, Application, GroupKind, glob_match};
use futures::FutureExt;
use kube::Api;
use kube::runtime::reflector::{ObjectRef, Store};

/// The project of `app`, or an error message for an InvalidSpecError: from
/// the watched `stores` when one has it, else read (a project created a
/// moment ago may not have reached them).
pub async fn load(client: &kube::Client, stores: &[Store<AppProject>], app: &Application) -> Result<AppProject, String> {
    let ns = app.metadata.namespace.as_deref().unwrap_or("default");
    let name = if app.spec.project.is_empty() { "default" } else { app.spec.project.as_str() };
    let key = ObjectRef::new(name).within(ns);
    let ready: Vec<&Store<AppProject>> = stores.iter().filter(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok())).collect();
    if let Some(p) = ready.iter().find_map(|s| s.get(&key)) {
        return Ok((*p).clone());
    }
    // The stores cover every namespace whose apps are reconciled: once all
    // have listed, a default project they lack is the implicit one. Another
    // missing project is read, in case it was created a moment ago.
    if name == "default" && !stores.is_empty() && ready.len() == stores.len() {
        return Ok(AppProject::default_project(ns));
    }
    let api: Api<AppProject> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) if name == "default" => Ok(AppProject::default_project(ns)),
        Ok(None) => Err(format!("spec.project: AppProject {name:?} does not exist in namespace {ns}")),
        // Without the AppProject CRD only the implicit default project exists.
        Err(kube::Error::Api(s)) if s.code == 404 && name == "default" => Ok(AppProject::default_project(ns)),
        Err(e) => Err(format!("spec.project: cannot read AppProject {name:?}: {e}")),
    }
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
