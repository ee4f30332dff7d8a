//! One reconcile of one Application: compare with Git, sync if asked or
//! automated, report status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::{ANNOTATION_REFRESH, AppProject, Application, ApplicationStatus, RESOURCES_FINALIZER, SyncStatusCode, condition};
use driftless_diff::DiffOptions;
use driftless_health::CustomChecks;
use driftless_render::RenderCache;
use driftless_source::GitCache;
use driftless_sync::app_instance_name;
use driftless_sync::cluster::Cluster;
use driftless_sync::compare::{CompareOptions, DryRunMemo, Scope, compare};
use futures::FutureExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};

use crate::desired::{desired, short};
use crate::status::AppWriter;
use crate::{Config, operation, project, status};

/// What every reconcile shares.
pub struct Context {
    /// Live-state watches that wake apps when their objects change.
    pub(crate) live: crate::live::LiveWatches,
    /// Apps woken and not yet reconciled.
    pub(crate) queue: crate::queue::Pending,
    /// The last desired state of each app, reused when a live event (not
    /// Git) woke the reconcile.
    desired_cache: Mutex<HashMap<ObjectRef<Application>, CachedDesired>>,
    /// Consecutive self-heals per app, for their back-off.
    heals: Mutex<HashMap<ObjectRef<Application>, (u32, Instant)>>,
    /// What each app's last reconcile wrote, to tell stale copies.
    writes: status::WriteLog,
    /// The API server.
    pub client: kube::Client,
    /// The destination cluster (in-cluster only, for now).
    pub cluster: Cluster,
    /// Git mirrors and checkouts.
    pub git: Arc<GitCache>,
    /// Renders kept while the files they read are unchanged.
    pub(crate) renders: Arc<RenderCache>,
    /// Dry-run verdicts kept while manifest and live object are unchanged
    /// (only where live watches keep comparisons coming: a one-off
    /// comparison wants the full predicted objects).
    memo: Option<DryRunMemo>,
    /// What the controller's watches keep.
    stores: Stores,
    /// Settings.
    pub config: Config,
}

impl Context {
    /// A context over `client` with no live watches (for one-off
    /// comparisons such as `driftless app diff`).
    pub fn new(client: kube::Client, config: Config) -> Context {
        Context { memo: None, ..Context::with_routes(client, config, Vec::new(), Stores::default()) }
    }

    /// A context whose live watches wake apps through `routes`.
    pub(crate) fn with_routes(client: kube::Client, config: Config, routes: crate::live::Routes, stores: Stores) -> Context {
        Context {
            live: crate::live::LiveWatches::new(routes),
            queue: crate::queue::Pending::new(config.metrics.clone()),
            desired_cache: Mutex::default(),
            heals: Mutex::default(),
            writes: status::WriteLog::default(),
            cluster: Cluster::new(client.clone()),
            git: Arc::new(GitCache::new(config.cache_dir.join("git"))),
            renders: Arc::default(),
            memo: Some(DryRunMemo::default()),
            stores,
            client,
            config,
        }
    }

    /// The comparison settings for `app` (whose ignoreDifferences were
    /// validated when the reconcile began).
    pub fn compare_options<'a>(
        &'a self,
        app: &'a Application,
        status: &ApplicationStatus,
        health: &'a CustomChecks,
    ) -> CompareOptionsOwned<'a> {
        CompareOptionsOwned { tracked: Some(&self.live), memo: self.memo.as_ref(), ..CompareOptionsOwned::new(app, status, health) }
    }

    /// Custom health checks from the `argocd-cm` ConfigMap: from the watch
    /// once it has listed, else read afresh, so that an edit applies at the
    /// next reconcile. A broken check is logged and the built-in checks apply.
    pub async fn health_checks(&self) -> CustomChecks {
        let Some(ns) = &self.config.settings_namespace else { return CustomChecks::none() };
        let watched = self.stores.settings.as_ref().filter(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()));
        let data = match watched {
            Some(store) => store.get(&ObjectRef::new(SETTINGS_CONFIGMAP).within(ns)).and_then(|cm| cm.data.clone()),
            None => {
                let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
                match cms.get_opt(SETTINGS_CONFIGMAP).await {
                    Ok(cm) => cm.and_then(|cm| cm.data),
                    Err(e) => {
                        tracing::warn!("reading {SETTINGS_CONFIGMAP} in {ns}: {e}");
                        None
                    }
                }
            }
        };
        CustomChecks::from_argocd_cm(&data.unwrap_or_default()).unwrap_or_else(|e| {
            tracing::warn!("{SETTINGS_CONFIGMAP} in {ns}: {e}; using built-in health checks");
            CustomChecks::none()
        })
    }
}

impl Context {
    /// The dry-run verdicts, where this context keeps them.
    pub(crate) fn memo(&self) -> Option<&DryRunMemo> {
        self.memo.as_ref()
    }

    /// Whether someone asked to stop the operation running on `app`: Argo
    /// CD's terminate sets its phase to Terminating.
    pub(crate) fn terminating(&self, app: &Application) -> bool {
        let key = ObjectRef::from_obj(app);
        self.stores.apps.iter().filter_map(|s| s.get(&key)).any(|a| {
            a.status
                .as_ref()
                .and_then(|s| s.operation_state.as_ref())
                .is_some_and(|o| o.phase == driftless_api::OperationPhase::Terminating)
        })
    }
}

/// Objects the controller keeps by watching them (none for a one-off
/// comparison, which reads what it needs).
#[derive(Default)]
pub(crate) struct Stores {
    /// `argocd-cm`.
    pub settings: Option<Store<ConfigMap>>,
    /// AppProjects, per watched namespace.
    pub projects: Vec<Store<AppProject>>,
    /// The Applications: where a running sync learns that someone asked to
    /// terminate it.
    pub apps: Vec<Store<Application>>,
}

/// The ConfigMap that holds Argo CD's settings, custom health checks among them.
pub const SETTINGS_CONFIGMAP: &str = "argocd-cm";

/// A rendered desired state and what it was rendered from.
struct CachedDesired {
    /// The source, project and destination it was rendered for.
    inputs: String,
    fetched: Instant,
    desired: crate::desired::PackedDesired,
}

impl Context {
    /// The desired state of `app` at `revision`: from Git when asked to
    /// (a refresh, a changed spec, the resync period passed), else the last
    /// one rendered, so that a burst of live events costs no Git traffic.
    async fn desired_for(
        &self,
        app: &Application,
        project: &driftless_api::AppProject,
        source: &driftless_api::ApplicationSource,
        revision: &str,
        refresh: bool,
    ) -> Result<Arc<crate::desired::Desired>, String> {
        let key = ObjectRef::from_obj(app);
        let inputs =
            serde_json::to_string(&(source, &app.spec.sources, revision, &app.spec.destination, &project.spec)).unwrap_or_default();
        let max_age = self.config.resync.mul_f32(0.9);
        if !refresh {
            let cache = self.desired_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get(&key).filter(|c| c.inputs == inputs && c.fetched.elapsed() < max_age) {
                return c.desired.unpack().map(Arc::new);
            }
        }
        let d = Arc::new(desired(self, app, project, source, revision).await?);
        let packed = crate::desired::PackedDesired::pack(&d);
        self.desired_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, CachedDesired { inputs, fetched: Instant::now(), desired: packed });
        Ok(d)
    }

    /// Whether a self-heal of `app` may run now; if not, how long to wait.
    fn self_heal_allowed(&self, app: &Application) -> Result<(), Duration> {
        let key = ObjectRef::from_obj(app);
        let mut heals = self.heals.lock().unwrap_or_else(|p| p.into_inner());
        let (count, last) = heals.get(&key).copied().unwrap_or((0, Instant::now() - SELF_HEAL_RESET));
        let count = if last.elapsed() >= SELF_HEAL_RESET { 0 } else { count };
        let wait = if count == 0 {
            Duration::ZERO
        } else {
            self.config.self_heal_backoff.saturating_mul(1 << (count - 1).min(16)).min(SELF_HEAL_MAX)
        };
        if last.elapsed() < wait {
            return Err(wait - last.elapsed());
        }
        heals.insert(key, (count + 1, Instant::now()));
        Ok(())
    }

    /// Drops the kept renders of the app's sources (another app rendering
    /// the very same source renders it once more).
    fn forget_renders(&self, app: &Application) {
        for s in app.spec.source.iter().chain(&app.spec.sources) {
            self.renders.forget(&s.repo_url, s);
        }
    }

    /// Forgets what is cached about an app that is gone.
    pub(crate) fn forget(&self, app: &Application) {
        // A deleted app's renders would otherwise stay for good: preview
        // environments come and go by the thousand.
        self.forget_renders(app);
        let key = ObjectRef::from_obj(app);
        self.desired_cache.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        self.heals.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        self.writes.forget(app);
        if let Some(memo) = &self.memo {
            memo.forget(&instance(app));
        }
        self.config.metrics.forget_app(&app.namespace().unwrap_or_default(), &app.name_any());
        self.queue.done(&key);
    }
}

/// Self-heal back-off: the longest wait, and the quiet time that resets it.
const SELF_HEAL_MAX: Duration = Duration::from_secs(180);
const SELF_HEAL_RESET: Duration = Duration::from_secs(300);

/// [`CompareOptions`] with the data it borrows.
pub struct CompareOptionsOwned<'a> {
    instance: String,
    previously: Vec<Scope>,
    diff: DiffOptions,
    health: &'a CustomChecks,
    validate: bool,
    tracked: Option<&'a crate::live::LiveWatches>,
    memo: Option<&'a DryRunMemo>,
    fresh: Vec<(driftless_sync::ResourceKey, serde_json::Value)>,
}

impl<'a> CompareOptionsOwned<'a> {
    fn new(app: &'a Application, status: &ApplicationStatus, health: &'a CustomChecks) -> Self {
        let previously = status
            .resources
            .iter()
            .map(|r| Scope {
                api_version: if r.group.is_empty() { r.version.clone() } else { format!("{}/{}", r.group, r.version) },
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
            })
            .collect();
        let validate = !driftless_api::SyncOptions::parse(app.spec.sync_policy.iter().flat_map(|p| p.sync_options.iter())).no_validate;
        CompareOptionsOwned {
            instance: instance(app),
            previously,
            diff: DiffOptions::new(&app.spec.ignore_differences).unwrap_or_default(),
            health,
            validate,
            tracked: None,
            memo: None,
            fresh: Vec::new(),
        }
    }

    /// The borrowed view [`compare`] takes.
    pub fn options(&self) -> CompareOptions<'_> {
        CompareOptions {
            instance: &self.instance,
            previously: &self.previously,
            diff: &self.diff,
            health: self.health,
            validate: self.validate,
            tracked: self.tracked.map(|t| t as &(dyn driftless_sync::compare::TrackedIndex + Sync)),
            memo: self.memo,
            fresh: &self.fresh,
        }
    }
}

/// The app's name in tracking ids.
pub fn instance(app: &Application) -> String {
    app_instance_name(app.metadata.namespace.as_deref().unwrap_or(""), &app.name_any())
}

/// What wakes a reconcile: the user's intent (spec, a requested operation,
/// a refresh, deletion), not the status the controller writes.
pub fn trigger_hash(app: &Application) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&app.spec).unwrap_or_default().hash(&mut h);
    serde_json::to_string(&app.operation).unwrap_or_default().hash(&mut h);
    app.annotations().get(ANNOTATION_REFRESH).hash(&mut h);
    app.metadata.deletion_timestamp.is_some().hash(&mut h);
    app.finalizers().hash(&mut h);
    Some(h.finish())
}

/// Why a reconcile failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The API server failed.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Retries a failed reconcile with a short delay.
pub fn error_policy(app: Arc<Application>, err: &ReconcileError, _: Arc<Context>) -> Action {
    tracing::warn!(app = %app.name_any(), "reconcile failed: {err}");
    Action::requeue(Duration::from_secs(5))
}

/// Compares `app` with Git, syncs when asked to, writes status; timed.
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    ctx.queue.done(&ObjectRef::from_obj(&*app));
    if ctx.writes.stale(&app) {
        // The watch event of the last write is moments away, and wakes
        // nothing (status is not a trigger): look again shortly.
        return Ok(Action::requeue(STALE_RETRY));
    }
    let _in_flight = ctx.config.metrics.reconcile_started();
    let started = Instant::now();
    let writer = AppWriter::new(Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default()), app.name_any());
    let result = reconcile_app(app.clone(), &ctx, &writer).await;
    ctx.writes.record(&app, writer.into_written());
    ctx.config.metrics.observe_reconcile(started.elapsed().as_secs_f64(), result.is_ok());
    result
}

/// How soon to look again at an app the watch has not caught up with.
const STALE_RETRY: Duration = Duration::from_millis(100);

async fn reconcile_app(app: Arc<Application>, ctx: &Arc<Context>, writer: &AppWriter) -> Result<Action, ReconcileError> {
    let ctx = ctx.clone();
    let ns = app.namespace().unwrap_or_default();
    let name = app.name_any();
    let requeue = Action::requeue(ctx.config.resync);
    if app.metadata.deletion_timestamp.is_some() {
        return finalize(&ctx, &app, writer.api()).await;
    }
    let mut status = app.status.clone().unwrap_or_default();
    let refresh = app.annotations().contains_key(ANNOTATION_REFRESH);
    if app.annotations().get(ANNOTATION_REFRESH).is_some_and(|r| r == "hard") {
        // Render and dry-run again from scratch. Helm's renders stay: their disk cache
        // is keyed by a commit or digest and every flag, so they would be
        // the same.
        ctx.forget_renders(&app);
        if let Some(memo) = &ctx.memo {
            memo.forget(&instance(&app));
        }
    }
    let checks = ctx.health_checks().await;

    // The spec must make sense before anything is fetched.
    let (project, source) = match validate(&ctx, &app).await {
        Ok(v) => v,
        Err(msg) => {
            status::set_condition(&mut status, condition::INVALID_SPEC_ERROR, msg.clone());
            status.sync.status = SyncStatusCode::Unknown;
            fail_operation(&app, &mut status, msg);
            writer.write(&status).await?;
            writer.clear_request(app.operation.is_some(), refresh).await?;
            return Ok(requeue);
        }
    };
    let target_revision = source.target_revision.clone().unwrap_or_default();

    // Compare with Git at the spec's revision.
    // A requested sync looks at Git afresh, as a refresh does.
    let fetch_git = refresh || app.operation.is_some();
    let compared = match ctx.desired_for(&app, &project, &source, &target_revision, fetch_git).await {
        Ok(d) => match compare(&ctx.cluster, &d.targets, &ctx.compare_options(&app, &status, &checks).options()).await {
            Ok(c) => {
                // Watch every kind the app has or had, so that a change to
                // any of its objects wakes it.
                let kinds = d
                    .targets
                    .iter()
                    .map(|t| (t.manifest.api_version().to_string(), t.key.kind.clone()))
                    .chain(c.resources.iter().map(|r| (r.api_version.clone(), r.key.kind.clone())));
                ctx.live.ensure(&ctx.cluster, kinds.collect::<Vec<_>>()).await;
                status::apply_comparison(&mut status, &app, &d, &c);
                Some((d, c))
            }
            Err(e) => {
                status::set_condition(&mut status, condition::COMPARISON_ERROR, format!("comparing with the cluster: {e}"));
                None
            }
        },
        Err(msg) => {
            // Keep the last known resources and health: nothing is known
            // to have changed, and nothing will be synced or pruned.
            status::set_condition(&mut status, condition::COMPARISON_ERROR, msg);
            status.sync.status = SyncStatusCode::Unknown;
            status.reconciled_at = Some(status::now());
            None
        }
    };

    // A reconcile never overlaps itself: an operation being terminated is
    // no longer running (the controller stopped while it was stopping it).
    if let Some(s) = status.operation_state.as_mut().filter(|s| s.phase == driftless_api::OperationPhase::Terminating) {
        operation::mark_terminated(s);
    }

    // An operation: the user's; else one a restart interrupted (a reconcile
    // never overlaps itself, so a Running state seen here is stale); else
    // automation's, self-heals spaced by their back-off.
    let requested = app.operation.clone();
    let interrupted =
        app.status.as_ref().and_then(|s| s.operation_state.as_ref()).filter(|s| s.phase == driftless_api::OperationPhase::Running);
    if requested.is_none() && interrupted.is_some() {
        tracing::info!(app = %name, namespace = %ns, "resuming the operation a restart interrupted");
    }
    let mut heal_wait = None;
    let mut after_operation = None;
    let op = requested.clone().or_else(|| interrupted.map(|s| s.operation.clone())).or_else(|| {
        let (d, c) = compared.as_ref()?;
        let auto = operation::automated(&app, &d.revision, c.sync)?;
        match if auto.self_heal { ctx.self_heal_allowed(&app) } else { Ok(()) } {
            Ok(()) => Some(auto.operation),
            Err(wait) => {
                heal_wait = Some(wait);
                None
            }
        }
    });
    match (op, compared) {
        (Some(op), Some((d, c))) => {
            // Show the operation as running, then clear the request, so that
            // an edit made during the sync is a new request and nobody sees
            // a moment with neither the request nor its state. Automation's
            // syncs have no request, and an interrupted one shows Running
            // already: their state is written as progress, a second in, or
            // at the end. A sync a crash cuts off before then is started
            // again by automation.
            operation::mark_running(&mut status, &op);
            if requested.is_some() {
                writer.write(&status).await?;
            }
            writer.clear_request(requested.is_some(), refresh).await?;
            let sync_source = op.sync.as_ref().and_then(|s| s.source.clone());
            let sync_revision = op.sync.as_ref().and_then(|s| s.revision.clone()).filter(|r| !r.is_empty());
            // A sync to another revision or source (rollback) renders that one.
            let other = sync_source.is_some() || sync_revision.as_ref().is_some_and(|r| *r != d.revision && *r != target_revision);
            let applied = if other {
                let src = sync_source.unwrap_or_else(|| source.clone());
                let rev = sync_revision.or_else(|| src.target_revision.clone()).unwrap_or_default();
                match desired(&ctx, &app, &project, &src, &rev).await {
                    Ok(d2) => match compare(&ctx.cluster, &d2.targets, &ctx.compare_options(&app, &status, &checks).options()).await {
                        Ok(c2) => operation::run(&ctx, &app, writer, op, &d2, c2, &checks, &mut status).await,
                        Err(e) => {
                            fail_and_write(&app, writer, &mut status, format!("comparing with the cluster: {e}")).await?;
                            Vec::new()
                        }
                    },
                    Err(msg) => {
                        fail_and_write(&app, writer, &mut status, msg).await?;
                        Vec::new()
                    }
                }
            } else {
                operation::run(&ctx, &app, writer, op, &d, c, &checks, &mut status).await
            };
            // Report the state the sync left behind: what the applies
            // returned needs no second fetch.
            let opts = CompareOptionsOwned { fresh: applied, ..ctx.compare_options(&app, &status, &checks) };
            if let Ok(d) = ctx.desired_for(&app, &project, &source, &target_revision, false).await
                && let Ok(c) = compare(&ctx.cluster, &d.targets, &opts.options()).await
            {
                status::apply_comparison(&mut status, &app, &d, &c);
            }
            writer.write(&status).await?;
            // The controller's own status writes wake no reconcile, and an
            // operation can leave the app behind Git (a resumed or explicit
            // sync of an older revision, a commit made meanwhile): automation
            // looks again now, not at the next resync. Its rules stop loops.
            if status.sync.status != SyncStatusCode::Synced {
                after_operation = Some(Action::requeue(Duration::from_secs(1)));
            }
        }
        (Some(_), None) if requested.is_some() => {
            let msg =
                status.conditions.iter().find(|c| c.type_ == condition::COMPARISON_ERROR).map(|c| c.message.clone()).unwrap_or_default();
            fail_operation(&app, &mut status, format!("cannot sync: {msg}"));
            writer.write(&status).await?;
            writer.clear_request(true, refresh).await?;
        }
        _ => {
            // Most reconciles are woken by live events and find nothing
            // new: writing an unchanged status would only cost the API
            // server a write and every watcher an event.
            if app.status.as_ref() != Some(&status) {
                writer.write(&status).await?;
            }
            writer.clear_request(false, refresh).await?;
        }
    }
    report(&ctx, &app, &status);
    tracing::info!(app = %name, namespace = %ns, sync = ?status.sync.status, health = ?status.health.status,
        revision = short(status.sync.revision.as_deref().unwrap_or("")), "reconciled");
    if let Some(wait) = heal_wait {
        tracing::info!(app = %name, namespace = %ns, "self-heal backing off for {wait:?}");
        return Ok(Action::requeue(wait));
    }
    Ok(after_operation.unwrap_or(requeue))
}

/// Publishes the app's status as metrics.
fn report(ctx: &Context, app: &Application, status: &ApplicationStatus) {
    let labels = driftless_metrics::AppLabels {
        namespace: app.namespace().unwrap_or_default(),
        name: app.name_any(),
        project: app.spec.project.clone(),
        dest_server: app.spec.destination.server.clone().or_else(|| app.spec.destination.name.clone()).unwrap_or_default(),
        dest_namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
        repo: app.primary_source().map(|s| s.repo_url.clone()).unwrap_or_default(),
    };
    let sync = serde_json::to_value(status.sync.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    ctx.config.metrics.app_status(&labels, &sync, status.health.status.as_str());
}

/// Renders `app` at its target revision and compares it with the cluster,
/// as a reconcile would, without writing anything: what `driftless app diff`
/// and `app manifests` show. The error is the condition a reconcile would set.
pub async fn compare_app(
    ctx: &Context,
    app: &Application,
) -> Result<(crate::desired::Desired, driftless_sync::compare::CompareResult), String> {
    let (project, source) = validate(ctx, app).await?;
    let revision = source.target_revision.clone().unwrap_or_default();
    let d = desired(ctx, app, &project, &source, &revision).await?;
    let status = app.status.clone().unwrap_or_default();
    let checks = ctx.health_checks().await;
    let c = compare(&ctx.cluster, &d.targets, &ctx.compare_options(app, &status, &checks).options())
        .await
        .map_err(|e| format!("comparing with the cluster: {e}"))?;
    Ok((d, c))
}

/// Checks what can be checked without Git: a source, a supported
/// destination, the project's permission, valid ignoreDifferences.
async fn validate(ctx: &Context, app: &Application) -> Result<(driftless_api::AppProject, driftless_api::ApplicationSource), String> {
    let Some(source) = app.primary_source().cloned() else {
        return Err("spec.source: an Application needs a source (or spec.sources)".into());
    };
    let mut refs = std::collections::HashSet::new();
    for (i, s) in app.spec.sources.iter().enumerate() {
        if let Some(r) = s.ref_.as_deref().filter(|r| !r.is_empty())
            && !refs.insert(r)
        {
            return Err(format!("spec.sources[{i}].ref: {r:?} names two sources; each ref must be unique"));
        }
    }
    if !app.spec.destination.is_in_cluster() {
        return Err(format!(
            "spec.destination: only the in-cluster destination ({} / {}) is supported for now",
            driftless_api::IN_CLUSTER_SERVER,
            driftless_api::IN_CLUSTER_NAME
        ));
    }
    DiffOptions::new(&app.spec.ignore_differences).map_err(|e| format!("spec.ignoreDifferences: {e}"))?;
    let project = project::load(&ctx.client, &ctx.stores.projects, app).await?;
    project::permits(&project, app)?;
    Ok((project, source))
}

/// Records a requested operation as failed without running it.
fn fail_operation(app: &Application, status: &mut ApplicationStatus, message: String) {
    if let Some(op) = app.operation.clone() {
        let now = status::now();
        status.operation_state = Some(driftless_api::OperationState {
            operation: op,
            phase: driftless_api::OperationPhase::Failed,
            message: Some(message.clone()),
            sync_result: None,
            started_at: now.clone(),
            finished_at: Some(now),
            retry_count: None,
        });
        status::set_condition(status, condition::SYNC_ERROR, message);
    }
}

async fn fail_and_write(app: &Application, writer: &AppWriter, status: &mut ApplicationStatus, msg: String) -> Result<(), kube::Error> {
    let mut requested = app.clone();
    if requested.operation.is_none() {
        requested.operation = Some(Default::default());
    }
    fail_operation(&requested, status, msg);
    writer.write(status).await
}

/// Deletion: with Argo CD's finalizer, delete the app's resources (except
/// `Delete=false` ones), then let the Application go.
async fn finalize(ctx: &Context, app: &Application, api: &Api<Application>) -> Result<Action, ReconcileError> {
    ctx.forget(app);
    if !app.finalizers().iter().any(|f| f == RESOURCES_FINALIZER) {
        return Ok(Action::await_change());
    }
    let status = app.status.clone().unwrap_or_default();
    let checks = CustomChecks::none();
    let opts = ctx.compare_options(app, &status, &checks);
    // Only the live objects matter: compare with no targets finds them all.
    match compare(&ctx.cluster, &[], &opts.options()).await {
        Ok(c) => {
            for r in &c.extraneous {
                let keep = r.live["metadata"]["annotations"][driftless_api::ANNOTATION_SYNC_OPTIONS]
                    .as_str()
                    .map(driftless_api::ResourceSyncOptions::parse)
                    .is_some_and(|o| o.no_delete);
                if !keep && let Err(e) = ctx.cluster.delete(&r.api_version, &r.key, Some("foreground")).await {
                    tracing::warn!("deleting {}: {e}", r.key);
                    return Ok(Action::requeue(Duration::from_secs(5)));
                }
            }
        }
        Err(e) => {
            tracing::warn!("finding resources of {}: {e}", app.name_any());
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
    }
    let finalizers: Vec<&String> = app.finalizers().iter().filter(|f| *f != RESOURCES_FINALIZER).collect();
    let patch = serde_json::json!({ "metadata": { "finalizers": finalizers } });
    api.patch(&app.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await?;
    Ok(Action::await_change())
}
