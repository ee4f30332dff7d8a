//! Dependencies between Applications (`driftless.dev/depends-on`) against
//! the real dev control plane: apps created at once sync in dependency
//! order, a cycle holds every app of it, a requested sync waits for its
//! dependencies (CEL readiness too) unless forced, a cascading deletion
//! goes in reverse order, and dependencies reach across namespaces and
//! clusters.

mod common;

use common::{World, deployment};
use driftless_api::{AppProject, Application, OperationPhase, OperationState, RESOURCES_FINALIZER, condition};
use driftless_engine::dependencies::{ANNOTATION_DEPENDS_ON, ANNOTATION_DEPENDS_ON_READY};
use driftless_testkit::{Error, TestNamespace, wait_for};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Creates an app for `path` in the test namespace, deploying there, with
/// the given annotations, automated when `automated`, with Argo CD's
/// cascade finalizer.
async fn app(w: &World, name: &str, path: &str, annotations: Value, automated: bool) -> Result<Application, Error> {
    let dest = json!({"server": "https://kubernetes.default.svc", "namespace": w.name()});
    app_at(w, (w.name(), "default"), name, path, annotations, automated, dest).await
}

/// [`app`] in `namespace` of `project`, deploying to `destination`.
async fn app_at(
    w: &World,
    (namespace, project): (&str, &str),
    name: &str,
    path: &str,
    annotations: Value,
    automated: bool,
    destination: Value,
) -> Result<Application, Error> {
    let policy = if automated { json!({"automated": {}}) } else { json!({}) };
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations, "finalizers": [RESOURCES_FINALIZER]},
        "spec": {
            "project": project,
            "source": {"repoURL": w.repo.url(), "targetRevision": "main", "path": path},
            "destination": destination,
            "syncPolicy": policy,
        },
    }))
    .expect("valid Application");
    let apps: kube::Api<Application> = kube::Api::namespaced(w.ns.client(), namespace);
    apps.create(&PostParams::default(), &app).await.map_err(|source| Error::Kube { what: format!("create app {name}"), source })
}

/// Longer than any test: what happens is woken by events.
const NO_RESYNC: std::time::Duration = std::time::Duration::from_secs(3600);

fn condition_of(a: &Application, type_: &str) -> Option<String> {
    a.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone())
}

fn last_operation(a: &Application) -> Option<&OperationState> {
    a.status.as_ref()?.operation_state.as_ref()
}

/// Waits until the app's sync succeeded; on a timeout, says where every
/// app of the test stands (what waits on what).
async fn succeeded(w: &World, name: &str) -> Result<OperationState, Error> {
    let found =
        w.wait_app(name, "its sync succeeded", |a| last_operation(a).filter(|o| o.phase == OperationPhase::Succeeded).cloned()).await;
    if found.is_err()
        && let Ok(all) = w.apps.list(&Default::default()).await
    {
        for a in &all.items {
            eprintln!("{}: {}", a.metadata.name.as_deref().unwrap_or_default(), common::summary(a));
        }
    }
    found
}

#[tokio::test]
async fn apps_created_at_once_sync_in_dependency_order_and_are_deleted_in_reverse() -> Result<(), Error> {
    // No resync: events alone wake the apps that wait, the CRD's
    // Established condition (set moments after the sync created it) too.
    let w = World::with_resync("deps-order", NO_RESYNC).await?;
    // A CRD of this test's own group, so that tests never share one.
    let group = format!("{}.example.dev", w.name());
    w.repo.write(
        "crds/crd.yaml",
        &format!("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"),
    );
    w.repo.write("operator/deploy.yaml", &deployment("operator", 1, "example/operator:1"));
    w.repo.write("instances/widget.yaml", &format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 1\n"));
    w.repo.commit("crds, operator, instances");
    // Created at once, the dependents first.
    app(&w, "instances", "instances", json!({ ANNOTATION_DEPENDS_ON: "operator" }), true).await?;
    app(&w, "operator", "operator", json!({ ANNOTATION_DEPENDS_ON: format!("{}/crd*", w.name()) }), true).await?;
    app(&w, "crds", "crds", json!({}), true).await?;

    let crds = succeeded(&w, "crds").await?;
    let operator = succeeded(&w, "operator").await?;
    let instances = succeeded(&w, "instances").await?;
    let finished = |o: &OperationState| o.finished_at.clone().expect("a finished sync has its end");
    assert!(finished(&crds).0 <= operator.started_at.0, "the operator's sync started after the CRDs' ended");
    assert!(finished(&operator).0 <= instances.started_at.0, "the instances' sync started after the operator's ended");
    for name in ["crds", "operator", "instances"] {
        let a = w.apps.get(name).await.map_err(|source| Error::Kube { what: name.into(), source })?;
        assert_eq!(last_operation(&a).map(|o| o.retry_count.unwrap_or(0)), Some(0), "{name} synced at the first try");
        assert_eq!(condition_of(&a, condition::DEPENDENCY_NOT_READY), None, "{name}: cleared once ready");
    }

    // Deleting the CRDs and the operator while the instances exist: both wait.
    for name in ["crds", "operator"] {
        w.apps.delete(name, &DeleteParams::default()).await.map_err(|source| Error::Kube { what: name.into(), source })?;
    }
    let waiting = w.wait_app("crds", "deletion waits for the operator", |a| condition_of(a, condition::DEPENDENTS_EXIST)).await?;
    assert!(waiting.contains(&format!("{}/operator", w.name())), "{waiting}");
    let waiting = w.wait_app("operator", "deletion waits for the instances", |a| condition_of(a, condition::DEPENDENTS_EXIST)).await?;
    assert!(waiting.contains(&format!("{}/instances", w.name())), "{waiting}");
    assert!(w.exists("deployment", "operator"), "the operator runs while its instances exist");
    assert!(w.exists(&format!("widgets.{group}"), "w"));
    // The instances go, then the operator, then the CRDs.
    w.apps.delete("instances", &DeleteParams::default()).await.map_err(|source| Error::Kube { what: "instances".into(), source })?;
    wait_for("every app gone", common::TIMEOUT, || async {
        let left = w.apps.list(&Default::default()).await.map_err(|e| e.to_string())?;
        if left.items.is_empty() {
            Ok(())
        } else {
            Err(format!("{:?}", left.items.iter().map(|a| a.metadata.name.clone()).collect::<Vec<_>>()))
        }
    })
    .await?;
    assert!(!w.exists("deployment", "operator"));
    Ok(())
}

#[tokio::test]
async fn a_cycle_is_reported_on_each_app_and_neither_syncs() -> Result<(), Error> {
    let w = World::new("deps-cycle").await?;
    w.repo.write("a/cm.yaml", &common::configmap("a", "")).write("b/cm.yaml", &common::configmap("b", ""));
    w.repo.commit("a and b");
    app(&w, "a", "a", json!({ ANNOTATION_DEPENDS_ON: "b" }), true).await?;
    app(&w, "b", "b", json!({ ANNOTATION_DEPENDS_ON: format!("{}/a", w.name()) }), true).await?;
    let ns = w.name().to_string();
    for (name, path) in [("a", format!("{ns}/a -> {ns}/b -> {ns}/a")), ("b", format!("{ns}/b -> {ns}/a -> {ns}/b"))] {
        let msg = w.wait_app(name, "the cycle reported", |a| condition_of(a, condition::DEPENDENCY_ERROR)).await?;
        assert_eq!(msg, format!("dependency cycle: {path}"));
    }
    // A requested sync is refused with the cycle.
    w.request_sync("a", json!({})).await?;
    let op = w.wait_operation("a").await?;
    assert_eq!(op.phase, OperationPhase::Failed);
    assert!(op.message.unwrap_or_default().contains("dependency cycle"));
    assert!(!w.exists("configmap", "a") && !w.exists("configmap", "b"), "nothing of a cycle syncs");
    let b = w.apps.get("b").await.map_err(|source| Error::Kube { what: "b".into(), source })?;
    assert!(last_operation(&b).is_none(), "b never synced");
    Ok(())
}

#[tokio::test]
async fn a_requested_sync_waits_for_readiness_a_cel_expression_may_decide_and_force_skips_the_wait() -> Result<(), Error> {
    let w = World::with_resync("deps-cel", NO_RESYNC).await?;
    // db never becomes Healthy: its image never gets Ready.
    w.repo.write("db/deploy.yaml", &deployment("db", 1, "example/db:crashloop"));
    w.repo.write("web/cm.yaml", &common::configmap("web", "")).write("forced/cm.yaml", &common::configmap("forced", ""));
    w.repo.commit("db, web, forced");
    app(&w, "db", "db", json!({}), true).await?;
    app(&w, "web", "web", json!({ ANNOTATION_DEPENDS_ON: "db" }), false).await?;
    app(&w, "forced", "forced", json!({ ANNOTATION_DEPENDS_ON: "nowhere" }), false).await?;

    let ns = w.name().to_string();
    w.request_sync("web", json!({})).await?;
    let msg = w
        .wait_app("web", "waiting for db, Progressing", |a| {
            condition_of(a, condition::DEPENDENCY_NOT_READY).filter(|m| m.contains("Synced, Progressing"))
        })
        .await?;
    assert!(msg.starts_with(&format!("waiting for {ns}/db: ")), "{msg}");
    let web = w.apps.get("web").await.map_err(|source| Error::Kube { what: "web".into(), source })?;
    assert!(web.operation.is_some(), "the request is kept while it waits");
    assert!(!w.exists("configmap", "web"));

    // Ready when Synced, whatever its health: the waiting request runs.
    let patch = json!({"metadata": {"annotations": { ANNOTATION_DEPENDS_ON_READY: "dep.status.sync.status == 'Synced'" }}});
    w.apps
        .patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::Kube { what: "web".into(), source })?;
    assert_eq!(w.wait_operation("web").await?.phase, OperationPhase::Succeeded);
    assert!(w.exists("configmap", "web"));

    // A forced sync does not wait, even for an app that does not exist.
    let msg = w.wait_app("forced", "no such app", |a| condition_of(a, condition::DEPENDENCY_NOT_READY)).await?;
    assert_eq!(msg, format!("waiting for {ns}/nowhere: no such app"));
    w.request_sync("forced", json!({"syncStrategy": {"apply": {"force": true}}})).await?;
    assert_eq!(w.wait_operation("forced").await?.phase, OperationPhase::Succeeded);

    // A bad expression is an error naming the annotation.
    let patch = json!({"metadata": {"annotations": { ANNOTATION_DEPENDS_ON_READY: "dep.status ==" }}});
    w.apps
        .patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::Kube { what: "web".into(), source })?;
    let msg = w.wait_app("web", "a bad expression", |a| condition_of(a, condition::DEPENDENCY_ERROR)).await?;
    assert!(msg.contains(ANNOTATION_DEPENDS_ON_READY), "{msg}");
    Ok(())
}

#[tokio::test]
async fn a_dependency_in_another_namespace_and_one_on_another_cluster() -> Result<(), Error> {
    let mut w = World::new("deps-across").await?;
    let team = TestNamespace::new("deps-team").await?;
    w.restart_with_app_namespaces(team.name());
    let projects: kube::Api<AppProject> = w.ns.api();
    let project = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "team"},
        "spec": {"sourceRepos": ["*"], "sourceNamespaces": [team.name()], "destinations": [{"server": "*", "namespace": "*"}]}});
    projects
        .patch("team", &PatchParams::apply("test").force(), &Patch::Apply(project))
        .await
        .map_err(|source| Error::Kube { what: "project".into(), source })?;
    // The same dev control plane registered as a second cluster: to the
    // controller, another destination with its own credentials.
    let kubeconfig = kube::config::Kubeconfig::read_from(w.ns.cluster().kubeconfig()).expect("devcluster kubeconfig");
    let (server, ca_data, insecure) = driftless_engine::register::from_kubeconfig(&kubeconfig, None).expect("kubeconfig");
    let target_client = w.ns.client();
    let target = driftless_engine::register::Target::new(&target_client, &server, "second", ca_data, insecure);
    driftless_engine::register::add(&target, &w.ns.client(), w.name()).await.expect("cluster add");

    w.repo.write("base/cm.yaml", &common::configmap("base", "")).write("remote/cm.yaml", &common::configmap("remote", ""));
    w.repo.write("top/cm.yaml", &common::configmap("top", ""));
    w.repo.commit("base, remote, top");
    let depends = format!("{}/base, remote", team.name());
    app(&w, "top", "top", json!({ ANNOTATION_DEPENDS_ON: depends }), true).await?;
    let here = json!({"server": "https://kubernetes.default.svc", "namespace": team.name()});
    app_at(&w, (team.name(), "team"), "base", "base", json!({}), true, here).await?;
    app_at(&w, (w.name(), "default"), "remote", "remote", json!({}), true, json!({"server": server, "namespace": w.name()})).await?;

    let top = succeeded(&w, "top").await?;
    let team_apps: kube::Api<Application> = kube::Api::namespaced(w.ns.client(), team.name());
    let base = wait_for("team/base synced", common::TIMEOUT, || async {
        let a = team_apps.get("base").await.map_err(|e| e.to_string())?;
        last_operation(&a).filter(|o| o.phase == OperationPhase::Succeeded).cloned().ok_or_else(|| common::summary(&a))
    })
    .await?;
    let remote = succeeded(&w, "remote").await?;
    for (name, dep) in [("base", &base), ("remote", &remote)] {
        let finished = dep.finished_at.clone().expect("a finished sync has its end");
        assert!(finished.0 <= top.started_at.0, "top's sync started after {name}'s ended");
    }
    Ok(())
}
