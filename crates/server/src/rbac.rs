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
//! account is `role:admin`. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use driftless_api::glob_match;

/// Argo CD's `builtin-policy.csv`, the part that applies to driftless.
const BUILTIN_POLICY: &str = "\
p, role:readonly, applications, get, */*, allow
p, role:readonly, certificates, get, *, allow
p, role:readonly, clusters, get, *, allow
p, role:readonly, repositories, get, *, allow
p, role:readonly, projects, get, *, allow
p, role:readonly, accounts, get, *, allow
p, role:readonly, gpgkeys, get, *, allow
p, role:readonly, logs, get, */*, allow
p, role:admin, applications, create, */*, allow
p, role:admin, applications, update, */*, allow
p, role:admin, applications, delete, */*, allow
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
        Enforcer { rules: self.rules.iter().filter(|r| all.contains(&r.subject)).collect() }
    }
}

/// A policy's rules for one caller.
pub struct Enforcer<'a> {
    rules: Vec<&'a Rule>,
}

impl<'a> Enforcer<'a> {
    /// Only the rules for `resource` and `action`: checking thousands of
    /// objects then matches only their object globs.
    pub fn narrow(&self, resource: &str, action: &str) -> Enforcer<'a> {
        Enforcer {
            rules: self.rules.iter().copied().filter(|r| glob_match(&r.resource, resource) && glob_match(&r.action, action)).collect(),
        }
    }

    /// Whether the caller may do `action` on `object` of `resource`: a
    /// matching deny wins, else any matching allow.
    pub fn allows(&self, resource: &str, action: &str, object: &str) -> bool {
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

/// The RBAC object of a cluster: `project/server` for a cluster of one
/// project, else the server, as in Argo CD.
pub fn cluster_object(project: Option<&str>, server: &str) -> String {
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
        assert_eq!(cluster_object(None, "https://k.example"), "https://k.example");
        assert_eq!(cluster_object(Some("team-a"), "https://k.example"), "team-a/https://k.example");
        let p = policy("p, alice, clusters, get, team-a/*, allow\n", None);
        assert!(p.enforce(&subjects(&["alice"]), "clusters", "get", &cluster_object(Some("team-a"), "https://k.example")));
        assert!(!p.enforce(&subjects(&["alice"]), "clusters", "get", &cluster_object(None, "https://k.example")));
    }
}
