//! Helm hooks with Helm's meaning: `pre-install` only on an app's first
//! sync, `pre-upgrade` only on later ones; argocd-cm `helm.hooks: argocd`
//! (or an app's `driftless.dev/helm-hooks`) keeps Argo CD's mapping, which
//! runs both on every sync. helm must be on PATH (scripts/tools/helm.sh).

mod common;

use common::World;
use driftless_api::{OperationPhase, OperationState};
use driftless_testkit::Error;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// A chart whose two hook Jobs say which occasion ran them.
fn chart(w: &World, message: &str) {
    w.repo.write("chart/Chart.yaml", "apiVersion: v2\nname: hooked\nversion: 1.0.0\n");
    w.repo.write("chart/values.yaml", &format!("message: {message}\n"));
    w.repo.write(
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  message: {{ .Values.message | quote }}\n",
    );
    let job = |hook: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{{{ .Release.Name }}}}-{hook}\n  annotations:\n    helm.sh/hook: {hook}\n\
             spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: app:v1\n"
        )
    };
    w.repo.write("chart/templates/hooks.yaml", &format!("{}---\n{}", job("pre-install"), job("pre-upgrade")));
}

/// The hooks the operation ran, by name.
fn hooks_run(op: &OperationState) -> Vec<String> {
    let results = op.sync_result.as_ref().map(|r| r.resources.as_slice()).unwrap_or_default();
    results.iter().filter(|r| r.hook_type.is_some()).map(|r| r.name.clone()).collect()
}

/// Waits for the app's sync of `revision` to finish successfully.
async fn synced_at(w: &World, app: &str, revision: &str) -> Result<OperationState, Error> {
    let op = w
        .wait_app(app, &format!("a finished sync of {revision}"), |a| {
            let s = a.status.as_ref()?.operation_state.as_ref()?;
            (s.phase.is_completed() && s.sync_result.as_ref()?.revision == revision).then(|| s.clone())
        })
        .await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    Ok(op)
}

async fn argocd_cm(w: &World, data: serde_json::Value) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": data});
    kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(w.ns.client(), w.name())
        .patch("argocd-cm", &PatchParams::apply("test").force(), &Patch::Apply(cm))
        .await
        .expect("write argocd-cm");
}

/// An automated app of the chart whose `driftless.dev/helm-hooks` is `mode`.
async fn annotated_app(w: &World, name: &str, mode: &str) -> Result<(), Error> {
    let app: driftless_api::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": w.name(), "annotations": { "driftless.dev/helm-hooks": mode } },
        "spec": {
            "project": "default",
            "source": { "repoURL": w.repo.url(), "targetRevision": "main", "path": "chart" },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": w.name() },
            "syncPolicy": { "automated": {} },
        },
    }))
    .expect("an Application");
    w.apps.create(&Default::default(), &app).await.map_err(|source| Error::Kube { what: format!("create app {name}"), source })?;
    Ok(())
}

#[tokio::test]
async fn pre_install_runs_on_the_first_sync_and_pre_upgrade_on_later_ones() -> Result<(), Error> {
    let w = World::new("helm-hooks").await?;
    chart(&w, "one");
    let first = w.repo.commit("chart");
    w.app("web", "chart", json!({ "syncPolicy": { "automated": {} } })).await?;
    let op = synced_at(&w, "web", &first).await?;
    assert_eq!(hooks_run(&op), ["web-pre-install"], "{op:?}");
    assert!(op.message.as_deref().unwrap_or_default().contains("Helm hooks: install"), "{op:?}");
    assert!(!w.exists("job", "web-pre-upgrade"), "the upgrade hook did not run on the install");

    chart(&w, "two");
    let second = w.repo.commit("a change");
    let op = synced_at(&w, "web", &second).await?;
    assert_eq!(hooks_run(&op), ["web-pre-upgrade"], "{op:?}");
    assert!(op.message.as_deref().unwrap_or_default().contains("Helm hooks: upgrade"), "{op:?}");
    assert!(w.exists("job", "web-pre-upgrade"));
    Ok(())
}

#[tokio::test]
async fn helm_hooks_argocd_runs_both_on_every_sync_unless_the_app_says_helm() -> Result<(), Error> {
    let w = World::new("helm-hooks-argocd").await?;
    argocd_cm(&w, json!({ "helm.hooks": "argocd" })).await;
    chart(&w, "one");
    let first = w.repo.commit("chart");
    w.app("argo", "chart", json!({ "syncPolicy": { "automated": {} } })).await?;
    let op = synced_at(&w, "argo", &first).await?;
    assert_eq!(hooks_run(&op), ["argo-pre-install", "argo-pre-upgrade"], "{op:?}");

    // The app's annotation overrides argocd-cm.
    annotated_app(&w, "own", "helm").await?;
    let op = synced_at(&w, "own", &first).await?;
    assert_eq!(hooks_run(&op), ["own-pre-install"], "{op:?}");

    // A bad annotation fails the sync, naming it.
    annotated_app(&w, "bad", "Helm 3").await?;
    let op = w
        .wait_app("bad", "a failed sync", |a| {
            let s = a.status.as_ref()?.operation_state.as_ref()?;
            (s.phase == OperationPhase::Failed).then(|| s.clone())
        })
        .await?;
    assert!(op.message.as_deref().unwrap_or_default().contains("driftless.dev/helm-hooks"), "{op:?}");
    Ok(())
}
