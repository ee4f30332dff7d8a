//! Drop-in migration from Argo CD: tracking as argocd-cm configures it
//! (objects Argo CD 2.x deployed with its instance label), resource
//! exclusions, ignoreDifferences customizations, and the sync options
//! driftless refuses, against the real dev control plane.

mod common;

use common::{World, configmap};
use driftless_api::{Application, OperationPhase, SyncStatusCode};
use driftless_testkit::Error;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

/// Writes argocd-cm in the control plane (the test namespace).
async fn argocd_cm(w: &World, data: serde_json::Value) -> Result<(), Error> {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": data});
    cms(w)
        .patch("argocd-cm", &PatchParams::apply("test").force(), &Patch::Apply(cm))
        .await
        .map(drop)
        .map_err(|source| Error::Kube { what: "write argocd-cm".into(), source })
}

fn cms(w: &World) -> Api<ConfigMap> {
    Api::namespaced(w.ns.client(), w.name())
}

/// Creates a ConfigMap as another tool would (a plain create, not an apply).
async fn create(w: &World, name: &str, labels: serde_json::Value, annotations: serde_json::Value, value: &str) -> Result<String, Error> {
    let cm: ConfigMap = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels, "annotations": annotations}, "data": {"key": value}}))
    .expect("a ConfigMap");
    let created =
        cms(w).create(&PostParams::default(), &cm).await.map_err(|source| Error::Kube { what: format!("create {name}"), source })?;
    Ok(created.metadata.resource_version.unwrap_or_default())
}

async fn get(w: &World, name: &str) -> Option<ConfigMap> {
    cms(w).get_opt(name).await.expect("read a ConfigMap")
}

fn condition(a: &Application, type_: &str) -> Option<String> {
    a.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone())
}

fn resource_sync(a: &Application, name: &str) -> Option<SyncStatusCode> {
    a.status.as_ref()?.resources.iter().find(|r| r.name == name).map(|r| r.status)
}

fn synced(a: &Application) -> Option<()> {
    (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())
}

#[tokio::test]
async fn objects_argo_cd_2_deployed_with_its_label_are_the_apps_and_another_apps_are_left_alone() -> Result<(), Error> {
    let w = World::new("label-tracking").await?;
    argocd_cm(&w, json!({"application.resourceTrackingMethod": "label"})).await?;
    let argo_cd_2 = |app: &str| json!({"app.kubernetes.io/instance": app});
    // As Argo CD 2.x left them: its label, no tracking annotation.
    let rv_a = create(&w, "a", argo_cd_2("guestbook"), json!({}), "value").await?;
    let rv_b = create(&w, "b", argo_cd_2("guestbook"), json!({}), "value").await?;
    w.repo.write("app/a.yaml", &configmap("a", ""));
    w.repo.write("app/b.yaml", &configmap("b", ""));
    w.repo.commit("a and b");
    w.app("guestbook", "app", json!({})).await?;

    // Recognised and Synced, with nothing written.
    w.wait_app("guestbook", "Synced with a and b", |a| {
        synced(a)?;
        (resource_sync(a, "a")? == SyncStatusCode::Synced && resource_sync(a, "b")? == SyncStatusCode::Synced).then_some(())
    })
    .await?;
    assert_eq!(get(&w, "a").await.and_then(|c| c.metadata.resource_version), Some(rv_a), "a was not written");
    assert_eq!(get(&w, "b").await.and_then(|c| c.metadata.resource_version), Some(rv_b), "b was not written");

    // A file removed from Git is pruned.
    w.repo.remove("app/b.yaml");
    w.repo.commit("b leaves");
    w.wait_app("guestbook", "b requires pruning", |a| {
        a.status.as_ref()?.resources.iter().find(|r| r.name == "b" && r.requires_pruning).map(drop)
    })
    .await?;
    w.request_sync("guestbook", json!({"prune": true})).await?;
    let op = w.wait_operation("guestbook").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{:?}", op.message);
    assert!(get(&w, "b").await.is_none(), "b was pruned");
    let a = get(&w, "a").await.expect("a stays");
    assert_eq!(a.labels().get("app.kubernetes.io/instance").map(String::as_str), Some("guestbook"));
    assert!(!a.annotations().contains_key("argocd.argoproj.io/tracking-id"), "label tracking writes no annotation");

    // An object another app's label claims: a warning, never taken over.
    let rv_shared = create(&w, "shared", argo_cd_2("other"), json!({}), "theirs").await?;
    w.repo.write("app/shared.yaml", &configmap("shared", ""));
    w.repo.commit("shared");
    let warning = w.wait_app("guestbook", "SharedResourceWarning", |a| condition(a, "SharedResourceWarning")).await?;
    assert!(warning.contains("ConfigMap") && warning.contains("shared") && warning.contains("app other"), "{warning}");
    w.request_sync("guestbook", json!({"prune": true})).await?;
    let op = w.wait_operation("guestbook").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{:?}", op.message);
    let shared = get(&w, "shared").await.expect("never pruned");
    assert_eq!(shared.metadata.resource_version.as_ref(), Some(&rv_shared), "never applied");
    assert_eq!(shared.labels().get("app.kubernetes.io/instance").map(String::as_str), Some("other"));

    // FailOnSharedResource=true fails the sync, naming the object and the other app.
    w.request_sync("guestbook", json!({"syncOptions": ["FailOnSharedResource=true"]})).await?;
    let op = w.wait_operation("guestbook").await?;
    assert_eq!(op.phase, OperationPhase::Failed);
    let message = op.message.unwrap_or_default();
    assert!(message.contains("FailOnSharedResource") && message.contains("shared") && message.contains("other"), "{message}");
    assert_eq!(get(&w, "shared").await.and_then(|c| c.metadata.resource_version), Some(rv_shared));
    Ok(())
}

#[tokio::test]
async fn resource_exclusions_hide_a_kind_from_the_app_its_diff_and_its_pruning() -> Result<(), Error> {
    // A resync far away: the edit to argocd-cm itself must wake the app.
    let w = World::with_resync("exclusions", std::time::Duration::from_secs(600)).await?;
    w.repo.write("app/cm.yaml", &configmap("hidden", ""));
    w.repo.write("app/sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: visible\n");
    w.repo.commit("a ConfigMap and a ServiceAccount");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "prune": true } } })).await?;
    w.wait_app("web", "Synced with both", |a| (synced(a).is_some() && a.status.as_ref()?.resources.len() == 2).then_some(())).await?;
    assert!(get(&w, "hidden").await.is_some());

    // Excluded now: the app no longer shows, compares or prunes its ConfigMap.
    argocd_cm(&w, json!({"resource.exclusions": "- apiGroups: ['']\n  kinds: [ConfigMap]\n"})).await?;
    let a = w
        .wait_app("web", "the ConfigMap hidden", |a| {
            let kinds: Vec<&str> = a.status.as_ref()?.resources.iter().map(|r| r.kind.as_str()).collect();
            (kinds == ["ServiceAccount"] && condition(a, "ExcludedResourceWarning").is_some()).then(|| a.clone())
        })
        .await?;
    assert_eq!(a.status.as_ref().map(|s| s.sync.status), Some(SyncStatusCode::Synced), "nothing to diff");
    let warning = condition(&a, "ExcludedResourceWarning").unwrap_or_default();
    assert!(warning.contains("ConfigMap hidden is excluded"), "{warning}");
    assert!(get(&w, "hidden").await.is_some(), "an excluded kind is never pruned");
    assert!(!w.kubectl(&["get", "serviceaccount", "visible", "-o", "name"]).is_empty());

    // Hidden from the diff too: the live ConfigMap now differs from Git, and
    // a comparison requested after that edit still finds nothing to sync.
    let edit = Patch::Merge(json!({"data": {"key": "edited in the cluster"}}));
    cms(&w).patch("hidden", &PatchParams::default(), &edit).await.expect("edit the hidden ConfigMap");
    let refresh = Patch::Merge(json!({"metadata": {"annotations": {driftless_api::ANNOTATION_REFRESH: "normal"}}}));
    w.apps.patch("web", &PatchParams::default(), &refresh).await.expect("request a refresh");
    let a = w
        .wait_app("web", "compared after the edit", |a| {
            let kinds: Vec<&str> = a.status.as_ref()?.resources.iter().map(|r| r.kind.as_str()).collect();
            assert_eq!(kinds, ["ServiceAccount"], "status.resources never lists the excluded ConfigMap");
            (!a.annotations().contains_key(driftless_api::ANNOTATION_REFRESH)).then(|| a.clone())
        })
        .await?;
    assert_eq!(a.status.as_ref().map(|s| s.sync.status), Some(SyncStatusCode::Synced), "a hidden kind's drift is no difference");
    let live = get(&w, "hidden").await.and_then(|c| c.data).and_then(|d| d.get("key").cloned());
    assert_eq!(live.as_deref(), Some("edited in the cluster"), "nothing re-applied the hidden ConfigMap");
    Ok(())
}

#[tokio::test]
async fn an_ignore_differences_customization_hides_a_field_for_every_app() -> Result<(), Error> {
    let w = World::new("customization").await?;
    argocd_cm(&w, json!({"resource.customizations.ignoreDifferences.ConfigMap": "jsonPointers:\n- /data/tuned\n"})).await?;
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value\n  tuned: \"1\"\n");
    w.repo.write("app/one.yaml", &cm("one"));
    w.repo.write("app/two.yaml", &cm("two"));
    w.repo.commit("two ConfigMaps");
    w.app("settings", "app", json!({})).await?;
    w.request_sync("settings", json!({})).await?;
    assert_eq!(w.wait_operation("settings").await?.phase, OperationPhase::Succeeded);
    w.wait_app("settings", "Synced", synced).await?;

    // Someone tunes `one`'s ignored field, then changes `two`'s key: once
    // `two` shows the change, `one` has been compared after its edit too.
    let patch = |data: serde_json::Value| Patch::Merge(json!({"data": data}));
    cms(&w).patch("one", &PatchParams::default(), &patch(json!({"tuned": "2"}))).await.expect("tune one");
    cms(&w).patch("two", &PatchParams::default(), &patch(json!({"key": "edited"}))).await.expect("edit two");
    let a = w.wait_app("settings", "two OutOfSync", |a| (resource_sync(a, "two")? == SyncStatusCode::OutOfSync).then(|| a.clone())).await?;
    assert_eq!(resource_sync(&a, "one"), Some(SyncStatusCode::Synced), "argocd-cm's rule hides data.tuned");
    Ok(())
}

#[tokio::test]
async fn bad_settings_stop_everything_with_the_key_named_and_client_side_apply_is_refused() -> Result<(), Error> {
    let w = World::new("bad-settings").await?;
    argocd_cm(&w, json!({"resource.exclusions": "- kinds: {{{"})).await?;
    let tracked = json!({"argocd.argoproj.io/tracking-id": format!("web:/ConfigMap:{}/stale", w.name())});
    create(&w, "stale", json!({}), tracked, "value").await?;
    w.repo.write("app/cm.yaml", &configmap("web", ""));
    w.repo.commit("web");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "prune": true }, "syncOptions": ["ServerSideApply=false"] } })).await?;

    let error = w.wait_app("web", "ComparisonError", |a| condition(a, "ComparisonError")).await?;
    assert!(error.contains("argocd-cm resource.exclusions"), "{error}");
    assert!(get(&w, "stale").await.is_some(), "nothing is pruned while the settings are bad");

    // Fixed settings: the comparison works, and the sync refuses to apply client-side.
    cms(&w).delete("argocd-cm", &DeleteParams::default()).await.expect("delete argocd-cm");
    let op = w
        .wait_app("web", "a failed sync", |a| {
            let s = a.status.as_ref()?.operation_state.as_ref()?;
            (s.phase == OperationPhase::Failed).then(|| s.clone())
        })
        .await?;
    let message = op.message.unwrap_or_default();
    assert!(message.contains("ServerSideApply=false") && message.contains("always applies server-side"), "{message}");
    assert!(get(&w, "stale").await.is_some() && get(&w, "web").await.is_none(), "the refused sync changed nothing");
    Ok(())
}
