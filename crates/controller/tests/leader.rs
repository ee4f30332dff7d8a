//! Leader election against the real dev control plane: candidates in this
//! process contend for one Lease in the test's namespace, with short
//! timings (lease 3 s, renew deadline 2 s, retry 0.5 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use driftless_controller::leader::{self, LeaderConfig};
use driftless_testkit::{TestNamespace, wait_for};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(60);
const LEASE: &str = "test-lease";
const LEASE_DURATION: Duration = Duration::from_secs(3);

fn fast(namespace: &str, identity: &str) -> LeaderConfig {
    LeaderConfig {
        lease_duration: LEASE_DURATION,
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(500),
        ..LeaderConfig::new(namespace, LEASE, identity)
    }
}

/// Shared by all candidates of a test: how many run their work right now,
/// and the most that ever did at once.
#[derive(Default)]
struct Tally {
    active: AtomicUsize,
    max: AtomicUsize,
}

impl Tally {
    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// Held by a candidate's work while it runs; dropped also when its task is
/// aborted, as a crash would end it.
struct Active {
    tally: Arc<Tally>,
    leading: Arc<AtomicBool>,
}

impl Active {
    fn enter(tally: Arc<Tally>, leading: Arc<AtomicBool>) -> Active {
        let now = tally.active.fetch_add(1, Ordering::SeqCst) + 1;
        tally.max.fetch_max(now, Ordering::SeqCst);
        leading.store(true, Ordering::SeqCst);
        Active { tally, leading }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.leading.store(false, Ordering::SeqCst);
        self.tally.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One candidate, running `run_as_leader` in a task of its own; its work
/// holds an [`Active`] until told to stop. Aborted on drop.
struct Candidate {
    identity: String,
    leading: Arc<AtomicBool>,
    worked: Arc<AtomicBool>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), leader::Error>>,
}

impl Candidate {
    fn start(ns: &TestNamespace, identity: &str, tally: &Arc<Tally>) -> Candidate {
        let leading = Arc::new(AtomicBool::new(false));
        let worked = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel::<()>();
        let (tally, flag, ran) = (tally.clone(), leading.clone(), worked.clone());
        let task = tokio::spawn(leader::run_as_leader(
            ns.client(),
            fast(ns.name(), identity),
            async move {
                let _ = rx.await;
            },
            move |stop| async move {
                ran.store(true, Ordering::SeqCst);
                let _active = Active::enter(tally, flag);
                stop.await;
                Ok(())
            },
        ));
        Candidate { identity: identity.to_string(), leading, worked, shutdown: Some(tx), task }
    }

    fn leads(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Fires its shutdown and waits for `run_as_leader` to return.
    async fn shut_down(&mut self) -> Result<(), leader::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.finished().await
    }

    /// Waits for `run_as_leader` to return by itself.
    async fn finished(&mut self) -> Result<(), leader::Error> {
        tokio::time::timeout(TIMEOUT, &mut self.task).await.expect("run_as_leader returns").expect("the task does not panic")
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn spec(leases: &Api<Lease>) -> LeaseSpec {
    leases.get(LEASE).await.expect("read the Lease").spec.unwrap_or_default()
}

async fn wait_leads(c: &Candidate, others: &[&Candidate]) {
    wait_for(&format!("{} to lead", c.identity), TIMEOUT, || async {
        let state: Vec<(String, bool)> = others.iter().map(|o| (o.identity.clone(), o.leads())).collect();
        if c.leads() { Ok(()) } else { Err(state) }
    })
    .await
    .expect("the candidate becomes leader");
}

#[tokio::test]
async fn one_leader_at_a_time_and_the_standby_takes_over_on_release_and_on_crash() {
    let ns = TestNamespace::new("leader-two").await.expect("a test namespace");
    let leases: Api<Lease> = ns.api();
    let tally = Arc::new(Tally::default());
    let a = Candidate::start(&ns, "candidate-a", &tally);
    let b = Candidate::start(&ns, "candidate-b", &tally);

    let first = wait_for("one candidate to lead", TIMEOUT, || async {
        match (a.leads(), b.leads()) {
            (true, false) => Ok(true),
            (false, true) => Ok(false),
            state => Err(state),
        }
    })
    .await
    .expect("a leader is elected");
    let (mut leader, standby) = if first { (a, b) } else { (b, a) };

    // Over several renewals the same candidate leads, alone.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(leader.leads(), "{} keeps leading", leader.identity);
        assert!(!standby.leads(), "{} stays standby", standby.identity);
    }
    assert_eq!(tally.max(), 1, "never more than one leader at once");
    let held = spec(&leases).await;
    assert_eq!(held.holder_identity.as_deref(), Some(leader.identity.as_str()));
    assert_eq!(held.lease_duration_seconds, Some(3));
    assert!(held.acquire_time.is_some() && held.renew_time > held.acquire_time, "renewed since acquired: {held:?}");
    let transitions = held.lease_transitions.unwrap_or(0);

    // A clean shutdown releases the Lease: right after, it names no one,
    // or already the standby, never the old leader.
    leader.shut_down().await.expect("a clean shutdown is Ok");
    assert!(!leader.leads(), "the work was stopped");
    let after = spec(&leases).await;
    assert_ne!(after.holder_identity.as_deref(), Some(leader.identity.as_str()), "released: {after:?}");
    wait_leads(&standby, &[&leader]).await;
    let taken = spec(&leases).await;
    assert_eq!(taken.holder_identity.as_deref(), Some(standby.identity.as_str()));
    assert_eq!(taken.lease_transitions, Some(transitions + 1));

    // A crash: the leader's task ends without releasing. A new candidate
    // takes over, but only once the Lease has expired.
    let c = Candidate::start(&ns, "candidate-c", &tally);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!c.leads(), "a valid Lease is not taken");
    let mut crashed = standby;
    crashed.task.abort();
    let _ = (&mut crashed.task).await;
    assert!(!crashed.leads(), "the crashed leader's work is gone");
    let last = spec(&leases).await;
    // The crashed leader's last renewal, unless c has already taken over
    // (only possible if this read came after expiry).
    let last_renewal = (last.holder_identity.as_deref() == Some(crashed.identity.as_str())).then_some(last.renew_time).flatten();
    wait_leads(&c, &[]).await;
    let now_held = spec(&leases).await;
    assert_eq!(now_held.holder_identity.as_deref(), Some("candidate-c"));
    let acquired = now_held.acquire_time.expect("acquireTime").0;
    if let Some(MicroTime(renewed)) = last_renewal {
        let expiry = renewed + SignedDuration::try_from(LEASE_DURATION).expect("a small duration");
        assert!(acquired >= expiry, "taken over only after expiry: last renewal {renewed}, acquired {acquired}");
    }
    assert_eq!(now_held.lease_transitions, Some(transitions + 2));
    assert_eq!(tally.max(), 1, "never more than one leader at once");
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_and_reports_lost_leadership() {
    let ns = TestNamespace::new("leader-lost").await.expect("a test namespace");
    let leases: Api<Lease> = ns.api();
    let tally = Arc::new(Tally::default());
    let mut a = Candidate::start(&ns, "candidate-a", &tally);
    wait_leads(&a, &[]).await;

    // Someone else (a replica with a skewed clock, an operator) writes
    // itself into the Lease.
    let mut lease = leases.get(LEASE).await.expect("read the Lease");
    let spec = lease.spec.get_or_insert_with(Default::default);
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(3600);
    leases.replace(LEASE, &PostParams::default(), &lease).await.expect("take the Lease");

    match a.finished().await {
        Err(leader::Error::LostLeadership { reason, .. }) => assert!(reason.contains("intruder"), "{reason}"),
        other => panic!("expected LostLeadership, got {other:?}"),
    }
    assert!(!a.leads(), "the work was stopped");
    assert_eq!(spec_holder(&leases).await.as_deref(), Some("intruder"), "a loser does not release what it no longer holds");
}

async fn spec_holder(leases: &Api<Lease>) -> Option<String> {
    spec(leases).await.holder_identity
}

#[tokio::test]
async fn a_standby_shut_down_never_runs_its_work() {
    let ns = TestNamespace::new("leader-standby").await.expect("a test namespace");
    let leases: Api<Lease> = ns.api();
    let held = Lease {
        metadata: kube::api::ObjectMeta { name: Some(LEASE.into()), ..Default::default() },
        spec: Some(LeaseSpec {
            holder_identity: Some("someone-else".into()),
            renew_time: Some(MicroTime(Timestamp::now())),
            lease_duration_seconds: Some(3600),
            ..Default::default()
        }),
    };
    leases.create(&PostParams::default(), &held).await.expect("create the Lease");
    let tally = Arc::new(Tally::default());
    let mut a = Candidate::start(&ns, "candidate-a", &tally);
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.shut_down().await.expect("shutting down a standby is Ok");
    assert!(!a.worked.load(Ordering::SeqCst), "a standby never runs its work");
    assert_eq!(spec_holder(&leases).await.as_deref(), Some("someone-else"));
}

#[tokio::test]
async fn work_that_fails_releases_the_lease_and_returns_its_error() {
    let ns = TestNamespace::new("leader-fail").await.expect("a test namespace");
    let leases: Api<Lease> = ns.api();
    let result = leader::run_as_leader(ns.client(), fast(ns.name(), "candidate-a"), std::future::pending(), |_stop| async {
        Err(driftless_controller::Error::CrdMissing)
    })
    .await;
    assert!(matches!(result, Err(leader::Error::Work(driftless_controller::Error::CrdMissing))), "{result:?}");
    let s = spec(&leases).await;
    assert_eq!(s.holder_identity, None, "released: {s:?}");
    assert_eq!(s.lease_transitions, Some(0));
}

/// What SIGTERM does to a leader that has just taken over: its work is
/// asked to stop before the controller has listed any Application. The
/// controller must end, not wait for a listing its stop cut short.
#[tokio::test]
async fn a_stop_asked_before_the_apps_are_listed_ends_the_controller() {
    let ns = TestNamespace::new("stop-early").await.expect("a test namespace");
    driftless_testkit::install_crds(&ns.client()).await.expect("install CRDs");
    let cache = tempfile::tempdir().expect("a temp dir");
    let config = driftless_controller::Config {
        tenancy: driftless_engine::project::Tenancy::new(ns.name()),
        cache_dir: cache.path().to_path_buf(),
        ..Default::default()
    };
    let run = driftless_controller::run(ns.client(), config, std::future::ready(()));
    tokio::time::timeout(TIMEOUT, run).await.expect("the controller stops").expect("a clean stop");
}
