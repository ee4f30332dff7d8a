//! The ApplicationSet loop: for each set, its Applications made
//! ([`crate::applications`]), checked against tenancy, planned
//! ([`crate::plan`]) and written; a RollingSync advanced
//! ([`crate::progressive`]); the status written. Hosted by the
//! controller (`driftless controller`), on the engine it runs on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::{
    Application, ApplicationSet, ApplicationSetCondition, ApplicationSetStatus, Info, Operation, OperationInitiator, ResourceStatus,
    SyncOperation,
};
use driftless_engine::Engine;
use driftless_engine::project::Tenancy;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::apps::RESOURCES_FINALIZER;
use crate::plan::{Policy, plan};
use crate::progressive::{advance, reverse_deletion, rolling_steps, to_delete};
use crate::sources::EngineSources;

/// Who writes generated Applications.
const FIELD_MANAGER: &str = "driftless-applicationset";
/// `status.resources` lists this many apps at most (`resourcesCount`
/// counts them all). Argo CD lists all unless
/// `--max-resources-status-count` is set; driftless caps by default, so a
/// set of many thousand apps stays well below etcd's object size limit.
const MAX_RESOURCES: usize = 5000;

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where sets may live.
    pub tenancy: Tenancy,
    /// How often sets with Git, SCM or decision generators generate again
    /// without an event (`requeueAfterSeconds` overrides; Argo CD: 3 min).
    pub requeue: Duration,
}

/// Errors that end a reconcile (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A write to the API server failed.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// What a set generated last, reused while nothing it depends on changed.
struct Generated {
    key: String,
    at: Instant,
    outcome: Result<Vec<Application>, String>,
}

struct Context {
    client: kube::Client,
    engine: Arc<Engine>,
    config: Config,
    apps: Store<Application>,
    /// The sets, to forget what deleted ones generated.
    sets: Store<ApplicationSet>,
    generated: Mutex<HashMap<ObjectRef<ApplicationSet>, Generated>>,
    /// Bumped at every cluster Secret change: cluster generators' input.
    clusters_version: std::sync::atomic::AtomicU64,
}

/// Runs the loop until `shutdown`.
pub async fn run(
    client: kube::Client,
    engine: Arc<Engine>,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let control_plane = config.tenancy.control_plane.clone();
    let everywhere = !config.tenancy.appset_namespaces.is_empty();
    let sets: Api<ApplicationSet> = if everywhere { Api::all(client.clone()) } else { Api::namespaced(client.clone(), &control_plane) };
    let app_api: Api<Application> = if everywhere { Api::all(client.clone()) } else { Api::namespaced(client.clone(), &control_plane) };
    // Every change to an app a set owns (its status too) wakes the set:
    // RollingSync and status.resources follow the apps.
    let (apps, writer) = reflector::store();
    let owners = watcher(app_api, watcher::Config::default())
        .default_backoff()
        .try_filter_map(|event| std::future::ready(Ok(owned_only(event))))
        .modify(|a| a.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects()
        .filter_map(|a| std::future::ready(a.ok()))
        .flat_map(|app: Application| {
            let ns = app.namespace().unwrap_or_default();
            let owners: Vec<ObjectRef<ApplicationSet>> = set_owners(&app).map(|o| ObjectRef::new(&o.name).within(&ns)).collect();
            futures::stream::iter(owners)
        });
    let controller = Controller::new(sets, watcher::Config::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        engine,
        config,
        apps,
        sets: controller.store(),
        generated: Mutex::default(),
        clusters_version: Default::default(),
    });
    // A cluster Secret's change is a change of every clusters generator's
    // input: all sets look again.
    let cluster_secrets = watcher(
        Api::<Secret>::namespaced(client.clone(), &control_plane),
        watcher::Config::default().labels(&format!(
            "{}={}",
            driftless_engine::clusters::SECRET_TYPE_LABEL,
            driftless_engine::clusters::SECRET_TYPE_CLUSTER
        )),
    )
    .default_backoff()
    .touched_objects()
    .filter_map(|s| std::future::ready(s.ok()))
    .map({
        let ctx = ctx.clone();
        move |_| {
            ctx.clusters_version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let store = controller.store();
    let all_sets = cluster_secrets
        .flat_map(move |()| futures::stream::iter(store.state().iter().map(|s| ObjectRef::from_obj(&**s)).collect::<Vec<_>>()));
    controller
        .reconcile_on(owners)
        .reconcile_on(all_sets)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("applicationset reconcile: {e}");
            }
        })
        .await;
}

fn error_policy(_set: Arc<ApplicationSet>, e: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!("applicationset: {e}");
    Action::requeue(Duration::from_secs(5))
}

/// How often the set generates again without an event: when a generator
/// reads something no event announces (Git, SCM APIs, decision resources),
/// after the shortest `requeueAfterSeconds` any names, or `Duration::ZERO`
/// for "the default"; None when events say everything.
fn polls(set: &ApplicationSet) -> Option<Duration> {
    const POLLING: [&str; 5] = ["git", "scmProvider", "pullRequest", "clusterDecisionResource", "plugin"];
    let (mut polling, mut shortest) = (false, None::<i64>);
    let generators = serde_json::to_value(&set.spec.generators).unwrap_or_default();
    let mut pending = vec![&generators];
    while let Some(v) = pending.pop() {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    polling |= POLLING.contains(&k.as_str()) && v.is_object();
                    if k == "requeueAfterSeconds"
                        && let Some(n) = v.as_i64()
                    {
                        shortest = Some(shortest.map_or(n, |s| s.min(n)));
                    }
                    pending.push(v);
                }
            }
            serde_json::Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    polling.then(|| shortest.filter(|s| *s > 0).map(|s| Duration::from_secs(s as u64)).unwrap_or(Duration::ZERO))
}

async fn reconcile(set: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = set.namespace().unwrap_or_default();
    let sets: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &ns);
    if set.meta().deletion_timestamp.is_some() {
        return deleting(&set, &ctx, &sets).await;
    }
    if !ctx.config.tenancy.appset_namespace_enabled(&ns) {
        let message = format!(
            "ApplicationSets in namespace {ns:?} are not handled: it is not the control-plane namespace {:?} and is not enabled by \
             applicationsetcontroller.namespaces and application.namespaces",
            ctx.config.tenancy.control_plane
        );
        write_status(&sets, &set, failed(&set, "ApplicationSetNamespaceNotAllowed", &message)).await?;
        return Ok(Action::await_change());
    }
    if needs_finalizer(&set) && !set.finalizers().iter().any(|f| f == RESOURCES_FINALIZER) {
        let mut finalizers = set.finalizers().to_vec();
        finalizers.push(RESOURCES_FINALIZER.into());
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": set.resource_version()}});
        sets.patch(&set.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        // The patch wakes the set again.
        return Ok(Action::await_change());
    }
    let poll = polls(&set).map(|d| if d.is_zero() { ctx.config.requeue } else { d });
    let key = ObjectRef::from_obj(&*set);
    let refresh = set.annotations().contains_key(driftless_api::ANNOTATION_APPSET_REFRESH);
    let fingerprint = format!(
        "{}|{}|{}",
        serde_json::to_string(&set.spec).unwrap_or_default(),
        set.meta().uid.as_deref().unwrap_or_default(),
        ctx.clusters_version.load(std::sync::atomic::Ordering::Relaxed)
    );
    let cached = {
        let generated = ctx.generated.lock().unwrap_or_else(|p| p.into_inner());
        generated
            .get(&key)
            .filter(|g| !refresh && g.key == fingerprint && poll.is_none_or(|p| g.at.elapsed() < p))
            .map(|g| (g.outcome.clone(), g.at))
    };
    let (outcome, generated_at) = match cached {
        Some(o) => o,
        None => {
            let sources = EngineSources { engine: &ctx.engine, namespace: ns.clone() };
            let outcome = crate::applications(&set, &sources).await.map_err(|e| e.to_string());
            let outcome = match outcome {
                Ok(apps) => check_tenancy(&ctx, &ns, apps).await,
                Err(e) => Err(e),
            };
            {
                let mut generated = ctx.generated.lock().unwrap_or_else(|p| p.into_inner());
                // What deleted sets generated goes (a thousand apps each).
                generated.retain(|k, _| ctx.sets.get(k).is_some());
                generated.insert(key.clone(), Generated { key: fingerprint, at: Instant::now(), outcome: outcome.clone() });
            }
            if refresh {
                let patch = json!({"metadata": {"annotations": {driftless_api::ANNOTATION_APPSET_REFRESH: null}}});
                sets.patch(&set.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            }
            (outcome, Instant::now())
        }
    };
    // Looked at again when what was generated expires, however often the
    // apps' events woke the set since (each reconcile sets the requeue anew).
    let requeue = || {
        poll.map(|p| Action::requeue(p.saturating_sub(generated_at.elapsed()).max(Duration::from_secs(1))))
            .unwrap_or_else(Action::await_change)
    };
    let mut desired = match outcome {
        Ok(apps) => apps,
        Err(message) => {
            write_status(&sets, &set, failed(&set, "ApplicationGenerationFromParamsError", &message)).await?;
            return Ok(requeue());
        }
    };
    let steps = match rolling_steps(set.spec.strategy.as_ref()) {
        Ok(s) => s,
        Err(message) => {
            write_status(&sets, &set, failed(&set, "ApplicationSetInvalidStrategy", &message)).await?;
            return Ok(Action::await_change());
        }
    };
    if steps.is_some() {
        // The rollout, not each app's automation, decides when it syncs.
        for app in &mut desired {
            if let Some(p) = app.spec.sync_policy.as_mut() {
                p.automated = None;
            }
        }
    }
    let owned = owned_by(&ctx, &set);
    let planned = match plan(&set.spec, desired.clone(), &owned) {
        Ok(p) => p,
        Err(message) => {
            write_status(&sets, &set, failed(&set, "ApplicationSetInvalidSyncPolicy", &message)).await?;
            return Ok(Action::await_change());
        }
    };
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ns);
    let preserve = set.spec.sync_policy.as_ref().is_some_and(|p| p.preserve_resources_on_deletion);
    let writes: Vec<_> = planned
        .create
        .into_iter()
        .map(Write::Create)
        .chain(planned.update.into_iter().map(Write::Update))
        .chain(planned.delete.into_iter().map(|a| Write::Delete(a, preserve)))
        .map(|w| w.run(apps.clone()))
        .collect();
    // A set of a thousand apps is written in parallel, as many apps' syncs are.
    let outcomes: Vec<Result<Option<String>, String>> = futures::stream::iter(writes).buffer_unordered(WRITES_AT_ONCE).collect().await;
    let mut changed = BTreeSet::new();
    let mut errors = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(Some(name)) => {
                changed.insert(name);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    // The apps as they are now: the store's, or what was just written.
    let names: BTreeSet<String> = desired.iter().map(|a| a.name_any()).collect();
    let current: Vec<Application> =
        desired.iter().map(|d| owned.iter().find(|o| o.name_any() == d.name_any()).cloned().unwrap_or_else(|| d.clone())).collect();
    let mut status = ApplicationSetStatus {
        conditions: Vec::new(),
        application_status: Vec::new(),
        resources: current.iter().take(MAX_RESOURCES).map(resource_status).collect(),
        resources_count: Some(names.len() as i64),
    };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mut rollout_step = None;
    if let Some(steps) = steps {
        let previous = set.status.as_ref().map(|s| s.application_status.as_slice()).unwrap_or_default();
        match advance(steps, &current, previous, &changed, &now) {
            Ok(rollout) => {
                for name in &rollout.sync {
                    if let Err(e) = request_sync(&apps, name).await {
                        errors.push(format!("syncing Application {name}: {e}"));
                    }
                }
                rollout_step = Some(rollout.step);
                status.application_status = rollout.statuses;
            }
            Err(message) => errors.push(message),
        }
    }
    status.conditions = conditions(&set, &errors, rollout_step, &now);
    write_status(&sets, &set, status).await?;
    Ok(if errors.is_empty() { requeue() } else { Action::requeue(Duration::from_secs(10)) })
}

/// Whether deleting the set is work of this loop rather than of the
/// garbage collector alone: its apps are kept (the policy never deletes)
/// or deleted in reverse step order. Argo CD asks the user to add the
/// finalizer; driftless adds it when it matters.
fn needs_finalizer(set: &ApplicationSet) -> bool {
    let keeps = Policy::of(&set.spec).is_ok_and(|p| !p.deletes());
    keeps || reverse_deletion(set.spec.strategy.as_ref()).ok().flatten().is_some()
}

/// The ownerReferences of `app` that name an ApplicationSet.
fn set_owners(app: &Application) -> impl Iterator<Item = &OwnerReference> {
    app.owner_references().iter().filter(|o| o.kind == "ApplicationSet" && o.api_version.starts_with("argoproj.io/"))
}

/// Keeps the watch's store to the apps some ApplicationSet owns: most apps
/// are not, and this loop never reads them (at 1,000 apps the full copy
/// was 7 MB). An app that loses its owner leaves the store as if deleted.
fn owned_only(event: watcher::Event<Application>) -> Option<watcher::Event<Application>> {
    match event {
        watcher::Event::InitApply(app) if set_owners(&app).next().is_none() => None,
        watcher::Event::Apply(app) if set_owners(&app).next().is_none() => Some(watcher::Event::Delete(app)),
        event => Some(event),
    }
}

/// The apps of `set` (those with its ownerReference), from the store.
fn owned_by(ctx: &Context, set: &ApplicationSet) -> Vec<Application> {
    let (ns, uid) = (set.namespace(), set.meta().uid.clone().unwrap_or_default());
    ctx.apps
        .state()
        .iter()
        .filter(|a| a.namespace() == ns && a.owner_references().iter().any(|o| o.uid == uid))
        .map(|a| (**a).clone())
        .collect()
}

/// A set being deleted that holds the finalizer: as Argo CD, its apps
/// lose their ownerReference to it when the policy never deletes (so the
/// garbage collector keeps them), or go step by step, the last step first
/// (`deletionOrder: Reverse`); then the finalizer goes.
async fn deleting(set: &ApplicationSet, ctx: &Context, sets: &Api<ApplicationSet>) -> Result<Action, Error> {
    if !set.finalizers().iter().any(|f| f == RESOURCES_FINALIZER) {
        return Ok(Action::await_change());
    }
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    // Read from the API server, not the watch's store: that store is empty
    // at start and after a Lease hand-over, and a moment behind otherwise;
    // an app it misses would keep its ownerReference and the garbage
    // collector would delete an app the policy keeps.
    let uid = set.meta().uid.clone().unwrap_or_default();
    let owned: Vec<Application> =
        apps.list(&ListParams::default()).await?.items.into_iter().filter(|a| a.owner_references().iter().any(|o| o.uid == uid)).collect();
    if Policy::of(&set.spec).is_ok_and(|p| !p.deletes()) {
        for app in &owned {
            let others: Vec<_> = app.owner_references().iter().filter(|o| o.uid != uid).collect();
            let patch = json!({"metadata": {"ownerReferences": others, "resourceVersion": app.resource_version()}});
            apps.patch(&app.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
    } else if let Ok(Some(steps)) = reverse_deletion(set.spec.strategy.as_ref()) {
        let step = match to_delete(steps, &owned) {
            Ok(step) => step,
            Err(message) => {
                tracing::warn!(set = %set.name_any(), "reverse deletion: {message}; the garbage collector deletes the apps at once");
                Vec::new()
            }
        };
        if !step.is_empty() {
            for app in step.iter().filter(|a| a.meta().deletion_timestamp.is_none()) {
                match apps.delete(&app.name_any(), &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // Woken as the apps go; the requeue is a safety net.
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    }
    let kept: Vec<&String> = set.finalizers().iter().filter(|f| *f != RESOURCES_FINALIZER).collect();
    let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": set.resource_version()}});
    sets.patch(&set.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(Action::await_change())
}

/// How many Applications a set writes at once.
const WRITES_AT_ONCE: usize = 16;

/// One write of the plan.
enum Write {
    Create(Application),
    Update(Application),
    /// Deleted; its resources kept (its finalizer removed first) when true.
    Delete(Application, bool),
}

impl Write {
    /// Does it; the name of an app created or updated, or why it failed.
    async fn run(self, apps: Api<Application>) -> Result<Option<String>, String> {
        match self {
            Write::Create(app) => match apps.create(&PostParams::default(), &app).await {
                Ok(_) => Ok(Some(app.name_any())),
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    Err(format!("Application {} already exists and is not owned by this ApplicationSet: left alone", app.name_any()))
                }
                Err(e) => Err(format!("creating Application {}: {e}", app.name_any())),
            },
            Write::Update(app) => {
                let params = PatchParams::apply(FIELD_MANAGER).force();
                match apps.patch(&app.name_any(), &params, &Patch::Apply(&app)).await {
                    Ok(_) => Ok(Some(app.name_any())),
                    Err(e) => Err(format!("updating Application {}: {e}", app.name_any())),
                }
            }
            Write::Delete(app, preserve) => {
                if preserve && app.finalizers().iter().any(|f| f.starts_with(RESOURCES_FINALIZER)) {
                    let kept: Vec<&String> = app.finalizers().iter().filter(|f| !f.starts_with(RESOURCES_FINALIZER)).collect();
                    let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": app.resource_version()}});
                    apps.patch(&app.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(|e| format!("keeping the resources of Application {}: {e}", app.name_any()))?;
                }
                match apps.delete(&app.name_any(), &DeleteParams::default()).await {
                    Ok(_) => Ok(None),
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
                    Err(e) => Err(format!("deleting Application {}: {e}", app.name_any())),
                }
            }
        }
    }
}

/// Each generated app's project must take apps from the set's namespace
/// when that is not the control plane's (its `sourceNamespaces`).
async fn check_tenancy(ctx: &Context, ns: &str, apps: Vec<Application>) -> Result<Vec<Application>, String> {
    if ns == ctx.config.tenancy.control_plane {
        return Ok(apps);
    }
    for app in &apps {
        let project = ctx.engine.project_of(app).await.map_err(|e| format!("Application {}: {e}", app.name_any()))?;
        ctx.config.tenancy.check_project(&project, ns).map_err(|e| format!("Application {}: {e}", app.name_any()))?;
    }
    Ok(apps)
}

async fn request_sync(apps: &Api<Application>, name: &str) -> Result<(), kube::Error> {
    let operation = Operation {
        sync: Some(SyncOperation { sync_strategy: Some(json!({"hook": {}})), ..Default::default() }),
        initiated_by: Some(OperationInitiator { username: Some("applicationset-controller".into()), automated: true }),
        info: vec![Info {
            name: "Reason".into(),
            value: "ApplicationSet RollingSync triggered a sync of this Application resource".into(),
        }],
        ..Default::default()
    };
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&json!({ "operation": operation }))).await.map(|_| ())
}

fn resource_status(app: &Application) -> ResourceStatus {
    let status = app.status.clone().unwrap_or_default();
    ResourceStatus {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        kind: "Application".into(),
        namespace: app.namespace(),
        name: app.name_any(),
        status: status.sync.status,
        health: Some(status.health),
        ..Default::default()
    }
}

fn condition(type_: &str, status: bool, reason: &str, message: &str) -> ApplicationSetCondition {
    ApplicationSetCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: None,
    }
}

/// The status of a set that made no apps this time: its apps keep the
/// rollout state they had.
fn failed(set: &ApplicationSet, reason: &str, message: &str) -> ApplicationSetStatus {
    let mut status = set.status.clone().unwrap_or_default();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    status.conditions = stamp(
        set,
        vec![
            condition("ErrorOccurred", true, reason, message),
            condition("ParametersGenerated", false, "ErrorOccurred", message),
            condition("ResourcesUpToDate", false, "ErrorOccurred", message),
        ],
        &now,
    );
    status
}

fn conditions(set: &ApplicationSet, errors: &[String], step: Option<Option<usize>>, now: &Time) -> Vec<ApplicationSetCondition> {
    let mut out =
        vec![condition("ParametersGenerated", true, "ParametersGenerated", "Successfully generated parameters for all Applications")];
    if errors.is_empty() {
        out.push(condition("ErrorOccurred", false, "ApplicationSetUpToDate", "All applications have been generated successfully"));
        out.push(condition("ResourcesUpToDate", true, "ApplicationSetUpToDate", "All applications have been generated successfully"));
    } else {
        let message = errors.join("; ");
        out.push(condition("ErrorOccurred", true, "ApplicationSetUpdateError", &message));
        out.push(condition("ResourcesUpToDate", false, "ApplicationSetUpdateError", &message));
    }
    match step {
        Some(Some(i)) => out.push(condition(
            "RolloutProgressing",
            true,
            "ApplicationSetModified",
            &format!("ApplicationSet is performing rollout of step {i}"),
        )),
        Some(None) => {
            out.push(condition("RolloutProgressing", false, "ApplicationSetRolloutComplete", "ApplicationSet Rollout has completed"))
        }
        None => {}
    }
    stamp(set, out, now)
}

/// Conditions with the transition time they had while their status
/// stays the same.
fn stamp(set: &ApplicationSet, mut conditions: Vec<ApplicationSetCondition>, now: &Time) -> Vec<ApplicationSetCondition> {
    let before = set.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    for c in &mut conditions {
        c.last_transition_time = match before.iter().find(|b| b.type_ == c.type_ && b.status == c.status) {
            Some(b) => b.last_transition_time.clone(),
            None => Some(now.clone()),
        };
    }
    conditions
}

async fn write_status(sets: &Api<ApplicationSet>, set: &ApplicationSet, status: ApplicationSetStatus) -> Result<(), Error> {
    if set.status.as_ref() == Some(&status) {
        return Ok(());
    }
    sets.patch_status(&set.name_any(), &PatchParams::default(), &Patch::Merge(&json!({ "status": status }))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(generators: serde_json::Value) -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "s"},
            "spec": {"generators": generators, "template": {"metadata": {}, "spec": {"destination": {}, "project": ""}}}
        }))
        .unwrap()
    }

    #[test]
    fn only_generators_no_event_announces_are_polled() {
        assert_eq!(polls(&set(json!([{"list": {"elements": [{"git": "not a generator"}]}}]))), None);
        assert_eq!(polls(&set(json!([{"clusters": {}}]))), None, "cluster Secrets are watched");
        assert_eq!(polls(&set(json!([{"git": {"repoURL": "r", "directories": [{"path": "*"}]}}]))), Some(Duration::ZERO));
        let nested = json!([{"matrix": {"generators": [
            {"git": {"repoURL": "r", "files": [{"path": "*"}], "requeueAfterSeconds": 30}},
            {"clusters": {}}
        ]}}]);
        assert_eq!(polls(&set(nested)), Some(Duration::from_secs(30)));
    }

    #[test]
    fn the_store_keeps_only_apps_a_set_owns() {
        let app = |owner_kind: &str| -> Application {
            let owners = json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": owner_kind, "name": "s", "uid": "u"}]);
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "a", "namespace": "argocd", "ownerReferences": owners},
                "spec": {"destination": {}, "project": "default"}
            }))
            .unwrap()
        };
        let (owned, other) = (app("ApplicationSet"), app("Deployment"));
        assert!(owned_only(watcher::Event::InitApply(other.clone())).is_none(), "a listed app no set owns is not kept");
        assert!(matches!(owned_only(watcher::Event::InitApply(owned.clone())), Some(watcher::Event::InitApply(_))));
        assert!(matches!(owned_only(watcher::Event::Apply(owned.clone())), Some(watcher::Event::Apply(_))));
        // An app that lost its set's ownerReference leaves the store.
        assert!(matches!(owned_only(watcher::Event::Apply(other.clone())), Some(watcher::Event::Delete(_))));
        assert!(matches!(owned_only(watcher::Event::Delete(owned)), Some(watcher::Event::Delete(_))));
        assert_eq!(set_owners(&other).count(), 0);
    }
}
