//! How the engine works.

use std::path::PathBuf;
use std::time::Duration;

/// How the engine works.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How often Git is consulted without a refresh: a desired state kept
    /// from a live event's reconcile is reused for at most 90 % of it.
    pub resync: Duration,
    /// Where Git mirrors, checkouts, charts and Helm renders are kept.
    pub cache_dir: PathBuf,
    /// Where Git requests and cluster states are counted.
    pub metrics: driftless_metrics::Metrics,
    /// What builds Kustomize overlays.
    pub kustomize: driftless_render::KustomizeEngine,
    /// The control-plane namespace (AppProjects, `argocd-cm`, repository
    /// and cluster Secrets) and the other namespaces that may hold
    /// Applications.
    pub tenancy: crate::project::Tenancy,
}

impl EngineConfig {
    /// The control-plane namespace.
    pub fn control_plane(&self) -> &str {
        &self.tenancy.control_plane
    }
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            resync: Duration::from_secs(180),
            cache_dir: std::env::temp_dir().join("driftless-cache"),
            metrics: driftless_metrics::Metrics::new(),
            kustomize: driftless_render::KustomizeEngine::Native,
            tenancy: crate::project::Tenancy::new("argocd"),
        }
    }
}
