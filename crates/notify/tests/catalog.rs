//! Argo CD's catalog of triggers, as a user copies it into
//! argocd-notifications-cm, loads and fires on the app states it is meant
//! for; templates in the catalog's shape render for every service type.

use std::collections::BTreeMap;

use driftless_notify::config::Config;
use driftless_notify::plan::{self, Pending};
use driftless_notify::state::NotifiedState;
use driftless_notify::subscriptions::Destinations;
use driftless_notify::{Destination, Notification};
use serde_json::{Value, json};

/// The catalog's triggers (their conditions are the interface: a user's
/// copy must work unchanged).
const TRIGGERS: &[(&str, &str)] = &[
    ("on-created", "- description: Application is created.\n  oncePer: app.metadata.name\n  send: [app-created]\n  when: \"true\"\n"),
    (
        "on-deleted",
        "- description: Application is deleted.\n  oncePer: app.metadata.name\n  send: [app-deleted]\n  when: app.metadata.deletionTimestamp != nil\n",
    ),
    (
        "on-deployed",
        "- description: Application is synced and healthy. Triggered once per commit.\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-deployed]\n  when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']\n    and app.status.health.status == 'Healthy' and !time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.finishedAt))\n",
    ),
    (
        "on-health-degraded",
        "- description: Application has degraded\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-health-degraded]\n  when: app.status.health.status == 'Degraded'\n",
    ),
    (
        "on-sync-failed",
        "- description: Application syncing has failed\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-sync-failed]\n  when: app.status.operationState != nil and app.status.operationState.phase in ['Error',\n    'Failed']\n",
    ),
    (
        "on-sync-running",
        "- description: Application is being synced\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-sync-running]\n  when: app.status.operationState != nil and app.status.operationState.phase in ['Running']\n",
    ),
    (
        "on-sync-status-unknown",
        "- description: Application status is 'Unknown'\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-sync-status-unknown]\n  when: app.status.sync.status == 'Unknown'\n",
    ),
    (
        "on-sync-succeeded",
        "- description: Application syncing has succeeded\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-sync-succeeded]\n  when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']\n",
    ),
];

/// A template in the catalog's shape: a message that differs for Slack,
/// Slack attachments and Teams facts built with `range` over conditions,
/// an email subject.
fn template(name: &str, headline: &str) -> String {
    format!(
        r##"email:
  subject: {headline}
message: |
  {{{{if eq .serviceType "slack"}}}}:bell:{{{{end}}}} {headline}
  Details: {{{{.context.argocdUrl}}}}/applications/{{{{.app.metadata.name}}}}?operation=true .
slack:
  attachments: |
    [{{
      "title": "{{{{ .app.metadata.name}}}}",
      "title_link": "{{{{.context.argocdUrl}}}}/applications/{{{{.app.metadata.name}}}}",
      "fields": [
      {{
        "title": {{{{- if .app.spec.source }}}} "Repository" {{{{- else if .app.spec.sources }}}} "Repositories" {{{{- end }}}},
        "value": {{{{- if .app.spec.source }}}} "{{{{ .app.spec.source.repoURL }}}}" {{{{- else if .app.spec.sources }}}} "{{{{- range $index, $source := .app.spec.sources }}}}{{{{ if $index }}}}\n{{{{ end }}}}{{{{ $source.repoURL }}}}{{{{- end }}}}" {{{{- end }}}},
        "short": true
      }}
      {{{{range $index, $c := .app.status.conditions}}}}
      ,{{"title": "{{{{$c.type}}}}", "value": "{{{{$c.message}}}}", "short": true}}
      {{{{end}}}}
      ]
    }}]
  deliveryPolicy: Post
  groupingKey: ""
  notifyBroadcast: false
teams:
  facts: |
    [{{"name": "Sync Status", "value": "{{{{.app.status.sync.status}}}}"}}
    {{{{range $index, $c := .app.status.conditions}}}}, {{"name": "{{{{$c.type}}}}", "value": "{{{{$c.message}}}}"}}{{{{end}}}}]
  title: {headline}
# {name}
"##
    )
}

fn config() -> Config {
    let mut data: BTreeMap<String, String> = TRIGGERS.iter().map(|(n, t)| (format!("trigger.{n}"), t.to_string())).collect();
    for (name, headline) in [
        ("app-created", "Application {{.app.metadata.name}} has been created."),
        ("app-deleted", "Application {{.app.metadata.name}} has been deleted."),
        ("app-deployed", "New version of an application {{.app.metadata.name}} is up and running."),
        ("app-health-degraded", "Application {{.app.metadata.name}} has degraded."),
        ("app-sync-failed", "Failed to sync application {{.app.metadata.name}}."),
        ("app-sync-running", "Start syncing application {{.app.metadata.name}}."),
        ("app-sync-status-unknown", "Application {{.app.metadata.name}} sync status is 'Unknown'"),
        ("app-sync-succeeded", "Application {{.app.metadata.name}} has been successfully synced."),
    ] {
        data.insert(format!("template.{name}"), template(name, headline));
    }
    data.insert("context".into(), "argocdUrl: https://cd.example.com\n".into());
    let c = Config::parse(&data, &BTreeMap::new());
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    c
}

fn app(status: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {"source": {"repoURL": "https://github.com/org/guestbook.git", "path": "."}},
        "status": status,
    })
}

fn now() -> jiff::Timestamp {
    "2026-12-05T12:00:00Z".parse().unwrap()
}

/// Which catalog triggers fire for `app`.
fn fired(config: &Config, app: &Value) -> Vec<String> {
    let to = Destination { service: "slack".into(), recipient: "ops".into() };
    let all: Destinations = TRIGGERS.iter().map(|(n, _)| (n.to_string(), [to.clone()].into_iter().collect())).collect();
    let e = plan::evaluate(config, app, &all, NotifiedState::default(), now());
    let mut names: Vec<String> = e.pending.into_iter().map(|p| p.trigger).collect();
    names.dedup();
    names
}

#[test]
fn each_catalog_trigger_fires_on_its_state() {
    let c = config();
    let succeeded = json!({
        "sync": {"status": "Synced", "revision": "abc"},
        "health": {"status": "Healthy", "lastTransitionTime": "2026-12-05T11:00:05Z"},
        "operationState": {"phase": "Succeeded", "startedAt": "2026-12-05T10:59:00Z", "finishedAt": "2026-12-05T11:00:00Z", "syncResult": {"revision": "abc"}},
    });
    assert_eq!(fired(&c, &app(succeeded)), ["on-created", "on-deployed", "on-sync-succeeded"]);
    // Healthy before the sync finished: not deployed by this sync.
    let stale_health = json!({
        "sync": {"status": "Synced"}, "health": {"status": "Healthy", "lastTransitionTime": "2026-12-05T10:00:00Z"},
        "operationState": {"phase": "Succeeded", "finishedAt": "2026-12-05T11:00:00Z", "syncResult": {"revision": "abc"}},
    });
    assert_eq!(fired(&c, &app(stale_health)), ["on-created", "on-sync-succeeded"]);
    let failed = json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded"},
                        "operationState": {"phase": "Failed", "message": "one or more objects failed to apply", "syncResult": {"revision": "abc"}}});
    assert_eq!(fired(&c, &app(failed)), ["on-created", "on-health-degraded", "on-sync-failed"]);
    let running = json!({"sync": {"status": "OutOfSync"}, "operationState": {"phase": "Running"}});
    assert_eq!(fired(&c, &app(running)), ["on-created", "on-sync-running"]);
    // No operation at all: nothing but creation and an Unknown status.
    assert_eq!(fired(&c, &app(json!({"sync": {"status": "Unknown"}}))), ["on-created", "on-sync-status-unknown"]);
    let mut deleted = app(json!({"sync": {"status": "Synced"}}));
    deleted["metadata"]["deletionTimestamp"] = json!("2026-12-05T11:30:00Z");
    assert_eq!(fired(&c, &deleted), ["on-created", "on-deleted"]);
}

fn render(c: &Config, template: &str, app: &Value, service_type: &str) -> Notification {
    let p = Pending {
        trigger: String::new(),
        key: String::new(),
        to: Destination { service: service_type.into(), recipient: String::new() },
        templates: vec![template.into()],
    };
    plan::render(c, &p, app, service_type).unwrap()
}

#[test]
fn catalog_shaped_templates_render_valid_json_for_every_service() {
    let c = config();
    let a = app(json!({"sync": {"status": "Synced"}, "conditions": [
        {"type": "SyncError", "message": "first"}, {"type": "OrphanedResourceWarning", "message": "second"}]}));
    let slack = render(&c, "app-sync-succeeded", &a, "slack");
    assert!(slack.message.starts_with(":bell: Application guestbook has been successfully synced."), "{}", slack.message);
    assert!(slack.message.contains("https://cd.example.com/applications/guestbook?operation=true"));
    let attachments: Value = serde_json::from_str(slack.sections["slack"]["attachments"].as_str().unwrap()).expect("attachments are JSON");
    assert_eq!(attachments[0]["title"], "guestbook");
    assert_eq!(attachments[0]["fields"][0]["value"], "https://github.com/org/guestbook.git");
    assert_eq!(attachments[0]["fields"][2]["value"], "second");
    let teams = render(&c, "app-sync-succeeded", &a, "teams");
    assert!(!teams.message.contains(":bell:"), "Slack's emoji only for Slack");
    let facts: Value = serde_json::from_str(teams.sections["teams"]["facts"].as_str().unwrap()).expect("facts are JSON");
    assert_eq!(facts[1], json!({"name": "SyncError", "value": "first"}));
    assert_eq!(teams.sections["teams"]["title"], "Application guestbook has been successfully synced.");
    let email = render(&c, "app-health-degraded", &a, "email");
    assert_eq!(email.sections["email"]["subject"], "Application guestbook has degraded.");
    // Multi-source apps take the other branch.
    let mut multi = a.clone();
    multi["spec"] = json!({"sources": [{"repoURL": "https://a.example/x"}, {"repoURL": "https://b.example/y"}]});
    let slack = render(&c, "app-deployed", &multi, "slack");
    let attachments: Value = serde_json::from_str(slack.sections["slack"]["attachments"].as_str().unwrap()).unwrap();
    assert_eq!(attachments[0]["fields"][0]["title"], "Repositories");
    assert_eq!(attachments[0]["fields"][0]["value"], "https://a.example/x\nhttps://b.example/y");
}
