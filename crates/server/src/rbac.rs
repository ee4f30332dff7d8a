//! Authorisation in Argo CD's policy CSV format, as read from
//! `argocd-rbac-cm`:
//!
//! ```text
//! p, SUBJECT, RESOURCE, ACTION, OBJECT, allow|deny
//! g, USER-OR-GROUP, ROLE
//! ```
//!
//! Fields match as globs (`*` matches anything, `/` included). A subject is
//! a user, one of their groups, or a role they hold through `g` lines
//! (transitively) or through `policy.default`. A matching `deny` wins over
//! any `allow`; nothing matching means no. Argo CD's built-in roles
//! `role:admin` and `role:readonly` always exist, and the local `admin`
//! account is `role:admin`.
//!
//! As in Argo CD 3: `update` and `delete` on an app do not reach the
//! resources it manages, which take `update/<group>/<kind>/<ns>/<name>` and
//! `delete/...` ([`resource_action`]); `exec` is refused to everyone unless
//! `exec.enabled` is set in argocd-cm. AppProject roles add policies whose
//! subject is `proj:<project>:<role>`, each checked to grant only on objects
//! of that project ([`Policy::add_project`]); a project token holds its role
//! alone and acts only on its project's apps ([`Policy::for_project_token`]).
//! Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use driftless_api::{AppProject, glob_match};

/// Argo CD 3's `builtin-policy.csv`, the part that applies to driftless.
const BUILTIN_POLICY: &str = "\
p, role:readonly, applications, get, */*, allow
p, role:readonly, applicationsets, get, */*, allow
p, role:readonly, certificates, get, *, allow
p, role:readonly, clusters, get, *, allow
p, role:readonly, repositories, get, *, allow
p, role:readonly, projects, get, *, allow
p, role:readonly, accounts, get, *, allow
p, role:readonly, gpgkeys, get, *, allow
p, role:readonly, logs, get, */*, allow
p, role:admin, applications, create, */*, allow
p, role:admin, applications, update, */*, allow
p, role:admin, applications, update/*, */*, allow
p, role:admin, applications, delete, */*, allow
p, role:admin, applications, delete/*, */*, allow
p, role:admin, applications, sync, */*, allow
p, role:admin, applications, override, */*, allow
p, role:admin, applications, action/*, */*, allow
p, role:admin, applicationsets, get, */*, allow
p, role:admin, applicationsets, create, */*, allow
p, role:admin, applicationsets, update, */*, allow
p, role:admin, applicationsets, delete, */*, allow
p, role:admin, certificates, create, *, allow
p, role:admin, certificates, update, *, allow
p, role:admin, certificates, delete, *, allow
p, role:admin, clusters, create, *, allow
p, role:admin, clusters, update, *, allow
p, role:admin, clusters, delete, *, allow
p, role:admin, repositories, create, *, allow
p, role:admin, repositories, update, *, allow
p, role:admin, repositories, delete, *, allow
p, role:admin, projects, create, *, allow
p, role:admin, projects, update, *, allow
p, role:admin, projects, delete, *, allow
p, role:admin, accounts, update, *, allow
p, role:admin, gpgkeys, create, *, allow
p, role:admin, gpgkeys, delete, *, allow
p, role:admin, exec, create, */*, allow
g, role:admin, role:readonly
g, admin, role:admin
";

/// Resources whose objects are `<project>/<app>`: the only ones a project
/// role may name, and the only ones a project token may act on.
const PROJECT_RESOURCES: [&str; 4] = ["applications", "applicationsets", "logs", "exec"];

/// The prefix of project role subjects.
pub const PROJECT_SUBJECT_PREFIX: &str = "proj:";

/// A policy line that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{source_name} line {line}: {reason}")]
pub struct Error {
    /// Where the line came from (`argocd-rbac-cm policy.csv`, ...).
    pub source_name: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    subject: String,
    resource: String,
    action: String,
    object: String,
    allow: bool,
}

/// A parsed policy: the built-in one plus the ConfigMap's.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    rules: Vec<Rule>,
    /// `g` lines: member -> roles.
    groups: BTreeMap<String, BTreeSet<String>>,
    default_role: Option<String>,
    scopes: Vec<String>,
    /// argocd-cm `exec.enabled`: without it, `exec` is refused to all.
    exec_enabled: bool,
}

impl Policy {
    /// The built-in policy plus `argocd-rbac-cm`'s data: `policy.csv`,
    /// every `policy.*.csv` (Argo CD's overlays), `policy.default` and
    /// `scopes`. Errors name the key and line.
    pub fn from_configmap(data: &BTreeMap<String, String>) -> Result<Policy, Error> {
        let mut policy = Policy::default();
        policy.add_csv("built-in policy", BUILTIN_POLICY)?;
        if let Some(csv) = data.get("policy.csv") {
            policy.add_csv("argocd-rbac-cm policy.csv", csv)?;
        }
        for (k, csv) in data.iter().filter(|(k, _)| k.starts_with("policy.") && k.ends_with(".csv") && *k != "policy.csv") {
            policy.add_csv(&format!("argocd-rbac-cm {k}"), csv)?;
        }
        policy.default_role = data.get("policy.default").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        policy.scopes = match data.get("scopes") {
            Some(s) => parse_scopes(s),
            None => vec!["groups".to_string()],
        };
        Ok(policy)
    }

    /// Only the built-in roles (when the ConfigMap is missing or broken).
    pub fn builtin() -> Policy {
        Policy::from_configmap(&BTreeMap::new()).expect("the built-in policy parses")
    }

    fn add_csv(&mut self, source_name: &str, csv: &str) -> Result<(), Error> {
        for (i, raw) in csv.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| Error { source_name: source_name.to_string(), line: i + 1, reason };
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            match fields.first().copied() {
                Some("p") => {
                    let (subject, resource, action, object, effect) = match fields[1..] {
                        [s, r, a, o] => (s, r, a, o, "allow"),
                        [s, r, a, o, e] => (s, r, a, o, e),
                        _ => return Err(err(format!("expected `p, subject, resource, action, object, effect`, got {line:?}"))),
                    };
                    let allow = match effect {
                        "allow" => true,
                        "deny" => false,
                        other => return Err(err(format!("effect must be allow or deny, got {other:?}"))),
                    };
                    self.rules.push(Rule {
                        subject: subject.to_string(),
                        resource: resource.to_string(),
                        action: action.to_string(),
                        object: object.to_string(),
                        allow,
                    });
                }
                Some("g") => match fields[1..] {
                    [member, role] if !member.is_empty() && !role.is_empty() => {
                        self.groups.entry(member.to_string()).or_default().insert(role.to_string());
                    }
                    _ => return Err(err(format!("expected `g, user-or-group, role`, got {line:?}"))),
                },
                _ => return Err(err(format!("a line starts with `p,` or `g,`, got {line:?}"))),
            }
        }
        Ok(())
    }

    /// Allows `exec` as the policy says (argocd-cm `exec.enabled: "true"`);
    /// otherwise it is refused to everyone, admin included.
    pub fn enable_exec(&mut self, enabled: bool) {
        self.exec_enabled = enabled;
    }

    /// Adds the roles of `project`: each policy line whose subject is
    /// `proj:<project>:<role>` and whose object is of the project, and a
    /// `g` line per SSO group of a role. A line that could grant anything
    /// else is left out and returned, to be logged: it never grants.
    pub fn add_project(&mut self, project: &AppProject) -> Vec<Error> {
        let name = project.metadata.name.as_deref().unwrap_or_default();
        let mut errors = Vec::new();
        for role in &project.spec.roles {
            let subject = project_subject(name, &role.name);
            let source_name = format!("AppProject {name} role {:?} policies", role.name);
            for (i, line) in role.policies.iter().enumerate() {
                match project_rule(name, &role.name, line) {
                    Ok(rule) => self.rules.push(rule),
                    Err(reason) => errors.push(Error { source_name: source_name.clone(), line: i + 1, reason }),
                }
            }
            for group in role.groups.iter().map(|g| g.trim()).filter(|g| !g.is_empty()) {
                self.groups.entry(group.to_string()).or_default().insert(subject.clone());
            }
        }
        errors
    }

    /// Which claims of an SSO identity count as subjects (`scopes`,
    /// default `[groups]`).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Every subject `subjects` stand for: themselves, their roles through
    /// `g` lines (transitively), and the default role.
    fn expand(&self, subjects: &[String]) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = subjects.iter().cloned().collect();
        all.extend(self.default_role.iter().cloned());
        let mut todo: Vec<String> = all.iter().cloned().collect();
        while let Some(s) = todo.pop() {
            for role in self.groups.get(&s).into_iter().flatten() {
                if all.insert(role.clone()) {
                    todo.push(role.clone());
                }
            }
        }
        all
    }

    /// Whether `subjects` (a user and their groups) may do `action` on
    /// `object` of `resource`.
    pub fn enforce(&self, subjects: &[String], resource: &str, action: &str, object: &str) -> bool {
        self.for_subjects(subjects).allows(resource, action, object)
    }

    /// The rules that apply to `subjects`, resolved once, for checking
    /// many objects (a list of thousands of apps).
    pub fn for_subjects(&self, subjects: &[String]) -> Enforcer<'_> {
        let all = self.expand(subjects);
        Enforcer { rules: self.rules.iter().filter(|r| all.contains(&r.subject)).collect(), exec_enabled: self.exec_enabled, confine: None }
    }

    /// The rules of a project token for `role` of `project`: that role's
    /// own lines only (no `g` roles, no default role), and only on the
    /// project's apps, whatever a line says: never on clusters,
    /// repositories, accounts or other projects.
    pub fn for_project_token(&self, project: &str, role: &str) -> Enforcer<'_> {
        let subject = project_subject(project, role);
        Enforcer {
            rules: self.rules.iter().filter(|r| r.subject == subject).collect(),
            exec_enabled: self.exec_enabled,
            confine: Some(format!("{project}/")),
        }
    }
}

/// `proj:<project>:<role>`.
pub fn project_subject(project: &str, role: &str) -> String {
    format!("{PROJECT_SUBJECT_PREFIX}{project}:{role}")
}

/// The project and role of a `proj:<project>:<role>` subject: both
/// non-empty, neither containing `:`.
pub fn parse_project_subject(subject: &str) -> Option<(&str, &str)> {
    let (project, role) = subject.strip_prefix(PROJECT_SUBJECT_PREFIX)?.split_once(':')?;
    (!project.is_empty() && !role.is_empty() && !role.contains(':')).then_some((project, role))
}

/// The action of a change to one resource an app manages, as Argo CD 3
/// checks it: `update/<group>/<kind>/<namespace>/<name>` (and `delete/...`).
pub fn resource_action(verb: &str, group: &str, kind: &str, namespace: &str, name: &str) -> String {
    format!("{verb}/{group}/{kind}/{namespace}/{name}")
}

/// A project role's policy line, checked as Argo CD checks them: six
/// fields, the role's own subject, a resource a project may scope, an
/// action that resource has, an object `<project>/<app>` or
/// `<project>/<namespace>/<app>` (names, `*` globs), allow or deny.
fn project_rule(project: &str, role: &str, line: &str) -> Result<Rule, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [p, subject, resource, action, object, effect] = fields[..] else {
        return Err(format!("{line:?}: expected `p, proj:{project}:{role}, resource, action, object, allow|deny`"));
    };
    if p != "p" {
        return Err(format!("{line:?}: a role's policy starts with `p,`"));
    }
    let expected = project_subject(project, role);
    if subject != expected {
        return Err(format!("{line:?}: the subject must be {expected:?}"));
    }
    let valid_action = match resource {
        "applications" => {
            matches!(action, "*" | "get" | "create" | "update" | "delete" | "sync" | "override")
                || ["action/", "update/", "delete/"].iter().any(|p| action.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        }
        "applicationsets" | "clusters" | "repositories" => matches!(action, "*" | "get" | "create" | "update" | "delete"),
        "logs" => matches!(action, "*" | "get"),
        "exec" => matches!(action, "*" | "create"),
        other => {
            return Err(format!(
                "{line:?}: a project role's resource is one of applications, applicationsets, clusters, repositories, logs, exec, not {other:?}"
            ));
        }
    };
    if !valid_action {
        return Err(format!("{line:?}: {action:?} is not an action of {resource}"));
    }
    let in_project = object.strip_prefix(project).and_then(|rest| rest.strip_prefix('/')).is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('/').collect();
        parts.len() <= 2 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "*-._".contains(c)))
    });
    if !in_project {
        return Err(format!("{line:?}: the object must be {project}/<app> or {project}/<namespace>/<app>, not {object:?}"));
    }
    let allow = match effect {
        "allow" => true,
        "deny" => false,
        other => return Err(format!("{line:?}: effect must be allow or deny, got {other:?}")),
    };
    Ok(Rule { subject: expected, resource: resource.into(), action: action.into(), object: object.into(), allow })
}

/// A policy's rules for one caller.
pub struct Enforcer<'a> {
    rules: Vec<&'a Rule>,
    exec_enabled: bool,
    /// A project token's `<project>/`: only app objects of it, nothing else.
    confine: Option<String>,
}

impl<'a> Enforcer<'a> {
    /// Only the rules for `resource` and `action`: checking thousands of
    /// objects then matches only their object globs.
    pub fn narrow(&self, resource: &str, action: &str) -> Enforcer<'a> {
        Enforcer {
            rules: self.rules.iter().copied().filter(|r| glob_match(&r.resource, resource) && glob_match(&r.action, action)).collect(),
            exec_enabled: self.exec_enabled,
            confine: self.confine.clone(),
        }
    }

    /// Whether the caller may do `action` on `object` of `resource`: a
    /// matching deny wins, else any matching allow.
    pub fn allows(&self, resource: &str, action: &str, object: &str) -> bool {
        if resource == "exec" && !self.exec_enabled {
            return false;
        }
        if let Some(prefix) = &self.confine
            && !(PROJECT_RESOURCES.contains(&resource) && object.starts_with(prefix.as_str()))
        {
            return false;
        }
        let mut allowed = false;
        for r in &self.rules {
            if glob_match(&r.resource, resource) && glob_match(&r.action, action) && glob_match(&r.object, object) {
                if !r.allow {
                    return false;
                }
                allowed = true;
            }
        }
        allowed
    }
}

/// `[groups, email]`, `groups` or `'[groups]'` -> the names.
fn parse_scopes(s: &str) -> Vec<String> {
    s.trim()
        .trim_matches(|c| c == '\'' || c == '"')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|p| p.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The RBAC object of an app: `project/name` in the server's namespace,
/// `project/namespace/name` elsewhere, as in Argo CD.
pub fn app_object(project: &str, namespace: &str, name: &str, server_namespace: &str) -> String {
    let project = if project.is_empty() { "default" } else { project };
    if namespace == server_namespace { format!("{project}/{name}") } else { format!("{project}/{namespace}/{name}") }
}

/// The RBAC object of a cluster or repository: `project/id` for one of a
/// project, else the server or URL, as in Argo CD.
pub fn scoped_object(project: Option<&str>, server: &str) -> String {
    match project.filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{server}"),
        None => server.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(csv: &str, default: Option<&str>) -> Policy {
        let mut data = BTreeMap::from([("policy.csv".to_string(), csv.to_string())]);
        if let Some(d) = default {
            data.insert("policy.default".into(), d.into());
        }
        Policy::from_configmap(&data).expect("valid policy")
    }

    fn subjects(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn builtin_roles_allow_what_argo_cd_allows() {
        let p = Policy::builtin();
        let admin = subjects(&["admin"]);
        assert!(p.enforce(&admin, "applications", "sync", "default/guestbook"));
        assert!(p.enforce(&admin, "applications", "get", "default/apps/guestbook"), "role:admin inherits role:readonly");
        let nobody = subjects(&["alice"]);
        assert!(!p.enforce(&nobody, "applications", "get", "default/guestbook"), "no role, no access");
    }

    #[test]
    fn groups_roles_default_and_deny() {
        let p = policy(
            "p, role:dev, applications, sync, team-a/*, allow\n\
             p, role:dev, applications, sync, team-a/prod-*, deny\n\
             g, devs, role:dev\n\
             g, role:dev, role:readonly\n",
            Some("role:readonly"),
        );
        let dev = subjects(&["bob", "devs"]);
        assert!(p.enforce(&dev, "applications", "sync", "team-a/web"));
        assert!(!p.enforce(&dev, "applications", "sync", "team-a/prod-web"), "deny wins");
        assert!(!p.enforce(&dev, "applications", "sync", "team-b/web"));
        assert!(!p.enforce(&dev, "applications", "delete", "team-a/web"));
        let sync = p.for_subjects(&dev).narrow("applications", "sync");
        assert!(sync.allows("applications", "sync", "team-a/web") && !sync.allows("applications", "sync", "team-a/prod-web"));
        let anyone = subjects(&["carol"]);
        assert!(p.enforce(&anyone, "applications", "get", "team-b/web"), "policy.default gives role:readonly");
        assert!(!p.enforce(&anyone, "applications", "sync", "team-b/web"));
    }

    #[test]
    fn bad_lines_are_named() {
        let data = BTreeMap::from([("policy.csv".to_string(), "p, role:x, applications, get, */*, allow\nq, nope\n".to_string())]);
        let err = Policy::from_configmap(&data).expect_err("invalid");
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("argocd-rbac-cm policy.csv line 2"), "{err}");
        let data = BTreeMap::from([("policy.csv".to_string(), "p, role:x, applications, get, */*, maybe".to_string())]);
        assert!(Policy::from_configmap(&data).is_err());
    }

    #[test]
    fn scopes_parse_in_argo_cd_syntax() {
        assert_eq!(parse_scopes("[groups, email]"), vec!["groups", "email"]);
        assert_eq!(parse_scopes("'[groups]'"), vec!["groups"]);
        let p = Policy::from_configmap(&BTreeMap::from([("scopes".to_string(), "[email]".to_string())])).expect("valid");
        assert_eq!(p.scopes(), ["email"]);
        assert_eq!(Policy::builtin().scopes(), ["groups"]);
    }

    #[test]
    fn app_objects_carry_the_namespace_outside_the_servers() {
        assert_eq!(app_object("", "argocd", "web", "argocd"), "default/web");
        assert_eq!(app_object("team", "apps", "web", "argocd"), "team/apps/web");
    }

    #[test]
    fn cluster_objects_name_the_project_when_there_is_one() {
        assert_eq!(scoped_object(None, "https://k.example"), "https://k.example");
        assert_eq!(scoped_object(Some("team-a"), "https://k.example"), "team-a/https://k.example");
        let p = policy("p, alice, clusters, get, team-a/*, allow\n", None);
        assert!(p.enforce(&subjects(&["alice"]), "clusters", "get", &scoped_object(Some("team-a"), "https://k.example")));
        assert!(!p.enforce(&subjects(&["alice"]), "clusters", "get", &scoped_object(None, "https://k.example")));
    }
    fn project(name: &str, roles: serde_json::Value) -> AppProject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": { "name": name, "namespace": "argocd" },
            "spec": { "roles": roles },
        }))
        .expect("valid AppProject")
    }

    #[test]
    fn resources_an_app_manages_need_the_sub_resource_actions() {
        let p = policy(
            "p, role:ops, applications, update, team/*, allow\n\
             p, role:ops, applications, delete/*/Pod/*/*, team/*, allow\n\
             g, ops, role:ops\n",
            None,
        );
        let ops = subjects(&["ops"]);
        let pod = resource_action("delete", "", "Pod", "web", "web-1");
        let deploy = resource_action("delete", "apps", "Deployment", "web", "web");
        assert_eq!(pod, "delete//Pod/web/web-1");
        assert!(p.enforce(&ops, "applications", &pod, "team/web"), "delete/*/Pod/*/* reaches pods");
        assert!(!p.enforce(&ops, "applications", &deploy, "team/web"), "and nothing else");
        assert!(!p.enforce(&ops, "applications", "delete", "team/web"), "nor the app itself");
        assert!(
            !p.enforce(&ops, "applications", &resource_action("update", "apps", "Deployment", "web", "web"), "team/web"),
            "update on the app does not reach its resources (Argo CD 3)"
        );
        let admin = subjects(&["admin"]);
        assert!(
            p.enforce(&admin, "applications", &deploy, "any/app") && p.enforce(&admin, "applications", "update/apps/Deployment/x/y", "a/b")
        );
        let reader = subjects(&["reader"]);
        let readonly = policy("g, reader, role:readonly\n", None);
        assert!(readonly.enforce(&reader, "logs", "get", "team/web"), "role:readonly reads logs");
        assert!(!readonly.enforce(&reader, "applications", &pod, "team/web"));
    }

    #[test]
    fn exec_is_refused_until_argocd_cm_enables_it() {
        let mut p = Policy::builtin();
        let admin = subjects(&["admin"]);
        assert!(!p.enforce(&admin, "exec", "create", "default/web"), "off by default, even for admin");
        p.enable_exec(true);
        assert!(p.enforce(&admin, "exec", "create", "default/web"));
        assert!(!p.enforce(&subjects(&["alice"]), "exec", "create", "default/web"), "enabled, still by policy");
    }

    #[test]
    fn project_roles_grant_only_within_their_project() {
        let mut p = Policy::builtin();
        let errors = p.add_project(&project(
            "team",
            serde_json::json!([
                { "name": "ci", "groups": ["team-ci"], "policies": [
                    "p, proj:team:ci, applications, sync, team/*, allow",
                    "p, proj:team:ci, applications, get, team/apps/*, allow",
                    // Each of these could reach further than the project: ignored.
                    "p, proj:team:ci, applications, delete, */*, allow",
                    "p, proj:team:ci, applications, delete, other/web, allow",
                    "p, proj:team:ci, applications, delete, team-b/web, allow",
                    "p, proj:team:ci, applications, delete, team*, allow",
                    "p, proj:other:ci, applications, delete, team/*, allow",
                    "p, role:admin, applications, delete, team/*, allow",
                    "p, proj:team:ci, clusters, delete, *, allow",
                    "p, proj:team:ci, accounts, update, team/x, allow",
                    "p, proj:team:ci, applications, fly, team/*, allow",
                    "p, proj:team:ci, applications, delete, team/*",
                    "g, proj:team:ci, role:admin",
                ] },
            ]),
        ));
        assert_eq!(errors.len(), 11, "{errors:#?}");
        assert!(errors.iter().all(|e| e.source_name.contains("AppProject team role \"ci\"")), "{errors:?}");
        // Through the SSO group and through a token alike.
        let group = subjects(&["bob", "team-ci"]);
        assert!(p.enforce(&group, "applications", "sync", "team/web"));
        assert!(!p.enforce(&group, "applications", "sync", "team-b/web"));
        assert!(!p.enforce(&group, "applications", "delete", "other/web"));
        assert!(!p.enforce(&group, "clusters", "delete", "https://k"));
        let token = p.for_project_token("team", "ci");
        assert!(token.allows("applications", "sync", "team/web") && token.allows("applications", "get", "team/apps/web"));
        assert!(!token.allows("applications", "get", "team/web"), "only what the role says");
        assert!(!token.allows("applications", "delete", "team/web"));
        let other = p.for_project_token("other", "ci");
        assert!(!other.allows("applications", "sync", "team/web"), "a token of another project");
    }

    #[test]
    fn project_tokens_never_reach_clusters_repositories_or_other_projects() {
        // Even a global line for the token's subject grants only on its project's apps.
        let p = policy(
            "p, proj:team:ci, clusters, get, *, allow\n\
             p, proj:team:ci, repositories, get, *, allow\n\
             p, proj:team:ci, projects, get, *, allow\n\
             p, proj:team:ci, applications, get, */*, allow\n\
             g, proj:team:ci, role:admin\n",
            Some("role:admin"),
        );
        let token = p.for_project_token("team", "ci");
        for (resource, object) in
            [("clusters", "team/https://k"), ("repositories", "team/https://git"), ("projects", "team"), ("accounts", "team/x")]
        {
            assert!(!token.allows(resource, "get", object), "{resource}");
        }
        assert!(token.allows("applications", "get", "team/web"));
        assert!(!token.allows("applications", "get", "other/web"), "confined to its project");
        assert!(!token.allows("applications", "sync", "team/web"), "neither g roles nor the default role");
        // A user who is not a token keeps what the lines give.
        assert!(p.enforce(&subjects(&["proj:team:ci"]), "clusters", "get", "https://k"));
    }

    #[test]
    fn project_subjects_parse_strictly() {
        assert_eq!(parse_project_subject("proj:team:ci"), Some(("team", "ci")));
        assert_eq!(project_subject("team", "ci"), "proj:team:ci");
        for bad in ["proj:team", "proj::ci", "proj:team:", "proj:a:b:c", "team:ci", "PROJ:team:ci", ""] {
            assert_eq!(parse_project_subject(bad), None, "{bad}");
        }
    }
}
