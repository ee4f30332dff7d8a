//! What happens to an app, as a closed vocabulary ([`AppEvent`]): derived
//! (pure, [`between`]) from the status before and after one of the
//! controller's writes, so that each occurrence is published once and a
//! write that changes nothing publishes nothing. The controller hands them
//! to the [`Bus`]; its recorder turns them into Kubernetes Events, and other
//! loops of the process (notifications, the UI's stream) subscribe.
//!
//! Reasons and messages are Argo CD's where it has them (its
//! `controller/appcontroller.go` and `server/application/application.go`):
//! `OperationStarted`, `OperationCompleted`, `ResourceUpdated`. Where Argo CD
//! records nothing, the reasons are driftless's own: `OperationRunningLong`,
//! `Deployed`, `SelfHealed`, `ComparisonError`, `RolledBack`.

use std::sync::Arc;
use std::time::Duration;

use driftless_api::{
    Application, ApplicationStatus, HealthStatusCode, OperationPhase, OperationState, RevisionHistory, SyncStatusCode, condition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Who started a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// Automation (`syncPolicy.automated`).
    Automated,
    /// A person or token, by name.
    User(String),
    /// Neither: an `.operation` written without `initiatedBy` (Argo CD
    /// names such a user "Unknown user").
    Unknown,
}

impl Initiator {
    fn of(state: &OperationState) -> Initiator {
        match &state.operation.initiated_by {
            Some(i) if i.automated => Initiator::Automated,
            Some(i) => i.username.clone().filter(|u| !u.is_empty()).map_or(Initiator::Unknown, Initiator::User),
            None => Initiator::Unknown,
        }
    }
}

/// Kubernetes' two event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something happened as it should.
    Normal,
    /// Something went wrong, or needs a look.
    Warning,
}

impl EventType {
    /// As Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One thing that happened to an app.
#[derive(Clone, Debug, PartialEq)]
pub enum AppEvent {
    /// A sync began (`OperationStarted`).
    SyncStarted {
        /// The revision asked for, else the one compared when it began.
        revision: String,
        /// Who asked.
        initiator: Initiator,
        /// Only some resources (`operation.sync.resources`).
        partial: bool,
    },
    /// A sync finished well (`OperationCompleted`, Normal).
    SyncSucceeded {
        /// The revision synced.
        revision: Option<String>,
        /// Only some resources.
        partial: bool,
    },
    /// A sync failed or could not run (`OperationCompleted`, Warning):
    /// phase Failed or Error, terminated syncs included.
    SyncFailed {
        /// The revision it tried, if it got that far.
        revision: Option<String>,
        /// Only some resources.
        partial: bool,
        /// Why.
        message: String,
    },
    /// A sync has been running longer than the controller's limit
    /// (`OperationRunningLong`, Warning; driftless's own).
    SyncRunningLong {
        /// When it started.
        started_at: Time,
        /// The limit (`--sync-running-long-after`).
        limit: Duration,
    },
    /// The app's health changed (`ResourceUpdated`), every change as Argo
    /// CD records it; consumers pick the `to` they care about.
    HealthChanged {
        /// Before; None when the app had no status yet.
        from: Option<HealthStatusCode>,
        /// Now.
        to: HealthStatusCode,
    },
    /// The app's sync status changed (`ResourceUpdated`); `to: OutOfSync`
    /// is "out of sync".
    SyncStatusChanged {
        /// Before; None when the app had no status yet.
        from: Option<SyncStatusCode>,
        /// Now.
        to: SyncStatusCode,
    },
    /// A successful sync deployed a revision other than the previous
    /// history entry's (`Deployed`; driftless's own).
    Deployed {
        /// The revision now deployed.
        revision: String,
    },
    /// Self-heal reverted drift: automation synced the revision already
    /// deployed again, successfully (`SelfHealed`; driftless's own).
    SelfHealed {
        /// The revision restored.
        revision: String,
    },
    /// A ComparisonError condition appeared (`ComparisonError`, Warning;
    /// driftless's own: Argo CD shows it only as the condition).
    ComparisonError {
        /// The condition's message.
        message: String,
    },
    /// Automatic rollback began a sync back to the last revision seen
    /// Healthy (`RolledBack`, Warning; driftless's own).
    RolledBack {
        /// The revision that left the app unhealthy.
        from: String,
        /// The revision synced back to.
        to: String,
        /// Why, e.g. `Degraded after 12s`.
        reason: String,
    },
}

impl AppEvent {
    /// The Kubernetes Event's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            AppEvent::SyncStarted { .. } => "OperationStarted",
            AppEvent::SyncSucceeded { .. } | AppEvent::SyncFailed { .. } => "OperationCompleted",
            AppEvent::SyncRunningLong { .. } => "OperationRunningLong",
            AppEvent::HealthChanged { .. } | AppEvent::SyncStatusChanged { .. } => "ResourceUpdated",
            AppEvent::Deployed { .. } => "Deployed",
            AppEvent::SelfHealed { .. } => "SelfHealed",
            AppEvent::ComparisonError { .. } => "ComparisonError",
            AppEvent::RolledBack { .. } => "RolledBack",
        }
    }

    /// The Kubernetes Event's type.
    pub fn event_type(&self) -> EventType {
        match self {
            AppEvent::SyncFailed { .. }
            | AppEvent::SyncRunningLong { .. }
            | AppEvent::ComparisonError { .. }
            | AppEvent::RolledBack { .. } => EventType::Warning,
            _ => EventType::Normal,
        }
    }

    /// The Kubernetes Event's message, in Argo CD's words where it has them.
    pub fn message(&self) -> String {
        let sync = |partial: bool| if partial { "Partial sync operation" } else { "Sync operation" };
        let to = |revision: &Option<String>| revision.as_deref().map(|r| format!(" to {r}")).unwrap_or_default();
        match self {
            AppEvent::SyncStarted { revision, initiator, partial } => {
                let partial = if *partial { "partial " } else { "" };
                match initiator {
                    Initiator::Automated => format!("Initiated automated {partial}sync to '{revision}'"),
                    Initiator::User(user) => format!("{user} initiated {partial}sync to {revision}"),
                    Initiator::Unknown => format!("Unknown user initiated {partial}sync to {revision}"),
                }
            }
            AppEvent::SyncSucceeded { revision, partial } => format!("{}{} succeeded", sync(*partial), to(revision)),
            AppEvent::SyncFailed { revision, partial, message } => format!("{}{} failed: {message}", sync(*partial), to(revision)),
            AppEvent::SyncRunningLong { started_at, limit } => {
                format!("Sync operation has been running for more than {} (started at {})", go_duration(*limit), started_at.0)
            }
            AppEvent::HealthChanged { from, to } => {
                format!("Updated health status: {} -> {to}", from.map(HealthStatusCode::as_str).unwrap_or_default())
            }
            AppEvent::SyncStatusChanged { from, to } => {
                format!("Updated sync status: {} -> {}", from.map(sync_str).unwrap_or_default(), sync_str(*to))
            }
            AppEvent::Deployed { revision } => format!("Deployed revision {revision}"),
            AppEvent::SelfHealed { revision } => format!("Self-heal reverted drift: synced revision {revision} again"),
            AppEvent::ComparisonError { message } => message.clone(),
            AppEvent::RolledBack { from, to, reason } => format!("Rolled back from {from} to {to}: {reason}"),
        }
    }
}

fn sync_str(code: SyncStatusCode) -> &'static str {
    match code {
        SyncStatusCode::Unknown => "Unknown",
        SyncStatusCode::Synced => "Synced",
        SyncStatusCode::OutOfSync => "OutOfSync",
    }
}

/// A duration as Go prints one (`10m0s`, `1h30m0s`, `45s`), as Argo CD's
/// users read durations; whole seconds (a sub-second limit reads `0s`).
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// What happened between two statuses of one app: `before` as it was read
/// (None: the app had no status yet), `after` as written. Pure; a write
/// that changes none of what events describe yields nothing.
pub fn between(before: Option<&ApplicationStatus>, after: &ApplicationStatus) -> Vec<AppEvent> {
    let mut events = Vec::new();
    let old_op = before.and_then(|s| s.operation_state.as_ref());
    if let Some(op) = &after.operation_state {
        // One operation is told from another by its start and request: a
        // retry or a resumed sync is the same operation.
        let same = old_op.filter(|o| o.started_at == op.started_at && o.operation == op.operation);
        let partial = op.operation.sync.as_ref().is_some_and(|s| !s.resources.is_empty());
        // An automated sync that finished within a second is first written
        // done: its start is news all the same.
        if same.is_none() && (op.phase == OperationPhase::Running || op.sync_result.is_some()) {
            let asked = op.operation.sync.as_ref().and_then(|s| s.revision.clone()).filter(|r| !r.is_empty());
            let revision = asked.or_else(|| revision_of(op)).or_else(|| after.sync.revision.clone()).unwrap_or_default();
            events.push(AppEvent::SyncStarted { revision, initiator: Initiator::of(op), partial });
        }
        if op.phase.is_completed() && !same.is_some_and(|o| o.phase.is_completed()) {
            let revision = revision_of(op);
            events.push(match op.phase {
                OperationPhase::Succeeded => AppEvent::SyncSucceeded { revision, partial },
                _ => AppEvent::SyncFailed { revision, partial, message: op.message.clone().unwrap_or_default() },
            });
        }
    }
    events.extend(deployment(before.map(|s| s.history.as_slice()).unwrap_or_default(), &after.history));
    let (old_sync, old_health) = (before.map(|s| s.sync.status), before.map(|s| s.health.status));
    if old_sync != Some(after.sync.status) {
        events.push(AppEvent::SyncStatusChanged { from: old_sync, to: after.sync.status });
    }
    if old_health != Some(after.health.status) {
        events.push(AppEvent::HealthChanged { from: old_health, to: after.health.status });
    }
    let comparison_error = |s: &ApplicationStatus| s.conditions.iter().find(|c| c.type_ == condition::COMPARISON_ERROR).cloned();
    if let Some(c) = comparison_error(after)
        && before.and_then(comparison_error).is_none()
    {
        events.push(AppEvent::ComparisonError { message: c.message });
    }
    events
}

/// The revision(s) a sync result names: a multi-source app's joined as
/// Argo CD joins them.
fn revision_of(op: &OperationState) -> Option<String> {
    let result = op.sync_result.as_ref()?;
    Some(if result.revisions.is_empty() { result.revision.clone() } else { result.revisions.join(", ") })
}

/// A history entry `after` has and `before` had not: a revision deployed,
/// or, when automation synced the very revision of the entry before, drift
/// reverted.
fn deployment(before: &[RevisionHistory], after: &[RevisionHistory]) -> Option<AppEvent> {
    let newest = after.last()?;
    if before.iter().any(|h| h.id >= newest.id) {
        return None;
    }
    let previous = after.iter().rev().nth(1).or(before.last());
    let revision = newest.revision.clone();
    let automated = newest.initiated_by.as_ref().is_some_and(|i| i.automated);
    match previous {
        Some(p) if p.revision == newest.revision => automated.then_some(AppEvent::SelfHealed { revision }),
        _ => Some(AppEvent::Deployed { revision }),
    }
}

/// An event of one app, as published on the [`Bus`].
#[derive(Clone, Debug)]
pub struct Published {
    /// The app as written with the event's status (as read, for
    /// [`AppEvent::SyncRunningLong`]); without managedFields.
    pub app: Arc<Application>,
    /// What happened.
    pub event: AppEvent,
}

/// Where the controller publishes every app event, for any loop of the same
/// process: a broadcast channel. Publishing never waits; a subscriber that
/// falls more than the capacity behind loses the oldest events and learns
/// how many (`RecvError::Lagged`).
///
/// Subscribe before the controller starts (`Config::events` of
/// `driftless_controller`, then `events.subscribe()`): a subscriber sees
/// only what is published after it subscribed.
#[derive(Clone, Debug)]
pub struct Bus {
    tx: tokio::sync::broadcast::Sender<Published>,
}

/// How many events a subscriber may fall behind by default.
const CAPACITY: usize = 1024;

impl Default for Bus {
    fn default() -> Bus {
        Bus::new(CAPACITY)
    }
}

impl Bus {
    /// A bus keeping up to `capacity` events for a slow subscriber.
    pub fn new(capacity: usize) -> Bus {
        Bus { tx: tokio::sync::broadcast::channel(capacity.max(1)).0 }
    }

    /// Publishes `events` of `app`, in order. With no subscriber they go
    /// nowhere.
    pub fn publish(&self, app: &Arc<Application>, events: Vec<AppEvent>) {
        for event in events {
            tracing::debug!(app = app.metadata.name.as_deref().unwrap_or_default(), reason = event.reason(), "{}", event.message());
            // An error means no subscriber, which is not the publisher's concern.
            let _ = self.tx.send(Published { app: app.clone(), event });
        }
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Published> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use driftless_api::{
        ApplicationCondition, HealthStatus, Operation, OperationInitiator, SyncOperation, SyncOperationResource, SyncOperationResult,
    };
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    const REV: &str = "8a1f0c2d9e";

    fn started(second: i64) -> Time {
        Time(Timestamp::from_second(second).expect("a valid time"))
    }

    fn op(by: Option<OperationInitiator>, phase: OperationPhase, result: Option<&str>) -> OperationState {
        OperationState {
            operation: Operation { sync: Some(SyncOperation::default()), initiated_by: by, ..Default::default() },
            phase,
            message: Some(if phase == OperationPhase::Failed { "one or more objects failed to apply".into() } else { "syncing".into() }),
            sync_result: result.map(|r| SyncOperationResult { revision: r.into(), ..Default::default() }),
            started_at: started(1000),
            finished_at: None,
            retry_count: None,
        }
    }

    fn automated() -> Option<OperationInitiator> {
        Some(OperationInitiator { username: None, automated: true })
    }

    fn user(name: &str) -> Option<OperationInitiator> {
        Some(OperationInitiator { username: Some(name.into()), automated: false })
    }

    fn status(sync: SyncStatusCode, health: HealthStatusCode) -> ApplicationStatus {
        let mut s = ApplicationStatus::default();
        s.sync.status = sync;
        s.sync.revision = Some(REV.into());
        s.health = HealthStatus::new(health, "");
        s
    }

    fn entry(id: i64, revision: &str, by: Option<OperationInitiator>) -> RevisionHistory {
        RevisionHistory {
            id,
            revision: revision.into(),
            source: None,
            deploy_started_at: None,
            deployed_at: started(1000 + id),
            initiated_by: by,
            sources: Vec::new(),
            revisions: Vec::new(),
        }
    }

    fn said(events: &[AppEvent]) -> Vec<(&'static str, EventType, String)> {
        events.iter().map(|e| (e.reason(), e.event_type(), e.message())).collect()
    }

    #[test]
    fn nothing_changed_nothing_published() {
        let mut s = status(SyncStatusCode::Synced, HealthStatusCode::Healthy);
        s.operation_state = Some(op(automated(), OperationPhase::Succeeded, Some(REV)));
        s.history.push(entry(0, REV, automated()));
        s.conditions.push(ApplicationCondition { type_: condition::COMPARISON_ERROR.into(), message: "boom".into(), ..Default::default() });
        assert_eq!(between(Some(&s), &s), []);
        // What events do not describe (when it was compared, resources)
        // changes nothing either.
        let mut later = s.clone();
        later.reconciled_at = Some(started(2000));
        later.summary.images.push("nginx:1".into());
        assert_eq!(between(Some(&s), &later), []);
    }

    #[test]
    fn an_automated_sync_starts_and_succeeds_with_argo_cds_messages() {
        let before = status(SyncStatusCode::OutOfSync, HealthStatusCode::Healthy);
        let mut running = before.clone();
        running.operation_state = Some(op(automated(), OperationPhase::Running, None));
        assert_eq!(
            said(&between(Some(&before), &running)),
            [("OperationStarted", EventType::Normal, format!("Initiated automated sync to '{REV}'"))]
        );
        // Progress of the same operation is not a new start.
        let mut progress = running.clone();
        progress.operation_state.as_mut().unwrap().sync_result = Some(SyncOperationResult { revision: REV.into(), ..Default::default() });
        progress.operation_state.as_mut().unwrap().retry_count = Some(1);
        assert_eq!(between(Some(&running), &progress), []);
        let mut done = status(SyncStatusCode::Synced, HealthStatusCode::Healthy);
        done.operation_state = Some(op(automated(), OperationPhase::Succeeded, Some(REV)));
        done.history.push(entry(0, REV, automated()));
        assert_eq!(
            said(&between(Some(&progress), &done)),
            [
                ("OperationCompleted", EventType::Normal, format!("Sync operation to {REV} succeeded")),
                ("Deployed", EventType::Normal, format!("Deployed revision {REV}")),
                ("ResourceUpdated", EventType::Normal, "Updated sync status: OutOfSync -> Synced".into()),
            ]
        );
        // A sync first written done (it took less than a second) started too.
        assert_eq!(
            between(Some(&before), &done).iter().map(AppEvent::reason).collect::<Vec<_>>(),
            ["OperationStarted", "OperationCompleted", "Deployed", "ResourceUpdated"]
        );
    }

    #[test]
    fn a_users_sync_names_the_user_and_a_partial_one_says_so() {
        let before = status(SyncStatusCode::OutOfSync, HealthStatusCode::Healthy);
        let mut after = before.clone();
        let mut state = op(user("alice"), OperationPhase::Running, None);
        state.operation.sync.as_mut().unwrap().revision = Some("main".into());
        after.operation_state = Some(state.clone());
        assert_eq!(
            between(Some(&before), &after),
            [AppEvent::SyncStarted { revision: "main".into(), initiator: Initiator::User("alice".into()), partial: false }]
        );
        assert_eq!(between(Some(&before), &after)[0].message(), "alice initiated sync to main");
        state.operation.sync.as_mut().unwrap().resources.push(SyncOperationResource { kind: "Deployment".into(), ..Default::default() });
        state.operation.initiated_by = None;
        after.operation_state = Some(state.clone());
        assert_eq!(between(Some(&before), &after)[0].message(), "Unknown user initiated partial sync to main");
        state.phase = OperationPhase::Succeeded;
        state.sync_result = Some(SyncOperationResult { revision: REV.into(), ..Default::default() });
        let mut done = after.clone();
        done.operation_state = Some(state);
        assert_eq!(
            said(&between(Some(&after), &done)),
            [("OperationCompleted", EventType::Normal, format!("Partial sync operation to {REV} succeeded"))]
        );
    }

    #[test]
    fn a_failed_sync_is_a_warning_with_its_message() {
        let mut running = status(SyncStatusCode::OutOfSync, HealthStatusCode::Healthy);
        running.operation_state = Some(op(automated(), OperationPhase::Running, None));
        let mut failed = running.clone();
        failed.operation_state = Some(op(automated(), OperationPhase::Failed, Some(REV)));
        assert_eq!(
            said(&between(Some(&running), &failed)),
            [("OperationCompleted", EventType::Warning, format!("Sync operation to {REV} failed: one or more objects failed to apply"))]
        );
        // A request refused before it ran: failed, without a revision, and
        // never started.
        let mut refused = running.clone();
        let mut state = op(user("bob"), OperationPhase::Error, None);
        state.message = Some("cannot sync: no such revision".into());
        state.started_at = started(5000);
        refused.operation_state = Some(state);
        assert_eq!(
            said(&between(Some(&running), &refused)),
            [("OperationCompleted", EventType::Warning, "Sync operation failed: cannot sync: no such revision".into())]
        );
    }

    #[test]
    fn health_and_sync_changes_as_argo_cd_records_them() {
        let before = status(SyncStatusCode::Synced, HealthStatusCode::Progressing);
        let after = status(SyncStatusCode::OutOfSync, HealthStatusCode::Degraded);
        assert_eq!(
            said(&between(Some(&before), &after)),
            [
                ("ResourceUpdated", EventType::Normal, "Updated sync status: Synced -> OutOfSync".into()),
                ("ResourceUpdated", EventType::Normal, "Updated health status: Progressing -> Degraded".into()),
            ]
        );
        // A first status: Argo CD prints the empty status it had.
        assert_eq!(
            said(&between(None, &status(SyncStatusCode::OutOfSync, HealthStatusCode::Missing))),
            [
                ("ResourceUpdated", EventType::Normal, "Updated sync status:  -> OutOfSync".into()),
                ("ResourceUpdated", EventType::Normal, "Updated health status:  -> Missing".into()),
            ]
        );
    }

    #[test]
    fn deployments_and_self_heals_come_from_the_history() {
        let mut before = status(SyncStatusCode::OutOfSync, HealthStatusCode::Healthy);
        before.history = vec![entry(0, "aaa", user("alice"))];
        let mut after = before.clone();
        after.history.push(entry(1, "bbb", automated()));
        assert_eq!(between(Some(&before), &after), [AppEvent::Deployed { revision: "bbb".into() }]);
        // Automation syncing the revision already deployed reverted drift.
        let mut healed = after.clone();
        healed.history.push(entry(2, "bbb", automated()));
        assert_eq!(
            said(&between(Some(&after), &healed)),
            [("SelfHealed", EventType::Normal, "Self-heal reverted drift: synced revision bbb again".into())]
        );
        // A person syncing it again deployed nothing new.
        let mut again = after.clone();
        again.history.push(entry(2, "bbb", user("alice")));
        assert_eq!(between(Some(&after), &again), []);
        // A rollback deploys an older revision; the history limit dropping
        // the oldest entry does not hide it.
        let mut rolled = after.clone();
        rolled.history = vec![entry(1, "bbb", automated()), entry(2, "aaa", user("alice"))];
        assert_eq!(between(Some(&after), &rolled), [AppEvent::Deployed { revision: "aaa".into() }]);
        // Trimming alone deploys nothing.
        let mut trimmed = after.clone();
        trimmed.history.remove(0);
        assert_eq!(between(Some(&after), &trimmed), []);
    }

    #[test]
    fn a_comparison_error_is_published_when_it_appears() {
        let before = status(SyncStatusCode::Synced, HealthStatusCode::Healthy);
        let mut broken = before.clone();
        broken.conditions.push(ApplicationCondition {
            type_: condition::COMPARISON_ERROR.into(),
            message: "rendering: kustomization.yaml: unknown field".into(),
            ..Default::default()
        });
        assert_eq!(
            said(&between(Some(&before), &broken)),
            [("ComparisonError", EventType::Warning, "rendering: kustomization.yaml: unknown field".into())]
        );
        let mut still = broken.clone();
        still.conditions[0].message = "rendering: another message".into();
        assert_eq!(between(Some(&broken), &still), [], "the same occurrence");
        assert_eq!(between(Some(&broken), &before), [], "its going is no event");
        assert_eq!(between(Some(&before), &broken).len(), 1, "it coming back is");
    }

    #[test]
    fn a_rollback_is_a_warning_naming_both_revisions_and_why() {
        let e = AppEvent::RolledBack { from: "bbb".into(), to: "aaa".into(), reason: "Degraded after 12s".into() };
        assert_eq!(
            (e.reason(), e.event_type(), e.message()),
            ("RolledBack", EventType::Warning, "Rolled back from bbb to aaa: Degraded after 12s".to_string())
        );
    }

    #[test]
    fn running_long_says_since_when_and_the_limit() {
        let e = AppEvent::SyncRunningLong { started_at: started(0), limit: Duration::from_secs(600) };
        assert_eq!(
            (e.reason(), e.event_type(), e.message()),
            (
                "OperationRunningLong",
                EventType::Warning,
                "Sync operation has been running for more than 10m0s (started at 1970-01-01T00:00:00Z)".into()
            )
        );
        assert_eq!(go_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(go_duration(Duration::from_secs(45)), "45s");
    }

    #[tokio::test]
    async fn the_bus_hands_every_subscriber_each_event_in_order() {
        let bus = Bus::new(2);
        let mut first = bus.subscribe();
        let app = Arc::new(Application::default());
        bus.publish(&app, vec![AppEvent::Deployed { revision: "a".into() }, AppEvent::SelfHealed { revision: "a".into() }]);
        let mut late = bus.subscribe();
        assert_eq!(first.recv().await.expect("first").event.reason(), "Deployed");
        assert_eq!(first.recv().await.expect("second").event.reason(), "SelfHealed");
        assert!(late.try_recv().is_err(), "a late subscriber sees only what follows");
        // One that falls behind learns how much it lost, and goes on.
        for n in 0..3 {
            bus.publish(&app, vec![AppEvent::Deployed { revision: n.to_string() }]);
        }
        assert!(matches!(late.recv().await, Err(tokio::sync::broadcast::error::RecvError::Lagged(1))));
        assert_eq!(late.recv().await.expect("next").event, AppEvent::Deployed { revision: "1".into() });
    }
}
