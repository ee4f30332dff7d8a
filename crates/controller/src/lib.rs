//! The **controller**: watches Applications and drives each app through
//! source -> render -> diff -> sync -> health, then reports status.
//!
//! - [`desired`] fetches the source and renders the targets;
//! - [`reconcile`] compares, decides whether to sync, and writes status;
//! - [`operation`] carries out a sync operation (requested through
//!   `.operation` or by automation), with retries and history;
//! - [`project`] enforces the app's AppProject.

pub mod desired;
pub mod leader;
mod operation;
mod project;
mod reconcile;
mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::Application;
use futures::StreamExt;
use kube::Api;
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, reflector, watcher};

pub use reconcile::{Context, compare_app};

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Namespaces whose Applications are handled; empty means all.
    pub namespaces: Vec<String>,
    /// How often every app is compared again without an event (Argo CD's
    /// `timeout.reconciliation`, 180 s).
    pub resync: Duration,
    /// Where Git mirrors and checkouts are kept.
    pub cache_dir: PathBuf,
    /// How long one wave or hook may take to become healthy.
    pub wave_timeout: Duration,
    /// How many apps are reconciled at once.
    pub concurrency: u16,
    /// Namespace of the `argocd-cm` ConfigMap (custom health checks);
    /// None reads no settings.
    pub settings_namespace: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            namespaces: Vec::new(),
            resync: Duration::from_secs(180),
            cache_dir: std::env::temp_dir().join("driftless-cache"),
            wave_timeout: Duration::from_secs(300),
            concurrency: 16,
            settings_namespace: Some("argocd".into()),
        }
    }
}

/// Errors that stop the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Application CRD is missing.
    #[error("the Application CRD is not installed: run `driftless crds | kubectl apply -f -`")]
    CrdMissing,
    /// The API server could not be reached.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let probe: Api<Application> = Api::all(client.clone());
    match probe.list(&kube::api::ListParams::default().limit(1)).await {
        Err(kube::Error::Api(s)) if s.code == 404 => return Err(Error::CrdMissing),
        other => other.map(drop)?,
    }
    let ctx = Arc::new(Context::new(client.clone(), config.clone()));
    let namespaces: Vec<Option<String>> =
        if config.namespaces.is_empty() { vec![None] } else { config.namespaces.iter().cloned().map(Some).collect() };
    let mut controllers = Vec::new();
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    for ns in namespaces {
        let api: Api<Application> = match &ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let (reader, writer) = reflector::store();
        // Only what the user changes triggers a reconcile: the status the
        // controller writes must not wake it again.
        let trigger = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .predicate_filter(reconcile::trigger_hash, PredicateConfig::default());
        let controller = Controller::for_stream(trigger, reader)
            .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency))
            .graceful_shutdown_on(shutdown.clone())
            .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!("reconcile: {e}");
                }
            });
        controllers.push(controller);
    }
    futures::future::join_all(controllers).await;
    Ok(())
}
