//! Progressive syncs (`strategy.type: RollingSync`), pure: which step
//! each app belongs to, each app's rollout status (Waiting, Pending,
//! Progressing, Healthy), and which apps to sync now. A step starts only
//! once every app of the steps before it is Healthy, so a Degraded app
//! stops the rollout where it is.

use std::collections::{BTreeMap, BTreeSet};

use driftless_api::{
    Application, ApplicationMatchExpression, ApplicationSetApplicationStatus, ApplicationSetRolloutStep, ApplicationSetStrategy,
    HealthStatusCode, OperationPhase, SyncStatusCode,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

/// An app's place in the rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutStatus {
    /// Out of sync, its step not reached yet.
    Waiting,
    /// Its step is running: a sync was asked for.
    Pending,
    /// Its sync started; not Healthy yet.
    Progressing,
    /// Synced and Healthy.
    Healthy,
}

impl RolloutStatus {
    fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Waiting => "Waiting",
            RolloutStatus::Pending => "Pending",
            RolloutStatus::Progressing => "Progressing",
            RolloutStatus::Healthy => "Healthy",
        }
    }

    fn parse(s: &str) -> Option<RolloutStatus> {
        [RolloutStatus::Waiting, RolloutStatus::Pending, RolloutStatus::Progressing, RolloutStatus::Healthy]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// What a rollout pass decided.
#[derive(Debug, Default)]
pub struct Rollout {
    /// `status.applicationStatus`, one per app, sorted by name.
    pub statuses: Vec<ApplicationSetApplicationStatus>,
    /// Apps to sync now.
    pub sync: Vec<String>,
    /// The step running (1-based), None when all are done.
    pub step: Option<usize>,
}

/// The steps of a RollingSync; None when `strategy` is not one, or names
/// no steps (as Argo CD, all apps then sync at once). An unknown type is
/// an error.
pub fn rolling_steps(strategy: Option<&ApplicationSetStrategy>) -> Result<Option<&[ApplicationSetRolloutStep]>, String> {
    let Some(s) = strategy else { return Ok(None) };
    match s.type_.as_deref().unwrap_or_default() {
        "" | "AllAtOnce" => Ok(None),
        "RollingSync" => Ok(s.rolling_sync.as_ref().map(|r| r.steps.as_slice()).filter(|steps| !steps.is_empty())),
        other => Err(format!("spec.strategy.type: {other:?} is not one of AllAtOnce, RollingSync")),
    }
}

/// Whether deleting the set deletes its apps step by step, the last step
/// first (`deletionOrder: Reverse`, any case, with a RollingSync's steps).
pub fn reverse_deletion(strategy: Option<&ApplicationSetStrategy>) -> Result<Option<&[ApplicationSetRolloutStep]>, String> {
    let reverse = strategy.and_then(|s| s.deletion_order.as_deref()).is_some_and(|o| o.eq_ignore_ascii_case("Reverse"));
    if reverse { rolling_steps(strategy) } else { Ok(None) }
}

/// With reverse deletion, the apps to delete now: those of the last step
/// that still has apps (apps being deleted included: the step waits for
/// them). Empty once only apps no step matches are left; the garbage
/// collector deletes those with the set, as Argo CD leaves them.
pub fn to_delete<'a>(steps: &[ApplicationSetRolloutStep], apps: &'a [Application]) -> Result<Vec<&'a Application>, String> {
    let mut by_step: BTreeMap<usize, Vec<&Application>> = BTreeMap::new();
    for app in apps {
        if let Some(i) = step_of(steps, app)? {
            by_step.entry(i).or_default().push(app);
        }
    }
    Ok(by_step.pop_last().map(|(_, apps)| apps).unwrap_or_default())
}

/// One rollout pass over `apps` (the set's apps as they are now).
/// `changed` names the apps this reconcile created or updated: their
/// status is not yet about their new spec, so they wait.
pub fn advance(
    steps: &[ApplicationSetRolloutStep],
    apps: &[Application],
    previous: &[ApplicationSetApplicationStatus],
    changed: &BTreeSet<String>,
    now: &Time,
) -> Result<Rollout, String> {
    let before: BTreeMap<&str, &ApplicationSetApplicationStatus> = previous.iter().map(|s| (s.application.as_str(), s)).collect();
    let mut entries = Vec::new();
    for app in apps {
        let name = app.name_any();
        let step = step_of(steps, app)?;
        let prior = before.get(name.as_str());
        let was = prior.and_then(|p| RolloutStatus::parse(&p.status));
        let since = prior.and_then(|p| p.last_transition_time.clone());
        let (status, message) = if changed.contains(&name) {
            (RolloutStatus::Waiting, "the ApplicationSet changed the Application: waiting for its step".to_string())
        } else {
            next(app, was, since.as_ref())
        };
        entries.push((name, step, status, message, was, since));
    }
    // The step running: the first with an app not Healthy.
    let running = (0..steps.len()).find(|i| entries.iter().any(|e| e.1 == Some(*i) && e.2 != RolloutStatus::Healthy));
    let mut sync = Vec::new();
    if let Some(i) = running {
        let in_step = entries.iter().filter(|e| e.1 == Some(i)).count();
        let limit = max_update(steps[i].max_update.as_ref(), in_step)?;
        let busy = entries.iter().filter(|e| e.1 == Some(i) && matches!(e.2, RolloutStatus::Pending | RolloutStatus::Progressing)).count();
        let room = limit.saturating_sub(busy);
        for e in entries.iter_mut().filter(|e| e.1 == Some(i) && e.2 == RolloutStatus::Waiting).take(room) {
            e.2 = RolloutStatus::Pending;
            e.3 = format!("step {} of the RollingSync started: syncing the Application", i + 1);
            sync.push(e.0.clone());
        }
    }
    let mut statuses: Vec<ApplicationSetApplicationStatus> = entries
        .into_iter()
        .map(|(application, step, status, message, was, since)| {
            let message = if step.is_none() {
                "the Application matches no step of the RollingSync: it is never synced by it".into()
            } else {
                message
            };
            ApplicationSetApplicationStatus {
                application,
                last_transition_time: if was == Some(status) { since } else { Some(now.clone()) },
                message,
                status: status.as_str().into(),
                step: step.map(|s| (s + 1).to_string()).unwrap_or_else(|| "-1".into()),
                target_revisions: Vec::new(),
            }
        })
        .collect();
    statuses.sort_by(|a, b| a.application.cmp(&b.application));
    Ok(Rollout { statuses, sync, step: running.map(|i| i + 1) })
}

/// An app's status from what it was and what the app shows now.
fn next(app: &Application, was: Option<RolloutStatus>, since: Option<&Time>) -> (RolloutStatus, String) {
    let status = app.status.as_ref();
    let sync = status.map(|s| s.sync.status);
    let health = status.map(|s| s.health.status);
    let op = status.and_then(|s| s.operation_state.as_ref());
    let running = app.operation.is_some() || op.is_some_and(|o| o.phase == OperationPhase::Running);
    let settled = !running && sync == Some(SyncStatusCode::Synced) && health == Some(HealthStatusCode::Healthy);
    match was {
        _ if settled => (RolloutStatus::Healthy, "the Application is Synced and Healthy".into()),
        Some(RolloutStatus::Pending) => {
            // The sync asked for has begun once an operation started after
            // the app became Pending.
            let started = app.operation.is_none() && op.is_some_and(|o| since.is_none_or(|t| o.started_at.0 >= t.0));
            if started {
                (RolloutStatus::Progressing, progressing_message(app))
            } else {
                (RolloutStatus::Pending, "waiting for the sync to start".into())
            }
        }
        Some(RolloutStatus::Progressing) => (RolloutStatus::Progressing, progressing_message(app)),
        _ => (RolloutStatus::Waiting, "the Application has changes to sync: waiting for its step".into()),
    }
}

fn progressing_message(app: &Application) -> String {
    let status = app.status.as_ref();
    let op = status.and_then(|s| s.operation_state.as_ref());
    match op {
        Some(o) if matches!(o.phase, OperationPhase::Failed | OperationPhase::Error) => {
            format!("the sync failed: {}", o.message.as_deref().unwrap_or_default())
        }
        _ => format!(
            "the Application is {:?} and {:?}",
            status.map(|s| s.sync.status).unwrap_or(SyncStatusCode::Unknown),
            status.map(|s| s.health.status).unwrap_or(HealthStatusCode::Unknown)
        ),
    }
}

/// The first step whose expressions all match the app's labels.
fn step_of(steps: &[ApplicationSetRolloutStep], app: &Application) -> Result<Option<usize>, String> {
    for (i, step) in steps.iter().enumerate() {
        let mut all = true;
        for (j, e) in step.match_expressions.iter().enumerate() {
            all &= expression_matches(e, app.labels())
                .map_err(|m| format!("spec.strategy.rollingSync.steps[{i}].matchExpressions[{j}]: {m}"))?;
        }
        if all {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn expression_matches(e: &ApplicationMatchExpression, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let value = e.key.as_deref().and_then(|k| labels.get(k));
    match e.operator.as_deref().unwrap_or_default() {
        "In" => Ok(value.is_some_and(|v| e.values.contains(v))),
        "NotIn" => Ok(value.is_none_or(|v| !e.values.contains(v))),
        "Exists" => Ok(value.is_some()),
        "DoesNotExist" => Ok(value.is_none()),
        other => Err(format!("operator {other:?} is not one of In, NotIn, Exists, DoesNotExist")),
    }
}

/// How many apps of a step of `count` may sync at once: `maxUpdate` as a
/// number or a percentage (rounded down, at least 1 unless it is 0%); all
/// by default. 0 holds the step, as in Argo CD.
fn max_update(value: Option<&IntOrString>, count: usize) -> Result<usize, String> {
    match value {
        None => Ok(count.max(1)),
        Some(IntOrString::Int(n)) if *n >= 0 => Ok(*n as usize),
        Some(IntOrString::String(s)) => {
            let pct: usize = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse().ok())
                .filter(|p| *p <= 100)
                .ok_or_else(|| format!("maxUpdate: {s:?} is neither a number nor a percentage"))?;
            Ok(if pct == 0 { 0 } else { (count * pct / 100).max(1) })
        }
        Some(other) => Err(format!("maxUpdate: {other:?} is negative")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(name: &str, env: &str, sync: &str, health: &str) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "labels": {"env": env}},
            "spec": {"destination": {"server": "https://kubernetes.default.svc"}, "project": "default"},
            "status": {"sync": {"status": sync}, "health": {"status": health}}
        }))
        .unwrap()
    }

    fn steps(max: Option<IntOrString>) -> Vec<ApplicationSetRolloutStep> {
        ["dev", "qa", "prod"]
            .iter()
            .map(|env| {
                serde_json::from_value(json!({"matchExpressions": [{"key": "env", "operator": "In", "values": [env]}]})).map(
                    |mut s: ApplicationSetRolloutStep| {
                        s.max_update = max.clone();
                        s
                    },
                )
            })
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap())
    }

    #[test]
    fn a_step_starts_only_when_the_steps_before_it_are_healthy() {
        let s = steps(None);
        let apps = [app("dev", "dev", "OutOfSync", "Healthy"), app("qa", "qa", "OutOfSync", "Healthy")];
        let r = advance(&s, &apps, &[], &BTreeSet::new(), &now()).unwrap();
        assert_eq!(r.sync, ["dev"]);
        assert_eq!(r.step, Some(1));
        let status: Vec<&str> = r.statuses.iter().map(|s| s.status.as_str()).collect();
        assert_eq!(status, ["Pending", "Waiting"]);

        // dev synced but Degraded: qa still waits.
        let mut degraded = app("dev", "dev", "Synced", "Degraded");
        degraded.status.as_mut().unwrap().operation_state =
            Some(serde_json::from_value(json!({"phase": "Succeeded", "startedAt": "2023-11-14T22:13:21Z", "operation": {}})).unwrap());
        let r2 = advance(&s, &[degraded, apps[1].clone()], &r.statuses, &BTreeSet::new(), &now()).unwrap();
        assert!(r2.sync.is_empty(), "{:?}", r2.sync);
        assert_eq!(r2.statuses[0].status, "Progressing");

        // dev Healthy: qa's step starts.
        let r3 = advance(&s, &[app("dev", "dev", "Synced", "Healthy"), apps[1].clone()], &r2.statuses, &BTreeSet::new(), &now()).unwrap();
        assert_eq!(r3.sync, ["qa"]);
        assert_eq!(r3.step, Some(2));
    }

    #[test]
    fn max_update_limits_a_step_and_changed_apps_wait() {
        let s = steps(Some(IntOrString::String("50%".into())));
        let apps: Vec<Application> = (0..4).map(|i| app(&format!("d{i}"), "dev", "OutOfSync", "Healthy")).collect();
        let r = advance(&s, &apps, &[], &BTreeSet::new(), &now()).unwrap();
        assert_eq!(r.sync, ["d0", "d1"]);
        let healthy = [app("p", "prod", "Synced", "Healthy")];
        let changed = BTreeSet::from(["p".to_string()]);
        let r = advance(&s, &healthy, &[], &changed, &now()).unwrap();
        assert_eq!(r.statuses[0].status, "Pending", "changed by the set: it waits, then its step (the first with work) syncs it");
        assert_eq!(
            max_update(Some(&IntOrString::String("x".into())), 3).unwrap_err(),
            "maxUpdate: \"x\" is neither a number nor a percentage"
        );
    }

    #[test]
    fn max_update_as_a_number_and_zero_holds_the_step() {
        let apps: Vec<Application> = (0..4).map(|i| app(&format!("d{i}"), "dev", "OutOfSync", "Healthy")).collect();
        let synced = |max: IntOrString| advance(&steps(Some(max)), &apps, &[], &BTreeSet::new(), &now()).unwrap();
        assert_eq!(synced(IntOrString::Int(3)).sync, ["d0", "d1", "d2"]);
        for zero in [IntOrString::Int(0), IntOrString::String("0%".into())] {
            let r = synced(zero);
            assert!(r.sync.is_empty(), "{:?}", r.sync);
            assert_eq!(r.step, Some(1), "the step is held, not skipped");
        }
        assert_eq!(synced(IntOrString::String("10%".into())).sync, ["d0"], "a percentage that rounds to 0 is 1");
    }

    #[test]
    fn a_rolling_sync_without_steps_is_no_rollout() {
        let strategy = |v: serde_json::Value| serde_json::from_value::<ApplicationSetStrategy>(v).unwrap();
        assert_eq!(rolling_steps(Some(&strategy(json!({"type": "RollingSync"})))), Ok(None));
        assert_eq!(rolling_steps(Some(&strategy(json!({"type": "RollingSync", "rollingSync": {"steps": []}})))), Ok(None));
        assert!(rolling_steps(Some(&strategy(json!({"type": "Canary"})))).is_err());
        let all_at_once = json!({"type": "AllAtOnce", "rollingSync": {"steps": [{"matchExpressions": []}]}});
        assert_eq!(rolling_steps(Some(&strategy(all_at_once))), Ok(None), "AllAtOnce named: no rollout, whatever steps say");
    }

    #[test]
    fn reverse_deletion_takes_the_last_step_with_apps_first() {
        let s = steps(None);
        let strategy = |order: &str| {
            serde_json::from_value::<ApplicationSetStrategy>(
                json!({"type": "RollingSync", "deletionOrder": order, "rollingSync": {"steps": s}}),
            )
            .unwrap()
        };
        assert_eq!(reverse_deletion(Some(&strategy("reverse"))).unwrap().map(<[_]>::len), Some(3), "any case");
        assert_eq!(reverse_deletion(Some(&strategy("AllAtOnce"))).unwrap(), None);
        let apps = [
            app("d", "dev", "Synced", "Healthy"),
            app("q1", "qa", "Synced", "Healthy"),
            app("q2", "qa", "Synced", "Healthy"),
            app("other", "none", "Synced", "Healthy"),
        ];
        let names = |apps: &[Application]| to_delete(&s, apps).unwrap().iter().map(|a| a.name_any()).collect::<Vec<_>>();
        assert_eq!(names(&apps), ["q1", "q2"], "no prod apps: qa's go first");
        assert_eq!(names(&[apps[0].clone(), apps[3].clone()]), ["d"]);
        assert!(names(&[apps[3].clone()]).is_empty(), "apps no step matches are left to the garbage collector");
    }
}
