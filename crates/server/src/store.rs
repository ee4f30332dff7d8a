//! Every Application of the cluster in memory, kept current by one watch,
//! with a broadcast of each change for the event stream.
//!
//! Apps are kept sorted by namespace and name, so that pages are stable.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use driftless_api::Application;
use futures::StreamExt as _;
use kube::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use tokio::sync::{broadcast, watch};

/// An app's key: namespace, then name.
pub type Key = (String, String);

/// What happened to an app, as Argo CD's watch events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeType {
    /// It appeared.
    Added,
    /// It changed.
    Modified,
    /// It is gone.
    Deleted,
}

/// One change, broadcast to stream subscribers.
#[derive(Clone, Debug)]
pub struct Change {
    /// What happened.
    pub kind: ChangeType,
    /// The app after the change (before it, for a deletion).
    pub app: Arc<Application>,
}

/// How many changes a slow stream subscriber may fall behind before it
/// misses some (it is then told to reload).
const CHANGES_BUFFER: usize = 4096;

/// The apps and the channel of their changes.
pub struct AppStore {
    apps: RwLock<BTreeMap<Key, Arc<Application>>>,
    changes: broadcast::Sender<Change>,
    ready: watch::Sender<bool>,
}

impl AppStore {
    /// An empty store; [`AppStore::run`] fills it.
    pub fn new() -> Arc<AppStore> {
        let (changes, _) = broadcast::channel(CHANGES_BUFFER);
        let (ready, _) = watch::channel(false);
        Arc::new(AppStore { apps: RwLock::default(), changes, ready })
    }

    /// Watches Applications in `namespace` (None: all namespaces) until the
    /// task is aborted; the watcher re-lists on its own after errors.
    pub async fn run(self: Arc<Self>, client: kube::Client, namespace: Option<String>) {
        let api: Api<Application> = match namespace {
            Some(ns) => Api::namespaced(client, &ns),
            None => Api::all(client),
        };
        let config = watcher::Config::default().any_semantic();
        let mut events = watcher::watcher(api, config).default_backoff().boxed();
        let mut relist: BTreeMap<Key, Arc<Application>> = BTreeMap::new();
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => relist.clear(),
                Ok(Event::InitApply(app)) => {
                    let app = Arc::new(app);
                    relist.insert(key(&app), app);
                }
                Ok(Event::InitDone) => self.replace(std::mem::take(&mut relist)),
                Ok(Event::Apply(app)) => self.apply(Arc::new(app)),
                Ok(Event::Delete(app)) => self.delete(&app),
                Err(e) => tracing::warn!("watching Applications: {e}; retrying"),
            }
        }
    }

    /// Waits until the first listing is in (at most `timeout`); false if it
    /// is not.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r)).await.is_ok_and(|r| r.is_ok())
    }

    /// Subscribes to changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// One app.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Application>> {
        self.apps.read().unwrap_or_else(|e| e.into_inner()).get(&(namespace.to_string(), name.to_string())).cloned()
    }

    /// The apps that pass `keep`, in key order.
    pub fn select(&self, mut keep: impl FnMut(&Application) -> bool) -> Vec<Arc<Application>> {
        self.apps.read().unwrap_or_else(|e| e.into_inner()).values().filter(|a| keep(a)).cloned().collect()
    }

    fn apply(&self, app: Arc<Application>) {
        let before = self.apps.write().unwrap_or_else(|e| e.into_inner()).insert(key(&app), Arc::clone(&app));
        let kind = if before.is_some() { ChangeType::Modified } else { ChangeType::Added };
        let _ = self.changes.send(Change { kind, app });
    }

    fn delete(&self, app: &Application) {
        let gone = self.apps.write().unwrap_or_else(|e| e.into_inner()).remove(&key(app));
        if let Some(app) = gone {
            let _ = self.changes.send(Change { kind: ChangeType::Deleted, app });
        }
    }

    /// Takes a fresh listing, announcing what it changed.
    fn replace(&self, fresh: BTreeMap<Key, Arc<Application>>) {
        let old = std::mem::replace(&mut *self.apps.write().unwrap_or_else(|e| e.into_inner()), fresh.clone());
        for (k, app) in &fresh {
            match old.get(k) {
                None => {
                    let _ = self.changes.send(Change { kind: ChangeType::Added, app: Arc::clone(app) });
                }
                Some(prev) if prev.metadata.resource_version != app.metadata.resource_version => {
                    let _ = self.changes.send(Change { kind: ChangeType::Modified, app: Arc::clone(app) });
                }
                Some(_) => {}
            }
        }
        for (k, app) in old {
            if !fresh.contains_key(&k) {
                let _ = self.changes.send(Change { kind: ChangeType::Deleted, app });
            }
        }
        self.ready.send_replace(true);
    }
}

/// The store key of an app.
pub fn key(app: &Application) -> Key {
    (app.metadata.namespace.clone().unwrap_or_default(), app.metadata.name.clone().unwrap_or_default())
}
