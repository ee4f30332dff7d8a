//! Live-state watches: one metadata-only watch per kind that apps manage,
//! started as apps reveal the kinds. An event on an object that carries a
//! tracking id wakes that app's reconcile, and an index of which objects
//! each app tracks lets comparisons fetch just those. Untracked objects
//! are not kept, so memory grows with the managed objects, not with the
//! size of the cluster.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use driftless_api::{ANNOTATION_TRACKING_ID, Application};
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};

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
    /// A relisting in progress (after a watch restart), swapped in when done.
    relisting: Option<Box<KindIndex>>,
}

impl KindIndex {
    fn set(&mut self, object: ObjectName, instance: Option<String>, version: String) {
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
        LiveWatches { watched: Mutex::default(), indexes: Mutex::default(), routes, tasks: Mutex::default(), keep }
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
        for (api_version, kind) in kinds {
            let new = self.watched.lock().unwrap_or_else(|p| p.into_inner()).insert((api_version.clone(), kind.clone()));
            if !new {
                continue;
            }
            match cluster.resource(&api_version, &kind).await {
                Ok((ar, _)) => {
                    // Metadata only: the tracking annotation is all an event needs.
                    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(cluster.client().clone(), &ar);
                    let (routes, keep) = (self.routes.clone(), self.keep.clone());
                    let identity = move |meta: &kube::api::ObjectMeta| {
                        let (name, instance) = identity(meta);
                        (name, instance.filter(|i| app_of(i).is_some_and(|app| keep(&app))))
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
                                    let (name, instance) = identity(&o.metadata);
                                    if let Some(r) = idx.relisting.as_mut() {
                                        r.set(name, instance, version(&o.metadata));
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
                                    let (name, instance) = identity(&o.metadata);
                                    let kept = instance.is_some();
                                    idx.set(name, instance, version(&o.metadata));
                                    drop(idx);
                                    if kept {
                                        wake(&routes, &o.metadata);
                                    }
                                }
                                watcher::Event::Delete(o) => {
                                    let (name, instance) = identity(&o.metadata);
                                    idx.set(name, None, String::new());
                                    drop(idx);
                                    if instance.is_some() {
                                        wake(&routes, &o.metadata);
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
}

/// The object's name and the app instance its tracking id names, if any.
fn identity(meta: &kube::api::ObjectMeta) -> (ObjectName, Option<String>) {
    let name = (meta.namespace.clone(), meta.name.clone().unwrap_or_default());
    let instance =
        meta.annotations.as_ref().and_then(|a| a.get(ANNOTATION_TRACKING_ID)).and_then(|id| id.split_once(':')).map(|(i, _)| i.to_string());
    (name, instance)
}

fn version(meta: &kube::api::ObjectMeta) -> String {
    meta.resource_version.clone().unwrap_or_default()
}

fn wake(routes: &Routes, meta: &kube::api::ObjectMeta) {
    if let Some(app) = meta.annotations.as_ref().and_then(|a| a.get(ANNOTATION_TRACKING_ID)).and_then(|id| owner(id)) {
        route(routes, app);
    }
}

/// The Application a tracking id names. Names and namespaces are DNS labels,
/// so `_` separates them unambiguously; a bare name lives in `argocd`.
pub fn owner(tracking_id: &str) -> Option<ObjectRef<Application>> {
    app_of(tracking_id.split_once(':')?.0)
}

/// The Application a tracking-id instance (`namespace_name` or `name`) names.
fn app_of(instance: &str) -> Option<ObjectRef<Application>> {
    let (ns, name) = instance.split_once('_').unwrap_or(("argocd", instance));
    (!name.is_empty()).then(|| ObjectRef::new(name).within(ns))
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
    fn tracking_ids_name_their_app() {
        assert_eq!(owner("team-a_web:apps/Deployment:prod/web"), Some(ObjectRef::new("web").within("team-a")));
        assert_eq!(owner("guestbook:/Service:guestbook/ui"), Some(ObjectRef::new("guestbook").within("argocd")));
        assert_eq!(owner("garbage"), None);
    }

    #[test]
    fn a_relisting_reveals_what_changed_while_unwatched() {
        let obj = |n: &str| (Some("ns".to_string()), n.to_string());
        let mut before = KindIndex::default();
        before.set(obj("same"), Some("ns_a".into()), "1".into());
        before.set(obj("scaled"), Some("ns_b".into()), "1".into());
        before.set(obj("deleted"), Some("ns_c".into()), "1".into());
        before.set(obj("moved"), Some("ns_d".into()), "1".into());
        let mut after = KindIndex::default();
        after.set(obj("same"), Some("ns_a".into()), "1".into());
        after.set(obj("scaled"), Some("ns_b".into()), "2".into());
        after.set(obj("moved"), Some("ns_e".into()), "1".into());
        after.set(obj("created"), Some("ns_f".into()), "1".into());
        after.set(obj("untracked"), None, "1".into());
        let changed: Vec<String> = before.changed_in(&after).into_iter().collect();
        assert_eq!(changed, ["ns_b", "ns_c", "ns_d", "ns_e", "ns_f"]);
    }
}
