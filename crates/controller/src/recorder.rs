//! Kubernetes Events for app events: a subscriber of the controller's
//! [`Bus`] that writes each event as a core/v1 Event in its app's
//! namespace, as Argo CD's controller does (`kubectl describe application`
//! shows them). An event repeated (same app, reason, type and message)
//! increments `count` on the Event written before, as client-go's
//! aggregation does, remembering the last [`REMEMBERED`] kinds of events.
//!
//! Recording never holds up a reconcile: publishing on the bus never
//! waits, a recorder that falls behind loses the oldest events, and a write
//! the API server refuses is logged and dropped; both are counted in
//! `driftless_events_dropped_total`.
//!
//! `source.component` is Argo CD's, `argocd-application-controller`, so that
//! what filters Argo CD's Events (`kubectl get events --field-selector
//! source=argocd-application-controller`, event exporters) finds these;
//! `reportingComponent` says driftless wrote them.

use std::collections::HashMap;

use driftless_engine::events::{Bus, Published};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// `source.component` of every Event, as Argo CD's controller writes it.
pub const SOURCE_COMPONENT: &str = "argocd-application-controller";
/// `reportingComponent` of every Event.
pub const REPORTING_COMPONENT: &str = "driftless-application-controller";
/// How many distinct events are remembered for aggregation (client-go's
/// `maxLruCacheEntries`).
const REMEMBERED: usize = 4096;

/// Starts recording what `bus` publishes from now on, until `stop`; what
/// was published before `stop` is recorded before it returns.
pub(crate) fn spawn(
    client: kube::Client,
    bus: &Bus,
    metrics: driftless_metrics::Metrics,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let mut events = bus.subscribe();
    tokio::spawn(async move {
        let mut seen = Seen::new(REMEMBERED);
        tokio::pin!(stop);
        let mut stopping = false;
        loop {
            let next = if stopping {
                match events.try_recv() {
                    Ok(published) => Ok(published),
                    Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                    Err(_) => return,
                }
            } else {
                tokio::select! {
                    next = events.recv() => next,
                    () = &mut stop => {
                        stopping = true;
                        continue;
                    }
                }
            };
            match next {
                Ok(published) => {
                    if let Err(e) = record(&client, &mut seen, &published).await {
                        tracing::debug!(app = published.app.metadata.name.as_deref().unwrap_or_default(), "recording an event: {e}");
                        metrics.events_dropped("rejected", 1);
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("the event recorder fell behind: {n} app events not recorded");
                    metrics.events_dropped("full", n);
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// Writes one event: a new Event, or one more `count` on the Event this
/// same event was last written as (a new one if that is gone: Events
/// expire).
async fn record(client: &kube::Client, seen: &mut Seen, published: &Published) -> Result<(), kube::Error> {
    let app = &published.app;
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let key = Key {
        namespace: namespace.clone(),
        name: app.metadata.name.clone().unwrap_or_default(),
        uid: app.metadata.uid.clone().unwrap_or_default(),
        reason: published.event.reason(),
        type_: published.event.event_type().as_str(),
        message: published.event.message(),
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let now = Time(Timestamp::now());
    if let Some((name, count)) = seen.repeat(&key) {
        let patch = serde_json::json!({ "count": count, "lastTimestamp": now });
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {
                seen.remember(key, name, count);
                return Ok(());
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let event = new_event(published, &key, now);
    let name = event.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), &event).await?;
    seen.remember(key, name, 1);
    Ok(())
}

/// A first Event for `key`, named as Argo CD names its Events
/// (`<app>.<nanoseconds in hex>`).
fn new_event(published: &Published, key: &Key, now: Time) -> Event {
    let app = &published.app;
    // An Event's name is a DNS subdomain too: at most 253 characters.
    let prefix: String = key.name.chars().take(200).collect();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{prefix}.{:x}", now.0.as_nanosecond())),
            namespace: Some(key.namespace.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("argoproj.io/v1alpha1".into()),
            kind: Some("Application".into()),
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            uid: app.metadata.uid.clone(),
            resource_version: app.metadata.resource_version.clone(),
            field_path: None,
        },
        reason: Some(key.reason.into()),
        message: Some(key.message.clone()),
        type_: Some(key.type_.into()),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        source: Some(EventSource { component: Some(SOURCE_COMPONENT.into()), host: None }),
        reporting_component: Some(REPORTING_COMPONENT.into()),
        ..Default::default()
    }
}

/// What makes two events the same: their app (a recreated app is another),
/// reason, type and message.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    namespace: String,
    name: String,
    uid: String,
    reason: &'static str,
    type_: &'static str,
    message: String,
}

/// The Events written, per key, the least recently used forgotten first
/// (pure, bounded).
struct Seen {
    capacity: usize,
    clock: u64,
    /// The Event's name, its count, when last used.
    entries: HashMap<Key, (String, i32, u64)>,
}

impl Seen {
    fn new(capacity: usize) -> Seen {
        Seen { capacity: capacity.max(1), clock: 0, entries: HashMap::new() }
    }

    /// The Event `key` was last written as, and the count it has now.
    fn repeat(&self, key: &Key) -> Option<(String, i32)> {
        self.entries.get(key).map(|(name, count, _)| (name.clone(), count.saturating_add(1)))
    }

    /// Notes that `key` is the Event `name`, at `count`.
    fn remember(&mut self, key: Key, name: String, count: i32) {
        self.clock += 1;
        if !self.entries.contains_key(&key)
            && self.entries.len() >= self.capacity
            && let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, _, used))| *used).map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (name, count, self.clock));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(message: &str) -> Key {
        Key {
            namespace: "argocd".into(),
            name: "web".into(),
            uid: "u1".into(),
            reason: "ResourceUpdated",
            type_: "Normal",
            message: message.into(),
        }
    }

    #[test]
    fn a_repeated_event_counts_on_the_first_and_the_least_recent_is_forgotten() {
        let mut seen = Seen::new(2);
        assert_eq!(seen.repeat(&key("a")), None, "first seen: a new Event");
        seen.remember(key("a"), "web.1".into(), 1);
        assert_eq!(seen.repeat(&key("a")), Some(("web.1".into(), 2)));
        seen.remember(key("a"), "web.1".into(), 2);
        assert_eq!(seen.repeat(&key("a")), Some(("web.1".into(), 3)));
        assert_eq!(seen.repeat(&Key { uid: "u2".into(), ..key("a") }), None, "a recreated app is another");
        seen.remember(key("b"), "web.2".into(), 1);
        seen.remember(key("c"), "web.3".into(), 1);
        assert_eq!(seen.repeat(&key("a")), None, "the least recently used is forgotten");
        assert!(seen.repeat(&key("b")).is_some() && seen.repeat(&key("c")).is_some());
        seen.remember(key("b"), "web.2".into(), 2);
        seen.remember(key("d"), "web.4".into(), 1);
        assert_eq!(seen.repeat(&key("c")), None, "using b kept it");
        assert_eq!(seen.repeat(&key("b")), Some(("web.2".into(), 3)));
    }
}
