//! Continuous reconciliation: live-state watches, self-heal, refresh,
//! automation's rules, restarts and app deletion — with a resync period
//! long enough that only events and requests can explain what happens.

mod common;

use std::time::Duration;

use common::{World, configmap, deployment};
use driftless_api::{HealthStatusCode, OperationPhase, SyncStatusCode};
use driftless_testkit::{Error, install_secret_controller_crds, wait_for};
use serde_json::json;

/// Longer than any test: the timer never fires.
const NO_RESYNC: Duration = Duration::from_secs(3600);

fn replicas(w: &World, name: &str) -> String {
    w.kubectl(&["get", "deployment", name, "-o", "jsonpath={.spec.replicas}"])
}

async fn synced(w: &World, app: &str) -> Result<(), Error> {
    w.wait_app(app, "Synced", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())).await
}

#[tokio::test]
async fn self_heal_reverts_scale_edit_and_delete() -> Result<(), Error> {
    let w = World::with_resync("selfheal", NO_RESYNC).await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1.27"));
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "prune": true, "selfHeal": true } } })).await?;
    synced(&w, "web").await?;
    assert_eq!(replicas(&w, "web"), "2");

    w.kubectl(&["scale", "deployment", "web", "--replicas", "5"]);
    wait_for("kubectl scale to be reverted", common::TIMEOUT, || async {
        let r = replicas(&w, "web");
        if r == "2" { Ok(()) } else { Err(r) }
    })
    .await?;

    w.kubectl(&["set", "image", "deployment/web", "main=nginx:hacked"]);
    wait_for("the image edit to be reverted", common::TIMEOUT, || async {
        let image = w.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
        if image == "nginx:1.27" { Ok(()) } else { Err(image) }
    })
    .await?;

    w.kubectl(&["delete", "configmap", "settings"]);
    wait_for("the deleted ConfigMap to be re-created", common::TIMEOUT, || async {
        if w.exists("configmap", "settings") { Ok(()) } else { Err("missing") }
    })
    .await
}

#[tokio::test]
async fn automation_syncs_a_newer_commit_right_after_an_operation_that_left_the_app_behind() -> Result<(), Error> {
    // No resync: only the end of the operation can make automation look again.
    let w = World::with_resync("after-op", NO_RESYNC).await?;
    w.repo.write("app/cm.yaml", &configmap("settings", "release: one"));
    let one = w.repo.commit("one");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    synced(&w, "web").await?;
    w.repo.write("app/cm.yaml", &configmap("settings", "release: two"));
    let two = w.repo.commit("two");
    // A sync of the older commit (as a restart resumes an interrupted one):
    // the app ends it behind Git.
    w.request_sync("web", json!({ "revision": one })).await?;
    w.wait_app("web", "the older commit synced, then automation's sync of the newer one", |a| {
        let revisions: Vec<&str> = a.status.as_ref()?.history.iter().map(|h| h.revision.as_str()).collect();
        (revisions == [one.as_str(), one.as_str(), two.as_str()]).then_some(())
    })
    .await?;
    let release = w.kubectl(&["get", "configmap", "settings", "-o", "jsonpath={.metadata.annotations.release}"]);
    assert_eq!(release, "two");
    Ok(())
}

#[tokio::test]
async fn without_self_heal_drift_shows_as_out_of_sync_and_stays() -> Result<(), Error> {
    let w = World::with_resync("drift", NO_RESYNC).await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    synced(&w, "web").await?;

    w.kubectl(&["scale", "deployment", "web", "--replicas", "4"]);
    w.wait_app("web", "OutOfSync after the scale", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::OutOfSync).then_some(())).await?;
    // Further events keep it so; nothing reverts it.
    w.kubectl(&["annotate", "deployment", "web", "touched=yes"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let app = w.apps.get("web").await.expect("app");
    assert_eq!(app.status.unwrap().sync.status, SyncStatusCode::OutOfSync);
    assert_eq!(replicas(&w, "web"), "4", "drift is left alone without selfHeal");
    Ok(())
}

#[tokio::test]
async fn a_refresh_annotation_picks_up_a_new_commit_and_is_removed() -> Result<(), Error> {
    let w = World::with_resync("refresh", NO_RESYNC).await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    synced(&w, "web").await?;

    w.repo.write("app/deploy.yaml", &deployment("web", 3, "nginx:1.27"));
    let v2 = w.repo.commit("v2");
    w.kubectl(&["annotate", "application", "web", "argocd.argoproj.io/refresh=normal"]);
    w.wait_app("web", "synced to v2", |a| {
        let s = a.status.as_ref()?;
        (s.sync.status == SyncStatusCode::Synced && s.sync.revision.as_deref() == Some(v2.as_str())).then_some(())
    })
    .await?;
    assert_eq!(replicas(&w, "web"), "3");
    w.wait_app("web", "the refresh annotation removed", |a| {
        (!a.metadata.annotations.as_ref().is_some_and(|m| m.contains_key("argocd.argoproj.io/refresh"))).then_some(())
    })
    .await
}

/// Waits until the controller has not reconciled anything for two seconds.
async fn quiet(w: &World) -> Result<(), Error> {
    let mut last = -1.0;
    wait_for("the controller to go quiet", common::TIMEOUT, || {
        let before = last;
        last = w.metric("driftless_app_reconcile_seconds_count", &[]);
        let now = last;
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if now == before { Ok(()) } else { Err(format!("{now} reconciles")) }
        }
    })
    .await
}

/// Waits until the app `name` is Synced and Healthy.
async fn synced_and_healthy(w: &World, name: &str) -> Result<(), Error> {
    w.wait_app(name, "Synced and Healthy", |a| {
        let s = a.status.as_ref()?;
        (s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy).then_some(())
    })
    .await
}

/// Runs kubectl with `args` and waits until the event it makes wakes an app.
async fn woken_by(w: &World, args: &[&str]) -> Result<(), Error> {
    let reconciles = w.metric("driftless_app_reconcile_seconds_count", &[]);
    w.kubectl(args);
    wait_for("the event to wake the app", common::TIMEOUT, || async {
        let n = w.metric("driftless_app_reconcile_seconds_count", &[]);
        if n > reconciles { Ok(()) } else { Err(format!("{n} reconciles")) }
    })
    .await
}

#[tokio::test]
async fn an_event_that_changes_nothing_costs_no_dry_run_and_no_status_write() -> Result<(), Error> {
    let w = World::with_resync("quiet", NO_RESYNC).await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    for i in 0..3 {
        w.repo.write(&format!("app/cm{i}.yaml"), &configmap(&format!("settings-{i}"), ""));
    }
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    synced_and_healthy(&w, "web").await?;
    quiet(&w).await?;
    let before = w.apps.get("web").await.expect("app");
    assert_eq!(before.status.as_ref().unwrap().history.len(), 1, "one automated sync for one revision: {}", common::summary(&before));

    let patches = w.metric("driftless_kube_requests_total", &[r#"verb="patch""#]);
    let gets = w.metric("driftless_kube_requests_total", &[r#"verb="get""#]);
    // Someone else's annotation: an event on a managed object, no drift.
    woken_by(&w, &["annotate", "configmap", "settings-0", "touched=yes"]).await?;
    quiet(&w).await?;
    let after = w.apps.get("web").await.expect("app");
    assert_eq!(
        w.metric("driftless_kube_requests_total", &[r#"verb="patch""#]) - patches,
        0.0,
        "no dry run: an annotation the manifest does not set cannot change the verdict; nor is the unchanged status written"
    );
    assert_eq!(
        w.metric("driftless_kube_requests_total", &[r#"verb="get""#]) - gets,
        1.0,
        "the ConfigMap that changed is fetched; the live index shows the others unchanged since they were compared"
    );
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "status unchanged, not rewritten");
    assert_eq!(after.status.unwrap().sync.status, SyncStatusCode::Synced);
    Ok(())
}

/// The Deployment `web` with an annotation Git sets.
fn annotated_deployment() -> String {
    deployment("web", 1, "nginx:1.27").replacen("metadata:\n  name: web\n", "metadata:\n  name: web\n  annotations: {team: web}\n", 1)
}

/// Requests of the app `web` for Deployments, by verb (dry runs apart).
fn deployment_requests(w: &World, verb: &str, dry_run: bool) -> f64 {
    let (verb, dry_run) = (format!(r#"verb="{verb}""#), format!(r#"dry_run="{dry_run}""#));
    w.metric("argocd_app_k8s_request_total", &[r#"name="web""#, r#"resource_kind="deployments""#, &verb, &dry_run])
}

#[tokio::test]
async fn a_rollout_is_followed_to_healthy_by_the_watch_without_fetching_the_deployment() -> Result<(), Error> {
    let w = World::with_resync("rollout", NO_RESYNC).await?;
    w.repo.write("app/deploy.yaml", &annotated_deployment());
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    // The apply returns the Deployment before any rollout: Healthy can only
    // come from the status writes the watch saw after it.
    synced_and_healthy(&w, "web").await?;
    quiet(&w).await?;
    assert_eq!(deployment_requests(&w, "get", false), 0.0, "each step of the rollout was read from the watch");
    assert_eq!(deployment_requests(&w, "patch", true), 0.0, "and none was dry-run");

    // Another writer's annotation: no drift, nothing fetched.
    woken_by(&w, &["annotate", "deployment", "web", "note=by-hand"]).await?;
    quiet(&w).await?;
    assert_eq!(deployment_requests(&w, "get", false), 0.0, "an annotation Git does not set changes no verdict");
    let app = w.apps.get("web").await.expect("app");
    assert_eq!(app.status.as_ref().map(|s| s.sync.status), Some(SyncStatusCode::Synced));

    // An annotation Git sets, changed by hand: drift, found by a fetch.
    w.kubectl(&["annotate", "--overwrite", "deployment", "web", "team=hacked"]);
    w.wait_app("web", "OutOfSync", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::OutOfSync).then_some(())).await?;
    assert!(deployment_requests(&w, "get", false) >= 1.0, "the changed Deployment was fetched");
    // A spec change too.
    w.kubectl(&["annotate", "--overwrite", "deployment", "web", "team=web"]);
    w.wait_app("web", "Synced again", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())).await?;
    w.kubectl(&["scale", "deployment", "web", "--replicas", "2"]);
    w.wait_app("web", "OutOfSync after a scale", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::OutOfSync).then_some(())).await?;
    Ok(())
}

#[tokio::test]
async fn a_custom_health_check_of_a_kind_is_not_overruled_by_what_the_watch_saw() -> Result<(), Error> {
    let w = World::with_resync("rollout-lua", NO_RESYNC).await?;
    // Degraded once available: only the script says so; the built-in check says Healthy.
    let script = "hs = {}\nif obj.status ~= nil and obj.status.availableReplicas == 1 then\n  hs.status = \"Degraded\"\n  hs.message = \"available, and judged by Lua\"\nelse\n  hs.status = \"Progressing\"\nend\nreturn hs\n";
    w.kubectl(&["create", "configmap", "argocd-cm", &format!("--from-literal=resource.customizations.health.apps_Deployment={script}")]);
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    let health = w
        .wait_app("web", "the Deployment's health from Lua", |a| {
            let r = a.status.as_ref()?.resources.iter().find(|r| r.kind == "Deployment")?.health.clone()?;
            (r.status != HealthStatusCode::Progressing).then_some(r)
        })
        .await?;
    assert_eq!((health.status, health.message.as_deref()), (HealthStatusCode::Degraded, Some("available, and judged by Lua")));
    Ok(())
}

#[tokio::test]
async fn a_first_sync_neither_fetches_nor_dry_runs_again_what_it_created() -> Result<(), Error> {
    let w = World::with_resync("created", NO_RESYNC).await?;
    // Services: no other writer changes them after their create (the
    // controller reads argocd-cm, a ConfigMap, while it reconciles).
    for i in 0..3 {
        w.repo.write(
            &format!("app/svc{i}.yaml"),
            &format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  ports:\n  - port: 80\n"),
        );
    }
    w.repo.commit("v1");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    synced(&w, "web").await?;
    quiet(&w).await?;
    let services = |verb: &str, dry_run: &str| {
        let (verb, dry_run) = (format!(r#"verb="{verb}""#), format!(r#"dry_run="{dry_run}""#));
        w.metric("argocd_app_k8s_request_total", &[r#"name="web""#, r#"resource_kind="services""#, &verb, &dry_run])
    };
    assert_eq!(services("patch", "false"), 3.0, "each Service applied once");
    // The comparison after the sync takes each object at the version its
    // apply left, and the events of the creates find that version again.
    assert_eq!(services("get", "false"), 0.0, "no Service fetched after its apply");
    assert_eq!(services("patch", "true"), 0.0, "no Service dry-run again after its apply");
    Ok(())
}

#[tokio::test]
async fn the_same_failing_revision_is_not_retried_in_a_loop() -> Result<(), Error> {
    let w = World::new("hotloop").await?;
    // Invalid for the API server (a negative replica count): every sync of
    // this revision fails.
    w.repo.write("app/deploy.yaml", &deployment("web", -1, "nginx:1.27"));
    w.repo.commit("broken");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "selfHeal": true } } })).await?;
    let first = w.wait_operation("web").await?;
    assert_eq!(first.phase, OperationPhase::Failed, "{first:?}");
    // Several resync periods later, still that one attempt.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let app = w.apps.get("web").await.expect("app");
    let last = app.status.unwrap().operation_state.expect("operation state");
    assert_eq!(last.started_at, first.started_at, "no new attempt at the same failed revision");
    Ok(())
}

#[tokio::test]
async fn an_operation_cut_off_by_a_crash_is_resumed_by_the_next_controller() -> Result<(), Error> {
    let mut w = World::with_resync("restart", NO_RESYNC).await?;
    // Wave 0 takes 30 s to become healthy (the `slow` image); wave 1 waits for it.
    w.repo.write("app/deploy.yaml", &deployment("slow", 1, "app:slow"));
    w.repo.write("app/after.yaml", &configmap("after", "argocd.argoproj.io/sync-wave: \"1\""));
    w.repo.commit("slow rollout");
    w.app("web", "app", json!({})).await?;
    w.request_sync("web", json!({})).await?;
    w.wait_app("web", "the sync running", |a| {
        (a.status.as_ref()?.operation_state.as_ref()?.phase == OperationPhase::Running && a.operation.is_none()).then_some(())
    })
    .await?;
    w.crash_controller();
    assert!(!w.exists("configmap", "after"), "the crash came before wave 1");

    w.start_controller();
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    assert!(w.exists("configmap", "after"), "the resumed sync finished every wave");
    Ok(())
}

#[tokio::test]
async fn deleting_an_app_deletes_its_resources_only_with_the_finalizer() -> Result<(), Error> {
    let w = World::new("delete").await?;
    w.repo.write("cascade/cm.yaml", &configmap("cascaded", ""));
    w.repo.write("cascade/keep.yaml", &configmap("kept-by-option", "argocd.argoproj.io/sync-options: Delete=false"));
    w.repo.write("orphan/cm.yaml", &configmap("orphaned", ""));
    w.repo.commit("two apps");
    w.app("cascade", "cascade", json!({ "syncPolicy": { "automated": {} } })).await?;
    w.apps
        .patch(
            "cascade",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "metadata": { "finalizers": ["resources-finalizer.argocd.argoproj.io"] } })),
        )
        .await
        .expect("add finalizer");
    w.app("orphan", "orphan", json!({ "syncPolicy": { "automated": {} } })).await?;
    synced(&w, "cascade").await?;
    synced(&w, "orphan").await?;

    w.kubectl(&["delete", "application", "cascade", "orphan", "--wait=false"]);
    wait_for("both Applications to be gone", common::TIMEOUT, || async {
        let left = w.kubectl(&["get", "applications", "-o", "name"]);
        if left.is_empty() { Ok(()) } else { Err(left) }
    })
    .await?;
    wait_for("the cascaded ConfigMap to be deleted", common::TIMEOUT, || async {
        if w.exists("configmap", "cascaded") { Err("still there") } else { Ok(()) }
    })
    .await?;
    assert!(w.exists("configmap", "kept-by-option"), "Delete=false keeps a resource");
    assert!(w.exists("configmap", "orphaned"), "without the finalizer resources stay");
    // Neither app lingers in the metrics, finalizer or not.
    wait_for("the deleted apps to leave the metrics", common::TIMEOUT, || async {
        let series = w.metric("driftless_app_info", &[]) + w.metric("driftless_app_sync_total", &[]);
        if series == 0.0 { Ok(()) } else { Err(format!("{series}")) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_app_project_limits_repositories_and_an_edit_to_it_applies() -> Result<(), Error> {
    let w = World::with_resync("project", NO_RESYNC).await?;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("v1");
    let projects: kube::Api<driftless_api::AppProject> = w.ns.api();
    let project = |repos: &[&str]| -> driftless_api::AppProject {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": { "name": "team", "namespace": w.name() },
            "spec": { "sourceRepos": repos,
                      "destinations": [{ "server": "https://kubernetes.default.svc", "namespace": w.name() }] }
        }))
        .expect("valid AppProject")
    };
    projects.create(&Default::default(), &project(&["https://git.example.com/*"])).await.expect("create project");
    w.app("web", "app", json!({ "project": "team", "syncPolicy": { "automated": {} } })).await?;
    let message = w
        .wait_app("web", "InvalidSpecError", |a| {
            a.status
                .as_ref()?
                .conditions
                .iter()
                .find(|c| c.type_ == driftless_api::condition::INVALID_SPEC_ERROR)
                .map(|c| c.message.clone())
        })
        .await?;
    assert!(message.contains("is not permitted in project team"), "{message}");
    assert!(!w.exists("configmap", "settings"), "nothing deployed from a repository the project refuses");

    // Widen the project.
    let patch = json!({ "spec": { "sourceRepos": ["*"] } });
    projects.patch("team", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await.expect("edit project");
    // The project's watch may lag the edit by a moment: refresh until the
    // app is compared under the new rules.
    wait_for("the widened project to apply", common::TIMEOUT, || async {
        w.kubectl(&["annotate", "--overwrite", "application", "web", "argocd.argoproj.io/refresh=normal"]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let app = w.apps.get("web").await.map_err(|e| e.to_string())?;
        let sync = app.status.map(|s| s.sync.status);
        if sync == Some(SyncStatusCode::Synced) { Ok(()) } else { Err(format!("{sync:?}")) }
    })
    .await?;
    assert!(w.exists("configmap", "settings"));
    Ok(())
}

/// Regression: after a good revision, a commit whose render fails showed
/// ComparisonError for a moment, then a reconcile woken by a live event
/// compared against the desired state cached from the old revision and
/// wrote Synced with no condition. The error must stay while Git's head
/// cannot render, across live events and resyncs.
#[tokio::test]
async fn a_broken_commit_stays_an_error_under_live_events_for_a_whole_resync_period() -> Result<(), Error> {
    // Long enough that the good revision's desired state is still fresh
    // when the broken commit comes: that is when the old code reused it.
    let resync = Duration::from_secs(30);
    let w = World::with_resync("broken-head", resync).await?;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.commit("good");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "prune": true } } })).await?;
    synced(&w, "web").await?;
    // A fresh look at the good revision: its desired state is kept now.
    w.kubectl(&["annotate", "application", "web", "argocd.argoproj.io/refresh=normal"]);
    w.wait_app("web", "the refresh handled", |a| {
        (!a.metadata.annotations.as_ref().is_some_and(|m| m.contains_key("argocd.argoproj.io/refresh"))).then_some(())
    })
    .await?;

    w.repo.write("app/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n");
    w.repo.commit("broken");
    w.kubectl(&["annotate", "--overwrite", "application", "web", "argocd.argoproj.io/refresh=normal"]);
    // The refresh is cleared once the status it produced is written: from
    // then on, every state must show the error.
    w.wait_app("web", "the refresh of the broken commit handled", |a| {
        (!a.metadata.annotations.as_ref().is_some_and(|m| m.contains_key("argocd.argoproj.io/refresh"))).then_some(())
    })
    .await?;
    // Live events (the app's own objects changing) for longer than a
    // resync period: every state the app shows meanwhile keeps the error.
    let until = tokio::time::Instant::now() + resync + Duration::from_secs(2);
    let mut n = 0;
    while tokio::time::Instant::now() < until {
        n += 1;
        w.kubectl(&["annotate", "--overwrite", "configmap", "settings", &format!("poke={n}")]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let a = w.apps.get("web").await.map_err(|source| Error::Kube { what: "get app".into(), source })?;
        let s = a.status.clone().unwrap_or_default();
        let error = s.conditions.iter().find(|c| c.type_ == "ComparisonError");
        assert!(error.is_some(), "the render error disappeared after {n} live events: {}", common::summary(&a));
        assert_ne!(s.sync.status, SyncStatusCode::Synced, "Synced while Git's head cannot render");
        assert!(error.unwrap().message.contains("broken.yaml"), "the error names the file: {}", error.unwrap().message);
    }
    // A later revision that renders clears it.
    w.repo.remove("app/broken.yaml");
    w.repo.commit("fixed");
    w.kubectl(&["annotate", "--overwrite", "application", "web", "argocd.argoproj.io/refresh=normal"]);
    synced(&w, "web").await?;
    let a = w.apps.get("web").await.map_err(|source| Error::Kube { what: "get app".into(), source })?;
    assert!(a.status.unwrap_or_default().conditions.iter().all(|c| c.type_ != "ComparisonError"));
    Ok(())
}

/// The revision an app was last compared at.
async fn compared_at(w: &World, app: &str, sha: &str) -> Result<(), Error> {
    w.wait_app(app, &format!("compared at {sha}"), |a| (a.status.as_ref()?.sync.revision.as_deref() == Some(sha)).then_some(())).await
}

#[tokio::test]
async fn apps_found_together_share_a_fetch_and_a_new_app_sees_the_commit_made_before_it() -> Result<(), Error> {
    let mut w = World::with_resync("fetches", NO_RESYNC).await?;
    w.crash_controller();
    for i in 0..6 {
        w.repo.write(&format!("apps/a{i}/cm.yaml"), &configmap(&format!("a{i}"), ""));
    }
    let first = w.repo.commit("six apps");
    for i in 0..6 {
        w.app(&format!("a{i}"), &format!("apps/a{i}"), json!({})).await?;
    }
    // One reconcile at a time: each app's turn comes after the fetch of
    // the one before began, but every app was found before it, so that
    // fetch has seen all that they need.
    w.restart_with_concurrency(1);
    for i in 0..6 {
        compared_at(&w, &format!("a{i}"), &first).await?;
    }
    let fetches = w.metric("driftless_git_requests_total", &["request=\"fetch\""]);
    assert_eq!(fetches, 1.0, "six apps found together share one fetch");

    // A commit, then an app that needs it: the fetch moments ago is too old.
    w.repo.write("apps/b/cm.yaml", &configmap("b", ""));
    let second = w.repo.commit("one more app");
    w.app("b", "apps/b", json!({})).await?;
    compared_at(&w, "b", &second).await?;
    assert_eq!(w.metric("driftless_git_requests_total", &["request=\"fetch\""]), 2.0);
    Ok(())
}

#[tokio::test]
async fn a_status_someone_else_wrote_that_the_types_cannot_read_stops_nothing_and_is_replaced() -> Result<(), Error> {
    // The CRD keeps the status as written (the controller alone writes it,
    // and validating it cost the API server a third of each write): anyone
    // who may edit an app can put anything there.
    let w = World::with_resync("badstatus", NO_RESYNC).await?;
    w.repo.write("web/cm.yaml", &configmap("web", ""));
    w.repo.write("other/cm.yaml", &configmap("other", "release: one"));
    w.repo.commit("v1");
    for app in ["web", "other"] {
        w.app(app, app, json!({ "syncPolicy": { "automated": {} } })).await?;
        synced(&w, app).await?;
    }
    let garbage = r#"{"status":{"sync":5,"history":"all of it","reconciledAt":"yesterday","resources":[{"kind":{"a":1}}]}}"#;
    w.kubectl(&["patch", "application", "web", "--type", "merge", "-p", garbage]);
    assert_eq!(w.kubectl(&["get", "application", "web", "-o", "jsonpath={.status.sync}"]), "5", "the server kept it");

    // The apps are still listed and watched: the other app follows a commit.
    w.repo.write("other/cm.yaml", &configmap("other", "release: two"));
    let v2 = w.repo.commit("v2");
    w.kubectl(&["annotate", "application", "other", "argocd.argoproj.io/refresh=normal"]);
    compared_at(&w, "other", &v2).await?;
    assert_eq!(w.kubectl(&["get", "configmap", "other", "-o", "jsonpath={.metadata.annotations.release}"]), "two");

    // The app with the unreadable status is read as never reconciled, and
    // its next reconcile writes a whole status over it.
    w.kubectl(&["annotate", "application", "web", "argocd.argoproj.io/refresh=normal"]);
    compared_at(&w, "web", &v2).await?;
    assert_eq!(w.kubectl(&["get", "application", "web", "-o", "jsonpath={.status.sync.status}"]), "Synced");
    let reconciled = w.kubectl(&["get", "application", "web", "-o", "jsonpath={.status.reconciledAt}"]);
    assert!(reconciled.parse::<k8s_openapi::jiff::Timestamp>().is_ok(), "reconciledAt: {reconciled:?}");
    Ok(())
}

#[tokio::test]
async fn an_app_nested_deeper_than_the_controller_reads_fails_alone_and_destroys_nothing() -> Result<(), Error> {
    // valuesObject is kept as written (as in Argo CD's CRD), to any depth;
    // kube-rs' JSON reads 128 levels. Such an app once made every list and
    // watch of its namespace fail: no app there was compared again.
    let w = World::with_resync("deepapp", NO_RESYNC).await?;
    w.repo.write("chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
    w.repo.write(
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
    );
    w.repo.write("other/cm.yaml", &configmap("other", "release: one"));
    w.repo.commit("v1");
    let values = json!({ "source": { "helm": { "valuesObject": { "replicas": 2 } } }, "syncPolicy": { "automated": { "prune": true } } });
    w.app("web", "chart", values).await?;
    w.app("other", "other", json!({ "syncPolicy": { "automated": { "prune": true } } })).await?;
    synced(&w, "web").await?;
    synced(&w, "other").await?;

    let nested = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let deep = format!(r#"{{"spec":{{"source":{{"helm":{{"valuesObject":{{"replicas":3,"deep":{nested}}}}}}}}}}}"#);
    w.kubectl(&["patch", "application", "web", "--type", "merge", "-p", &deep]);

    // The namespace's apps are still listed, the deep value marked unread.
    let listed = w.apps.list(&Default::default()).await.map_err(|source| Error::Kube { what: "list apps".into(), source })?;
    let web = listed.items.iter().find(|a| a.metadata.name.as_deref() == Some("web")).expect("web is listed");
    let values = web.spec.source.as_ref().and_then(|s| s.helm.as_ref()).and_then(|h| h.values_object.as_ref());
    assert_eq!(values, Some(&driftless_api::FreeJson::TooDeep));

    // The other app follows a commit.
    w.repo.write("other/cm.yaml", &configmap("other", "release: two"));
    let v2 = w.repo.commit("v2");
    w.kubectl(&["annotate", "application", "other", "argocd.argoproj.io/refresh=normal"]);
    compared_at(&w, "other", &v2).await?;
    assert_eq!(w.kubectl(&["get", "configmap", "other", "-o", "jsonpath={.metadata.annotations.release}"]), "two");

    // The deep app says why it cannot render, and its objects stay as they were.
    let message = w
        .wait_app("web", "a ComparisonError", |a| {
            a.status.as_ref()?.conditions.iter().find(|c| c.type_ == "ComparisonError").map(|c| c.message.clone())
        })
        .await?;
    assert!(message.contains("source.helm.valuesObject") && message.contains("nested deeper than 100 levels"), "{message}");
    assert_eq!(w.kubectl(&["get", "configmap", "web", "-o", "jsonpath={.data.replicas}"]), "2", "not pruned, not changed");
    // Writing the status left the spec as the user wrote it.
    assert_eq!(w.kubectl(&["get", "application", "web", "-o", "jsonpath={.spec.source.helm.valuesObject.replicas}"]), "3");
    Ok(())
}

#[tokio::test]
async fn an_object_nested_deeper_than_the_controller_reads_stops_no_watch_of_its_kind() -> Result<(), Error> {
    // A custom resource keeps what its schema leaves free as written, to
    // any depth, and its writer's managedFields entry mirrors it. While
    // such an object (anyone's) was there, the kind's watch could not
    // list: no live event of the kind woke any app.
    let w = World::with_resync("deeplive", NO_RESYNC).await?;
    install_secret_controller_crds(&w.ns.client()).await?;
    let sealed = |name: &str, password: &str| {
        format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {name}\nspec:\n  encryptedData:\n    password: {password}\n"
        )
    };
    w.repo.write("app/sealed.yaml", &sealed("db", "AgBsealed"));
    w.repo.commit("v1");

    // Another object of the kind, no app's, nested 300 levels deep, there
    // when the kind's watch lists.
    let deep = format!(
        r#"{{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{{"name":"deep"}},"spec":{}{{}}{}}}"#,
        r#"{"a":"#.repeat(300),
        "}".repeat(300)
    );
    let file = w.cache_dir().join("deep-sealed-secret.json");
    std::fs::write(&file, deep).expect("write the object");
    w.kubectl(&["create", "-f", file.to_str().expect("a UTF-8 path")]);
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "selfHeal": true } } })).await?;
    synced(&w, "web").await?;

    // An edit of the app's object is reverted: the watch of its kind still
    // delivers events.
    w.kubectl(&["patch", "sealedsecret", "db", "--type", "merge", "-p", r#"{"spec":{"encryptedData":{"password":"edited"}}}"#]);
    wait_for("the edit to be reverted", common::TIMEOUT, || async {
        let password = w.kubectl(&["get", "sealedsecret", "db", "-o", "jsonpath={.spec.encryptedData.password}"]);
        if password == "AgBsealed" { Ok(()) } else { Err(password) }
    })
    .await?;
    Ok(())
}
