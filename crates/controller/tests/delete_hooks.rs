//! An app's cascade deletion: PreDelete hooks before its resources are
//! deleted (a failing one stops the deletion, with a condition), PostDelete
//! hooks once they are gone, and `Delete=confirm` resources that wait for a
//! person's confirmation.

mod common;

use common::{World, configmap};
use driftless_api::{ANNOTATION_DELETION_APPROVED, Application, RESOURCES_FINALIZER, SyncStatusCode, condition};
use driftless_testkit::{Error, wait_for};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// A hook Job; `image` `app:slow` runs ~30 s, `app:fail` fails.
fn hook_job(name: &str, hook: &str, image: &str, delete_policy: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/hook: {hook}\n    \
         argocd.argoproj.io/hook-delete-policy: \"{delete_policy}\"\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      \
         restartPolicy: Never\n      containers:\n      - name: main\n        image: {image}\n"
    )
}

/// Creates the app with the cascade finalizer and waits until it is synced.
async fn synced(w: &World, name: &str, path: &str) -> Result<(), Error> {
    w.app(name, path, json!({ "syncPolicy": { "automated": {} } })).await?;
    w.apps
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({ "metadata": { "finalizers": [RESOURCES_FINALIZER] } })))
        .await
        .expect("add the finalizer");
    w.wait_app(name, "Synced and Healthy", |a| {
        let s = a.status.as_ref()?;
        (s.sync.status == SyncStatusCode::Synced && s.health.status.as_str() == "Healthy" && !s.history.is_empty()).then_some(())
    })
    .await
}

async fn synced_then_deleted(w: &World, name: &str, path: &str) -> Result<(), Error> {
    synced(w, name, path).await?;
    w.kubectl(&["delete", "application", name, "--wait=false"]);
    Ok(())
}

async fn gone(w: &World, name: &str) -> Result<(), Error> {
    wait_for(&format!("app {name} to be gone"), common::TIMEOUT, || async {
        match w.apps.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(a) => Err(common::summary(&a)),
        }
    })
    .await
}

async fn deletion_error(w: &World, name: &str, containing: &str) -> Result<String, Error> {
    w.wait_app(name, &format!("a DeletionError naming {containing}"), |a: &Application| {
        a.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == condition::DELETION_ERROR && c.message.contains(containing))
            .map(|c| c.message.clone())
    })
    .await
}

fn job_completed(w: &World, name: &str) -> bool {
    w.kubectl(&["get", "job", name, "--ignore-not-found", "-o", "jsonpath={.status.succeeded}"]) == "1"
}

#[tokio::test]
async fn a_pre_delete_hook_runs_before_the_resources_go_and_a_post_delete_hook_after() -> Result<(), Error> {
    let w = World::new("predelete").await?;
    w.repo.write("app/cm.yaml", &configmap("web", ""));
    // The PreDelete hook runs ~30 s: long enough to look while it runs.
    w.repo.write("app/pre.yaml", &hook_job("drain", "PreDelete", "app:slow", "BeforeHookCreation"));
    // Kept once it succeeded (only HookFailed deletes it), to be looked at.
    w.repo.write("app/post.yaml", &hook_job("report", "PostDelete", "app:v1", "HookFailed"));
    w.repo.commit("an app with delete hooks");
    synced(&w, "web", "app").await?;
    assert!(!w.exists("job", "drain") && !w.exists("job", "report"), "deletion hooks never run in a sync");
    w.kubectl(&["delete", "application", "web", "--wait=false"]);

    // While the PreDelete hook runs, the app and its resources are there,
    // and the PostDelete hook is not.
    wait_for("the PreDelete hook to run", common::TIMEOUT, || async {
        let cm_there = w.exists("configmap", "web");
        let running = w.exists("job", "drain") && !job_completed(&w, "drain");
        if !running {
            return Err("not running");
        }
        assert!(cm_there, "the resources wait for the PreDelete hook");
        assert!(!w.exists("job", "report"), "the PostDelete hook waits for the resources to go");
        Ok(())
    })
    .await?;
    assert!(w.apps.get_opt("web").await.unwrap().is_some(), "the app waits for its hooks");

    gone(&w, "web").await?;
    assert!(!w.exists("configmap", "web"), "the resources are deleted");
    assert!(job_completed(&w, "report"), "the PostDelete hook ran, and is kept by its delete policy");
    wait_for("the PreDelete hook to be cleaned up", common::TIMEOUT, || async {
        if w.exists("job", "drain") { Err("still there") } else { Ok(()) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_failing_pre_delete_hook_stops_the_deletion_with_a_condition() -> Result<(), Error> {
    let w = World::new("predelete-fail").await?;
    w.repo.write("app/cm.yaml", &configmap("web", ""));
    w.repo.write("app/pre.yaml", &hook_job("drain", "PreDelete", "app:fail", "BeforeHookCreation"));
    w.repo.commit("an app whose PreDelete hook fails");
    synced_then_deleted(&w, "web", "app").await?;

    let msg = deletion_error(&w, "web", "drain").await?;
    assert!(msg.contains("PreDelete hook") && msg.contains("not deleted"), "{msg}");
    assert!(w.exists("configmap", "web"), "nothing is deleted");
    let app = w.apps.get("web").await.expect("the app stays");
    assert!(app.finalizers().iter().any(|f| f == RESOURCES_FINALIZER), "the finalizer stays");

    // The way out: remove the finalizer; the app goes, its resources stay.
    w.apps
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({ "metadata": { "finalizers": null } })))
        .await
        .expect("remove the finalizer");
    gone(&w, "web").await?;
    assert!(w.exists("configmap", "web"));
    Ok(())
}

#[tokio::test]
async fn a_delete_confirm_resource_stays_until_a_person_confirms() -> Result<(), Error> {
    let w = World::new("delete-confirm").await?;
    w.repo.write("app/plain.yaml", &configmap("plain", ""));
    w.repo.write("app/precious.yaml", &configmap("precious", "argocd.argoproj.io/sync-options: Delete=confirm"));
    w.repo.commit("an app with a resource to confirm");
    synced_then_deleted(&w, "web", "app").await?;

    let msg = deletion_error(&w, "web", "precious").await?;
    assert!(msg.contains("driftless app confirm-deletion web"), "{msg}");
    wait_for("the other resources to be deleted", common::TIMEOUT, || async {
        if w.exists("configmap", "plain") { Err("still there") } else { Ok(()) }
    })
    .await?;
    assert!(w.exists("configmap", "precious"), "waits for the confirmation");
    assert!(w.apps.get_opt("web").await.unwrap().is_some(), "the app waits too");

    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    w.apps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": { ANNOTATION_DELETION_APPROVED: now } } })),
        )
        .await
        .expect("confirm");
    gone(&w, "web").await?;
    assert!(!w.exists("configmap", "precious"), "deleted once confirmed");
    Ok(())
}
