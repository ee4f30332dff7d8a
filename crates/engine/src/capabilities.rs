//! `.Capabilities` for Helm: the destination's Kubernetes version and API
//! versions, from its discovery, as Argo CD passes them to `helm template`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use driftless_sync::cluster::Cluster;

/// What a chart may ask the cluster about.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    /// `1.34`: major and minor.
    pub kube_version: Option<String>,
    /// `group/version` and `group/version/Kind` (`v1`, `v1/Pod` for the core
    /// group), sorted.
    pub api_versions: Vec<String>,
}

/// Discovery is two requests, but every Helm render would repeat them: the
/// answer is reused for a while. A CRD installed meanwhile shows within
/// that time, and the render cache key holds the versions, so a changed
/// answer renders afresh.
const MAX_AGE: Duration = Duration::from_secs(30);

/// One cluster's capabilities, as last discovered.
#[derive(Default)]
pub struct CapabilitiesCache(Mutex<Option<(Instant, Capabilities)>>);

impl CapabilitiesCache {
    /// The capabilities of `cluster`, discovered at most [`MAX_AGE`] ago.
    pub async fn get(&self, cluster: &Cluster) -> Result<Capabilities, String> {
        if let Some((at, c)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < MAX_AGE
        {
            return Ok(c.clone());
        }
        let caps = discover(cluster).await?;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), caps.clone()));
        Ok(caps)
    }
}

async fn discover(cluster: &Cluster) -> Result<Capabilities, String> {
    let client = cluster.client();
    let err = |e: kube::Error| format!("discovery for Helm's .Capabilities: {}", driftless_sync::cluster::ClusterError::Api(e));
    let version = client.apiserver_version().await.map_err(err)?;
    let mut groups = client.list_core_api_versions_aggregated().await.map_err(err)?.items;
    groups.extend(client.list_api_groups_aggregated().await.map_err(err)?.items);
    let mut api_versions = Vec::new();
    for g in groups {
        let group = g.metadata.and_then(|m| m.name).unwrap_or_default();
        for v in g.versions {
            let Some(version) = v.version else { continue };
            let gv = if group.is_empty() { version } else { format!("{group}/{version}") };
            for r in v.resources {
                if let Some(kind) = r.response_kind.and_then(|k| k.kind).filter(|k| !k.is_empty()) {
                    api_versions.push(format!("{gv}/{kind}"));
                }
            }
            api_versions.push(gv);
        }
    }
    api_versions.sort();
    api_versions.dedup();
    // Major and minor, as Argo CD passes them: a build's gitVersion may be
    // `v0.0.0-master`, and providers append `+` to the minor.
    let minor = version.minor.trim_end_matches('+');
    let kube_version = (!version.major.is_empty() && !minor.is_empty()).then(|| format!("{}.{minor}", version.major));
    Ok(Capabilities { kube_version, api_versions })
}
