//! The notifications loop, run inside `driftless controller`: each app with
//! a subscription is evaluated when the controller publishes an event about
//! it and at every resync (time-based triggers), its notifications are
//! delivered with retries, and what was sent is recorded on the app. A
//! failing service never blocks reconciliation: this loop only reads the
//! controller's stores and writes annotations.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::{AppProject, Application, SyncStatusCode};
use driftless_engine::watch::keep_watching;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use crate::config::{CONFIG_MAP, Config as Settings, SECRET};
use crate::plan::{self, Pending};
use crate::services::{SendError, Service};
use crate::state::{NOTIFIED_ANNOTATION, NotifiedState};
use crate::subscriptions;

/// Since when a subscribed app has been OutOfSync (RFC 3339), so that a
/// trigger can alert when drift persists, across restarts:
/// `time.Now().Sub(time.Parse(app.metadata.annotations['driftless.dev/out-of-sync-since'])).Minutes() >= 10`.
pub const OUT_OF_SYNC_SINCE: &str = "driftless.dev/out-of-sync-since";

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where argocd-notifications-cm, its Secret and AppProjects are.
    pub control_plane: String,
    /// How often every subscribed app is evaluated without an event.
    pub resync: Duration,
    /// Delivery attempts per notification (the first included).
    pub attempts: u32,
    /// The wait before the first retry; it doubles with each.
    pub first_retry: Duration,
    /// Where deliveries and trigger evaluations are counted.
    pub metrics: driftless_metrics::Metrics,
}

impl Config {
    /// Defaults: evaluated every minute, four attempts 1 s, 2 s and 4 s apart.
    pub fn new(control_plane: &str, metrics: driftless_metrics::Metrics) -> Config {
        Config {
            control_plane: control_plane.into(),
            resync: Duration::from_secs(60),
            attempts: 4,
            first_retry: Duration::from_secs(1),
            metrics,
        }
    }
}

/// Which apps this process holds (with `--sharded`, its share).
pub type Holds = Arc<dyn Fn(&Application) -> bool + Send + Sync>;

/// What the loop reads: the controller's stores.
pub struct World {
    /// The client the annotations are written with.
    pub client: Client,
    /// The controller's stores of Applications.
    pub apps: Vec<Store<Application>>,
    /// The controller's store of the control plane's AppProjects (their
    /// subscription annotations).
    pub projects: Store<AppProject>,
    /// Which apps to notify about.
    pub holds: Holds,
}

type AppKey = (String, String);

/// The resourceVersions of the ConfigMap and the Secret a configuration
/// was parsed from.
type Versions = (String, String);

struct Shared {
    world: World,
    config: Config,
    settings_cm: Store<ConfigMap>,
    settings_secret: Store<Secret>,
    parsed: Mutex<Option<(Versions, Arc<Settings>)>>,
}

/// Runs until `shutdown`. `wake` names apps the controller just published
/// an event about: each is read afresh and evaluated.
pub async fn run(
    world: World,
    config: Config,
    wake: impl Stream<Item = AppKey> + Send + Unpin,
    shutdown: impl std::future::Future<Output = ()> + Send + Clone + 'static,
) {
    let ns = config.control_plane.clone();
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let shared = Arc::new(Shared {
        settings_cm: keep_watching::<ConfigMap>(Api::namespaced(world.client.clone(), &ns), by_name(CONFIG_MAP), shutdown.clone()),
        settings_secret: keep_watching::<Secret>(Api::namespaced(world.client.clone(), &ns), by_name(SECRET), shutdown.clone()),
        world,
        config,
        parsed: Mutex::new(None),
    });
    let mut wake = wake;
    let mut ticker = tokio::time::interval(shared.config.resync);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut queue = Queue::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(key) = wake.next() => queue.push(key),
            _ = ticker.tick() => {
                let keys = shared
                    .world
                    .apps
                    .iter()
                    .flat_map(Store::state)
                    .filter(|a| (shared.world.holds)(a))
                    .map(|a| (a.namespace().unwrap_or_default(), a.name_any()));
                keys.for_each(|key| queue.push(key));
            }
            Some(done) = queue.tasks.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!("notifications: an evaluation failed: {e}");
                        e.id()
                    }
                };
                queue.running.remove(&id);
            }
        }
        queue.start(&shared);
    }
}

/// Evaluations running at once. A resync wakes every app: spawned all at
/// once, a thousand apps held a thousand evaluations' state in memory.
const MAX_RUNNING: usize = 32;

/// The apps waiting for an evaluation, and those being evaluated: one
/// evaluation per app at a time, and a wake during one runs another after
/// it. Tasks are known by id, so that one that panicked frees its app.
#[derive(Default)]
struct Queue {
    tasks: tokio::task::JoinSet<()>,
    running: HashMap<tokio::task::Id, AppKey>,
    pending: VecDeque<AppKey>,
    queued: HashSet<AppKey>,
}

impl Queue {
    fn push(&mut self, key: AppKey) {
        if self.queued.insert(key.clone()) {
            self.pending.push_back(key);
        }
    }

    /// Starts waiting apps, oldest first, that are not being evaluated, up
    /// to [`MAX_RUNNING`].
    fn start(&mut self, shared: &Arc<Shared>) {
        while self.running.len() < MAX_RUNNING {
            let Some(at) = self.pending.iter().position(|k| !self.running.values().any(|r| r == k)) else { return };
            let Some(key) = self.pending.remove(at) else { return };
            self.queued.remove(&key);
            let (shared, task) = (shared.clone(), key.clone());
            let id = self.tasks.spawn(async move { shared.process(&task).await }).id();
            self.running.insert(id, key);
        }
    }
}

impl Shared {
    /// The configuration, parsed again only when the ConfigMap or the
    /// Secret changed.
    fn settings(&self) -> Arc<Settings> {
        let cm = self.settings_cm.state().into_iter().next();
        let secret = self.settings_secret.state().into_iter().next();
        let version = |o: Option<&kube::api::ObjectMeta>| o.and_then(|m| m.resource_version.clone()).unwrap_or_default();
        let key = (version(cm.as_deref().map(|c| &c.metadata)), version(secret.as_deref().map(|s| &s.metadata)));
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, s)) = parsed.as_ref()
            && *k == key
        {
            return s.clone();
        }
        let data = cm.and_then(|c| c.data.clone()).unwrap_or_default();
        let secrets: BTreeMap<String, String> = secret
            .map(|s| {
                let mut out: BTreeMap<String, String> =
                    s.data.iter().flatten().filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?))).collect();
                out.extend(s.string_data.clone().unwrap_or_default());
                out
            })
            .unwrap_or_default();
        let settings = Arc::new(Settings::parse(&data, &secrets));
        for e in &settings.errors {
            tracing::warn!("notifications: {e}");
        }
        *parsed = Some((key, settings.clone()));
        settings
    }

    fn stored(&self, (ns, name): &AppKey) -> Option<Arc<Application>> {
        let key = ObjectRef::new(name).within(ns);
        self.world.apps.iter().find_map(|s| s.get(&key))
    }

    async fn process(&self, key: &AppKey) {
        let Some(stored) = self.stored(key) else { return };
        if !(self.world.holds)(&stored) {
            return;
        }
        let settings = self.settings();
        let project = if stored.spec.project.is_empty() { "default" } else { stored.spec.project.as_str() };
        let project_annotations = self
            .world
            .projects
            .get(&ObjectRef::new(project).within(&self.config.control_plane))
            .map(|p| p.annotations().clone())
            .unwrap_or_default();
        let destinations = subscriptions::destinations(&settings, stored.labels(), stored.annotations(), &project_annotations);
        if destinations.is_empty() {
            return;
        }
        // The store may lag the status write that woke us: read afresh.
        let api: Api<Application> = Api::namespaced(self.world.client.clone(), &key.0);
        let app = match api.get_opt(&key.1).await {
            Ok(Some(app)) => app,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!("notifications: read app {}/{}: {e}", key.0, key.1);
                return;
            }
        };
        let json = match serde_json::to_value(&app) {
            Ok(v) => v,
            Err(_) => return,
        };
        let now = jiff::Timestamp::now();
        let before = NotifiedState::parse(app.annotations().get(NOTIFIED_ANNOTATION).map(String::as_str));
        let evaluation = plan::evaluate(&settings, &json, &destinations, before.clone(), now);
        for p in &evaluation.problems {
            tracing::debug!("notifications: app {}/{}: {p}", key.0, key.1);
        }
        for (trigger, fired) in &evaluation.evaluated {
            self.config.metrics.trigger_evaluated(trigger, *fired);
        }
        let mut state = evaluation.state;
        let sent = futures::future::join_all(evaluation.pending.iter().map(|p| self.deliver(&settings, p, &json, key))).await;
        for (p, ok) in evaluation.pending.iter().zip(sent) {
            if ok {
                state.insert(p.key.clone(), now.as_second());
            }
        }
        let mut patch = serde_json::Map::new();
        if state != before {
            patch.insert(NOTIFIED_ANNOTATION.into(), state.to_annotation().map_or(Value::Null, Value::String));
        }
        let since = app.annotations().get(OUT_OF_SYNC_SINCE);
        let out_of_sync = app.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::OutOfSync);
        match (out_of_sync, since) {
            (true, None) => drop(patch.insert(OUT_OF_SYNC_SINCE.into(), Value::String(now.to_string()))),
            (false, Some(_)) => drop(patch.insert(OUT_OF_SYNC_SINCE.into(), Value::Null)),
            _ => {}
        }
        if patch.is_empty() {
            return;
        }
        let body = serde_json::json!({"metadata": {"annotations": patch}});
        if let Err(e) = api.patch(&key.1, &PatchParams::default(), &Patch::Merge(body)).await {
            tracing::warn!("notifications: app {}/{}: cannot record what was sent: {e}", key.0, key.1);
        }
    }

    /// Sends one notification, retrying what a retry can fix. Never logs a
    /// secret: the services' errors hold none.
    async fn deliver(&self, settings: &Settings, p: &Pending, app: &Value, (ns, name): &AppKey) -> bool {
        let Some(service) = settings.services.get(&p.to.service) else {
            tracing::warn!(
                "notifications: app {ns}/{name}: trigger {}: service {:?} is not configured in {CONFIG_MAP}",
                p.trigger,
                p.to.service
            );
            return false;
        };
        let notification = match plan::render(settings, p, app, service.service_type()) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("notifications: app {ns}/{name}: trigger {}: {e}", p.trigger);
                self.config.metrics.notification_delivered(&p.trigger, &p.to.service, false);
                return false;
            }
        };
        let ok = send_with_retries(service, &notification, &p.to.recipient, self.config.attempts, self.config.first_retry)
            .await
            .map_err(|e| tracing::warn!("notifications: app {ns}/{name}: trigger {} to {}: {e}", p.trigger, p.to.service))
            .is_ok();
        self.config.metrics.notification_delivered(&p.trigger, &p.to.service, ok);
        ok
    }
}

/// Sends, retrying a transient failure `attempts - 1` times with a
/// doubling wait.
pub async fn send_with_retries(
    service: &Service,
    notification: &crate::Notification,
    recipient: &str,
    attempts: u32,
    first_retry: Duration,
) -> Result<(), SendError> {
    let mut wait = first_retry;
    let mut attempt = 1;
    loop {
        match service.send(notification, recipient).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt < attempts => {
                tracing::debug!("notifications: attempt {attempt} failed, retrying in {wait:?}: {e}");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
