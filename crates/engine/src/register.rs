//! Registering a cluster as `argocd cluster add` does: a ServiceAccount
//! with a long-lived token in the target cluster, bound to a ClusterRole
//! that may do everything (the namespaces/clusterResources limits of the
//! cluster Secret narrow what driftless does there), and a cluster Secret in
//! the control-plane namespace holding that token and the cluster's CA.

use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use crate::clusters::{ClusterConfig, SECRET_TYPE_CLUSTER, SECRET_TYPE_LABEL, TlsClientConfig};

/// The ServiceAccount, ClusterRole and binding created in the target cluster.
pub const MANAGER: &str = "driftless-manager";
/// Where the ServiceAccount lives, as Argo CD's `argocd-manager`.
pub const MANAGER_NAMESPACE: &str = "kube-system";
const TOKEN_SECRET: &str = "driftless-manager-long-lived-token";
const FIELD_MANAGER: &str = "driftless-cluster-add";

/// Why a cluster could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The target cluster refused or failed a request.
    #[error("in the target cluster: {what}: {source}")]
    Target {
        /// What was being done.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The control plane refused or failed to store the cluster Secret.
    #[error("writing the cluster Secret {secret} in namespace {namespace}: {source}")]
    ControlPlane {
        /// The Secret.
        secret: String,
        /// The control-plane namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The token controller never filled the token Secret.
    #[error("in the target cluster: the token of ServiceAccount {MANAGER_NAMESPACE}/{MANAGER} was not issued within {0:?}")]
    NoToken(Duration),
}

/// What `add` needs to know of the cluster.
pub struct Target<'a> {
    /// A client with rights to create the ServiceAccount and its role.
    pub client: &'a kube::Client,
    /// The API server's URL as the controller reaches it.
    pub server: &'a str,
    /// How Applications will name it.
    pub name: &'a str,
    /// The CA certificates of its API server (base64 of PEM), if any.
    pub ca_data: Option<String>,
    /// Skip verifying the server's certificate.
    pub insecure: bool,
    /// Limit driftless to these namespaces there (empty: all).
    pub namespaces: Vec<String>,
    /// The project the cluster belongs to.
    pub project: Option<String>,
    /// The controller replica that handles it.
    pub shard: Option<u32>,
}

impl<'a> Target<'a> {
    /// A cluster reached at `server` (trusting `ca_data`, or nothing with
    /// `insecure`) and named `name`, with no namespace limit, project or shard.
    pub fn new(client: &'a kube::Client, server: &'a str, name: &'a str, ca_data: Option<String>, insecure: bool) -> Target<'a> {
        Target { client, server, name, ca_data, insecure, namespaces: Vec::new(), project: None, shard: None }
    }
}

/// The cluster Secret's name for `server`, as Argo CD derives it:
/// `cluster-<host>-<hash of the server URL>`.
pub fn secret_name(server: &str) -> String {
    use std::hash::{Hash, Hasher};
    let host = server.split("://").nth(1).unwrap_or(server).split(['/', ':']).next().unwrap_or_default();
    let host: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c.to_ascii_lowercase() } else { '-' }).collect();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    server.hash(&mut h);
    format!("cluster-{}-{:x}", host.trim_matches(['-', '.']), h.finish() as u32)
}

/// Creates the ServiceAccount and its rights in the target cluster, waits
/// for its token, and writes (or updates) the cluster Secret in
/// `namespace` of the control plane. Returns the Secret's name.
pub async fn add(target: &Target<'_>, control: &kube::Client, namespace: &str) -> Result<String, RegisterError> {
    let token = manager_token(target.client).await?;
    let config = ClusterConfig {
        bearer_token: Some(token),
        tls_client_config: TlsClientConfig { insecure: target.insecure, ca_data: target.ca_data.clone(), ..Default::default() },
        ..Default::default()
    };
    let name = secret_name(target.server);
    let mut data = serde_json::Map::new();
    data.insert("name".into(), target.name.into());
    data.insert("server".into(), target.server.into());
    data.insert("config".into(), serde_json::to_string(&config).unwrap_or_default().into());
    if !target.namespaces.is_empty() {
        data.insert("namespaces".into(), target.namespaces.join(",").into());
    }
    if let Some(p) = &target.project {
        data.insert("project".into(), p.clone().into());
    }
    if let Some(s) = target.shard {
        data.insert("shard".into(), s.to_string().into());
    }
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace, "labels": { SECRET_TYPE_LABEL: SECRET_TYPE_CLUSTER } },
        "type": "Opaque",
        "stringData": data,
    });
    let api: Api<Secret> = Api::namespaced(control.clone(), namespace);
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&secret))
        .await
        .map_err(|source| RegisterError::ControlPlane { secret: name.clone(), namespace: namespace.into(), source })?;
    Ok(name)
}

/// Ensures the manager ServiceAccount, its ClusterRole and binding, and a
/// long-lived token Secret; returns the token once the token controller
/// has issued it.
async fn manager_token(client: &kube::Client) -> Result<String, RegisterError> {
    let objects = [
        json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": MANAGER, "namespace": MANAGER_NAMESPACE } }),
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": { "name": MANAGER },
            "rules": [ { "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] }, { "nonResourceURLs": ["*"], "verbs": ["*"] } ] }),
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": { "name": MANAGER },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": MANAGER },
            "subjects": [ { "kind": "ServiceAccount", "name": MANAGER, "namespace": MANAGER_NAMESPACE } ] }),
        json!({ "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": { "name": TOKEN_SECRET, "namespace": MANAGER_NAMESPACE,
                "annotations": { "kubernetes.io/service-account.name": MANAGER } } }),
    ];
    for obj in &objects {
        let (group, version) = obj["apiVersion"].as_str().unwrap_or_default().rsplit_once('/').unwrap_or(("", "v1"));
        let kind = obj["kind"].as_str().unwrap_or_default();
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj))
            .await
            .map_err(|source| RegisterError::Target { what: format!("applying {kind} {name}"), source })?;
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), MANAGER_NAMESPACE);
    let deadline = Duration::from_secs(30);
    let started = tokio::time::Instant::now();
    loop {
        let s = secrets
            .get(TOKEN_SECRET)
            .await
            .map_err(|source| RegisterError::Target { what: format!("reading Secret {MANAGER_NAMESPACE}/{TOKEN_SECRET}"), source })?;
        if let Some(token) = s.data.as_ref().and_then(|d| d.get("token")).filter(|t| !t.0.is_empty()) {
            return Ok(String::from_utf8_lossy(&token.0).into_owned());
        }
        if started.elapsed() > deadline {
            return Err(RegisterError::NoToken(deadline));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The base64 PEM CA data of a kubeconfig's current cluster, and its server
/// URL: what `add` needs to reach a cluster named by a context.
pub fn from_kubeconfig(kubeconfig: &kube::config::Kubeconfig, context: Option<&str>) -> Result<(String, Option<String>, bool), String> {
    let ctx_name =
        context.map(str::to_string).or_else(|| kubeconfig.current_context.clone()).ok_or("the kubeconfig has no current context")?;
    let ctx = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| format!("context {ctx_name:?} is not in the kubeconfig"))?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| format!("cluster {:?} of context {ctx_name:?} is not in the kubeconfig", ctx.cluster))?;
    let server = cluster.server.clone().ok_or_else(|| format!("cluster {:?} has no server", ctx.cluster))?;
    let ca = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(data), _) => Some(data.clone()),
        (None, Some(file)) => {
            let pem = std::fs::read(file).map_err(|e| format!("certificate-authority {file}: {e}"))?;
            Some(base64::engine::general_purpose::STANDARD.encode(pem))
        }
        (None, None) => None,
    };
    Ok((server, ca, cluster.insecure_skip_tls_verify.unwrap_or(false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_follow_the_server() {
        let a = secret_name("https://10.0.0.1:6443");
        assert!(a.starts_with("cluster-10.0.0.1-"), "{a}");
        assert_ne!(a, secret_name("https://10.0.0.1:6444"), "another port is another cluster");
        assert_eq!(a, secret_name("https://10.0.0.1:6443"));
        let odd = secret_name("https://Some_Host.example/path");
        assert!(odd.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'), "{odd}");
    }
}
