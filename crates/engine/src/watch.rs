//! Keeping a kind in memory through a watch that restarts itself after any
//! failure (kube-runtime's back-off), so that readers see an edit within
//! moments without a request of their own.

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};

/// Keeps what `api` lists in memory until `shutdown`. managedFields are
/// dropped: they are the bulk of most objects and nothing here reads them.
pub fn keep_watching<K>(
    api: Api<K>,
    config: watcher::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    keep_watching_with(api, config, shutdown, |_| {})
}

/// [`keep_watching`], calling `on_change` with each object listed, added,
/// or changed in its spec (its generation), once it is in the store.
pub fn keep_watching_with<K>(
    api: Api<K>,
    config: watcher::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_change: impl Fn(&K) + Send + 'static,
) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(kube::runtime::predicates::generation, Default::default())
        .for_each(move |o| {
            if let Ok(o) = o {
                on_change(&o);
            }
            std::future::ready(())
        });
    tokio::spawn(async move {
        tokio::select! {
            _ = stream => {}
            _ = shutdown => {}
        }
    });
    reader
}
