//! The AppProjects of the control-plane namespace, kept current by a watch
//! (their roles are part of the policy, their tokens of authentication).
//! The server's own writes are taken in at once, so that a token revoked
//! through the API is refused by the next request; a watch event older
//! than such a write (a lower resourceVersion) does not undo it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use driftless_api::AppProject;
use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt as _};
use tokio::sync::watch;

/// The projects at one moment.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// Changes with every change, so that what is derived from the
    /// projects (the policy) is rebuilt only when they change.
    pub version: u64,
    /// By name.
    pub items: Arc<BTreeMap<String, Arc<AppProject>>>,
}

#[derive(Default)]
struct Inner {
    now: Snapshot,
    /// Projects this server deleted, with their last resourceVersion: an
    /// older event must not bring them back.
    deleted: HashMap<String, String>,
}

/// Every AppProject of the control-plane namespace, in memory.
pub struct ProjectStore {
    inner: RwLock<Inner>,
    ready: watch::Sender<bool>,
}

/// How resourceVersion `new` compares with `old`, when both are numbers
/// (etcd revisions, as every API server writes them); else unknown, and
/// the newer copy is the one that came last.
fn order(new: Option<&str>, old: Option<&str>) -> Option<Ordering> {
    Some(new?.parse::<u64>().ok()?.cmp(&old?.parse::<u64>().ok()?))
}

impl ProjectStore {
    /// Empty, not ready.
    pub fn new() -> Arc<ProjectStore> {
        Arc::new(ProjectStore { inner: RwLock::default(), ready: watch::channel(false).0 })
    }

    /// The projects now.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).now.clone()
    }

    /// The project `name`, if the store has it.
    pub fn get(&self, name: &str) -> Option<Arc<AppProject>> {
        self.snapshot().items.get(name).cloned()
    }

    fn change(&self, f: impl FnOnce(&mut Inner, &mut BTreeMap<String, Arc<AppProject>>) -> bool) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let mut items = (*inner.now.items).clone();
        if f(&mut inner, &mut items) {
            inner.now = Snapshot { version: inner.now.version + 1, items: Arc::new(items) };
        }
    }

    /// Takes a project as it is now (this server's write, or the watch's
    /// event), unless the store already has a newer copy.
    pub fn set(&self, project: AppProject) {
        let name = project.name_any();
        self.change(|inner, items| {
            let rv = project.resource_version();
            let current = items.get(&name).and_then(|p| p.resource_version());
            let gone = inner.deleted.get(&name).map(String::as_str);
            let older = order(rv.as_deref(), current.as_deref()) == Some(Ordering::Less);
            let deleted_since = gone.is_some() && matches!(order(rv.as_deref(), gone), Some(Ordering::Less | Ordering::Equal));
            if older || deleted_since {
                return false;
            }
            inner.deleted.remove(&name);
            items.insert(name, Arc::new(project));
            true
        });
    }

    /// Forgets a project this server deleted.
    pub fn remove(&self, name: &str) {
        self.change(|inner, items| match items.remove(name) {
            Some(p) => {
                inner.deleted.insert(name.to_string(), p.resource_version().unwrap_or_default());
                true
            }
            None => false,
        });
    }

    /// Waits until the first listing arrived (or `timeout` passed).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r)).await.is_ok_and(|r| r.is_ok())
    }

    /// Keeps the store current from `api` (the control-plane namespace's
    /// AppProjects), restarting the watch after failures.
    pub async fn run(self: Arc<Self>, api: Api<AppProject>) {
        let mut events = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
        let mut listing: BTreeMap<String, Arc<AppProject>> = BTreeMap::new();
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => listing.clear(),
                Ok(Event::InitApply(mut p)) => {
                    p.managed_fields_mut().clear();
                    listing.insert(p.name_any(), Arc::new(p));
                }
                Ok(Event::InitDone) => {
                    // A fresh listing is the truth, newer than any write before it.
                    let items = std::mem::take(&mut listing);
                    self.change(|inner, all| {
                        inner.deleted.clear();
                        *all = items;
                        true
                    });
                    self.ready.send_replace(true);
                }
                Ok(Event::Apply(mut p)) => {
                    p.managed_fields_mut().clear();
                    self.set(p);
                }
                Ok(Event::Delete(p)) => {
                    let name = p.name_any();
                    self.change(|inner, items| {
                        inner.deleted.remove(&name);
                        items.remove(&name).is_some()
                    });
                }
                Err(e) => tracing::warn!("watching AppProjects: {e}; retrying"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str, rv: &str, description: &str) -> AppProject {
        let mut p = AppProject::new(name, driftless_api::AppProjectSpec { description: Some(description.into()), ..Default::default() });
        p.metadata.resource_version = Some(rv.into());
        p
    }

    #[test]
    fn an_older_copy_never_replaces_a_newer_one() {
        let store = ProjectStore::new();
        store.set(project("team", "10", "first"));
        let v = store.snapshot().version;
        store.set(project("team", "12", "revoked"));
        store.set(project("team", "11", "stale event"));
        assert_eq!(store.get("team").and_then(|p| p.spec.description.clone()).as_deref(), Some("revoked"));
        assert_eq!(store.snapshot().version, v + 1, "the ignored event changed nothing");
        store.remove("team");
        store.set(project("team", "12", "the deleted copy's own event"));
        assert!(store.get("team").is_none(), "a deleted project stays deleted");
        store.set(project("team", "20", "created again"));
        assert!(store.get("team").is_some());
        assert_eq!(order(Some("x"), Some("10")), None, "versions that are not numbers are taken as they come");
    }
}
