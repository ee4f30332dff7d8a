//! One reconcile of one Application: compare with Git through the engine,
//! decide ([`decide`], pure), sync if asked or automated, report status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::{
    ANNOTATION_DELETION_APPROVED, ANNOTATION_REFRESH, Application, ApplicationStatus, Operation, OperationPhase, OperationState,
    SyncStatusCode, condition,
};
use driftless_engine::windows::Assessment;
use driftless_engine::{Engine, Freshness, Validated, short, status};
use driftless_health::CustomChecks;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};

use crate::shard::Turn;
use crate::writer::{AppWriter, WriteLog};
use crate::{Config, operation};

/// What every reconcile shares.
pub struct Context {
    /// What computes each app's state.
    pub engine: Arc<Engine>,
    /// Apps woken and not yet reconciled.
    pub(crate) queue: crate::queue::Pending,
    /// Consecutive self-heals per app, for their back-off.
    heals: Mutex<HashMap<ObjectRef<Application>, (u32, Instant)>>,
    /// What each app's last reconcile wrote, to tell stale copies.
    writes: WriteLog,
    /// The Applications: where a running sync learns that someone asked to
    /// terminate it, and an app finds its dependencies.
    pub(crate) apps: Vec<Store<Application>>,
    /// Which apps this replica handles (all, unless sharded).
    pub(crate) shard: crate::shard::Share,
    /// Settings.
    pub config: Config,
}

impl Context {
    /// A context over `engine`, reading terminations from `apps`.
    pub(crate) fn new(engine: Arc<Engine>, config: Config, apps: Vec<Store<Application>>, shard: crate::shard::Share) -> Context {
        Context {
            engine,
            queue: crate::queue::Pending::new(config.metrics.clone()),
            heals: Mutex::default(),
            writes: WriteLog::default(),
            apps,
            shard,
            config,
        }
    }

    /// Whether someone asked to stop the operation running on `app`: Argo
    /// CD's terminate sets its phase to Terminating.
    pub(crate) fn terminating(&self, app: &Application) -> bool {
        let key = ObjectRef::from_obj(app);
        self.apps
            .iter()
            .filter_map(|s| s.get(&key))
            .any(|a| a.status.as_ref().and_then(|s| s.operation_state.as_ref()).is_some_and(|o| o.phase == OperationPhase::Terminating))
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

    /// Forgets what is kept about an app that is gone.
    pub(crate) fn forget(&self, app: &Application) {
        self.engine.forget(app);
        let key = ObjectRef::from_obj(app);
        self.heals.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        self.writes.forget(app);
        self.queue.forget(&key);
    }
}

/// Self-heal back-off: the longest wait, and the quiet time that resets it.
const SELF_HEAL_MAX: Duration = Duration::from_secs(180);
const SELF_HEAL_RESET: Duration = Duration::from_secs(300);

/// What wakes a reconcile: the user's intent (spec, a requested operation,
/// a refresh, deletion), not the status the controller writes.
pub fn trigger_hash(app: &Application) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // A spec holding a value not read whole does not encode: its generation
    // stands for it.
    serde_json::to_string(&app.spec).unwrap_or_else(|_| format!("generation {:?}", app.metadata.generation)).hash(&mut h);
    serde_json::to_string(&app.operation).unwrap_or_default().hash(&mut h);
    app.annotations().get(ANNOTATION_REFRESH).hash(&mut h);
    // A person's confirmation lets a waiting prune (or deletion) go on.
    app.annotations().get(ANNOTATION_DELETION_APPROVED).hash(&mut h);
    app.annotations().get(driftless_api::ANNOTATION_ROLLBACK_AFTER).hash(&mut h);
    // They change what the app renders to.
    app.annotations().get(driftless_engine::desired::ANNOTATION_HELM_LOOKUP).hash(&mut h);
    app.annotations().get(driftless_api::ANNOTATION_HELM_HOOKS).hash(&mut h);
    app.metadata.deletion_timestamp.is_some().hash(&mut h);
    app.finalizers().hash(&mut h);
    crate::dependencies::trigger_part(app).hash(&mut h);
    Some(h.finish())
}

/// Where an operation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The user's `.operation`.
    Requested,
    /// One a restart cut off (its state still says Running).
    Resumed,
    /// Automation's; `self_heal` when it reverts drift at a revision
    /// already synced, subject to the self-heal back-off.
    Automated {
        /// Reverts drift.
        self_heal: bool,
    },
}

/// What a reconcile does once it has compared.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Run this operation.
    Run(Box<Operation>, Origin),
    /// The user asked for a sync that cannot run: the comparison failed.
    Refuse(String),
    /// Nothing: write what the comparison found.
    Nothing,
}

/// Chooses what to do, from the app and its comparison (the resolved
/// revision and sync status, or the comparison's error). Pure: the user's
/// operation first; else one a restart interrupted (a reconcile never
/// overlaps itself, so a Running state seen here is stale); else
/// automation's rules.
pub fn decide(app: &Application, compared: Result<(&str, SyncStatusCode), &str>) -> Decision {
    let interrupted = app.status.as_ref().and_then(|s| s.operation_state.as_ref()).filter(|s| s.phase == OperationPhase::Running);
    let (op, origin) = match (&app.operation, interrupted) {
        (Some(op), _) => (op.clone(), Origin::Requested),
        (None, Some(state)) => (Box::new(state.operation.clone()), Origin::Resumed),
        (None, None) => {
            let Ok((revision, sync)) = compared else { return Decision::Nothing };
            return match operation::automated(app, revision, sync) {
                Some(auto) => Decision::Run(Box::new(auto.operation), Origin::Automated { self_heal: auto.self_heal }),
                None => Decision::Nothing,
            };
        }
    };
    match compared {
        Ok(_) => Decision::Run(op, origin),
        Err(msg) if origin == Origin::Requested => Decision::Refuse(format!("cannot sync: {msg}")),
        // A resumed sync waits for a comparison that works.
        Err(_) => Decision::Nothing,
    }
}

/// The project's sync windows' say on a decision (pure, after [`decide`]):
/// a sync they deny does not run. A requested one is refused with the
/// reason; automation's, and one a restart interrupted, wait for the
/// windows to allow them (the app's SyncWindowBlocked condition says why).
/// A sync is manual unless automation initiated it, as in Argo CD.
pub fn within_windows(decision: Decision, windows: &Assessment) -> Decision {
    let Decision::Run(op, origin) = &decision else { return decision };
    let manual = !op.initiated_by.as_ref().is_some_and(|i| i.automated);
    let verdict = if manual { &windows.manual } else { &windows.automated };
    match origin {
        _ if verdict.allowed => decision,
        Origin::Requested => Decision::Refuse(format!("cannot sync: {verdict}")),
        Origin::Resumed | Origin::Automated { .. } => Decision::Nothing,
    }
}

/// The policies' say on a decision (pure, after [`within_windows`]):
/// automation never starts a sync of a render a policy blocks, self-heal
/// included (it would re-apply the violating objects). A requested or
/// resumed sync runs, and fails before applying anything with the
/// violations in its message: every sync is judged as it starts, at the
/// revision it syncs ([`driftless_engine::Engine::policy_check`]).
pub fn within_policy(decision: Decision, blocked: bool) -> Decision {
    match decision {
        Decision::Run(_, Origin::Automated { .. }) if blocked => Decision::Nothing,
        other => other,
    }
}

/// Shows on `status` whether the sync windows keep automation from
/// syncing, and whether a manual sync may run meanwhile.
fn show_windows(status: &mut ApplicationStatus, windows: &Assessment) {
    if windows.automated.allowed {
        status::clear_condition(status, condition::SYNC_WINDOW_BLOCKED);
        return;
    }
    status::set_condition(status, condition::SYNC_WINDOW_BLOCKED, windows.summary());
}

/// Shows on `status` the fields the app or its project sets that driftless
/// keeps but does not act on yet: a warning, never silence.
fn show_unsupported(status: &mut ApplicationStatus, app: &Application, project: &driftless_api::AppProject) {
    match driftless_api::unsupported_message(&driftless_api::unsupported_fields(app, project)) {
        Some(message) => status::set_condition(status, condition::UNSUPPORTED_FIELD_WARNING, message),
        None => status::clear_condition(status, condition::UNSUPPORTED_FIELD_WARNING),
    }
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
    let key = ObjectRef::from_obj(&*app);
    ctx.queue.done(&key);
    // Another replica's app: its owner acts on it, and a change of the
    // share wakes it here if it comes to this replica.
    let _held = match ctx.shard.hold(&app) {
        Turn::Held(held) => held,
        Turn::Elsewhere => return Ok(Action::await_change()),
        Turn::NotNow => return Ok(Action::requeue(SHARD_RETRY)),
    };
    if ctx.writes.stale(&app) {
        // The watch event of the last write is moments away, and wakes
        // nothing (status is not a trigger): look again shortly.
        return Ok(Action::requeue(STALE_RETRY));
    }
    let _in_flight = ctx.config.metrics.reconcile_started();
    let started = Instant::now();
    let writer =
        AppWriter::new(Api::namespaced(ctx.engine.client.clone(), &app.namespace().unwrap_or_default()), &app, ctx.config.events.clone());
    // A reconcile of an app handed to another replica stops between two
    // requests; a sync it was running resumes there.
    // Requests made for the app are counted as its own (Argo CD's
    // argocd_app_k8s_request_total).
    let labels = app_labels(&app);
    let app_ref = ctx.config.metrics.app_ref(&labels);
    let result = tokio::select! {
        r = driftless_metrics::for_app(app_ref, reconcile_app(app.clone(), &ctx, &writer)) => r,
        () = ctx.shard.lost(&app) => {
            tracing::info!(app = %app.name_any(), namespace = %app.namespace().unwrap_or_default(), "handed over to another replica");
            // Looked at again: it may be ours once the members agree.
            Ok(Action::requeue(SHARD_RETRY))
        }
    };
    ctx.writes.record(&app, writer.into_written());
    ctx.config.metrics.observe_reconcile(&labels, started.elapsed().as_secs_f64(), result.is_ok());
    result
}

/// How soon to look again at an app this replica may not reconcile now.
const SHARD_RETRY: Duration = Duration::from_secs(2);

/// How long a comparison waits for a watch of its kinds to list first.
const LISTING_WAIT: Duration = Duration::from_secs(5);

/// How soon to look again at an app the watch has not caught up with.
const STALE_RETRY: Duration = Duration::from_millis(100);

async fn reconcile_app(app: Arc<Application>, ctx: &Arc<Context>, writer: &AppWriter) -> Result<Action, ReconcileError> {
    let ctx = ctx.clone();
    let engine = &ctx.engine;
    let ns = app.namespace().unwrap_or_default();
    let name = app.name_any();
    let resync = ctx.config.next_resync();
    let requeue = Action::requeue(resync);
    if let Err(msg) = ctx.config.tenancy.check_namespace(&ns) {
        // Another control plane may handle it: say why only on an app
        // nobody reports on, so that two control planes never fight.
        if app.status.is_none() {
            let mut status = ApplicationStatus::default();
            status::set_condition(&mut status, condition::INVALID_SPEC_ERROR, msg);
            writer.write(&status).await?;
        }
        return Ok(Action::await_change());
    }
    if app.metadata.deletion_timestamp.is_some() {
        return crate::deletion::finalize(&ctx, &app, writer).await;
    }
    let mut status = app.status.clone().unwrap_or_default();
    status.reconciled_by = ctx.shard.describe().map(|(identity, _, _)| identity);
    let refresh = app.annotations().contains_key(ANNOTATION_REFRESH);
    if app.annotations().get(ANNOTATION_REFRESH).is_some_and(|r| r == "hard") {
        // Render and dry-run again from scratch. Helm's renders stay: their
        // disk cache is keyed by a commit or digest and every flag, so they
        // would be the same.
        engine.forget_verdicts(&app);
    }
    let checks = engine.health_checks().await;

    // argocd-cm's settings decide what the app's objects are: while they do
    // not parse, nothing is compared, synced or pruned. Then the spec must
    // make sense before anything is fetched.
    let checked = match engine.app_settings().await {
        Ok(_) => engine.validate(&app).await.map_err(|msg| (condition::INVALID_SPEC_ERROR, msg)),
        Err(msg) => Err((condition::COMPARISON_ERROR, msg)),
    };
    let v = match checked {
        Ok(v) => v,
        Err((type_, msg)) => {
            status::set_condition(&mut status, type_, msg.clone());
            status.sync.status = SyncStatusCode::Unknown;
            fail_operation(&app, &mut status, msg);
            writer.write(&status).await?;
            writer.clear_request(app.operation.is_some(), refresh).await?;
            return Ok(requeue);
        }
    };
    let dest = v.destination.clone();
    let target_revision = v.source.target_revision.clone().unwrap_or_default();

    // Compare with Git at the spec's revision. A requested sync looks at
    // Git afresh, as a refresh does.
    let woken = ctx.queue.last_woken(&ObjectRef::from_obj(&*app));
    let kept = Freshness::Kept { since: poll_since(woken, ctx.config.resync) };
    let fresh = if refresh || app.operation.is_some() { Freshness::Refresh { since: refresh_since(&app, woken) } } else { kept };
    let mut blocked = false;
    let compared = match engine.desired_for(&app, &v, &target_revision, fresh).await {
        Ok(d) => {
            // The policies judge the render (hooks too) whatever the
            // cluster answers; the diff is still computed and shown.
            let verdict = engine.policy_verdict(&app, &v.project, d.clone()).await;
            status::show_policy(&mut status, &verdict);
            blocked = verdict.blocks();
            // Watch every kind the app has or had, so that a change to any
            // of its objects wakes it; a watch still listing is waited for
            // rather than listed again by this comparison. A cluster known
            // to be down is not asked (the comparison fails at once).
            let scope = driftless_engine::live::WatchScope { namespaces: &dest.namespaces, cluster_resources: dest.cluster_resources };
            let desired_kinds: Vec<(String, String)> =
                d.targets.iter().map(|t| (t.manifest.api_version().to_string(), t.key.kind.clone())).collect();
            let opts = engine.compare_options(&app, &status, &checks, &dest, &v.settings);
            if dest.reachable().is_ok() {
                dest.live.ensure(&dest.cluster, &scope, desired_kinds.clone()).await;
                dest.live.listed(&desired_kinds, LISTING_WAIT).await;
            }
            match engine.compare(&d, &dest, &opts).await {
                Ok(c) => {
                    let live_kinds = c.resources.iter().map(|r| (r.api_version.clone(), r.key.kind.clone()));
                    dest.live.ensure(&dest.cluster, &scope, live_kinds.collect::<Vec<_>>()).await;
                    status::apply_comparison(&mut status, &app, &d, &c);
                    Ok((d, c))
                }
                Err(e) => {
                    let msg = format!("comparing with the cluster: {e}");
                    status::set_condition(&mut status, condition::COMPARISON_ERROR, msg.clone());
                    status.sync.status = SyncStatusCode::Unknown;
                    Err(msg)
                }
            }
        }
        Err(msg) => {
            // Keep the last known resources and health: nothing is known
            // to have changed, and nothing will be synced or pruned. No
            // render, no verdict: one about an earlier render would mislead.
            status::set_condition(&mut status, condition::COMPARISON_ERROR, msg.clone());
            status::show_policy(&mut status, &Default::default());
            status.sync.status = SyncStatusCode::Unknown;
            status.reconciled_at = Some(status::now());
            Err(msg)
        }
    };

    if compared.is_ok() {
        report_orphans(engine, &app, &v, &mut status).await;
    }

    // A reconcile never overlaps itself: an operation being terminated is
    // no longer running (the controller stopped while it was stopping it).
    if let Some(s) = status.operation_state.as_mut().filter(|s| s.phase == OperationPhase::Terminating) {
        operation::mark_terminated(s);
        // Nor does it wait for a confirmation any more.
        status::clear_condition(&mut status, condition::PRUNE_CONFIRMATION_REQUIRED);
    }

    let now = k8s_openapi::jiff::Timestamp::now();
    let windows = driftless_engine::windows::assess(&v.project, &app, now);
    show_windows(&mut status, &windows);
    show_unsupported(&mut status, &app, &v.project);
    // When a window opens or closes, automation may sync or must stop:
    // look again then rather than at the next resync.
    let next_look = match windows.next_change.and_then(|t| Duration::try_from(t.duration_since(now)).ok()) {
        Some(wait) if wait < resync => wait,
        _ => resync,
    };
    let summary = compared.as_ref().map(|(d, c)| (d.revision.as_str(), c.sync)).map_err(String::as_str);
    let mut decision = within_policy(within_windows(decide(&app, summary), &windows), blocked);
    // Dependencies (driftless.dev/depends-on): wait until they are ready.
    let deps = crate::dependencies::assess(&app, &ctx.apps);
    crate::dependencies::show(&mut status, &deps);
    decision = crate::dependencies::within_dependencies(decision, &deps);
    // Automatic rollback (rollback.rs): may turn "nothing" into a rollback.
    // An app whose dependencies are not ready may be unhealthy because of
    // them: its own revision is not to blame.
    let mut rollback = crate::rollback::assess(&app, &status, summary.ok().map(|s| s.0), now);
    if !deps.ready() {
        rollback.rollback = None;
    }
    decision = crate::rollback::apply(rollback, decision, &windows, &app, writer, &mut status).await?;
    let mut heal_wait = None;
    if let Decision::Run(_, Origin::Automated { self_heal: true }) = &decision
        && let Err(wait) = ctx.self_heal_allowed(&app)
    {
        heal_wait = Some(wait);
        decision = Decision::Nothing;
    }
    let mut after_operation = None;
    match (decision, compared) {
        (Decision::Run(op, origin), Ok((d, c))) => {
            if origin == Origin::Resumed && !operation::awaiting_confirmation(&status) {
                tracing::info!(app = %name, namespace = %ns, "resuming the operation a restart interrupted");
            }
            let requested = origin == Origin::Requested;
            // Show the operation as running, then clear the request, so that
            // an edit made during the sync is a new request and nobody sees
            // a moment with neither the request nor its state. Automation's
            // syncs have no request, and an interrupted one shows Running
            // already: their state is written as progress, a second in, or
            // at the end. A sync a crash cuts off before then is started
            // again by automation.
            if origin != Origin::Resumed {
                operation::mark_running(&mut status, &op);
                writer.announce(&status);
            }
            if requested {
                writer.write(&status).await?;
            }
            writer.clear_request(requested, refresh).await?;
            let applied = run_operation(&ctx, &app, &v, writer, *op, &d, c, &checks, &mut status).await?;
            // Report the state the sync left behind: what the applies
            // returned needs no second fetch.
            let mut opts = engine.compare_options(&app, &status, &checks, &dest, &v.settings);
            opts.fresh = applied;
            if let Ok(d) = engine.desired_for(&app, &v, &target_revision, kept).await
                && let Ok(c) = engine.compare(&d, &dest, &opts).await
            {
                status::apply_comparison(&mut status, &app, &d, &c);
            }
            writer.write(&status).await?;
            // The controller's own status writes wake no reconcile, and an
            // operation can leave the app behind Git (a resumed or explicit
            // sync of an older revision, a commit made meanwhile): automation
            // looks again now, not at the next resync. Its rules stop loops.
            // One that waits for a person's confirmation is woken by it.
            let waiting = status.operation_state.as_ref().is_some_and(|s| s.phase == OperationPhase::Running);
            if status.sync.status != SyncStatusCode::Synced && !waiting {
                after_operation = Some(Action::requeue(Duration::from_secs(1)));
            }
        }
        (Decision::Refuse(msg), _) => {
            fail_operation(&app, &mut status, msg);
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
    // Automatic rollback judges a sync at its deadline.
    let next_look = crate::rollback::wake_in(&app, &status, k8s_openapi::jiff::Timestamp::now()).map_or(next_look, |d| d.min(next_look));
    Ok(after_operation.unwrap_or(Action::requeue(next_look)))
}

/// Runs `op`: against the comparison just made, or, for a sync to another
/// revision or source (a rollback), against that one rendered now. An
/// operation a restart interrupted goes on at the revision it recorded, as
/// Argo CD's does: Git may have moved while no controller ran.
#[allow(clippy::too_many_arguments)] // the pieces of one reconcile, borrowed
async fn run_operation(
    ctx: &Context,
    app: &Application,
    v: &Validated,
    writer: &AppWriter,
    op: Operation,
    d: &Arc<driftless_engine::Desired>,
    c: driftless_sync::compare::CompareResult,
    checks: &CustomChecks,
    status: &mut ApplicationStatus,
) -> Result<Vec<(driftless_sync::ResourceKey, String)>, kube::Error> {
    let (engine, dest) = (&ctx.engine, &v.destination);
    let target_revision = v.source.target_revision.clone().unwrap_or_default();
    let sync_source = op.sync.as_ref().and_then(|s| s.source.clone());
    let recorded = status
        .operation_state
        .as_ref()
        .filter(|s| s.phase == OperationPhase::Running && s.operation == op)
        .and_then(|s| Some(s.sync_result.as_ref()?.revision.clone()));
    let sync_revision = recorded.or_else(|| op.sync.as_ref().and_then(|s| s.revision.clone())).filter(|r| !r.is_empty());
    let other = sync_source.is_some() || sync_revision.as_ref().is_some_and(|r| *r != d.revision && *r != target_revision);
    if !other {
        return Ok(operation::run(ctx, app, v, writer, op, d, c, checks, status).await);
    }
    let src = sync_source.unwrap_or_else(|| v.source.clone());
    let rev = sync_revision.or_else(|| src.target_revision.clone()).unwrap_or_default();
    let outcome = match engine.desired_at(app, v, &src, &rev).await.map(Arc::new) {
        Ok(d2) => match engine.compare(&d2, dest, &engine.compare_options(app, status, checks, dest, &v.settings)).await {
            Ok(c2) => return Ok(operation::run(ctx, app, v, writer, op, &d2, c2, checks, status).await),
            Err(e) => format!("comparing with the cluster: {e}"),
        },
        Err(msg) => msg,
    };
    fail_and_write(app, writer, status, outcome).await?;
    Ok(Vec::new())
}

/// Sets or clears the OrphanedResourceWarning condition, as the project's
/// `orphanedResources.warn` asks (on unless false). Orphans are never
/// deleted; a failed scan leaves the condition as it was.
async fn report_orphans(engine: &Engine, app: &Application, v: &Validated, status: &mut ApplicationStatus) {
    let warn = v.project.spec.orphaned_resources.as_ref().is_some_and(|o| o.warn != Some(false));
    match engine.orphans(app, v).await {
        Some(Ok(found)) if warn && !found.is_empty() => {
            status::set_condition(status, condition::ORPHANED_RESOURCE_WARNING, driftless_engine::orphans::warning(found.len()));
        }
        Some(Err(e)) => tracing::warn!(app = %app.name_any(), "orphaned resources: {e}"),
        _ => status::clear_condition(status, condition::ORPHANED_RESOURCE_WARNING),
    }
}

/// How fresh a Git fetch must be for a refresh of `app`: begun after the
/// webhook push that asked for it (`driftless.dev/refresh-since`, the
/// server's clock), so that the apps of one push share one fetch; else
/// begun after the request woke the app (`woken`). A time in the future,
/// more than a minute old (a refresh is handled in moments: an old one must
/// not spare a fetch) or unreadable does not count.
fn refresh_since(app: &Application, woken: Option<Instant>) -> Instant {
    let now = Instant::now();
    let asked = app.annotations().get(driftless_api::ANNOTATION_REFRESH_SINCE).and_then(|v| v.parse::<u64>().ok());
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let ago = asked.and_then(|ms| wall.checked_sub(Duration::from_millis(ms))).filter(|ago| *ago <= Duration::from_secs(60));
    match ago {
        Some(ago) => now.checked_sub(ago).unwrap_or(now),
        None => woken.unwrap_or(now),
    }
}

/// How fresh a Git fetch must be for a comparison nobody asked for: begun
/// after the app's last wake, whatever the change that woke it saw (a
/// commit pushed before the app was created or edited) having happened
/// before; and, as a resync polls Git, within a tenth of the resync period
/// (Argo CD keeps resolved revisions for the whole period). So the apps
/// created or listed together, and the resyncs of a repository's apps,
/// share fetches instead of each making its own.
fn poll_since(woken: Option<Instant>, resync: Duration) -> Instant {
    let now = Instant::now();
    let poll = now.checked_sub(resync / 10).unwrap_or(now);
    woken.map_or(poll, |woken| woken.max(poll))
}

/// The app's labels in metrics.
pub(crate) fn app_labels(app: &Application) -> driftless_metrics::AppLabels {
    use driftless_metrics::AppOperation;
    driftless_metrics::AppLabels {
        namespace: app.namespace().unwrap_or_default(),
        name: app.name_any(),
        project: app.spec.project.clone(),
        dest_server: app.spec.destination.server.clone().or_else(|| app.spec.destination.name.clone()).unwrap_or_default(),
        dest_namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
        repo: app.primary_source().map(|s| s.repo_url.clone()).unwrap_or_default(),
        autosync_enabled: app.spec.sync_policy.as_ref().is_some_and(|p| p.automated.is_some()),
        operation: if app.metadata.deletion_timestamp.is_some() {
            AppOperation::Delete
        } else if app.operation.as_deref().is_some_and(|o| o.sync.is_some()) {
            AppOperation::Sync
        } else {
            AppOperation::None
        },
    }
}

/// Publishes the app's status as metrics.
fn report(ctx: &Context, app: &Application, status: &ApplicationStatus) {
    let labels = app_labels(app);
    let sync = serde_json::to_value(status.sync.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    ctx.config.metrics.app_status(&labels, &sync, status.health.status.as_str());
}

/// Records a requested operation as failed without running it.
fn fail_operation(app: &Application, status: &mut ApplicationStatus, message: String) {
    if let Some(op) = app.operation.clone() {
        let now = status::now();
        status.operation_state = Some(OperationState {
            operation: *op,
            phase: OperationPhase::Failed,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::tests::{auto_app, last_sync};
    use driftless_api::OperationInitiator;

    fn app(automated: Option<bool>) -> Application {
        automated.map_or_else(Application::default, auto_app)
    }

    #[test]
    fn a_comparison_nobody_asked_for_needs_git_since_the_last_wake_or_the_poll() {
        let resync = Duration::from_secs(180);
        let woken = Instant::now() - Duration::from_secs(3);
        // A change's wake: what was pushed before it must be seen, and a
        // fetch begun since then will do.
        assert_eq!(poll_since(Some(woken), resync), woken);
        // A resync long after the last wake polls: a fetch at most 18 s old.
        let long_ago = Instant::now() - Duration::from_secs(600);
        let since = poll_since(Some(long_ago), resync);
        assert!(since > long_ago + Duration::from_secs(500) && since.elapsed() >= Duration::from_secs(18));
        assert!(poll_since(None, resync).elapsed() >= Duration::from_secs(18));
    }

    #[test]
    fn resyncs_spread_over_the_jitter_and_keep_the_period_without_it() {
        let (period, jitter) = (Duration::from_secs(180), Duration::from_secs(60));
        let mut config = crate::Config { resync: period, resync_jitter: jitter, ..Default::default() };
        let next: Vec<Duration> = (0..1000).map(|_| config.next_resync()).collect();
        assert!(next.iter().all(|d| (period..=period + jitter).contains(d)), "{next:?}");
        // Apps synced together come apart: some early, some late in the window.
        assert!(next.iter().any(|d| *d < period + jitter / 3) && next.iter().any(|d| *d > period + jitter * 2 / 3));
        config.resync_jitter = Duration::ZERO;
        assert!((0..100).all(|_| config.next_resync() == period));
        // A jitter longer than a short period is cut to the period.
        config = crate::Config { resync: Duration::from_secs(2), resync_jitter: jitter, ..Default::default() };
        assert!((0..1000).all(|_| config.next_resync() <= Duration::from_secs(4)));
    }

    #[test]
    fn a_refresh_needs_git_since_its_push_or_its_wake() {
        let woken = Instant::now() - Duration::from_secs(2);
        let mut a = app(None);
        assert_eq!(refresh_since(&a, Some(woken)), woken);
        assert!(refresh_since(&a, None).elapsed() < Duration::from_secs(1));
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let pushed = (wall - Duration::from_secs(5)).as_millis().to_string();
        a.metadata.annotations = Some([(driftless_api::ANNOTATION_REFRESH_SINCE.to_string(), pushed)].into());
        let since = refresh_since(&a, Some(woken));
        assert!(since < woken && since.elapsed() >= Duration::from_secs(5), "the push came before the wake");
        // An old, future or unreadable push time counts for nothing.
        for bad in [
            (wall - Duration::from_secs(120)).as_millis().to_string(),
            (wall + Duration::from_secs(60)).as_millis().to_string(),
            "soon".into(),
        ] {
            a.metadata.annotations = Some([(driftless_api::ANNOTATION_REFRESH_SINCE.to_string(), bad.clone())].into());
            assert_eq!(refresh_since(&a, Some(woken)), woken, "{bad}");
        }
    }

    #[test]
    fn a_request_runs_or_is_refused_with_the_comparison_error() {
        let mut a = app(None);
        let op =
            Operation { initiated_by: Some(OperationInitiator { username: Some("alice".into()), automated: false }), ..Default::default() };
        a.operation = Some(Box::new(op.clone()));
        assert_eq!(decide(&a, Ok(("abc", SyncStatusCode::Synced))), Decision::Run(Box::new(op.clone()), Origin::Requested));
        assert_eq!(decide(&a, Err("no such revision")), Decision::Refuse("cannot sync: no such revision".into()));
    }

    #[test]
    fn an_interrupted_sync_resumes_only_with_a_comparison() {
        let mut a = app(Some(false));
        last_sync(&mut a, "abc", OperationPhase::Running);
        let resumed = a.status.as_ref().unwrap().operation_state.as_ref().unwrap().operation.clone();
        assert_eq!(decide(&a, Ok(("abc", SyncStatusCode::OutOfSync))), Decision::Run(Box::new(resumed), Origin::Resumed));
        assert_eq!(decide(&a, Err("render failed")), Decision::Nothing, "waits for a comparison that works");
    }

    #[test]
    fn automation_syncs_new_revisions_and_heals_drift_only_with_self_heal() {
        assert_eq!(decide(&app(None), Ok(("abc", SyncStatusCode::OutOfSync))), Decision::Nothing, "manual apps wait");
        let a = app(Some(false));
        assert!(matches!(decide(&a, Ok(("abc", SyncStatusCode::OutOfSync))), Decision::Run(_, Origin::Automated { self_heal: false })));
        assert_eq!(decide(&a, Ok(("abc", SyncStatusCode::Synced))), Decision::Nothing);
        assert_eq!(decide(&a, Err("render failed")), Decision::Nothing, "nothing syncs without a comparison");
        let mut healed = app(Some(true));
        last_sync(&mut healed, "abc", OperationPhase::Succeeded);
        assert!(matches!(decide(&healed, Ok(("abc", SyncStatusCode::OutOfSync))), Decision::Run(_, Origin::Automated { self_heal: true })));
        let mut drifted = app(Some(false));
        last_sync(&mut drifted, "abc", OperationPhase::Succeeded);
        assert_eq!(decide(&drifted, Ok(("abc", SyncStatusCode::OutOfSync))), Decision::Nothing, "drift stays without selfHeal");
    }

    #[test]
    fn a_blocking_policy_holds_automation_and_self_heal_but_not_a_request() {
        let automated = decide(&app(Some(false)), Ok(("abc", SyncStatusCode::OutOfSync)));
        assert!(matches!(automated, Decision::Run(_, Origin::Automated { self_heal: false })));
        assert_eq!(within_policy(automated.clone(), true), Decision::Nothing, "automation does not start");
        assert_eq!(within_policy(automated.clone(), false), automated);
        let mut healed = app(Some(true));
        last_sync(&mut healed, "abc", OperationPhase::Succeeded);
        let heal = decide(&healed, Ok(("abc", SyncStatusCode::OutOfSync)));
        assert!(matches!(heal, Decision::Run(_, Origin::Automated { self_heal: true })));
        assert_eq!(within_policy(heal, true), Decision::Nothing, "self-heal never re-applies a violating object");
        // A user's sync runs, to fail with the violations before any change.
        let mut requested = app(None);
        requested.operation = Some(Box::default());
        let run = decide(&requested, Ok(("abc", SyncStatusCode::OutOfSync)));
        assert_eq!(within_policy(run.clone(), true), run);
        assert_eq!(within_policy(Decision::Nothing, true), Decision::Nothing);
    }

    fn windows(automated: bool, manual: bool) -> Assessment {
        let verdict = |allowed: bool| driftless_engine::windows::Verdict { allowed, because: "by deny window 0 of project team".into() };
        Assessment { assigned: Ok(Vec::new()), automated: verdict(automated), manual: verdict(manual), next_change: None }
    }

    #[test]
    fn windows_refuse_a_denied_request_and_hold_automation_and_resumed_syncs() {
        let mut a = app(Some(true));
        let by = |automated: bool| Some(OperationInitiator { username: None, automated });
        let op = Operation { initiated_by: by(false), ..Default::default() };
        a.operation = Some(Box::new(op.clone()));
        let requested = decide(&a, Ok(("abc", SyncStatusCode::OutOfSync)));
        assert_eq!(within_windows(requested.clone(), &windows(false, true)), requested, "manual syncs may run");
        assert_eq!(
            within_windows(requested.clone(), &windows(true, false)),
            Decision::Refuse("cannot sync: Sync Denied by deny window 0 of project team".into()),
            "a manual sync is judged as one"
        );
        let automated = decide(&app(Some(false)), Ok(("abc", SyncStatusCode::OutOfSync)));
        assert!(matches!(automated, Decision::Run(_, Origin::Automated { .. })));
        assert_eq!(within_windows(automated.clone(), &windows(false, true)), Decision::Nothing, "automation waits");
        assert_eq!(within_windows(automated.clone(), &windows(true, false)), automated);
        // An interrupted sync goes on only when its kind of sync may run.
        let mut resumed = app(Some(false));
        last_sync(&mut resumed, "abc", OperationPhase::Running);
        resumed.status.as_mut().unwrap().operation_state.as_mut().unwrap().operation.initiated_by = by(true);
        let resume = decide(&resumed, Ok(("abc", SyncStatusCode::OutOfSync)));
        assert!(matches!(resume, Decision::Run(_, Origin::Resumed)));
        assert_eq!(within_windows(resume.clone(), &windows(false, true)), Decision::Nothing, "it waits");
        assert_eq!(within_windows(resume.clone(), &windows(true, false)), resume);
        // What does not run stays as it was.
        assert_eq!(within_windows(Decision::Nothing, &windows(false, false)), Decision::Nothing);
        let refused = Decision::Refuse("cannot sync: no such revision".into());
        assert_eq!(within_windows(refused.clone(), &windows(false, false)), refused);
    }
}
