//! App events end to end: what the controller publishes on its bus and
//! records as Kubernetes Events (`kubectl describe application` shows
//! them), with the revision and initiator, once per occurrence.

mod common;

use common::{TIMEOUT, World, configmap, deployment};
use driftless_api::{HealthStatusCode, OperationPhase, SyncStatusCode};
use driftless_engine::events::{AppEvent, Initiator};
use driftless_testkit::{Error, wait_for};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

/// The Events on the app `name`, as `(reason, type, message, count)`.
async fn events(w: &World, name: &str) -> Vec<(String, String, String, i32)> {
    let api: Api<Event> = Api::namespaced(w.ns.client(), w.name());
    let listed = api.list(&ListParams::default().fields(&format!("involvedObject.name={name}"))).await.expect("list events");
    let mut found: Vec<_> = listed
        .items
        .into_iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("Application"))
        .map(|e| (e.reason.unwrap_or_default(), e.type_.unwrap_or_default(), e.message.unwrap_or_default(), e.count.unwrap_or(1)))
        .collect();
    found.sort();
    found
}

/// Waits until the app has an Event `reason` whose message satisfies `says`.
async fn wait_event(w: &World, app: &str, reason: &str, says: impl Fn(&str) -> bool) -> Result<(String, String, String, i32), Error> {
    wait_for(&format!("an Event {reason} on {app}"), TIMEOUT, || async {
        let all = events(w, app).await;
        all.iter().find(|e| e.0 == reason && says(&e.2)).cloned().ok_or_else(|| format!("{all:#?}"))
    })
    .await
}

/// Commits `files` under `app/`, creates the app `web` of them and asks
/// for its sync; the commit.
async fn sync_new_app(w: &World, files: &[(&str, &str)]) -> Result<String, Error> {
    for (name, content) in files {
        w.repo.write(&format!("app/{name}"), content);
    }
    let rev = w.repo.commit("app");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    Ok(rev)
}

fn synced_healthy(a: &driftless_api::Application) -> Option<()> {
    let s = a.status.as_ref()?;
    (s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy).then_some(())
}

#[tokio::test]
async fn an_automated_sync_is_recorded_from_start_to_end_with_its_revision() -> Result<(), Error> {
    let w = World::new("ev-auto").await?;
    let mut bus = w.events.subscribe();
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    let rev = w.repo.commit("web");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    w.wait_app("web", "Synced and Healthy", synced_healthy).await?;

    let started = wait_event(&w, "web", "OperationStarted", |m| m == format!("Initiated automated sync to '{rev}'")).await?;
    assert_eq!(started.1, "Normal");
    let done = wait_event(&w, "web", "OperationCompleted", |m| m == format!("Sync operation to {rev} succeeded")).await?;
    assert_eq!((done.1.as_str(), done.3), ("Normal", 1));
    wait_event(&w, "web", "Deployed", |m| m == format!("Deployed revision {rev}")).await?;
    wait_event(&w, "web", "ResourceUpdated", |m| m.starts_with("Updated sync status: ") && m.ends_with("-> Synced")).await?;
    wait_event(&w, "web", "ResourceUpdated", |m| m.starts_with("Updated health status: ") && m.ends_with("-> Healthy")).await?;

    // As Argo CD writes them: on the Application, from its controller.
    let api: Api<Event> = Api::namespaced(w.ns.client(), w.name());
    let app = w.apps.get("web").await.expect("app");
    let listed = api.list(&ListParams::default().fields("involvedObject.name=web,reason=OperationStarted")).await.expect("list");
    let e = listed.items.first().expect("the OperationStarted Event");
    let o = &e.involved_object;
    assert_eq!(
        (o.api_version.as_deref(), o.kind.as_deref(), o.namespace.as_deref(), o.uid.as_ref()),
        (Some("argoproj.io/v1alpha1"), Some("Application"), Some(w.name()), app.metadata.uid.as_ref())
    );
    assert_eq!(e.source.as_ref().and_then(|s| s.component.as_deref()), Some("argocd-application-controller"));
    assert_eq!(e.reporting_component.as_deref(), Some("driftless-application-controller"));
    assert!(e.first_timestamp.is_some() && e.last_timestamp.is_some());

    // The bus carried the same, with the app as written.
    let mut seen = Vec::new();
    while let Ok(p) = bus.try_recv() {
        assert_eq!(p.app.metadata.name.as_deref(), Some("web"));
        seen.push(p.event);
    }
    assert!(seen.contains(&AppEvent::SyncStarted { revision: rev.clone(), initiator: Initiator::Automated, partial: false }), "{seen:#?}");
    assert!(seen.contains(&AppEvent::SyncSucceeded { revision: Some(rev.clone()), partial: false }), "{seen:#?}");
    assert_eq!(seen.iter().filter(|e| matches!(e, AppEvent::SyncStarted { .. })).count(), 1, "one start per sync: {seen:#?}");
    Ok(())
}

#[tokio::test]
async fn a_requested_sync_names_its_user_and_nothing_new_is_recorded_twice() -> Result<(), Error> {
    let w = World::new("ev-user").await?;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    let rev = w.repo.commit("settings");
    w.app("web", "app", json!({})).await?;
    w.request_operation("web", json!({ "initiatedBy": { "username": "alice" }, "sync": {} })).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    wait_event(&w, "web", "OperationStarted", |m| m == format!("alice initiated sync to {rev}")).await?;
    wait_event(&w, "web", "OperationCompleted", |m| m == format!("Sync operation to {rev} succeeded")).await?;
    wait_event(&w, "web", "ResourceUpdated", |m| m == "Updated sync status: OutOfSync -> Synced").await?;
    let before = events(&w, "web").await;

    // A refresh makes the controller compare and write again: nothing it
    // writes is news.
    let refresh = json!({ "metadata": { "annotations": { "argocd.argoproj.io/refresh": "normal" } } });
    w.apps.patch("web", &PatchParams::default(), &Patch::Merge(refresh)).await.expect("refresh");
    // The controller takes the annotation away once it has written.
    w.wait_app("web", "refreshed", |a| {
        (!a.metadata.annotations.as_ref().is_some_and(|m| m.contains_key("argocd.argoproj.io/refresh"))).then_some(())
    })
    .await?;

    // Then bob syncs the same revision again: his start is new, its
    // completion the same as alice's, counted on her sync's Event. Events
    // are recorded in order, so once bob's are there, whatever the refresh
    // would have recorded is there too.
    w.request_operation("web", json!({ "initiatedBy": { "username": "bob" }, "sync": {} })).await?;
    wait_event(&w, "web", "OperationStarted", |m| m == format!("bob initiated sync to {rev}")).await?;
    wait_event(&w, "web", "OperationCompleted", |m| m == format!("Sync operation to {rev} succeeded")).await?;
    let after = wait_for("bob's sync counted", TIMEOUT, || async {
        let all = events(&w, "web").await;
        let counted = all.iter().any(|e| e.0 == "OperationCompleted" && e.3 == 2);
        if counted { Ok(all) } else { Err(format!("{all:#?}")) }
    })
    .await?;
    let mut expected = before.clone();
    for e in &mut expected {
        if e.0 == "OperationCompleted" {
            e.3 += 1;
        }
    }
    expected.push(("OperationStarted".into(), "Normal".into(), format!("bob initiated sync to {rev}"), 1));
    expected.sort();
    assert_eq!(after, expected, "before the refresh and bob's sync: {before:#?}");
    Ok(())
}

#[tokio::test]
async fn a_failed_sync_is_a_warning_and_an_unhealthy_app_says_so() -> Result<(), Error> {
    let w = World::new("ev-fail").await?;
    // Invalid for the API server (a negative replica count), and a Pod that
    // keeps crashing.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: crasher\nspec:\n  containers:\n  - name: main\n    image: example/crasher:crashloop\n";
    let rev = sync_new_app(&w, &[("deploy.yaml", &deployment("web", -1, "nginx:1.27")), ("pod.yaml", pod)]).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    let failed = wait_event(&w, "web", "OperationCompleted", |m| m.starts_with(&format!("Sync operation to {rev} failed: "))).await?;
    assert_eq!(failed.1, "Warning");
    assert!(failed.2.contains(op.message.as_deref().unwrap_or_default()), "the operation's message: {failed:?}");
    wait_event(&w, "web", "ResourceUpdated", |m| m.starts_with("Updated health status: ") && m.ends_with("-> Degraded")).await?;
    assert!(!events(&w, "web").await.iter().any(|e| e.0 == "Deployed"), "a failed sync deploys nothing");
    Ok(())
}

#[tokio::test]
async fn a_comparison_error_is_recorded_once_as_a_warning() -> Result<(), Error> {
    let w = World::new("ev-compare").await?;
    w.repo.write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\ndata: [\n");
    w.repo.commit("broken");
    w.app("web", "app", json!({})).await?;
    let e = wait_event(&w, "web", "ComparisonError", |m| m.contains("app/cm.yaml")).await?;
    assert_eq!(e.1, "Warning");
    // Compared again and again (every 2 s), still broken: the same
    // occurrence. A sync requested now is refused, and recorded after
    // whatever those comparisons would have recorded.
    let compared = w.apps.get("web").await.expect("app").status.and_then(|s| s.reconciled_at);
    w.wait_app("web", "compared again", |a| (a.status.as_ref()?.reconciled_at != compared).then_some(())).await?;
    w.request_operation("web", json!({ "initiatedBy": { "username": "bob" }, "sync": {} })).await?;
    let refused = wait_event(&w, "web", "OperationCompleted", |m| m.starts_with("Sync operation failed: cannot sync: ")).await?;
    assert_eq!(refused.1, "Warning");
    let errors: Vec<_> = events(&w, "web").await.into_iter().filter(|e| e.0 == "ComparisonError").collect();
    assert_eq!(errors, [e], "one Event, counted once");
    Ok(())
}

#[tokio::test]
async fn a_sync_running_past_the_limit_says_so_once() -> Result<(), Error> {
    let mut w = World::new("ev-long").await?;
    w.restart_with_sync_running_long(std::time::Duration::from_secs(1));
    // A Sync hook whose pod takes its time to start: the sync waits for it.
    let hook = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: slow\n  annotations:\n    argocd.argoproj.io/hook: Sync\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: example/hook:slow\n";
    let rev = sync_new_app(&w, &[("cm.yaml", &configmap("settings", "")), ("hook.yaml", hook)]).await?;
    let long =
        wait_event(&w, "web", "OperationRunningLong", |m| m.starts_with("Sync operation has been running for more than 1s (started at "))
            .await?;
    assert_eq!(long.1, "Warning");
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    // Recorded in order: once the end is there, so is every warning before it.
    wait_event(&w, "web", "OperationCompleted", |m| m == format!("Sync operation to {rev} succeeded")).await?;
    let warned: Vec<_> = events(&w, "web").await.into_iter().filter(|e| e.0 == "OperationRunningLong").collect();
    assert_eq!(warned, [long], "once per sync");
    Ok(())
}
