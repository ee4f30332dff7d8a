//! Sharding: every replica started with `--sharded` takes a share of the
//! apps, with Kubernetes Leases as the membership (each replica renews one
//! of its own; a replica whose Lease expires is gone).
//!
//! **Assignment** ([`Assignment`], pure): an app whose cluster Secret names
//! a `shard` goes to that replica (members sorted by identity, the shard
//! taken modulo their number), as Argo CD assigns clusters; any other app
//! falls into one of [`BUCKETS`] buckets by its name, and the buckets are
//! spread over the members by consistent hashing with bounded loads, so a
//! change of replica count moves few apps and no replica holds far more than
//! its share.
//!
//! **Hand-over without two writers.** A replica publishes in its Lease the
//! member set (the *view*) it acts on, and acts only while every live
//! member publishes the same view. It publishes a new view only once it
//! runs nothing that the new view gives to another (a reconcile of an app it
//! loses is cut off: its sync resumes on the new owner). A replica that
//! cannot renew its Lease within the renew deadline stops acting before the
//! Lease expires and others take its apps.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::Application;
use driftless_engine::clusters::Clusters;
use driftless_engine::live::Routes;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use tokio::time::Instant;

/// How many buckets apps hash into: many more than replicas, so that
/// bounded loads balance well and a move is a small fraction.
pub const BUCKETS: u32 = 1024;
/// How far above the average a replica's number of buckets may go.
const LOAD_FACTOR: f64 = 1.25;
/// Points per member on the hash ring.
const VIRTUAL_NODES: u32 = 64;
/// The label on every member Lease.
pub const MEMBER_LABEL: &str = "driftless.dev/shard-member";
/// The annotation holding the view a member acts on.
pub const VIEW_ANNOTATION: &str = "driftless.dev/shard-view";

fn hash_of(value: impl Hash) -> u64 {
    // FNV-1a through Hasher: the same on every replica and every build,
    // unlike std's randomly seeded hashers.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    value.hash(&mut h);
    // A final mix: FNV's low bits are weak for short inputs.
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// Which member holds which bucket, for one member set.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    members: Vec<String>,
    buckets: Vec<u16>,
}

impl Assignment {
    /// Spreads the buckets over `members` (any order; duplicates ignored).
    pub fn new(members: impl IntoIterator<Item = String>) -> Assignment {
        let members: Vec<String> = members.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        if members.is_empty() {
            return Assignment { members, buckets: Vec::new() };
        }
        let mut ring: Vec<(u64, u16)> =
            members.iter().enumerate().flat_map(|(i, m)| (0..VIRTUAL_NODES).map(move |v| (hash_of((m, v)), i as u16))).collect();
        ring.sort_unstable();
        let capacity = ((f64::from(BUCKETS) * LOAD_FACTOR) / members.len() as f64).ceil() as usize;
        let mut load = vec![0usize; members.len()];
        let mut buckets = vec![0u16; BUCKETS as usize];
        // Buckets in the order of their own hash, each to the first member
        // clockwise that still has room: consistent hashing with bounded
        // loads (Mirrokni, Thorup, Zadimoghaddam).
        let mut order: Vec<(u64, u32)> = (0..BUCKETS).map(|b| (hash_of(("bucket", b)), b)).collect();
        order.sort_unstable();
        for (h, b) in order {
            let start = ring.partition_point(|(p, _)| *p < h);
            let owner = (0..ring.len())
                .map(|i| ring[(start + i) % ring.len()].1)
                .find(|m| load[*m as usize] < capacity)
                .expect("total capacity exceeds the number of buckets");
            load[owner as usize] += 1;
            buckets[b as usize] = owner;
        }
        Assignment { members, buckets }
    }

    /// The members, sorted.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// The member that handles `app`, whose cluster Secret may pin a shard.
    pub fn owner(&self, app: &ObjectRef<Application>, pinned: Option<u32>) -> Option<&str> {
        if self.members.is_empty() {
            return None;
        }
        let index = match pinned {
            Some(shard) => shard as usize % self.members.len(),
            None => {
                let bucket = hash_of((app.namespace.as_deref().unwrap_or(""), app.name.as_str())) % u64::from(BUCKETS);
                usize::from(self.buckets[bucket as usize])
            }
        };
        Some(&self.members[index])
    }
}

/// How a sharded replica runs.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// Where the member Leases live (the control-plane namespace).
    pub namespace: String,
    /// This replica's identity (unique per process).
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How long a replica acts without renewing; less than the duration.
    pub renew_deadline: Duration,
    /// How often Leases are renewed and read.
    pub retry_period: Duration,
}

impl ShardConfig {
    /// client-go's leader-election timings, renewing every second so that a
    /// hand-over settles quickly.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> ShardConfig {
        ShardConfig {
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(1),
        }
    }

    fn lease_name(&self) -> String {
        format!("driftless-shard-{:016x}", hash_of(&self.identity))
    }
}

#[derive(Default)]
struct State {
    /// The live members as last read.
    computed: Option<Assignment>,
    /// How many rounds in a row read the same members: a view is acked
    /// only once it has held for two, so that replicas starting together
    /// settle on all of them instead of handing apps over at each arrival.
    steady: u32,
    /// The view published in our Lease, and acted on while stable.
    acked: Option<Assignment>,
    /// Every live member publishes `acked`.
    stable: bool,
    /// When our Lease was last renewed.
    renewed: Option<Instant>,
    /// Apps whose reconcile is running here, with how many.
    in_flight: HashMap<ObjectRef<Application>, usize>,
    /// Apps refused while not stable, woken once stable.
    refused: HashSet<ObjectRef<Application>>,
}

struct Members {
    config: ShardConfig,
    clusters: Arc<Clusters>,
    metrics: driftless_metrics::Metrics,
    state: Mutex<State>,
}

/// What a sharded replica works with besides its settings.
pub struct ShardWorld {
    /// The control plane.
    pub client: kube::Client,
    /// The clusters (for the `shard` of their Secrets).
    pub clusters: Arc<Clusters>,
    /// Every Application, to wake the ones this replica gains.
    pub apps: Vec<Store<Application>>,
    /// Where to send them.
    pub routes: Routes,
    /// Where the share is published.
    pub metrics: driftless_metrics::Metrics,
}

/// This replica's share of the apps: all of them, or what the sharded
/// membership gives it.
#[derive(Clone, Default)]
pub struct Share(Option<Arc<Members>>);

/// Whether this replica may reconcile an app now.
pub enum Turn {
    /// Yes: held until the guard drops.
    Held(Held),
    /// No: another replica handles it, by a view all members agree on.
    Elsewhere,
    /// Not now: ours, but the members do not agree yet or our Lease is not
    /// fresh; look again shortly.
    NotNow,
}

/// A reconcile of an app held by this replica; dropped when it ends.
pub struct Held {
    members: Option<Arc<Members>>,
    app: ObjectRef<Application>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(m) = &self.members {
            let mut s = m.lock();
            if let Some(n) = s.in_flight.get_mut(&self.app) {
                *n -= 1;
                if *n == 0 {
                    s.in_flight.remove(&self.app);
                }
            }
        }
    }
}

impl Members {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pinned(&self, app: &Application) -> Option<u32> {
        self.clusters.pinned_shard(&app.spec.destination)
    }
}

impl Share {
    /// Every app (not sharded).
    pub fn all() -> Share {
        Share(None)
    }

    /// Holds `app` for a reconcile if it is this replica's now.
    pub fn hold(&self, app: &Application) -> Turn {
        let key = ObjectRef::from_obj(app);
        let Some(m) = &self.0 else { return Turn::Held(Held { members: None, app: key }) };
        let pinned = m.pinned(app);
        let mut s = m.lock();
        let fresh = s.renewed.is_some_and(|r| r.elapsed() < m.config.renew_deadline);
        let owner = s.acked.as_ref().map(|a| a.owner(&key, pinned) == Some(m.config.identity.as_str()));
        match owner {
            Some(true) if fresh && s.stable => {
                *s.in_flight.entry(key.clone()).or_default() += 1;
                Turn::Held(Held { members: Some(m.clone()), app: key })
            }
            Some(false) if s.stable => Turn::Elsewhere,
            // Ours but not now (the members do not agree yet, or our Lease
            // is not fresh), or not known yet: look again soon, and at the
            // view's next agreement.
            _ => {
                s.refused.insert(key);
                Turn::NotNow
            }
        }
    }

    /// Whether a reconcile of `app` running here may go on: false once the
    /// latest membership gives it to another replica, or once this replica
    /// can no longer renew its Lease.
    pub fn keeps(&self, app: &Application) -> bool {
        let Some(m) = &self.0 else { return true };
        let key = ObjectRef::from_obj(app);
        let pinned = m.pinned(app);
        let s = m.lock();
        let fresh = s.renewed.is_some_and(|r| r.elapsed() < m.config.renew_deadline);
        let mine = |a: &Option<Assignment>| a.as_ref().and_then(|a| a.owner(&key, pinned)) == Some(m.config.identity.as_str());
        fresh && mine(&s.computed) && mine(&s.acked)
    }

    /// Resolves once `app` is no longer this replica's (see [`Share::keeps`]).
    pub async fn lost(&self, app: &Application) {
        if self.0.is_none() {
            return std::future::pending().await;
        }
        while self.keeps(app) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether this replica would handle objects of the app named by a
    /// tracking-id instance on a cluster pinned to `pinned`: what its live
    /// indexes keep.
    pub fn indexes(&self, app: &ObjectRef<Application>, pinned: Option<u32>) -> bool {
        let Some(m) = &self.0 else { return true };
        let s = m.lock();
        [&s.computed, &s.acked].iter().any(|a| a.as_ref().and_then(|a| a.owner(app, pinned)) == Some(m.config.identity.as_str()))
    }

    /// The members and this replica's identity, for status and metrics.
    pub fn describe(&self) -> Option<(String, Vec<String>, bool)> {
        let m = self.0.as_ref()?;
        let s = m.lock();
        let members = s.acked.as_ref().map(|a| a.members().to_vec()).unwrap_or_default();
        Some((m.config.identity.clone(), members, s.stable))
    }

    /// Joins the membership and keeps it until `shutdown`: renews this
    /// replica's Lease, follows the others', and wakes the apps this
    /// replica gains. Returns the share at once; it acts on nothing until
    /// the first view is stable.
    pub fn join(
        config: ShardConfig,
        world: ShardWorld,
        on_change: impl Fn(&Share) + Send + Sync + 'static,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Share {
        let ShardWorld { client, clusters, apps, routes, metrics } = world;
        let members = Arc::new(Members { config, clusters, metrics, state: Mutex::default() });
        let share = Share(Some(members.clone()));
        let looping = share.clone();
        tokio::spawn(async move {
            let api: Api<Lease> = Api::namespaced(client, &members.config.namespace);
            let run = async {
                loop {
                    if let Err(e) = looping.step(&api, &apps, &routes, &on_change).await {
                        tracing::warn!(namespace = %members.config.namespace, "shard membership: {e}");
                    }
                    tokio::time::sleep(members.config.retry_period).await;
                }
            };
            tokio::select! {
                () = run => {}
                () = shutdown => {
                    // Stop acting (running reconciles are cut off between two
                    // requests), then leave: the others take the apps without
                    // waiting for the Lease to expire, and never while one
                    // of ours still runs here.
                    members.lock().renewed = None;
                    let deadline = Instant::now() + members.config.renew_deadline;
                    while !members.lock().in_flight.is_empty() && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let _ = api.delete(&members.config.lease_name(), &Default::default()).await;
                }
            }
        });
        share
    }

    /// One round: read the members, publish the view we can act on, renew.
    async fn step(
        &self,
        api: &Api<Lease>,
        apps: &[Store<Application>],
        routes: &Routes,
        on_change: &(impl Fn(&Share) + Send + Sync),
    ) -> Result<(), kube::Error> {
        let m = self.0.as_ref().expect("only a sharded share steps");
        let cfg = &m.config;
        // Our Lease is as fresh as the renewTime written, not as the moment
        // the write returned: a slow API server must not stretch the fence.
        let started = Instant::now();
        let leases = api.list(&ListParams::default().labels(&format!("{MEMBER_LABEL}=true"))).await?;
        let now = Timestamp::now();
        let live: Vec<&Lease> = leases.items.iter().filter(|l| l.name_any() != cfg.lease_name() && alive(l, now)).collect();
        let mut ids: Vec<String> = live.iter().filter_map(|l| l.spec.as_ref()?.holder_identity.clone()).collect();
        ids.push(cfg.identity.clone());
        let computed = Assignment::new(ids);
        // Ack the new view once nothing running here belongs to another in it.
        let acked = {
            let mut s = m.lock();
            if s.computed.as_ref() == Some(&computed) {
                s.steady += 1;
            } else {
                s.computed = Some(computed.clone());
                s.steady = 1;
            }
            let busy_elsewhere = s.in_flight.keys().any(|app| {
                let pinned = apps.iter().find_map(|st| st.get(app)).and_then(|a| m.pinned(&a));
                computed.owner(app, pinned) != Some(cfg.identity.as_str())
            });
            if !busy_elsewhere && s.steady >= 2 && s.acked.as_ref() != Some(&computed) {
                s.acked = Some(computed.clone());
                s.stable = false;
            }
            match s.acked.clone() {
                Some(acked) => acked,
                // Nothing acked yet, so nothing runs here: any view can be
                // published, and the others see us arrive.
                None => computed.clone(),
            }
        };
        let view = view_hash(&acked);
        let lease = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": { "name": cfg.lease_name(), "labels": { MEMBER_LABEL: "true" }, "annotations": { VIEW_ANNOTATION: view } },
            "spec": serde_json::to_value(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(cfg.lease_duration.as_secs().max(1) as i32),
                renew_time: Some(MicroTime(now)),
                ..LeaseSpec::default()
            }).unwrap_or_default(),
        });
        api.patch(&cfg.lease_name(), &PatchParams::apply("driftless-shard").force(), &Patch::Apply(&lease)).await?;
        // Stable when every live member (by the listing just read) publishes
        // the view we published.
        let stable = live.iter().all(|l| l.annotations().get(VIEW_ANNOTATION) == Some(&view)) && acked.members().len() == live.len() + 1;
        let held = apps
            .iter()
            .flat_map(|st| st.state())
            .filter(|a| acked.owner(&ObjectRef::from_obj(&**a), m.pinned(a)) == Some(cfg.identity.as_str()))
            .count();
        m.metrics.shard(&cfg.identity, acked.members().len(), if stable { held } else { 0 });
        let wake = {
            let mut s = m.lock();
            s.renewed = Some(started);
            let became_stable = stable && !s.stable;
            s.stable = stable && s.acked.as_ref() == Some(&acked);
            if !became_stable {
                Vec::new()
            } else {
                tracing::info!(identity = %cfg.identity, members = ?acked.members(), "shard view is stable");
                let refused = std::mem::take(&mut s.refused);
                // Every app this replica holds now: gained ones have had no
                // event here, refused ones were turned away meanwhile.
                let mut wake: Vec<ObjectRef<Application>> = apps
                    .iter()
                    .flat_map(|st| st.state())
                    .filter(|a| acked.owner(&ObjectRef::from_obj(&**a), m.pinned(a)) == Some(cfg.identity.as_str()))
                    .map(|a| ObjectRef::from_obj(&*a))
                    .collect();
                wake.extend(refused);
                wake
            }
        };
        if !wake.is_empty() {
            on_change(self);
            for app in wake {
                driftless_engine::live::route(routes, app);
            }
        }
        Ok(())
    }
}

fn alive(lease: &Lease, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else { return false };
    let (Some(renewed), Some(secs)) = (&spec.renew_time, spec.lease_duration_seconds) else { return false };
    spec.holder_identity.is_some() && renewed.0 + SignedDuration::from_secs(i64::from(secs)) > now
}

fn view_hash(a: &Assignment) -> String {
    format!("{:016x}", hash_of(a.members()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apps(n: usize) -> Vec<ObjectRef<Application>> {
        (0..n).map(|i| ObjectRef::new(&format!("app-{i}")).within(&format!("team-{}", i % 7))).collect()
    }

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("replica-{i}")).collect()
    }

    #[test]
    fn every_app_has_exactly_one_owner_whatever_the_order_of_members() {
        let a = Assignment::new(members(3));
        let mut reversed = members(3);
        reversed.reverse();
        let b = Assignment::new(reversed);
        for app in apps(500) {
            assert_eq!(a.owner(&app, None), b.owner(&app, None), "replicas agree on {app}");
            assert!(a.owner(&app, None).is_some());
        }
        assert_eq!(Assignment::new(Vec::new()).owner(&apps(1)[0], None), None);
    }

    #[test]
    fn loads_are_bounded_and_adding_a_replica_moves_few_apps() {
        let all = apps(3000);
        let three = Assignment::new(members(3));
        let four = Assignment::new(members(4));
        let count = |a: &Assignment, m: &str| all.iter().filter(|x| a.owner(x, None) == Some(m)).count();
        for m in members(4) {
            let share = count(&four, &m);
            assert!(share as f64 <= 3000.0 / 4.0 * 1.45, "{m} holds {share} of 3000");
            assert!(share > 0, "{m} holds nothing");
        }
        let moved = all.iter().filter(|x| three.owner(x, None) != four.owner(x, None)).count();
        // Ideal: a quarter moves to the new replica; plain modulo moves 3/4.
        assert!((moved as f64) < 3000.0 * 0.45, "{moved} of 3000 moved going from 3 to 4 replicas");
        let to_new = all.iter().filter(|x| three.owner(x, None) != four.owner(x, None) && four.owner(x, None) == Some("replica-3")).count();
        assert!(to_new * 2 > moved, "most moves go to the new replica ({to_new} of {moved})");
    }

    #[test]
    fn a_cluster_secret_shard_pins_its_apps() {
        let a = Assignment::new(members(3));
        for app in apps(50) {
            assert_eq!(a.owner(&app, Some(1)), Some("replica-1"));
            assert_eq!(a.owner(&app, Some(4)), Some("replica-1"), "modulo the number of replicas");
        }
    }

    #[test]
    fn leases_expire_after_their_duration() {
        let now = Timestamp::now();
        let lease = |renewed: i64, secs: i32| Lease {
            metadata: Default::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some("a".into()),
                renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed))),
                lease_duration_seconds: Some(secs),
                ..Default::default()
            }),
        };
        assert!(alive(&lease(5, 15), now));
        assert!(!alive(&lease(20, 15), now));
        assert!(!alive(&Lease::default(), now));
    }
}
