//! Automatic rollback against the real dev control plane: an automated app
//! with `driftless.dev/rollback-after: 30s` gets a commit whose Deployment
//! the fake kubelet crash-loops (image tag `crashloop`, never Ready). Once
//! the deadline has passed, the app is synced back to the last revision seen
//! Healthy; history, operation and events say why; the bad revision is held
//! (the app stays OutOfSync with a RolledBack condition) until a newer commit
//! syncs normally. A rollback that fails stops there.

mod common;

use std::collections::BTreeMap;

use common::{World, configmap, deployment};
use driftless_api::{
    ANNOTATION_HEALTHY_HISTORY, ANNOTATION_ROLLBACK_AFTER, ANNOTATION_ROLLED_BACK_FROM, Application, HealthStatusCode, OperationPhase,
    SyncStatusCode, condition,
};
use driftless_engine::short;
use driftless_testkit::{Error, HttpSink, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

/// An automated app `web` of `app/` that prunes and rolls back after 30 s,
/// subscribed to the documented `on-rollback` trigger through a webhook.
async fn rolling_app(w: &World) -> Result<(), Error> {
    // Annotated as created: an edit made while the first sync runs would
    // race the controller's status writes.
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "web", "namespace": w.name(), "annotations": {
            ANNOTATION_ROLLBACK_AFTER: "30s",
            "notifications.argoproj.io/subscribe.on-rollback.hook": "",
        } },
        "spec": {
            "project": "default",
            "source": { "repoURL": w.repo.url(), "targetRevision": "main", "path": "app" },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": w.name() },
            "syncPolicy": { "automated": { "prune": true } },
        },
    }))
    .expect("valid Application");
    w.apps.create(&Default::default(), &app).await.map_err(|source| Error::Kube { what: "create app web".into(), source })?;
    Ok(())
}

/// The `on-rollback` trigger and a template as docs/automatic-rollback.md
/// gives them, to a webhook at `sink`.
const ON_ROLLBACK: &str = "- description: driftless rolled the application back automatically\n  oncePer: app.status.operationState?.startedAt\n  send: [app-rolled-back]\n  when: app.status.conditions != nil and any(app.status.conditions, {.type == 'RolledBack'})\n";
const ROLLED_BACK: &str = r#"
message: "{{range .app.status.conditions}}{{if eq .type \"RolledBack\"}}{{.message}}{{end}}{{end}}"
webhook:
  hook:
    method: POST
    path: /rolled-back/{{.app.metadata.name}}
    body: |
      {"app": "{{.app.metadata.name}}", "from": "{{index .app.metadata.annotations "driftless.dev/rolled-back-from"}}"}
"#;

/// Applies the ConfigMap `name` with `data` (and `labels`) in the control plane.
async fn config_map(w: &World, name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) {
    let pairs = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.labels = Some(pairs(labels));
    cm.data = Some(pairs(data));
    let mut value = serde_json::to_value(&cm).expect("ConfigMap");
    value["apiVersion"] = json!("v1");
    value["kind"] = json!("ConfigMap");
    w.ns.api::<ConfigMap>().patch(name, &PatchParams::apply("rollback-test").force(), &Patch::Apply(value)).await.expect("apply ConfigMap");
}

fn annotation(a: &Application, key: &str) -> Option<String> {
    a.metadata.annotations.as_ref()?.get(key).cloned()
}

fn condition_of(a: &Application, type_: &str) -> Option<String> {
    a.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone())
}

/// Synced and Healthy at `revision`, its history entry remembered as Healthy.
fn healthy_at(revision: &str) -> impl Fn(&Application) -> Option<()> + '_ {
    move |a| {
        let s = a.status.as_ref()?;
        let last = s.history.iter().max_by_key(|h| h.id)?;
        let remembered = annotation(a, ANNOTATION_HEALTHY_HISTORY)?.split(',').any(|id| id == last.id.to_string());
        (s.sync.status == SyncStatusCode::Synced
            && s.health.status == HealthStatusCode::Healthy
            && s.sync.revision.as_deref() == Some(revision)
            && last.revision == revision
            && remembered)
            .then_some(())
    }
}

/// The app's last operation, once it is a finished rollback.
fn rolled_back(a: &Application) -> Option<driftless_api::OperationState> {
    let s = a.status.as_ref()?.operation_state.as_ref()?;
    (s.operation.is_rollback() && s.phase.is_completed()).then(|| s.clone())
}

/// The Events with `reason` on the app, as their messages.
async fn events(w: &World, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(w.ns.client(), w.name());
    let listed = api.list(&ListParams::default().fields(&format!("involvedObject.name=web,reason={reason}"))).await.expect("list events");
    listed.items.into_iter().filter_map(|e| e.message).collect()
}

fn image(w: &World) -> String {
    w.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"])
}

/// Waits until the controller has compared the app twice more (its resync
/// is 2 s): automation had its chances to act.
async fn two_resyncs(w: &World) -> Result<(), Error> {
    for _ in 0..2 {
        let seen = w.apps.get("web").await.expect("app").status.and_then(|s| s.reconciled_at);
        w.wait_app("web", "compared again", |a| (a.status.as_ref()?.reconciled_at != seen).then_some(())).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_crashlooping_commit_is_rolled_back_and_held_until_git_moves_past_it() -> Result<(), Error> {
    let w = World::new("rollback").await?;
    let sink = HttpSink::start().await;
    let hook = format!("url: {}/hook\nheaders:\n- name: Content-Type\n  value: application/json\n", sink.url());
    config_map(
        &w,
        "argocd-notifications-cm",
        &[],
        &[("service.webhook.hook", &hook), ("template.app-rolled-back", ROLLED_BACK), ("trigger.on-rollback", ON_ROLLBACK)],
    )
    .await;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    let good = w.repo.commit("good");
    rolling_app(&w).await?;
    w.wait_app("web", "Healthy at the good commit", healthy_at(&good)).await?;

    w.repo.write("app/deploy.yaml", &deployment("web", 1, "example/web:crashloop"));
    let bad = w.repo.commit("crashlooping");
    let op = w.wait_app("web", "rolled back", rolled_back).await?;
    let why = format!("rolled back from {}: not Healthy within 30s", short(&bad));
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    assert!(op.message.as_deref().unwrap_or_default().starts_with(&format!("{why}; ")), "{op:?}");
    assert_eq!(op.sync_result.as_ref().map(|r| r.revision.as_str()), Some(good.as_str()));
    let by = op.operation.initiated_by.as_ref().expect("initiator");
    assert!(by.automated, "{by:?}");
    assert!(op.operation.info.iter().any(|i| i.value == why), "{:?}", op.operation.info);

    let a = w
        .wait_app("web", "OutOfSync with the RolledBack condition", |a| {
            let s = a.status.as_ref()?;
            (s.sync.status == SyncStatusCode::OutOfSync && condition_of(a, condition::ROLLED_BACK).is_some()).then(|| a.clone())
        })
        .await?;
    assert_eq!(condition_of(&a, condition::ROLLED_BACK).as_deref(), Some(why.as_str()));
    assert_eq!(annotation(&a, ANNOTATION_ROLLED_BACK_FROM).as_deref(), Some(bad.as_str()));
    let history = &a.status.as_ref().expect("status").history;
    let revisions: Vec<&str> = history.iter().map(|h| h.revision.as_str()).collect();
    assert_eq!(revisions, [good.as_str(), bad.as_str(), good.as_str()]);
    let last = history.last().expect("the rollback's entry");
    assert_eq!(last.initiated_by.as_ref().and_then(|i| i.username.as_deref()), Some(why.as_str()), "the history says why");
    assert_eq!(image(&w), "nginx:1.27", "the cluster runs the good commit again");
    let said = events(&w, "RolledBack").await;
    assert_eq!(said, [format!("Rolled back from {bad} to {good}: not Healthy within 30s")]);
    let notified = wait_for("the on-rollback notification", common::TIMEOUT, || {
        let got = sink.received_at("/hook/rolled-back/web");
        std::future::ready(if got.is_empty() { Err(sink.received().len()) } else { Ok(got) })
    })
    .await?;
    assert_eq!(notified[0].json(), json!({ "app": "web", "from": bad }));

    // The bad revision is not synced again: through resyncs and a refresh.
    two_resyncs(&w).await?;
    let refresh = json!({ "metadata": { "annotations": { "argocd.argoproj.io/refresh": "normal" } } });
    w.apps.patch("web", &PatchParams::default(), &Patch::Merge(refresh)).await.expect("refresh");
    two_resyncs(&w).await?;
    let a = w.apps.get("web").await.expect("app");
    let s = a.status.as_ref().expect("status");
    assert_eq!((s.sync.status, s.history.len()), (SyncStatusCode::OutOfSync, 3), "{:?}", s.operation_state);
    assert_eq!(condition_of(&a, condition::ROLLED_BACK).as_deref(), Some(why.as_str()));
    assert_eq!(image(&w), "nginx:1.27");

    // A newer good commit syncs normally and clears the hold.
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.28"));
    let fixed = w.repo.commit("fixed");
    w.wait_app("web", "Healthy at the fix", healthy_at(&fixed)).await?;
    let a = w.apps.get("web").await.expect("app");
    assert_eq!(condition_of(&a, condition::ROLLED_BACK), None);
    assert_eq!(annotation(&a, ANNOTATION_ROLLED_BACK_FROM), None);
    assert_eq!(image(&w), "nginx:1.28");
    assert_eq!(events(&w, "RolledBack").await.len(), 1, "one rollback");
    assert_eq!(sink.received_at("/hook/rolled-back/web").len(), 1, "one notification");
    Ok(())
}

#[tokio::test]
async fn a_rollback_that_fails_stops_and_says_so() -> Result<(), Error> {
    let w = World::new("rollback-fails").await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1.27"));
    w.repo.write("app/legacy.yaml", &configmap("legacy", ""));
    let good = w.repo.commit("good, with a legacy ConfigMap");
    rolling_app(&w).await?;
    w.wait_app("web", "Healthy at the good commit", healthy_at(&good)).await?;

    // The crashlooping commit drops the ConfigMap a policy now forbids: the
    // rollback to the good commit is refused by the policy.
    let deny = "package retire\nimport rego.v1\ndeny contains msg if {\n  input.object.kind == \"ConfigMap\"\n  input.object.metadata.name == \"legacy\"\n  msg := \"the legacy ConfigMap is retired\"\n}\n";
    config_map(&w, "policies", &[("driftless.dev/policy", "true")], &[("retire.rego", deny)]).await;
    w.repo.remove("app/legacy.yaml");
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "example/web:crashloop"));
    let bad = w.repo.commit("crashlooping");

    let op = w.wait_app("web", "rollback finished", rolled_back).await?;
    assert_eq!(op.phase, OperationPhase::Failed, "{op:?}");
    let message = op.message.clone().unwrap_or_default();
    let why = format!("rolled back from {}: not Healthy within 30s", short(&bad));
    assert!(message.starts_with(&format!("{why}; ")) && message.contains("the legacy ConfigMap is retired"), "{message}");
    let said = w
        .wait_app("web", "RolledBack says the rollback failed", |a| {
            condition_of(a, condition::ROLLED_BACK).filter(|c| c.contains("failed"))
        })
        .await?;
    assert!(said.starts_with(&format!("{why}; the rollback to {} failed: ", short(&good))), "{said}");
    assert!(said.ends_with("no further automatic rollback"), "{said}");

    // No loop: neither another rollback nor a sync of the bad revision.
    two_resyncs(&w).await?;
    two_resyncs(&w).await?;
    let a = w.apps.get("web").await.expect("app");
    let s = a.status.as_ref().expect("status");
    assert_eq!(s.operation_state.as_ref().map(|o| (&o.started_at, o.phase)), Some((&op.started_at, OperationPhase::Failed)));
    let revisions: Vec<&str> = s.history.iter().map(|h| h.revision.as_str()).collect();
    assert_eq!(revisions, [good.as_str(), bad.as_str()]);
    assert_eq!(annotation(&a, ANNOTATION_ROLLED_BACK_FROM).as_deref(), Some(bad.as_str()));
    assert_eq!(events(&w, "RolledBack").await.len(), 1);
    Ok(())
}
