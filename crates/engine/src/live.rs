//! Live-state watches: one metadata-only watch per kind that apps manage,
//! started as apps reveal the kinds. An event on an object an app claims
//! (its tracking id, or its instance label, as argocd-cm's tracking method
//! says) wakes that app's reconcile, and an index of which objects each
//! app tracks lets comparisons fetch just those. Untracked objects are not
//! kept, so memory grows with the managed objects, not with the size of
//! the cluster. A cluster limited to named namespaces (its Secret's
//! `namespaces`, as a namespace-scoped install has) is watched in each of
//! them: a cluster-wide watch would be refused there.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use driftless_api::Application;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::api::{Api, ApiResource, ObjectMeta};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};

use driftless_sync::Tracking;
use driftless_sync::cluster::Cluster;
use driftless_sync::compare::Tracked;

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
    /// Each tracked object's instance and resourceVersion.
    by_object: HashMap<ObjectName, (String, String)>,
    /// Objects claimed by apps another replica handles (names only): a
    /// desired object of this replica's apps among them is fetched, never
    /// taken for missing and created over.
    foreign: HashSet<ObjectName>,
    /// A relisting in progress (after a watch restart), swapped in when done.
    relisting: Option<Box<KindIndex>>,
}

impl KindIndex {
    fn set(&mut self, object: ObjectName, claim: Claim, version: String) {
        self.foreign.remove(&object);
        let instance = match claim {
            Claim::Kept(instance) => Some(instance),
            Claim::Foreign => {
                self.foreign.insert(object.clone());
                None
            }
            Claim::None => None,
        };
        if let Some((old, _)) = self.by_object.remove(&object)
            && let Some(set) = self.by_instance.get_mut(&old)
        {
            set.remove(&object);
            if set.is_empty() {
                self.by_instance.remove(&old);
            }
        }
        if let Some(instance) = instance {
            self.by_instance.entry(instance.clone()).or_default().insert(object.clone());
            self.by_object.insert(object, (instance, version));
        }
    }

    /// The instances whose objects differ between this index and `fresh`:
    /// changed, created or deleted while no watch was there to tell (an
    /// API server restart makes watches list again, and the listing shows
    /// only the outcome).
    fn changed_in(&self, fresh: &KindIndex) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        for (object, (instance, version)) in &fresh.by_object {
            match self.by_object.get(object) {
                Some((i, v)) if i == instance && v == version => {}
                Some((i, _)) => {
                    changed.insert(i.clone());
                    changed.insert(instance.clone());
                }
                None => {
                    changed.insert(instance.clone());
                }
            }
        }
        for (object, (instance, _)) in &self.by_object {
            if !fresh.by_object.contains_key(object) {
                changed.insert(instance.clone());
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
            // Metadata only: the tracking label or annotation is all an event needs.
            let apis: Vec<Api<LiveMeta>> = match (named, namespaced) {
                (true, true) => namespaces.iter().map(|ns| Api::namespaced_with(cluster.client().clone(), ns, &ar)).collect(),
                (true, false) if !scope.cluster_resources => Vec::new(),
                _ => vec![Api::all_with(cluster.client().clone(), &ar)],
            };
            let mut indexes = Vec::new();
            for api in apis {
                let index = Arc::new(Mutex::new(KindIndex { started: Some(std::time::Instant::now()), ..KindIndex::default() }));
                let task = tokio::spawn(watch_kind(api, index.clone(), self.routes.clone(), self.keep.clone(), tracking.clone()));
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

/// A live object as its kind's watch reads it: its metadata alone, without
/// managedFields (`driftless_api::free::metadata`). One object of the kind
/// nested deeper than kube-rs reads (a custom resource's free-form field,
/// and the managedFields entry that mirrors it) must not stop the watch,
/// and with it the live events of every app that manages the kind.
#[derive(Clone, Debug, serde::Deserialize)]
struct LiveMeta {
    #[serde(deserialize_with = "driftless_api::free::metadata")]
    metadata: ObjectMeta,
}

impl kube::Resource for LiveMeta {
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

/// Keeps `index` as the watch of `api` says, waking the apps whose objects change.
async fn watch_kind(api: Api<LiveMeta>, index: Arc<Mutex<KindIndex>>, routes: Routes, keep: Keep, tracking: Tracking) {
    let identity = |meta: &ObjectMeta| {
        let name = (meta.namespace.clone(), meta.name.clone().unwrap_or_default());
        let claim = match tracking.claimed(meta.labels.as_ref(), meta.annotations.as_ref()) {
            Some(i) => match tracking.app_of(i) {
                Some(app) if keep(&app) => Claim::Kept(i.to_string()),
                Some(_) => Claim::Foreign,
                None => Claim::None,
            },
            None => Claim::None,
        };
        (name, claim)
    };
    let app_of = |instance: &str| tracking.app_of(instance);
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    while let Some(event) = events.next().await {
        let Ok(event) = event else { continue };
        let mut idx = index.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            watcher::Event::Init => idx.relisting = Some(Box::default()),
            watcher::Event::InitApply(o) => {
                let (name, claim) = identity(&o.metadata);
                if let Some(r) = idx.relisting.as_mut() {
                    r.set(name, claim, version(&o.metadata));
                }
            }
            watcher::Event::InitDone => {
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
                        route(&routes, app);
                    }
                }
                idx.ready = true;
            }
            watcher::Event::Apply(o) => {
                let (name, claim) = identity(&o.metadata);
                // The app that claimed it before is woken too: a
                // label moved to another app takes it from this one.
                let before = idx.by_object.get(&name).map(|(i, _)| i.clone());
                let instance = claim.clone().instance();
                idx.set(name, claim, version(&o.metadata));
                drop(idx);
                for i in before.iter().chain(&instance).collect::<BTreeSet<_>>() {
                    if let Some(app) = app_of(i) {
                        route(&routes, app);
                    }
                }
            }
            watcher::Event::Delete(o) => {
                let (name, claim) = identity(&o.metadata);
                idx.set(name, Claim::None, String::new());
                drop(idx);
                if let Some(app) = claim.instance().and_then(|i| app_of(&i)) {
                    route(&routes, app);
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
                let resource_version = idx.by_object.get(object).map(|(_, v)| v.clone()).unwrap_or_default();
                out.push(Tracked { namespace: object.0.clone(), name: object.1.clone(), resource_version });
            }
        }
        Some(out)
    }

    fn claimed_elsewhere(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str, instance: &str) -> bool {
        let Some(indexes) = self.indexes_of(api_version, kind).filter(|i| !i.is_empty()) else { return true };
        let object = (namespace.map(String::from), name.to_string());
        indexes.iter().any(|index| {
            let idx = index.lock().unwrap_or_else(|p| p.into_inner());
            idx.foreign.contains(&object) || idx.by_object.get(&object).is_some_and(|(i, _)| i != instance)
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

    #[test]
    fn a_relisting_reveals_what_changed_while_unwatched() {
        let obj = |n: &str| (Some("ns".to_string()), n.to_string());
        let mut before = KindIndex::default();
        let kept = |i: &str| Claim::Kept(i.into());
        before.set(obj("same"), kept("ns_a"), "1".into());
        before.set(obj("scaled"), kept("ns_b"), "1".into());
        before.set(obj("deleted"), kept("ns_c"), "1".into());
        before.set(obj("moved"), kept("ns_d"), "1".into());
        let mut after = KindIndex::default();
        after.set(obj("same"), kept("ns_a"), "1".into());
        after.set(obj("scaled"), kept("ns_b"), "2".into());
        after.set(obj("moved"), kept("ns_e"), "1".into());
        after.set(obj("created"), kept("ns_f"), "1".into());
        after.set(obj("untracked"), Claim::None, "1".into());
        after.set(obj("elsewhere"), Claim::Foreign, "1".into());
        let changed: Vec<String> = before.changed_in(&after).into_iter().collect();
        assert_eq!(changed, ["ns_b", "ns_c", "ns_d", "ns_e", "ns_f"]);
        assert!(after.foreign.contains(&obj("elsewhere")) && !after.by_object.contains_key(&obj("elsewhere")));
        after.set(obj("elsewhere"), kept("ns_g"), "2".into());
        assert!(!after.foreign.contains(&obj("elsewhere")), "claimed by a kept app now");
    }
}
