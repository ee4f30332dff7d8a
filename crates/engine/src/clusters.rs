//! Destination clusters: the controller's own (`in-cluster`,
//! `https://kubernetes.default.svc`) and those registered by cluster Secrets
//! in Argo CD's format in the control-plane namespace (label
//! `argocd.argoproj.io/secret-type: cluster`; keys `name`, `server`,
//! `namespaces`, `clusterResources`, `project`, `shard`, `config`).
//!
//! Each destination has its own client, discovery cache, Helm capabilities,
//! live watches and connection state, so that one cluster that is down or
//! slow costs the apps of the others nothing: its apps fail fast with a
//! condition while it is known down, and are woken when it returns. A
//! changed Secret makes a new destination (a new client); the old one's
//! watches stop when the last reconcile using it ends.
//!
//! Credentials never leave this module: errors name the Secret and the key
//! at fault, never a value, and [`ClusterConfig`]'s Debug redacts them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use driftless_api::{Application, ApplicationDestination, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
use driftless_sync::cluster::{Cluster, ClusterError};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, CapabilitiesCache};
use crate::live::{Keep, LiveWatches, Routes};

/// The label that marks Argo CD's Secrets by type.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";
/// Its value on cluster Secrets.
pub const SECRET_TYPE_CLUSTER: &str = "cluster";
/// The `argocd-cm` key that disables the in-cluster destination.
pub const IN_CLUSTER_ENABLED_KEY: &str = "cluster.inClusterEnabled";

/// How long a cluster found unreachable fails its apps fast before it is
/// tried again by a reconcile (its probe tries it sooner).
const KNOWN_DOWN: Duration = Duration::from_secs(10);
/// How long a probe or a connection attempt may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `argocd-cm` leaves the in-cluster destination enabled (the default).
pub fn in_cluster_enabled(settings: &BTreeMap<String, String>) -> bool {
    settings.get(IN_CLUSTER_ENABLED_KEY).is_none_or(|v| v.trim() != "false")
}

/// Why a cluster Secret cannot be used. Never holds a credential.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ClusterSecretError {
    /// A required key is missing or empty.
    #[error("cluster Secret {secret}: key {key:?} is missing or empty")]
    Missing {
        /// The Secret's name.
        secret: String,
        /// The key.
        key: &'static str,
    },
    /// A key's value is not what Argo CD's format allows.
    #[error("cluster Secret {secret}: key {key:?}: {reason}")]
    Invalid {
        /// The Secret's name.
        secret: String,
        /// The key (a JSON path inside `config` for its fields).
        key: String,
        /// Why, without the value.
        reason: String,
    },
}

/// The `config` key of a cluster Secret (Argo CD's `ClusterConfig`).
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// A bearer token (a ServiceAccount's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_client_config: TlsClientConfig,
    /// A command that prints credentials (client-go's exec plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_provider_config: Option<ExecProviderConfig>,
    /// A proxy for requests to the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |o: &Option<String>| if o.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("ClusterConfig")
            .field("bearer_token", &set(&self.bearer_token))
            .field("username", &self.username)
            .field("password", &set(&self.password))
            .field("insecure", &self.tls_client_config.insecure)
            .field("exec", &self.exec_provider_config.as_ref().map(|e| &e.command))
            .finish_non_exhaustive()
    }
}

/// TLS settings of a cluster: base64 PEM data, as Argo CD keeps them.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TlsClientConfig {
    /// Skip verifying the server's certificate.
    #[serde(default)]
    pub insecure: bool,
    /// The name to verify the server's certificate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// CA certificates (base64 of PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
    /// Client certificate (base64 of PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_data: Option<String>,
    /// Client key (base64 of PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_data: Option<String>,
}

/// client-go's exec credential plugin, as Argo CD configures it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecProviderConfig {
    /// The command.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `client.authentication.k8s.io/v1beta1` or `v1`.
    #[serde(default)]
    pub api_version: String,
    /// Shown when the command is missing.
    #[serde(default)]
    pub install_hint: String,
}

/// A cluster Secret, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSecret {
    /// The Secret's name.
    pub secret: String,
    /// `name`: how Applications name the cluster (the server when absent).
    pub name: String,
    /// `server`: the API server's URL.
    pub server: String,
    /// `namespaces`: when set, the only namespaces driftless may manage.
    pub namespaces: Vec<String>,
    /// `clusterResources`: with `namespaces`, cluster-scoped kinds allowed too.
    pub cluster_resources: bool,
    /// `project`: the cluster belongs to one project.
    pub project: Option<String>,
    /// `shard`: the controller replica that handles it.
    pub shard: Option<u32>,
    /// `config`: how to connect.
    pub config: ClusterConfig,
}

impl ClusterSecret {
    /// Parses a cluster Secret's data.
    pub fn parse(secret: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<ClusterSecret, ClusterSecretError> {
        let text = |key: &'static str| -> Result<Option<String>, ClusterSecretError> {
            match data.get(key) {
                None => Ok(None),
                Some(v) => String::from_utf8(v.clone()).map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty())).map_err(|_| {
                    ClusterSecretError::Invalid { secret: secret.into(), key: key.into(), reason: "is not UTF-8 text".into() }
                }),
            }
        };
        let invalid = |key: &str, reason: String| ClusterSecretError::Invalid { secret: secret.into(), key: key.into(), reason };
        let server = text("server")?.ok_or(ClusterSecretError::Missing { secret: secret.into(), key: "server" })?;
        let server = server.trim_end_matches('/').to_string();
        if !(server.starts_with("https://") || server.starts_with("http://")) {
            return Err(invalid("server", "must be an http:// or https:// URL".into()));
        }
        server.parse::<http::Uri>().map_err(|_| invalid("server", "is not a valid URL".into()))?;
        let name = text("name")?.unwrap_or_else(|| server.clone());
        let namespaces =
            text("namespaces")?.map(|s| s.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect()).unwrap_or_default();
        let cluster_resources = match text("clusterResources")?.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(invalid("clusterResources", "must be \"true\" or \"false\"".into())),
        };
        let shard =
            text("shard")?.map(|s| s.parse::<u32>().map_err(|_| invalid("shard", "must be a non-negative integer".into()))).transpose()?;
        let config = match text("config")? {
            None => ClusterConfig::default(),
            Some(json) => serde_json::from_str::<ClusterConfig>(&json).map_err(|e| {
                // serde's messages quote the offending value: keep only where.
                invalid("config", format!("invalid JSON ({:?} at line {} column {})", e.classify(), e.line(), e.column()))
            })?,
        };
        for (field, value) in [
            ("caData", &config.tls_client_config.ca_data),
            ("certData", &config.tls_client_config.cert_data),
            ("keyData", &config.tls_client_config.key_data),
        ] {
            if let Some(v) = value
                && base64::engine::general_purpose::STANDARD.decode(v).is_err()
            {
                return Err(invalid(&format!("config.tlsClientConfig.{field}"), "is not base64".into()));
            }
        }
        if config.tls_client_config.cert_data.is_some() != config.tls_client_config.key_data.is_some() {
            return Err(invalid("config.tlsClientConfig", "certData and keyData go together".into()));
        }
        Ok(ClusterSecret { secret: secret.into(), name, server, namespaces, cluster_resources, project: text("project")?, shard, config })
    }

    /// The client configuration, as a kubeconfig with this one cluster.
    async fn kube_config(&self) -> Result<kube::Config, String> {
        let kubeconfig: kube::config::Kubeconfig =
            serde_json::from_value(self.kubeconfig()).map_err(|e| format!("cluster Secret {}: config: {e}", self.secret))?;
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| format!("cluster Secret {}: config: {}", self.secret, redact(&e.to_string())))?;
        config.connect_timeout = Some(PROBE_TIMEOUT);
        Ok(config)
    }

    /// A kubeconfig with this one cluster and its credentials.
    fn kubeconfig(&self) -> serde_json::Value {
        let c = &self.config;
        let mut cluster = serde_json::Map::new();
        cluster.insert("server".into(), self.server.clone().into());
        if c.tls_client_config.insecure {
            cluster.insert("insecure-skip-tls-verify".into(), true.into());
        }
        let put = |map: &mut serde_json::Map<String, serde_json::Value>, key: &str, v: &Option<String>| {
            if let Some(v) = v {
                map.insert(key.into(), v.clone().into());
            }
        };
        put(&mut cluster, "certificate-authority-data", &c.tls_client_config.ca_data);
        put(&mut cluster, "tls-server-name", &c.tls_client_config.server_name);
        put(&mut cluster, "proxy-url", &c.proxy_url);
        let mut user = serde_json::Map::new();
        put(&mut user, "token", &c.bearer_token);
        put(&mut user, "username", &c.username);
        put(&mut user, "password", &c.password);
        put(&mut user, "client-certificate-data", &c.tls_client_config.cert_data);
        put(&mut user, "client-key-data", &c.tls_client_config.key_data);
        if let Some(e) = &c.exec_provider_config {
            let env: Vec<_> = e.env.iter().map(|(k, v)| serde_json::json!({ "name": k, "value": v })).collect();
            let api_version = if e.api_version.is_empty() { "client.authentication.k8s.io/v1beta1" } else { &e.api_version };
            user.insert(
                "exec".into(),
                serde_json::json!({ "command": e.command, "args": e.args, "env": env, "apiVersion": api_version,
                    "installHint": e.install_hint, "interactiveMode": "Never" }),
            );
        }
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": "c", "cluster": cluster }],
            "users": [{ "name": "u", "user": user }],
            "contexts": [{ "name": "c", "context": { "cluster": "c", "user": "u" } }],
            "current-context": "c",
        })
    }
}

/// kube's config errors may name a file or a field, never a value; this is
/// a second guard that keeps base64 blobs out of a message all the same.
fn redact(message: &str) -> String {
    message.split(' ').map(|w| if w.len() > 40 { "<redacted>" } else { w }).collect::<Vec<_>>().join(" ")
}

/// How the registry builds clients and what it wakes.
#[derive(Clone)]
pub struct ClusterOptions {
    /// Where live watches and cluster changes send the apps they wake.
    pub routes: Routes,
    /// Builds a client for a registered cluster.
    pub connect: Connect,
    /// Probe every registered cluster this often (None: never, for
    /// one-off comparisons).
    pub probe_every: Option<Duration>,
    /// Which apps this process handles, given the app and the `shard` of
    /// its cluster; set once sharding has started (unset: every app).
    pub handles: Arc<std::sync::OnceLock<Handles>>,
    /// Where the clusters' states are published after each probe.
    pub metrics: driftless_metrics::Metrics,
}

/// See [`ClusterOptions::handles`].
pub type Handles = Arc<dyn Fn(&ObjectRef<Application>, Option<u32>) -> bool + Send + Sync>;

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            routes: Vec::new(),
            connect: Arc::new(|c| kube::Client::try_from(c).map_err(|e| e.to_string())),
            probe_every: None,
            handles: Arc::default(),
            metrics: driftless_metrics::Metrics::new(),
        }
    }
}

/// Builds a client from a cluster's configuration.
pub type Connect = Arc<dyn Fn(kube::Config) -> Result<kube::Client, String> + Send + Sync>;

/// Whether the last attempt to reach a cluster succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// It answered.
    Successful,
    /// It did not: unreachable, refused the credentials, or untrusted.
    Failed,
    /// Not tried yet.
    Unknown,
}

/// Argo CD's `ConnectionState` of a cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionState {
    /// Successful, Failed or Unknown.
    pub status: ConnectionStatus,
    /// The last error, if any.
    pub message: String,
    /// When it was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

#[derive(Clone)]
struct Health {
    state: ConnectionState,
    checked: Option<Instant>,
    server_version: Option<String>,
}

/// One cluster driftless deploys to.
pub struct Destination {
    /// How Applications name it.
    pub name: String,
    /// Its API server's URL (`https://kubernetes.default.svc` for the own cluster).
    pub server: String,
    /// The only namespaces driftless may manage there (empty: all).
    pub namespaces: Vec<String>,
    /// With `namespaces`, cluster-scoped kinds are allowed too.
    pub cluster_resources: bool,
    /// The project the cluster belongs to, if any.
    pub project: Option<String>,
    /// The controller replica its Secret assigns it to.
    pub shard: Option<u32>,
    /// The cluster Secret that registers it (None: the own cluster, unregistered).
    pub secret: Option<String>,
    /// Its API server, with a discovery cache.
    pub cluster: Cluster,
    /// Watches of the kinds its apps manage.
    pub live: LiveWatches,
    capabilities: CapabilitiesCache,
    health: Mutex<Health>,
    /// The Secret it was built from: a changed one makes a new destination.
    registered_by: Option<ClusterSecret>,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination").field("name", &self.name).field("server", &self.server).finish_non_exhaustive()
    }
}

impl Destination {
    fn new(
        client: kube::Client,
        routes: Routes,
        handles: Arc<std::sync::OnceLock<Handles>>,
        shard: Option<u32>,
        registered_by: Option<ClusterSecret>,
    ) -> Destination {
        let keep: Keep = Arc::new(move |app| handles.get().is_none_or(|h| h(app, shard)));
        Destination {
            name: IN_CLUSTER_NAME.into(),
            server: IN_CLUSTER_SERVER.into(),
            namespaces: Vec::new(),
            cluster_resources: false,
            project: None,
            shard,
            secret: None,
            cluster: Cluster::new(client),
            live: LiveWatches::new(routes, keep),
            capabilities: CapabilitiesCache::default(),
            health: Mutex::new(Health {
                state: ConnectionState { status: ConnectionStatus::Unknown, message: String::new(), attempted_at: None },
                checked: None,
                server_version: None,
            }),
            registered_by,
        }
    }

    /// A kubeconfig with this cluster's credentials (a secret: for a
    /// private file only), as its Secret registers it; None for the
    /// controller's own cluster, reached with the controller's credentials.
    pub fn kubeconfig(&self) -> Option<String> {
        self.registered_by.as_ref().filter(|s| s.server != IN_CLUSTER_SERVER).map(|s| s.kubeconfig().to_string())
    }

    /// True for the controller's own cluster.
    pub fn is_in_cluster(&self) -> bool {
        self.server == IN_CLUSTER_SERVER
    }

    /// How people read it: `name (server)`.
    pub fn label(&self) -> String {
        if self.name == self.server { self.server.clone() } else { format!("{} ({})", self.name, self.server) }
    }

    /// Whether the cluster lets driftless manage `kind` `name` in
    /// `namespace` (None: cluster-scoped), by its Secret's `namespaces`
    /// and `clusterResources`, as Argo CD rules.
    pub fn permits(&self, kind: &str, name: &str, namespace: Option<&str>) -> Result<(), String> {
        if self.namespaces.is_empty() {
            return Ok(());
        }
        match namespace {
            Some(ns) if !self.namespaces.iter().any(|n| driftless_api::glob_match(n, ns)) => Err(format!(
                "{kind} {name}: namespace {ns:?} is not managed in cluster {} (its Secret limits it to: {})",
                self.label(),
                self.namespaces.join(", ")
            )),
            None if !self.cluster_resources && kind != "Namespace" => Err(format!(
                "{kind} {name}: cluster-scoped resources are not managed in cluster {} (its Secret sets namespaces without clusterResources)",
                self.label()
            )),
            _ => Ok(()),
        }
    }

    /// The message for a failed request to this cluster; a failure to reach
    /// it (not a refusal of one request) marks it down, so that its other
    /// apps fail fast until it answers again.
    pub fn comparison_error(&self, e: &ClusterError) -> String {
        let unreachable = matches!(e, ClusterError::Api(k) if !matches!(k, kube::Error::Api(_)));
        let refused = e.status() == Some(401);
        let message = if refused {
            format!("cluster {}: its API server refused the credentials of the cluster Secret (401 Unauthorized)", self.label())
        } else {
            format!("cluster {}: {e}", self.label())
        };
        if unreachable || refused {
            self.record(Err(message.clone()), None);
        }
        message
    }

    /// Fails fast while the cluster is known down.
    pub fn reachable(&self) -> Result<(), String> {
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match (&h.state.status, h.checked) {
            (ConnectionStatus::Failed, Some(at)) if at.elapsed() < KNOWN_DOWN => Err(h.state.message.clone()),
            _ => Ok(()),
        }
    }

    /// Helm's `.Capabilities` of this cluster.
    pub async fn capabilities(&self) -> Result<Capabilities, String> {
        self.reachable()?;
        self.capabilities.get(&self.cluster).await.map_err(|e| format!("cluster {}: {e}", self.label()))
    }

    /// Asks the cluster for its version: the connection state and server
    /// version shown for it. Returns whether it answered.
    pub async fn probe(&self) -> bool {
        let answer = tokio::time::timeout(PROBE_TIMEOUT, self.cluster.client().apiserver_version()).await;
        let outcome = match answer {
            Ok(Ok(info)) => Ok(info.git_version),
            Ok(Err(e)) => Err(format!("cluster {}: {}", self.label(), ClusterError::Api(e))),
            Err(_) => Err(format!("cluster {}: no answer within {}s", self.label(), PROBE_TIMEOUT.as_secs())),
        };
        let ok = outcome.is_ok();
        match outcome {
            Ok(v) => self.record(Ok(()), Some(v)),
            Err(m) => self.record(Err(m), None),
        }
        ok
    }

    fn record(&self, outcome: Result<(), String>, version: Option<String>) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        h.checked = Some(Instant::now());
        h.state = ConnectionState {
            status: if outcome.is_ok() { ConnectionStatus::Successful } else { ConnectionStatus::Failed },
            message: outcome.err().unwrap_or_default(),
            attempted_at: Some(crate::clock::now()),
        };
        if version.is_some() {
            h.server_version = version;
        }
    }

    /// The connection state and the server's version, as last seen.
    pub fn connection(&self) -> (ConnectionState, Option<String>) {
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        (h.state.clone(), h.server_version.clone())
    }

    /// The cluster as Argo CD's API shows it, without credentials.
    pub fn info(&self, applications: usize, resources: usize) -> ClusterInfo {
        let (state, version) = self.connection();
        ClusterInfo {
            name: self.name.clone(),
            server: self.server.clone(),
            namespaces: self.namespaces.clone(),
            cluster_resources: self.cluster_resources,
            project: self.project.clone(),
            shard: self.shard,
            connection_state: state.clone(),
            server_version: version.clone().unwrap_or_default(),
            info: ClusterDetails {
                connection_state: state,
                server_version: version.unwrap_or_default(),
                applications_count: applications,
                cache_info: CacheInfo { resources_count: resources },
                replicas: Vec::new(),
            },
            secret: self.secret.clone(),
        }
    }
}

/// A cluster as `/api/v1/clusters` shows it (Argo CD's `Cluster`, without
/// its `config`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// How Applications name it.
    pub name: String,
    /// The API server's URL.
    pub server: String,
    /// The only namespaces managed (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Cluster-scoped kinds allowed with `namespaces`.
    #[serde(default)]
    pub cluster_resources: bool,
    /// The project it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The replica its Secret assigns it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// Whether it answered last time.
    pub connection_state: ConnectionState,
    /// Its Kubernetes version.
    #[serde(default)]
    pub server_version: String,
    /// Argo CD's `info` block.
    pub info: ClusterDetails,
    /// The Secret that registers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Argo CD's `ClusterInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDetails {
    /// As above.
    pub connection_state: ConnectionState,
    /// As above.
    #[serde(default)]
    pub server_version: String,
    /// Applications deployed to it.
    pub applications_count: usize,
    /// What is known of its objects.
    pub cache_info: CacheInfo,
    /// The controller replicas that last wrote its apps' status (with
    /// `--sharded`; not in Argo CD).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
}

/// Argo CD's `ClusterCacheInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheInfo {
    /// Objects managed there by apps.
    pub resources_count: usize,
}

/// A cluster Secret as parsed at one resourceVersion.
type Parsed = (Option<String>, Result<ClusterSecret, ClusterSecretError>);

/// Where Applications can deploy, and which app deploys where.
pub struct Clusters {
    client: kube::Client,
    namespace: Option<String>,
    options: ClusterOptions,
    secrets: Option<Store<Secret>>,
    /// Destinations by server URL.
    known: Mutex<HashMap<String, Arc<Destination>>>,
    /// Each Secret parsed, by name, with the resourceVersion it was parsed
    /// at: every reconcile resolves its destination, and a Secret's config
    /// is JSON.
    parsed: Mutex<HashMap<String, Parsed>>,
    /// Each app's destination server, or the destination it could not
    /// find (so that registering the cluster wakes it).
    assigned: Mutex<HashMap<ObjectRef<Application>, Result<String, ApplicationDestination>>>,
}

impl Clusters {
    /// A registry that reads cluster Secrets in `namespace` when asked (None:
    /// only the own cluster is known).
    pub fn new(client: kube::Client, namespace: Option<String>, options: ClusterOptions) -> Clusters {
        Clusters {
            client,
            namespace,
            options,
            secrets: None,
            known: Mutex::default(),
            parsed: Mutex::default(),
            assigned: Mutex::default(),
        }
    }

    /// A registry that watches cluster Secrets until `shutdown`: a cluster
    /// added, changed or removed wakes the apps that deploy (or wanted to
    /// deploy) there; every registered cluster is probed as often as the
    /// options say.
    pub fn watching(
        client: kube::Client,
        namespace: Option<String>,
        options: ClusterOptions,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Arc<Clusters> {
        let mut registry = Clusters::new(client.clone(), namespace.clone(), options);
        let Some(ns) = namespace else { return Arc::new(registry) };
        let (reader, writer) = reflector::store();
        registry.secrets = Some(reader);
        let registry = Arc::new(registry);
        let api: Api<Secret> = Api::namespaced(client, &ns);
        let selector = format!("{SECRET_TYPE_LABEL}={SECRET_TYPE_CLUSTER}");
        let weak = Arc::downgrade(&registry);
        let events = watcher(api, watcher::Config::default().labels(&selector))
            .default_backoff()
            .modify(|s| s.managed_fields_mut().clear())
            .reflect(writer)
            .for_each(move |event| {
                if let (Some(r), Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone)) =
                    (weak.upgrade(), &event)
                {
                    r.secrets_changed();
                }
                std::future::ready(())
            });
        let probes = {
            let weak = Arc::downgrade(&registry);
            async move {
                loop {
                    let Some(r) = weak.upgrade() else { return };
                    let Some(every) = r.options.probe_every else { return };
                    r.probe_all().await;
                    drop(r);
                    tokio::time::sleep(every).await;
                }
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = events => {}
                _ = probes => {}
                _ = shutdown => {}
            }
        });
        registry
    }

    /// The cluster Secrets now: watched, else listed.
    async fn secrets(&self) -> Result<Vec<Secret>, String> {
        let Some(ns) = &self.namespace else { return Ok(Vec::new()) };
        if let Some(store) = &self.secrets {
            // Until the watch has listed, a cluster would look unregistered.
            let _ = tokio::time::timeout(Duration::from_secs(10), store.wait_until_ready()).await;
            return Ok(store.state().iter().map(|s| (**s).clone()).collect());
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        match api.list(&ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={SECRET_TYPE_CLUSTER}"))).await {
            Ok(l) => Ok(l.items),
            Err(e) => Err(format!("reading cluster Secrets in namespace {ns}: {}", ClusterError::Api(e))),
        }
    }

    /// Every cluster Secret, parsed (errors for those that cannot be used).
    pub async fn registered(&self) -> Result<Vec<Result<ClusterSecret, ClusterSecretError>>, String> {
        let secrets = self.secrets().await?;
        let names: HashSet<String> = secrets.iter().map(|s| s.name_any()).collect();
        self.parsed.lock().unwrap_or_else(|p| p.into_inner()).retain(|name, _| names.contains(name));
        Ok(secrets.iter().map(|s| self.parse(s)).collect())
    }

    /// The destination an app names (exactly one of `server` and `name`).
    /// The error is an InvalidSpecError message.
    pub async fn resolve(&self, dest: &ApplicationDestination, in_cluster_enabled: bool) -> Result<Arc<Destination>, String> {
        let server = dest.server.as_deref().filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('/'));
        let name = dest.name.as_deref().filter(|s| !s.is_empty());
        let registered = self.registered().await?;
        let found = match (server, name) {
            (Some(_), Some(_)) => return Err("spec.destination: set either server or name, not both".into()),
            (None, None) => return Err("spec.destination: server or name is required".into()),
            (Some(server), None) => registered.iter().find(|r| r.as_ref().is_ok_and(|s| s.server == server)),
            (None, Some(name)) => registered.iter().find(|r| r.as_ref().is_ok_and(|s| s.name == name)),
        };
        let wanted = server.or(name).unwrap_or_default();
        let is_own = match (server, name) {
            (Some(s), _) => s == IN_CLUSTER_SERVER,
            (_, Some(n)) => n == IN_CLUSTER_NAME || found.is_some_and(|f| f.as_ref().is_ok_and(|s| s.server == IN_CLUSTER_SERVER)),
            _ => false,
        };
        if is_own && !in_cluster_enabled {
            return Err(format!(
                "spec.destination: the in-cluster destination is disabled ({IN_CLUSTER_ENABLED_KEY}: \"false\" in argocd-cm)"
            ));
        }
        match found {
            Some(Ok(secret)) => self.destination_for(Some(secret)).await,
            None if is_own => self.destination_for(None).await,
            _ => {
                // A Secret that cannot be parsed may be the one meant: say why.
                let broken: Vec<String> = registered.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
                let ns = self.namespace.as_deref().unwrap_or("(none)");
                let mut msg =
                    format!("spec.destination: cluster {wanted:?} is not registered: no cluster Secret in namespace {ns} names it");
                if !broken.is_empty() {
                    msg.push_str(&format!(" (unusable: {})", broken.join("; ")));
                }
                Err(msg)
            }
        }
    }

    /// The destination built from `secret` (None: the own cluster as is),
    /// reused while the Secret is unchanged.
    async fn destination_for(&self, secret: Option<&ClusterSecret>) -> Result<Arc<Destination>, String> {
        let server = secret.map_or(IN_CLUSTER_SERVER.to_string(), |s| s.server.clone());
        if let Some(d) = self.known.lock().unwrap_or_else(|p| p.into_inner()).get(&server).filter(|d| d.registered_by.as_ref() == secret) {
            return Ok(d.clone());
        }
        let client = match secret {
            // The own cluster keeps the controller's client, whatever its Secret says.
            Some(s) if s.server != IN_CLUSTER_SERVER => (self.options.connect)(s.kube_config().await?)
                .map_err(|e| format!("cluster Secret {}: cannot build a client: {}", s.secret, redact(&e)))?,
            _ => self.client.clone(),
        };
        let shard = secret.and_then(|s| s.shard);
        let mut d = Destination::new(client, self.options.routes.clone(), self.options.handles.clone(), shard, secret.cloned());
        if let Some(s) = secret {
            d.name = if s.server == IN_CLUSTER_SERVER && s.name == s.server { IN_CLUSTER_NAME.into() } else { s.name.clone() };
            d.server = s.server.clone();
            d.namespaces = s.namespaces.clone();
            d.cluster_resources = s.cluster_resources;
            d.project = s.project.clone();
            d.secret = Some(s.secret.clone());
        }
        let d = Arc::new(d);
        self.known.lock().unwrap_or_else(|p| p.into_inner()).insert(server, d.clone());
        Ok(d)
    }

    /// Records that `app` deploys to `destination` (for counts and wakes).
    pub fn assign(&self, app: &Application, destination: Result<&Destination, &ApplicationDestination>) {
        let value = destination.map(|d| d.server.clone()).map_err(Clone::clone);
        self.assigned.lock().unwrap_or_else(|p| p.into_inner()).insert(ObjectRef::from_obj(app), value);
    }

    /// Forgets an app that is gone.
    pub fn forget_app(&self, app: &ObjectRef<Application>) {
        self.assigned.lock().unwrap_or_else(|p| p.into_inner()).remove(app);
    }

    /// The apps known to deploy to `server`.
    pub fn apps_of(&self, server: &str) -> Vec<ObjectRef<Application>> {
        let assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        assigned.iter().filter(|(_, s)| s.as_ref().is_ok_and(|s| s == server)).map(|(a, _)| a.clone()).collect()
    }

    /// Every destination: the own cluster (unless `in_cluster_enabled` is
    /// false) and every usable cluster Secret; then the unusable Secrets.
    pub async fn list(&self, in_cluster_enabled: bool) -> Result<(Vec<Arc<Destination>>, Vec<ClusterSecretError>), String> {
        let mut out = Vec::new();
        let mut broken = Vec::new();
        let registered = self.registered().await?;
        let own_registered = registered.iter().any(|r| r.as_ref().is_ok_and(|s| s.server == IN_CLUSTER_SERVER));
        if in_cluster_enabled && !own_registered {
            out.push(self.destination_for(None).await?);
        }
        for r in &registered {
            match r {
                Ok(s) if s.server == IN_CLUSTER_SERVER && !in_cluster_enabled => {}
                Ok(s) => match self.destination_for(Some(s)).await {
                    Ok(d) => out.push(d),
                    Err(reason) => broken.push(ClusterSecretError::Invalid { secret: s.secret.clone(), key: "config".into(), reason }),
                },
                Err(e) => broken.push(e.clone()),
            }
        }
        // Destinations whose Secret is gone go with it (their watches stop
        // once no reconcile holds them).
        let live: HashSet<String> = out.iter().map(|d| d.server.clone()).collect();
        self.known.lock().unwrap_or_else(|p| p.into_inner()).retain(|server, _| live.contains(server));
        Ok((out, broken))
    }

    /// The `shard` the cluster Secret of `dest` pins its apps to, by the
    /// watched Secrets (a one-off registry pins nothing).
    pub fn pinned_shard(&self, dest: &ApplicationDestination) -> Option<u32> {
        let store = self.secrets.as_ref()?;
        let server = dest.server.as_deref().filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('/'));
        let name = dest.name.as_deref().filter(|s| !s.is_empty());
        // Asked for every reconcile of a sharded replica: read the three
        // keys it needs, not the whole Secret with its config.
        store.state().iter().find_map(|s| {
            let secret_server = secret_key(s, "server")?.trim_end_matches('/').to_string();
            let secret_name = secret_key(s, "name").unwrap_or_else(|| secret_server.clone());
            let named = Some(secret_server.as_str()) == server || Some(secret_name.as_str()) == name;
            if named { Some(secret_key(s, "shard").and_then(|v| v.parse().ok())) } else { None }
        })?
    }

    /// Restarts the live watches of every destination (see [`LiveWatches::reset`]).
    pub fn reset_live(&self) {
        for d in self.known.lock().unwrap_or_else(|p| p.into_inner()).values() {
            d.live.reset();
        }
    }

    /// Probes every registered cluster, publishes their state as metrics
    /// and wakes the apps of a cluster that answers again.
    pub async fn probe_all(&self) {
        let Ok((destinations, _)) = self.list(true).await else { return };
        let probes = destinations.iter().map(|d| async move {
            let was_down = d.connection().0.status == ConnectionStatus::Failed;
            let up = d.probe().await;
            if up && was_down {
                tracing::info!(cluster = %d.label(), "cluster is reachable again");
                for app in self.apps_of(&d.server) {
                    crate::live::route(&self.options.routes, app);
                }
            }
        });
        futures::future::join_all(probes).await;
        let states: Vec<driftless_metrics::ClusterState> = destinations
            .iter()
            .map(|d| {
                let (state, version) = d.connection();
                driftless_metrics::ClusterState {
                    name: d.name.clone(),
                    server: d.server.clone(),
                    version: version.unwrap_or_default(),
                    up: state.status == ConnectionStatus::Successful,
                    apps: self.apps_of(&d.server).len(),
                    objects: d.live.tracked_objects(),
                }
            })
            .collect();
        self.options.metrics.clusters(&states);
    }

    /// `secret` parsed, once per resourceVersion.
    fn parse(&self, secret: &Secret) -> Result<ClusterSecret, ClusterSecretError> {
        let version = secret.metadata.resource_version.clone();
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        match parsed.get(&secret.name_any()) {
            Some((v, result)) if version.is_some() && *v == version => result.clone(),
            _ => {
                let result = parse_secret(secret);
                parsed.insert(secret.name_any(), (version, result.clone()));
                result
            }
        }
    }

    /// A cluster Secret changed: wake the apps deploying to a cluster whose
    /// Secret changed or went, and those waiting for an unknown cluster.
    fn secrets_changed(&self) {
        let Some(store) = &self.secrets else { return };
        let current: HashMap<String, ClusterSecret> =
            store.state().iter().filter_map(|s| self.parse(s).ok()).map(|s| (s.server.clone(), s)).collect();
        let stale: HashSet<String> = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(server, d)| d.secret.is_some() && current.get(*server) != d.registered_by.as_ref())
            .map(|(server, _)| server.clone())
            .collect();
        let assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        for (app, dest) in assigned.iter() {
            if dest.as_ref().map_or(true, |server| stale.contains(server)) {
                crate::live::route(&self.options.routes, app.clone());
            }
        }
    }
}

/// One key of a Secret's data (or stringData), as trimmed text.
fn secret_key(s: &Secret, key: &str) -> Option<String> {
    let bytes = s.data.as_ref().and_then(|d| d.get(key)).map(|v| v.0.clone());
    let text = match bytes {
        Some(b) => String::from_utf8(b).ok()?,
        None => s.string_data.as_ref()?.get(key)?.clone(),
    };
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

fn parse_secret(s: &Secret) -> Result<ClusterSecret, ClusterSecretError> {
    ClusterSecret::parse(&s.name_any(), &secret_data(s))
}

/// A Secret's `data` and `stringData`, decoded.
pub(crate) fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .chain(s.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.sig";

    #[test]
    fn argo_cd_cluster_secrets_parse() {
        let config = format!(r#"{{"bearerToken":"{TOKEN}","tlsClientConfig":{{"insecure":false,"caData":"Y2E="}}}}"#);
        let s = ClusterSecret::parse(
            "prod",
            &data(&[
                ("name", "prod"),
                ("server", "https://10.0.0.1:6443/"),
                ("namespaces", "team-a, team-b"),
                ("clusterResources", "true"),
                ("shard", "2"),
                ("config", &config),
            ]),
        )
        .unwrap();
        assert_eq!(s.server, "https://10.0.0.1:6443", "a trailing slash names the same server");
        assert_eq!(s.namespaces, ["team-a", "team-b"]);
        assert!(s.cluster_resources);
        assert_eq!(s.shard, Some(2));
        assert_eq!(s.config.bearer_token.as_deref(), Some(TOKEN));
        assert!(!format!("{s:?}").contains(TOKEN), "Debug never prints a token");
        let unnamed = ClusterSecret::parse("x", &data(&[("server", "https://k.example")])).unwrap();
        assert_eq!(unnamed.name, "https://k.example", "the server names a cluster without a name");
    }

    #[test]
    fn hostile_cluster_secrets_are_refused_without_quoting_a_credential() {
        let cases: Vec<(BTreeMap<String, Vec<u8>>, &str)> = vec![
            (data(&[("name", "x")]), "\"server\" is missing"),
            (data(&[("server", "file:///etc/passwd")]), "http:// or https://"),
            (data(&[("server", "https://a b")]), "not a valid URL"),
            (data(&[("server", "https://k"), ("shard", "-1")]), "non-negative integer"),
            (data(&[("server", "https://k"), ("clusterResources", "yes")]), "\"true\" or \"false\""),
            (data(&[("server", "https://k"), ("config", &format!(r#"{{"bearerToken": {TOKEN}}}"#))]), "invalid JSON"),
            (data(&[("server", "https://k"), ("config", &format!(r#"{{"bearerToken": ["{TOKEN}"]}}"#))]), "invalid JSON"),
            (data(&[("server", "https://k"), ("config", &format!(r#"{{"tlsClientConfig": {{"caData": "{TOKEN}!"}}}}"#))]), "not base64"),
            (data(&[("server", "https://k"), ("config", r#"{"tlsClientConfig": {"certData": "Y2E="}}"#)]), "go together"),
        ];
        for (d, want) in cases {
            let err = ClusterSecret::parse("hostile", &d).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("hostile"), "{err} (wanted {want})");
            assert!(!err.contains(TOKEN) && !err.contains("eyJ"), "the error quotes a credential: {err}");
        }
        let mut bad_utf8 = data(&[("server", "https://k")]);
        bad_utf8.insert("config".into(), vec![0xff, 0xfe]);
        assert!(ClusterSecret::parse("x", &bad_utf8).unwrap_err().to_string().contains("UTF-8"));
    }

    #[test]
    fn arbitrary_secret_data_never_panics_or_leaks() {
        // A small deterministic fuzz over the parser: random bytes, random
        // JSON-ish configs; parsing may fail, never panic, never quote.
        let mut next = crate::fuzz::xorshift(0x9e37_79b9_7f4a_7c15);
        let pieces =
            ["{", "}", "\"bearerToken\"", ":", TOKEN, "\"", ",", "[", "]", "true", "\"tlsClientConfig\"", "\"caData\"", "null", "1e999"];
        for _ in 0..5000 {
            let n = (next() % 12) as usize;
            let config: String = (0..n).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect();
            let raw: Vec<u8> = (0..(next() % 16)).map(|_| (next() % 256) as u8).collect();
            let mut d = data(&[("server", "https://k"), ("config", &config)]);
            d.insert(["name", "namespaces", "shard", "clusterResources", "project"][(next() % 5) as usize].into(), raw);
            if let Err(e) = ClusterSecret::parse("fuzz", &d) {
                assert!(!e.to_string().contains(TOKEN), "{e}");
            }
        }
    }

    fn destination(namespaces: &[&str], cluster_resources: bool) -> Destination {
        let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let mut d = Destination::new(client, Vec::new(), Arc::default(), None, None);
        d.namespaces = namespaces.iter().map(|s| s.to_string()).collect();
        d.cluster_resources = cluster_resources;
        d
    }

    #[tokio::test]
    async fn a_cluster_limited_to_namespaces_refuses_others_and_cluster_scoped_kinds() {
        let open = destination(&[], false);
        assert!(open.permits("ClusterRole", "x", None).is_ok());
        let limited = destination(&["team-*"], false);
        assert!(limited.permits("ConfigMap", "c", Some("team-a")).is_ok());
        assert!(limited.permits("ConfigMap", "c", Some("kube-system")).unwrap_err().contains("not managed"));
        assert!(limited.permits("ClusterRole", "x", None).unwrap_err().contains("cluster-scoped"));
        assert!(destination(&["team-a"], true).permits("ClusterRole", "x", None).is_ok());
    }

    #[test]
    fn the_in_cluster_destination_can_be_disabled() {
        assert!(in_cluster_enabled(&BTreeMap::new()));
        let off: BTreeMap<String, String> = [(IN_CLUSTER_ENABLED_KEY.to_string(), "false".to_string())].into();
        assert!(!in_cluster_enabled(&off));
    }
}
