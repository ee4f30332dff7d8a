//! Automatic rollback (`driftless.dev/rollback-after: <duration>`): when a
//! sync (not itself a rollback) succeeded and the app is then Degraded, or
//! still not Healthy once the deadline after the sync's end has passed, the
//! app is synced back to the last history entry seen Healthy.
//!
//! What the controller must remember lives in annotations, as the status
//! stays within Argo CD's schema: the history ids seen Healthy
//! (`driftless.dev/healthy-history`), and the revision rolled back from
//! (`driftless.dev/rolled-back-from`), which automation does not sync again
//! until Git resolves to another revision or a person syncs it. A rollback
//! is never rolled back, and one that fails or leaves the app unhealthy only
//! says so: there is no loop.
//!
//! [`assess`] and [`settle`] are pure (the time is passed in); [`apply`] is
//! the edge that writes what they decided.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use driftless_api::{
    ANNOTATION_HEALTHY_HISTORY, ANNOTATION_ROLLBACK_AFTER, ANNOTATION_ROLLED_BACK_FROM, Application, ApplicationStatus, HealthStatusCode,
    Info, Operation, OperationInitiator, OperationPhase, OperationState, ResultCode, SyncOperation, condition,
};
use driftless_engine::events::{AppEvent, go_duration};
use driftless_engine::windows::Assessment;
use driftless_engine::{short, status};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::reconcile::{Decision, Origin};
use crate::writer::AppWriter;

/// The name of the `operation.info` entry a rollback carries its reason in.
const INFO_REASON: &str = "Rollback";

/// The longest deadline: a sync is judged within a week.
const MAX_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What is wrong with a `driftless.dev/rollback-after` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// Nothing but blanks.
    #[error("is empty; expected a Go duration such as 30s or 5m")]
    Empty,
    /// Not a duration at all.
    #[error("{0} is not a Go duration such as 30s, 5m or 1h30m")]
    NotADuration(String),
    /// Zero would roll back every sync before anything could become Healthy.
    #[error("must be longer than 0s")]
    Zero,
    /// Longer than [`MAX_DEADLINE`].
    #[error("{0} is longer than the longest deadline, 168h")]
    TooLong(String),
}

/// The app's deadline: None without the annotation.
pub fn deadline(app: &Application) -> Option<Result<Duration, DeadlineError>> {
    app.annotations().get(ANNOTATION_ROLLBACK_AFTER).map(|v| parse_deadline(v))
}

/// Parses a deadline; a bad value is named (shortened and escaped: it is
/// whatever someone typed), never a panic.
pub fn parse_deadline(value: &str) -> Result<Duration, DeadlineError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(DeadlineError::Empty);
    }
    let quoted = || format!("{:?}", value.chars().take(40).collect::<String>());
    match crate::operation::parse_duration(value) {
        None => Err(DeadlineError::NotADuration(quoted())),
        Some(d) if d.is_zero() => Err(DeadlineError::Zero),
        Some(d) if d > MAX_DEADLINE => Err(DeadlineError::TooLong(quoted())),
        Some(d) => Ok(d),
    }
}

/// Whether automation must not sync `revision`: it was rolled back from.
pub fn holds(app: &Application, revision: &str) -> bool {
    app.annotations().get(ANNOTATION_ROLLED_BACK_FROM).is_some_and(|r| r == revision)
}

/// `message` of a finished operation, prefixed with why it ran when it is
/// an automatic rollback.
pub fn explain(op: &Operation, message: String) -> String {
    match reason_of(op) {
        Some(reason) => format!("{reason}; {message}"),
        None => message,
    }
}

/// The reason an automatic rollback carries (None for any other operation).
fn reason_of(op: &Operation) -> Option<&str> {
    let automated = op.initiated_by.as_ref().is_some_and(|i| i.automated);
    op.info.iter().find(|i| i.name == INFO_REASON).filter(|_| automated && op.is_rollback()).map(|i| i.value.as_str())
}

/// A rollback to start.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollback {
    /// The sync back.
    pub operation: Operation,
    /// The revision that left the app unhealthy.
    pub from: String,
    /// The revision synced back to.
    pub to: String,
    /// `rolled back from <short sha>: Degraded after 12s`.
    pub message: String,
    /// `Degraded after 12s`, `not Healthy within 30s`.
    pub reason: String,
}

/// What automatic rollback makes of one reconcile's comparison.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// A rollback to start, unless the app has something else to do.
    pub rollback: Option<Rollback>,
    /// The RolledBack condition: its message, or None to clear it.
    pub rolled_back: Option<String>,
    /// The RollbackError condition: its message, or None to clear it.
    pub error: Option<String>,
    /// Annotations to set (Some) or remove (None) where they differ.
    pub annotations: BTreeMap<&'static str, Option<String>>,
}

/// Assesses `app` (as read) with `status` (after this reconcile's
/// comparison; `revision`: what Git resolves to, None when the comparison
/// failed) at `now`. Pure.
pub fn assess(app: &Application, status: &ApplicationStatus, revision: Option<&str>, now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    let notes = app.annotations();
    let blocked = notes.get(ANNOTATION_ROLLED_BACK_FROM).cloned();
    // Git moved past the revision rolled back from: automation resumes.
    let blocked = match (blocked, revision) {
        (Some(from), Some(now_at)) if from != now_at => {
            plan.annotations.insert(ANNOTATION_ROLLED_BACK_FROM, None);
            None
        }
        (b, _) => b,
    };
    plan.rolled_back = blocked.as_ref().map(|from| held_message(status, from));
    let deadline = match deadline(app) {
        None => {
            if notes.contains_key(ANNOTATION_HEALTHY_HISTORY) {
                plan.annotations.insert(ANNOTATION_HEALTHY_HISTORY, None);
            }
            return plan;
        }
        Some(Err(e)) => {
            plan.error = Some(format!("annotation {ANNOTATION_ROLLBACK_AFTER}: {e}; no automatic rollback"));
            return plan;
        }
        Some(Ok(d)) => d,
    };
    let healthy = healthy_history(app, status, revision.is_some());
    let written = healthy.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    if notes.get(ANNOTATION_HEALTHY_HISTORY).map(String::as_str).unwrap_or("") != written {
        plan.annotations.insert(ANNOTATION_HEALTHY_HISTORY, Some(written).filter(|w| !w.is_empty()));
    }
    let Some(watched) = watched(app, status) else { return plan };
    let health = status.health.status;
    let elapsed = since(watched.state, now);
    match reason_of(&watched.state.operation) {
        // A rollback is never rolled back: how it ended is only told.
        Some(reason) => {
            let reason = reason.to_string();
            let to = short(&watched.revision);
            plan.rolled_back = match watched.state.phase {
                OperationPhase::Succeeded => match Verdict::of(health, elapsed, deadline) {
                    Some(why) => Some(format!("{reason}; the rollback to {to} left the app {why}: no further automatic rollback")),
                    None => Some(reason),
                },
                _ => Some(format!(
                    "{reason}; the rollback to {to} failed: {}: no further automatic rollback",
                    watched.state.message.as_deref().unwrap_or("no message")
                )),
            }
            .filter(|_| blocked.is_some());
        }
        None if !judged(watched.state) || healthy.contains(&watched.entry) => {}
        // A comparison that failed says nothing fresh about health. A
        // rollback planned but never started (a comparison that failed
        // then, a restart) is planned again: its hold alone proves nothing.
        None if revision.is_none() => {}
        None => {
            let Some(verdict) = Verdict::of(health, elapsed, deadline) else { return plan };
            let from = watched.revision.clone();
            let reason = verdict.timed();
            let message = format!("rolled back from {}: {reason}", short(&from));
            if !app.spec.sources.is_empty() {
                plan.error = Some(format!(
                    "cannot roll back from {}: {verdict}: automatic rollback does not support apps with several sources",
                    short(&from)
                ));
                return plan;
            }
            let history = &status.history;
            let target =
                history.iter().filter(|h| h.id < watched.entry && healthy.contains(&h.id) && h.revision != from).max_by_key(|h| h.id);
            let Some(target) = target.filter(|t| t.source.is_some()) else {
                plan.error = Some(format!("cannot roll back from {}: {verdict}: no earlier history entry was seen Healthy", short(&from)));
                return plan;
            };
            let prune = app.spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref()).is_some_and(|a| a.prune);
            let operation = Operation {
                sync: Some(SyncOperation {
                    revision: Some(target.revision.clone()),
                    source: target.source.clone(),
                    prune,
                    ..Default::default()
                }),
                // The history entry this sync adds keeps who and why.
                initiated_by: Some(OperationInitiator { username: Some(message.clone()), automated: true }),
                info: vec![Info { name: INFO_REASON.into(), value: message.clone() }],
                // A rollback that fails stops.
                retry: None,
            };
            plan.rollback = Some(Rollback { operation, from, to: target.revision.clone(), message, reason });
        }
    }
    plan
}

/// Whether a finished sync is one automatic rollback judges: not itself a
/// rollback, and either successful or failed after it applied a resource (a
/// wave that timed out waiting for a crash-looping Deployment fails the
/// sync, with the bad revision applied).
fn judged(state: &OperationState) -> bool {
    let applied = || {
        let results = state.sync_result.as_ref().map(|r| r.resources.as_slice()).unwrap_or_default();
        results.iter().any(|r| r.hook_type.is_none() && r.status == Some(ResultCode::Synced))
    };
    !state.operation.is_rollback()
        && match state.phase {
            OperationPhase::Succeeded => true,
            OperationPhase::Failed => applied(),
            _ => false,
        }
}

/// The sync automatic rollback watches: the app's last operation, finished,
/// and the history entry it added.
struct Watched<'a> {
    state: &'a OperationState,
    revision: String,
    entry: i64,
}

fn watched<'a>(app: &Application, status: &'a ApplicationStatus) -> Option<Watched<'a>> {
    let state = status.operation_state.as_ref().filter(|s| s.phase.is_completed() && app.operation.is_none())?;
    let sync = state.operation.sync.as_ref().filter(|s| !s.dry_run)?;
    let revision = state.sync_result.as_ref().map(|r| r.revision.clone()).or_else(|| sync.revision.clone())?;
    let last = status.history.iter().max_by_key(|h| h.id);
    let entry = last.filter(|h| h.revision == revision).map_or(i64::MAX, |h| h.id);
    // A failed sync added no entry; only a rollback's failure is told.
    if entry == i64::MAX && state.phase == OperationPhase::Succeeded {
        return None;
    }
    Some(Watched { state, revision, entry })
}

/// Why the app counts as unhealthy after a sync.
enum Verdict {
    /// Degraded, this long after the sync.
    Degraded(Duration),
    /// Not Healthy once the deadline passed.
    Late(Duration),
}

impl Verdict {
    /// The verdict, if the app counts as unhealthy yet.
    fn of(health: HealthStatusCode, elapsed: Duration, deadline: Duration) -> Option<Verdict> {
        match health {
            HealthStatusCode::Healthy => None,
            HealthStatusCode::Degraded => Some(Verdict::Degraded(elapsed)),
            _ if elapsed >= deadline => Some(Verdict::Late(deadline)),
            _ => None,
        }
    }

    /// With the time it took: said once, when a rollback begins.
    fn timed(&self) -> String {
        match self {
            Verdict::Degraded(after) => format!("Degraded after {}", go_duration(*after)),
            Verdict::Late(_) => self.to_string(),
        }
    }
}

/// Without a time that grows: a condition that is shown at every
/// reconcile keeps one message.
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Degraded(_) => f.write_str("Degraded"),
            Verdict::Late(deadline) => write!(f, "not Healthy within {}", go_duration(*deadline)),
        }
    }
}

/// How long ago `state` finished (zero for a time to come).
fn since(state: &OperationState, now: Timestamp) -> Duration {
    let finished = state.finished_at.as_ref().map_or(state.started_at.0, |f| f.0);
    Duration::try_from(now.duration_since(finished)).unwrap_or_default()
}

/// The history ids seen Healthy: those recorded that are still in the
/// history, and the last entry when the app is Healthy now, at the revision
/// of the sync that added it (a comparison that failed shows no health).
fn healthy_history(app: &Application, status: &ApplicationStatus, compared: bool) -> BTreeSet<i64> {
    let recorded = app.annotations().get(ANNOTATION_HEALTHY_HISTORY).map(String::as_str).unwrap_or("");
    let mut ids: BTreeSet<i64> = recorded.split(',').filter_map(|id| id.trim().parse().ok()).collect();
    ids.retain(|id| status.history.iter().any(|h| h.id == *id));
    let healthy = compared && status.health.status == HealthStatusCode::Healthy && app.operation.is_none();
    if let (true, Some(state)) = (healthy, status.operation_state.as_ref().filter(|s| s.phase == OperationPhase::Succeeded))
        && let Some(last) = status.history.iter().max_by_key(|h| h.id)
        && state.sync_result.as_ref().is_some_and(|r| r.revision == last.revision)
    {
        ids.insert(last.id);
    }
    ids
}

/// The RolledBack message while `from` is held: as recorded when the
/// rollback began, else a plain one.
fn held_message(status: &ApplicationStatus, from: &str) -> String {
    let prefix = format!("rolled back from {}", short(from));
    status
        .conditions
        .iter()
        .find(|c| c.type_ == condition::ROLLED_BACK && c.message.starts_with(&prefix))
        .map_or(prefix, |c| c.message.clone())
}

/// What to write once the decision is known.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// The RolledBack condition (None: cleared).
    pub rolled_back: Option<String>,
    /// The RollbackError condition (None: cleared).
    pub error: Option<String>,
    /// Annotations to set or remove where they differ.
    pub annotations: BTreeMap<&'static str, Option<String>>,
    /// The rollback's event.
    pub event: Option<AppEvent>,
}

/// Joins `plan` with what the reconcile decided otherwise (pure): a
/// rollback runs only when nothing else does and automation may sync now
/// (sync windows); a person's sync (not a rollback) lifts the hold on the
/// revision rolled back from.
pub fn settle(plan: Plan, decision: Decision, automation_allowed: bool) -> (Changes, Decision) {
    let mut changes = Changes { rolled_back: plan.rolled_back, error: plan.error, annotations: plan.annotations, event: None };
    let decision = match (decision, plan.rollback) {
        (Decision::Nothing, Some(r)) if automation_allowed => {
            changes.annotations.insert(ANNOTATION_ROLLED_BACK_FROM, Some(r.from.clone()));
            changes.rolled_back = Some(r.message);
            changes.error = None;
            changes.event = Some(AppEvent::RolledBack { from: r.from, to: r.to, reason: r.reason });
            Decision::Run(Box::new(r.operation), Origin::Automated { self_heal: false })
        }
        (Decision::Run(op, Origin::Requested), _) if !op.is_rollback() => {
            changes.annotations.insert(ANNOTATION_ROLLED_BACK_FROM, None);
            changes.rolled_back = None;
            Decision::Run(op, Origin::Requested)
        }
        (other, _) => other,
    };
    (changes, decision)
}

/// The edge: settles `plan` with `decision`, shows the conditions on
/// `status`, writes the annotations that change (before a rollback starts,
/// so that a restart keeps the hold) and publishes the rollback's event.
pub async fn apply(
    plan: Plan,
    decision: Decision,
    windows: &Assessment,
    app: &Application,
    writer: &AppWriter,
    status: &mut ApplicationStatus,
) -> Result<Decision, kube::Error> {
    let (changes, decision) = settle(plan, decision, windows.automated.allowed);
    for (type_, message) in [(condition::ROLLED_BACK, changes.rolled_back), (condition::ROLLBACK_ERROR, changes.error)] {
        match message {
            Some(m) => status::set_condition(status, type_, m),
            None => status::clear_condition(status, type_),
        }
    }
    let notes = app.annotations();
    let differ: BTreeMap<&str, Option<String>> = changes.annotations.into_iter().filter(|(k, v)| notes.get(*k) != v.as_ref()).collect();
    if !differ.is_empty() {
        writer.annotate(&differ).await?;
    }
    if let Some(event) = changes.event {
        tracing::warn!(app = %app.name_any(), namespace = %app.namespace().unwrap_or_default(), "{}", event.message());
        writer.publish(vec![event]);
    }
    Ok(decision)
}

/// How long until automatic rollback must look at `app` again: the
/// deadline of a finished sync not yet judged (None: nothing to wait for).
pub fn wake_in(app: &Application, status: &ApplicationStatus, now: Timestamp) -> Option<Duration> {
    let deadline = deadline(app)?.ok()?;
    let watched = watched(app, status)?;
    if !judged(watched.state) || status.health.status == HealthStatusCode::Healthy {
        return None;
    }
    // Finish times are kept to the second: a little past the deadline.
    deadline.checked_sub(since(watched.state, now)).map(|left| left + Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::{ApplicationSource, RevisionHistory, SyncOperationResult, SyncPolicy, SyncPolicyAutomated};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const GOOD: &str = "1111111111111111111111111111111111111111";
    const BAD: &str = "2222222222222222222222222222222222222222";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn entry(id: i64, revision: &str) -> RevisionHistory {
        RevisionHistory {
            id,
            revision: revision.into(),
            source: Some(ApplicationSource { repo_url: "https://git.example/app.git".into(), ..Default::default() }),
            deploy_started_at: None,
            deployed_at: Time(at(0)),
            initiated_by: None,
            sources: Vec::new(),
            revisions: Vec::new(),
        }
    }

    fn sync_op(revision: &str) -> Operation {
        Operation {
            sync: Some(SyncOperation { revision: Some(revision.into()), ..Default::default() }),
            initiated_by: Some(OperationInitiator { username: None, automated: true }),
            ..Default::default()
        }
    }

    fn finished(op: Operation, revision: &str, phase: OperationPhase, secs: i64) -> OperationState {
        OperationState {
            operation: op,
            phase,
            message: Some("successfully synced (all tasks run)".into()),
            sync_result: Some(SyncOperationResult { revision: revision.into(), ..Default::default() }),
            started_at: Time(at(secs - 1)),
            finished_at: Some(Time(at(secs))),
            retry_count: None,
        }
    }

    /// An automated app with `rollback-after: 30s`: GOOD (id 0) seen
    /// Healthy, then BAD (id 1) synced at t=0, now `health`.
    fn after_bad_sync(health: HealthStatusCode) -> (Application, ApplicationStatus) {
        let mut app = Application::default();
        app.spec.sync_policy =
            Some(SyncPolicy { automated: Some(SyncPolicyAutomated { prune: true, ..Default::default() }), ..Default::default() });
        let notes = app.metadata.annotations.get_or_insert_with(Default::default);
        notes.insert(ANNOTATION_ROLLBACK_AFTER.into(), "30s".into());
        notes.insert(ANNOTATION_HEALTHY_HISTORY.into(), "0".into());
        let mut status = ApplicationStatus {
            history: vec![entry(0, GOOD), entry(1, BAD)],
            operation_state: Some(finished(sync_op(BAD), BAD, OperationPhase::Succeeded, 0)),
            ..Default::default()
        };
        status.health.status = health;
        (app, status)
    }

    #[test]
    fn degraded_rolls_back_at_once_to_the_last_healthy_entry() {
        let (app, status) = after_bad_sync(HealthStatusCode::Degraded);
        let plan = assess(&app, &status, Some(BAD), at(12));
        let r = plan.rollback.clone().expect("a rollback");
        assert_eq!((r.from.as_str(), r.to.as_str()), (BAD, GOOD));
        assert_eq!(r.message, "rolled back from 2222222: Degraded after 12s");
        assert!(r.operation.is_rollback(), "the Helm hooks and the server see a rollback");
        let sync = r.operation.sync.as_ref().unwrap();
        assert_eq!(sync.revision.as_deref(), Some(GOOD));
        assert!(sync.prune, "as the automated policy says");
        assert!(r.operation.initiated_by.as_ref().unwrap().automated);
        assert_eq!(r.operation.retry, None, "a failed rollback is not retried");
        assert_eq!(explain(&r.operation, "synced".into()), "rolled back from 2222222: Degraded after 12s; synced");
        assert_eq!(explain(&sync_op(BAD), "synced".into()), "synced", "other syncs keep their message");
        assert_eq!(plan.error, None);
    }

    #[test]
    fn not_healthy_rolls_back_only_once_the_deadline_passed() {
        let (app, status) = after_bad_sync(HealthStatusCode::Progressing);
        assert_eq!(assess(&app, &status, Some(BAD), at(29)).rollback, None, "still within the deadline");
        assert_eq!(wake_in(&app, &status, at(20)), Some(Duration::from_millis(10_500)), "looked at again at the deadline");
        let r = assess(&app, &status, Some(BAD), at(30)).rollback.expect("a rollback at the deadline");
        assert_eq!(r.message, "rolled back from 2222222: not Healthy within 30s");
        assert_eq!(wake_in(&app, &status, at(31)), None, "nothing left to wait for");
        let (app, healthy) = after_bad_sync(HealthStatusCode::Healthy);
        let plan = assess(&app, &healthy, Some(BAD), at(300));
        assert_eq!(plan.rollback, None, "a Healthy app stays");
        assert_eq!(plan.annotations.get(ANNOTATION_HEALTHY_HISTORY), Some(&Some("0,1".into())), "and its entry is remembered");
        assert_eq!(wake_in(&app, &healthy, at(1)), None);
    }

    #[test]
    fn a_failed_comparison_plans_nothing_and_a_lost_rollback_is_planned_again() {
        let (mut app, status) = after_bad_sync(HealthStatusCode::Degraded);
        assert_eq!(assess(&app, &status, None, at(60)).rollback, None, "no fresh health without a comparison");
        // The hold was written, the rollback never started (a restart).
        app.metadata.annotations.as_mut().unwrap().insert(ANNOTATION_ROLLED_BACK_FROM.into(), BAD.into());
        let r = assess(&app, &status, Some(BAD), at(61)).rollback.expect("planned again");
        assert_eq!(r.to, GOOD);
    }

    #[test]
    fn a_sync_that_failed_after_applying_is_rolled_back_and_one_that_applied_nothing_is_not() {
        use driftless_api::ResourceResult;
        let (app, mut status) = after_bad_sync(HealthStatusCode::Progressing);
        status.history.pop();
        let mut failed = finished(sync_op(BAD), BAD, OperationPhase::Failed, 0);
        failed.message = Some("wave 0 not healthy after 300s".into());
        status.operation_state = Some(failed.clone());
        assert_eq!(assess(&app, &status, Some(BAD), at(40)).rollback, None, "it applied nothing");
        let applied: ResourceResult =
            serde_json::from_value(serde_json::json!({ "kind": "Deployment", "name": "web", "status": "Synced" })).expect("a result");
        failed.sync_result.as_mut().unwrap().resources = vec![applied];
        status.operation_state = Some(failed);
        assert_eq!(wake_in(&app, &status, at(10)), Some(Duration::from_millis(20_500)));
        let r = assess(&app, &status, Some(BAD), at(40)).rollback.expect("a failed sync that applied the bad revision");
        assert_eq!((r.from.as_str(), r.to.as_str()), (BAD, GOOD));
    }

    #[test]
    fn an_entry_once_seen_healthy_is_not_rolled_back() {
        let (mut app, status) = after_bad_sync(HealthStatusCode::Degraded);
        app.metadata.annotations.as_mut().unwrap().insert(ANNOTATION_HEALTHY_HISTORY.into(), "0,1,7".into());
        let plan = assess(&app, &status, Some(BAD), at(600));
        assert_eq!(plan.rollback, None);
        assert_eq!(plan.annotations.get(ANNOTATION_HEALTHY_HISTORY), Some(&Some("0,1".into())), "ids gone from history are dropped");
    }

    #[test]
    fn no_healthy_entry_means_no_rollback_and_a_condition() {
        let (mut app, status) = after_bad_sync(HealthStatusCode::Degraded);
        app.metadata.annotations.as_mut().unwrap().remove(ANNOTATION_HEALTHY_HISTORY);
        let plan = assess(&app, &status, Some(BAD), at(5));
        assert_eq!(plan.rollback, None);
        assert_eq!(plan.error.as_deref(), Some("cannot roll back from 2222222: Degraded: no earlier history entry was seen Healthy"));
        let mut multi = app.clone();
        multi.metadata.annotations.as_mut().unwrap().insert(ANNOTATION_HEALTHY_HISTORY.into(), "0".into());
        multi.spec.sources = vec![ApplicationSource::default(), ApplicationSource::default()];
        assert!(assess(&multi, &status, Some(BAD), at(5)).error.unwrap().contains("several sources"));
    }

    #[test]
    fn a_rollback_or_a_failed_or_manual_rollback_is_never_rolled_back() {
        let (app, mut status) = after_bad_sync(HealthStatusCode::Degraded);
        let r = assess(&app, &status, Some(BAD), at(5)).rollback.unwrap();
        // The rollback ran and left the app Degraded: said, not acted on.
        let mut held = app.clone();
        held.metadata.annotations.as_mut().unwrap().insert(ANNOTATION_ROLLED_BACK_FROM.into(), BAD.into());
        status.history.push(entry(2, GOOD));
        status.operation_state = Some(finished(r.operation.clone(), GOOD, OperationPhase::Succeeded, 10));
        let plan = assess(&held, &status, Some(BAD), at(100));
        assert_eq!(plan.rollback, None);
        assert_eq!(
            plan.rolled_back.as_deref(),
            Some(
                "rolled back from 2222222: Degraded after 5s; the rollback to 1111111 left the app Degraded: \
                 no further automatic rollback"
            )
        );
        // It failed: said, with its message.
        let mut failed = finished(r.operation.clone(), GOOD, OperationPhase::Failed, 10);
        failed.message = Some("Deployment web: forbidden".into());
        status.history.pop();
        status.operation_state = Some(failed);
        let plan = assess(&held, &status, Some(BAD), at(100));
        assert_eq!(plan.rollback, None);
        assert!(
            plan.rolled_back.unwrap().ends_with("the rollback to 1111111 failed: Deployment web: forbidden: no further automatic rollback")
        );
        // A person's rollback (`app rollback`) is not judged either.
        let mut manual = r.operation.clone();
        manual.info.clear();
        manual.initiated_by = Some(OperationInitiator { username: Some("alice".into()), automated: false });
        status.history.push(entry(2, GOOD));
        status.operation_state = Some(finished(manual, GOOD, OperationPhase::Succeeded, 10));
        assert_eq!(assess(&app, &status, Some(BAD), at(100)).rollback, None);
    }

    #[test]
    fn the_hold_lasts_until_git_moves_or_a_person_syncs() {
        let (mut app, mut status) = after_bad_sync(HealthStatusCode::Healthy);
        app.metadata.annotations.as_mut().unwrap().insert(ANNOTATION_ROLLED_BACK_FROM.into(), BAD.into());
        status.conditions.push(driftless_api::ApplicationCondition {
            type_: condition::ROLLED_BACK.into(),
            message: "rolled back from 2222222: Degraded after 5s".into(),
            last_transition_time: None,
        });
        assert!(holds(&app, BAD) && !holds(&app, GOOD));
        let plan = assess(&app, &status, Some(BAD), at(100));
        assert_eq!(plan.rolled_back.as_deref(), Some("rolled back from 2222222: Degraded after 5s"), "shown while Git is at it");
        assert!(!plan.annotations.contains_key(ANNOTATION_ROLLED_BACK_FROM));
        let moved = assess(&app, &status, Some("3333333333333333333333333333333333333333"), at(100));
        assert_eq!(moved.rolled_back, None);
        assert_eq!(moved.annotations.get(ANNOTATION_ROLLED_BACK_FROM), Some(&None), "Git moved past it");
        assert!(assess(&app, &status, None, at(100)).rolled_back.is_some(), "a failed comparison changes nothing");
        // A person's sync of the bad revision lifts the hold.
        let asked =
            Operation { initiated_by: Some(OperationInitiator { username: Some("alice".into()), automated: false }), ..sync_op(BAD) };
        let (changes, decision) = settle(plan.clone(), Decision::Run(Box::new(asked.clone()), Origin::Requested), true);
        assert_eq!(decision, Decision::Run(Box::new(asked), Origin::Requested));
        assert_eq!((changes.rolled_back, changes.annotations.get(ANNOTATION_ROLLED_BACK_FROM)), (None, Some(&None)));
        let (changes, decision) = settle(plan, Decision::Nothing, true);
        assert_eq!((changes.rolled_back.is_some(), decision), (true, Decision::Nothing));
    }

    #[test]
    fn settle_runs_a_rollback_only_when_nothing_else_runs_and_windows_allow() {
        let (app, status) = after_bad_sync(HealthStatusCode::Degraded);
        let plan = assess(&app, &status, Some(BAD), at(5));
        let (changes, decision) = settle(plan.clone(), Decision::Nothing, true);
        let Decision::Run(op, Origin::Automated { self_heal: false }) = decision else { panic!("{decision:?}") };
        assert!(op.is_rollback());
        assert_eq!(changes.annotations.get(ANNOTATION_ROLLED_BACK_FROM), Some(&Some(BAD.to_string())), "held before it runs");
        assert_eq!(changes.rolled_back.as_deref(), Some("rolled back from 2222222: Degraded after 5s"));
        let event = changes.event.unwrap();
        assert_eq!((event.reason(), event.message()), ("RolledBack", format!("Rolled back from {BAD} to {GOOD}: Degraded after 5s")));
        let (changes, decision) = settle(plan.clone(), Decision::Nothing, false);
        assert_eq!((decision, changes.event), (Decision::Nothing, None), "a sync window holds it");
        let other = Decision::Run(Box::new(sync_op("3333333333333333333333333333333333333333")), Origin::Automated { self_heal: false });
        assert_eq!(settle(plan, other.clone(), true).1, other, "a newer commit's sync goes first");
    }

    #[test]
    fn bad_deadlines_are_named_and_never_roll_back() {
        for (value, problem) in [
            ("", "is empty; expected a Go duration such as 30s or 5m"),
            ("   ", "is empty; expected a Go duration such as 30s or 5m"),
            ("soon", "\"soon\" is not a Go duration such as 30s, 5m or 1h30m"),
            ("0s", "must be longer than 0s"),
            ("-5m", "\"-5m\" is not a Go duration such as 30s, 5m or 1h30m"),
            ("200h", "\"200h\" is longer than the longest deadline, 168h"),
            ("5m\u{0}\n$(rm -rf /)", "\"5m\\0\\n$(rm -rf /)\" is not a Go duration such as 30s, 5m or 1h30m"),
        ] {
            assert_eq!(parse_deadline(value).unwrap_err().to_string(), problem, "{value:?}");
            let (mut app, status) = after_bad_sync(HealthStatusCode::Degraded);
            app.metadata.annotations.as_mut().unwrap().insert(ANNOTATION_ROLLBACK_AFTER.into(), value.into());
            let plan = assess(&app, &status, Some(BAD), at(600));
            assert_eq!(plan.rollback, None, "{value:?}");
            assert_eq!(plan.error, Some(format!("annotation driftless.dev/rollback-after: {problem}; no automatic rollback")));
        }
        let long = "9".repeat(10_000);
        assert!(parse_deadline(&long).unwrap_err().to_string().len() < 100, "a long value is shortened");
        assert_eq!(parse_deadline(" 1h30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_deadline("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn random_deadlines_and_history_annotations_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let (mut app, status) = after_bad_sync(HealthStatusCode::Progressing);
        for i in 0..20_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let text: String = (0..(seed % 16)).map(|j| b"0123456789.hmsu,-+e \xc2"[((seed >> (j * 4)) % 21) as usize] as char).collect();
            let _ = parse_deadline(&text);
            let notes = app.metadata.annotations.as_mut().unwrap();
            notes.insert(ANNOTATION_ROLLBACK_AFTER.into(), text.clone());
            notes.insert(ANNOTATION_HEALTHY_HISTORY.into(), text);
            let _ = assess(&app, &status, Some(BAD), at((seed % 1_000_000) as i64 - 500_000));
            let _ = wake_in(&app, &status, at(i as i64));
        }
    }
}
