//! The **controller**: watches Applications and drives each app through
//! source -> render -> diff -> sync -> health, then reports status.
//!
//! - [`desired`] fetches the source and renders the targets;
//! - [`reconcile`] compares, decides whether to sync, and writes status;
//! - [`operation`] carries out a sync operation (requested through
//!   `.operation` or by automation), with retries and history;
//! - [`project`] enforces the app's AppProject.

pub mod desired;
pub mod finalizer;
pub mod leader;
mod live;
mod operation;
mod project;
mod queue;
mod reconcile;
mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::{AppProject, Application};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};

use reconcile::Stores;
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
    /// How many apps are reconciled at once. A sync spends most of its time
    /// waiting for its waves to become healthy, which costs the controller
    /// nothing but a slot, so the default is generous: the API server, not
    /// this number, should bound a cold start.
    pub concurrency: u16,
    /// First delay between two self-heal syncs of one app; it doubles with
    /// each consecutive self-heal (up to 3 minutes) so that two writers do
    /// not fight forever, and resets after 5 quiet minutes.
    pub self_heal_backoff: Duration,
    /// Where reconciles, syncs, Git requests and app status are counted.
    pub metrics: driftless_metrics::Metrics,
    /// Namespace of the `argocd-cm` ConfigMap (custom health checks);
    /// None reads no settings.
    pub settings_namespace: Option<String>,
    /// What builds Kustomize overlays.
    pub kustomize: driftless_render::KustomizeEngine,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            namespaces: Vec::new(),
            resync: Duration::from_secs(180),
            cache_dir: std::env::temp_dir().join("driftless-cache"),
            wave_timeout: Duration::from_secs(300),
            concurrency: 64,
            self_heal_backoff: Duration::from_secs(1),
            metrics: driftless_metrics::Metrics::new(),
            settings_namespace: Some("argocd".into()),
            kustomize: driftless_render::KustomizeEngine::Native,
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

/// Runs the controller until `shutdown` resolves. An API server that cannot
/// be reached yet is waited for, with back-off.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    if !wait_for_api(&client, shutdown.clone()).await? {
        return Ok(());
    }
    let namespaces: Vec<Option<String>> =
        if config.namespaces.is_empty() { vec![None] } else { config.namespaces.iter().cloned().map(Some).collect() };
    let mut routes = Vec::new();
    let mut live_triggers = Vec::new();
    for ns in &namespaces {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        routes.push((ns.clone(), tx));
        live_triggers.push(rx);
    }
    let settings = config.settings_namespace.as_ref().map(|ns| {
        let api = Api::namespaced(client.clone(), ns);
        let only = watcher::Config::default().fields(&format!("metadata.name={}", reconcile::SETTINGS_CONFIGMAP));
        keep_watching::<ConfigMap>(api, only, shutdown.clone())
    });
    // AppProjects live beside their Applications.
    let projects = namespaces
        .iter()
        .map(|ns| {
            let api = match ns {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            keep_watching::<AppProject>(api, watcher::Config::default(), shutdown.clone())
        })
        .collect();
    let stores: Vec<_> = namespaces.iter().map(|_| reflector::store::<Application>()).collect();
    let readers = stores.iter().map(|(reader, _)| reader.clone()).collect();
    let ctx = Arc::new(Context::with_routes(client.clone(), config.clone(), routes, Stores { settings, projects, apps: readers }));
    let mut controllers = Vec::new();
    for ((ns, live), (reader, writer)) in namespaces.into_iter().zip(live_triggers).zip(stores) {
        let api: Api<Application> = match &ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        // Only what the user changes triggers a reconcile: the status the
        // controller writes must not wake it again.
        let trigger = watcher(api, watcher::Config::default())
            .default_backoff()
            // managedFields are the bulk of an Application the controller
            // writes to, and nothing here reads them.
            .modify(|app| app.managed_fields_mut().clear())
            .reflect(writer)
            // An app deleted without a finalizer is never reconciled again:
            // what is kept about it goes with its Delete event.
            .inspect_ok({
                let ctx = ctx.clone();
                move |event| {
                    if let watcher::Event::Delete(app) = event {
                        ctx.forget(app);
                    }
                }
            })
            .applied_objects()
            .predicate_filter(reconcile::trigger_hash, PredicateConfig::default())
            .inspect({
                let ctx = ctx.clone();
                move |app| {
                    if let Ok(app) = app {
                        ctx.queue.woken(ObjectRef::from_obj(app));
                    }
                }
            });
        let controller = Controller::for_stream(trigger, reader)
            // Changes to the objects apps manage wake their app; bursts are
            // coalesced by the controller's queue into one reconcile.
            .reconcile_on(live.inspect({
                let ctx = ctx.clone();
                move |app| ctx.queue.woken(app.clone())
            }))
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

/// Keeps what `api` lists in memory until `shutdown`, so that reconciles
/// read settings and AppProjects without a request each and still see an
/// edit within moments.
fn keep_watching<K>(
    api: Api<K>,
    config: watcher::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .for_each(|_| std::future::ready(()));
    tokio::spawn(async move {
        tokio::select! {
            _ = stream => {}
            _ = shutdown => {}
        }
    });
    reader
}

/// Waits until the Application API answers. Returns false if `shutdown`
/// fired first; a missing CRD is an error at once.
async fn wait_for_api(client: &kube::Client, shutdown: impl std::future::Future<Output = ()>) -> Result<bool, Error> {
    let probe: Api<Application> = Api::all(client.clone());
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
