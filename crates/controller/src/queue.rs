//! The work queue as the controller sees it: apps woken by a change whose
//! reconcile has not begun (kube-runtime's controller de-duplicates and
//! schedules wakes but does not expose its queue, so the controller counts
//! at both ends), when each app was last woken, and the order of the two
//! kinds of wakes: what a user asked for goes before what the cluster did.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use driftless_api::Application;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;

/// Why an app was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The user changed the app: its spec, an operation, a refresh, its
    /// deletion (or the controller started and has not looked at it yet).
    Asked,
    /// Something the app reads changed: one of its live objects (a
    /// Deployment's status as it rolls out, or drift), argocd-cm, a
    /// dependency's status.
    Observed,
}

/// Apps waiting for a reconcile, published as `driftless_workqueue_depth`.
pub struct Pending {
    apps: Mutex<Waiting>,
    /// When each app was last woken: whatever the change that woke it saw
    /// (a commit pushed before the user edited the app) happened before.
    woken_at: Mutex<HashMap<ObjectRef<Application>, Instant>>,
    /// How many apps woken by [`Wake::Asked`] wait.
    asked: watch::Sender<usize>,
    metrics: driftless_metrics::Metrics,
}

#[derive(Default)]
struct Waiting {
    all: HashSet<ObjectRef<Application>>,
    asked: HashSet<ObjectRef<Application>>,
}

impl Pending {
    /// An empty queue reporting to `metrics`.
    pub fn new(metrics: driftless_metrics::Metrics) -> Pending {
        Pending { apps: Mutex::default(), woken_at: Mutex::default(), asked: watch::Sender::new(0), metrics }
    }

    /// A change woke `app`. Waking it again before it runs adds nothing, as
    /// the controller runs it once.
    pub fn woken(&self, app: ObjectRef<Application>, why: Wake) {
        self.woken_at.lock().unwrap_or_else(|p| p.into_inner()).insert(app.clone(), Instant::now());
        self.update(|w| {
            if why == Wake::Asked {
                w.asked.insert(app.clone());
            }
            w.all.insert(app);
        });
    }

    /// When `app` was last woken, if it ever was.
    pub fn last_woken(&self, app: &ObjectRef<Application>) -> Option<Instant> {
        self.woken_at.lock().unwrap_or_else(|p| p.into_inner()).get(app).copied()
    }

    /// `app`'s reconcile began.
    pub fn done(&self, app: &ObjectRef<Application>) {
        self.update(|w| {
            w.all.remove(app);
            w.asked.remove(app);
        });
    }

    /// `app` is gone.
    pub fn forget(&self, app: &ObjectRef<Application>) {
        self.woken_at.lock().unwrap_or_else(|p| p.into_inner()).remove(app);
        self.done(app);
    }

    /// How many apps woken by [`Wake::Asked`] wait, as it changes.
    pub fn asked(&self) -> watch::Receiver<usize> {
        self.asked.subscribe()
    }

    fn update(&self, change: impl FnOnce(&mut Waiting)) {
        let mut w = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut w);
        self.metrics.set_queue_depth(w.all.len() as i64);
        let asked = w.asked.len();
        self.asked.send_if_modified(|n| std::mem::replace(n, asked) != asked);
    }
}

/// How long an observed wake may be held back while asked ones wait.
pub const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// `wakes`, except that a wake arriving while at least `busy` apps woken
/// by [`Wake::Asked`] wait is held (once per app) until fewer do, or until
/// the oldest held one has waited `limit`. On a cold start, or after a
/// restart, every app waits for its first sync while the Deployments of
/// those already synced roll out; each rollout step would wake its app for
/// a health update (a GET, a status write) that competes with the syncs for
/// the API server. As Argo CD's operation processors run beside its status
/// processors, syncs go first; the health updates follow, one per app
/// rather than one per step. `busy` is the controller's concurrency: with
/// fewer asked apps waiting (a user's edit, or a sync that clears its own
/// request while it runs for minutes) a slot is free and nothing is held,
/// so drift is reverted as soon as it is seen. The limit keeps a stream of
/// edits from holding health and drift back for ever.
pub fn hold_observed<S>(wakes: S, asked: watch::Receiver<usize>, busy: usize, limit: Duration) -> impl Stream<Item = ObjectRef<Application>>
where
    S: Stream<Item = ObjectRef<Application>> + Unpin,
{
    let busy = busy.max(1);
    let state = Hold { wakes: Some(wakes), asked, held: HashSet::new(), since: None, releasing: None };
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(app) = st.releasing.as_mut().and_then(Iterator::next) {
                return Some((app, st));
            }
            st.releasing = None;
            let Hold { wakes: Some(wakes), asked, held, since, .. } = &mut st else { return None };
            let deadline = since.map(|s| s + limit);
            let step = tokio::select! {
                wake = wakes.next() => wake.map_or(Step::Ended, Step::Woken),
                // Err: the queue is gone, and nothing waits any more.
                _ = asked.wait_for(|n| *n < busy), if !held.is_empty() => Step::Release,
                () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => Step::Release,
            };
            match step {
                Step::Woken(app) if st.held.is_empty() && *st.asked.borrow() < busy => return Some((app, st)),
                Step::Woken(app) => {
                    st.held.insert(app);
                    st.since.get_or_insert_with(tokio::time::Instant::now);
                }
                // What is held still goes.
                Step::Ended => {
                    st.wakes = None;
                    st.release();
                }
                Step::Release => st.release(),
            }
        }
    })
}

/// What [`hold_observed`] does next.
enum Step {
    Woken(ObjectRef<Application>),
    Ended,
    Release,
}

/// [`hold_observed`]'s state.
struct Hold<S> {
    /// None once the wakes ended.
    wakes: Option<S>,
    asked: watch::Receiver<usize>,
    held: HashSet<ObjectRef<Application>>,
    /// When the oldest held wake came (tokio's clock: a test may stop it).
    since: Option<tokio::time::Instant>,
    /// The held wakes, being let go.
    releasing: Option<std::collections::hash_set::IntoIter<ObjectRef<Application>>>,
}

impl<S> Hold<S> {
    fn release(&mut self) {
        self.since = None;
        self.releasing = Some(std::mem::take(&mut self.held).into_iter());
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
        q.woken(a.clone(), Wake::Observed);
        q.woken(a.clone(), Wake::Observed);
        q.woken(b.clone(), Wake::Asked);
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
        q.woken(a.clone(), Wake::Observed);
        let first = q.last_woken(&a).expect("woken");
        q.woken(a.clone(), Wake::Observed);
        let second = q.last_woken(&a).expect("woken");
        assert!(second >= first, "a later wake replaces an earlier one");
        // A reconcile that returns early (another replica's turn, a stale
        // cache) must still know what its retry has to see.
        q.done(&a);
        assert_eq!(q.last_woken(&a), Some(second));
        q.forget(&a);
        assert_eq!(q.last_woken(&a), None);
    }

    fn app(name: &str) -> ObjectRef<Application> {
        ObjectRef::new(name).within("argocd")
    }

    #[tokio::test(start_paused = true)]
    async fn observed_wakes_wait_while_the_asked_ones_fill_the_controller_and_go_once_per_app() {
        let q = Pending::new(driftless_metrics::Metrics::new());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        // A controller that runs two apps at once.
        let mut out = Box::pin(hold_observed(rx, q.asked(), 2, HOLD_LIMIT));
        // Nothing asked for waits: a wake passes at once (drift reverted as seen).
        tx.unbounded_send(app("a")).unwrap();
        assert_eq!(out.next().await, Some(app("a")));
        // One asked app waits (an edit, or a long sync's own cleared
        // request): a slot is free, and drift is still reverted at once.
        q.woken(app("edited"), Wake::Asked);
        tx.unbounded_send(app("drifted")).unwrap();
        assert_eq!(out.next().await, Some(app("drifted")));

        // A cold start: more apps wait for their first sync than run at
        // once; the rollout steps of "a" and "b" are held, and go once
        // fewer wait.
        q.woken(app("new"), Wake::Asked);
        for name in ["a", "b", "a", "a"] {
            q.woken(app(name), Wake::Observed);
            tx.unbounded_send(app(name)).unwrap();
        }
        let early = tokio::time::timeout(Duration::from_secs(1), out.next()).await;
        assert!(early.is_err(), "let go while the asked apps fill the controller: {early:?}");
        // An observed wake of its own does not make the waiting apps fewer.
        q.done(&app("a"));
        assert!(tokio::time::timeout(Duration::from_secs(1), out.next()).await.is_err());
        q.done(&app("new"));
        let mut released = vec![out.next().await.unwrap(), out.next().await.unwrap()];
        released.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(released, [app("a"), app("b")], "one wake per app");
        assert!(tokio::time::timeout(Duration::from_secs(1), out.next()).await.is_err(), "nothing else");
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_wake_goes_after_the_limit_even_if_asked_ones_keep_coming() {
        let q = Pending::new(driftless_metrics::Metrics::new());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let limit = Duration::from_secs(30);
        let mut out = Box::pin(hold_observed(rx, q.asked(), 1, limit));
        q.woken(app("busy"), Wake::Asked);
        tx.unbounded_send(app("drifted")).unwrap();
        assert!(tokio::time::timeout(limit / 2, out.next()).await.is_err());
        assert_eq!(tokio::time::timeout(limit, out.next()).await, Ok(Some(app("drifted"))));
        // The wakes end: what is held still goes, then the stream ends.
        tx.unbounded_send(app("last")).unwrap();
        drop(tx);
        assert_eq!(out.next().await, Some(app("last")));
        assert_eq!(out.next().await, None);
    }
}
