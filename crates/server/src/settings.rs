//! The server's settings, watched so that edits apply without a restart:
//! `argocd-cm` (accounts, URL, OIDC), `argocd-rbac-cm` (policy) and
//! `argocd-secret` (password hashes, signing key, API token ids), all in
//! the server's namespace.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;

/// Argo CD's settings ConfigMap.
pub const ARGOCD_CM: &str = "argocd-cm";
/// Argo CD's RBAC ConfigMap.
pub const ARGOCD_RBAC_CM: &str = "argocd-rbac-cm";
/// Argo CD's Secret: password hashes, the signing key, token ids.
pub const ARGOCD_SECRET: &str = "argocd-secret";
/// Where the generated first admin password is kept, as in Argo CD.
pub const INITIAL_ADMIN_SECRET: &str = "argocd-initial-admin-secret";

/// One named object, kept current by a watch.
pub struct Watched<K> {
    current: RwLock<Option<Arc<K>>>,
    ready: watch::Sender<bool>,
}

impl<K> Watched<K>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    fn new() -> Arc<Watched<K>> {
        let (ready, _) = watch::channel(false);
        Arc::new(Watched { current: RwLock::new(None), ready })
    }

    /// The object now, if it exists.
    pub fn get(&self) -> Option<Arc<K>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes an object this server just wrote, so that the next request sees
    /// it before the watch delivers it.
    pub fn set(&self, obj: K) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(obj));
    }

    async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r)).await.is_ok_and(|r| r.is_ok())
    }

    async fn run(self: Arc<Self>, api: Api<K>, name: &'static str) {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut events = watcher::watcher(api, config).default_backoff().boxed();
        let mut seen: Option<K> = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => seen = None,
                Ok(Event::InitApply(obj)) => seen = Some(obj),
                Ok(Event::InitDone) => {
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = seen.take().map(Arc::new);
                    self.ready.send_replace(true);
                }
                Ok(Event::Apply(obj)) => self.set(obj),
                Ok(Event::Delete(_)) => *self.current.write().unwrap_or_else(|e| e.into_inner()) = None,
                Err(e) => tracing::warn!("watching {name}: {e}; retrying"),
            }
        }
    }
}

/// The three watched objects.
pub struct Settings {
    /// `argocd-cm`.
    pub cm: Arc<Watched<ConfigMap>>,
    /// `argocd-rbac-cm`.
    pub rbac_cm: Arc<Watched<ConfigMap>>,
    /// `argocd-secret`.
    pub secret: Arc<Watched<Secret>>,
}

impl Settings {
    /// Starts the watches; returns their tasks.
    pub fn start(client: &kube::Client, namespace: &str) -> (Settings, Vec<tokio::task::JoinHandle<()>>) {
        let settings = Settings { cm: Watched::new(), rbac_cm: Watched::new(), secret: Watched::new() };
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let tasks = vec![
            tokio::spawn(Arc::clone(&settings.cm).run(cms.clone(), ARGOCD_CM)),
            tokio::spawn(Arc::clone(&settings.rbac_cm).run(cms, ARGOCD_RBAC_CM)),
            tokio::spawn(Arc::clone(&settings.secret).run(secrets, ARGOCD_SECRET)),
        ];
        (settings, tasks)
    }

    /// Waits until every watch has listed once (or `timeout` passed).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        self.cm.wait_ready(timeout).await && self.rbac_cm.wait_ready(timeout).await && self.secret.wait_ready(timeout).await
    }

    /// `argocd-cm`'s data (empty when it does not exist).
    pub fn argocd_cm(&self) -> BTreeMap<String, String> {
        self.cm.get().and_then(|c| c.data.clone()).unwrap_or_default()
    }

    /// `argocd-rbac-cm`'s data (empty when it does not exist).
    pub fn rbac(&self) -> BTreeMap<String, String> {
        self.rbac_cm.get().and_then(|c| c.data.clone()).unwrap_or_default()
    }

    /// A value of `argocd-secret`, as text.
    pub fn secret_value(&self, key: &str) -> Option<String> {
        let secret = self.secret.get()?;
        let bytes = secret.data.as_ref()?.get(key)?;
        String::from_utf8(bytes.0.clone()).ok()
    }
}

/// `argocd-cm` `oidc.config`, as Argo CD reads it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcConfig {
    /// Shown on the login button ("Log in via NAME").
    pub name: String,
    /// The provider's issuer URL.
    pub issuer: String,
    /// The client id registered with the provider.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// The client secret; `$key` reads key `key` of argocd-secret.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes besides `openid` (Argo CD adds `profile`, `email`, `groups`
    /// when this is empty).
    #[serde(default)]
    pub requested_scopes: Vec<String>,
}

/// Parses `oidc.config`; `None` when absent, an error naming the key when
/// malformed.
pub fn oidc_config(cm: &BTreeMap<String, String>) -> Result<Option<OidcConfig>, String> {
    let Some(text) = cm.get("oidc.config").filter(|t| !t.trim().is_empty()) else { return Ok(None) };
    let c: OidcConfig = serde_saphyr::from_str(text).map_err(|e| format!("argocd-cm oidc.config: {e}"))?;
    if c.issuer.is_empty() || c.client_id.is_empty() {
        return Err("argocd-cm oidc.config: issuer and clientID are required".into());
    }
    Ok(Some(c))
}

/// The SSO provider's display name, when SSO is configured and valid.
pub fn oidc_name(cm: &BTreeMap<String, String>) -> Option<String> {
    match oidc_config(cm) {
        Ok(c) => c.map(|c| if c.name.is_empty() { "SSO".to_string() } else { c.name }),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_config_reads_argo_cd_yaml() {
        let cm = BTreeMap::from([(
            "oidc.config".to_string(),
            "name: Dex\nissuer: http://127.0.0.1:5556/dex\nclientID: driftless\nclientSecret: $oidc.clientSecret\nrequestedScopes: [openid, groups]\n"
                .to_string(),
        )]);
        let c = oidc_config(&cm).expect("valid").expect("present");
        assert_eq!((c.name.as_str(), c.client_id.as_str()), ("Dex", "driftless"));
        assert_eq!(c.requested_scopes, vec!["openid", "groups"]);
        assert_eq!(oidc_name(&cm).as_deref(), Some("Dex"));
        assert!(oidc_config(&BTreeMap::new()).expect("valid").is_none());
        let bad = BTreeMap::from([("oidc.config".to_string(), "name: x\n".to_string())]);
        assert!(oidc_config(&bad).is_err());
    }
}
