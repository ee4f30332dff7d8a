//! The sync engine end to end: Git -> render -> diff -> sync -> health,
//! against the real dev control plane, one namespace and controller per test.

mod common;

use common::{World, configmap, deployment};
use driftless_api::{HealthStatusCode, HookPhase, HookType, OperationPhase, ResultCode, SyncStatusCode};
use driftless_testkit::Error;
use futures::{StreamExt, TryStreamExt};
use kube::api::{WatchEvent, WatchParams};
use serde_json::json;

fn synced_healthy(a: &driftless_api::Application) -> Option<()> {
    let s = a.status.as_ref()?;
    (s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy).then_some(())
}

/// A hook Job whose pod runs `image` to completion. `name` is its name line
/// (`name: x`, or `generateName: x-`); `annotations`, more annotation lines.
fn hook_job(name: &str, hook: &str, annotations: &str, image: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  {name}\n  annotations:\n    argocd.argoproj.io/hook: {hook}\n{annotations}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: {image}\n"
    )
}

#[tokio::test]
async fn a_plain_directory_app_syncs_automatically_and_becomes_healthy() -> Result<(), Error> {
    let w = World::new("directory").await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1.27"));
    w.repo.write("app/cm.yaml", &configmap("web-config", ""));
    w.repo.write("app/README.md", "not a manifest");
    let rev = w.repo.commit("web");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "prune": true } } })).await?;

    w.wait_app("web", "Synced and Healthy", synced_healthy).await?;
    let app = w.apps.get("web").await.expect("app");
    let status = app.status.expect("status");
    assert_eq!(status.sync.revision.as_deref(), Some(rev.as_str()));
    assert_eq!(status.resources.len(), 2);
    assert_eq!(status.summary.images, ["nginx:1.27"]);
    assert_eq!(status.history.len(), 1, "one sync recorded");
    assert!(status.history[0].initiated_by.as_ref().is_some_and(|i| i.automated));
    let tracking = w.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.metadata.annotations.argocd\\.argoproj\\.io/tracking-id}"]);
    // The app lives in the control plane: its bare name, as Argo CD writes it.
    assert_eq!(tracking, format!("web:apps/Deployment:{}/web", w.name()));
    Ok(())
}

#[tokio::test]
async fn a_kustomize_overlay_app_syncs_with_its_overlay_applied() -> Result<(), Error> {
    let w = World::new("kustomize").await?;
    w.repo.write("base/kustomization.yaml", "resources: [deploy.yaml]\n");
    w.repo.write("base/deploy.yaml", &deployment("api", 1, "api:1.0"));
    w.repo.write(
        "overlays/production/kustomization.yaml",
        "resources: [../../base]\nnamePrefix: prod-\nreplicas:\n- name: api\n  count: 3\n",
    );
    w.repo.commit("base and overlay");
    w.app(
        "api",
        "overlays/production",
        json!({
            "syncPolicy": { "automated": {} },
            "source": { "kustomize": { "images": ["api=registry.local/api:2.0"], "commonLabels": { "env": "production" } } }
        }),
    )
    .await?;

    w.wait_app("api", "Synced and Healthy", synced_healthy).await?;
    let d = w.kubectl(&[
        "get",
        "deployment",
        "prod-api",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.labels.env}",
    ]);
    assert_eq!(d, "3 registry.local/api:2.0 production");
    Ok(())
}

#[tokio::test]
async fn an_overlay_of_a_remote_base_syncs_the_base_at_its_ref() -> Result<(), Error> {
    let w = World::new("remote-base").await?;
    let shared = driftless_testkit::GitRepo::new();
    shared.write("base/kustomization.yaml", "resources: [deploy.yaml]\n");
    shared.write("base/deploy.yaml", &deployment("api", 1, "api:1.0"));
    shared.commit("base v1");
    shared.git(&["tag", "v1"]);
    shared.write("base/deploy.yaml", &deployment("api", 1, "api:unreleased"));
    shared.commit("work in progress");
    let base = format!("{}//base?ref=v1", shared.url());
    w.repo.write("overlay/kustomization.yaml", &format!("resources:\n- {base}\nnamePrefix: prod-\nreplicas:\n- name: api\n  count: 2\n"));
    w.repo.commit("overlay of a remote base");
    w.app("api", "overlay", json!({ "syncPolicy": { "automated": {} } })).await?;

    w.wait_app("api", "Synced and Healthy", synced_healthy).await?;
    let d = w.kubectl(&["get", "deployment", "prod-api", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"]);
    assert_eq!(d, "2 api:1.0", "the base at tag v1, with the overlay applied");
    Ok(())
}

#[tokio::test]
async fn a_new_commit_makes_a_manual_app_out_of_sync_until_synced_and_prune_respects_prune_false() -> Result<(), Error> {
    let w = World::new("manual").await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.write("app/old.yaml", &configmap("old", ""));
    w.repo.write("app/keep.yaml", &configmap("keep", "argocd.argoproj.io/sync-options: Prune=false"));
    w.repo.commit("v1");
    w.app("web", "app", json!({})).await?;

    w.wait_app("web", "OutOfSync before any sync", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::OutOfSync).then_some(())).await?;
    assert!(!w.exists("deployment", "web"), "a manual app is not synced by itself");
    w.request_sync("web", json!({ "prune": true })).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    w.wait_app("web", "Synced", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())).await?;

    // A new commit: replicas change, two files are deleted.
    w.repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1.27"));
    w.repo.remove("app/old.yaml");
    w.repo.remove("app/keep.yaml");
    let v2 = w.repo.commit("v2");
    w.wait_app("web", "OutOfSync at the new revision", |a| {
        let s = a.status.as_ref()?;
        (s.sync.status == SyncStatusCode::OutOfSync && s.sync.revision.as_deref() == Some(v2.as_str())).then_some(())
    })
    .await?;
    let app = w.apps.get("web").await.expect("app");
    let pruning: Vec<_> = app.status.unwrap().resources.into_iter().filter(|r| r.requires_pruning).map(|r| r.name).collect();
    assert_eq!(pruning, ["keep", "old"], "resources that left Git require pruning");

    w.request_sync("web", json!({ "prune": true })).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    let results = op.sync_result.expect("results").resources;
    let result = |name: &str| results.iter().find(|r| r.name == name).and_then(|r| r.status);
    assert_eq!(result("old"), Some(ResultCode::Pruned));
    assert_eq!(result("keep"), Some(ResultCode::PruneSkipped));
    assert!(!w.exists("configmap", "old"), "pruned");
    assert!(w.exists("configmap", "keep"), "Prune=false is never pruned");
    assert_eq!(w.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "2");
    Ok(())
}

#[tokio::test]
async fn a_first_sync_creates_what_the_server_accepts_and_fails_on_the_rest() -> Result<(), Error> {
    let w = World::new("first").await?;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    // Invalid for the API server (a negative replica count).
    w.repo.write("app/deploy.yaml", &deployment("web", -1, "nginx:1.27"));
    w.repo.commit("one invalid object");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    let results = op.sync_result.expect("results").resources;
    let result = |name: &str| results.iter().find(|r| r.name == name).map(|r| (r.status, r.message.clone()));
    let (code, message) = result("web").expect("a result for the Deployment");
    assert_eq!(code, Some(ResultCode::SyncFailed));
    assert!(message.contains("replicas"), "the server's reason: {message}");
    // Nothing ran before: the app's first sync creates what the server
    // accepts, as Argo CD does, and reports the rest.
    assert_eq!(result("settings").map(|r| r.0), Some(Some(ResultCode::Synced)));
    assert!(w.exists("configmap", "settings"));
    Ok(())
}

#[tokio::test]
async fn a_sync_that_would_change_a_running_app_changes_nothing_when_one_object_is_invalid() -> Result<(), Error> {
    let w = World::new("atomic").await?;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("v1");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    assert_eq!(w.wait_operation("web").await?.phase, OperationPhase::Succeeded);

    w.repo.write("app/cm.yaml", &configmap("settings", "").replace("key: value", "key: two"));
    w.repo.write("app/deploy.yaml", &deployment("web", -1, "nginx:1.27"));
    let v2 = w.repo.commit("v2: a changed ConfigMap and an invalid Deployment");
    w.wait_app("web", "OutOfSync at v2", |a| (a.status.as_ref()?.sync.revision.as_deref() == Some(v2.as_str())).then_some(())).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    assert!(op.message.as_deref().is_some_and(|m| m.contains("nothing was changed")), "{op:?}");
    assert_eq!(w.kubectl(&["get", "configmap", "settings", "-o", "jsonpath={.data.key}"]), "value", "the running app is as it was");
    assert!(!w.exists("deployment", "web"));
    Ok(())
}

/// A ConfigMap that cannot change once created (`immutable: true`).
fn immutable_configmap(name: &str, annotations: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nimmutable: true\ndata:\n  key: {value}\n"
    )
}

/// An immutable field changes only by re-creating the object: a plain sync
/// fails naming it and changes nothing; Argo CD's `syncStrategy.apply.force`
/// (`argocd app sync --force`) re-creates it, and so does a plain sync of a
/// resource annotated `Force=true`.
#[tokio::test]
async fn an_immutable_change_fails_a_plain_sync_and_a_forced_one_re_creates_the_object() -> Result<(), Error> {
    let w = World::new("force").await?;
    let forced = "argocd.argoproj.io/sync-options: Force=true";
    w.repo.write("app/frozen.yaml", &immutable_configmap("frozen", "", "one"));
    w.repo.write("app/annotated.yaml", &immutable_configmap("annotated", forced, "one"));
    w.repo.commit("v1");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    assert_eq!(w.wait_operation("web").await?.phase, OperationPhase::Succeeded);
    // (uid, data.key) of the live ConfigMap.
    let live = |name: &str| {
        let out = w.kubectl(&["get", "configmap", name, "-o", "jsonpath={.metadata.uid} {.data.key}"]);
        let (uid, value) = out.split_once(' ').unwrap_or((out.as_str(), ""));
        (uid.to_string(), value.to_string())
    };
    let (frozen_v1, annotated_v1) = (live("frozen"), live("annotated"));

    w.repo.write("app/frozen.yaml", &immutable_configmap("frozen", "", "two"));
    let v2 = w.repo.commit("v2: frozen's data changes");
    w.wait_app("web", "OutOfSync at v2", |a| (a.status.as_ref()?.sync.revision.as_deref() == Some(v2.as_str())).then_some(())).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    let message = op.message.unwrap_or_default();
    assert!(message.contains("frozen") && message.contains("immutable"), "the object and the reason: {message}");
    assert_eq!((live("frozen"), live("annotated")), (frozen_v1.clone(), annotated_v1.clone()), "the failed sync changed nothing");

    w.request_sync("web", json!({ "syncStrategy": { "apply": { "force": true } } })).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    let frozen_v2 = live("frozen");
    assert_ne!(frozen_v2.0, frozen_v1.0, "re-created: a new uid");
    assert_eq!(frozen_v2.1, "two");
    assert_eq!(live("annotated"), annotated_v1, "an object already as in Git is left alone");

    // Force=true on the resource: a plain sync re-creates it.
    w.repo.write("app/annotated.yaml", &immutable_configmap("annotated", forced, "two"));
    let v3 = w.repo.commit("v3: annotated's data changes");
    w.wait_app("web", "OutOfSync at v3", |a| (a.status.as_ref()?.sync.revision.as_deref() == Some(v3.as_str())).then_some(())).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    let annotated_v3 = live("annotated");
    assert_ne!(annotated_v3.0, annotated_v1.0, "re-created: a new uid");
    assert_eq!(annotated_v3.1, "two");
    Ok(())
}

#[tokio::test]
async fn a_finished_sync_is_first_seen_with_the_state_it_left() -> Result<(), Error> {
    let w = World::new("finished").await?;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("v1");
    w.app("web", "app", json!({})).await?;
    w.wait_app("web", "OutOfSync", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::OutOfSync).then_some(())).await?;
    let from = w.apps.get("web").await.expect("app").metadata.resource_version.unwrap_or_default();
    let params = WatchParams::default().fields("metadata.name=web").timeout(60);
    let mut versions = w.apps.watch(&params, &from).await.expect("watch the app").boxed();
    w.request_sync("web", json!({})).await?;
    // Every version of the app a watcher (a UI, a CI gate) sees, in order.
    while let Some(event) = versions.try_next().await.expect("watch event") {
        let WatchEvent::Modified(a) = event else { continue };
        let status = a.status.expect("status");
        if status.operation_state.as_ref().is_some_and(|o| o.phase.is_completed()) {
            assert_eq!(status.operation_state.map(|o| o.phase), Some(OperationPhase::Succeeded));
            assert_eq!(status.sync.status, SyncStatusCode::Synced, "not the comparison from before the sync");
            return Ok(());
        }
    }
    panic!("the watch ended before the sync finished");
}

#[tokio::test]
async fn waves_and_hooks_run_in_order_and_delete_policies_apply() -> Result<(), Error> {
    let w = World::new("waves").await?;
    w.repo.write("app/presync.yaml", &hook_job("name: migrate", "PreSync", "", "busybox:1.36"));
    w.repo.write(
        "app/postsync.yaml",
        &hook_job("name: smoke", "PostSync", "    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n", "busybox:1.36"),
    );
    w.repo.write("app/first.yaml", &configmap("first", "argocd.argoproj.io/sync-wave: \"-1\""));
    w.repo.write("app/second.yaml", &configmap("second", ""));
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.write("app/third.yaml", &configmap("third", "argocd.argoproj.io/sync-wave: \"1\""));
    w.repo.commit("waves");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");

    // Results are recorded in the order the steps happened.
    let order: Vec<String> = op.sync_result.expect("results").resources.iter().map(|r| format!("{}/{}", r.kind, r.name)).collect();
    assert_eq!(order, ["Job/migrate", "ConfigMap/first", "ConfigMap/second", "Deployment/web", "ConfigMap/third", "Job/smoke"]);
    // The API server's own clock agrees: each ConfigMap was created after
    // the previous wave (resourceVersions grow with every write).
    let rv = |name: &str| w.kubectl(&["get", "configmap", name, "-o", "jsonpath={.metadata.resourceVersion}"]).parse::<u64>().expect("rv");
    assert!(rv("first") < rv("second") && rv("second") < rv("third"));
    // PreSync keeps its default BeforeHookCreation policy; PostSync asked to go.
    assert!(w.exists("job", "migrate"));
    driftless_testkit::wait_for("the HookSucceeded hook to be deleted", common::TIMEOUT, || async {
        if w.exists("job", "smoke") { Err("still there") } else { Ok(()) }
    })
    .await
}

#[tokio::test]
async fn a_sync_cut_off_by_a_crash_goes_on_from_its_wave_and_runs_each_hook_once() -> Result<(), Error> {
    let mut w = World::new("resume").await?;
    w.repo.write("app/pre.yaml", &hook_job("name: pre", "PreSync", "", "nginx:1.27"));
    w.repo.write("app/zero.yaml", &configmap("zero", ""));
    w.repo.write("app/one.yaml", &configmap("one", r#"argocd.argoproj.io/sync-wave: "1""#));
    // Wave 1's Sync hook takes 30 s (`:slow`): the crash comes while it
    // runs. It has only a generateName: the restarted sync must find it by
    // the name the sync gave it.
    let wave_one = "    argocd.argoproj.io/sync-wave: \"1\"\n";
    w.repo.write("app/during.yaml", &hook_job("generateName: during-", "Sync", wave_one, "nginx:slow"));
    w.repo.write("app/post.yaml", &hook_job("name: post", "PostSync", "", "nginx:1.27"));
    w.repo.commit("a hook in every phase, two waves");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;

    let during = w
        .wait_app("web", "PreSync done, wave 1 applied and its hook running", |a| {
            let results = &a.status.as_ref()?.operation_state.as_ref()?.sync_result.as_ref()?.resources;
            let result = |hook: Option<HookType>, name: &str| results.iter().find(|r| r.hook_type == hook && r.name.starts_with(name));
            let pre_done = result(Some(HookType::PreSync), "pre")?.hook_phase == Some(HookPhase::Succeeded);
            let one_applied = result(None, "one")?.status == Some(ResultCode::Synced);
            let during = result(Some(HookType::Sync), "during-")?;
            (pre_done && one_applied && during.hook_phase == Some(HookPhase::Running)).then(|| during.name.clone())
        })
        .await?;
    // The state says Running before the Job exists: crash once it does.
    driftless_testkit::wait_for("the Sync hook's Job", common::TIMEOUT, || async {
        if w.exists("job", &during) { Ok(()) } else { Err("not created yet") }
    })
    .await?;
    let uid = |w: &World, job: &str| w.kubectl(&["get", "job", job, "-o", "jsonpath={.metadata.uid}"]);
    let (pre_uid, during_uid) = (uid(&w, "pre"), uid(&w, &during));
    w.crash_controller();
    assert!(!w.exists("job", "post"), "the crash came before PostSync");

    w.start_controller();
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    assert_eq!(uid(&w, "pre"), pre_uid, "the PreSync hook that had succeeded was not run again");
    assert_eq!(uid(&w, &during), during_uid, "the running hook was waited for, not created again");
    let jobs = w.kubectl(&["get", "jobs", "-o", "name"]);
    assert_eq!(jobs.lines().count(), 3, "one Job per hook: {jobs}");
    for job in ["pre", during.as_str(), "post"] {
        assert_eq!(w.kubectl(&["get", "job", job, "-o", "jsonpath={.status.succeeded}"]), "1", "{job} ran once");
    }
    let results = op.sync_result.expect("results").resources;
    let hooks: Vec<_> = results.iter().filter(|r| r.hook_type.is_some()).map(|r| (r.hook_type, r.name.as_str(), r.hook_phase)).collect();
    let succeeded = Some(HookPhase::Succeeded);
    assert_eq!(
        hooks,
        [
            (Some(HookType::PreSync), "pre", succeeded),
            (Some(HookType::Sync), during.as_str(), succeeded),
            (Some(HookType::PostSync), "post", succeeded)
        ],
        "one result per hook"
    );
    assert!(w.exists("configmap", "zero") && w.exists("configmap", "one"));
    Ok(())
}

#[tokio::test]
async fn a_failing_presync_hook_fails_the_sync_applies_nothing_and_runs_sync_fail() -> Result<(), Error> {
    let w = World::new("presync-fail").await?;
    w.repo.write("app/migrate.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: migrations:fail\n");
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.write("app/on-fail.yaml", &configmap("sync-failed", "argocd.argoproj.io/hook: SyncFail"));
    w.repo.commit("broken migration");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    assert!(op.message.as_deref().unwrap_or("").contains("PreSync"), "{op:?}");
    assert!(!w.exists("deployment", "web"), "nothing of the Sync phase is applied");
    assert!(w.exists("configmap", "sync-failed"), "the SyncFail hook ran");
    let app = w.apps.get("web").await.expect("app");
    assert!(app.status.unwrap().conditions.iter().any(|c| c.type_ == "SyncError"));
    Ok(())
}

#[tokio::test]
async fn a_crashlooping_workload_makes_the_app_degraded() -> Result<(), Error> {
    let w = World::new("degraded").await?;
    // A short progress deadline, so the Deployment controller gives up on
    // the rollout within the test (the default is 10 minutes).
    let dep = deployment("web", 1, "app:crashloop").replace(
        "spec:
  replicas",
        "spec:
  progressDeadlineSeconds: 5
  replicas",
    );
    w.repo.write("app/deploy.yaml", &dep);
    w.repo.commit("crash");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    let message = w
        .wait_app("web", "Degraded", |a| {
            let s = a.status.as_ref()?;
            let dep = s.resources.iter().find(|r| r.kind == "Deployment")?.health.clone()?;
            (s.health.status == HealthStatusCode::Degraded && dep.status == HealthStatusCode::Degraded)
                .then(|| dep.message.unwrap_or_default())
        })
        .await?;
    assert!(message.contains("progress deadline"), "{message}");
    Ok(())
}

#[tokio::test]
async fn invalid_yaml_is_a_comparison_error_and_nothing_is_pruned() -> Result<(), Error> {
    let w = World::new("invalid").await?;
    w.repo.write("app/cm.yaml", &configmap("precious", ""));
    w.repo.commit("ok");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "prune": true, "selfHeal": true } } })).await?;
    w.wait_app("web", "Synced", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())).await?;

    w.repo.write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: precious\ndata: [\n");
    w.repo.commit("broken");
    let msg = w
        .wait_app("web", "ComparisonError", |a| {
            a.status.as_ref()?.conditions.iter().find(|c| c.type_ == "ComparisonError").map(|c| c.message.clone())
        })
        .await?;
    assert!(msg.contains("app/cm.yaml") && msg.contains("invalid YAML"), "the error names the file: {msg}");
    let app = w.apps.get("web").await.expect("app");
    assert_eq!(app.status.unwrap().sync.status, SyncStatusCode::Unknown);
    assert!(w.exists("configmap", "precious"), "nothing is pruned after a failed render");
    Ok(())
}

#[tokio::test]
async fn an_unknown_revision_and_an_unreachable_repository_are_clear_conditions() -> Result<(), Error> {
    let w = World::new("badsource").await?;
    w.repo.write("app/cm.yaml", &configmap("a", ""));
    w.repo.commit("ok");
    w.app("branch", "app", json!({ "source": { "targetRevision": "no-such-branch" } })).await?;
    let missing = format!("file://{}/does-not-exist", w.repo.path().display());
    w.app("repo", "app", json!({ "source": { "repoURL": missing } })).await?;
    let condition = |a: &driftless_api::Application| {
        a.status.as_ref()?.conditions.iter().find(|c| c.type_ == "ComparisonError").map(|c| c.message.clone())
    };
    let msg = w.wait_app("branch", "ComparisonError", condition).await?;
    assert!(msg.contains("no-such-branch") && msg.contains("not found"), "{msg}");
    let msg = w.wait_app("repo", "ComparisonError", condition).await?;
    assert!(msg.contains("does-not-exist") && msg.contains("unreachable"), "{msg}");
    Ok(())
}

#[tokio::test]
async fn ignore_differences_hides_what_it_names() -> Result<(), Error> {
    let w = World::new("ignore").await?;
    w.repo.write("app/deploy.yaml", &deployment("scaled", 1, "nginx:1.27"));
    w.repo.write("app/other.yaml", &deployment("watched", 1, "nginx:1.27"));
    w.repo.commit("two deployments");
    w.app(
        "web",
        "app",
        json!({ "ignoreDifferences": [{ "group": "apps", "kind": "Deployment", "name": "scaled", "jsonPointers": ["/spec/replicas"] }] }),
    )
    .await?;
    w.request_sync("web", json!({})).await?;
    assert_eq!(w.wait_operation("web").await?.phase, OperationPhase::Succeeded);
    w.wait_app("web", "Synced", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())).await?;

    w.kubectl(&["scale", "deployment", "scaled", "--replicas", "3"]);
    w.kubectl(&["scale", "deployment", "watched", "--replicas", "3"]);
    let out_of_sync = w
        .wait_app("web", "watched OutOfSync", |a| {
            let s = a.status.as_ref()?;
            let watched = s.resources.iter().find(|r| r.name == "watched")?;
            (watched.status == SyncStatusCode::OutOfSync).then(|| s.resources.clone())
        })
        .await?;
    let scaled = out_of_sync.iter().find(|r| r.name == "scaled").expect("scaled listed");
    assert_eq!(scaled.status, SyncStatusCode::Synced, "the ignored field does not count");

    // With RespectIgnoreDifferences a sync leaves the ignored field as it is live.
    w.request_sync("web", json!({ "syncOptions": ["RespectIgnoreDifferences=true"] })).await?;
    assert_eq!(w.wait_operation("web").await?.phase, OperationPhase::Succeeded);
    assert_eq!(w.kubectl(&["get", "deployment", "scaled", "-o", "jsonpath={.spec.replicas}"]), "3");
    assert_eq!(w.kubectl(&["get", "deployment", "watched", "-o", "jsonpath={.spec.replicas}"]), "1");
    Ok(())
}

#[tokio::test]
async fn a_failed_sync_is_retried_with_backoff() -> Result<(), Error> {
    let w = World::new("retry").await?;
    let later = format!("{}-later", w.name());
    w.repo.write(
        "app/cm.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: needs-namespace\n  namespace: {later}\ndata: {{a: b}}\n"),
    );
    w.repo.commit("needs a namespace that comes later");
    w.app("web", "app", json!({})).await?;
    // The first attempt fails; the namespace appears; a retry succeeds.
    w.request_operation(
        "web",
        json!({
            "sync": {},
            "retry": { "limit": 5, "backoff": { "duration": "1s", "factor": 2, "maxDuration": "4s" } }
        }),
    )
    .await?;
    w.wait_app("web", "a retry", |a| a.status.as_ref()?.operation_state.as_ref()?.retry_count.filter(|n| *n >= 1)).await?;
    w.kubectl(&["create", "namespace", &later]);
    let op = w.wait_operation("web").await;
    w.kubectl(&["delete", "namespace", &later, "--wait=false"]);
    let op = op?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    assert!(op.retry_count.unwrap_or(0) >= 1, "{op:?}");
    Ok(())
}

#[tokio::test]
async fn rollback_returns_to_an_earlier_revision_from_history() -> Result<(), Error> {
    let w = World::new("rollback").await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.26"));
    let v1 = w.repo.commit("v1");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    assert_eq!(w.wait_operation("web").await?.phase, OperationPhase::Succeeded);
    w.repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1.27"));
    let v2 = w.repo.commit("v2");
    w.wait_app("web", "v2 seen", |a| (a.status.as_ref()?.sync.revision.as_deref() == Some(v2.as_str())).then_some(())).await?;
    w.request_sync("web", json!({})).await?;
    assert_eq!(w.wait_operation("web").await?.phase, OperationPhase::Succeeded);
    assert_eq!(w.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "2");

    let app = w.apps.get("web").await.expect("app");
    let first = app.status.unwrap().history.into_iter().find(|h| h.revision == v1).expect("v1 in history");
    w.request_sync("web", json!({ "revision": first.revision, "source": first.source })).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    assert_eq!(
        w.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"]),
        "1 nginx:1.26"
    );
    let app = w.apps.get("web").await.expect("app");
    let status = app.status.unwrap();
    assert_eq!(status.history.last().map(|h| h.revision.as_str()), Some(v1.as_str()), "the rollback is recorded");
    // Git still says v2: the app reports the difference.
    w.wait_app("web", "OutOfSync with v2", |a| {
        let s = a.status.as_ref()?;
        (s.sync.status == SyncStatusCode::OutOfSync && s.sync.revision.as_deref() == Some(v2.as_str())).then_some(())
    })
    .await
}

#[tokio::test]
async fn a_lua_health_check_decides_the_health_of_a_custom_resource() -> Result<(), Error> {
    let w = World::new("lua").await?;
    w.repo.write("app/crd.yaml", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n");
    // Same wave as its CRD: the CRD is established before the Widget is applied.
    w.repo.write("app/widget.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  broken: true\n");
    w.repo.commit("crd and widget");
    let script = "hs = {}\nif obj.spec.broken then\n  hs.status = \"Degraded\"\n  hs.message = \"the widget is broken\"\nelse\n  hs.status = \"Healthy\"\nend\nreturn hs\n";
    w.kubectl(&["create", "configmap", "argocd-cm", &format!("--from-literal=resource.customizations.health.example.com_Widget={script}")]);
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    let health = w
        .wait_app("web", "the Widget's health from Lua", |a| {
            let r = a.status.as_ref()?.resources.iter().find(|r| r.kind == "Widget")?.health.clone()?;
            (r.status == HealthStatusCode::Degraded).then_some(r)
        })
        .await?;
    assert_eq!(health.message.as_deref(), Some("the widget is broken"));
    Ok(())
}

#[tokio::test]
async fn an_argo_cd_documentation_example_application_applies_unchanged() -> Result<(), Error> {
    let w = World::new("argo-example").await?;
    // From Argo CD's "Declarative Setup" documentation, verbatim but for
    // the namespace the test owns.
    let manifest = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: guestbook\n  namespace: {}\n  finalizers:\n    - resources-finalizer.argocd.argoproj.io\n  labels:\n    name: guestbook\nspec:\n  project: default\n  source:\n    repoURL: https://github.com/argoproj/argocd-example-apps.git\n    targetRevision: HEAD\n    path: guestbook\n    directory:\n      recurse: true\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: guestbook\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n      allowEmpty: false\n    syncOptions:\n    - Validate=false\n    - CreateNamespace=true\n    - PrunePropagationPolicy=foreground\n    - PruneLast=true\n    retry:\n      limit: 5\n      backoff:\n        duration: 5s\n        factor: 2\n        maxDuration: 3m\n  revisionHistoryLimit: 10\n",
        w.name()
    );
    let path = w.repo.path().join("guestbook-app.yaml");
    std::fs::write(&path, &manifest).expect("write");
    // Server-side dry run: the CRD schema accepts it as written. (Applying
    // it for real would make the controller reach out to GitHub.)
    w.kubectl(&["apply", "--server-side", "--dry-run=server", "-f", path.to_str().expect("utf-8")]);
    let value: serde_json::Value = serde_saphyr::from_str(&manifest).expect("yaml");
    let app: driftless_api::Application = serde_json::from_value(value.clone()).expect("the types read it");
    let back = serde_json::to_value(&app).expect("serialize");
    assert_eq!(back["spec"], value["spec"], "nothing is lost or added in a round trip");
    Ok(())
}

#[tokio::test]
async fn terminating_a_running_sync_stops_it_before_its_next_wave() -> Result<(), Error> {
    let w = World::new("terminate").await?;
    // Wave 0 takes 30 s to become healthy (`:slow`); wave 1 waits for it.
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:slow"));
    w.repo.write("app/cm.yaml", &configmap("after", r#"argocd.argoproj.io/sync-wave: "1""#));
    w.repo.commit("v1");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    w.wait_app("web", "sync running", |a| (a.status.as_ref()?.operation_state.as_ref()?.phase == OperationPhase::Running).then_some(()))
        .await?;

    // What Argo CD's terminate (and driftless' API) writes.
    w.apps
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "status": { "operationState": { "phase": "Terminating" } } })),
        )
        .await
        .map_err(|source| Error::Kube { what: "terminate".into(), source })?;
    let state = w.wait_operation("web").await?;
    assert_eq!(state.phase, OperationPhase::Failed);
    assert_eq!(state.message.as_deref(), Some("Operation terminated"));
    assert!(!w.exists("configmap", "after"), "the next wave never ran");
    Ok(())
}
