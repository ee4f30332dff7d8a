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

/// What a watch saw happen to one object.
#[derive(Clone, Copy, Debug)]
pub enum Seen<'a, K> {
    /// Listed, added, or changed in its spec (its generation); in the store.
    Changed(&'a K),
    /// Deleted; gone from the store.
    Deleted(&'a K),
}

impl<'a, K> Seen<'a, K> {
    /// The object seen.
    pub fn object(&self) -> &'a K {
        match self {
            Seen::Changed(o) | Seen::Deleted(o) => o,
        }
    }
}

/// [`keep_watching`], calling `on_change` with each object listed, added,
/// changed in its spec, or deleted, once the store shows it. Objects
/// without a generation (ConfigMaps, Secrets) are reported at every event.
pub fn keep_watching_with<K>(
    api: Api<K>,
    config: watcher::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_change: impl Fn(Seen<'_, K>) + Send + 'static,
) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    // The generation each object was last reported at: a status-only write
    // (or a relist after a restarted watch) is not a change of spec.
    let mut reported = std::collections::HashMap::<String, Option<i64>>::new();
    let stream = watcher(api, config).default_backoff().modify(|o| o.managed_fields_mut().clear()).reflect(writer).for_each(move |event| {
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                let generation = o.meta().generation;
                let before = reported.insert(o.meta().uid.clone().unwrap_or_default(), generation);
                if generation.is_none() || before != Some(generation) {
                    on_change(Seen::Changed(&o));
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                reported.remove(o.meta().uid.as_deref().unwrap_or_default());
                on_change(Seen::Deleted(&o));
            }
            _ => {}
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
