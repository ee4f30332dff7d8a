//! The AppProject as the wall between teams, end to end: which namespaces
//! may hold apps, what a project lets an app (and its hooks) apply, whom a
//! sync acts as, and objects nobody tracks. The test namespace is each
//! controller's control plane.

mod common;

use common::{World, configmap, deployment};
use driftless_api::{AppProject, Application, OperationPhase, SyncStatusCode, condition};
use driftless_testkit::{Error, TestNamespace};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Creates or replaces the project `name` in the world's control plane.
async fn project(w: &World, name: &str, spec: Value) -> Result<(), Error> {
    let projects: Api<AppProject> = w.ns.api();
    let obj = json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": { "name": name }, "spec": spec });
    projects
        .patch(name, &PatchParams::apply("test").force(), &Patch::Apply(obj))
        .await
        .map(drop)
        .map_err(|source| Error::Kube { what: format!("apply project {name}"), source })
}

/// Creates an automated app in `namespace`, deploying `path` there.
async fn app_in(w: &World, namespace: &str, name: &str, project: &str, path: &str) -> Result<Api<Application>, Error> {
    let apps: Api<Application> = Api::namespaced(w.ns.client(), namespace);
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "project": project,
            "source": { "repoURL": w.repo.url(), "targetRevision": "main", "path": path },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": namespace },
            "syncPolicy": { "automated": { "prune": true } } },
    }))
    .expect("valid Application");
    apps.create(&PostParams::default(), &app)
        .await
        .map_err(|source| Error::Kube { what: format!("create app {namespace}/{name}"), source })?;
    Ok(apps)
}

/// Waits until the app has a condition of `type_`, and returns its message.
async fn condition_of(apps: &Api<Application>, name: &str, type_: &str) -> Result<String, Error> {
    driftless_testkit::wait_for(&format!("app {name}: a {type_} condition"), common::TIMEOUT, || async {
        let a = apps.get(name).await.map_err(|e| e.to_string())?;
        let found = a.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == type_)).map(|c| c.message.clone());
        found.ok_or_else(|| common::summary(&a))
    })
    .await
}

fn configmap_exists(ns: &TestNamespace, name: &str) -> bool {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(ns.cluster().kubeconfig())
        .args(["--namespace", ns.name(), "get", "configmap", name, "--ignore-not-found", "-o", "name"])
        .output()
        .expect("kubectl is on PATH");
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

#[tokio::test]
async fn apps_outside_the_control_plane_need_application_namespaces_and_the_projects_source_namespaces() -> Result<(), Error> {
    let mut w = World::new("tenancy-ns").await?;
    let (team_a, team_b) = (TestNamespace::new("team-a").await?, TestNamespace::new("team-b").await?);
    w.repo.write("app/cm.yaml", &configmap("team-config", ""));
    w.repo.commit("app");
    // Only team-a's namespace may hold apps besides the control plane.
    w.restart_with_app_namespaces(team_a.name());

    // A namespace application.namespaces does not name: not handled, and
    // told so once.
    let b_apps = app_in(&w, team_b.name(), "web", "default", "app").await?;
    let msg = condition_of(&b_apps, "web", condition::INVALID_SPEC_ERROR).await?;
    assert!(msg.contains("application.namespaces"), "{msg}");
    assert!(!configmap_exists(&team_b, "team-config"));

    // An enabled namespace, but the implicit default project (which would
    // allow cluster-scoped kinds) holds only the control plane's apps.
    let a_apps = app_in(&w, team_a.name(), "web", "default", "app").await?;
    let msg = condition_of(&a_apps, "web", condition::INVALID_SPEC_ERROR).await?;
    assert!(msg.contains("sourceNamespaces"), "{msg}");
    // A project that does not list the namespace: refused the same way.
    project(&w, "team", json!({ "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }] })).await?;
    let refused = app_in(&w, team_a.name(), "refused", "team", "app").await?;
    let msg = condition_of(&refused, "refused", condition::INVALID_SPEC_ERROR).await?;
    assert!(msg.contains("sourceNamespaces") && msg.contains("team"), "{msg}");
    assert!(!configmap_exists(&team_a, "team-config"), "nothing applied for a refused app");

    // Listed by the project: it syncs.
    project(
        &w,
        "team",
        json!({ "sourceRepos": ["*"], "sourceNamespaces": [team_a.name()], "destinations": [{ "server": "*", "namespace": team_a.name() }] }),
    )
    .await?;
    driftless_testkit::wait_for("the team's app to sync", common::TIMEOUT, || async {
        let a = refused.get("refused").await.map_err(|e| e.to_string())?;
        let synced = a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced);
        if synced { Ok(()) } else { Err(common::summary(&a)) }
    })
    .await?;
    assert!(configmap_exists(&team_a, "team-config"));
    Ok(())
}

#[tokio::test]
async fn a_project_refuses_what_it_forbids_hooks_and_other_namespaces_included_and_nothing_is_applied() -> Result<(), Error> {
    let w = World::new("tenancy-kinds").await?;
    let other = TestNamespace::new("tenancy-other").await?;
    // No cluster-scoped kinds, and only the test namespace.
    project(&w, "locked", json!({ "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": w.name() }] })).await?;
    let cluster_role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: NAME\nrules: []\n";
    w.repo.write("plain/cm.yaml", &configmap("plain-config", ""));
    w.repo.write("plain/role.yaml", &cluster_role.replace("NAME", &format!("{}-plain", w.name())));
    let hook = cluster_role
        .replace("NAME", &format!("{}-hook", w.name()))
        .replace("metadata:\n", "metadata:\n  annotations:\n    argocd.argoproj.io/hook: PreSync\n");
    w.repo.write("hook/cm.yaml", &configmap("hook-config", ""));
    w.repo.write("hook/role.yaml", &hook);
    w.repo.write("elsewhere/cm.yaml", &configmap("elsewhere-config", ""));
    w.repo.write(
        "elsewhere/other.yaml",
        &configmap("other-config", "").replace("metadata:\n", &format!("metadata:\n  namespace: {}\n", other.name())),
    );
    w.repo.commit("forbidden things");

    for (name, path, reason) in
        [("plain", "plain", "ClusterRole"), ("hook", "hook", "ClusterRole"), ("elsewhere", "elsewhere", other.name())]
    {
        w.app(name, path, json!({ "project": "locked" })).await?;
        w.request_sync(name, json!({})).await?;
        let op = w.wait_operation(name).await?;
        assert_eq!(op.phase, OperationPhase::Failed, "{name}: {op:?}");
        let msg = op.message.unwrap_or_default();
        assert!(msg.contains("locked") && msg.contains(reason), "{name}: the project's reason: {msg}");
    }
    for cm in ["plain-config", "hook-config", "elsewhere-config"] {
        assert!(!w.exists("configmap", cm), "{cm}: nothing of a refused app is applied");
    }
    for role in ["plain", "hook"] {
        let role = format!("{}-{role}", w.name());
        assert!(!w.exists("clusterrole", &role), "{role}: the forbidden kind itself is never applied");
    }
    assert!(!configmap_exists(&other, "other-config"));
    Ok(())
}

#[tokio::test]
async fn a_sync_acts_as_the_destination_service_account_when_impersonation_is_enabled() -> Result<(), Error> {
    let w = World::new("tenancy-imp").await?;
    let ns = w.name().to_string();
    // A ServiceAccount that may only touch ConfigMaps.
    let rbac = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: cm-only\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: cm-only\nrules:\n\
         - apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [\"*\"]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: cm-only\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: cm-only\n\
         subjects:\n- kind: ServiceAccount\n  name: cm-only\n  namespace: {ns}\n"
    );
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), rbac).expect("write RBAC");
    w.kubectl(&["apply", "-f", file.path().to_str().expect("utf-8 path")]);
    w.kubectl(&["create", "configmap", "argocd-cm", "--from-literal=application.sync.impersonation.enabled=true"]);
    let spec = |accounts: Value| json!({ "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }], "destinationServiceAccounts": accounts });
    project(&w, "team", spec(json!([{ "server": "https://kubernetes.default.svc", "namespace": ns, "defaultServiceAccount": "cm-only" }])))
        .await?;
    project(&w, "unmapped", spec(json!([{ "server": "https://elsewhere.example", "defaultServiceAccount": "cm-only" }]))).await?;
    w.repo.write("cms/cm.yaml", &configmap("only-config", ""));
    w.repo.write("web/cm.yaml", &configmap("web-config", ""));
    w.repo.write("web/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.write("unmapped/cm.yaml", &configmap("unmapped-config", ""));
    w.repo.commit("apps");

    w.app("cms", "cms", json!({ "project": "team" })).await?;
    w.request_sync("cms", json!({})).await?;
    let op = w.wait_operation("cms").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "the ConfigMap-only app syncs as cm-only: {op:?}");
    assert!(w.exists("configmap", "only-config"));

    w.app("web", "web", json!({ "project": "team" })).await?;
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    let msg = op.message.unwrap_or_default();
    assert!(
        msg.contains("forbidden") && msg.contains("system:serviceaccount:") && msg.contains("cm-only"),
        "the API server's Forbidden: {msg}"
    );
    assert!(!w.exists("configmap", "web-config"), "refused before the first change");
    assert!(!w.exists("deployment", "web"));

    w.app("unmapped", "unmapped", json!({ "project": "unmapped" })).await?;
    w.request_sync("unmapped", json!({})).await?;
    let op = w.wait_operation("unmapped").await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    assert!(op.message.unwrap_or_default().contains("destinationServiceAccounts"));
    assert!(!w.exists("configmap", "unmapped-config"), "nothing applied without an account to act as");
    Ok(())
}

#[tokio::test]
async fn orphaned_resources_are_reported_as_the_project_asks_and_never_deleted() -> Result<(), Error> {
    let w = World::new("tenancy-orphans").await?;
    let target = TestNamespace::new("orphans-target").await?;
    project(
        &w,
        "watched",
        json!({ "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }],
                "orphanedResources": { "warn": true, "ignore": [{ "kind": "ConfigMap", "name": "ignored-*" }] } }),
    )
    .await?;
    w.repo.write("app/cm.yaml", &configmap("managed", ""));
    w.repo.commit("app");
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(target.cluster().kubeconfig())
            .args(["--namespace", target.name()])
            .args(args)
            .output()
            .expect("kubectl is on PATH");
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    kubectl(&["create", "configmap", "stray"]);
    kubectl(&["create", "configmap", "ignored-1"]);
    w.app(
        "web",
        "app",
        json!({ "project": "watched", "destination": { "server": "https://kubernetes.default.svc", "namespace": target.name() },
                "syncPolicy": { "automated": { "prune": true } } }),
    )
    .await?;
    let msg = condition_of(&w.apps, "web", condition::ORPHANED_RESOURCE_WARNING).await?;
    assert_eq!(msg, "Application has 1 orphaned resources", "stray only: managed, ignored and built-in objects are not orphans");
    w.wait_app("web", "Synced", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())).await?;
    assert!(configmap_exists(&target, "stray"), "an orphan is never pruned");
    assert!(configmap_exists(&target, "managed"));

    kubectl(&["delete", "configmap", "stray"]);
    w.apps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": { "argocd.argoproj.io/refresh": "normal" } } })),
        )
        .await
        .map_err(|source| Error::Kube { what: "refresh".into(), source })?;
    w.wait_app("web", "no orphan warning", |a| {
        (!a.status.as_ref()?.conditions.iter().any(|c| c.type_ == condition::ORPHANED_RESOURCE_WARNING)).then_some(())
    })
    .await?;
    Ok(())
}
