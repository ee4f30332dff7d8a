//! Sync operations: the one a user requests through `.operation`, the one
//! automation decides on, and one a restart interrupted, which goes on from
//! the results it recorded. Retries with back-off, history, and every
//! resource's result recorded in `status.operationState`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use driftless_api::{
    Application, ApplicationStatus, Operation, OperationInitiator, OperationPhase, OperationState, ResourceResult, RetryStrategy,
    RevisionHistory, SyncOperation, SyncOperationResult, SyncOptions, SyncStatusCode,
};
use driftless_health::CustomChecks;
use driftless_sync::ResourceKey;
use driftless_sync::cluster::Cluster;
use driftless_sync::compare::{CompareResult, Live};
use driftless_sync::execute::{ExecuteOptions, Outcome, execute};
use driftless_sync::plan::{HelmHooks, HelmOccasion, PlanOptions, Role, plan};
use driftless_sync::progress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use driftless_engine::events::AppEvent;
use driftless_engine::settings::AppSettings;
use driftless_engine::status;
use driftless_engine::{Desired, Destination, Validated, short};

use crate::reconcile::Context;
use crate::writer::AppWriter;

/// Where a sync goes: the destination it is compared with (by argocd-cm's
/// settings), and the client it writes through (the destination's own, or
/// impersonating the project's ServiceAccount).
#[derive(Clone, Copy)]
struct Via<'a> {
    dest: &'a Destination,
    settings: &'a AppSettings,
    /// What applies and prunes; None: the destination's own client.
    writes: Option<&'a Cluster>,
}

impl<'a> Via<'a> {
    fn writer(&self) -> &'a Cluster {
        self.writes.unwrap_or(&self.dest.cluster)
    }
}

/// Argo CD keeps 10 history entries unless told otherwise.
const DEFAULT_HISTORY_LIMIT: usize = 10;

/// The sync automation asks for now, if any. Argo CD's rules: only when out
/// of sync; never twice for a revision whose sync failed (the retry policy
/// handles that); again for the same revision only with selfHeal.
pub fn automated(app: &Application, revision: &str, sync: SyncStatusCode) -> Option<Automated> {
    let auto = app.spec.sync_policy.as_ref()?.automated.as_ref()?;
    if auto.enabled == Some(false) || sync != SyncStatusCode::OutOfSync || app.operation.is_some() {
        return None;
    }
    // Automatic rollback went back from this revision: held until Git moves.
    if crate::rollback::holds(app, revision) {
        return None;
    }
    let mut self_heal = false;
    if let Some(last) = app.status.as_ref().and_then(|s| s.operation_state.as_ref()) {
        let same_revision = last.sync_result.as_ref().is_some_and(|r| r.revision == revision);
        if same_revision && (last.phase != OperationPhase::Succeeded || !auto.self_heal) {
            return None;
        }
        // Synced to this very revision before: what differs now is drift.
        self_heal = same_revision;
    }
    let operation = Operation {
        sync: Some(SyncOperation { revision: Some(revision.to_string()), prune: auto.prune, ..Default::default() }),
        initiated_by: Some(OperationInitiator { username: None, automated: true }),
        info: Vec::new(),
        retry: app.spec.sync_policy.as_ref().and_then(|p| p.retry.clone()),
    };
    Some(Automated { operation, self_heal })
}

/// A sync automation asks for.
pub struct Automated {
    /// The operation to run.
    pub operation: Operation,
    /// It reverts drift at an already synced revision (selfHeal), so it is
    /// subject to the self-heal back-off.
    pub self_heal: bool,
}

/// Argo CD's message for a sync stopped by terminate.
const TERMINATED: &str = "Operation terminated";

/// Ends an operation whose sync is no longer running, as terminated.
pub fn mark_terminated(state: &mut OperationState) {
    state.phase = OperationPhase::Failed;
    state.message = Some(TERMINATED.into());
    state.finished_at = Some(status::now());
}

/// Records `op` as running. Written before the request is cleared, so that
/// anyone watching sees the new operation before the old result disappears.
pub fn mark_running(status: &mut ApplicationStatus, op: &Operation) {
    status.operation_state = Some(OperationState {
        operation: op.clone(),
        phase: OperationPhase::Running,
        message: Some("syncing".into()),
        sync_result: None,
        started_at: status::now(),
        finished_at: None,
        retry_count: None,
    });
}

/// Carries out `op` against `desired`, updating `status` (operationState,
/// history) and writing it as results come in. The final state is left for
/// the caller to write with the comparison that follows: one status write,
/// not two, per finished operation.
#[allow(clippy::too_many_arguments)] // the pieces of one reconcile, borrowed
pub async fn run(
    ctx: &Context,
    app: &Application,
    v: &Validated,
    writer: &AppWriter,
    op: Operation,
    desired: &Arc<Desired>,
    mut compared: CompareResult,
    checks: &CustomChecks,
    status: &mut ApplicationStatus,
) -> Vec<(ResourceKey, String)> {
    let sync_op = op.sync.clone().unwrap_or_default();
    if !status.operation_state.as_ref().is_some_and(|s| s.phase == OperationPhase::Running && s.operation == op) {
        mark_running(status, &op);
        write(writer, status).await;
    }
    let state = status.operation_state.as_ref().expect("marked running");
    let started = state.started_at.clone();
    let awaiting_confirmation = awaiting_confirmation(status);
    // An operation a restart interrupted goes on: at its retry attempt, and
    // from the results it recorded at this revision (reconcile pins it).
    let mut attempt = state.retry_count.unwrap_or(0);
    let mut recorded = state
        .sync_result
        .as_ref()
        .filter(|r| r.revision == desired.revision && !sync_op.dry_run)
        .map(|r| r.resources.clone())
        .unwrap_or_default();

    let policy = app.spec.sync_policy.clone().unwrap_or_default();
    let options = SyncOptions::parse(policy.sync_options.iter().chain(sync_op.sync_options.iter()));
    let retry = op.retry.clone().or_else(|| policy.retry.clone());
    let allow_empty = policy.automated.as_ref().is_some_and(|a| a.allow_empty);
    // Which Helm hooks run: "install" until a sync succeeded (history holds
    // only successful syncs) while none of the app's resources exist (an
    // app moved from Argo CD or `helm install` has no history here, but its
    // release is installed: it upgrades), "rollback" for a sync to the history.
    let installed = !status.history.is_empty() || compared.resources.iter().any(|r| r.live.exists());
    let occasion = HelmOccasion::of(installed, op.is_rollback());

    // Whom the sync acts as is settled before anything is applied.
    let writes = ctx.engine.sync_cluster(app, v).await;
    let dest = &v.destination;
    // The policies judge what this sync would apply, as it starts: a
    // violation fails it before any change, and is not retried (the same
    // render would fail again; a fixed commit or policy wakes the app).
    let refused = ctx.engine.policy_check(app, desired).await.err();
    // A sync that runs past the limit says so, once, and goes on.
    let outcome = if let Some(msg) = refused {
        failed(msg)
    } else {
        let attempts = async {
            loop {
                let run = Attempt {
                    sync_id: sync_id(&started, attempt),
                    recorded: std::mem::take(&mut recorded),
                    occasion,
                    prune_confirmed: app.deletion_confirmed(started.0),
                };
                let outcome = match &writes {
                    Ok(w) => {
                        let via = Via { dest, settings: &v.settings, writes: w.as_ref() };
                        attempt_sync(ctx, app, via, &sync_op, &options, allow_empty, desired, &compared, checks, writer, status, run).await
                    }
                    Err(msg) => failed(msg.clone()),
                };
                let limit = retry.as_ref().map(|r| r.limit).unwrap_or(0);
                // A sync waiting for a confirmation is no failure to retry.
                if outcome.phase != OperationPhase::Failed || sync_op.dry_run || (limit >= 0 && attempt >= limit) || ctx.terminating(app) {
                    break outcome;
                }
                attempt += 1;
                let delay = backoff(retry.as_ref(), attempt);
                if let Some(s) = status.operation_state.as_mut() {
                    s.retry_count = Some(attempt);
                    s.message = Some(format!("{} (retrying attempt #{attempt} in {}s)", outcome.message, delay.as_secs()));
                    // The next attempt starts over: a restart during the back-off
                    // must not take this attempt's results for the next one's.
                    s.sync_result = None;
                }
                write(writer, status).await;
                tokio::time::sleep(delay).await;
                // The cluster moved on while we waited: plan against what is there now.
                match ctx.engine.compare(desired, dest, &ctx.engine.compare_options(app, status, checks, dest, &v.settings)).await {
                    Ok(c) => compared = c,
                    Err(e) => break failed(format!("comparison before retry failed: {e}")),
                }
                // A policy added while we waited holds as well.
                if let Err(msg) = ctx.engine.policy_check(app, desired).await {
                    break failed(msg);
                }
            }
        };
        tokio::pin!(attempts);
        // A sync waiting for a person's confirmation is resumed at every
        // reconcile: it was told to run long once, when it began to wait.
        let long = async {
            if awaiting_confirmation {
                std::future::pending::<()>().await;
            }
            running_long(writer, &started, ctx.config.sync_running_long).await
        };
        tokio::select! {
            outcome = &mut attempts => outcome,
            () = long => attempts.await,
        }
    };

    let phase = serde_json::to_value(outcome.phase).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    // A sync waiting for a confirmation has not finished: each look at it is no sync.
    if outcome.phase != OperationPhase::Running {
        ctx.config.metrics.sync_finished(&crate::reconcile::app_labels(app), &phase, sync_op.dry_run);
    }
    let finished = status::now();
    let source = sync_op.source.clone().or_else(|| app.primary_source().cloned());
    if outcome.phase == OperationPhase::Succeeded && !sync_op.dry_run {
        let id = status.history.iter().map(|h| h.id).max().map_or(0, |m| m + 1);
        status.history.push(RevisionHistory {
            id,
            revision: desired.revision.clone(),
            source: source.clone(),
            deploy_started_at: Some(started.clone()),
            deployed_at: finished.clone(),
            initiated_by: op.initiated_by.clone(),
            sources: Vec::new(),
            revisions: Vec::new(),
        });
        let limit = app.spec.revision_history_limit.map(|l| l.max(1) as usize).unwrap_or(DEFAULT_HISTORY_LIMIT);
        let excess = status.history.len().saturating_sub(limit);
        status.history.drain(..excess);
        status::clear_condition(status, driftless_api::condition::SYNC_ERROR);
    } else if outcome.phase != OperationPhase::Succeeded && outcome.phase != OperationPhase::Running {
        status::set_condition(status, driftless_api::condition::SYNC_ERROR, outcome.message.clone());
    }
    show_awaiting_confirmation(status, (outcome.phase == OperationPhase::Running).then_some(&outcome.message), app);
    status.operation_state = Some(OperationState {
        message: Some(crate::rollback::explain(&op, outcome.message)),
        operation: op,
        phase: outcome.phase,
        sync_result: Some(SyncOperationResult {
            resources: outcome.results,
            revision: desired.revision.clone(),
            source,
            ..Default::default()
        }),
        started_at: started,
        finished_at: (outcome.phase != OperationPhase::Running).then_some(finished),
        retry_count: (attempt > 0).then_some(attempt),
    });
    outcome.applied
}

/// Whether the app's sync waits for a person to confirm a prune (it is
/// then resumed at every reconcile).
pub fn awaiting_confirmation(status: &ApplicationStatus) -> bool {
    status.conditions.iter().any(|c| c.type_ == driftless_api::condition::PRUNE_CONFIRMATION_REQUIRED)
}

/// Shows (or clears) the PruneConfirmationRequired condition: what the
/// running sync waits for, and how a person confirms it.
pub fn show_awaiting_confirmation(status: &mut ApplicationStatus, waiting: Option<&String>, app: &Application) {
    const TYPE: &str = driftless_api::condition::PRUNE_CONFIRMATION_REQUIRED;
    match waiting {
        Some(what) => {
            let app =
                format!("{}/{}", app.metadata.namespace.as_deref().unwrap_or_default(), app.metadata.name.as_deref().unwrap_or_default());
            status::set_condition(
                status,
                TYPE,
                format!(
                    "{what}: confirm with `driftless app confirm-deletion {app}` or the app page's Confirm deletion button \
                     (until then no other sync of the app runs; terminating the operation ends the wait)"
                ),
            );
        }
        None => status::clear_condition(status, TYPE),
    }
}

/// Waits until the operation `started` has run for `limit`, then publishes
/// that it runs long. An operation a restart interrupted counts from its
/// start: one already past the limit says so at once.
async fn running_long(writer: &AppWriter, started: &Time, limit: Duration) {
    let ran = Duration::try_from(k8s_openapi::jiff::Timestamp::now().duration_since(started.0)).unwrap_or_default();
    tokio::time::sleep(limit.saturating_sub(ran)).await;
    writer.publish(vec![AppEvent::SyncRunningLong { started_at: started.clone(), limit }]);
}

/// One run of a sync.
struct Attempt {
    /// See [`PlanOptions::sync_id`].
    sync_id: String,
    /// What an interrupted run of this attempt recorded; see
    /// [`ExecuteOptions::recorded`].
    recorded: Vec<ResourceResult>,
    /// Which of Helm's occasions the sync is.
    occasion: HelmOccasion,
    /// See [`PlanOptions::prune_confirmed`].
    prune_confirmed: bool,
}

/// The operation's start, and the retry attempt after the first: the hooks
/// of each attempt have names of their own, so that a hook a failed attempt
/// kept (its delete policy said so) is not in the way of the next.
fn sync_id(started: &Time, attempt: i64) -> String {
    let start = started.0.as_second();
    if attempt == 0 { start.to_string() } else { format!("{start}-{attempt}") }
}

#[allow(clippy::too_many_arguments)]
async fn attempt_sync(
    ctx: &Context,
    app: &Application,
    via: Via<'_>,
    sync_op: &SyncOperation,
    options: &SyncOptions,
    allow_empty: bool,
    desired: &Desired,
    compared: &CompareResult,
    checks: &CustomChecks,
    writer: &AppWriter,
    status: &mut ApplicationStatus,
    run: Attempt,
) -> Outcome {
    // The project may have changed since the comparison: every object,
    // hooks included, is checked again before the first change.
    if let Err(msg) = ctx.engine.recheck(app, desired).await {
        return failed(msg);
    }
    if let Err(msg) = server_side_only(options, desired) {
        return failed(msg);
    }
    let helm = match via.settings.helm_hooks_for(app) {
        Ok(mode) => HelmHooks { mode, occasion: run.occasion },
        Err(msg) => return failed(msg),
    };
    // Another app's object is never taken over: left out of the sync, or,
    // with FailOnSharedResource=true, the sync fails before any change.
    if options.fail_on_shared_resource && !compared.shared.is_empty() {
        let each: Vec<String> = compared.shared.iter().map(ToString::to_string).collect();
        return failed(format!("FailOnSharedResource=true: {}", each.join("; ")));
    }
    let resources = desired.targets.iter().filter(|t| t.role == Role::Resource).count();
    if resources == 0 && !allow_empty && !compared.extraneous.is_empty() && sync_op.prune {
        return failed(format!(
            "refusing to sync: revision {} renders no resources, and pruning would delete all {} of the app's resources; \
             set syncPolicy.automated.allowEmpty=true if that is intended",
            short(&desired.revision),
            compared.extraneous.len()
        ));
    }
    if options.create_namespace
        && let Some(ns) = app.spec.destination.namespace.as_deref()
        && let Err(e) = ensure_namespace(via.writer(), app, ns).await
    {
        return failed(format!("CreateNamespace: {e}"));
    }
    // A selected resource without a namespace matches it in any namespace,
    // as in Argo CD; a selection that matches nothing is an error, not a
    // silent no-op.
    let only = if sync_op.resources.is_empty() {
        None
    } else {
        let known: Vec<&ResourceKey> = desired.targets.iter().map(|t| &t.key).chain(compared.extraneous.iter().map(|e| &e.key)).collect();
        let mut selected = Vec::new();
        for r in &sync_op.resources {
            let ns = r.namespace.as_deref().filter(|s| !s.is_empty());
            let matches: Vec<ResourceKey> = known
                .iter()
                .filter(|k| {
                    k.group == r.group && k.kind == r.kind && k.name == r.name && ns.is_none_or(|ns| k.namespace.as_deref() == Some(ns))
                })
                .map(|k| (*k).clone())
                .collect();
            if matches.is_empty() {
                return failed(format!("operation.sync.resources: {}/{} {} is not a resource of this app", r.group, r.kind, r.name));
            }
            selected.extend(matches);
        }
        Some(selected)
    };
    let in_sync = compared.resources.iter().filter(|r| r.sync == SyncStatusCode::Synced).map(|r| r.key.clone()).collect();
    // RespectIgnoreDifferences: what the rules ignore keeps its live value.
    let respected;
    let targets = if options.respect_ignore_differences {
        let rules = via.settings.diff_options(&app.spec.ignore_differences).unwrap_or_default();
        let mut adjusted = Vec::with_capacity(desired.targets.len());
        for t in &desired.targets {
            let mut t = t.clone();
            let live = match compared.resources.iter().find(|r| r.key == t.key).map(|r| &r.live) {
                Some(Live::Object(l)) => Some(l.clone()),
                // Not fetched by the comparison (unchanged since the last);
                // the rules need the object itself.
                Some(Live::Unchanged) => match via.dest.cluster.get(t.manifest.api_version(), &t.key).await {
                    Ok(l) => l,
                    Err(e) => return failed(format!("{}: {e}", t.key)),
                },
                Some(Live::Missing) | None => None,
            };
            if let Some(live) = live {
                *t.manifest.value_mut() = driftless_diff::respect_ignored(t.manifest.value(), &live, &rules);
            }
            adjusted.push(t);
        }
        respected = adjusted;
        &respected
    } else {
        &desired.targets
    };
    let unshared;
    let targets = if compared.shared.is_empty() {
        targets
    } else {
        unshared = targets.iter().filter(|t| !compared.shared.iter().any(|s| s.key == t.key)).cloned().collect::<Vec<_>>();
        &unshared
    };
    let p = plan(
        targets,
        &compared.extraneous,
        &PlanOptions {
            prune: sync_op.prune,
            prune_last: options.prune_last,
            in_sync,
            apply_out_of_sync_only: options.apply_out_of_sync_only,
            only,
            sync_id: run.sync_id,
            helm,
            prune_confirmed: run.prune_confirmed,
        },
    );
    let existing: HashSet<ResourceKey> = compared.resources.iter().filter(|r| r.live.exists()).map(|r| r.key.clone()).collect();
    // What the comparison dry-ran is valid as it stands; a manifest changed
    // to respect ignored differences is not what was dry-run.
    // Nor is what the controller dry-ran valid for an impersonated writer.
    let validated: HashSet<ResourceKey> = if options.respect_ignore_differences || via.writes.is_some() {
        HashSet::new()
    } else {
        compared.resources.iter().filter(|r| r.validated).map(|r| r.key.clone()).collect()
    };
    // Each applied object's verdict is kept as it comes (see
    // `ExecuteOptions::on_applied`).
    let memo_opts = ctx.engine.compare_options(app, status, checks, via.dest, via.settings);
    // Reversed: the first target of a key wins, as a search would find it.
    let manifests: HashMap<&ResourceKey, &serde_json::Value> = targets.iter().rev().map(|t| (&t.key, t.manifest.value())).collect();
    let keep_verdict = |key: &ResourceKey, live: &serde_json::Value| {
        if let (Some(memo), Some(manifest)) = (ctx.engine.memo(), manifests.get(key)) {
            memo.applied(&memo_opts.options(), key, manifest, live);
        }
    };
    let exec_opts = ExecuteOptions {
        dry_run: sync_op.dry_run,
        validate: !options.no_validate,
        replace: options.replace,
        // Argo CD's `syncStrategy.apply.force` (or `hook.force`): re-create
        // what an apply cannot change, as `Force=true` does per resource.
        force: strategy_forces(sync_op),
        prune_propagation: options.prune_propagation_policy.as_deref(),
        existing: &existing,
        validated: &validated,
        dry_run_first: via.writes.is_some(),
        health: checks,
        wave_timeout: ctx.config.wave_timeout,
        poll: Duration::from_millis(500),
        recorded: &run.recorded,
        on_applied: Some(&keep_verdict),
    };
    let (progress, mut reader) = progress::channel();
    let exec = execute(via.writer(), &p, &exec_opts, &progress);
    tokio::pin!(exec);
    // Look for termination twice a second; publish progress at most once a
    // second, so that a sync that takes less writes only its end, but at
    // once when the sync waits for it (hooks).
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut published = tokio::time::Instant::now();
    loop {
        tokio::select! {
            mut outcome = &mut exec => {
                // Which Helm hooks ran is the operation's to say.
                if targets.iter().any(|t| matches!(t.role, Role::HelmHook { .. })) {
                    outcome.message = format!("{} ({})", outcome.message, helm.describe());
                }
                return outcome;
            }
            Some(checkpoint) = reader.checkpoint() => {
                published = tokio::time::Instant::now();
                persist(writer, status, reader.latest(), &desired.revision).await;
                checkpoint.persisted();
            }
            _ = tick.tick() => {
                // Dropping the sync stops it between two requests.
                if ctx.terminating(app) {
                    return Outcome { phase: OperationPhase::Failed, message: TERMINATED.into(), results: reader.latest(), applied: Vec::new() };
                }
                if published.elapsed() >= Duration::from_secs(1) && reader.has_changed() {
                    published = tokio::time::Instant::now();
                    persist(writer, status, reader.latest(), &desired.revision).await;
                }
            }
        }
    }
}

/// Refuses client-side apply: driftless always applies server-side, so
/// `ServerSideApply=false` (the app's sync options or a resource's
/// annotation) fails the sync rather than being ignored.
fn server_side_only(options: &SyncOptions, desired: &Desired) -> Result<(), String> {
    const WHY: &str = "driftless always applies server-side (field manager driftless) and cannot apply client-side; remove the option";
    if options.server_side_apply == Some(false) {
        return Err(format!("sync option ServerSideApply=false: {WHY}"));
    }
    match desired.targets.iter().find(|t| t.options.server_side_apply == Some(false)) {
        Some(t) => Err(format!("{}: sync-options annotation ServerSideApply=false: {WHY}", t.key)),
        None => Ok(()),
    }
}

/// Whether the operation's `syncStrategy` asks for a forced apply.
pub(crate) fn strategy_forces(sync_op: &SyncOperation) -> bool {
    sync_op
        .sync_strategy
        .as_ref()
        .is_some_and(|s| ["/apply/force", "/hook/force"].iter().any(|p| s.pointer(p) == Some(&serde_json::Value::Bool(true))))
}

async fn ensure_namespace(cluster: &Cluster, app: &Application, ns: &str) -> Result<(), String> {
    let mut obj = serde_json::json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } });
    if let Some(meta) = app.spec.sync_policy.as_ref().and_then(|p| p.managed_namespace_metadata.as_ref()) {
        for field in ["labels", "annotations"] {
            if let Some(v) = meta.get(field) {
                obj["metadata"][field] = v.clone();
            }
        }
    }
    match cluster.get("v1", &ResourceKey { group: String::new(), kind: "Namespace".into(), namespace: None, name: ns.into() }).await {
        Ok(Some(_)) if app.spec.sync_policy.as_ref().and_then(|p| p.managed_namespace_metadata.as_ref()).is_none() => Ok(()),
        Ok(_) => cluster.apply(&obj, false, true).await.map(drop).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn failed(message: String) -> Outcome {
    Outcome { phase: OperationPhase::Failed, message, results: Vec::new(), applied: Vec::new() }
}

/// Writes the results of a running sync.
async fn persist(writer: &AppWriter, status: &mut ApplicationStatus, results: Vec<ResourceResult>, revision: &str) {
    if let Some(s) = status.operation_state.as_mut() {
        s.sync_result = Some(SyncOperationResult { resources: results, revision: revision.to_string(), ..Default::default() });
    }
    write(writer, status).await;
}

async fn write(writer: &AppWriter, status: &ApplicationStatus) {
    if let Err(e) = writer.write(status).await {
        tracing::warn!(app = writer.name(), "writing status: {e}");
    }
}

/// Delay before retry `attempt` (1-based): duration * factor^(attempt-1),
/// capped at maxDuration; Argo CD's defaults are 5s, 2 and 3m.
pub fn backoff(retry: Option<&RetryStrategy>, attempt: i64) -> Duration {
    let b = retry.and_then(|r| r.backoff.as_ref());
    let base = b.and_then(|b| b.duration.as_deref()).and_then(parse_duration).unwrap_or(Duration::from_secs(5));
    let factor = b.and_then(|b| b.factor).unwrap_or(2).max(1) as u32;
    let max = b.and_then(|b| b.max_duration.as_deref()).and_then(parse_duration).unwrap_or(Duration::from_secs(180));
    let exp = u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(30);
    base.saturating_mul(factor.saturating_pow(exp)).min(max)
}

/// Go-style durations as Argo CD writes them: `5s`, `2m`, `1h30m`, `500ms`,
/// or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (num, tail) = rest.split_at(digits);
        let n: f64 = num.parse().ok()?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let secs = match unit {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return None,
        };
        // Absurdly large values are no duration, not a panic.
        total = total.checked_add(Duration::try_from_secs_f64(secs).ok()?)?;
        rest = next;
    }
    Some(total)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use driftless_api::{Backoff, SyncPolicy, SyncPolicyAutomated};

    #[test]
    fn durations_and_backoff_follow_argo_cd() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("99999999999999999999999h"), None);
        assert_eq!(parse_duration("18446744073709551615s1s"), None);
        // Whatever is typed into a flag or a spec never panics.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let text: String = (0..(seed % 12)).map(|i| b"0123456789.hms-e "[((seed >> (i * 4)) % 17) as usize] as char).collect();
            let _ = parse_duration(&text);
        }
        let r = RetryStrategy {
            limit: 5,
            backoff: Some(Backoff { duration: Some("1s".into()), factor: Some(3), max_duration: Some("10s".into()) }),
            refresh: false,
        };
        let delays: Vec<u64> = (1..=4).map(|a| backoff(Some(&r), a).as_secs()).collect();
        assert_eq!(delays, [1, 3, 9, 10]);
        assert_eq!(backoff(None, 1), Duration::from_secs(5));
    }

    pub(crate) fn auto_app(self_heal: bool) -> Application {
        let mut a = Application::default();
        a.spec.sync_policy = Some(SyncPolicy {
            automated: Some(SyncPolicyAutomated { prune: true, self_heal, ..Default::default() }),
            ..Default::default()
        });
        a
    }

    pub(crate) fn last_sync(app: &mut Application, revision: &str, phase: OperationPhase) {
        app.status.get_or_insert_with(Default::default).operation_state = Some(OperationState {
            operation: Operation::default(),
            phase,
            message: None,
            sync_result: Some(SyncOperationResult { revision: revision.into(), ..Default::default() }),
            started_at: status::now(),
            finished_at: None,
            retry_count: None,
        });
    }

    #[test]
    fn automation_syncs_a_new_revision_once() {
        let mut app = auto_app(false);
        let op = automated(&app, "abc", SyncStatusCode::OutOfSync).expect("out of sync at a new revision syncs").operation;
        assert!(op.sync.as_ref().unwrap().prune && op.initiated_by.as_ref().unwrap().automated);
        assert!(automated(&app, "abc", SyncStatusCode::Synced).is_none());
        last_sync(&mut app, "abc", OperationPhase::Failed);
        assert!(automated(&app, "abc", SyncStatusCode::OutOfSync).is_none(), "a failed revision is not retried endlessly");
        assert!(automated(&app, "def", SyncStatusCode::OutOfSync).is_some(), "a new revision is tried");
        last_sync(&mut app, "abc", OperationPhase::Succeeded);
        assert!(automated(&app, "abc", SyncStatusCode::OutOfSync).is_none(), "drift is left alone without selfHeal");
        let mut healing = auto_app(true);
        last_sync(&mut healing, "abc", OperationPhase::Succeeded);
        assert!(automated(&healing, "abc", SyncStatusCode::OutOfSync).is_some(), "selfHeal reverts drift");
    }
}
