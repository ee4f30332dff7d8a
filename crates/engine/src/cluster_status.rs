//! The clusters as people look at them (`/api/v1/clusters`, the UI's
//! Clusters page, `driftless cluster list|get|rm`): each destination probed
//! at the time of asking, with the apps deploying there counted, and every
//! cluster Secret that cannot be used shown as a failed entry, so that a
//! broken Secret is seen where clusters are listed and not only in the
//! condition of an app that names it.

use std::fmt;

use driftless_api::{Application, ApplicationDestination, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::DeleteParams;

use crate::Engine;
use crate::clusters::{
    CacheInfo, ClusterDetails, ClusterInfo, ClusterSecretError, ConnectionState, ConnectionStatus, Destination, IN_CLUSTER_ENABLED_KEY,
    in_cluster_enabled,
};

/// How a request names one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterId {
    /// By its API server's URL (a trailing slash names the same server).
    Server(String),
    /// By its name; an unusable Secret's entry is named after the Secret.
    Name(String),
    /// By either, as the CLI takes it.
    ServerOrName(String),
}

impl ClusterId {
    fn names(&self, name: &str, server: &str) -> bool {
        // An unusable Secret's entry has no server: no URL names it.
        let by_server = |s: &str| !server.is_empty() && s.trim_end_matches('/') == server;
        match self {
            ClusterId::Server(s) => by_server(s),
            ClusterId::Name(n) => n == name,
            ClusterId::ServerOrName(x) => by_server(x) || x == name,
        }
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterId::Server(x) | ClusterId::Name(x) | ClusterId::ServerOrName(x) => f.write_str(x),
        }
    }
}

/// Why a cluster was not removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// The controller's own cluster is always a destination.
    #[error(
        "cluster {0} is the controller's own cluster (in-cluster) and cannot be removed: to stop deploying there, set {IN_CLUSTER_ENABLED_KEY}: \"false\" in argocd-cm"
    )]
    InCluster(String),
    /// The control plane refused or failed the deletion.
    #[error("deleting cluster Secret {secret} in namespace {namespace}: {source}")]
    Api {
        /// The cluster Secret.
        secret: String,
        /// The control-plane namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Every cluster, or only those `only` names: the destinations (probed now,
/// concurrently, each within its probe timeout) with the count of `apps`
/// deploying to each and of the resources those apps manage, then the
/// unusable cluster Secrets as entries whose connection Failed with the
/// reason. Nothing in it is a credential.
pub async fn overview(engine: &Engine, only: Option<&ClusterId>, apps: &[&Application]) -> Result<Vec<ClusterInfo>, String> {
    let enabled = engine.settings().await.is_none_or(|s| in_cluster_enabled(&s));
    let (destinations, broken) = engine.clusters.list(enabled).await?;
    let wanted = |name: &str, server: &str| only.is_none_or(|id| id.names(name, server));
    let destinations: Vec<_> = destinations.into_iter().filter(|d| wanted(&d.name, &d.server)).collect();
    futures::future::join_all(destinations.iter().map(|d| d.probe())).await;
    let mut out: Vec<ClusterInfo> = destinations
        .iter()
        .map(|d| {
            let theirs: Vec<&&Application> = apps.iter().filter(|a| deploys_to(&a.spec.destination, d)).collect();
            let resources = theirs.iter().map(|a| a.status.as_ref().map_or(0, |s| s.resources.len())).sum();
            let mut info = d.info(theirs.len(), resources);
            // Which replicas hold it: sharded controllers sign their writes.
            let replicas: std::collections::BTreeSet<String> =
                theirs.iter().filter_map(|a| a.status.as_ref()?.reconciled_by.clone()).collect();
            info.info.replicas = replicas.into_iter().collect();
            info
        })
        .collect();
    out.extend(broken.iter().map(unusable).filter(|c| wanted(&c.name, &c.server)));
    Ok(out)
}

/// The Secret that registers `cluster` and its namespace, unless it is the
/// controller's own cluster: that one is refused, registered by a Secret or
/// not, since removing its Secret would not remove it.
pub fn registration<'a>(engine: &'a Engine, cluster: &'a ClusterInfo) -> Result<(&'a str, &'a str), RemoveError> {
    match &cluster.secret {
        Some(secret) if cluster.server != IN_CLUSTER_SERVER => Ok((secret, engine.config.control_plane())),
        _ => Err(RemoveError::InCluster(cluster.name.clone())),
    }
}

/// Deletes the Secret that registers `cluster` (see [`registration`]);
/// returns its name.
pub async fn remove(engine: &Engine, cluster: &ClusterInfo) -> Result<String, RemoveError> {
    let (secret, namespace) = registration(engine, cluster)?;
    let api: Api<Secret> = Api::namespaced(engine.client.clone(), namespace);
    api.delete(secret, &DeleteParams::default()).await.map_err(|source| RemoveError::Api {
        secret: secret.into(),
        namespace: namespace.into(),
        source,
    })?;
    Ok(secret.into())
}

/// Whether an app's destination resolves to `d`, as the controller resolves
/// it: by server URL, else by name (`in-cluster` always names the own one).
fn deploys_to(dest: &ApplicationDestination, d: &Destination) -> bool {
    let server = dest.server.as_deref().map(|s| s.trim_end_matches('/')).filter(|s| !s.is_empty());
    match (server, dest.name.as_deref().filter(|n| !n.is_empty())) {
        (Some(server), _) => server == d.server,
        (None, Some(name)) => name == d.name || (name == IN_CLUSTER_NAME && d.is_in_cluster()),
        (None, None) => false,
    }
}

/// The entry of a Secret that cannot be used: named after the Secret, with
/// the reason (which names keys, never values) as the connection's message.
fn unusable(error: &ClusterSecretError) -> ClusterInfo {
    let (ClusterSecretError::Missing { secret, .. } | ClusterSecretError::Invalid { secret, .. }) = error;
    let state = ConnectionState { status: ConnectionStatus::Failed, message: error.to_string(), attempted_at: Some(crate::status::now()) };
    ClusterInfo {
        name: secret.clone(),
        server: String::new(),
        namespaces: Vec::new(),
        cluster_resources: false,
        project: None,
        shard: None,
        connection_state: state.clone(),
        server_version: String::new(),
        info: ClusterDetails {
            connection_state: state,
            server_version: String::new(),
            applications_count: 0,
            cache_info: CacheInfo { resources_count: 0 },
            replicas: Vec::new(),
        },
        secret: Some(secret.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_a_cluster_by_server_or_name() {
        let server = "https://10.0.0.1:6443";
        assert!(ClusterId::Server(format!("{server}/")).names("prod", server), "a trailing slash names the same server");
        assert!(!ClusterId::Server("prod".into()).names("prod", server));
        assert!(ClusterId::Name("prod".into()).names("prod", server));
        assert!(ClusterId::ServerOrName(server.into()).names("prod", server));
        assert!(ClusterId::ServerOrName("prod".into()).names("prod", server));
        assert!(!ClusterId::Server(String::new()).names("broken", ""), "no URL names an unusable Secret's entry");
    }

    #[test]
    fn an_unusable_secret_is_a_failed_entry_named_after_it() {
        let e = ClusterSecretError::Missing { secret: "typo".into(), key: "server" };
        let c = unusable(&e);
        assert_eq!((c.name.as_str(), c.secret.as_deref(), c.server.as_str()), ("typo", Some("typo"), ""));
        assert_eq!(c.connection_state.status, ConnectionStatus::Failed);
        assert_eq!(c.info.connection_state.message, e.to_string());
    }
}
