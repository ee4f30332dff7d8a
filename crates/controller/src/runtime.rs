//! What any loop over the Kubernetes API needs, shared by the controller
//! and the loops that build on it (ApplicationSet, notifications): wait
//! until the API answers, keep a kind watched in memory.

use std::time::Duration;

use driftless_api::Application;
use kube::Api;

pub use driftless_engine::watch::keep_watching;

/// Errors that stop a loop before it starts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Application CRD is missing.
    #[error("the Application CRD is not installed: run `driftless crds | kubectl apply --server-side -f -`")]
    CrdMissing,
    /// The API server could not be reached.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Waits until the Application API answers in the control-plane namespace
/// (a namespace-scoped install may list nothing else). Returns false if
/// `shutdown` fired first; a missing CRD is an error at once.
pub async fn wait_for_api(
    client: &kube::Client,
    control_plane: &str,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<bool, Error> {
    let probe: Api<Application> = Api::namespaced(client.clone(), control_plane);
    let mut delay = Duration::from_millis(500);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        match probe.list(&kube::api::ListParams::default().limit(1)).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(Error::CrdMissing),
            Err(e) => tracing::warn!("the API server is not reachable yet, retrying in {delay:?}: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut shutdown => return Ok(false),
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}
