//! Live-state watches: one metadata-only watch per kind that apps manage,
//! started as apps reveal the kinds. An event on an object that carries a
//! tracking id wakes that app's reconcile; nothing is cached, so memory does
//! not grow with the size of the cluster.

use std::collections::HashSet;
use std::sync::Mutex;

use driftless_api::{ANNOTATION_TRACKING_ID, Application};
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};

use driftless_sync::cluster::Cluster;

/// Where to send the app a live event belongs to: one channel per watched
/// Application namespace (None: all namespaces).
pub type Routes = Vec<(Option<String>, UnboundedSender<ObjectRef<Application>>)>;

/// The set of kinds being watched, and where their events go.
pub struct LiveWatches {
    watched: Mutex<HashSet<(String, String)>>,
    routes: Routes,
}

impl LiveWatches {
    /// Watches nothing yet.
    pub fn new(routes: Routes) -> LiveWatches {
        LiveWatches { watched: Mutex::default(), routes }
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
                    let routes = self.routes.clone();
                    tracing::debug!(%api_version, %kind, "watching live objects");
                    tokio::spawn(async move {
                        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
                        while let Some(event) = events.next().await {
                            // The initial listing says nothing new: every app
                            // is compared when it is first seen anyway.
                            let obj = match event {
                                Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => o,
                                _ => continue,
                            };
                            if let Some(app) =
                                obj.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_TRACKING_ID)).and_then(|id| owner(id))
                            {
                                route(&routes, app);
                            }
                        }
                    });
                }
                Err(_) => {
                    self.watched.lock().unwrap_or_else(|p| p.into_inner()).remove(&(api_version, kind));
                }
            }
        }
    }
}

/// The Application a tracking id names. Names and namespaces are DNS labels,
/// so `_` separates them unambiguously; a bare name lives in `argocd`.
pub fn owner(tracking_id: &str) -> Option<ObjectRef<Application>> {
    let instance = tracking_id.split_once(':')?.0;
    let (ns, name) = instance.split_once('_').unwrap_or(("argocd", instance));
    (!name.is_empty()).then(|| ObjectRef::new(name).within(ns))
}

fn route(routes: &Routes, app: ObjectRef<Application>) {
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
}
