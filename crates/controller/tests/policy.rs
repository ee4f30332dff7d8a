//! Policies at sync time: Rego modules in ConfigMaps of the control plane
//! (here the test namespace) labelled `driftless.dev/policy: "true"`. A deny
//! blocks the whole app (nothing of it is applied, hooks included, and a
//! user's sync fails with the violations) until the commit is fixed; a warn
//! only reports; a module that does not compile blocks and is named; a
//! module limited to other projects does not apply.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{World, configmap, deployment};
use driftless_api::{Application, OperationPhase, SyncStatusCode, condition};
use driftless_testkit::Error;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use serde_json::json;

const LIMITS: &str = include_str!("../../../policies/resource-limits.rego");

/// Longer than any test: only events wake the apps.
const NO_RESYNC: Duration = Duration::from_secs(3600);

/// Writes the policy ConfigMap `name` holding `modules`, limited to
/// `projects` when given.
async fn policy(w: &World, name: &str, modules: &[(&str, &str)], projects: Option<&str>) {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.labels = Some(BTreeMap::from([("driftless.dev/policy".to_string(), "true".to_string())]));
    if let Some(p) = projects {
        cm.metadata.annotations = Some(BTreeMap::from([("driftless.dev/policy-projects".to_string(), p.to_string())]));
    }
    cm.data = Some(modules.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let mut value = serde_json::to_value(&cm).expect("ConfigMap");
    value["apiVersion"] = json!("v1");
    value["kind"] = json!("ConfigMap");
    w.ns.api::<ConfigMap>().patch(name, &PatchParams::apply("policy-test").force(), &Patch::Apply(value)).await.expect("write policy");
}

/// A Deployment whose container `main` has (or lacks) CPU and memory limits.
fn workload(name: &str, limits: bool) -> String {
    let mut d = deployment(name, 1, "nginx:1.27");
    if limits {
        d.push_str("        resources:\n          limits: {cpu: 100m, memory: 64Mi}\n");
    }
    d
}

fn condition_of(a: &Application, type_: &str) -> Option<String> {
    a.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone())
}

fn synced(a: &Application) -> Option<()> {
    (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then_some(())
}

#[tokio::test]
async fn a_deny_policy_blocks_the_whole_app_until_the_commit_is_fixed() -> Result<(), Error> {
    let w = World::new("policy-deny").await?;
    policy(&w, "policies", &[("limits.rego", LIMITS)], None).await;
    w.repo.write("app/deploy.yaml", &workload("web", false));
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("no limits");
    w.app("web", "app", json!({ "syncPolicy": { "automated": { "selfHeal": true } } })).await?;

    let blocked = w.wait_app("web", "PolicyViolation", |a| condition_of(a, condition::POLICY_VIOLATION)).await?;
    assert!(blocked.contains("apps/Deployment"), "{blocked}");
    assert!(blocked.contains("container \"main\" has no resources.limits.cpu (policies/limits.rego deny)"), "{blocked}");
    assert!(blocked.contains("container \"main\" has no resources.limits.memory"), "{blocked}");
    // The diff is still computed and shown; automation did not start.
    let a = w.apps.get("web").await.expect("app");
    let s = a.status.as_ref().expect("status");
    assert_eq!(s.sync.status, SyncStatusCode::OutOfSync);
    assert_eq!(s.resources.len(), 2);
    assert!(s.operation_state.is_none(), "automation started: {:?}", s.operation_state);
    assert!(!w.exists("deployment", "web") && !w.exists("configmap", "settings"), "nothing of the app is applied");

    // A user's sync fails with the violations and applies nothing.
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed);
    let message = op.message.unwrap_or_default();
    assert!(message.starts_with("blocked by policy (2): "), "{message}");
    assert!(message.contains("container \"main\" has no resources.limits.cpu"), "{message}");
    assert!(!w.exists("deployment", "web") && !w.exists("configmap", "settings"), "the refused sync applied something");

    // The fixed commit syncs by itself, and the condition goes.
    w.repo.write("app/deploy.yaml", &workload("web", true));
    let fixed = w.repo.commit("limits");
    w.wait_app("web", "synced at the fix", |a| {
        let s = a.status.as_ref()?;
        (s.sync.revision.as_deref() == Some(fixed.as_str()) && s.sync.status == SyncStatusCode::Synced).then_some(())
    })
    .await?;
    let a = w.apps.get("web").await.expect("app");
    assert_eq!(condition_of(&a, condition::POLICY_VIOLATION), None);
    assert!(w.exists("deployment", "web") && w.exists("configmap", "settings"));
    Ok(())
}

#[tokio::test]
async fn a_warn_policy_only_reports() -> Result<(), Error> {
    let w = World::new("policy-warn").await?;
    let team = "package team\nimport rego.v1\nwarn contains msg if {\n  not input.object.metadata.labels.team\n  msg := sprintf(\"%s has no team label\", [input.object.kind])\n}\n";
    policy(&w, "team", &[("team.rego", team)], None).await;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("unlabelled");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    w.wait_app("web", "synced", synced).await?;
    let warning = w.wait_app("web", "PolicyWarning", |a| condition_of(a, condition::POLICY_WARNING)).await?;
    assert_eq!(warning, format!("policy warnings (1): ConfigMap {}/settings: ConfigMap has no team label (team/team.rego warn)", w.name()));
    let a = w.apps.get("web").await.expect("app");
    assert_eq!(condition_of(&a, condition::POLICY_VIOLATION), None);
    assert!(w.exists("configmap", "settings"));
    Ok(())
}

#[tokio::test]
async fn a_broken_module_blocks_and_is_named_and_fixing_it_wakes_the_app() -> Result<(), Error> {
    // No resync: only the edit of the policy wakes the app.
    let w = World::with_resync("policy-broken", NO_RESYNC).await?;
    policy(&w, "broken", &[("typo.rego", "package typo\ndeny contains msg if {\n  msg := \n")], None).await;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("app");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    let blocked = w.wait_app("web", "PolicyViolation", |a| condition_of(a, condition::POLICY_VIOLATION)).await?;
    assert!(blocked.starts_with("blocked by policy (1): policy broken/typo.rego: does not compile: "), "{blocked}");
    assert!(blocked.contains("broken/typo.rego:"), "regorus' message, with its position: {blocked}");
    assert!(!w.exists("configmap", "settings"), "fail closed: nothing applied");

    policy(&w, "broken", &[("typo.rego", "package typo\nimport rego.v1\ndeny contains \"never\" if false\n")], None).await;
    w.wait_app("web", "synced once the module compiles", synced).await?;
    let a = w.apps.get("web").await.expect("app");
    assert_eq!(condition_of(&a, condition::POLICY_VIOLATION), None);
    assert!(w.exists("configmap", "settings"));
    Ok(())
}

#[tokio::test]
async fn a_hook_that_violates_a_policy_blocks_the_sync() -> Result<(), Error> {
    let w = World::new("policy-hook").await?;
    policy(&w, "policies", &[("limits.rego", LIMITS)], None).await;
    w.repo.write("app/deploy.yaml", &workload("web", true));
    w.repo.write(
        "app/migrate.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: busybox:1.36\n",
    );
    w.repo.commit("hook without limits");
    w.app("web", "app", json!({})).await?;
    let blocked = w.wait_app("web", "PolicyViolation", |a| condition_of(a, condition::POLICY_VIOLATION)).await?;
    assert!(blocked.contains("batch/Job"), "{blocked}");
    assert!(blocked.contains("container \"migrate\" has no resources.limits.cpu"), "{blocked}");
    w.request_sync("web", json!({})).await?;
    let op = w.wait_operation("web").await?;
    assert_eq!(op.phase, OperationPhase::Failed);
    assert!(op.message.as_deref().unwrap_or_default().contains("container \"migrate\""), "{op:?}");
    assert!(!w.exists("job", "migrate") && !w.exists("deployment", "web"), "nothing applied, the hook included");
    Ok(())
}

#[tokio::test]
async fn a_policy_limited_to_other_projects_does_not_apply() -> Result<(), Error> {
    let w = World::new("policy-projects").await?;
    policy(&w, "team-only", &[("limits.rego", LIMITS)], Some("team-*, ops")).await;
    w.repo.write("app/deploy.yaml", &workload("web", false));
    w.repo.commit("no limits");
    w.app("web", "app", json!({ "syncPolicy": { "automated": {} } })).await?;
    w.wait_app("web", "synced", synced).await?;
    let a = w.apps.get("web").await.expect("app");
    assert_eq!(condition_of(&a, condition::POLICY_VIOLATION), None, "the app's project is default");
    assert!(w.exists("deployment", "web"));
    Ok(())
}
