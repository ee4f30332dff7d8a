//! Carrying out a [`Plan`]: a dry run of everything first, then PreSync
//! hooks, the Sync waves (each waits for the previous to be healthy),
//! prunes, PostSync hooks once all is healthy, and SyncFail hooks if any
//! step fails. Every resource's result is published as it happens; a sync
//! a restart interrupted goes on from what it recorded ([`Resume`]).

use std::collections::HashSet;
use std::time::Duration;

use driftless_api::Manifest;
use driftless_api::{HealthStatusCode, HookDeletePolicy, HookPhase, OperationPhase, ResourceResult, ResultCode};
use driftless_health::CustomChecks;
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use crate::ResourceKey;
use crate::cluster::{Cluster, ClusterError};
use crate::compare::PARALLEL_REQUESTS;
use crate::plan::{Action, Plan, Resume, Task, TaskState, Wave, kind_rank};
use crate::progress::{self, Progress};

/// How to carry out a plan.
pub struct ExecuteOptions<'a> {
    /// Only dry runs; nothing changes.
    pub dry_run: bool,
    /// Strict field validation (`Validate=false` turns it off).
    pub validate: bool,
    /// `Replace=true` for every resource.
    pub replace: bool,
    /// Re-create what an apply cannot change (an immutable field), for
    /// every resource, as `Force=true` does for one (Argo CD's
    /// `syncStrategy.apply.force`).
    pub force: bool,
    /// `PrunePropagationPolicy`: foreground (default), background or orphan.
    pub prune_propagation: Option<&'a str>,
    /// Resources that already exist, to tell "created" from "configured".
    pub existing: &'a HashSet<ResourceKey>,
    /// Resources whose manifest the comparison just dry-ran successfully
    /// against the live object: their dry run is not repeated.
    pub validated: &'a HashSet<ResourceKey>,
    /// Dry-run every object on the server before changing anything, even
    /// in a sync that only creates: the client writes with other
    /// permissions than the comparison's (impersonation), and a refusal
    /// must come before the first change.
    pub dry_run_first: bool,
    /// Custom health checks, for waves and hooks.
    pub health: &'a CustomChecks,
    /// How long one wave or hook may take to become healthy.
    pub wave_timeout: Duration,
    /// How often to look again while waiting.
    pub poll: Duration,
    /// What an interrupted run of this sync recorded (its
    /// `syncResult.resources`): what it shows done is not done again.
    pub recorded: &'a [ResourceResult],
    /// Told of each object a server-side apply left, as it is applied,
    /// with the key of its task: the controller keeps its verdict then, so
    /// that no sync holds the objects its applies return.
    pub on_applied: Option<OnApplied<'a>>,
}

/// See [`ExecuteOptions::on_applied`]: the task's key and the object its
/// apply left.
pub type OnApplied<'a> = &'a (dyn Fn(&ResourceKey, &Value) + Sync);

/// How a sync ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Succeeded or Failed; Running when it waits for a person to confirm
    /// the pruning of `Prune=confirm` resources (it goes on, as a resumed
    /// sync, once confirmed).
    pub phase: OperationPhase,
    /// A summary for people.
    pub message: String,
    /// One result per resource touched.
    pub results: Vec<ResourceResult>,
    /// Each server-side apply that succeeded, with the resourceVersion it
    /// left: the comparison after the sync need not fetch that object, nor
    /// dry-run it, while the verdict kept by
    /// [`ExecuteOptions::on_applied`] stands (a dry run of the same
    /// manifest would predict that very object).
    pub applied: Vec<(ResourceKey, String)>,
}

/// Runs `plan`, publishing results on `progress` as they change.
pub async fn execute(cluster: &Cluster, plan: &Plan, opts: &ExecuteOptions<'_>, progress: &Progress) -> Outcome {
    let resume = Resume::new(opts.recorded);
    if let Some((phase, wave)) = resume.reached(plan) {
        tracing::info!("resuming the sync at {} wave {wave}", phase.as_str());
    }
    let results = resume.recorded().to_vec();
    let mut run = Run { cluster, opts, progress, resume, results, hooks_created: Vec::new(), applied: Vec::new() };
    let outcome = run.steps(plan).await;
    let (phase, message) = match outcome {
        Ok(Steps::AwaitingConfirmation(message)) => (OperationPhase::Running, message),
        Ok(Steps::Done) if opts.dry_run => (OperationPhase::Succeeded, "successfully synced (dry run)".to_string()),
        Ok(Steps::Done) => {
            run.delete_hooks(HookDeletePolicy::HookSucceeded).await;
            (OperationPhase::Succeeded, "successfully synced (all tasks run)".to_string())
        }
        Err(message) => {
            if !opts.dry_run {
                for wave in &plan.sync_fail {
                    if let Err(e) = run.wave(wave, false).await {
                        tracing::warn!("SyncFail hook failed: {e}");
                    }
                }
                run.delete_hooks(HookDeletePolicy::HookFailed).await;
            }
            (OperationPhase::Failed, message)
        }
    };
    Outcome { phase, message, results: run.results, applied: run.applied }
}

/// Runs the hooks of one phase of an app's cascade deletion (PreDelete or
/// PostDelete), wave by wave, each waited for. A deletion spans several
/// reconciles (it waits for resources to go, or for a confirmation), so
/// the live hooks say what ran, as a sync's record does after a restart
/// ([`Resume`]): a hook that completed is not run again, one still running
/// is waited for, and one that failed is the error at once (deleting it
/// runs it again). Delete policies are the deletion's to apply, at its end.
/// The error names the hook and why.
pub async fn run_deletion_hooks(cluster: &Cluster, waves: &[Wave], opts: &ExecuteOptions<'_>) -> Result<Vec<ResourceResult>, String> {
    let mut seen = Vec::new();
    for t in waves.iter().flat_map(|w| &w.tasks) {
        let live = cluster.get(&t.api_version, &t.key).await.map_err(|e| format!("{}: {e}", t.key))?;
        // One on its way out is gone as far as this run is concerned.
        let Some(live) = live.filter(|l| l["metadata"]["deletionTimestamp"].is_null()) else { continue };
        let health = driftless_health::assess(&live, opts.health).map_err(|e| format!("{}: {e}", t.key))?;
        let phase = match health.as_ref().map(|h| h.status) {
            None | Some(HealthStatusCode::Healthy | HealthStatusCode::Suspended) => HookPhase::Succeeded,
            Some(HealthStatusCode::Degraded) => {
                let why = health.and_then(|h| h.message).unwrap_or_else(|| "Degraded".into());
                return Err(format!("{} hook {} failed: {why}", t.phase.as_str(), t.key));
            }
            _ => HookPhase::Running,
        };
        seen.push(result(t, Some(ResultCode::Synced), String::new(), Some(phase)));
    }
    let opts = ExecuteOptions { recorded: &seen, ..*opts };
    // Nobody persists a deletion's progress: the live hooks are its record.
    let (progress, _) = progress::channel();
    let resume = Resume::new(opts.recorded);
    let results = resume.recorded().to_vec();
    let mut run = Run { cluster, opts: &opts, progress: &progress, resume, results, hooks_created: Vec::new(), applied: Vec::new() };
    for wave in waves {
        run.wave(wave, true).await?;
    }
    Ok(run.results)
}

/// How the steps of a sync ended, short of a failure.
enum Steps {
    /// All of them ran.
    Done,
    /// Everything up to a `Prune=confirm` resource's prune ran; the rest
    /// waits for a person's confirmation. What waits, for people.
    AwaitingConfirmation(String),
}

struct Run<'a> {
    cluster: &'a Cluster,
    opts: &'a ExecuteOptions<'a>,
    progress: &'a Progress,
    /// What an interrupted run did.
    resume: Resume<'a>,
    results: Vec<ResourceResult>,
    /// Hooks run in this sync (before a restart too), with their delete
    /// policies and outcome.
    hooks_created: Vec<(Task, Vec<HookDeletePolicy>, bool)>,
    /// See [`Outcome::applied`].
    applied: Vec<(ResourceKey, String)>,
}

impl Run<'_> {
    async fn steps(&mut self, plan: &Plan) -> Result<Steps, String> {
        self.dry_run_all(plan).await?;
        if self.opts.dry_run {
            for t in plan.sync.iter().flat_map(|w| &w.tasks) {
                self.record(t, Some(ResultCode::Synced), format!("{} (dry run)", verb(self.opts.existing.contains(&t.key))), None);
            }
            for t in &plan.prune {
                let (code, msg) = prune_result(t, true);
                self.record(t, Some(code), msg, None);
            }
            return Ok(Steps::Done);
        }
        for wave in &plan.pre_sync {
            self.wave(wave, true).await?;
        }
        let resume = self.resume;
        let awaiting: Vec<&Task> =
            plan.prune.iter().filter(|t| t.action == Action::AwaitConfirmation && resume.state(t) == TaskState::Pending).collect();
        let last = plan.sync.len().saturating_sub(1);
        for (i, wave) in plan.sync.iter().enumerate() {
            // After the last wave, wait only if PostSync hooks need health,
            // or if the sync is to wait for a confirmation: then what it
            // applied is recorded done, and each look at the confirmation
            // (every reconcile resumes the sync) applies nothing again.
            self.wave(wave, i < last || !plan.post_sync.is_empty() || !awaiting.is_empty()).await?;
        }
        // In order, up to the wave and kind of the first prune that waits:
        // its peers go, what comes after it (a Namespace holding it, say)
        // waits with it.
        let group = |t: &Task| (t.wave, kind_rank(&t.key.kind));
        let mut waits = None;
        for t in plan.prune.iter().filter(|t| resume.state(t) == TaskState::Pending) {
            match waits {
                Some(g) if g != group(t) => break,
                _ if t.action == Action::AwaitConfirmation => waits = Some(group(t)),
                _ => self.prune(t).await?,
            }
        }
        if waits.is_some() {
            for &w in &awaiting {
                self.record(w, None, "waiting for pruning confirmation (Prune=confirm)".into(), None);
            }
            let each: Vec<String> = awaiting.iter().map(|t| t.key.to_string()).collect();
            return Ok(Steps::AwaitingConfirmation(format!("waiting for pruning confirmation of {}", each.join(", "))));
        }
        for wave in &plan.post_sync {
            self.wave(wave, true).await?;
        }
        Ok(Steps::Done)
    }

    /// Every apply is tried as a dry run first: one invalid manifest fails
    /// the sync before anything changes. A sync that only creates objects
    /// (an app's first) changes nothing that runs: the server judges each
    /// object as it is applied, as after Argo CD's client-side dry run, and
    /// only their kinds are checked first. That halves what a first sync
    /// asks of the API server.
    async fn dry_run_all(&mut self, plan: &Plan) -> Result<(), String> {
        let crds: HashSet<(String, String)> = plan
            .tasks()
            .filter_map(|t| t.manifest.as_ref())
            .filter(|m| m.kind() == "CustomResourceDefinition")
            .filter_map(|m| {
                Some((m.value()["spec"]["group"].as_str()?.to_string(), m.value()["spec"]["names"]["kind"].as_str()?.to_string()))
            })
            .collect();
        let tasks: Vec<(&Task, &Manifest)> = plan
            .tasks()
            .filter(|t| matches!(t.action, Action::Apply | Action::RunHook(_)) && self.resume.state(t) == TaskState::Pending)
            .filter(|t| !(t.action == Action::Apply && self.opts.validated.contains(&t.key)))
            .filter_map(|t| Some((t, t.manifest.as_ref()?)))
            .collect();
        let (cluster, validate) = (self.cluster, self.opts.validate);
        let on_server = self.opts.dry_run || self.opts.dry_run_first || !self.only_creates(plan);
        let dry_runs: Vec<_> = tasks
            .iter()
            .map(|&(_, m)| async move {
                if on_server {
                    cluster.apply(m.value(), true, validate).await.map(drop)
                } else {
                    cluster.resource(m.api_version(), m.kind()).await.map(drop)
                }
            })
            .collect();
        let outcomes: Vec<_> = stream::iter(dry_runs).buffered(PARALLEL_REQUESTS).collect().await;
        let mut failed = Vec::new();
        for ((t, m), outcome) in tasks.into_iter().zip(outcomes) {
            let outcome = match outcome {
                // What cannot change in place is re-created when the user
                // allowed it: then the new object must be valid.
                // A conflict (a fixed nodePort) or a quota counts the live
                // object, which the re-create deletes first: not a refusal.
                Err(e) if e.status() == Some(422) && self.recreates(t) => match cluster.dry_run_create_anew(m.value()).await {
                    Err(create) if matches!(create.status(), Some(403 | 409)) => Ok(()),
                    Err(create) => Err(ClusterError::Recreate { update: e.to_string(), create: create.to_string() }),
                    Ok(()) => Ok(()),
                },
                other => other,
            };
            match outcome {
                Ok(_) => {}
                Err(ClusterError::UnknownKind { .. })
                    if t.options.skip_dry_run_on_missing_resource || crds.contains(&(t.key.group.clone(), t.key.kind.clone())) => {}
                Err(e) => {
                    let msg = with_immutable_hint(&e);
                    self.record(t, Some(ResultCode::SyncFailed), msg.clone(), None);
                    failed.push(format!("{}: {msg}", t.key));
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("one or more objects failed to apply (dry run), nothing was changed: {}", failed.join("; ")))
        }
    }

    /// Whether the plan only creates resources: no hooks, no prunes, and
    /// nothing that exists already.
    fn only_creates(&self, plan: &Plan) -> bool {
        plan.pre_sync.is_empty()
            && plan.post_sync.is_empty()
            && plan.prune.is_empty()
            && plan.sync.iter().flat_map(|w| &w.tasks).all(|t| t.action == Action::Apply && !self.opts.existing.contains(&t.key))
    }

    /// Applies a wave: Namespaces and CRDs first, one by one (what follows
    /// may live in them; a CRD must be served before its resources), then
    /// the rest at once, as Argo CD runs a wave's tasks concurrently. Every
    /// apply of the wave is tried even when one fails. What an interrupted
    /// run did is not done again.
    async fn wave(&mut self, wave: &Wave, wait: bool) -> Result<(), String> {
        let resume = self.resume;
        let (first, rest): (Vec<&Task>, Vec<&Task>) = wave
            .tasks
            .iter()
            .filter(|t| t.action == Action::Apply && resume.state(t) == TaskState::Pending)
            .partition(|t| matches!(t.key.kind.as_str(), "Namespace" | "CustomResourceDefinition"));
        let applied: Vec<&Task> = first.iter().chain(&rest).copied().collect();
        for t in first {
            let outcome = self.try_apply(t).await;
            self.record_apply(t, outcome)?;
            if t.key.kind == "CustomResourceDefinition" {
                self.wait_healthy(t, &t.key).await?;
                self.wait_served(t).await?;
            }
        }
        let applies: Vec<_> = rest.iter().map(|t| self.try_apply(t)).collect();
        let outcomes: Vec<_> = stream::iter(applies).buffered(PARALLEL_REQUESTS).collect().await;
        let mut failure = None;
        for (t, outcome) in rest.into_iter().zip(outcomes) {
            if let Err(e) = self.record_apply(t, outcome) {
                failure.get_or_insert(e);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }

        self.hooks(wave).await?;
        if wait {
            let waits: Vec<_> = applied.iter().map(|t| self.wait_healthy(t, &t.key)).collect();
            stream::iter(waits).buffer_unordered(PARALLEL_REQUESTS).try_collect::<Vec<()>>().await?;
            // Seen healthy: a restart need not apply them again.
            for t in &applied {
                if let Some(r) = self.results.iter_mut().find(|r| t.is_result(r)) {
                    r.hook_phase = Some(HookPhase::Succeeded);
                }
            }
            self.progress.publish(&self.results);
        }
        Ok(())
    }

    /// Runs a wave's hooks and waits for them. A hook an interrupted run
    /// saw succeed is only remembered, for its delete policy; one it
    /// created is waited for, not deleted or created again.
    async fn hooks(&mut self, wave: &Wave) -> Result<(), String> {
        let mut started = Vec::new();
        for t in &wave.tasks {
            let Action::RunHook(policies) = &t.action else { continue };
            match self.resume.state(t) {
                TaskState::Done => self.hooks_created.push((t.clone(), policies.clone(), true)),
                TaskState::Running => started.push((t, true)),
                TaskState::Pending => {
                    if policies.is_empty() || policies.contains(&HookDeletePolicy::BeforeHookCreation) {
                        self.cluster.delete(&t.api_version, &t.key, Some("background")).await.map_err(|e| format!("{}: {e}", t.key))?;
                    }
                    started.push((t, false));
                }
            }
        }
        if started.is_empty() {
            return Ok(());
        }
        for (t, _) in &started {
            self.record(t, None, "running".into(), Some(HookPhase::Running));
        }
        // Persisted before any hook exists (and after the previous ones are
        // gone): a restart waits for the hooks it finds Running instead of
        // creating them again, and knows the hooks before them completed.
        self.progress.checkpoint().await;
        for &(t, created) in &started {
            self.start_hook(t, created).await?;
        }
        for (t, _) in &started {
            self.finish_hook(t).await?;
        }
        // Their completion too, before the next wave: the hooks themselves
        // may be deleted at the end of the sync.
        self.progress.checkpoint().await;
        Ok(())
    }

    /// Whether the user allowed re-creating the task's object when it
    /// cannot change in place (Replace=true, Force=true, a forced sync).
    fn recreates(&self, t: &Task) -> bool {
        self.opts.replace || t.options.replace || t.options.force || self.opts.force
    }

    /// Applies one task's manifest: server-side apply, or replace, and
    /// re-creation when an immutable field changes and the user allowed it.
    async fn try_apply(&self, t: &Task) -> Result<Applied, ClusterError> {
        let Some(m) = &t.manifest else { return Ok(Applied { verb: verb(true), live: None }) };
        let replace = self.opts.replace || t.options.replace;
        let result =
            if replace { self.cluster.replace(m.value()).await } else { self.cluster.apply(m.value(), false, self.opts.validate).await };
        match result {
            Ok(obj) => Ok(Applied {
                verb: if replace { "replaced" } else { verb(self.opts.existing.contains(&t.key)) },
                live: (!replace).then_some(obj),
            }),
            // An immutable field can only change by re-creating the object:
            // done when the user asked for Replace/Force, explained otherwise.
            Err(e) if e.status() == Some(422) && self.recreates(t) => {
                self.cluster.delete(&t.api_version, &t.key, Some("foreground")).await?;
                self.recreate(m.value()).await?;
                Ok(Applied { verb: if replace { "replaced" } else { verb(self.opts.existing.contains(&t.key)) }, live: None })
            }
            Err(e) => Err(e),
        }
    }

    fn record_apply(&mut self, t: &Task, outcome: Result<Applied, ClusterError>) -> Result<(), String> {
        match outcome {
            Ok(Applied { verb, live }) => {
                // Running until seen healthy, as in Argo CD's results.
                self.record(t, Some(ResultCode::Synced), verb.to_string(), Some(HookPhase::Running));
                if let Some(live) = live {
                    if let Some(note) = self.opts.on_applied {
                        note(&t.key, &live);
                    }
                    let version = live["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
                    self.applied.push((t.key.clone(), version));
                }
                Ok(())
            }
            Err(e) => {
                let msg = with_immutable_hint(&e);
                self.record(t, Some(ResultCode::SyncFailed), msg.clone(), None);
                Err(format!("{}: {msg}", t.key))
            }
        }
    }

    /// Creates `obj` once its previous incarnation is gone.
    async fn recreate(&self, obj: &Value) -> Result<Value, ClusterError> {
        let mut last = None;
        for _ in 0..(self.opts.wave_timeout.as_millis() / self.opts.poll.as_millis().max(1)).max(1) {
            match self.cluster.create(obj).await {
                Err(e) if e.status() == Some(409) => last = Some(e),
                other => return other,
            }
            tokio::time::sleep(self.opts.poll).await;
        }
        Err(last.unwrap_or(ClusterError::Json(serde::de::Error::custom("re-create timed out"))))
    }

    /// Creates a hook, unless an interrupted run `created` it already and
    /// it is still there.
    async fn start_hook(&mut self, t: &Task, created: bool) -> Result<(), String> {
        let Some(m) = &t.manifest else { return Err(format!("{}: hook without manifest", t.key)) };
        if created {
            match self.cluster.get(&t.api_version, &t.key).await {
                // One on its way out is the previous run's, which
                // BeforeHookCreation deleted: created again once gone.
                Ok(Some(live)) if live["metadata"]["deletionTimestamp"].is_null() => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(self.hook_failed(t, e.to_string())),
            }
        }
        match self.recreate(m.value()).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.hook_failed(t, e.to_string())),
        }
    }

    /// Records a hook that could not be run; the sync's error.
    fn hook_failed(&mut self, t: &Task, message: String) -> String {
        let error = format!("{} hook {}: {message}", t.phase.as_str(), t.key);
        self.record(t, Some(ResultCode::SyncFailed), message, Some(HookPhase::Failed));
        error
    }

    async fn finish_hook(&mut self, t: &Task) -> Result<(), String> {
        let policies = t.action.delete_policies().to_vec();
        let result = self.wait_healthy(t, &t.key).await;
        self.hooks_created.push((t.clone(), policies, result.is_ok()));
        match result {
            Ok(()) => {
                self.record(t, Some(ResultCode::Synced), format!("{} hook succeeded", t.phase.as_str()), Some(HookPhase::Succeeded));
                Ok(())
            }
            Err(e) => {
                self.record(t, Some(ResultCode::SyncFailed), e.clone(), Some(HookPhase::Failed));
                Err(format!("{} hook failed: {e}", t.phase.as_str()))
            }
        }
    }

    async fn delete_hooks(&mut self, policy: HookDeletePolicy) {
        for (t, policies, succeeded) in &self.hooks_created {
            let wanted = match policy {
                HookDeletePolicy::HookSucceeded => *succeeded,
                HookDeletePolicy::HookFailed => !*succeeded,
                HookDeletePolicy::BeforeHookCreation => false,
            };
            if wanted
                && policies.contains(&policy)
                && let Err(e) = self.cluster.delete(&t.api_version, &t.key, Some("background")).await
            {
                tracing::warn!("deleting hook {}: {e}", t.key);
            }
        }
    }

    async fn prune(&mut self, t: &Task) -> Result<(), String> {
        if let Action::Prune = t.action
            && let Err(e) = self.cluster.delete(&t.api_version, &t.key, self.opts.prune_propagation).await
        {
            self.record(t, Some(ResultCode::SyncFailed), e.to_string(), None);
            return Err(format!("prune {}: {e}", t.key));
        }
        let (code, msg) = prune_result(t, false);
        self.record(t, Some(code), msg, None);
        Ok(())
    }

    /// Waits until discovery serves every version of the kind a CRD task
    /// defines: an Established CRD can take a moment longer to appear in
    /// discovery, and a resource applied meanwhile fails as unknown.
    async fn wait_served(&self, t: &Task) -> Result<(), String> {
        let Some(crd) = t.manifest.as_ref().map(|m| m.value()) else { return Ok(()) };
        let (group, kind) = (crd["spec"]["group"].as_str().unwrap_or_default(), crd["spec"]["names"]["kind"].as_str().unwrap_or_default());
        let served = crd["spec"]["versions"].as_array().into_iter().flatten().filter(|v| v["served"] != false);
        let deadline = tokio::time::Instant::now() + self.opts.wave_timeout;
        for version in served.filter_map(|v| v["name"].as_str()) {
            let api_version = format!("{group}/{version}");
            loop {
                match self.cluster.resource(&api_version, kind).await {
                    Ok(_) => break,
                    Err(ClusterError::UnknownKind { .. }) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(self.opts.poll).await
                    }
                    Err(e) => return Err(format!("{}: {api_version} {kind} is not served: {e}", t.key)),
                }
            }
        }
        Ok(())
    }

    /// Waits until the live object of `key` is healthy (or has no health).
    /// It is read afresh each time, never judged by what the apply returned:
    /// a child Application's status is of its previous spec until its own
    /// controller compares again (see `driftless_health`'s rule for it).
    /// A hook that is Degraded has failed; a resource may pass through
    /// Degraded (a CRD while it installs), so it is waited for, as Argo CD
    /// does, until the wave timeout.
    async fn wait_healthy(&self, t: &Task, key: &ResourceKey) -> Result<(), String> {
        let is_hook = matches!(t.action, Action::RunHook(_));
        let deadline = tokio::time::Instant::now() + self.opts.wave_timeout;
        loop {
            let live = self.cluster.get(&t.api_version, key).await.map_err(|e| format!("{key}: {e}"))?;
            let health = match &live {
                None => Some(driftless_api::HealthStatus::status(HealthStatusCode::Missing)),
                Some(l) => driftless_health::assess(l, self.opts.health).map_err(|e| format!("{key}: {e}"))?,
            };
            let status = health.as_ref().map(|h| h.status);
            match status {
                None | Some(HealthStatusCode::Healthy) | Some(HealthStatusCode::Suspended) => return Ok(()),
                Some(HealthStatusCode::Degraded) if is_hook => {
                    let why = health.and_then(|h| h.message).unwrap_or_default();
                    return Err(format!("{key} is Degraded: {why}"));
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                let why = health.and_then(|h| h.message).map(|m| format!(": {m}")).unwrap_or_default();
                return Err(format!("{key} did not become healthy within {:?} (last: {status:?}{why})", self.opts.wave_timeout));
            }
            tokio::time::sleep(self.opts.poll).await;
        }
    }

    /// Records (or updates) the result of a task and publishes all results.
    fn record(&mut self, t: &Task, status: Option<ResultCode>, message: String, hook_phase: Option<HookPhase>) {
        let r = result(t, status, message, hook_phase);
        match self.results.iter_mut().find(|x| t.is_result(x)) {
            Some(existing) => *existing = r,
            None => self.results.push(r),
        }
        self.progress.publish(&self.results);
    }
}

/// The result of task `t`.
fn result(t: &Task, status: Option<ResultCode>, message: String, hook_phase: Option<HookPhase>) -> ResourceResult {
    let (_, version) = t.api_version.rsplit_once('/').unwrap_or(("", &t.api_version));
    ResourceResult {
        group: t.key.group.clone(),
        version: version.to_string(),
        kind: t.key.kind.clone(),
        namespace: t.key.namespace.clone().unwrap_or_default(),
        name: t.key.name.clone(),
        status,
        message,
        hook_type: t.hook_type(),
        hook_phase,
        sync_phase: Some(t.phase),
        images: Vec::new(),
    }
}

/// A successful apply: what it did, and the object it left when it was a
/// server-side apply.
struct Applied {
    verb: &'static str,
    live: Option<Value>,
}

/// The server's reason, with what to do when an immutable field is why.
fn with_immutable_hint(e: &ClusterError) -> String {
    let mut msg = e.to_string();
    if e.status() == Some(422) && msg.contains("immutable") {
        msg.push_str(
            " (the field is immutable: sync with force, `driftless app sync --force`, or add the sync option Replace=true or Force=true, to re-create the resource)",
        );
    }
    msg
}

fn verb(existed: bool) -> &'static str {
    if existed { "configured" } else { "created" }
}

fn prune_result(t: &Task, dry_run: bool) -> (ResultCode, String) {
    match t.action {
        Action::PruneSkip(why) => (ResultCode::PruneSkipped, why.to_string()),
        Action::AwaitConfirmation => (ResultCode::PruneSkipped, "waits for pruning confirmation (Prune=confirm)".into()),
        _ if dry_run => (ResultCode::Pruned, "pruned (dry run)".into()),
        _ => (ResultCode::Pruned, "pruned".into()),
    }
}
