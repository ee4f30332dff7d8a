//! [`Sources`] answered from the control plane through the engine: its
//! Git cache and repository credentials, the cluster Secrets, the set's
//! namespace for Secrets and decision resources.

use std::collections::BTreeMap;

use driftless_engine::Engine;
use driftless_engine::clusters::{ClusterSecret, SECRET_TYPE_CLUSTER, SECRET_TYPE_LABEL, in_cluster_enabled};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use crate::generators::{ClusterEntry, GitTree, Sources};

/// The world as the controller (or the API server) sees it, for the sets
/// of one namespace.
pub struct EngineSources<'a> {
    /// What fetches Git and knows the clusters.
    pub engine: &'a Engine,
    /// The set's namespace.
    pub namespace: String,
}

impl Sources for EngineSources<'_> {
    fn app_tokens(&self) -> &driftless_source::AppTokens {
        self.engine.git.app_tokens()
    }

    async fn secret(&self, name: &str, key: &str) -> Result<String, String> {
        let secrets: Api<Secret> = Api::namespaced(self.engine.client.clone(), &self.namespace);
        let secret = secrets
            .get_opt(name)
            .await
            .map_err(|e| format!("reading Secret {}/{name}: {e}", self.namespace))?
            .ok_or_else(|| format!("Secret {}/{name} not found", self.namespace))?;
        let value =
            secret.data.unwrap_or_default().remove(key).ok_or_else(|| format!("Secret {}/{name} has no key {key:?}", self.namespace))?;
        String::from_utf8(value.0).map_err(|_| format!("Secret {}/{name} key {key:?} is not text", self.namespace))
    }

    async fn clusters(&self) -> Result<Vec<ClusterEntry>, String> {
        let control_plane = self.engine.config.control_plane();
        let secrets: Api<Secret> = Api::namespaced(self.engine.client.clone(), control_plane);
        let listed = secrets
            .list(&ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={SECRET_TYPE_CLUSTER}")))
            .await
            .map_err(|e| format!("listing cluster Secrets in {control_plane}: {e}"))?;
        let mut out = Vec::new();
        for s in listed.items {
            let data: BTreeMap<String, Vec<u8>> = s.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            // A Secret that does not parse is the cluster list's business
            // (`driftless cluster list` names it): no app is made for it.
            let Ok(parsed) = ClusterSecret::parse(&s.name_any(), &data) else { continue };
            out.push(ClusterEntry {
                name: parsed.name,
                server: parsed.server,
                project: parsed.project,
                labels: s.labels().clone(),
                annotations: s.annotations().clone(),
            });
        }
        let settings = self.engine.settings().await.unwrap_or_default();
        if in_cluster_enabled(&settings) && !out.iter().any(|c| c.server == driftless_api::IN_CLUSTER_SERVER) {
            out.push(ClusterEntry {
                name: driftless_api::IN_CLUSTER_NAME.into(),
                server: driftless_api::IN_CLUSTER_SERVER.into(),
                ..Default::default()
            });
        }
        Ok(out)
    }

    async fn git(&self, repo: &str, revision: &str) -> Result<GitTree, String> {
        let access = self.engine.repo_settings().await?.git_access(repo);
        let checkout = self.engine.git.fetch(repo, revision, &access).await.map_err(|e| e.to_string())?;
        // Checkouts stay on disk while they are asked for; nothing to hold.
        Ok(GitTree { revision: checkout.revision, root: checkout.path, keep: Box::new(()) })
    }

    async fn decisions(
        &self,
        config_map: &str,
        name: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> Result<(BTreeMap<String, String>, Vec<Value>), String> {
        let cms: Api<ConfigMap> = Api::namespaced(self.engine.client.clone(), &self.namespace);
        let cm = cms
            .get_opt(config_map)
            .await
            .map_err(|e| format!("reading ConfigMap {}/{config_map}: {e}", self.namespace))?
            .ok_or_else(|| format!("ConfigMap {}/{config_map} not found", self.namespace))?;
        let data = cm.data.unwrap_or_default();
        let field =
            |k: &str| data.get(k).filter(|v| !v.is_empty()).cloned().ok_or_else(|| format!("ConfigMap {config_map}: {k} is required"));
        let (api_version, kind) = (field("apiVersion")?, field("kind")?);
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, &version, &kind));
        let api: Api<DynamicObject> = Api::namespaced_with(self.engine.client.clone(), &self.namespace, &resource);
        let objects = match name {
            Some(n) => api.get_opt(n).await.map_err(|e| format!("reading {kind} {n}: {e}"))?.into_iter().collect(),
            None => {
                let selector = selector.cloned().unwrap_or_default();
                let mut params = ListParams::default();
                let text = label_selector_text(&selector);
                if !text.is_empty() {
                    params = params.labels(&text);
                }
                api.list(&params).await.map_err(|e| format!("listing {kind}: {e}"))?.items
            }
        };
        let values = objects.into_iter().map(|o| serde_json::to_value(o).unwrap_or_default()).collect();
        Ok((data, values))
    }
}

/// A label selector as the API's `labelSelector` parameter writes it.
fn label_selector_text(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// [`Sources`] for `driftless appset generate`: Git alone (public or
/// local repositories, fetched into `cache`), no control plane. A
/// generator that needs one says so.
pub struct LocalSources {
    /// Git mirrors and checkouts.
    pub git: driftless_source::GitCache,
}

/// What a generator that reads the control plane answers without one.
fn no_control_plane(what: &str) -> String {
    format!("{what} needs a control plane: `driftless appset generate` reads Git only (create the set in a cluster instead)")
}

impl Sources for LocalSources {
    fn app_tokens(&self) -> &driftless_source::AppTokens {
        self.git.app_tokens()
    }

    async fn secret(&self, name: &str, _key: &str) -> Result<String, String> {
        Err(no_control_plane(&format!("reading Secret {name}")))
    }

    async fn clusters(&self) -> Result<Vec<ClusterEntry>, String> {
        Err(no_control_plane("the clusters generator"))
    }

    async fn git(&self, repo: &str, revision: &str) -> Result<GitTree, String> {
        let checkout = self.git.fetch(repo, revision, &driftless_source::GitAccess::default()).await.map_err(|e| e.to_string())?;
        Ok(GitTree { revision: checkout.revision, root: checkout.path, keep: Box::new(()) })
    }

    async fn decisions(
        &self,
        _config_map: &str,
        _name: Option<&str>,
        _selector: Option<&LabelSelector>,
    ) -> Result<(BTreeMap<String, String>, Vec<Value>), String> {
        Err(no_control_plane("the clusterDecisionResource generator"))
    }
}
