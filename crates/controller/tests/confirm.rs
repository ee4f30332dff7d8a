//! `Prune=confirm` under automation: an automated sync with prune that
//! would delete such a resource applies everything else and waits, its
//! operation Running with a PruneConfirmationRequired condition, until a
//! person sets `argocd.argoproj.io/deletion-approved`; that wakes the app,
//! the resource is pruned and the sync completes.

mod common;

use common::{World, configmap, deployment};
use driftless_api::{ANNOTATION_DELETION_APPROVED, OperationPhase, ResultCode, condition};
use driftless_testkit::Error;
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn an_automated_sync_waits_for_the_confirmation_of_a_prune_confirm_resource() -> Result<(), Error> {
    let w = World::new("confirm-auto").await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.write("app/guarded.yaml", &configmap("guarded", "argocd.argoproj.io/sync-options: Prune=confirm"));
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "prune": true } } })).await?;
    w.wait_app("web", "synced with the guarded ConfigMap", |a| {
        a.status.as_ref()?.operation_state.as_ref()?.phase.eq(&OperationPhase::Succeeded).then_some(())
    })
    .await?;
    assert!(w.exists("configmap", "guarded"));

    w.repo.remove("app/guarded.yaml");
    w.repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1.27"));
    let v2 = w.repo.commit("v2: the guarded ConfigMap leaves Git");
    let message = w
        .wait_app("web", "waiting for the confirmation", |a| {
            let s = a.status.as_ref()?;
            let op = s.operation_state.as_ref()?;
            let waiting = op.phase == OperationPhase::Running && op.sync_result.as_ref()?.revision == v2;
            let c = s.conditions.iter().find(|c| c.type_ == condition::PRUNE_CONFIRMATION_REQUIRED)?;
            waiting.then(|| (op.message.clone().unwrap_or_default(), c.message.clone()))
        })
        .await?;
    assert!(message.0.contains("waiting for pruning confirmation of ConfigMap") && message.0.contains("guarded"), "{message:?}");
    assert!(w.exists("configmap", "guarded"), "not pruned without a confirmation");
    let replicas = w.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "2", "the rest of the revision is applied meanwhile");

    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({ "metadata": { "annotations": { ANNOTATION_DELETION_APPROVED: now } } });
    w.apps
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::Kube { what: "approve".into(), source })?;
    let op = w
        .wait_app("web", "the sync to complete", |a| {
            let s = a.status.as_ref()?;
            let op = s.operation_state.as_ref()?;
            (op.phase.is_completed() && !s.conditions.iter().any(|c| c.type_ == condition::PRUNE_CONFIRMATION_REQUIRED)).then(|| op.clone())
        })
        .await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    let result = op.sync_result.expect("results").resources.into_iter().find(|r| r.name == "guarded").and_then(|r| r.status);
    assert_eq!(result, Some(ResultCode::Pruned));
    assert!(!w.exists("configmap", "guarded"), "pruned once confirmed");
    Ok(())
}
