//! Live-state watches: one metadata-only watch per kind that apps manage,
//! started as apps reveal the kinds. An event on an object an app claims
//! (its tracking id, or its instance label, as argocd-cm's tracking method
//! says) wakes that app's reconcile, and an index of which objects each
//! app tracks lets comparisons fetch just those. Untracked objects are not
//! kept, so memory grows with the managed objects, not with the size of
//! the cluster.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use driftless_api::Application;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
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

/// The set of kinds being watched, their indexes, and where events go.
pub struct LiveWatches {
    watched: Mutex<HashSet<KindKey>>,
    indexes: Mutex<HashMap<KindKey, Arc<Mutex<KindIndex>>>>,
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

    /// Starts a watch for each kind not watched yet. Kinds the server does
    /// not serve are skipped (and tried again next time).
    pub async fn ensure(&self, cluster: &Cluster, kinds: impl IntoIterator<Item = (String, String)>) {
        // Nothing to route by until a comparison has said how objects are tracked.
        let Some(tracking) = self.tracking.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        for (api_version, kind) in kinds {
            let new = self.watched.lock().unwrap_or_else(|p| p.into_inner()).insert((api_version.clone(), kind.clone()));
            if !new {
                continue;
            }
            match cluster.resource(&api_version, &kind).await {
                Ok((ar, _)) => {
                    // Metadata only: the tracking label or annotation is all an event needs.
                    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(cluster.client().clone(), &ar);
                    let (routes, keep, claims) = (self.routes.clone(), self.keep.clone(), tracking.clone());
                    let identity = move |meta: &kube::api::ObjectMeta| {
                        let name = (meta.namespace.clone(), meta.name.clone().unwrap_or_default());
                        let claim = match claims.claimed(meta.labels.as_ref(), meta.annotations.as_ref()) {
                            Some(i) => match claims.app_of(i) {
                                Some(app) if keep(&app) => Claim::Kept(i.to_string()),
                                Some(_) => Claim::Foreign,
                                None => Claim::None,
                            },
                            None => Claim::None,
                        };
                        (name, claim)
                    };
                    let app_of = {
                        let tracking = tracking.clone();
                        move |instance: &str| tracking.app_of(instance)
                    };
                    let index = Arc::new(Mutex::new(KindIndex::default()));
                    self.indexes.lock().unwrap_or_else(|p| p.into_inner()).insert((api_version.clone(), kind.clone()), index.clone());
                    tracing::debug!(%api_version, %kind, "watching live objects");
                    let task = tokio::spawn(async move {
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
                                        // The first listing says nothing new: every app
                                        // is compared when it is first seen anyway. A
                                        // relisting does: what changed while unwatched.
                                        let changed = if idx.ready { idx.changed_in(&fresh) } else { BTreeSet::new() };
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
                    });
                    self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task.abort_handle());
                }
                Err(_) => {
                    self.watched.lock().unwrap_or_else(|p| p.into_inner()).remove(&(api_version, kind));
                }
            }
        }
    }
}

impl LiveWatches {
    /// How many objects apps track here, by the kinds watched so far.
    pub fn tracked_objects(&self) -> usize {
        let indexes = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        indexes.values().map(|i| i.lock().unwrap_or_else(|p| p.into_inner()).by_object.len()).sum()
    }
}

impl driftless_sync::compare::TrackedIndex for LiveWatches {
    fn tracked(&self, api_version: &str, kind: &str, instance: &str) -> Option<Vec<Tracked>> {
        let index = self.indexes.lock().unwrap_or_else(|p| p.into_inner()).get(&(api_version.to_string(), kind.to_string()))?.clone();
        let idx = index.lock().unwrap_or_else(|p| p.into_inner());
        let tracked = |object: &ObjectName| Tracked {
            namespace: object.0.clone(),
            name: object.1.clone(),
            resource_version: idx.by_object.get(object).map(|(_, v)| v.clone()).unwrap_or_default(),
        };
        idx.ready.then(|| idx.by_instance.get(instance).map(|s| s.iter().map(tracked).collect()).unwrap_or_default())
    }

    fn claimed_elsewhere(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str, instance: &str) -> bool {
        let Some(index) = self.indexes.lock().unwrap_or_else(|p| p.into_inner()).get(&(api_version.to_string(), kind.to_string())).cloned()
        else {
            return true;
        };
        let idx = index.lock().unwrap_or_else(|p| p.into_inner());
        let object = (namespace.map(String::from), name.to_string());
        idx.foreign.contains(&object) || idx.by_object.get(&object).is_some_and(|(i, _)| i != instance)
    }
}

fn version(meta: &kube::api::ObjectMeta) -> String {
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
    use super::*;

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
