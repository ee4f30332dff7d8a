//! AppProject sync windows: a deny window holds automation and refuses
//! manual syncs (unless it allows them), automation syncs by itself once a
//! window ends, an allow window elsewhere in time holds automation, and a
//! broken window holds every app of its project. No resync: only refreshes
//! and the controller's own look at a window's end wake the apps.

mod common;

use std::time::Duration;

use common::{World, configmap};
use driftless_api::{AppProject, Application, OperationPhase, SyncStatusCode, condition};
use driftless_testkit::{Error, wait_for};
use k8s_openapi::jiff::{Timestamp, tz::TimeZone};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// Longer than any test: the timer never fires.
const NO_RESYNC: Duration = Duration::from_secs(3600);

/// A window that ends at the next minute boundary ends within this.
const WINDOW_END: Duration = Duration::from_secs(150);

/// Creates project `name` in the control plane (the test namespace).
async fn project(w: &World, name: &str, windows: Value) {
    w.ns.create_project(name, windows).await.expect("create project");
}

async fn set_windows(w: &World, name: &str, windows: Value) {
    let patch = json!({ "spec": { "syncWindows": windows } });
    w.ns.api::<AppProject>().patch(name, &PatchParams::default(), &Patch::Merge(patch)).await.expect("edit project");
}

fn blocked(a: &Application) -> Option<String> {
    let c = a.status.as_ref()?.conditions.iter().find(|c| c.type_ == condition::SYNC_WINDOW_BLOCKED)?;
    Some(c.message.clone())
}

/// Refreshes `app` until `check` holds: neither a project edit nor a commit
/// wakes an app by itself, and the controller's project watch may lag.
async fn refresh_until<T>(w: &World, app: &str, what: &str, check: impl Fn(&Application) -> Option<T>) -> Result<T, Error> {
    wait_for(&format!("app {app}: {what}"), common::TIMEOUT, || async {
        w.kubectl(&["annotate", "--overwrite", "application", app, "argocd.argoproj.io/refresh=normal"]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let a = w.apps.get(app).await.map_err(|e| e.to_string())?;
        check(&a).ok_or_else(|| common::summary(&a))
    })
    .await
}

/// Compared with `revision`, out of sync, and held by a window (whose
/// message is returned): the decision for that revision was to wait.
fn held_at(a: &Application, revision: &str) -> Option<String> {
    let s = a.status.as_ref()?;
    (s.sync.revision.as_deref() == Some(revision) && s.sync.status == SyncStatusCode::OutOfSync).then(|| blocked(a))?
}

fn release(w: &World) -> String {
    w.kubectl(&["get", "configmap", "settings", "-o", "jsonpath={.metadata.annotations.release}"])
}

fn commit(w: &World, release: &str) -> String {
    w.repo.write("app/cm.yaml", &configmap("settings", &format!("release: {release}")));
    w.repo.commit(release)
}

#[tokio::test]
async fn a_deny_window_holds_automation_refuses_manual_syncs_unless_allowed_and_its_end_lets_automation_sync() -> Result<(), Error> {
    let w = World::with_resync("deny-window", NO_RESYNC).await?;
    let one = commit(&w, "one");
    project(&w, "team", json!([])).await;
    w.app("web", "app", json!({ "project": "team", "syncPolicy": { "automated": {} } })).await?;
    w.wait_app("web", "synced", |a| (a.status.as_ref()?.sync.revision.as_deref() == Some(one.as_str())).then_some(())).await?;
    w.wait_app("web", "synced", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())).await?;

    // A deny window open now, for an hour from every minute.
    set_windows(&w, "team", json!([{ "kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["web"] }])).await;
    refresh_until(&w, "web", "held by the window", blocked).await?;
    let two = commit(&w, "two");
    let message = refresh_until(&w, "web", "the new commit held", |a| held_at(a, &two)).await?;
    assert_eq!(message, "Sync Denied by deny window 0 of project team", "no end in sight: every minute reopens it");
    assert_eq!(release(&w), "one", "the new commit is not deployed");

    // A manual sync is refused, with the reason.
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed);
    assert_eq!(op.message.as_deref(), Some("cannot sync: Sync Denied by deny window 0 of project team"));
    assert_eq!(release(&w), "one");

    // With manualSync it goes through; automation still waits.
    set_windows(
        &w,
        "team",
        json!([{ "kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["web"], "manualSync": true }]),
    )
    .await;
    refresh_until(&w, "web", "manual syncs allowed", |a| blocked(a).filter(|m| m.ends_with("; a manual sync may run"))).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{:?}", op.message);
    assert_eq!(release(&w), "two");

    // A window for the current minute only: it ends at the next minute
    // boundary, and automation then syncs with nobody waking the app. Start
    // early enough in a minute that the window is still open once the
    // controller has seen it and the commit; a minute that rolls over
    // anyway shows as a sync without a hold, and the next minute is tried.
    for attempt in 0..3 {
        let now = Timestamp::now().to_zoned(TimeZone::UTC);
        if now.second() > 25 {
            tokio::time::sleep(Duration::from_secs(61 - now.second() as u64)).await;
        }
        let now = Timestamp::now().to_zoned(TimeZone::UTC);
        let schedule = format!("{} {} * * *", now.minute(), now.hour());
        set_windows(&w, "team", json!([{ "kind": "deny", "schedule": schedule, "duration": "1m", "applications": ["web"] }])).await;
        refresh_until(&w, "web", "held by this minute's window", |a| blocked(a).filter(|m| m.contains(" until "))).await?;
        let next = commit(&w, &format!("three-{attempt}"));
        let held = refresh_until(&w, "web", "the commit compared", |a| {
            let s = a.status.as_ref()?;
            (s.sync.revision.as_deref() == Some(next.as_str())).then(|| held_at(a, &next))
        })
        .await?;
        let Some(message) = held else {
            eprintln!("the minute rolled over before the commit was held; trying again");
            continue;
        };
        assert!(message.starts_with("Sync Denied by deny window 0 of project team until "), "{message}");
        // Nothing wakes the app from here on but the window's end.
        wait_for("automation's sync at the window's end", WINDOW_END, || async {
            let a = w.apps.get("web").await.map_err(|e| e.to_string())?;
            let last = a.status.as_ref().and_then(|s| s.history.last()).map(|h| h.revision.clone());
            if last.as_deref() == Some(next.as_str()) && blocked(&a).is_none() { Ok(()) } else { Err(common::summary(&a)) }
        })
        .await?;
        assert_eq!(release(&w), format!("three-{attempt}"));
        return Ok(());
    }
    panic!("three minutes rolled over before a commit was held");
}

#[tokio::test]
async fn an_allow_window_elsewhere_in_time_and_a_broken_window_hold_automation() -> Result<(), Error> {
    let w = World::with_resync("allow-window", NO_RESYNC).await?;
    let one = commit(&w, "one");
    // Twelve hours from now, for an hour: certainly not open now.
    let hour = (Timestamp::now().to_zoned(TimeZone::UTC).hour() + 12) % 24;
    project(&w, "night", json!([{ "kind": "allow", "schedule": format!("0 {hour} * * *"), "duration": "1h", "namespaces": ["*"] }])).await;
    project(&w, "broken", json!([{ "kind": "deny", "schedule": "0 9 * * *", "duration": "-1h", "clusters": ["nowhere"] }])).await;
    w.app("nightly", "app", json!({ "project": "night", "syncPolicy": { "automated": {} } })).await?;
    w.app("fixme", "app", json!({ "project": "broken", "syncPolicy": { "automated": {} } })).await?;

    let message = refresh_until(&w, "nightly", "held outside the allow window", |a| held_at(a, &one)).await?;
    assert!(message.starts_with("Sync Denied outside the allow windows of project night until "), "{message}");
    assert!(message.ends_with(&format!("{hour:02}:00:00 UTC")), "{message}");
    // Even though its window names another cluster: the project's windows
    // cannot be trusted, so nothing of it syncs.
    let message = refresh_until(&w, "fixme", "held by the broken window", |a| held_at(a, &one)).await?;
    assert_eq!(
        message,
        "Sync Denied until a broken sync window is fixed: project broken: sync window 0: duration \"-1h\": \
         negative; a window lasts a positive duration"
    );
    assert!(!w.exists("configmap", "settings"), "neither app deployed anything");
    for app in ["nightly", "fixme"] {
        let a = w.apps.get(app).await.expect("app");
        assert!(a.status.as_ref().is_some_and(|s| s.history.is_empty() && s.operation_state.is_none()), "{app}: no sync ran");
    }
    Ok(())
}
