//! Prometheus metrics for driftless, exposed as OpenMetrics text.
//!
//! [`Metrics`] is a cheap, cloneable handle that owns its own registry (no
//! global state, so tests and several controllers in one process do not
//! share counters). The controller records into it; [`Metrics::router`]
//! serves it at `GET /metrics`, and [`serve`] runs that router.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `driftless_app_info` | gauge (always 1) | namespace, name, project, dest_server, dest_namespace, sync_status, health_status, repo |
//! | `driftless_app_reconcile_seconds` | histogram | result |
//! | `driftless_app_sync_total` | counter | namespace, name, phase |
//! | `driftless_kube_requests_total` | counter | verb, status |
//! | `driftless_kube_request_duration_seconds` | histogram | verb |
//! | `driftless_git_requests_total` | counter | repo, request, result |
//! | `driftless_git_request_duration_seconds` | histogram | request |
//! | `driftless_renders_total` | counter | cache |
//! | `driftless_workqueue_depth` | gauge | |
//! | `driftless_reconciles_in_flight` | gauge | |
//!
//! Argo CD's own series are served too, under its names and with its
//! labels, so that its Grafana dashboard and alerts work unchanged:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `argocd_app_info` | gauge (always 1) | namespace, name, project, autosync_enabled, repo, dest_server, dest_namespace, sync_status, health_status, operation |
//! | `argocd_app_sync_total` | counter | namespace, name, project, dest_server, phase, dry_run |
//! | `argocd_app_reconcile` | histogram (Argo CD's buckets) | namespace, dest_server |
//! | `argocd_app_k8s_request_total` | counter | namespace, name, project, server, response_code, verb, resource_kind (the plural resource), resource_namespace, dry_run (of the request) |
//! | `argocd_cluster_info` | gauge (always 1) | server, k8s_version, name |
//! | `argocd_git_request_total` | counter | repo, request_type |
//! | `argocd_git_request_duration_seconds` | histogram (Argo CD's buckets) | repo, request_type |

mod kube_layer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use kube_layer::{AppRef, KubeMetricsLayer, KubeMetricsService, for_app};

/// The content type of `GET /metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reconcile durations: from a no-op compare (~1 ms) to a sync that waits
/// for waves (a minute); longer ones land in `+Inf`.
const RECONCILE_BUCKETS: [f64; 15] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// API server round trips: a cached GET is about a millisecond; slow
/// admission webhooks and large lists take seconds.
pub(crate) const KUBE_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Git: a local `checkout` takes milliseconds, a first fetch of a large
/// repository minutes.
const GIT_BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];
/// Argo CD's buckets for `argocd_app_reconcile`, kept so that its
/// dashboards' quantiles mean the same.
const ARGO_RECONCILE_BUCKETS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
/// Argo CD's buckets for `argocd_git_request_duration_seconds`.
const ARGO_GIT_BUCKETS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 20.0];

/// Labels of one Application that do not depend on its status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppLabels {
    /// The Application's namespace.
    pub namespace: String,
    /// The Application's name.
    pub name: String,
    /// `spec.project`.
    pub project: String,
    /// `spec.destination.server`.
    pub dest_server: String,
    /// `spec.destination.namespace`.
    pub dest_namespace: String,
    /// `spec.source.repoURL`; any user and password in it are removed
    /// before it becomes a label.
    pub repo: String,
    /// Whether `spec.syncPolicy.automated` is set.
    pub autosync_enabled: bool,
    /// What is asked of the app now.
    pub operation: AppOperation,
}

/// The operation an app is asked for, as Argo CD's `argocd_app_info`
/// labels it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AppOperation {
    /// Nothing.
    #[default]
    None,
    /// A sync (`.operation.sync`).
    Sync,
    /// The app is being deleted.
    Delete,
}

impl AppOperation {
    fn label(self) -> &'static str {
        match self {
            AppOperation::None => "",
            AppOperation::Sync => "sync",
            AppOperation::Delete => "delete",
        }
    }
}

/// An app's label values, kept once per app and shared by its series:
/// a series holds pointers to them rather than copies (a thousand apps
/// have several thousand series).
#[derive(Clone, Debug, Default)]
struct Shared {
    namespace: Arc<str>,
    name: Arc<str>,
    project: Arc<str>,
    dest_server: Arc<str>,
    dest_namespace: Arc<str>,
    /// Without a user and password (see [`redact_repo`]).
    repo: Arc<str>,
}

impl Shared {
    /// The values of `app`, reusing those kept that did not change.
    fn update(&mut self, app: &AppLabels) -> Shared {
        fn keep(kept: &mut Arc<str>, value: &str) {
            if **kept != *value {
                *kept = Arc::from(value);
            }
        }
        keep(&mut self.namespace, &app.namespace);
        keep(&mut self.name, &app.name);
        keep(&mut self.project, &app.project);
        keep(&mut self.dest_server, &app.dest_server);
        keep(&mut self.dest_namespace, &app.dest_namespace);
        keep(&mut self.repo, &redact_repo(&app.repo));
        self.clone()
    }
}

/// One `driftless_app_info` series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppInfo {
    namespace: Arc<str>,
    name: Arc<str>,
    project: Arc<str>,
    dest_server: Arc<str>,
    dest_namespace: Arc<str>,
    sync_status: Arc<str>,
    health_status: Arc<str>,
    repo: Arc<str>,
}

/// One `argocd_app_info` series, with Argo CD's labels in its order.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArgoAppInfo {
    namespace: Arc<str>,
    name: Arc<str>,
    project: Arc<str>,
    autosync_enabled: &'static str,
    repo: Arc<str>,
    dest_server: Arc<str>,
    dest_namespace: Arc<str>,
    sync_status: Arc<str>,
    health_status: Arc<str>,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArgoSyncLabels {
    namespace: Arc<str>,
    name: Arc<str>,
    project: Arc<str>,
    dest_server: Arc<str>,
    phase: String,
    dry_run: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArgoReconcileLabels {
    namespace: String,
    dest_server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArgoGitLabels {
    repo: String,
    request_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArgoClusterInfo {
    server: String,
    k8s_version: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    namespace: Arc<str>,
    name: Arc<str>,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitLabels {
    repo: String,
    request: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitRequestLabel {
    request: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RenderLabel {
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    name: String,
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterInfoLabels {
    name: String,
    server: String,
    k8s_version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabel {
    replica: String,
}

/// One destination cluster as the controller last saw it.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// How Applications name it.
    pub name: String,
    /// Its API server's URL.
    pub server: String,
    /// Its Kubernetes version, if it answered.
    pub version: String,
    /// Whether it answered the last probe.
    pub up: bool,
    /// Applications deployed to it.
    pub apps: usize,
    /// Objects those apps manage there.
    pub objects: usize,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// What is remembered per app, so that its series can be replaced and
/// removed: the label values are only known to the caller at the time.
#[derive(Default)]
struct AppSeries {
    labels: Shared,
    info: Option<(AppInfo, ArgoAppInfo)>,
    /// Since when the app has been OutOfSync without a break, as this
    /// process saw it.
    out_of_sync_since: Option<(std::time::Instant, AppKey)>,
    sync_phases: Vec<String>,
    argo_syncs: Vec<ArgoSyncLabels>,
}

struct Inner {
    registry: Registry,
    app_info: Family<AppInfo, Gauge>,
    apps: Mutex<HashMap<(String, String), AppSeries>>,
    reconcile: HistogramFamily<ResultLabel>,
    syncs: Family<SyncLabels, Counter>,
    kube: kube_layer::KubeMetrics,
    git_requests: Family<GitLabels, Counter>,
    git_durations: HistogramFamily<GitRequestLabel>,
    renders: Family<RenderLabel, Counter>,
    events_dropped: Family<DropLabel, Counter>,
    queue_depth: Gauge,
    in_flight: Gauge,
    cluster_info: Family<ClusterInfoLabels, Gauge>,
    cluster_up: Family<ClusterLabels, Gauge>,
    cluster_apps: Family<ClusterLabels, Gauge>,
    cluster_objects: Family<ClusterLabels, Gauge>,
    shard_apps: Family<ReplicaLabel, Gauge>,
    shard_members: Gauge,
    out_of_sync: Family<AppKey, Gauge<f64, std::sync::atomic::AtomicU64>>,
    deliveries: Family<DeliveryLabels, Counter>,
    trigger_evals: Family<TriggerLabels, Counter>,
    argo: ArgoFamilies,
}

/// One app, for series that need no more labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppKey {
    namespace: Arc<str>,
    name: Arc<str>,
    project: Arc<str>,
}

/// A notification delivery, as Argo CD's `argocd_notifications_deliveries_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    trigger: String,
    service: String,
    succeeded: &'static str,
}

/// A trigger's evaluation, as Argo CD's `argocd_notifications_trigger_eval_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabels {
    name: String,
    triggered: &'static str,
}

/// Argo CD's series, under its names.
struct ArgoFamilies {
    app_info: Family<ArgoAppInfo, Gauge>,
    syncs: Family<ArgoSyncLabels, Counter>,
    reconcile: HistogramFamily<ArgoReconcileLabels>,
    cluster_info: Family<ArgoClusterInfo, Gauge>,
    git_requests: Family<ArgoGitLabels, Counter>,
    git_durations: HistogramFamily<ArgoGitLabels>,
}

impl ArgoFamilies {
    fn register(registry: &mut Registry, kube: &kube_layer::KubeMetrics) -> ArgoFamilies {
        let f = ArgoFamilies {
            app_info: Family::default(),
            syncs: Family::default(),
            reconcile: Family::new_with_constructor(|| Histogram::new(ARGO_RECONCILE_BUCKETS)),
            cluster_info: Family::default(),
            git_requests: Family::default(),
            git_durations: Family::new_with_constructor(|| Histogram::new(ARGO_GIT_BUCKETS)),
        };
        registry.register("argocd_app_info", "Information about application.", f.app_info.clone());
        registry.register("argocd_app_sync", "Number of application syncs.", f.syncs.clone());
        registry.register("argocd_app_reconcile", "Application reconciliation performance in seconds.", f.reconcile.clone());
        registry.register(
            "argocd_app_k8s_request",
            "Number of kubernetes requests executed during application reconciliation.",
            kube.argo_requests.clone(),
        );
        registry.register("argocd_cluster_info", "Information about cluster.", f.cluster_info.clone());
        registry.register("argocd_git_request", "Number of git requests performed by repo server", f.git_requests.clone());
        registry.register_with_unit(
            "argocd_git_request_duration",
            "Git requests duration seconds.",
            Unit::Seconds,
            f.git_durations.clone(),
        );
        f
    }
}

/// The metrics of one driftless process: a cloneable handle (an `Arc`)
/// that owns its registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every driftless metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let app_info = Family::<AppInfo, Gauge>::default();
        registry.register(
            "driftless_app_info",
            "Information about an Application (always 1), like Argo CD's argocd_app_info",
            app_info.clone(),
        );
        let reconcile: HistogramFamily<ResultLabel> = Family::new_with_constructor(|| Histogram::new(RECONCILE_BUCKETS));
        registry.register_with_unit(
            "driftless_app_reconcile",
            "Duration of one reconcile of one Application, by result (ok|error)",
            Unit::Seconds,
            reconcile.clone(),
        );
        let syncs = Family::<SyncLabels, Counter>::default();
        registry.register("driftless_app_sync", "Sync operations finished, by phase, like Argo CD's argocd_app_sync_total", syncs.clone());
        let kube = kube_layer::KubeMetrics::new();
        registry.register(
            "driftless_kube_requests",
            "Requests to the Kubernetes API server, by verb and HTTP status (or \"error\"); a watch counts once, when it starts",
            kube.requests.clone(),
        );
        registry.register_with_unit(
            "driftless_kube_request_duration",
            "Time until the Kubernetes API server's response headers arrive, by verb",
            Unit::Seconds,
            kube.durations.clone(),
        );
        let git_requests = Family::<GitLabels, Counter>::default();
        registry.register("driftless_git_requests", "Git operations, by repository, request and result", git_requests.clone());
        let git_durations: HistogramFamily<GitRequestLabel> = Family::new_with_constructor(|| Histogram::new(GIT_BUCKETS));
        registry.register_with_unit(
            "driftless_git_request_duration",
            "Duration of Git operations, by request (fetch|ls-remote|checkout)",
            Unit::Seconds,
            git_durations.clone(),
        );
        let renders = Family::<RenderLabel, Counter>::default();
        registry.register(
            "driftless_renders",
            "Sources rendered for a comparison, by whether the render cache had it (hit: no file it read changed) or not (miss)",
            renders.clone(),
        );
        let events_dropped = Family::<DropLabel, Counter>::default();
        registry.register(
            "driftless_events_dropped",
            "App events not recorded as Kubernetes Events, by cause: full (the recorder fell behind) or rejected (the API server refused the write)",
            events_dropped.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register("driftless_workqueue_depth", "Applications waiting to be reconciled", queue_depth.clone());
        let in_flight = Gauge::default();
        registry.register("driftless_reconciles_in_flight", "Reconciles running now", in_flight.clone());
        let cluster_info = Family::<ClusterInfoLabels, Gauge>::default();
        registry.register(
            "driftless_cluster_info",
            "A destination cluster (always 1), like Argo CD's argocd_cluster_info",
            cluster_info.clone(),
        );
        let cluster_up = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "driftless_cluster_connection_status",
            "1 when the cluster answered the last probe, else 0, like Argo CD's argocd_cluster_connection_status",
            cluster_up.clone(),
        );
        let cluster_apps = Family::<ClusterLabels, Gauge>::default();
        registry.register("driftless_cluster_apps", "Applications deployed to the cluster", cluster_apps.clone());
        let cluster_objects = Family::<ClusterLabels, Gauge>::default();
        registry.register("driftless_cluster_objects", "Objects apps manage in the cluster, by the live watches", cluster_objects.clone());
        let shard_apps = Family::<ReplicaLabel, Gauge>::default();
        registry.register("driftless_shard_apps", "Applications this controller replica holds (with --sharded)", shard_apps.clone());
        let shard_members = Gauge::default();
        registry.register("driftless_shard_members", "Controller replicas sharing the apps, as this one sees them", shard_members.clone());
        let out_of_sync = Family::<AppKey, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register_with_unit(
            "driftless_app_out_of_sync",
            "How long an Application has been OutOfSync without a break (as this controller saw it); no series while Synced",
            Unit::Seconds,
            out_of_sync.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "driftless_notifications_deliveries",
            "Notifications sent (after retries), by trigger, service and whether it succeeded",
            deliveries.clone(),
        );
        registry.register("argocd_notifications_deliveries", "Number of delivered notifications (Argo CD's name)", deliveries.clone());
        let trigger_evals = Family::<TriggerLabels, Counter>::default();
        registry.register("argocd_notifications_trigger_eval", "Number of trigger evaluations (Argo CD's name)", trigger_evals.clone());
        let argo = ArgoFamilies::register(&mut registry, &kube);
        Metrics {
            inner: Arc::new(Inner {
                registry,
                app_info,
                apps: Mutex::new(HashMap::new()),
                reconcile,
                syncs,
                kube,
                git_requests,
                git_durations,
                renders,
                events_dropped,
                queue_depth,
                in_flight,
                cluster_info,
                cluster_up,
                cluster_apps,
                cluster_objects,
                shard_apps,
                shard_members,
                out_of_sync,
                deliveries,
                trigger_evals,
                argo,
            }),
        }
    }

    /// Replaces the cluster series with `clusters`: a cluster whose Secret
    /// is gone leaves no series behind.
    pub fn clusters(&self, clusters: &[ClusterState]) {
        let i = &self.inner;
        i.cluster_info.clear();
        i.cluster_up.clear();
        i.cluster_apps.clear();
        i.cluster_objects.clear();
        i.argo.cluster_info.clear();
        for c in clusters {
            i.argo
                .cluster_info
                .get_or_create(&ArgoClusterInfo { server: c.server.clone(), k8s_version: c.version.clone(), name: c.name.clone() })
                .set(1);
            let labels = ClusterLabels { name: c.name.clone(), server: c.server.clone() };
            i.cluster_info
                .get_or_create(&ClusterInfoLabels { name: c.name.clone(), server: c.server.clone(), k8s_version: c.version.clone() })
                .set(1);
            i.cluster_up.get_or_create(&labels).set(i64::from(c.up));
            i.cluster_apps.get_or_create(&labels).set(c.apps as i64);
            i.cluster_objects.get_or_create(&labels).set(c.objects as i64);
        }
    }

    /// Publishes this replica's share: how many apps it holds, among how
    /// many replicas.
    pub fn shard(&self, replica: &str, members: usize, apps: usize) {
        self.inner.shard_apps.clear();
        self.inner.shard_apps.get_or_create(&ReplicaLabel { replica: replica.to_string() }).set(apps as i64);
        self.inner.shard_members.set(members as i64);
    }

    /// Sets `driftless_app_info` and `argocd_app_info` of `app` to 1 with
    /// the given sync and health status, removing the app's previous series
    /// when any label changed, so that each app has exactly one series.
    pub fn app_status(&self, app: &AppLabels, sync: &str, health: &str) {
        let out_of_sync = sync == "OutOfSync";
        // The lock covers the remove and the set, so that two concurrent
        // reports for one app cannot leave two series behind.
        let mut apps = self.apps();
        let series = series_of(&mut apps, app);
        let shared = series.labels.update(app);
        // Unchanged status values are shared with the series kept too.
        let (sync, health) = match &series.info {
            Some((i, _)) if *i.sync_status == *sync && *i.health_status == *health => (i.sync_status.clone(), i.health_status.clone()),
            _ => (Arc::from(sync), Arc::from(health)),
        };
        let argo = ArgoAppInfo {
            namespace: shared.namespace.clone(),
            name: shared.name.clone(),
            project: shared.project.clone(),
            autosync_enabled: if app.autosync_enabled { "true" } else { "false" },
            repo: shared.repo.clone(),
            dest_server: shared.dest_server.clone(),
            dest_namespace: shared.dest_namespace.clone(),
            sync_status: sync.clone(),
            health_status: health.clone(),
            operation: app.operation.label(),
        };
        let key = AppKey { namespace: shared.namespace.clone(), name: shared.name.clone(), project: shared.project.clone() };
        let info = AppInfo {
            namespace: shared.namespace,
            name: shared.name,
            project: shared.project,
            dest_server: shared.dest_server,
            dest_namespace: shared.dest_namespace,
            sync_status: sync,
            health_status: health,
            repo: shared.repo,
        };
        match (&series.out_of_sync_since, out_of_sync) {
            (Some((_, was)), true) if *was == key => {}
            (Some((since, was)), true) => {
                // The project moved: the same drift, under new labels.
                self.inner.out_of_sync.remove(was);
                series.out_of_sync_since = Some((*since, key));
            }
            (None, true) => series.out_of_sync_since = Some((std::time::Instant::now(), key)),
            (Some((_, was)), false) => {
                self.inner.out_of_sync.remove(was);
                series.out_of_sync_since = None;
            }
            (None, false) => {}
        }
        if series.info.as_ref().is_some_and(|(i, a)| *i == info && *a == argo) {
            return;
        }
        if let Some((old, old_argo)) = series.info.take() {
            self.inner.app_info.remove(&old);
            self.inner.argo.app_info.remove(&old_argo);
        }
        self.inner.app_info.get_or_create(&info).set(1);
        self.inner.argo.app_info.get_or_create(&argo).set(1);
        series.info = Some((info, argo));
    }

    /// Removes every per-app series of a deleted app (`driftless_app_info`,
    /// `driftless_app_sync_total` and Argo CD's): deleted apps must not
    /// keep series forever, or the number of series only grows.
    pub fn forget_app(&self, namespace: &str, name: &str) {
        let Some(series) = self.apps().remove(&(namespace.to_owned(), name.to_owned())) else { return };
        if let Some((_, key)) = series.out_of_sync_since {
            self.inner.out_of_sync.remove(&key);
        }
        if let Some((info, argo)) = series.info {
            self.inner.app_info.remove(&info);
            self.inner.argo.app_info.remove(&argo);
        }
        for phase in series.sync_phases {
            self.inner.syncs.remove(&SyncLabels { namespace: namespace.into(), name: name.into(), phase });
        }
        for labels in series.argo_syncs {
            self.inner.argo.syncs.remove(&labels);
        }
    }

    /// Records one reconcile of `app` that took `seconds` in
    /// `driftless_app_reconcile_seconds{result="ok"|"error"}` and Argo CD's
    /// `argocd_app_reconcile{namespace,dest_server}`.
    pub fn observe_reconcile(&self, app: &AppLabels, seconds: f64, ok: bool) {
        self.inner.reconcile.get_or_create(&ResultLabel { result: result(ok) }).observe(seconds);
        let labels = ArgoReconcileLabels { namespace: app.namespace.clone(), dest_server: app.dest_server.clone() };
        self.inner.argo.reconcile.get_or_create(&labels).observe(seconds);
    }

    /// Counts a finished sync operation of an app (phase `Succeeded`,
    /// `Failed` or `Error`) in Argo CD's `argocd_app_sync_total`, and in
    /// `driftless_app_sync_total` unless it was a dry run.
    pub fn sync_finished(&self, app: &AppLabels, phase: &str, dry_run: bool) {
        let argo = {
            // Remember the series so that `forget_app` can remove them.
            let mut apps = self.apps();
            let series = series_of(&mut apps, app);
            let shared = series.labels.update(app);
            let argo = ArgoSyncLabels {
                namespace: shared.namespace,
                name: shared.name,
                project: shared.project,
                dest_server: shared.dest_server,
                phase: phase.to_owned(),
                dry_run: if dry_run { "true" } else { "false" },
            };
            if !dry_run && !series.sync_phases.iter().any(|p| p == phase) {
                series.sync_phases.push(phase.to_owned());
            }
            if !series.argo_syncs.contains(&argo) {
                series.argo_syncs.push(argo.clone());
            }
            argo
        };
        self.inner.argo.syncs.get_or_create(&argo).inc();
        if !dry_run {
            let labels = SyncLabels { namespace: argo.namespace, name: argo.name, phase: argo.phase };
            self.inner.syncs.get_or_create(&labels).inc();
        }
    }

    /// The app whose reconcile [`for_app`] scopes: its requests' series
    /// share the app's label values with its other series.
    pub fn app_ref(&self, app: &AppLabels) -> AppRef {
        let mut apps = self.apps();
        let shared = series_of(&mut apps, app).labels.update(app);
        AppRef { namespace: shared.namespace, name: shared.name, project: shared.project }
    }

    /// A [`tower::Layer`] counting the requests of a `kube::Client` to the
    /// API server at `server` in `driftless_kube_requests_total` and
    /// `argocd_app_k8s_request_total`, and timing them in
    /// `driftless_kube_request_duration_seconds`; use it with
    /// `kube::client::ClientBuilder::with_layer`.
    pub fn kube_layer(&self, server: &str) -> KubeMetricsLayer {
        KubeMetricsLayer::new(self.inner.kube.clone(), server)
    }

    /// Records one Git operation on `repo` (`fetch`, `ls-remote` or
    /// `checkout`) that took `seconds`. Any user and password in `repo` are
    /// removed before it becomes a label.
    pub fn git_request(&self, repo: &str, request: &str, seconds: f64, ok: bool) {
        let repo = redact_repo(repo);
        self.inner.git_requests.get_or_create(&GitLabels { repo: repo.clone(), request: request.into(), result: result(ok) }).inc();
        self.inner.git_durations.get_or_create(&GitRequestLabel { request: request.into() }).observe(seconds);
        let argo = ArgoGitLabels { repo, request_type: request.into() };
        self.inner.argo.git_requests.get_or_create(&argo).inc();
        self.inner.argo.git_durations.get_or_create(&argo).observe(seconds);
    }

    /// Counts one source rendered for a comparison in
    /// `driftless_renders_total{cache="hit"|"miss"}`.
    pub fn render(&self, cache_hit: bool) {
        self.inner.renders.get_or_create(&RenderLabel { cache: if cache_hit { "hit" } else { "miss" } }).inc();
    }

    /// Counts `n` app events the recorder did not write as Kubernetes Events
    /// in `driftless_events_dropped_total{cause}`: `full` when it fell
    /// behind, `rejected` when the API server refused one.
    pub fn events_dropped(&self, cause: &'static str, n: u64) {
        self.inner.events_dropped.get_or_create(&DropLabel { cause }).inc_by(n);
    }

    /// Sets `driftless_workqueue_depth`.
    pub fn set_queue_depth(&self, n: i64) {
        self.inner.queue_depth.set(n);
    }

    /// Counts a reconcile in `driftless_reconciles_in_flight` until the
    /// returned guard is dropped (also when the reconcile panics or its
    /// future is cancelled).
    #[must_use = "the reconcile counts as running only while the guard lives"]
    pub fn reconcile_started(&self) -> InFlightGuard {
        self.inner.in_flight.inc();
        InFlightGuard { gauge: self.inner.in_flight.clone() }
    }

    /// Every metric as OpenMetrics text (ending with `# EOF`).
    pub fn encode(&self) -> String {
        // Durations are as of the scrape.
        for series in self.apps().values() {
            if let Some((since, key)) = &series.out_of_sync_since {
                self.inner.out_of_sync.get_or_create(key).set(since.elapsed().as_secs_f64());
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail, and every label value is
        // escaped by the encoder; an error would be a bug in the encoder,
        // in which case whatever was written is still the best answer.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// Counts a notification sent to `service` for `trigger`, after its
    /// retries.
    pub fn notification_delivered(&self, trigger: &str, service: &str, succeeded: bool) {
        let labels = DeliveryLabels {
            trigger: trigger.to_owned(),
            service: service.to_owned(),
            succeeded: if succeeded { "true" } else { "false" },
        };
        self.inner.deliveries.get_or_create(&labels).inc();
    }

    /// Counts one evaluation of a trigger's condition.
    pub fn trigger_evaluated(&self, trigger: &str, triggered: bool) {
        let labels = TriggerLabels { name: trigger.to_owned(), triggered: if triggered { "true" } else { "false" } };
        self.inner.trigger_evals.get_or_create(&labels).inc();
    }

    /// An axum router with `GET /metrics` (OpenMetrics text) and
    /// `GET /healthz` (`ok`).
    pub fn router(&self) -> Router {
        let metrics = self.clone();
        Router::new()
            .route("/metrics", get(move || async move { ([(CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], metrics.encode()).into_response() }))
            .route("/healthz", get(|| async { "ok" }))
    }

    fn apps(&self) -> MutexGuard<'_, HashMap<(String, String), AppSeries>> {
        // A panic while holding the lock leaves the map consistent (every
        // update is a single insert or remove), so poisoning is ignored
        // rather than disabling metrics for the rest of the process.
        self.inner.apps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The series kept for `app`.
fn series_of<'a>(apps: &'a mut HashMap<(String, String), AppSeries>, app: &AppLabels) -> &'a mut AppSeries {
    apps.entry((app.namespace.clone(), app.name.clone())).or_default()
}

/// Keeps a reconcile counted in `driftless_reconciles_in_flight`;
/// decrements it when dropped.
#[derive(Debug)]
pub struct InFlightGuard {
    gauge: Gauge,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

fn result(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}

/// `repo` without the user and password of a URL (`https://user:token@host/x`
/// -> `https://host/x`): metrics are readable by anyone who can scrape, and
/// a token in a label would leak. scp-like addresses (`git@host:x`) keep
/// their user, which is not a secret.
fn redact_repo(repo: &str) -> String {
    let Some((scheme, rest)) = repo.split_once("://") else { return repo.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => repo.to_owned(),
    }
}

/// Why [`serve`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address is taken by another process (or another listener).
    #[error("cannot serve metrics on {addr}: the address is already in use")]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Listening failed for another reason (no permission, address not local).
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Serving failed after the listener was bound.
    #[error("serving metrics on {addr}: {source}")]
    Serve {
        /// The address served.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
}

/// Serves `router` on `addr` until `shutdown` resolves (in-flight requests
/// are finished first). A taken port is [`Error::AddrInUse`], naming the
/// address.
pub async fn serve(addr: SocketAddr, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => Error::AddrInUse { addr },
        _ => Error::Bind { addr, source },
    })?;
    serve_listener(listener, router, shutdown).await
}

/// Like [`serve`], on a listener the caller has bound (for port 0, whose
/// actual port only the listener knows).
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(|source| Error::Bind { addr: SocketAddr::from(([0, 0, 0, 0], 0)), source })?;
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(|source| Error::Serve { addr, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppLabels {
        AppLabels {
            namespace: "argocd".into(),
            name: "guestbook".into(),
            project: "default".into(),
            dest_server: "https://kubernetes.default.svc".into(),
            dest_namespace: "guestbook".into(),
            repo: "https://github.com/argoproj/argocd-example-apps".into(),
            autosync_enabled: true,
            operation: AppOperation::None,
        }
    }

    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines().filter(|l| l.starts_with(prefix)).map(str::to_owned).collect()
    }

    #[test]
    fn app_info_has_one_series_per_app_and_forget_removes_it() {
        let m = Metrics::new();
        m.app_status(&app(), "OutOfSync", "Progressing");
        m.app_status(&app(), "Synced", "Healthy");
        m.app_status(&app(), "Synced", "Healthy");
        let text = m.encode();
        let info = lines(&text, "driftless_app_info{");
        assert_eq!(info.len(), 1, "{text}");
        assert!(info[0].contains(r#"sync_status="Synced""#) && info[0].contains(r#"health_status="Healthy""#), "{}", info[0]);
        assert!(info[0].ends_with(" 1"), "{}", info[0]);

        let mut other = app();
        other.name = "other".into();
        m.app_status(&other, "Synced", "Healthy");
        m.sync_finished(&app(), "Succeeded", false);
        m.sync_finished(&app(), "Succeeded", true);
        let text = m.encode();
        assert_eq!(lines(&text, "argocd_app_info{").len(), 2, "{text}");
        assert_eq!(lines(&text, "argocd_app_sync_total{").len(), 2, "{text}");
        m.forget_app("argocd", "guestbook");
        let text = m.encode();
        let info = lines(&text, "driftless_app_info{");
        assert_eq!(info.len(), 1, "{text}");
        assert!(info[0].contains(r#"name="other""#));
        assert!(lines(&text, "driftless_app_sync_total{").is_empty(), "{text}");
        assert_eq!(lines(&text, "argocd_app_info{").len(), 1, "{text}");
        assert!(lines(&text, "argocd_app_sync_total{").is_empty(), "{text}");
        // Forgetting an unknown app is harmless.
        m.forget_app("argocd", "never-seen");
    }

    #[test]
    fn an_apps_series_share_its_label_values_and_follow_their_change() {
        let m = Metrics::new();
        m.app_status(&app(), "Synced", "Healthy");
        m.sync_finished(&app(), "Succeeded", false);
        let first = m.app_ref(&app());
        let again = m.app_ref(&app());
        // One copy of each value for every series of the app, however many
        // reconciles ask.
        assert!(Arc::ptr_eq(&first.name, &again.name) && Arc::ptr_eq(&first.project, &again.project));
        let kept = m.apps().get(&("argocd".to_owned(), "guestbook".to_owned())).unwrap().info.clone().unwrap();
        assert!(Arc::ptr_eq(&kept.0.name, &first.name) && Arc::ptr_eq(&kept.1.namespace, &first.namespace));
        let moved = AppLabels { project: "payments".into(), ..app() };
        assert_eq!(&*m.app_ref(&moved).project, "payments");
        assert!(Arc::ptr_eq(&m.app_ref(&moved).name, &first.name), "unchanged values stay shared");
        m.app_status(&moved, "Synced", "Healthy");
        let info = lines(&m.encode(), "argocd_app_info{");
        assert_eq!(info.len(), 1, "{info:?}");
        assert!(info[0].contains(r#"project="payments""#), "{}", info[0]);
    }

    #[test]
    fn out_of_sync_seconds_grow_while_out_of_sync_and_vanish_once_synced() {
        let m = Metrics::new();
        m.app_status(&app(), "Synced", "Healthy");
        assert!(lines(&m.encode(), "driftless_app_out_of_sync_seconds{").is_empty());
        m.app_status(&app(), "OutOfSync", "Healthy");
        let value = |text: &str| -> f64 {
            let l = lines(text, "driftless_app_out_of_sync_seconds{");
            assert_eq!(l.len(), 1, "{text}");
            assert!(l[0].contains(r#"name="guestbook""#) && l[0].contains(r#"project="default""#), "{}", l[0]);
            l[0].rsplit(' ').next().unwrap().parse().unwrap()
        };
        let first = value(&m.encode());
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Another OutOfSync report keeps the start of the drift.
        m.app_status(&app(), "OutOfSync", "Progressing");
        assert!(value(&m.encode()) > first);
        m.app_status(&app(), "Synced", "Healthy");
        assert!(lines(&m.encode(), "driftless_app_out_of_sync_seconds{").is_empty());
        m.app_status(&app(), "OutOfSync", "Healthy");
        m.forget_app("argocd", "guestbook");
        assert!(lines(&m.encode(), "driftless_app_out_of_sync_seconds{").is_empty());
    }

    #[test]
    fn notification_counters_use_argo_cd_names_too() {
        let m = Metrics::new();
        m.notification_delivered("on-sync-succeeded", "slack", true);
        m.trigger_evaluated("on-sync-succeeded", false);
        let text = m.encode();
        assert_eq!(lines(&text, "argocd_notifications_deliveries_total{").len(), 1, "{text}");
        assert_eq!(lines(&text, "driftless_notifications_deliveries_total{").len(), 1, "{text}");
        assert_eq!(
            lines(&text, r#"argocd_notifications_trigger_eval_total{name="on-sync-succeeded",triggered="false"}"#).len(),
            1,
            "{text}"
        );
    }

    #[test]
    fn sync_counter_counts_per_phase() {
        let m = Metrics::new();
        let a = AppLabels { namespace: "ns".into(), name: "a".into(), project: "p".into(), dest_server: "https://d".into(), ..app() };
        m.sync_finished(&a, "Succeeded", false);
        m.sync_finished(&a, "Succeeded", false);
        m.sync_finished(&a, "Failed", false);
        m.sync_finished(&a, "Failed", true);
        let text = m.encode();
        assert!(text.contains(r#"driftless_app_sync_total{namespace="ns",name="a",phase="Succeeded"} 2"#), "{text}");
        assert!(text.contains(r#"driftless_app_sync_total{namespace="ns",name="a",phase="Failed"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"argocd_app_sync_total{namespace="ns",name="a",project="p",dest_server="https://d",phase="Succeeded",dry_run="false"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"argocd_app_sync_total{namespace="ns",name="a",project="p",dest_server="https://d",phase="Failed",dry_run="true"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn histograms_and_gauges() {
        let m = Metrics::new();
        m.observe_reconcile(&app(), 0.02, true);
        m.observe_reconcile(&app(), 120.0, false);
        m.git_request("https://user:s3cret@git.example/r.git", "fetch", 0.3, true);
        m.set_queue_depth(7);
        let guard = m.reconcile_started();
        let _second = m.reconcile_started();
        drop(guard);
        let text = m.encode();
        assert!(text.contains("# TYPE driftless_app_reconcile_seconds histogram"), "{text}");
        assert!(text.contains(r#"driftless_app_reconcile_seconds_count{result="ok"} 1"#), "{text}");
        assert!(text.contains(r#"driftless_app_reconcile_seconds_bucket{le="0.025",result="ok"} 1"#), "{text}");
        assert!(text.contains(r#"driftless_app_reconcile_seconds_bucket{le="60.0",result="error"} 0"#), "{text}");
        assert!(text.contains(r#"driftless_app_reconcile_seconds_bucket{le="+Inf",result="error"} 1"#), "{text}");
        assert!(text.contains(r#"driftless_git_requests_total{repo="https://git.example/r.git",request="fetch",result="ok"} 1"#), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains(r#"driftless_git_request_duration_seconds_count{request="fetch"} 1"#), "{text}");
        assert!(text.contains("driftless_workqueue_depth 7"), "{text}");
        assert!(
            text.contains(r#"argocd_app_reconcile_bucket{le="0.25",namespace="argocd",dest_server="https://kubernetes.default.svc"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"argocd_app_reconcile_count{namespace="argocd",dest_server="https://kubernetes.default.svc"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"argocd_git_request_total{repo="https://git.example/r.git",request_type="fetch"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"argocd_git_request_duration_seconds_bucket{le="0.5",repo="https://git.example/r.git",request_type="fetch"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("driftless_reconciles_in_flight 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn repo_credentials_are_removed() {
        assert_eq!(redact_repo("https://u:p@host/a/b"), "https://host/a/b");
        assert_eq!(redact_repo("https://tok@host:8443/a@b"), "https://host:8443/a@b");
        assert_eq!(redact_repo("https://host/a@b"), "https://host/a@b");
        assert_eq!(redact_repo("git@github.com:org/r.git"), "git@github.com:org/r.git");
        assert_eq!(redact_repo("ssh://git@host/r"), "ssh://host/r");
        assert_eq!(redact_repo(""), "");
    }

    #[test]
    fn handle_is_send_sync_and_shares_the_registry() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Metrics>();
        assert_send_sync::<KubeMetricsLayer>();
        let m = Metrics::new();
        m.clone().set_queue_depth(3);
        assert!(m.encode().contains("driftless_workqueue_depth 3"));
    }
}
