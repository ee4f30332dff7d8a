//! Leader election on a `coordination.k8s.io/v1` Lease: two replicas never
//! act at once, and a standby takes over within seconds when the leader dies.
//!
//! The semantics and defaults are client-go's (`k8s.io/client-go/tools/leaderelection`):
//!
//! - a candidate takes the Lease when it is absent, has no holder, or has
//!   expired (`renewTime + leaseDurationSeconds < now`), writing with the
//!   Lease's `resourceVersion` so that of two candidates racing for it, one
//!   gets a 409 Conflict and keeps waiting;
//! - the leader renews every retry period; when it has not renewed for the
//!   renew deadline (shorter than the lease duration, so it stops before
//!   anyone else may start) or sees another holder, leadership is lost;
//! - on a clean shutdown the leader releases the Lease, so a standby takes
//!   over at its next retry instead of waiting for the Lease to expire.
//!
//! Expiry compares the Lease's `renewTime` with this process's wall clock,
//! so replicas' clocks must agree to well within the lease duration minus the
//! renew deadline (5 s by default), as NTP-synchronised nodes do.
//!
//! [`decide`] and [`released`] are pure (the Lease as read, the time, and who
//! we are, in; what to write or how long to wait, out); [`run_as_leader`] is
//! the thin I/O loop around them.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

/// client-go's default lease duration: how long a standby waits after the
/// last renewal before it takes the Lease over.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// client-go's default renew deadline: how long the leader keeps acting
/// without a successful renewal.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// client-go's default retry period: how often the leader renews and a
/// standby tries to acquire.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// client-go requires `renew_deadline > JITTER_FACTOR * retry_period`, so
/// that the leader gets more than one attempt in before the deadline.
const JITTER_FACTOR: f64 = 1.2;

/// Which Lease to contend for, as whom, and how fast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease; every replica of one deployment uses the same.
    pub name: String,
    /// This process's identity, unique among the candidates (see
    /// [`default_identity`]); written to `holderIdentity`.
    pub identity: String,
    /// How long a Lease stays valid after its last renewal. Written to the
    /// Lease rounded up to whole seconds.
    pub lease_duration: Duration,
    /// How long the leader may go without a successful renewal before it
    /// gives up leadership. Must be shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby retries.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// A configuration with client-go's default timings (15 s / 10 s / 2 s).
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> LeaderConfig {
        LeaderConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// client-go's checks: the timings must leave the leader time to stop
    /// before a standby may start.
    fn validate(&self) -> Result<(), Error> {
        let fail = |msg: String| Err(Error::Config(msg));
        if self.namespace.is_empty() || self.name.is_empty() {
            return fail("the Lease's namespace and name must not be empty".into());
        }
        if self.identity.is_empty() {
            return fail("the identity must not be empty".into());
        }
        if self.retry_period.is_zero() {
            return fail("the retry period must be positive".into());
        }
        if self.lease_duration <= self.renew_deadline {
            return fail(format!(
                "the lease duration ({:?}) must be longer than the renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return fail(format!(
                "the renew deadline ({:?}) must be longer than {JITTER_FACTOR} x the retry period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        Ok(())
    }

    fn lease(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Why [`run_as_leader`] returned an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration's timings are inconsistent.
    #[error("invalid leader election settings: {0}")]
    Config(String),
    /// This process was the leader and no longer is; the work has been
    /// stopped. The caller should exit non-zero and start afresh (as
    /// kube-controller-manager does) rather than keep any state it built.
    #[error("lost leadership of Lease {lease}: {reason}")]
    LostLeadership {
        /// `namespace/name` of the Lease.
        lease: String,
        /// What happened: who holds it now, or why renewing failed.
        reason: String,
    },
    /// The work run while leading failed.
    #[error(transparent)]
    Work(#[from] crate::Error),
}

/// What a candidate should do about the Lease it just read.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Take the Lease (it is absent, released or expired): write this spec.
    Acquire(LeaseSpec),
    /// We already hold it: write this spec to renew it.
    Renew(LeaseSpec),
    /// Someone else holds a valid Lease.
    Wait {
        /// Its holder.
        holder: String,
        /// How long until it expires unless renewed.
        expires_in: Duration,
    },
}

/// Decides, from the Lease as read (`None`: there is none), the time now and
/// our identity, whether to acquire, renew or wait. Fields this module does
/// not manage (`strategy`, `preferredHolder`) are kept as they are.
pub fn decide(current: Option<&LeaseSpec>, now: Timestamp, identity: &str, lease_duration: Duration) -> Decision {
    let seconds = lease_seconds(lease_duration);
    let Some(spec) = current else {
        return Decision::Acquire(LeaseSpec {
            holder_identity: Some(identity.to_string()),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_duration_seconds: Some(seconds),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        });
    };
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    let mut next = spec.clone();
    next.renew_time = Some(MicroTime(now));
    next.lease_duration_seconds = Some(seconds);
    if holder == Some(identity) {
        next.acquire_time.get_or_insert(MicroTime(now));
        return Decision::Renew(next);
    }
    if let Some(holder) = holder
        && let Some(expires_in) = valid_for(spec, now, seconds)
    {
        return Decision::Wait { holder: holder.to_string(), expires_in };
    }
    next.holder_identity = Some(identity.to_string());
    next.acquire_time = Some(MicroTime(now));
    // As client-go: every change of holder counts, including taking over a
    // released Lease.
    next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    Decision::Acquire(next)
}

/// The spec that releases a Lease we hold, as client-go's `ReleaseOnCancel`
/// writes it: no holder, a one-second duration, the transition count kept.
/// A candidate may take a Lease without a holder at once.
pub fn released(current: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_duration_seconds: Some(1),
        ..current.clone()
    }
}

/// How long `spec` stays valid after `now`; `None` if it has expired.
/// A Lease without any time set has never been valid.
fn valid_for(spec: &LeaseSpec, now: Timestamp, default_seconds: i32) -> Option<Duration> {
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let seconds = spec.lease_duration_seconds.filter(|s| *s > 0).unwrap_or(default_seconds);
    let expiry = renewed.checked_add(SignedDuration::from_secs(i64::from(seconds))).unwrap_or(Timestamp::MAX);
    if expiry < now {
        return None;
    }
    // A renewal stamped in the future (clock skew) still counts as valid;
    // the caller never sleeps longer than its retry period anyway.
    Some(Duration::try_from(expiry.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// `leaseDurationSeconds` is whole seconds: round up, so that standbys never
/// wait less than the leader assumes.
fn lease_seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
}

/// An identity for this process: the host name (the pod's name in
/// Kubernetes) and a random suffix, as client-go users write it, so that a
/// restarted container never mistakes its predecessor's Lease for its own.
pub fn default_identity() -> String {
    use std::hash::{BuildHasher, Hash, Hasher};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "driftless".to_string());
    // std has no RNG, but RandomState is seeded randomly per process; mix in
    // the pid and time for good measure.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    std::time::SystemTime::now().hash(&mut hasher);
    format!("{host}_{:016x}", hasher.finish())
}

/// The result of one attempt to acquire or renew.
enum Attempt {
    /// We hold the Lease now.
    Holding {
        /// Whether this attempt took it over (rather than renewed it).
        acquired: bool,
        /// Its `leaseTransitions` after the write.
        transitions: i32,
    },
    /// Someone else holds a valid Lease.
    HeldBy { holder: String, expires_in: Duration },
    /// Someone else wrote the Lease between our read and our write.
    Conflict,
    /// We were leading, and the Lease says we no longer are.
    Lost(String),
}

/// Reads the Lease and, per [`decide`], writes it. `leading`: we believe we
/// hold it, so anything but a renewal means another holder may be acting.
async fn try_acquire_or_renew(api: &Api<Lease>, cfg: &LeaderConfig, leading: bool) -> Result<Attempt, kube::Error> {
    let current = api.get_opt(&cfg.name).await?;
    let decision = decide(current.as_ref().and_then(|l| l.spec.as_ref()), Timestamp::now(), &cfg.identity, cfg.lease_duration);
    let (spec, acquired) = match decision {
        Decision::Wait { holder, expires_in } if !leading => return Ok(Attempt::HeldBy { holder, expires_in }),
        Decision::Wait { holder, .. } => return Ok(Attempt::Lost(format!("it is held by {holder}"))),
        // Re-taking a Lease that was deleted or handed to someone else
        // could overlap with whoever acted in between: give up instead.
        Decision::Acquire(_) if leading => {
            let why = match &current {
                None => "the Lease was deleted".to_string(),
                Some(_) => "the Lease no longer names this process".to_string(),
            };
            return Ok(Attempt::Lost(why));
        }
        Decision::Acquire(spec) => (spec, true),
        Decision::Renew(spec) => (spec, false),
    };
    let written = match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(cfg.name.clone()), namespace: Some(cfg.namespace.clone()), ..ObjectMeta::default() },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease).await
        }
        // The object as read carries its resourceVersion: the write fails
        // with 409 if anyone wrote in between.
        Some(mut lease) => {
            lease.spec = Some(spec);
            api.replace(&cfg.name, &PostParams::default(), &lease).await
        }
    };
    match written {
        Ok(lease) => {
            let transitions = lease.spec.and_then(|s| s.lease_transitions).unwrap_or(0);
            Ok(Attempt::Holding { acquired, transitions })
        }
        // 409 is both "AlreadyExists" on create and "Conflict" on replace.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Conflict),
        Err(e) => Err(e),
    }
}

/// Renews the Lease every retry period until leadership is lost, and
/// returns why. `renewed` is when the last successful write started.
async fn keep_renewing(api: &Api<Lease>, cfg: &LeaderConfig, mut renewed: Instant) -> String {
    loop {
        tokio::time::sleep(cfg.retry_period).await;
        let deadline = renewed + cfg.renew_deadline;
        let started = Instant::now();
        // A hanging request must not keep us leading past the deadline.
        let error = match tokio::time::timeout_at(deadline, try_acquire_or_renew(api, cfg, true)).await {
            Ok(Ok(Attempt::Holding { .. })) => {
                renewed = started;
                continue;
            }
            Ok(Ok(Attempt::Lost(reason))) => return reason,
            Ok(Ok(Attempt::HeldBy { holder, .. })) => return format!("it is held by {holder}"),
            Ok(Ok(Attempt::Conflict)) => {
                tracing::debug!(lease = %cfg.lease(), "renewal conflicted with another write; retrying");
                "the Lease was written by someone else".to_string()
            }
            Ok(Err(e)) => {
                tracing::warn!(lease = %cfg.lease(), "failed to renew the Lease: {e}");
                e.to_string()
            }
            Err(_) => "the request did not complete in time".to_string(),
        };
        if Instant::now() >= deadline {
            return format!("could not renew it within the renew deadline of {:?} (last error: {error})", cfg.renew_deadline);
        }
    }
}

/// Releases the Lease if we still hold it, so that a standby takes over at
/// its next retry. Returns whether it was released.
async fn release(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<bool, kube::Error> {
    // A renewal cut off by the stop may still land after the read: its
    // write makes ours a conflict, and the Lease is read again.
    let mut attempts = 0;
    loop {
        let Some(mut lease) = api.get_opt(&cfg.name).await? else { return Ok(false) };
        let Some(spec) = lease.spec.as_mut() else { return Ok(false) };
        if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
            return Ok(false);
        }
        *spec = released(spec, Timestamp::now());
        match api.replace(&cfg.name, &PostParams::default(), &lease).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 && attempts < 3 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Best-effort [`release`], bounded in time: a Lease we fail to release
/// simply expires.
async fn release_logged(api: &Api<Lease>, cfg: &LeaderConfig) {
    match tokio::time::timeout(cfg.renew_deadline, release(api, cfg)).await {
        Ok(Ok(true)) => tracing::info!(lease = %cfg.lease(), identity = %cfg.identity, "released leadership"),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::warn!(lease = %cfg.lease(), "failed to release the Lease (it will expire): {e}"),
        Err(_) => tracing::warn!(lease = %cfg.lease(), "timed out releasing the Lease (it will expire)"),
    }
}

/// Waits until this process leads, then runs `work` with a future that
/// resolves when leadership is lost or `shutdown` fires, and keeps renewing
/// the Lease until `work` returns.
///
/// - `shutdown` before leadership: returns `Ok(())` without running `work`.
/// - `shutdown` while leading: the stop future resolves, `work` is awaited
///   (its graceful stop is still covered by the Lease), then the Lease is
///   released so a standby takes over at once.
/// - `work` returning by itself: the Lease is released and its result
///   returned ([`Error::Work`] on failure).
/// - Leadership lost: the stop future resolves, `work` is dropped at once
///   (another replica may already be acting) and
///   [`Error::LostLeadership`] is returned; the caller should exit non-zero.
///
/// Errors talking to the API server while waiting are logged and retried,
/// as client-go does.
pub async fn run_as_leader<F, Fut>(
    client: kube::Client,
    cfg: LeaderConfig,
    shutdown: impl Future<Output = ()>,
    work: F,
) -> Result<(), Error>
where
    F: FnOnce(BoxFuture<'static, ()>) -> Fut,
    Fut: Future<Output = Result<(), crate::Error>>,
{
    cfg.validate()?;
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    // Fused: it is polled again after it fired, while `work` drains.
    let mut shutdown = std::pin::pin!(shutdown.fuse());

    // Standby until the Lease is ours.
    let mut seen_holder: Option<String> = None;
    let renewed = loop {
        let started = Instant::now();
        let attempt = tokio::select! {
            // A write of ours may have landed just as shutdown came.
            () = &mut shutdown => {
                release_logged(&api, &cfg).await;
                return Ok(());
            }
            attempt = tokio::time::timeout(cfg.renew_deadline, try_acquire_or_renew(&api, &cfg, false)) => attempt,
        };
        let wait = match attempt {
            Ok(Ok(Attempt::Holding { acquired, transitions })) => {
                tracing::info!(lease = %cfg.lease(), identity = %cfg.identity, acquired, transitions, "became leader");
                break started;
            }
            Ok(Ok(Attempt::HeldBy { holder, expires_in })) => {
                if seen_holder.as_ref() != Some(&holder) {
                    tracing::info!(lease = %cfg.lease(), %holder, "waiting for leadership: the Lease is held by another replica");
                    seen_holder = Some(holder);
                }
                // Retry at the latest when it expires: a release shows up
                // at the next retry anyway.
                expires_in.min(cfg.retry_period)
            }
            Ok(Ok(Attempt::Conflict)) => {
                tracing::debug!(lease = %cfg.lease(), "another candidate wrote the Lease first");
                cfg.retry_period
            }
            // Not leading, so never reported; kept total for safety.
            Ok(Ok(Attempt::Lost(_))) => cfg.retry_period,
            Ok(Err(e)) => {
                tracing::warn!(lease = %cfg.lease(), "failed to acquire the Lease: {e}");
                cfg.retry_period
            }
            Err(_) => {
                tracing::warn!(lease = %cfg.lease(), "timed out trying to acquire the Lease");
                cfg.retry_period
            }
        };
        tokio::select! {
            // An attempt that timed out or failed may still have written.
            () = &mut shutdown => {
                release_logged(&api, &cfg).await;
                return Ok(());
            }
            () = tokio::time::sleep(wait) => {}
        }
    };

    // Leading. Dropping the sender (on any return) resolves `stop` too.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut stop_tx = Some(stop_tx);
    let stop: BoxFuture<'static, ()> = async move {
        let _ = stop_rx.await;
    }
    .boxed();
    let mut work = std::pin::pin!(work(stop));
    let mut renewing = std::pin::pin!(keep_renewing(&api, &cfg, renewed));
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            reason = &mut renewing => {
                tracing::error!(lease = %cfg.lease(), identity = %cfg.identity, %reason, "lost leadership");
                if let Some(tx) = stop_tx.take() {
                    let _ = tx.send(());
                }
                return Err(Error::LostLeadership { lease: cfg.lease(), reason });
            }
            () = &mut shutdown, if stop_tx.is_some() => {
                tracing::info!(lease = %cfg.lease(), "shutting down: stopping work, then releasing the Lease");
                if let Some(tx) = stop_tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    };
    release_logged(&api, &cfg).await;
    result.map_err(Error::Work)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "me_1";
    const OTHER: &str = "other_2";

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("valid timestamp")
    }

    fn held(holder: Option<&str>, renewed: i64, duration: i32, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(String::from),
            acquire_time: Some(MicroTime(t(0))),
            renew_time: Some(MicroTime(t(renewed))),
            lease_duration_seconds: Some(duration),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    fn cfg() -> LeaderConfig {
        LeaderConfig::new("ns", "lease", ME)
    }

    #[test]
    fn defaults_are_client_gos() {
        let c = cfg();
        assert_eq!(
            (c.lease_duration, c.renew_deadline, c.retry_period),
            (Duration::from_secs(15), Duration::from_secs(10), Duration::from_secs(2))
        );
        assert!(c.validate().is_ok());
    }

    #[test]
    fn inconsistent_timings_are_rejected() {
        let with = |f: fn(&mut LeaderConfig)| {
            let mut c = cfg();
            f(&mut c);
            c.validate()
        };
        assert!(matches!(with(|c| c.renew_deadline = c.lease_duration), Err(Error::Config(_))));
        assert!(matches!(with(|c| c.retry_period = Duration::from_millis(8500)), Err(Error::Config(_))));
        assert!(matches!(with(|c| c.retry_period = Duration::ZERO), Err(Error::Config(_))));
        assert!(matches!(with(|c| c.identity.clear()), Err(Error::Config(_))));
        assert!(matches!(with(|c| c.name.clear()), Err(Error::Config(_))));
        assert!(
            with(|c| {
                c.lease_duration = Duration::from_secs(3);
                c.renew_deadline = Duration::from_secs(2);
                c.retry_period = Duration::from_millis(500);
            })
            .is_ok()
        );
    }

    #[test]
    fn an_absent_lease_is_created_with_us_as_holder() {
        let Decision::Acquire(spec) = decide(None, t(5), ME, Duration::from_secs(15)) else { panic!("expected Acquire") };
        assert_eq!(spec.holder_identity.as_deref(), Some(ME));
        assert_eq!(spec.acquire_time, Some(MicroTime(t(5))));
        assert_eq!(spec.renew_time, Some(MicroTime(t(5))));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
    }

    #[test]
    fn a_valid_lease_of_someone_else_means_waiting_until_it_expires() {
        let lease = held(Some(OTHER), 10, 15, 3);
        assert_eq!(
            decide(Some(&lease), t(12), ME, Duration::from_secs(15)),
            Decision::Wait { holder: OTHER.into(), expires_in: Duration::from_secs(13) }
        );
        // Valid up to and including renewTime + leaseDurationSeconds.
        assert_eq!(
            decide(Some(&lease), t(25), ME, Duration::from_secs(15)),
            Decision::Wait { holder: OTHER.into(), expires_in: Duration::ZERO }
        );
    }

    #[test]
    fn the_leases_own_duration_counts_not_ours() {
        let lease = held(Some(OTHER), 10, 30, 0);
        assert!(matches!(decide(Some(&lease), t(30), ME, Duration::from_secs(15)), Decision::Wait { .. }));
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_counts_a_transition() {
        let mut lease = held(Some(OTHER), 10, 15, 3);
        lease.strategy = Some("OldestEmulationVersion".into());
        let Decision::Acquire(spec) = decide(Some(&lease), t(26), ME, Duration::from_secs(4)) else { panic!("expected Acquire") };
        assert_eq!(spec.holder_identity.as_deref(), Some(ME));
        assert_eq!(spec.acquire_time, Some(MicroTime(t(26))));
        assert_eq!(spec.renew_time, Some(MicroTime(t(26))));
        assert_eq!(spec.lease_duration_seconds, Some(4));
        assert_eq!(spec.lease_transitions, Some(4));
        assert_eq!(spec.strategy.as_deref(), Some("OldestEmulationVersion"), "fields we do not manage are kept");
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let lease = released(&held(Some(OTHER), 10, 15, 3), t(11));
        assert_eq!(lease.holder_identity, None);
        assert_eq!(lease.lease_transitions, Some(3));
        assert_eq!(lease.lease_duration_seconds, Some(1));
        let Decision::Acquire(spec) = decide(Some(&lease), t(11), ME, Duration::from_secs(15)) else { panic!("expected Acquire") };
        assert_eq!(spec.lease_transitions, Some(4));
        // An empty holder is no holder.
        let empty = held(Some(""), 10, 15, 0);
        assert!(matches!(decide(Some(&empty), t(11), ME, Duration::from_secs(15)), Decision::Acquire(_)));
    }

    #[test]
    fn our_own_lease_is_renewed_keeping_acquire_time_and_transitions() {
        let lease = held(Some(ME), 10, 15, 2);
        let Decision::Renew(spec) = decide(Some(&lease), t(12), ME, Duration::from_secs(15)) else { panic!("expected Renew") };
        assert_eq!(spec.holder_identity.as_deref(), Some(ME));
        assert_eq!(spec.acquire_time, Some(MicroTime(t(0))));
        assert_eq!(spec.renew_time, Some(MicroTime(t(12))));
        assert_eq!(spec.lease_transitions, Some(2));
    }

    #[test]
    fn a_lease_without_times_or_spec_is_acquirable() {
        let bare = LeaseSpec { holder_identity: Some(OTHER.into()), ..LeaseSpec::default() };
        let Decision::Acquire(spec) = decide(Some(&bare), t(0), ME, Duration::from_secs(15)) else { panic!("expected Acquire") };
        assert_eq!(spec.lease_transitions, Some(1));
    }

    #[test]
    fn lease_seconds_round_up() {
        assert_eq!(lease_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(lease_seconds(Duration::from_secs(15)), 15);
        assert_eq!(lease_seconds(Duration::from_millis(10)), 1);
    }

    #[test]
    fn identities_are_host_and_a_unique_suffix() {
        let (a, b) = (default_identity(), default_identity());
        assert_ne!(a, b);
        let (host, suffix) = a.rsplit_once('_').expect("host_suffix");
        assert!(!host.is_empty());
        assert_eq!(suffix.len(), 16);
    }
}
