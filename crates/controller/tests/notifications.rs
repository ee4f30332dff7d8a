//! Notifications against the real dev control plane, every receiver a real
//! HTTP server on 127.0.0.1 (`HttpSink`): Slack's chat.postMessage, a Teams
//! webhook, a generic webhook and GitHub's statuses API, configured in
//! argocd-notifications-cm as an Argo CD user writes it.

mod common;

use common::{World, deployment};
use driftless_api::{Application, HealthStatusCode};
use driftless_testkit::{Error, HttpSink, Received, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const SUCCEEDED: &str = r##"
message: |
  {{if eq .serviceType "slack"}}:white_check_mark:{{end}} Application {{.app.metadata.name}} has been successfully synced at {{.app.status.operationState.syncResult.revision}}.
slack:
  attachments: |
    [{"title": "{{ .app.metadata.name}}", "color": "#18be52",
      "fields": [{"title": "Sync Status", "value": "{{.app.status.sync.status}}", "short": true}]}]
teams:
  title: Application {{.app.metadata.name}} has been successfully synced
  facts: |
    [{"name": "Revision", "value": "{{.app.status.operationState.syncResult.revision}}"}]
webhook:
  hook:
    method: POST
    path: /synced/{{.app.metadata.name}}
    body: |
      {"app": "{{.app.metadata.name}}", "revision": "{{.app.status.operationState.syncResult.revision}}"}
github:
  repoURLPath: "https://github.com/org/guestbook"
  status:
    state: success
    label: continuous-delivery/{{.app.metadata.name}}
    targetURL: "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true"
"##;

const DEGRADED: &str = r#"
message: "Application {{.app.metadata.name}} has degraded: {{.app.status.health.message}}"
"#;

/// The catalog's triggers for these two.
const ON_SYNC_SUCCEEDED: &str = "- description: Application syncing has succeeded\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-sync-succeeded]\n  when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']\n";
const ON_HEALTH_DEGRADED: &str = "- description: Application has degraded\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-health-degraded]\n  when: app.status.health.status == 'Degraded'\n";

/// argocd-notifications-cm and its Secret, with every service pointing at `sink`.
async fn configure(w: &World, sink: &HttpSink) -> Result<(), Error> {
    let url = sink.url();
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-notifications-cm"},
        "data": {
            "service.slack": format!("token: $slack-token\napiURL: {url}/slack/api/\n"),
            "service.teams": format!("recipientUrls:\n  ops: {url}/teams/ops\n"),
            "service.webhook.hook": format!("url: {url}/hook\nheaders:\n- name: Content-Type\n  value: application/json\n- name: Authorization\n  value: Bearer $hook-token\n"),
            "service.github": format!("token: $github-token\nenterpriseBaseURL: {url}/gh\n"),
            "template.app-sync-succeeded": SUCCEEDED,
            "template.app-health-degraded": DEGRADED,
            "trigger.on-sync-succeeded": ON_SYNC_SUCCEEDED,
            "trigger.on-health-degraded": ON_HEALTH_DEGRADED,
            "context": "argocdUrl: https://cd.example.com\n",
        },
    });
    apply::<ConfigMap>(w, "argocd-notifications-cm", cm).await?;
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-notifications-secret"},
        "stringData": {"slack-token": "xoxb-s3cret", "hook-token": "hook-s3cret", "github-token": "ghp-s3cret"},
    });
    apply::<Secret>(w, "argocd-notifications-secret", secret).await
}

async fn apply<K>(w: &World, name: &str, body: Value) -> Result<(), Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(w.ns.client(), w.name())
        .patch(name, &PatchParams::apply("test").force(), &Patch::Apply(body))
        .await
        .map(drop)
        .map_err(|source| Error::Kube { what: format!("apply {name}"), source })
}

/// Waits until `sink` has `n` requests at `prefix` answered 2xx, and returns them.
async fn delivered(sink: &HttpSink, prefix: &str, n: usize) -> Result<Vec<Received>, Error> {
    wait_for(&format!("{n} deliveries at {prefix}"), common::TIMEOUT, || {
        let all = sink.received();
        let got: Vec<Received> = all.iter().filter(|r| r.path.starts_with(prefix) && (200..300).contains(&r.status)).cloned().collect();
        // Not yet: what arrived, by path and status.
        std::future::ready(if got.len() >= n {
            Ok(got)
        } else {
            Err(all.iter().map(|r| format!("{} {}", r.path, r.status)).collect::<Vec<_>>())
        })
    })
    .await
}

/// Lets the notifications loop evaluate the app a few more times (each
/// resync evaluates it), so that a duplicate would have been sent.
async fn several_evaluations(w: &World) -> Result<(), Error> {
    let start = w.metric("argocd_notifications_trigger_eval_total", &[]);
    wait_for("three more trigger evaluations", common::TIMEOUT, || {
        let now = w.metric("argocd_notifications_trigger_eval_total", &[]);
        std::future::ready(if now >= start + 3.0 { Ok(()) } else { Err(now) })
    })
    .await
}

fn annotations(subscriptions: &[(&str, &str)]) -> Value {
    let map: serde_json::Map<String, Value> =
        subscriptions.iter().map(|(k, v)| (format!("notifications.argoproj.io/subscribe.{k}"), Value::String(v.to_string()))).collect();
    Value::Object(map)
}

async fn subscribed_app(w: &World, name: &str, subscriptions: &[(&str, &str)]) -> Result<Application, Error> {
    w.app(name, "app", json!({"syncPolicy": {"automated": {}}})).await?;
    let patch = json!({"metadata": {"annotations": annotations(subscriptions)}});
    w.apps
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::Kube { what: "subscribe".into(), source })
}

#[tokio::test]
async fn one_message_per_revision_to_slack_teams_a_webhook_and_github_and_one_when_degraded() -> Result<(), Error> {
    let w = World::new("notify").await?;
    let sink = HttpSink::start().await;
    sink.route("/slack/", 200, r#"{"ok": true, "ts": "1.2"}"#);
    // What Teams' connectors answer when they took a card.
    sink.route("/teams/", 200, "1");
    configure(&w, &sink).await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "example/web:1"));
    let first = w.repo.commit("a healthy web");
    subscribed_app(
        &w,
        "guestbook",
        &[
            ("on-sync-succeeded.slack", "dev"),
            ("on-sync-succeeded.teams", "ops"),
            ("on-sync-succeeded.hook", ""),
            ("on-sync-succeeded.github", ""),
            ("on-health-degraded.slack", "alerts"),
        ],
    )
    .await?;

    let slack = delivered(&sink, "/slack/api/chat.postMessage", 1).await?;
    let body = slack[0].json();
    assert_eq!(body["channel"], "dev");
    assert_eq!(body["text"], format!(":white_check_mark: Application guestbook has been successfully synced at {first}.\n"));
    assert_eq!(body["attachments"][0]["title"], "guestbook");
    assert_eq!(slack[0].headers["authorization"], "Bearer xoxb-s3cret");
    let teams = delivered(&sink, "/teams/ops", 1).await?;
    assert_eq!(teams[0].json()["title"], "Application guestbook has been successfully synced");
    assert_eq!(teams[0].json()["sections"][0]["facts"][0]["value"], first, "{}", teams[0].text());
    let hook = delivered(&sink, "/hook/synced/guestbook", 1).await?;
    assert_eq!((hook[0].method.as_str(), hook[0].json()), ("POST", json!({"app": "guestbook", "revision": first})));
    assert_eq!(hook[0].headers["authorization"], "Bearer hook-s3cret");
    let status = delivered(&sink, &format!("/gh/api/v3/repos/org/guestbook/statuses/{first}"), 1).await?;
    assert_eq!(status[0].json()["state"], "success");
    assert_eq!(status[0].json()["context"], "continuous-delivery/guestbook");
    assert_eq!(status[0].headers["authorization"], "Bearer ghp-s3cret");

    // What was sent is recorded on the app, in Argo CD's format (written
    // once every delivery of the evaluation is done: moments after the last).
    let notified: Value = wait_for("the record of what was sent", common::TIMEOUT, || async {
        let app = w.apps.get("guestbook").await.map_err(|e| e.to_string())?;
        let record = app.metadata.annotations.unwrap_or_default().remove("notified.notifications.argoproj.io").ok_or("no record yet")?;
        serde_json::from_str::<Value>(&record).map_err(|e| format!("{e}: {record}"))
    })
    .await?;
    assert!(
        notified
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with(&format!("{first}:on-sync-succeeded:[0].")) && k.ends_with(":slack:dev")),
        "{notified}"
    );

    // Nothing twice for the same revision.
    several_evaluations(&w).await?;
    let slack = sink.received_at("/slack/api/chat.postMessage");
    assert_eq!(slack.len(), 1, "{:?}", slack.iter().map(Received::text).collect::<Vec<_>>());
    let teams = sink.received_at("/teams/");
    assert_eq!(teams.len(), 1, "{:?}", teams.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>());

    // A new revision: one more of each.
    w.repo.write("app/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n");
    let second = w.repo.commit("one more object");
    let slack = delivered(&sink, "/slack/api/chat.postMessage", 2).await?;
    assert!(slack[1].json()["text"].as_str().unwrap().contains(&second));
    delivered(&sink, "/teams/ops", 2).await?;
    delivered(&sink, &format!("/gh/api/v3/repos/org/guestbook/statuses/{second}"), 1).await?;

    // A crashlooping image: one degraded message.
    let broken =
        deployment("web", 1, "example/web:crashloop").replace("spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 5\n  replicas");
    w.repo.write("app/deploy.yaml", &broken);
    w.repo.commit("a crashlooping web");
    w.wait_app("guestbook", "Degraded", |a| (a.status.as_ref()?.health.status == HealthStatusCode::Degraded).then_some(())).await?;
    let alerts = wait_for("a degraded message", common::TIMEOUT, || {
        let got: Vec<Received> = sink.received_at("/slack/").into_iter().filter(|r| r.json()["channel"] == "alerts").collect();
        std::future::ready(if got.is_empty() { Err(sink.received_at("/slack/").len()) } else { Ok(got) })
    })
    .await?;
    assert!(alerts[0].json()["text"].as_str().unwrap().starts_with("Application guestbook has degraded: "), "{}", alerts[0].text());
    several_evaluations(&w).await?;
    let alerts = sink.received_at("/slack/").into_iter().filter(|r| r.json()["channel"] == "alerts").count();
    assert_eq!(alerts, 1, "one degraded message");
    Ok(())
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_a_restart_neither_loses_nor_repeats() -> Result<(), Error> {
    let mut w = World::new("notify-retry").await?;
    let sink = HttpSink::start().await;
    configure(&w, &sink).await?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "example/web:1"));
    w.repo.commit("a healthy web");

    // 500 twice, then 200: delivered once, after two retries.
    sink.fail_next(2, 500);
    subscribed_app(&w, "retried", &[("on-sync-succeeded.hook", "")]).await?;
    delivered(&sink, "/hook/synced/retried", 1).await?;
    let attempts = sink.received_at("/hook/synced/retried");
    assert_eq!(attempts.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 500, 200]);

    // A restart does not send it again.
    w.crash_controller();
    w.start_controller();
    several_evaluations(&w).await?;
    assert_eq!(sink.received_at("/hook/synced/retried").len(), 3);

    // The controller stops after the sync, before the delivery (the
    // receiver fails throughout): once it is back, the message arrives once.
    sink.fail_next(1000, 503);
    subscribed_app(&w, "late", &[("on-sync-succeeded.hook", "")]).await?;
    wait_for("a failed attempt", common::TIMEOUT, || {
        std::future::ready(if sink.received_at("/hook/synced/late").is_empty() { Err(()) } else { Ok(()) })
    })
    .await?;
    w.crash_controller();
    sink.stop_failing();
    w.start_controller();
    delivered(&sink, "/hook/synced/late", 1).await?;
    several_evaluations(&w).await?;
    let ok = sink.received_at("/hook/synced/late").into_iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "delivered exactly once");
    Ok(())
}

#[tokio::test]
async fn drift_that_persists_is_alerted_once_and_the_mark_goes_once_synced() -> Result<(), Error> {
    let w = World::new("notify-drift").await?;
    let sink = HttpSink::start().await;
    configure(&w, &sink).await?;
    // Argo CD's expression over the annotation the loop keeps: OutOfSync
    // for 2 s or more (10 minutes in real life), once per drift.
    let trigger = "- when: app.status.sync.status == 'OutOfSync' and time.Now().Sub(time.Parse(app.metadata.annotations['driftless.dev/out-of-sync-since'])).Seconds() >= 2\n  oncePer: app.metadata.annotations['driftless.dev/out-of-sync-since']\n  send: [drift]\n";
    let template = "webhook:\n  hook:\n    method: POST\n    path: /drift/{{.app.metadata.name}}\n    body: '{\"since\": \"{{index .app.metadata.annotations \"driftless.dev/out-of-sync-since\"}}\"}'\n";
    let patch = json!({"data": {"trigger.on-drift": trigger, "template.drift": template}});
    Api::<ConfigMap>::namespaced(w.ns.client(), w.name())
        .patch("argocd-notifications-cm", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::Kube { what: "add the drift trigger".into(), source })?;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "example/web:1"));
    w.repo.commit("a healthy web");
    // Drift detection only: no automated sync, so the app stays OutOfSync.
    w.app("drifting", "app", json!({})).await?;
    let patch = json!({"metadata": {"annotations": annotations(&[("on-drift.hook", "")])}});
    w.apps
        .patch("drifting", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::Kube { what: "subscribe".into(), source })?;

    let alert = delivered(&sink, "/hook/drift/drifting", 1).await?;
    let app = w.apps.get("drifting").await.map_err(|source| Error::Kube { what: "read app".into(), source })?;
    let since = app.metadata.annotations.unwrap_or_default().get("driftless.dev/out-of-sync-since").cloned().expect("the mark");
    assert_eq!(alert[0].json(), json!({"since": since}));
    assert!(w.metric("driftless_app_out_of_sync_seconds", &["name=\"drifting\""]) > 0.0, "the metric shows the drift");
    several_evaluations(&w).await?;
    assert_eq!(sink.received_at("/hook/drift/").len(), 1, "once per drift");

    // Synced: the mark and the metric's series go.
    w.request_sync("drifting", json!({})).await?;
    w.wait_app("drifting", "Synced and unmarked", |a| {
        let synced = a.status.as_ref()?.sync.status == driftless_api::SyncStatusCode::Synced;
        let marked = a.metadata.annotations.as_ref().is_some_and(|m| m.contains_key("driftless.dev/out-of-sync-since"));
        (synced && !marked).then_some(())
    })
    .await?;
    let series = w
        .metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("driftless_app_out_of_sync_seconds{") && l.contains("name=\"drifting\""))
        .count();
    assert_eq!(series, 0, "no drift, no series");
    Ok(())
}
