//! Live-state watches: one watch per kind that apps manage, started as
//! apps reveal the kinds. An event on an object an app claims (its
//! tracking id, or its instance label, as argocd-cm's tracking method says)
//! wakes that app's reconcile, and an index of which objects each app
//! tracks lets comparisons fetch just those. For a kind whose status is
//! written apart (a `status` subresource: Deployments, Pods, most custom
//! resources) the index also keeps what a comparison's verdict depends on
//! and the health the status shows ([`Observed`]), so that a rollout's
//! status writes cost the app no fetch. Untracked objects are not kept, so
//! memory grows with the managed objects, not with the size of the
//! cluster. A cluster limited to named namespaces (its Secret's
//! `namespaces`, as a namespace-scoped install has) is watched in each of
//! them: a cluster-wide watch would be refused there.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use driftless_api::{Application, FreeJson};
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::api::{Api, ApiResource, ObjectMeta};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use driftless_sync::Tracking;
use driftless_sync::cluster::Cluster;
use driftless_sync::compare::{Observed, Tracked};

/// Where to send the app a live event belongs to: one channel per watched
/// Application namespace (None: all namespaces).
pub type Routes = Vec<(Option<String>, UnboundedSender<ObjectRef<Application>>)>;

/// An object's namespace and name.
type ObjectName = (Option<String>, String);

/// Which objects of one kind each app (by tracking-id instance) tracks.
#[derive(Default)]
struct KindIndex {
    /// The first complete listing has been seen: absence means absence.
    ready: bool,
    /// When the watch started (None: a relisting's fresh index).
    started: Option<std::time::Instant>,
    by_instance: HashMap<String, BTreeSet<ObjectName>>,
    /// Each tracked object's instance and resourceVersion, and what the
    /// watch saw there.
    by_object: HashMap<ObjectName, Entry>,
    /// Objects claimed by apps another replica handles (names only): a
    /// desired object of this replica's apps among them is fetched, never
    /// taken for missing and created over.
    foreign: HashSet<ObjectName>,
    /// A relisting in progress (after a watch restart), swapped in when done.
    relisting: Option<Box<KindIndex>>,
}

/// One tracked object in a [`KindIndex`].
struct Entry {
    instance: String,
    version: String,
    observed: Option<Arc<Observed>>,
}

impl KindIndex {
    fn set(&mut self, object: ObjectName, claim: Claim, version: String, observed: Option<Arc<Observed>>) {
        self.foreign.remove(&object);
        let instance = match claim {
            Claim::Kept(instance) => Some(instance),
            Claim::Foreign => {
                self.foreign.insert(object.clone());
                None
            }
            Claim::None => None,
        };
        if let Some(old) = self.by_object.remove(&object)
            && let Some(set) = self.by_instance.get_mut(&old.instance)
        {
            set.remove(&object);
            if set.is_empty() {
                self.by_instance.remove(&old.instance);
            }
        }
        if let Some(instance) = instance {
            self.by_instance.entry(instance.clone()).or_default().insert(object.clone());
            self.by_object.insert(object, Entry { instance, version, observed });
        }
    }

    /// The instances whose objects differ between this index and `fresh`:
    /// changed, created or deleted while no watch was there to tell (an
    /// API server restart makes watches list again, and the listing shows
    /// only the outcome).
    fn changed_in(&self, fresh: &KindIndex) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        for (object, new) in &fresh.by_object {
            match self.by_object.get(object) {
                Some(old) if old.instance == new.instance && old.version == new.version => {}
                Some(old) => {
                    changed.insert(old.instance.clone());
                    changed.insert(new.instance.clone());
                }
                None => {
                    changed.insert(new.instance.clone());
                }
            }
        }
        for (object, old) in &self.by_object {
            if !fresh.by_object.contains_key(object) {
                changed.insert(old.instance.clone());
            }
        }
        changed
    }
}

/// Whom an object is claimed for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Claim {
    /// An app this replica keeps: its instance name.
    Kept(String),
    /// An app another replica handles.
    Foreign,
    /// No app.
    None,
}

impl Claim {
    fn instance(self) -> Option<String> {
        match self {
            Claim::Kept(i) => Some(i),
            Claim::Foreign | Claim::None => None,
        }
    }
}

/// `(apiVersion, kind)`.
type KindKey = (String, String);

/// Where a cluster's objects may be: its Secret's `namespaces` (empty:
/// all) and `clusterResources`.
pub struct WatchScope<'a> {
    /// The only namespaces driftless manages there (empty: all).
    pub namespaces: &'a [String],
    /// With `namespaces`, cluster-scoped kinds are managed too.
    pub cluster_resources: bool,
}

/// The set of kinds being watched, their indexes (one per watch: per
/// namespace when the cluster is limited to some), and where events go.
pub struct LiveWatches {
    watched: Mutex<HashSet<KindKey>>,
    indexes: Mutex<HashMap<KindKey, Vec<Arc<Mutex<KindIndex>>>>>,
    routes: Routes,
    /// The watch tasks, stopped with their destination.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Which apps' objects to index and wake (a sharded replica's own).
    keep: Keep,
    /// How objects name their app (argocd-cm's tracking method); None until
    /// the first comparison says.
    tracking: Mutex<Option<Tracking>>,
}

/// Whether a replica handles an app: its live indexes keep only those
/// apps' objects, so that memory per replica falls as replicas are added.
pub type Keep = Arc<dyn Fn(&ObjectRef<Application>) -> bool + Send + Sync>;

impl Drop for LiveWatches {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
    }
}

impl LiveWatches {
    /// Watches nothing yet; indexes and wakes the apps `keep` accepts.
    pub fn new(routes: Routes, keep: Keep) -> LiveWatches {
        LiveWatches {
            watched: Mutex::default(),
            indexes: Mutex::default(),
            routes,
            tasks: Mutex::default(),
            keep,
            tracking: Mutex::default(),
        }
    }

    /// Follows argocd-cm's tracking: when it changed, the watches start
    /// over (their next listing indexes objects by the new claims).
    pub fn follow(&self, tracking: &Tracking) {
        let mut current = self.tracking.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref() != Some(tracking) {
            let changed = current.is_some();
            *current = Some(tracking.clone());
            drop(current);
            if changed {
                self.reset();
            }
        }
    }

    /// Stops every watch and forgets the indexes: the next comparisons list
    /// what they need until the watches they restart have listed (after
    /// this replica's share of the apps changed, what it keeps changes).
    pub fn reset(&self) {
        for t in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
        self.indexes.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.watched.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Starts a watch for each kind not watched yet: cluster-wide, or in
    /// each of `scope`'s namespaces (the cluster's limit, when it names
    /// namespaces rather than patterns). Kinds the server does not serve,
    /// and cluster-scoped kinds the limit keeps driftless from, are skipped
    /// (comparisons then read those objects directly).
    pub async fn ensure(&self, cluster: &Cluster, scope: &WatchScope<'_>, kinds: impl IntoIterator<Item = (String, String)>) {
        let namespaces = scope.namespaces;
        // Nothing to route by until a comparison has said how objects are tracked.
        let Some(tracking) = self.tracking.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let named = !namespaces.is_empty() && namespaces.iter().all(|n| !n.contains(['*', '?', '[']));
        for (api_version, kind) in kinds {
            let new = self.watched.lock().unwrap_or_else(|p| p.into_inner()).insert((api_version.clone(), kind.clone()));
            if !new {
                continue;
            }
            let Ok((ar, caps)) = cluster.resource(&api_version, &kind).await else {
                self.watched.lock().unwrap_or_else(|p| p.into_inner()).remove(&(api_version, kind));
                continue;
            };
            let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
            // Where the status is written apart, a status write is most of
            // the kind's events: the index keeps what they show. Elsewhere
            // the metadata is all an event needs (the tracking label or
            // annotation): any other change is one a comparison fetches.
            let whole = caps.subresources.iter().any(|(sub, _)| sub.plural == "status");
            let places: Vec<Option<&str>> = match (named, namespaced) {
                (true, true) => namespaces.iter().map(|ns| Some(ns.as_str())).collect(),
                (true, false) if !scope.cluster_resources => Vec::new(),
                _ => vec![None],
            };
            let mut indexes = Vec::new();
            for namespace in places {
                let index = Arc::new(Mutex::new(KindIndex { started: Some(std::time::Instant::now()), ..KindIndex::default() }));
                let watch =
                    Watch { index: index.clone(), routes: self.routes.clone(), keep: self.keep.clone(), tracking: tracking.clone() };
                let client = cluster.client().clone();
                let task = if whole {
                    tokio::spawn(watch.run(api::<true>(client, namespace, &ar), ar.clone()))
                } else {
                    tokio::spawn(watch.run(api::<false>(client, namespace, &ar), ar.clone()))
                };
                self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task.abort_handle());
                indexes.push(index);
            }
            tracing::debug!(%api_version, %kind, watches = indexes.len(), "watching live objects");
            self.indexes.lock().unwrap_or_else(|p| p.into_inner()).insert((api_version, kind), indexes);
        }
    }

    /// The indexes of a kind (none: not watched).
    fn indexes_of(&self, api_version: &str, kind: &str) -> Option<Vec<Arc<Mutex<KindIndex>>>> {
        self.indexes.lock().unwrap_or_else(|p| p.into_inner()).get(&(api_version.to_string(), kind.to_string())).cloned()
    }
}

/// The watch of a kind in `namespace` (None: all).
fn api<const WHOLE: bool>(client: kube::Client, namespace: Option<&str>, ar: &ApiResource) -> Api<Seen<WHOLE>> {
    match namespace {
        Some(ns) => Api::namespaced_with(client, ns, ar),
        None => Api::all_with(client, ar),
    }
}

/// A live object as its kind's watch reads it: its metadata without
/// managedFields, and with `WHOLE` the whole object, read to a bounded
/// depth (`driftless_api::free`). One object of the kind nested deeper
/// than kube-rs reads (a custom resource's free-form field, and the
/// managedFields entry that mirrors it) must not stop the watch, and with
/// it the live events of every app that manages the kind: such an object
/// is indexed by its metadata, and `whole` is None.
#[derive(Clone, Debug)]
struct Seen<const WHOLE: bool> {
    metadata: ObjectMeta,
    whole: Option<Value>,
}

impl<'de, const WHOLE: bool> Deserialize<'de> for Seen<WHOLE> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SeenVisitor::<WHOLE>)
    }
}

struct SeenVisitor<const WHOLE: bool>;

impl<'de, const WHOLE: bool> Visitor<'de> for SeenVisitor<WHOLE> {
    type Value = Seen<WHOLE>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen<WHOLE>, A::Error> {
        let mut object = Map::new();
        let mut whole = WHOLE;
        let mut metadata = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "metadata" {
                whole &= map.next_value_seed(MetadataSeed { fields: &mut metadata, managed: WHOLE })?;
            } else if WHOLE {
                match map.next_value::<FreeJson>()? {
                    FreeJson::Read(v) => {
                        object.insert(key, v);
                    }
                    FreeJson::TooDeep => whole = false,
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let meta = Value::Object(metadata);
        let parsed = driftless_api::free::metadata(&meta).map_err(serde::de::Error::custom)?;
        if whole {
            object.insert("metadata".into(), meta);
        }
        Ok(Seen { metadata: parsed, whole: whole.then_some(Value::Object(object)) })
    }
}

/// Reads an object's metadata field by field into `fields`, each to a
/// bounded depth; managedFields only when `managed`. True when every field
/// read is whole.
struct MetadataSeed<'a> {
    fields: &'a mut Map<String, Value>,
    managed: bool,
}

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object's metadata")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut whole = true;
        while let Some(key) = map.next_key::<String>()? {
            if key == "managedFields" && !self.managed {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match map.next_value::<FreeJson>()? {
                FreeJson::Read(v) => {
                    self.fields.insert(key, v);
                }
                FreeJson::TooDeep => whole = false,
            }
        }
        Ok(whole)
    }
}

impl<const WHOLE: bool> kube::Resource for Seen<WHOLE> {
    type DynamicType = ApiResource;
    type Scope = kube::core::DynamicResourceScope;

    fn group(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn kind(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<const WHOLE: bool> Seen<WHOLE> {
    /// What the watch saw of the object of kind `ar`, when read whole. A
    /// listing's items carry no apiVersion and kind; a fetch's do, and the
    /// two must read alike.
    fn observed(self, ar: &ApiResource) -> Option<Arc<Observed>> {
        let mut object = self.whole?;
        if let Some(fields) = object.as_object_mut() {
            fields.entry("apiVersion").or_insert_with(|| ar.api_version.clone().into());
            fields.entry("kind").or_insert_with(|| ar.kind.clone().into());
        }
        Some(Arc::new(Observed::of(&object)))
    }
}

/// What one watch of a kind keeps, and whom it wakes.
struct Watch {
    index: Arc<Mutex<KindIndex>>,
    routes: Routes,
    keep: Keep,
    tracking: Tracking,
}

impl Watch {
    /// Whom `meta`'s object is claimed for, and its name.
    fn identity(&self, meta: &ObjectMeta) -> (ObjectName, Claim) {
        let name = (meta.namespace.clone(), meta.name.clone().unwrap_or_default());
        let claim = match self.tracking.claimed(meta.labels.as_ref(), meta.annotations.as_ref()) {
            Some(i) => match self.tracking.app_of(i) {
                Some(app) if (self.keep)(&app) => Claim::Kept(i.to_string()),
                Some(_) => Claim::Foreign,
                None => Claim::None,
            },
            None => Claim::None,
        };
        (name, claim)
    }

    /// An object the watch of kind `ar` saw: its name, claim and
    /// resourceVersion, and what it showed when an app here tracks it (only
    /// that is worth reading).
    fn read<const WHOLE: bool>(&self, o: Seen<WHOLE>, ar: &ApiResource) -> (ObjectName, Claim, String, Option<Arc<Observed>>) {
        let (name, claim) = self.identity(&o.metadata);
        let version = version(&o.metadata);
        let observed = if matches!(claim, Claim::Kept(_)) { o.observed(ar) } else { None };
        (name, claim, version, observed)
    }

    /// Keeps the index as the watch of `api` (kind `ar`) says, waking the
    /// apps whose objects change.
    async fn run<const WHOLE: bool>(self, api: Api<Seen<WHOLE>>, ar: ApiResource) {
        let app_of = |instance: &str| self.tracking.app_of(instance);
        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            match event {
                watcher::Event::Init => self.index.lock().unwrap_or_else(|p| p.into_inner()).relisting = Some(Box::default()),
                watcher::Event::InitApply(o) => {
                    let (name, claim, version, observed) = self.read(o, &ar);
                    let mut idx = self.index.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(r) = idx.relisting.as_mut() {
                        r.set(name, claim, version, observed);
                    }
                }
                watcher::Event::InitDone => {
                    let mut idx = self.index.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(fresh) = idx.relisting.take() {
                        // A relisting shows what changed while unwatched. The
                        // first listing wakes the apps whose objects it shows:
                        // an app compared before its kind was watched may have
                        // seen an object before a change the listing already
                        // holds (a CRD the app's first sync created, Established
                        // moments later), and no event would tell it.
                        let changed = idx.changed_in(&fresh);
                        *idx = *fresh;
                        for app in changed.iter().filter_map(|i| app_of(i)) {
                            route(&self.routes, app);
                        }
                    }
                    idx.ready = true;
                }
                watcher::Event::Apply(o) => {
                    let (name, claim, version, observed) = self.read(o, &ar);
                    let instance = claim.clone().instance();
                    let mut idx = self.index.lock().unwrap_or_else(|p| p.into_inner());
                    // The app that claimed it before is woken too: a
                    // label moved to another app takes it from this one.
                    let before = idx.by_object.get(&name).map(|e| e.instance.clone());
                    idx.set(name, claim, version, observed);
                    drop(idx);
                    for i in before.iter().chain(&instance).collect::<BTreeSet<_>>() {
                        if let Some(app) = app_of(i) {
                            route(&self.routes, app);
                        }
                    }
                }
                watcher::Event::Delete(o) => {
                    let (name, claim) = self.identity(&o.metadata);
                    self.index.lock().unwrap_or_else(|p| p.into_inner()).set(name, Claim::None, String::new(), None);
                    if let Some(app) = claim.instance().and_then(|i| app_of(&i)) {
                        route(&self.routes, app);
                    }
                }
            }
        }
    }
}

impl LiveWatches {
    /// Waits until every watch of `kinds` that started less than `limit`
    /// ago has listed once. A comparison made while a kind's watch lists
    /// must list the kind itself: at a cold start, 64 apps comparing at once
    /// each listed every Deployment of the namespace. A watch that cannot
    /// list (a kind the credentials may not list everywhere) is waited for
    /// only in its first `limit`; kinds not watched are not waited for.
    pub async fn listed(&self, kinds: &[(String, String)], limit: std::time::Duration) {
        let listing = || {
            kinds.iter().any(|(api_version, kind)| {
                self.indexes_of(api_version, kind).is_some_and(|indexes| {
                    indexes.iter().any(|i| {
                        let idx = i.lock().unwrap_or_else(|p| p.into_inner());
                        !idx.ready && idx.started.is_some_and(|s| s.elapsed() < limit)
                    })
                })
            })
        };
        while listing() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// How many objects apps track here, by the kinds watched so far.
    pub fn tracked_objects(&self) -> usize {
        let indexes = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        indexes.values().flatten().map(|i| i.lock().unwrap_or_else(|p| p.into_inner()).by_object.len()).sum()
    }
}

impl driftless_sync::compare::TrackedIndex for LiveWatches {
    /// What `instance` tracks of a kind, once every watch of the kind has
    /// listed (None: not watched, or not listed yet).
    fn tracked(&self, api_version: &str, kind: &str, instance: &str) -> Option<Vec<Tracked>> {
        let indexes = self.indexes_of(api_version, kind).filter(|i| !i.is_empty())?;
        let mut out = Vec::new();
        for index in indexes {
            let idx = index.lock().unwrap_or_else(|p| p.into_inner());
            if !idx.ready {
                return None;
            }
            for object in idx.by_instance.get(instance).into_iter().flatten() {
                let entry = idx.by_object.get(object);
                out.push(Tracked {
                    namespace: object.0.clone(),
                    name: object.1.clone(),
                    resource_version: entry.map(|e| e.version.clone()).unwrap_or_default(),
                    observed: entry.and_then(|e| e.observed.clone()),
                });
            }
        }
        Some(out)
    }

    fn claimed_elsewhere(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str, instance: &str) -> bool {
        let Some(indexes) = self.indexes_of(api_version, kind).filter(|i| !i.is_empty()) else { return true };
        let object = (namespace.map(String::from), name.to_string());
        indexes.iter().any(|index| {
            let idx = index.lock().unwrap_or_else(|p| p.into_inner());
            idx.foreign.contains(&object) || idx.by_object.get(&object).is_some_and(|e| e.instance != instance)
        })
    }
}

fn version(meta: &ObjectMeta) -> String {
    meta.resource_version.clone().unwrap_or_default()
}

/// Sends `app` to the controller watching its namespace.
pub fn route(routes: &Routes, app: ObjectRef<Application>) {
    let ns = app.namespace.clone();
    for (scope, tx) in routes {
        if scope.is_none() || *scope == ns {
            let _ = tx.unbounded_send(app.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use driftless_api::free::MAX_DEPTH;

    use super::*;

    #[tokio::test]
    async fn a_comparison_waits_for_a_listing_watch_but_not_for_one_that_cannot_list() {
        let watches = LiveWatches::new(Vec::new(), Arc::new(|_: &ObjectRef<Application>| true));
        let index = |started: std::time::Instant| Arc::new(Mutex::new(KindIndex { started: Some(started), ..KindIndex::default() }));
        let deployments = index(std::time::Instant::now());
        let kinds = |k: &str| vec![("v1".to_string(), k.to_string())];
        watches.indexes.lock().unwrap().insert(("v1".into(), "Deployment".into()), vec![deployments.clone()]);
        let listing = deployments.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            listing.lock().unwrap().ready = true;
        });
        let guard = Duration::from_secs(60);
        tokio::time::timeout(guard, watches.listed(&kinds("Deployment"), Duration::from_secs(30)))
            .await
            .expect("the listing ends the wait");
        assert!(deployments.lock().unwrap().ready, "returned before the watch listed");

        // Started longer ago than the limit and still not listed: not waited for.
        let stuck = index(std::time::Instant::now() - Duration::from_secs(10));
        watches.indexes.lock().unwrap().insert(("v1".into(), "Secret".into()), vec![stuck]);
        tokio::time::timeout(guard, watches.listed(&kinds("Secret"), Duration::from_secs(5)))
            .await
            .expect("a watch that cannot list is not waited for");
        // A kind nobody watches: nothing to wait for.
        tokio::time::timeout(guard, watches.listed(&kinds("ConfigMap"), Duration::from_secs(5))).await.expect("no watch, no wait");
    }

    const AR_JSON: &str = r#"{"group":"apps","version":"v1","api_version":"apps/v1","kind":"Deployment","plural":"deployments"}"#;

    /// A Deployment as the API server writes it in a listing (no apiVersion
    /// and kind), with `spec`, `status` and a managedFields entry's
    /// `fieldsV1` as given.
    fn item(name: &str, spec: &str, status: &str, fields_v1: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"{name}","namespace":"prod","resourceVersion":"7","labels":{{"app.kubernetes.io/instance":"web"}},
            "managedFields":[{{"manager":"driftless","operation":"Apply","time":"2026-01-01T00:00:00Z","fieldsV1":{fields_v1}}}]}},
            "spec":{spec},"status":{status}}}"#
        )
    }

    fn listing(items: &[String]) -> String {
        format!(r#"{{"apiVersion":"apps/v1","kind":"DeploymentList","metadata":{{"resourceVersion":"9"}},"items":[{}]}}"#, items.join(","))
    }

    const SPEC: &str = r#"{"replicas":1,"template":{"spec":{"containers":[{"name":"main","image":"nginx:1.27"}]}}}"#;
    const STATUS: &str = r#"{"observedGeneration":1,"replicas":1,"updatedReplicas":1,"availableReplicas":1}"#;

    #[test]
    fn a_watch_reads_an_object_whole_as_a_fetch_does_and_one_nested_too_deep_by_its_metadata() {
        let ar: ApiResource = serde_json::from_str(AR_JSON).expect("an ApiResource");
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let text = listing(&[
            item("web", SPEC, STATUS, "{}"),
            item("deep-spec", &format!(r#"{{"x":{}}}"#, deep(300)), STATUS, "{}"),
            item("deep-fields", SPEC, STATUS, &format!(r#"{{"f:spec":{}}}"#, deep(300))),
        ]);
        let list: kube::core::ObjectList<Seen<true>> = serde_json::from_str(&text).expect("the listing reads");
        let names: Vec<_> = list.items.iter().map(|o| o.metadata.name.clone().unwrap_or_default()).collect();
        assert_eq!(names, ["web", "deep-spec", "deep-fields"], "every object is indexed by its metadata");
        assert!(list.items.iter().all(|o| o.metadata.labels.as_ref().is_some_and(|l| l.contains_key("app.kubernetes.io/instance"))));
        assert!(list.items.iter().all(|o| o.metadata.managed_fields.is_none()), "managedFields stay in the whole object only");
        let mut items = list.items.into_iter();
        let web = items.next().expect("web").observed(&ar).expect("read whole");
        // The same object as a fetch returns it: the same verdict inputs, the same health.
        let fetched: Value = serde_json::from_str(&item("web", SPEC, STATUS, "{}"))
            .map(|mut v: Value| {
                v["apiVersion"] = "apps/v1".into();
                v["kind"] = "Deployment".into();
                v
            })
            .expect("json");
        assert_eq!(*web, Observed::of(&fetched));
        assert_eq!(web.health.as_ref().map(|h| h.status), Some(driftless_api::HealthStatusCode::Healthy));
        assert!(items.all(|o| o.observed(&ar).is_none()), "a part deeper than the bound: nothing observed, fetched instead");

        // A kind read by its metadata alone skips the rest.
        let meta: kube::core::ObjectList<Seen<false>> = serde_json::from_str(&text).expect("reads");
        assert_eq!(meta.items.len(), 3);
        assert!(meta.items.into_iter().all(|o| o.observed(&ar).is_none()));
        // A watch event, as kube-rs reads it.
        let event =
            format!(r#"{{"type":"MODIFIED","object":{}}}"#, item("deep-fields", SPEC, STATUS, &format!(r#"{{"f:spec":{}}}"#, deep(300))));
        let event: kube::core::WatchEvent<Seen<true>> = serde_json::from_str(&event).expect("the event reads");
        assert!(matches!(event, kube::core::WatchEvent::Modified(o) if o.metadata.name.as_deref() == Some("deep-fields")));
    }

    /// A random JSON value of exactly `depth` levels of arrays and objects.
    fn random_value(rng: &mut driftless_testkit::Rng, depth: usize) -> String {
        let scalar = |rng: &mut driftless_testkit::Rng| match rng.below(5) {
            0 => "null".to_string(),
            1 => "true".to_string(),
            2 => format!("{}", rng.next() as i64),
            3 => r#""a \"quoted\" \\ {[ text \u00e9""#.to_string(),
            _ => r#""""#.to_string(),
        };
        let mut text = scalar(rng);
        for level in 0..depth {
            let sibling = scalar(rng);
            text = match rng.below(4) {
                0 => format!("[{text}]"),
                1 => format!("[{sibling},{text},[]]"),
                2 => format!(r#"{{"k{level}":{text}}}"#),
                _ => format!(r#"{{"s":{sibling},"k":{text},"e":{{}}}}"#),
            };
        }
        text
    }

    #[test]
    fn fuzz_objects_of_random_depth_are_indexed_and_read_whole_exactly_within_the_bound() {
        let ar: ApiResource = serde_json::from_str(AR_JSON).expect("an ApiResource");
        let mut rng = driftless_testkit::Rng(0x11fe_5eed_0bad_cafe);
        for round in 0..200 {
            let (spec_depth, status_depth, fields_depth) = (rng.below(300), rng.below(300), rng.below(300));
            let fuzzed = item(
                "fuzzed",
                &random_value(&mut rng, spec_depth),
                &random_value(&mut rng, status_depth),
                &random_value(&mut rng, fields_depth),
            );
            let mut items = vec![item("web", SPEC, STATUS, "{}"), fuzzed];
            if rng.below(2) == 0 {
                items.reverse();
            }
            let text = listing(&items);
            let list: kube::core::ObjectList<Seen<true>> =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("round {round}: the listing did not read: {e}"));
            assert_eq!(list.items.len(), 2, "round {round}");
            for o in list.items {
                match o.metadata.name.clone().as_deref() {
                    Some("web") => assert!(o.observed(&ar).is_some(), "round {round}: the other object reads whole"),
                    Some("fuzzed") => {
                        // managedFields' entry: the list and the entry add two levels.
                        let within = spec_depth <= MAX_DEPTH && status_depth <= MAX_DEPTH && fields_depth + 2 <= MAX_DEPTH;
                        assert_eq!(o.whole.is_some(), within, "round {round}: {spec_depth} {status_depth} {fields_depth}");
                    }
                    other => panic!("round {round}: {other:?}"),
                }
            }
            let cut = rng.below(text.len());
            assert!(serde_json::from_str::<kube::core::ObjectList<Seen<true>>>(&text[..cut]).is_err(), "round {round}: cut at {cut}");
        }
    }

    #[test]
    fn a_relisting_reveals_what_changed_while_unwatched() {
        let obj = |n: &str| (Some("ns".to_string()), n.to_string());
        let mut before = KindIndex::default();
        let kept = |i: &str| Claim::Kept(i.into());
        before.set(obj("same"), kept("ns_a"), "1".into(), None);
        before.set(obj("scaled"), kept("ns_b"), "1".into(), None);
        before.set(obj("deleted"), kept("ns_c"), "1".into(), None);
        before.set(obj("moved"), kept("ns_d"), "1".into(), None);
        let mut after = KindIndex::default();
        after.set(obj("same"), kept("ns_a"), "1".into(), None);
        after.set(obj("scaled"), kept("ns_b"), "2".into(), None);
        after.set(obj("moved"), kept("ns_e"), "1".into(), None);
        after.set(obj("created"), kept("ns_f"), "1".into(), None);
        after.set(obj("untracked"), Claim::None, "1".into(), None);
        after.set(obj("elsewhere"), Claim::Foreign, "1".into(), None);
        let changed: Vec<String> = before.changed_in(&after).into_iter().collect();
        assert_eq!(changed, ["ns_b", "ns_c", "ns_d", "ns_e", "ns_f"]);
        assert!(after.foreign.contains(&obj("elsewhere")) && !after.by_object.contains_key(&obj("elsewhere")));
        after.set(obj("elsewhere"), kept("ns_g"), "2".into(), None);
        assert!(!after.foreign.contains(&obj("elsewhere")), "claimed by a kept app now");
    }
}
