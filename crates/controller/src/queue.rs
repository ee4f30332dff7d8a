//! The work queue as the controller sees it: apps woken by a change whose
//! reconcile has not begun (kube-runtime's controller de-duplicates and
//! schedules wakes but does not expose its queue, so the controller counts
//! at both ends), and when each app was last woken.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use driftless_api::Application;
use kube::runtime::reflector::ObjectRef;

/// Apps waiting for a reconcile, published as `driftless_workqueue_depth`.
pub struct Pending {
    apps: Mutex<HashSet<ObjectRef<Application>>>,
    /// When each app was last woken: whatever the change that woke it saw
    /// (a commit pushed before the user edited the app) happened before.
    woken_at: Mutex<HashMap<ObjectRef<Application>, Instant>>,
    metrics: driftless_metrics::Metrics,
}

impl Pending {
    /// An empty queue reporting to `metrics`.
    pub fn new(metrics: driftless_metrics::Metrics) -> Pending {
        Pending { apps: Mutex::default(), woken_at: Mutex::default(), metrics }
    }

    /// A change woke `app`. Waking it again before it runs adds nothing, as
    /// the controller runs it once.
    pub fn woken(&self, app: ObjectRef<Application>) {
        self.woken_at.lock().unwrap_or_else(|p| p.into_inner()).insert(app.clone(), Instant::now());
        self.update(|apps| {
            apps.insert(app);
        });
    }

    /// When `app` was last woken, if it ever was.
    pub fn last_woken(&self, app: &ObjectRef<Application>) -> Option<Instant> {
        self.woken_at.lock().unwrap_or_else(|p| p.into_inner()).get(app).copied()
    }

    /// `app`'s reconcile began.
    pub fn done(&self, app: &ObjectRef<Application>) {
        self.update(|apps| {
            apps.remove(app);
        });
    }

    /// `app` is gone.
    pub fn forget(&self, app: &ObjectRef<Application>) {
        self.woken_at.lock().unwrap_or_else(|p| p.into_inner()).remove(app);
        self.done(app);
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

    #[test]
    fn the_last_wake_is_kept_past_the_reconcile_until_the_app_is_gone() {
        let q = Pending::new(driftless_metrics::Metrics::new());
        let a = ObjectRef::new("a").within("ns");
        assert_eq!(q.last_woken(&a), None);
        q.woken(a.clone());
        let first = q.last_woken(&a).expect("woken");
        q.woken(a.clone());
        let second = q.last_woken(&a).expect("woken");
        assert!(second >= first, "a later wake replaces an earlier one");
        // A reconcile that returns early (another replica's turn, a stale
        // cache) must still know what its retry has to see.
        q.done(&a);
        assert_eq!(q.last_woken(&a), Some(second));
        q.forget(&a);
        assert_eq!(q.last_woken(&a), None);
    }
}
