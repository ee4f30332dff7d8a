//! Writing an Application: its status and the handled request, with a log
//! of the versions written so that a stale copy is told from the latest;
//! and what each status write changed, published as app events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use driftless_api::{Application, ApplicationStatus};
use driftless_engine::events::{self, AppEvent, Bus};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use serde_json::json;

/// Writes to one Application (its status, and clearing a handled request),
/// noting the resourceVersion each write produces: the watch cache may hand
/// the next reconcile a copy of the app from before these writes, and a
/// reconcile must not act on such a copy (see [`WriteLog`]).
///
/// Each status write publishes on the bus what changed since the status
/// the writer was handed or last published ([`events::between`]), so that
/// an occurrence is published once, and a write that changes nothing
/// publishes nothing.
pub struct AppWriter {
    api: Api<Application>,
    name: String,
    written: Mutex<Vec<String>>,
    /// The app as handed, then as last written.
    app: Mutex<Arc<Application>>,
    /// The status events were last derived from (None: the app had none).
    published: Mutex<Option<ApplicationStatus>>,
    bus: Bus,
}

impl AppWriter {
    /// A writer for `app`, in `api`'s namespace, publishing on `bus`.
    pub fn new(api: Api<Application>, app: &Arc<Application>, bus: Bus) -> AppWriter {
        AppWriter {
            api,
            name: app.name_any(),
            written: Default::default(),
            app: Mutex::new(app.clone()),
            published: Mutex::new(app.status.clone()),
            bus,
        }
    }

    /// The app's API.
    pub fn api(&self) -> &Api<Application> {
        &self.api
    }

    /// The app's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the app's whole status. A JSON patch, not a merge patch:
    /// fields the new status leaves out must disappear, not linger from the
    /// old one.
    pub async fn write(&self, status: &ApplicationStatus) -> Result<(), kube::Error> {
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{ "op": "add", "path": "/status", "value": status }])).expect("a literal JSON patch is valid");
        let mut app = self.api.patch(&self.name, &PatchParams::default(), &Patch::<()>::Json(patch)).await?;
        self.note(&app);
        app.managed_fields_mut().clear();
        let app = Arc::new(app);
        *lock(&self.app) = app.clone();
        self.publish_changes(&app, status);
        Ok(())
    }

    /// Publishes what `status` changed, without writing it: a sync that
    /// begins is news before its first write (automation's syncs write their
    /// state only as they progress).
    pub fn announce(&self, status: &ApplicationStatus) {
        let mut app = Application::clone(&lock(&self.app));
        app.status = Some(status.clone());
        self.publish_changes(&Arc::new(app), status);
    }

    /// Publishes `events` of the app as last written (or handed).
    pub fn publish(&self, events: Vec<AppEvent>) {
        let app = lock(&self.app).clone();
        self.bus.publish(&app, events);
    }

    fn publish_changes(&self, app: &Arc<Application>, status: &ApplicationStatus) {
        let mut published = lock(&self.published);
        let changes = events::between(published.as_ref(), status);
        *published = Some(status.clone());
        drop(published);
        self.bus.publish(app, changes);
    }

    /// Removes `.operation` (the request is being, or has been, carried out)
    /// and the refresh annotation.
    pub async fn clear_request(&self, operation: bool, refresh: bool) -> Result<(), kube::Error> {
        let mut patch = serde_json::Map::new();
        if operation {
            patch.insert("operation".into(), serde_json::Value::Null);
        }
        if refresh {
            patch.insert(
                "metadata".into(),
                json!({ "annotations": { driftless_api::ANNOTATION_REFRESH: null, driftless_api::ANNOTATION_REFRESH_SINCE: null } }),
            );
        }
        if patch.is_empty() {
            return Ok(());
        }
        let app = self.api.patch(&self.name, &PatchParams::default(), &Patch::Merge(serde_json::Value::Object(patch))).await?;
        self.note(&app);
        Ok(())
    }

    /// Sets (Some) or removes (None) annotations the controller keeps on
    /// the app (automatic rollback's).
    pub async fn annotate(&self, annotations: &std::collections::BTreeMap<&str, Option<String>>) -> Result<(), kube::Error> {
        let patch = json!({ "metadata": { "annotations": annotations } });
        let app = self.api.patch(&self.name, &PatchParams::default(), &Patch::Merge(patch)).await?;
        self.note(&app);
        Ok(())
    }

    fn note(&self, app: &Application) {
        if let Some(v) = app.metadata.resource_version.clone() {
            lock(&self.written).push(v);
        }
    }

    /// The resourceVersions written, oldest first.
    pub fn into_written(self) -> Vec<String> {
        self.written.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Per app, what its last reconcile superseded: the copy it was handed and
/// every version it wrote but the last, and the last. The watch cache moves
/// forward only, so a copy with one of these versions is stale; so is one
/// older than the last write (a person's edit made during a sync, which the
/// watch delivers before the sync's final write): the API server's versions
/// are etcd's revisions, which only grow.
#[derive(Default)]
pub struct WriteLog {
    superseded: Mutex<HashMap<ObjectRef<Application>, Superseded>>,
}

#[derive(Default)]
struct Superseded {
    versions: Vec<String>,
    last: Option<u64>,
}

impl WriteLog {
    /// Whether `app` predates the last reconcile's writes: acting on it
    /// would repeat a finished sync, or write back a status without its
    /// last operation and history.
    pub fn stale(&self, app: &Application) -> bool {
        let version = app.metadata.resource_version.as_deref().unwrap_or_default();
        self.lock().get(&ObjectRef::from_obj(app)).is_some_and(|s| {
            s.versions.iter().any(|v| v == version) || version.parse::<u64>().ok().zip(s.last).is_some_and(|(v, last)| v < last)
        })
    }

    /// Records that a reconcile handed `app` wrote `written` (oldest first).
    pub fn record(&self, app: &Application, mut written: Vec<String>) {
        let key = ObjectRef::from_obj(app);
        let Some(last) = written.pop() else {
            // Nothing written: the copy it was handed is still the latest.
            self.lock().remove(&key);
            return;
        };
        written.extend(app.metadata.resource_version.clone());
        // A write that changed nothing leaves the version as it was: that
        // version is the latest, however often it was seen before.
        written.retain(|v| *v != last);
        self.lock().insert(key, Superseded { versions: written, last: last.parse().ok() });
    }

    /// Forgets an app that is gone.
    pub fn forget(&self, app: &Application) {
        self.lock().remove(&ObjectRef::from_obj(app));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<Application>, Superseded>> {
        lock(&self.superseded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(version: &str) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": "web", "namespace": "argocd", "resourceVersion": version },
            "spec": { "destination": {}, "project": "default" }
        }))
        .expect("valid Application")
    }

    #[test]
    fn a_copy_from_before_the_last_writes_is_stale() {
        let log = WriteLog::default();
        assert!(!log.stale(&app("10")), "nothing written yet");
        log.record(&app("10"), vec!["11".into(), "12".into(), "13".into()]);
        for old in ["10", "11", "12"] {
            assert!(log.stale(&app(old)), "{old} predates the last write");
        }
        assert!(!log.stale(&app("13")), "the last write");
        assert!(log.stale(&app("9")), "older than the handed copy");
        assert!(!log.stale(&app("14")), "someone else's later write");
        // A reconcile that writes nothing leaves nothing stale.
        log.record(&app("14"), Vec::new());
        assert!(!log.stale(&app("11")));
        // Writes that changed nothing return the version they found.
        log.record(&app("14"), vec!["15".into(), "15".into()]);
        assert!(!log.stale(&app("15")), "the latest, written twice");
        assert!(log.stale(&app("14")));
        log.record(&app("15"), vec!["15".into()]);
        assert!(!log.stale(&app("15")), "handed the latest, which a no-op write returned");
        // A person's edit during a sync: newer than the copy handed, older
        // than the sync's last write, and without its operation and history.
        log.record(&app("15"), vec!["16".into(), "18".into()]);
        assert!(log.stale(&app("17")), "an edit made between two writes of the reconcile");
        assert!(!log.stale(&app("19")));
        log.forget(&app("15"));
        assert!(!log.stale(&app("14")), "forgotten with its app");
    }
}
