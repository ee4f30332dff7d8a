//! Repositories: where the credentials, CAs and SSH host keys for a URL come
//! from (the control plane's repository Secrets, `argocd-tls-certs-cm`,
//! `argocd-ssh-known-hosts-cm`), kept by watches so that a rotated password
//! applies at the next fetch; and the connection test of a repository.

use driftless_source::GitCache;
use driftless_source::repo_creds::{
    RepoCreds, RepoSettings, SECRET_TYPE_LABEL, SECRET_TYPE_REPO_CREDS, SECRET_TYPE_REPOSITORY, SSH_KNOWN_HOSTS_CONFIGMAP,
    SSH_KNOWN_HOSTS_KEY, TLS_CERTS_CONFIGMAP,
};
use futures::FutureExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::ListParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::watch::keep_watching;

/// The label selector of repository Secrets and credential templates.
fn selector() -> String {
    format!("{SECRET_TYPE_LABEL} in ({SECRET_TYPE_REPOSITORY},{SECRET_TYPE_REPO_CREDS})")
}

/// What watches keep of the control plane's repository settings (all None
/// for a one-off engine, which reads them when needed).
#[derive(Default, Clone)]
pub struct RepoStores {
    /// Repository Secrets and credential templates.
    pub secrets: Option<Store<Secret>>,
    /// `argocd-tls-certs-cm`.
    pub tls_certs: Option<Store<ConfigMap>>,
    /// `argocd-ssh-known-hosts-cm`.
    pub ssh_known_hosts: Option<Store<ConfigMap>>,
}

impl RepoStores {
    /// Watches the repository Secrets and the two ConfigMaps of `namespace` until `shutdown`.
    pub fn watching(
        client: &kube::Client,
        namespace: &str,
        shutdown: impl std::future::Future<Output = ()> + Clone + Send + 'static,
    ) -> RepoStores {
        let named = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
        let cms = || Api::<ConfigMap>::namespaced(client.clone(), namespace);
        RepoStores {
            secrets: Some(keep_watching(
                Api::<Secret>::namespaced(client.clone(), namespace),
                watcher::Config::default().labels(&selector()),
                shutdown.clone(),
            )),
            tls_certs: Some(keep_watching(cms(), named(TLS_CERTS_CONFIGMAP), shutdown.clone())),
            ssh_known_hosts: Some(keep_watching(cms(), named(SSH_KNOWN_HOSTS_CONFIGMAP), shutdown)),
        }
    }

    /// The three stores, once each has listed.
    fn ready(&self) -> Option<(&Store<Secret>, &Store<ConfigMap>, &Store<ConfigMap>)> {
        let listed = |s: &Store<ConfigMap>| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok());
        let (secrets, tls, hosts) = (self.secrets.as_ref()?, self.tls_certs.as_ref()?, self.ssh_known_hosts.as_ref()?);
        let ready = secrets.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()) && listed(tls) && listed(hosts);
        ready.then_some((secrets, tls, hosts))
    }
}

/// The repository settings of `namespace`: from the watches once they have
/// listed, else read afresh. The error names what could not be read.
pub async fn settings(client: &kube::Client, namespace: &str, stores: &RepoStores) -> Result<RepoSettings, String> {
    if let Some((secrets, tls, hosts)) = stores.ready() {
        let cm = |s: &Store<ConfigMap>, name: &str| s.get(&ObjectRef::new(name).within(namespace));
        let secrets = secrets.state();
        return Ok(from_objects(
            secrets.iter().map(|s| &**s),
            cm(tls, TLS_CERTS_CONFIGMAP).as_deref(),
            cm(hosts, SSH_KNOWN_HOSTS_CONFIGMAP).as_deref(),
        ));
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let list = match secrets.list(&ListParams::default().labels(&selector())).await {
        Ok(l) => l.items,
        Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
        Err(e) => return Err(format!("reading repository Secrets in namespace {namespace}: {e}")),
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let read = |name: &'static str| {
        let cms = cms.clone();
        async move { cms.get_opt(name).await.map_err(|e| format!("reading ConfigMap {namespace}/{name}: {e}")) }
    };
    let (tls, hosts) = (read(TLS_CERTS_CONFIGMAP).await?, read(SSH_KNOWN_HOSTS_CONFIGMAP).await?);
    Ok(from_objects(list.iter(), tls.as_ref(), hosts.as_ref()))
}

/// Folds the objects into settings (pure). A Secret that does not parse is
/// left out with a warning naming it and the key at fault, never a value.
pub fn from_objects<'a>(secrets: impl Iterator<Item = &'a Secret>, tls: Option<&ConfigMap>, hosts: Option<&ConfigMap>) -> RepoSettings {
    let mut creds = Vec::new();
    for s in secrets {
        let template = s.labels().get(SECRET_TYPE_LABEL).is_some_and(|t| t == SECRET_TYPE_REPO_CREDS);
        match RepoCreds::from_secret_data(&crate::clusters::secret_data(s), template) {
            Ok(c) => creds.push(c),
            Err(e) => tracing::warn!("repository Secret {}/{} is ignored: {e}", s.namespace().unwrap_or_default(), s.name_any()),
        }
    }
    RepoSettings {
        creds,
        tls_certs: tls.and_then(|c| c.data.clone()).unwrap_or_default(),
        ssh_known_hosts: hosts.and_then(|c| c.data.as_ref()?.get(SSH_KNOWN_HOSTS_KEY).cloned()).unwrap_or_default(),
    }
}

/// What kind of repository a connection test talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    /// A Git repository (HTTPS or SSH): `git ls-remote`.
    Git,
    /// A Helm HTTP repository: its `index.yaml`.
    Helm,
    /// An OCI registry (`oci://host/path`, or a Helm repository with `enableOCI`): its tags.
    Oci,
}

impl RepoKind {
    /// The kind a repository Secret describes: `type: helm` (OCI with
    /// `enableOCI` or an `oci://` URL), else Git.
    pub fn of(creds: &RepoCreds) -> RepoKind {
        if creds.url.starts_with("oci://") || creds.enable_oci {
            RepoKind::Oci
        } else if creds.type_.eq_ignore_ascii_case("helm") {
            RepoKind::Helm
        } else {
            RepoKind::Git
        }
    }
}

/// Connects to the repository `creds.url` as a fetch would, with `creds`
/// (and the CA and known hosts of `settings`). The error says why, never
/// with a credential in it.
pub(crate) async fn test(
    git: &GitCache,
    settings: &RepoSettings,
    creds: Option<&RepoCreds>,
    url: &str,
    kind: RepoKind,
) -> Result<(), String> {
    let ca = settings.ca_for(url);
    match kind {
        RepoKind::Git => {
            let access = driftless_source::GitAccess {
                creds: creds.cloned(),
                ca_pem: ca.map(str::to_string),
                known_hosts: settings.ssh_known_hosts.clone(),
            };
            git.ls_remote(url, &access).await.map_err(|e| e.to_string())
        }
        RepoKind::Helm => driftless_source::test_helm_repository(url, creds, ca).await.map_err(|e| e.to_string()),
        RepoKind::Oci => driftless_source::test_oci_registry(url, creds, ca).await.map_err(|e| e.to_string()),
    }
}
