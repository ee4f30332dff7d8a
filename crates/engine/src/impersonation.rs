//! Syncs as the destination's ServiceAccount (AppProject
//! `destinationServiceAccounts`, when argocd-cm's
//! `application.sync.impersonation.enabled` is `true`), through Kubernetes
//! impersonation: a team's app can then do only what its account may, not
//! what the controller may.

use std::collections::BTreeMap;

use driftless_api::{AppProject, glob_match, is_dns_label, is_dns_subdomain};

/// The argocd-cm key that turns impersonation on.
pub const ENABLED_KEY: &str = "application.sync.impersonation.enabled";

/// Why a sync cannot know whom to act as.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No entry of the project matches the destination.
    #[error(
        "impersonation is enabled and no spec.destinationServiceAccounts entry of project {project:?} matches server {server} \
         and namespace {namespace:?}: nothing is synced without a ServiceAccount to act as"
    )]
    NoMatch {
        /// The project.
        project: String,
        /// The destination's server.
        server: String,
        /// The destination's namespace.
        namespace: String,
    },
    /// The matching entry names no valid ServiceAccount.
    #[error("spec.destinationServiceAccounts[{index}].defaultServiceAccount of project {project:?}: {reason}")]
    Invalid {
        /// The project.
        project: String,
        /// The entry.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Whether argocd-cm turns impersonation on.
pub fn enabled(settings: &BTreeMap<String, String>) -> bool {
    settings.get(ENABLED_KEY).is_some_and(|v| v.trim() == "true")
}

/// The user a sync to `server`/`namespace` acts as,
/// `system:serviceaccount:<namespace>:<name>`: the first entry whose
/// server and namespace globs match, as Argo CD picks it. Its
/// `defaultServiceAccount` is `name` (in the destination namespace) or
/// `namespace:name`.
pub fn service_account(project: &AppProject, server: &str, namespace: &str) -> Result<String, Error> {
    let project_name = project.metadata.name.clone().unwrap_or_default();
    let (index, entry) = project
        .spec
        .destination_service_accounts
        .iter()
        .enumerate()
        .find(|(_, d)| glob_match(&d.server, server) && glob_match(d.namespace.as_deref().unwrap_or("*"), namespace))
        .ok_or_else(|| Error::NoMatch { project: project_name.clone(), server: server.into(), namespace: namespace.into() })?;
    let invalid = |reason: String| Error::Invalid { project: project_name.clone(), index, reason };
    let given = entry.default_service_account.trim();
    let (sa_namespace, name) = match given.split_once(':') {
        Some((ns, name)) => (ns, name),
        None => (namespace, given),
    };
    if sa_namespace.is_empty() {
        return Err(invalid(format!("{given:?} names no namespace and the app's destination has none")));
    }
    if !is_dns_label(sa_namespace) {
        return Err(invalid(format!("{sa_namespace:?} is not a valid namespace name")));
    }
    if !is_dns_subdomain(name) {
        return Err(invalid(format!("{name:?} is not a valid ServiceAccount name")));
    }
    Ok(format!("system:serviceaccount:{sa_namespace}:{name}"))
}

/// A client that sends every request as `user` (the `Impersonate-User`
/// header); the API server checks the original identity may impersonate.
pub fn impersonating(client: &kube::Client, user: &str) -> Result<kube::Client, Error> {
    let value = http::HeaderValue::from_str(user).map_err(|_| Error::Invalid {
        project: String::new(),
        index: 0,
        reason: format!("{user:?} cannot be sent as a header"),
    })?;
    let inner = client.clone();
    let service = tower::service_fn(move |mut request: http::Request<kube::client::Body>| {
        let (inner, value) = (inner.clone(), value.clone());
        async move {
            request.headers_mut().insert("Impersonate-User", value);
            inner.send(request).await
        }
    });
    Ok(kube::Client::new(service, client.default_namespace()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::{AppProjectSpec, DestinationServiceAccount};

    fn project(entries: &[(&str, Option<&str>, &str)]) -> AppProject {
        AppProject::new(
            "team",
            AppProjectSpec {
                destination_service_accounts: entries
                    .iter()
                    .map(|(server, ns, sa)| DestinationServiceAccount {
                        server: server.to_string(),
                        namespace: ns.map(String::from),
                        default_service_account: sa.to_string(),
                    })
                    .collect(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn the_first_matching_entry_names_the_account() {
        let p = project(&[("https://other", None, "x"), ("*", Some("team-*"), "deployer"), ("*", None, "ops:fallback")]);
        assert_eq!(service_account(&p, "https://k", "team-a"), Ok("system:serviceaccount:team-a:deployer".into()));
        assert_eq!(service_account(&p, "https://k", "web"), Ok("system:serviceaccount:ops:fallback".into()));
        let none = project(&[("https://other", None, "x")]);
        assert!(matches!(service_account(&none, "https://k", "web"), Err(Error::NoMatch { .. })));
        assert!(service_account(&none, "https://k", "web").unwrap_err().to_string().contains("nothing is synced"));
    }

    #[test]
    fn hostile_account_names_are_refused() {
        for bad in ["", "Admin", "a b", "ns:", ":name", "../x", "a:b:c", &"a".repeat(300), "x\nImpersonate-Group: system:masters"] {
            let p = project(&[("*", None, bad)]);
            let got = service_account(&p, "https://k", "team-a");
            assert!(matches!(got, Err(Error::Invalid { .. })), "{bad:?} -> {got:?}");
        }
        let p = project(&[("*", None, "deployer")]);
        assert!(matches!(service_account(&p, "https://k", ""), Err(Error::Invalid { .. })), "no namespace to put it in");
    }

    #[test]
    fn only_true_enables_it() {
        assert!(enabled(&BTreeMap::from([(ENABLED_KEY.to_string(), "true".to_string())])));
        assert!(!enabled(&BTreeMap::from([(ENABLED_KEY.to_string(), "yes".to_string())])));
        assert!(!enabled(&BTreeMap::new()));
    }
}
