//! The depth of the work queue: apps woken by a change whose reconcile has
//! not begun. kube-runtime's controller de-duplicates and schedules wakes
//! but does not expose its queue, so the controller counts at both ends.

use std::collections::HashSet;
use std::sync::Mutex;

use driftless_api::Application;
use kube::runtime::reflector::ObjectRef;

/// Apps waiting for a reconcile, published as `driftless_workqueue_depth`.
pub struct Pending {
    apps: Mutex<HashSet<ObjectRef<Application>>>,
    metrics: driftless_metrics::Metrics,
}

impl Pending {
    /// An empty queue reporting to `metrics`.
    pub fn new(metrics: driftless_metrics::Metrics) -> Pending {
        Pending { apps: Mutex::default(), metrics }
    }

    /// A change woke `app`. Waking it again before it runs adds nothing, as
    /// the controller runs it once.
    pub fn woken(&self, app: ObjectRef<Application>) {
        self.update(|apps| {
            apps.insert(app);
        });
    }

    /// `app`'s reconcile began, or the app is gone.
    pub fn done(&self, app: &ObjectRef<Application>) {
        self.update(|apps| {
            apps.remove(app);
        });
    }

    fn update(&self, change: impl FnOnce(&mut HashSet<ObjectRef<Application>>)) {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut apps);
        self.metrics.set_queue_depth(apps.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(m: &driftless_metrics::Metrics) -> String {
        m.encode().lines().find(|l| l.starts_with("driftless_workqueue_depth ")).unwrap_or_default().to_string()
    }

    #[test]
    fn wakes_of_one_app_count_once_until_it_runs() {
        let metrics = driftless_metrics::Metrics::new();
        let q = Pending::new(metrics.clone());
        let (a, b) = (ObjectRef::new("a").within("ns"), ObjectRef::new("b").within("ns"));
        q.woken(a.clone());
        q.woken(a.clone());
        q.woken(b.clone());
        assert_eq!(depth(&metrics), "driftless_workqueue_depth 2");
        q.done(&a);
        assert_eq!(depth(&metrics), "driftless_workqueue_depth 1");
        q.done(&b);
        q.done(&b);
        assert_eq!(depth(&metrics), "driftless_workqueue_depth 0");
    }
}
