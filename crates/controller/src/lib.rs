//! The **controller**: the loop that drives every Application through the
//! engine (source -> render -> diff) and then syncs and reports.
//!
//! - [`reconcile`] compares through the engine, [`decide`]s (pure), and
//!   writes status;
//! - [`operation`] carries out a sync operation (requested through
//!   `.operation` or by automation), with retries and history;
//! - [`leader`] is Lease-based leader election, [`shard`] splits the apps
//!   over replicas;
//! - [`recorder`] writes the app events the status writes publish
//!   ([`Config::events`]) as Kubernetes Events;
//! - [`runtime`] is what any loop over the API needs (wait for the API,
//!   keep a kind watched), reused by the other loops.

mod deletion;
mod dependencies;
pub mod leader;
mod operation;
mod queue;
mod reconcile;
pub mod recorder;
pub mod rollback;
pub mod runtime;
pub mod shard;
mod writer;

/// Go-style durations as Argo CD writes them (`1h30m`), for the CLI too.
pub use operation::parse_duration;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::{AppProject, Application};
use driftless_engine::clusters::{ClusterOptions, Clusters};
use driftless_engine::project::Tenancy;
use driftless_engine::settings::AppSettings;
use driftless_engine::{Engine, EngineConfig, Stores};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};

use driftless_engine::watch::{Seen, keep_watching_with};
pub use reconcile::{Context, Decision, Origin, decide};
use runtime::wait_for_api;

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The control-plane namespace (AppProjects, settings, cluster and
    /// repository Secrets, and Applications), and the other namespaces
    /// whose Applications are handled (`application.namespaces`).
    pub tenancy: Tenancy,
    /// How often every app is compared again without an event, before the
    /// jitter (Argo CD's `timeout.reconciliation`, 180 s).
    pub resync: Duration,
    /// At most this much, and never more than `resync`, is added at random
    /// to each app's resync (Argo CD's `--app-resync-jitter`; none by
    /// default here, 60 s from the CLI).
    pub resync_jitter: Duration,
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
    /// What builds Kustomize overlays.
    pub kustomize: driftless_render::KustomizeEngine,
    /// Take a share of the apps with the other replicas that do
    /// (`--sharded`); None handles every app.
    pub sharded: Option<shard::ShardConfig>,
    /// Where every app event is published (sync started, health changed...,
    /// see [`driftless_engine::events`]): the controller records them as
    /// Kubernetes Events, and any other loop of the process subscribes
    /// with `events.subscribe()` before [`run`] starts (or in it, before
    /// the reconcilers start).
    pub events: driftless_engine::events::Bus,
    /// How long a sync may run before an `OperationRunningLong` event says
    /// so, once per operation (`--sync-running-long-after`, 10 minutes).
    pub sync_running_long: Duration,
    /// How often the notifications loop evaluates every subscribed app
    /// without an event (time-based triggers; Argo CD's is 60 s).
    pub notifications_resync: Duration,
}

impl Config {
    /// How long until an app is compared again without an event. Apps
    /// reconciled together (a cold start, a burst of Deployments becoming
    /// available) would otherwise resync together for ever after, and a
    /// drifted app's wake would queue behind thousands of them: the jitter
    /// spreads them a little more at each resync. It never exceeds the
    /// period, so that a short resync (a demo's, a test's) stays short.
    pub fn next_resync(&self) -> Duration {
        self.resync + self.resync_jitter.min(self.resync).mul_f64(fastrand::f64())
    }

    /// What the engine needs of these settings.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            resync: self.resync,
            cache_dir: self.cache_dir.clone(),
            metrics: self.metrics.clone(),
            kustomize: self.kustomize,
            tenancy: self.tenancy.clone(),
        }
    }
}

/// How often every registered cluster is asked for its version.
const CLUSTER_PROBE: Duration = Duration::from_secs(10);

impl Default for Config {
    fn default() -> Config {
        Config {
            tenancy: Tenancy::new("argocd"),
            resync: Duration::from_secs(180),
            resync_jitter: Duration::ZERO,
            cache_dir: std::env::temp_dir().join("driftless-cache"),
            wave_timeout: Duration::from_secs(300),
            concurrency: 64,
            self_heal_backoff: Duration::from_secs(1),
            metrics: driftless_metrics::Metrics::new(),
            kustomize: driftless_render::KustomizeEngine::Native,
            sharded: None,
            events: driftless_engine::events::Bus::default(),
            sync_running_long: Duration::from_secs(600),
            notifications_resync: Duration::from_secs(60),
        }
    }
}

pub use runtime::Error;

/// Runs the controller until `shutdown` resolves. An API server that cannot
/// be reached yet is waited for, with back-off.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    if !wait_for_api(&client, &config.tenancy.control_plane, shutdown.clone()).await? {
        return Ok(());
    }
    // As Argo CD: the control-plane namespace alone, or every namespace
    // once others may hold Applications (each is checked at reconcile).
    let control_plane = config.tenancy.control_plane.clone();
    let namespaces: Vec<Option<String>> =
        if config.tenancy.app_namespaces.is_empty() { vec![Some(control_plane.clone())] } else { vec![None] };
    let mut routes = Vec::new();
    let mut live_triggers = Vec::new();
    for ns in &namespaces {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        routes.push((ns.clone(), tx));
        live_triggers.push(rx);
    }
    let stores: Vec<_> = namespaces.iter().map(|_| reflector::store::<Application>()).collect();
    let readers: Vec<Store<Application>> = stores.iter().map(|(reader, _)| reader.clone()).collect();
    // An edit to what argocd-cm says about comparing (tracking, exclusions,
    // customizations) changes every app's state: all are looked at again,
    // as Argo CD does, rather than each at its next resync. Other keys
    // (accounts, SSO) wake nothing.
    let only = watcher::Config::default().fields(&format!("metadata.name={}", driftless_engine::SETTINGS_CONFIGMAP));
    let (apps, wake, namespace) = (readers.clone(), routes.clone(), control_plane.clone());
    // Apps are first compared with the defaults an absent argocd-cm means:
    // its creation, like its deletion, is a change.
    let defaults = AppSettings::parse(&namespace, &Default::default());
    let on_change = wake_all_on_change(apps, wake, defaults.clone(), move |seen: Seen<'_, ConfigMap>| match seen {
        Seen::Changed(cm) => AppSettings::parse(&namespace, &cm.data.clone().unwrap_or_default()),
        Seen::Deleted(_) => defaults.clone(),
    });
    let settings = keep_watching_with::<ConfigMap>(Api::namespaced(client.clone(), &control_plane), only, shutdown.clone(), on_change);
    // The SOPS age keys: an added key must decrypt what could not be at
    // once, and a removed one stop doing so, so an edit of the key set
    // wakes every app (as an edit of argocd-cm's comparison settings does).
    let only = watcher::Config::default().fields(&format!("metadata.name={}", driftless_render::SOPS_AGE_SECRET));
    let (apps, wake, namespace) = (readers.clone(), routes.clone(), control_plane.clone());
    let none = driftless_engine::sops::keys_of(&namespace, None).fingerprint();
    let on_change = wake_all_on_change(apps, wake, none, move |seen: Seen<'_, Secret>| match seen {
        Seen::Changed(secret) => driftless_engine::sops::keys_of(&namespace, Some(secret)).fingerprint(),
        Seen::Deleted(_) => driftless_engine::sops::keys_of(&namespace, None).fingerprint(),
    });
    let sops = keep_watching_with::<Secret>(Api::namespaced(client.clone(), &control_plane), only, shutdown.clone(), on_change);
    // Every project lives in the control-plane namespace, whatever the
    // namespace of its apps; an edit to one (its windows, its rules) wakes
    // its apps, as in Argo CD.
    let (apps, wake) = (readers.clone(), routes.clone());
    let projects = keep_watching_with::<AppProject>(
        Api::namespaced(client.clone(), &control_plane),
        watcher::Config::default(),
        shutdown.clone(),
        move |project| {
            let name = project.object().name_any();
            for app in apps.iter().flat_map(Store::state) {
                let of = if app.spec.project.is_empty() { "default" } else { app.spec.project.as_str() };
                if of == name {
                    driftless_engine::live::route(&wake, ObjectRef::from_obj(&*app));
                }
            }
        },
    );
    // A policy that changes (added, edited, removed) may block or free any
    // app: all are judged again now, not at their next resync.
    let (apps, wake) = (readers.clone(), routes.clone());
    let policies = driftless_engine::policies::watching(&client, &control_plane, shutdown.clone(), move || wake_all(&apps, &wake));
    let dependency_routes = routes.clone();
    let cluster_options =
        ClusterOptions { routes: routes.clone(), probe_every: Some(CLUSTER_PROBE), metrics: config.metrics.clone(), ..Default::default() };
    let handles = cluster_options.handles.clone();
    let clusters = Clusters::watching(client.clone(), Some(control_plane.clone()), cluster_options, shutdown.clone());
    let engine = Arc::new(Engine::watching(
        client.clone(),
        config.engine(),
        clusters.clone(),
        Stores {
            settings: Some(settings),
            projects: Some(projects.clone()),
            repos: driftless_engine::repos::RepoStores::watching(&client, &control_plane, shutdown.clone()),
            sops: Some(sops),
            policies: Some(policies),
        },
    ));
    let share = match &config.sharded {
        None => shard::Share::all(),
        Some(cfg) => {
            let (engine, apps) = (engine.clone(), readers.clone());
            // What this replica keeps follows its share: the apps it no
            // longer holds are forgotten, the live indexes rebuilt.
            let on_change = move |share: &shard::Share| {
                for app in apps.iter().flat_map(Store::state) {
                    if !share.indexes(&ObjectRef::from_obj(&*app), engine.clusters.pinned_shard(&app.spec.destination)) {
                        engine.forget(&app);
                    }
                }
                engine.clusters.reset_live();
            };
            let world =
                shard::ShardWorld { client: client.clone(), clusters, apps: readers.clone(), routes, metrics: config.metrics.clone() };
            let share = shard::Share::join(cfg.clone(), world, on_change, shutdown.clone());
            let keep = share.clone();
            let _ = handles.set(Arc::new(move |app, pinned| keep.indexes(app, pinned)));
            share
        }
    };
    let listed = readers.clone();
    // ApplicationSets are kept by the same process, on the same engine
    // (its Git cache and clusters), as Argo CD's separate controller does.
    let appsets = tokio::spawn(run_appsets(
        client.clone(),
        engine.clone(),
        driftless_appset::controller::Config { tenancy: config.tenancy.clone(), requeue: config.resync },
        config.sharded.clone(),
        shutdown.clone(),
    ));
    // Subscribed before any reconcile publishes; stopped once the
    // reconciles have finished, so that their last events are recorded.
    let (stop_recorder, recorder_stop) = tokio::sync::oneshot::channel::<()>();
    let recorder = recorder::spawn(client.clone(), &config.events, config.metrics.clone(), async move {
        let _ = recorder_stop.await;
    });
    // Notifications, on the same process as Argo CD's separate controller
    // would be: woken by the app events published here (subscribed before
    // any reconcile publishes), for the apps this replica holds.
    let holds: driftless_notify::controller::Holds = {
        let (share, engine) = (share.clone(), engine.clone());
        Arc::new(move |app: &Application| share.indexes(&ObjectRef::from_obj(app), engine.clusters.pinned_shard(&app.spec.destination)))
    };
    let wake = futures::stream::unfold(config.events.subscribe(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(p) => return Some(((p.app.namespace().unwrap_or_default(), p.app.name_any()), rx)),
                // What was missed is caught by the loop's resync.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let notifications = tokio::spawn(driftless_notify::controller::run(
        driftless_notify::controller::World { client: client.clone(), apps: readers.clone(), projects, holds },
        driftless_notify::controller::Config {
            resync: config.notifications_resync,
            ..driftless_notify::controller::Config::new(&control_plane, config.metrics.clone())
        },
        Box::pin(wake),
        shutdown.clone(),
    ));
    let ctx = Arc::new(Context::new(engine, config.clone(), readers.clone(), share));
    // A dependency's status writes wake the apps that wait for it.
    let dependencies = Arc::new(dependencies::Waker::new(readers, dependency_routes));
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
                let (ctx, dependencies) = (ctx.clone(), dependencies.clone());
                move |event| {
                    dependencies.observe(event);
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
                        ctx.queue.woken(ObjectRef::from_obj(app), queue::Wake::Asked);
                    }
                }
            });
        let controller = Controller::for_stream(trigger, reader)
            // Changes to what apps read (the objects they manage, argocd-cm,
            // a dependency's status) wake them, after the apps users asked
            // for; bursts are coalesced by the controller's queue into one
            // reconcile.
            .reconcile_on(queue::hold_observed(
                live.inspect({
                    let ctx = ctx.clone();
                    move |app| ctx.queue.woken(app.clone(), queue::Wake::Observed)
                }),
                ctx.queue.asked(),
                usize::from(config.concurrency),
                queue::HOLD_LIMIT,
            ))
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
    // A graceful shutdown lets running reconciles finish; but one asked
    // before the first listing of Applications completed would wait for a
    // listing that no longer comes (a runner starts only once its store is
    // ready): with nothing listed nothing runs, and the stop is at once.
    // Otherwise the wait is bounded: an interrupted sync resumes at the
    // next start.
    let drained = futures::future::join_all(controllers);
    let overdue = async move {
        shutdown.await;
        if listed.iter().any(|store| futures::FutureExt::now_or_never(store.wait_until_ready()).is_some()) {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        }
    };
    let drained = async move {
        drained.await;
        let _ = appsets.await;
        let _ = notifications.await;
        let _ = stop_recorder.send(());
        let _ = recorder.await;
    };
    tokio::select! {
        _ = drained => {}
        () = overdue => tracing::warn!("reconciles still running {SHUTDOWN_GRACE:?} after the stop was asked: stopping anyway"),
    }
    Ok(())
}

/// The Lease that sharded replicas contend for to keep the ApplicationSets.
pub const APPSET_LEASE: &str = "driftless-applicationset";

/// The ApplicationSet loop. Sharded replicas split the apps, not the sets:
/// one replica at a time keeps them, the holder of the Lease
/// [`APPSET_LEASE`] (two would race on creates, send RollingSync syncs
/// twice and fight over the status); the others stand by.
async fn run_appsets<S>(
    client: kube::Client,
    engine: Arc<Engine>,
    config: driftless_appset::controller::Config,
    sharded: Option<shard::ShardConfig>,
    shutdown: S,
) where
    S: std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
{
    let Some(shard) = sharded else {
        return driftless_appset::controller::run(client, engine, config, shutdown).await;
    };
    let lease = leader::LeaderConfig {
        lease_duration: shard.lease_duration,
        renew_deadline: shard.renew_deadline,
        retry_period: shard.retry_period,
        ..leader::LeaderConfig::new(shard.namespace, APPSET_LEASE, shard.identity)
    };
    loop {
        let work = |stop: futures::future::BoxFuture<'static, ()>| {
            let ending = shutdown.clone();
            let stop = futures::FutureExt::shared(futures::FutureExt::boxed(async move {
                tokio::select! {
                    () = stop => {}
                    () = ending => {}
                }
            }));
            let (client, engine, config) = (client.clone(), engine.clone(), config.clone());
            async move {
                driftless_appset::controller::run(client, engine, config, stop).await;
                Ok(())
            }
        };
        match leader::run_as_leader(client.clone(), lease.clone(), shutdown.clone(), work).await {
            Ok(()) => return,
            Err(e) => tracing::warn!("applicationsets: {e}; standing by for the Lease again"),
        }
        if futures::FutureExt::now_or_never(shutdown.clone()).is_some() {
            return;
        }
        tokio::time::sleep(lease.retry_period.max(Duration::from_secs(1))).await;
    }
}

/// How long running reconciles may take to finish after a stop is asked,
/// below Kubernetes' default grace period of 30 s before it kills a pod.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// A watch's `on_change` that wakes every app when what `value` reads from
/// the watched object differs from what the apps were last compared with
/// (`initial` before the first event: an absent object).
fn wake_all_on_change<K, V: PartialEq + Send + 'static>(
    apps: Vec<Store<Application>>,
    wake: driftless_engine::live::Routes,
    initial: V,
    value: impl Fn(Seen<'_, K>) -> V + Send + 'static,
) -> impl Fn(Seen<'_, K>) + Send + 'static {
    let compared_with = std::sync::Mutex::new(initial);
    move |seen| {
        let now = value(seen);
        let mut before = compared_with.lock().unwrap_or_else(|p| p.into_inner());
        if *before != now {
            *before = now;
            wake_all(&apps, &wake);
        }
    }
}

/// Routes every app of `apps` to its reconcile queue.
fn wake_all(apps: &[Store<Application>], wake: &driftless_engine::live::Routes) {
    for app in apps.iter().flat_map(Store::state) {
        driftless_engine::live::route(wake, ObjectRef::from_obj(&*app));
    }
}
