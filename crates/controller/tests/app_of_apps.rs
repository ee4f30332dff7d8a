//! App-of-apps against the real dev control plane: a parent whose Git path
//! holds child Applications in two sync waves. The second wave waits until
//! the first wave's child is Synced and Healthy at the spec the parent just
//! gave it, on the first sync and on later ones (argo-cd #8778); the parent
//! is as healthy as its children (argo-cd #6708); argocd-cm's
//! `application.childHealth: "false"` turns that off.
//!
//! A child is held Progressing by a Deployment whose image the fake kubelet
//! never makes Ready (tag `crashloop`), and released by a commit that gives
//! it a healthy image, so no test depends on how long anything takes.

mod common;

use common::{World, deployment};
use driftless_api::{Application, HealthStatusCode, OperationPhase, SyncStatusCode};
use driftless_testkit::Error;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Writes a child Application manifest into the parent's path: automated,
/// in `wave`, deploying `path` of the same repository into the test namespace.
fn child(w: &World, name: &str, wave: i32, path: &str) {
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "annotations": {"argocd.argoproj.io/sync-wave": wave.to_string()}},
        "spec": {
            "project": "default",
            "source": {"repoURL": w.repo.url(), "targetRevision": "main", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": w.name()},
            "syncPolicy": {"automated": {}},
        },
    });
    // JSON is YAML.
    w.repo.write(&format!("parent/{name}.yaml"), &serde_json::to_string_pretty(&app).expect("JSON"));
}

/// A Deployment `name` at `path`: `image` tagged `crashloop` never becomes available.
fn workload(w: &World, path: &str, name: &str, image: &str) {
    w.repo.write(&format!("{path}/deploy.yaml"), &deployment(name, 1, image));
}

fn health(a: &Application) -> Option<HealthStatusCode> {
    Some(a.status.as_ref()?.health.status)
}

fn spec_path(a: &Application) -> Option<String> {
    a.spec.source.as_ref()?.path.clone()
}

/// The path the app's status was compared against.
fn compared_path(a: &Application) -> Option<String> {
    a.status.as_ref()?.sync.compared_to.as_ref()?.source.as_ref()?.path.clone()
}

fn phase(a: &Application) -> Option<OperationPhase> {
    Some(a.status.as_ref()?.operation_state.as_ref()?.phase)
}

/// The phase of the app's sync of `revision`, once its state is written
/// (an automated sync shows it a second in, or at its end).
async fn sync_of(w: &World, app: &str, revision: &str) -> Result<OperationPhase, Error> {
    w.wait_app(app, &format!("a sync of {revision} shown"), |a| {
        let op = a.status.as_ref()?.operation_state.as_ref()?;
        (op.operation.sync.as_ref()?.revision.as_deref()? == revision).then_some(op.phase)
    })
    .await
}

fn synced(a: &Application) -> bool {
    a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced)
}

/// The health the parent's status shows for its child app `name`.
fn child_health(parent: &Application, name: &str) -> Option<driftless_api::HealthStatus> {
    parent.status.as_ref()?.resources.iter().find(|r| r.kind == "Application" && r.name == name)?.health.clone()
}

/// Waits until `app` is Synced with `health` at `path` (its status compared
/// against the spec that names that path).
async fn wait_at(w: &World, app: &str, path: &str, want: HealthStatusCode) -> Result<Application, Error> {
    w.wait_app(app, &format!("Synced and {want} at {path}"), |a| {
        (synced(a) && compared_path(a)? == path && spec_path(a)? == path && health(a)? == want).then(|| a.clone())
    })
    .await
}

async fn get(w: &World, app: &str) -> Result<Option<Application>, Error> {
    w.apps.get_opt(app).await.map_err(|source| Error::Kube { what: format!("read app {app}"), source })
}

#[tokio::test]
async fn each_wave_of_child_apps_waits_for_the_previous_one_on_every_sync() -> Result<(), Error> {
    let w = World::new("app-of-apps").await?;
    child(&w, "first", 1, "first");
    child(&w, "second", 2, "second");
    workload(&w, "first", "web", "example/web:crashloop");
    workload(&w, "second", "api", "example/api:crashloop");
    let waves = w.repo.commit("two waves of child apps");
    w.app("parent", "parent", json!({"syncPolicy": {"automated": {}}})).await?;

    // Wave 1's child is created, synced, and held Progressing: the parent's
    // sync waits on it, and wave 2's child is not created.
    wait_at(&w, "first", "first", HealthStatusCode::Progressing).await?;
    assert_eq!(sync_of(&w, "parent", &waves).await?, OperationPhase::Running, "the parent's sync waits for wave 1");
    assert!(get(&w, "second").await?.is_none(), "wave 2 is not created while wave 1's child is Progressing");

    // Wave 1's child becomes Healthy: only then is wave 2's created.
    workload(&w, "first", "web", "example/web:1");
    w.repo.commit("first: a healthy image");
    w.wait_app("second", "created", |_| Some(())).await?;
    let first = get(&w, "first").await?.expect("first exists");
    assert_eq!((health(&first), synced(&first)), (Some(HealthStatusCode::Healthy), true), "wave 2 came after wave 1 was Healthy");

    // The parent's sync is done, but the parent is Progressing while wave
    // 2's child is, and says which child holds it. The parent's record of
    // wave 1's child may lag its own status by one reconcile: wait for both.
    let parent = w
        .wait_app("parent", "sync done, Progressing on its second child only", |a| {
            let first_healthy = child_health(a, "first")?.status == HealthStatusCode::Healthy;
            (phase(a)? == OperationPhase::Succeeded && health(a)? == HealthStatusCode::Progressing && first_healthy).then(|| a.clone())
        })
        .await?;
    let held = child_health(&parent, "second").expect("the child app has a health");
    assert_eq!(held.status, HealthStatusCode::Progressing);
    assert!(held.message.as_deref().unwrap_or_default().starts_with("child app second "), "{held:?}");

    // Then Healthy once both children are.
    workload(&w, "second", "api", "example/api:1");
    w.repo.commit("second: a healthy image");
    wait_at(&w, "second", "second", HealthStatusCode::Healthy).await?;
    w.wait_app("parent", "Synced and Healthy", |a| (synced(a) && health(a)? == HealthStatusCode::Healthy).then_some(())).await?;

    // A second sync changes both children's specs. Their statuses still say
    // Healthy, of the old specs: wave 2 waits until wave 1's child is Synced
    // and Healthy at its new one.
    child(&w, "first", 1, "first-v2");
    child(&w, "second", 2, "second-v2");
    workload(&w, "first-v2", "web", "example/web:crashloop");
    workload(&w, "second-v2", "api", "example/api:2");
    let moved = w.repo.commit("both children move");
    wait_at(&w, "first", "first-v2", HealthStatusCode::Progressing).await?;
    assert_eq!(sync_of(&w, "parent", &moved).await?, OperationPhase::Running, "the parent's second sync waits for wave 1");
    let second = get(&w, "second").await?.expect("second exists");
    assert_eq!(spec_path(&second).as_deref(), Some("second"), "wave 2 is not updated while wave 1's child is Progressing at its new spec");

    workload(&w, "first-v2", "web", "example/web:2");
    w.repo.commit("first-v2: a healthy image");
    w.wait_app("second", "updated by the parent", |a| (spec_path(a)? == "second-v2").then_some(())).await?;
    let first = get(&w, "first").await?.expect("first exists");
    assert_eq!(
        (compared_path(&first).as_deref(), health(&first), synced(&first)),
        (Some("first-v2"), Some(HealthStatusCode::Healthy), true),
        "wave 2 came after wave 1 was Synced and Healthy at its new spec"
    );
    wait_at(&w, "second", "second-v2", HealthStatusCode::Healthy).await?;
    w.wait_app("parent", "second sync done, Synced and Healthy", |a| {
        (phase(a)? == OperationPhase::Succeeded && synced(a) && health(a)? == HealthStatusCode::Healthy).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn with_child_health_off_the_parent_does_not_wait() -> Result<(), Error> {
    let w = World::new("app-of-apps-off").await?;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"},
                    "data": {"application.childHealth": "false"}});
    Api::<ConfigMap>::namespaced(w.ns.client(), w.name())
        .patch("argocd-cm", &PatchParams::apply("test").force(), &Patch::Apply(cm))
        .await
        .map_err(|source| Error::Kube { what: "write argocd-cm".into(), source })?;
    child(&w, "first", 1, "first");
    child(&w, "second", 2, "second");
    // Wave 1's child never becomes Healthy.
    workload(&w, "first", "web", "example/web:crashloop");
    workload(&w, "second", "api", "example/api:1");
    w.repo.commit("two waves of child apps");
    w.app("parent", "parent", json!({"syncPolicy": {"automated": {}}})).await?;

    // The parent creates both waves and is Healthy: its children have no health.
    let parent = w
        .wait_app("parent", "synced, Healthy", |a| {
            (phase(a)? == OperationPhase::Succeeded && synced(a) && health(a)? == HealthStatusCode::Healthy).then(|| a.clone())
        })
        .await?;
    assert_eq!(child_health(&parent, "first"), None, "an Application child has no health with childHealth off");
    assert!(get(&w, "second").await?.is_some(), "wave 2 was created");
    let first = wait_at(&w, "first", "first", HealthStatusCode::Progressing).await?;
    assert_eq!(health(&first), Some(HealthStatusCode::Progressing), "wave 1's child was never Healthy");
    let app_of_apps = |a: &Application| a.status.as_ref().is_some_and(|s| s.summary.is_app_of_apps);
    assert!(app_of_apps(&parent) && !app_of_apps(&first), "Argo CD's status.summary.isAppOfApps: the parent's alone");
    Ok(())
}
