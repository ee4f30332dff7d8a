//! The HTTP services against real servers on 127.0.0.1: what arrives
//! (method, path, auth, body in the service's format, from Argo CD's catalog
//! templates as rendered), how failures are classified, and that no error
//! tells a secret.

mod support;

use driftless_notify::services::{SendError, Service};
use serde_json::{Value, json};
use support::{Peer, json_reply, notification, reply};

const APP_URL: &str = "https://argocd.example.com/applications/guestbook";
const REPO: &str = "https://github.com/argoproj/argocd-example-apps.git";
const SHA: &str = "4e8f9c1f2b3a4d5e6f708192a3b4c5d6e7f80912";

/// The message of the catalog's `app-sync-succeeded`, rendered for Slack.
fn synced_message() -> String {
    format!(
        ":white_check_mark: Application guestbook has been successfully synced at 2026-01-05T10:00:00Z.\n\
         Sync operation details are available at: {APP_URL}?operation=true .\n"
    )
}

/// The catalog's `app-sync-succeeded` `slack.attachments`, rendered.
fn synced_attachments() -> String {
    format!(
        r##"[{{
  "title": "guestbook",
  "title_link":"{APP_URL}",
  "color": "#18be52",
  "fields": [
  {{
    "title": "Sync Status",
    "value": "Synced",
    "short": true
  }},
  {{
    "title": "Repository",
    "value": "{REPO}",
    "short": true
  }}

  ]
}}]"##
    )
}

/// The catalog's `app-sync-succeeded` `teams` section, rendered.
fn synced_teams() -> Value {
    json!({
        "themeColor": "#000080",
        "title": "Application guestbook has been successfully synced",
        "facts": format!(r#"[{{
  "name": "Sync Status",
  "value": "Synced"
}},
{{
  "name": "Synced at",
  "value": "2026-01-05T10:00:00Z"
}},
{{
  "name": "Repository",
  "value": "{REPO}"
}}
]"#),
        "potentialAction": format!(r#"[{{
  "@type":"OpenUri",
  "name":"Operation Details",
  "targets":[{{"os":"default","uri":"{APP_URL}?operation=true"}}]
}},
{{
  "@type":"OpenUri",
  "name":"Open Repository",
  "targets":[{{"os":"default","uri":"https://github.com/argoproj/argocd-example-apps"}}]
}}]"#),
    })
}

fn service(service_type: &str, name: &str, config: Value) -> Service {
    Service::parse(service_type, name, &config).unwrap_or_else(|e| panic!("{e}"))
}

/// The error of a send that must fail, checked for secrets.
async fn failure(s: &Service, n: &driftless_notify::Notification, recipient: &str, secrets: &[&str]) -> SendError {
    let e = s.send(n, recipient).await.expect_err("the send fails");
    let shown = format!("{e} {e:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "the error tells `{secret}`: {shown}");
    }
    e
}

// ---- Slack ----

const SLACK_TOKEN: &str = "xoxb-1111-2222-s3cr3t";

fn slack_ok() -> support::Reply {
    json_reply(200, json!({"ok": true, "channel": "C024BE91L", "ts": "1700000000.000100"}))
}

#[tokio::test]
async fn slack_posts_the_catalog_message_with_the_bot_token() {
    let slack = Peer::start(|_| slack_ok()).await;
    // apiURL without its final slash, as the docs write it.
    let s = service(
        "slack",
        "slack",
        json!({"token": SLACK_TOKEN, "apiURL": format!("{}/api", slack.url), "username": "argocd", "icon": ":rocket:"}),
    );
    assert_eq!(s.service_type(), "slack");
    let n = notification(&synced_message(), json!({"slack": {"attachments": synced_attachments(), "deliveryPolicy": "Post"}}));
    s.send(&n, "deployments").await.unwrap();

    let seen = slack.one();
    assert_eq!((seen.method.as_str(), seen.uri.as_str()), ("POST", "/api/chat.postMessage"));
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {SLACK_TOKEN}").as_str()));
    assert!(seen.header("content-type").unwrap().starts_with("application/json"));
    let body = seen.json();
    assert_eq!(body["channel"], "deployments");
    assert_eq!(body["text"], synced_message());
    assert_eq!(body["username"], "argocd");
    assert_eq!(body["icon_emoji"], ":rocket:");
    let attachments: Value = serde_json::from_str(&synced_attachments()).unwrap();
    assert_eq!(body["attachments"], attachments);
    assert_eq!(body["attachments"][0]["fields"][1]["value"], REPO);
    assert!(body.get("blocks").is_none());
}

#[tokio::test]
async fn slack_failures_are_classified_and_never_show_the_token() {
    let answers = [
        (json_reply(200, json!({"ok": false, "error": "channel_not_found"})), false, "channel_not_found"),
        (json_reply(200, json!({"ok": false, "error": "invalid_auth"})), false, "invalid_auth"),
        (json_reply(200, json!({"ok": false, "error": "ratelimited"})), true, "ratelimited"),
        ((429, vec![("retry-after", "7".to_string())], b"{\"ok\":false,\"error\":\"ratelimited\"}".to_vec()), true, "429"),
        (reply(500, format!("upstream broke; your token was {SLACK_TOKEN}")), true, "500"),
        (reply(400, "bad"), false, "400"),
        (reply(200, "<html>not slack</html>"), false, "not JSON"),
    ];
    for (answer, transient, said) in answers {
        let retry_after =
            answer.1.iter().find(|(h, _)| *h == "retry-after").map(|(_, v)| std::time::Duration::from_secs(v.parse().unwrap()));
        let slack = Peer::start(move |_| answer.clone()).await;
        let s = service("slack", "slack", json!({"token": SLACK_TOKEN, "apiURL": format!("{}/api/", slack.url)}));
        let e = failure(&s, &notification("hi", json!({})), "ops", &[SLACK_TOKEN]).await;
        assert_eq!(e.is_transient(), transient, "{said}: {e}");
        assert!(e.to_string().contains(said), "{said}: {e}");
        assert!(e.to_string().starts_with("service.slack: POST http://127.0.0.1:"), "{e}");
        assert_eq!(e.retry_after(), retry_after, "{e}");
    }
}

#[tokio::test]
async fn slack_refuses_attachments_that_are_not_json_without_sending() {
    let slack = Peer::start(|_| slack_ok()).await;
    let s = service("slack", "slack", json!({"token": SLACK_TOKEN, "apiURL": format!("{}/api/", slack.url)}));
    for (section, field) in [
        (json!({"attachments": "[{\"title\": \"guestbook\",}]"}), "slack.attachments"),
        (json!({"blocks": "{\"type\": \"section\"}"}), "slack.blocks"),
        (json!({"deliveryPolicy": "Sometimes"}), "slack.deliveryPolicy"),
        (json!({"notifyBroadcast": "maybe"}), "slack.notifyBroadcast"),
    ] {
        let e = failure(&s, &notification("hi", json!({ "slack": section })), "ops", &[SLACK_TOKEN]).await;
        assert!(!e.is_transient(), "{e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    assert!(slack.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn slack_threads_by_grouping_key_and_updates_the_first_message() {
    let slack = Peer::start(|_| slack_ok()).await;
    let s = service("slack", "slack", json!({"token": SLACK_TOKEN, "apiURL": format!("{}/api/", slack.url)}));
    let section = |text: &str| json!({"slack": {"groupingKey": SHA, "deliveryPolicy": "PostAndUpdate", "notifyBroadcast": true, "attachments": text}});
    s.send(&notification("sync started", section("")), "ops").await.unwrap();
    s.send(&notification("sync succeeded", section("[{\"color\": \"#18be52\"}]")), "ops").await.unwrap();

    let seen = slack.seen();
    let calls: Vec<&str> = seen.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(calls, ["/api/chat.postMessage", "/api/chat.postMessage", "/api/chat.update"]);
    assert!(seen[0].json().get("thread_ts").is_none(), "the first message starts the thread");
    let reply = seen[1].json();
    assert_eq!((reply["thread_ts"].as_str(), reply["reply_broadcast"].as_bool()), (Some("1700000000.000100"), Some(true)));
    let update = seen[2].json();
    assert_eq!(update["channel"], "C024BE91L", "updated in the channel Slack named");
    assert_eq!(update["ts"], "1700000000.000100");
    assert_eq!(update["text"], "sync succeeded");
    assert_eq!(update["attachments"][0]["color"], "#18be52");
}

#[tokio::test]
async fn slack_incoming_webhook_gets_the_message_and_its_url_stays_secret() {
    let hook_path = "/services/T0001/B0001/XXXXsecretXXXX";
    let slack = Peer::start(move |r| if r.uri == hook_path { reply(200, "ok") } else { reply(404, "no_service") }).await;
    let s = service("slack", "slack", json!({"webhook": format!("{}{hook_path}", slack.url)}));
    let n = notification(&synced_message(), json!({"slack": {"attachments": synced_attachments()}}));
    s.send(&n, "").await.unwrap();
    let seen = slack.one();
    assert_eq!((seen.method.as_str(), seen.uri.as_str()), ("POST", hook_path));
    assert_eq!(seen.json()["text"], synced_message());
    assert_eq!(seen.json()["attachments"][0]["title"], "guestbook");
    assert!(seen.header("authorization").is_none());

    let wrong = service("slack", "slack", json!({"webhook": format!("{}/services/T0001/B0001/XXXXwrongXXXX", slack.url)}));
    let e = failure(&wrong, &n, "", &["XXXXwrongXXXX", "/services/"]).await;
    assert!(!e.is_transient());
    assert!(e.to_string().contains(&slack.url) && e.to_string().contains("404"), "{e}");
}

// ---- Teams ----

#[tokio::test]
async fn teams_posts_a_message_card_to_the_channel_webhook() {
    let teams = Peer::answering(200, "1").await;
    let s = service(
        "teams",
        "teams",
        json!({"recipientUrls": {"ops": format!("{}/webhookb2/ops-secret", teams.url), "dev": format!("{}/webhookb2/dev-secret", teams.url)}}),
    );
    let n = notification("Application guestbook has been successfully synced.", json!({ "teams": synced_teams() }));
    s.send(&n, "ops").await.unwrap();

    let seen = teams.one();
    assert_eq!((seen.method.as_str(), seen.uri.as_str()), ("POST", "/webhookb2/ops-secret"));
    let card = seen.json();
    assert_eq!(card["@type"], "MessageCard");
    assert_eq!(card["@context"], "https://schema.org/extensions");
    assert_eq!(card["title"], "Application guestbook has been successfully synced");
    assert_eq!(card["summary"], "Application guestbook has been successfully synced", "the summary defaults to the title");
    assert_eq!(card["text"], "Application guestbook has been successfully synced.");
    assert_eq!(card["themeColor"], "#000080");
    let facts = &card["sections"][0]["facts"];
    assert_eq!(facts[0], json!({"name": "Sync Status", "value": "Synced"}));
    assert_eq!(facts[2], json!({"name": "Repository", "value": REPO}));
    assert_eq!(card["potentialAction"][1]["targets"][0]["uri"], "https://github.com/argoproj/argocd-example-apps");

    // `template` is the whole body.
    let whole = notification("x", json!({"teams": {"template": "{\"@type\": \"MessageCard\", \"text\": \"mine\"}"}}));
    s.send(&whole, "dev").await.unwrap();
    assert_eq!(teams.seen()[1].json(), json!({"@type": "MessageCard", "text": "mine"}));
}

#[tokio::test]
async fn teams_refuses_unknown_channels_and_reports_its_answers_without_the_url() {
    let teams = Peer::answering(200, "Summary or Text is required.").await;
    let s = service("teams", "", json!({"recipientUrls": {"ops": format!("{}/webhookb2/ops-secret", teams.url)}}));
    let n = notification("hi", json!({}));
    let e = failure(&s, &n, "nowhere", &["ops-secret"]).await;
    assert!(!e.is_transient());
    assert!(e.to_string().contains("`nowhere`") && e.to_string().contains("it has: ops"), "{e}");
    assert!(teams.seen().is_empty());

    let e = failure(&s, &n, "ops", &["ops-secret", "webhookb2"]).await;
    assert!(!e.is_transient() && e.to_string().contains("Summary or Text is required."), "{e}");

    let bad = notification("hi", json!({"teams": {"facts": "[{\"name\": \"a\", \"value\": \"b\",}]"}}));
    let e = failure(&s, &bad, "ops", &["ops-secret"]).await;
    assert!(e.to_string().contains("teams.facts"), "{e}");
}

#[tokio::test]
async fn teams_workflows_posts_an_adaptive_card() {
    let flow = Peer::answering(202, "").await;
    let s = service("teams-workflows", "", json!({"recipientUrls": {"ops": format!("{}/powerautomate/workflows/abc", flow.url)}}));
    assert_eq!(s.service_type(), "teams-workflows");
    let mut section = synced_teams();
    section["themeColor"] = json!("Good");
    s.send(&notification("Application guestbook has been successfully synced.", json!({ "teams-workflows": section })), "ops")
        .await
        .unwrap();
    let body = flow.one().json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &attachment["content"];
    assert_eq!((card["type"].as_str(), card["version"].as_str()), (Some("AdaptiveCard"), Some("1.4")));
    assert_eq!(
        card["body"][0],
        json!({"type": "TextBlock", "text": "Application guestbook has been successfully synced", "size": "Large", "weight": "Bolder", "color": "Good", "wrap": true})
    );
    assert_eq!(card["body"][1]["text"], "Application guestbook has been successfully synced.");
    assert_eq!(card["body"][2]["type"], "FactSet");
    assert_eq!(card["body"][2]["facts"][2], json!({"title": "Repository", "value": REPO}));
    assert_eq!(
        card["actions"][0],
        json!({"type": "Action.OpenUrl", "title": "Operation Details", "url": format!("{APP_URL}?operation=true")})
    );

    let own =
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "mine"}], "msteams": {"width": "Full"}});
    s.send(&notification("x", json!({"teams-workflows": {"adaptiveCard": own.to_string()}})), "ops").await.unwrap();
    assert_eq!(flow.seen()[1].json()["attachments"][0]["content"], own, "the card as written, keys of its own included");
}

// ---- Webhook ----

#[tokio::test]
async fn webhook_sends_the_sections_method_path_body_headers_and_basic_auth() {
    let peer = Peer::answering(204, "").await;
    let s = service(
        "webhook",
        "github",
        json!({
            "url": format!("{}/api/", peer.url),
            "headers": [{"name": "Content-Type", "value": "application/json"}, {"name": "X-Token", "value": "hdr-s3cret"}],
            "basicAuth": {"username": "argo", "password": "pw-s3cret"},
            "retryMax": 3,
        }),
    );
    let body = format!(
        r#"{{"state": "success", "description": "ArgoCD", "target_url": "{APP_URL}", "context": "continuous-delivery/guestbook"}}"#
    );
    let n = notification(
        "m",
        json!({"webhook": {"github": {"method": "POST", "path": format!("/repos/argoproj/argocd-example-apps/statuses/{SHA}"), "body": body}, "other": {"method": "PUT"}}}),
    );
    s.send(&n, "").await.unwrap();
    let seen = peer.one();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, format!("/api/repos/argoproj/argocd-example-apps/statuses/{SHA}"));
    assert_eq!(seen.header("x-token"), Some("hdr-s3cret"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("authorization"), Some("Basic YXJnbzpwdy1zM2NyZXQ="));
    assert_eq!(seen.text(), body);

    // Without its section: GET, the message as the body, at the URL.
    s.send(&notification("just the message", json!({"webhook": {"other": {"method": "PUT"}}})), "").await.unwrap();
    let seen = &peer.seen()[1];
    assert_eq!((seen.method.as_str(), seen.uri.as_str(), seen.text().as_str()), ("GET", "/api/", "just the message"));
}

#[tokio::test]
async fn webhook_failures_are_classified_and_never_show_credentials() {
    for (status, transient) in
        [(500, true), (502, true), (503, true), (429, true), (408, true), (400, false), (401, false), (403, false), (404, false)]
    {
        let peer = Peer::answering(status, "Authorization: Basic d2hvOnB3LXMzY3JldA== was refused; pw-s3cret").await;
        let s = service(
            "webhook",
            "hook",
            json!({"url": format!("{}/hook?key=q-s3cret", peer.url), "headers": [{"name": "Authorization", "value": "Bearer hdr-s3cret"}], "basicAuth": {"username": "who", "password": "pw-s3cret"}}),
        );
        let e = failure(&s, &notification("m", json!({})), "", &["pw-s3cret", "hdr-s3cret", "q-s3cret"]).await;
        assert_eq!(e.is_transient(), transient, "{status}: {e}");
        assert!(e.to_string().contains(&format!("HTTP {status}")), "{e}");
    }
    // Nobody listening: transient.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let s = service("webhook", "hook", json!({"url": format!("http://{closed}/hook/pw-s3cret")}));
    let e = failure(&s, &notification("m", json!({})), "", &["pw-s3cret"]).await;
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn webhook_refuses_hostile_headers_methods_and_paths() {
    for (config, field) in [
        (json!({"url": "http://127.0.0.1:1", "headers": [{"name": "X-A\r\nX-Injected", "value": "v"}]}), "headers[0].name"),
        (json!({"url": "http://127.0.0.1:1", "headers": [{"name": "X-A", "value": "v\r\nX-Injected: 1"}]}), "headers[0].value"),
        (json!({"url": "http://127.0.0.1:1", "basicAuth": {"username": "u", "password": "p", "extra": 1}}), "basicAuth.extra"),
        (json!({"url": "file:///etc/passwd"}), "url"),
        (json!({}), "url"),
    ] {
        let e = Service::parse("webhook", "hook", &config).unwrap_err().to_string();
        assert!(e.starts_with(&format!("service.webhook.hook: {field}: ")), "{field}: {e}");
        assert!(!e.contains("X-Injected"), "{e}");
    }
    let peer = Peer::answering(200, "").await;
    let s = service("webhook", "hook", json!({"url": peer.url}));
    for (section, why) in [
        (json!({"method": "POST\r\nX-Injected: 1"}), "method"),
        (json!({"method": "GE T"}), "method"),
        (json!({"path": "/x\r\nHost: evil"}), "path"),
        (json!({"path": "/x y"}), "path"),
    ] {
        let e = failure(&s, &notification("m", json!({ "webhook": { "hook": section } })), "", &[]).await;
        assert!(!e.is_transient() && e.to_string().contains(&format!("webhook.hook.{why}")), "{e}");
    }
    assert!(peer.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn redirects_are_followed_on_the_same_host_only() {
    let elsewhere = Peer::answering(200, "").await;
    let target = elsewhere.url.clone();
    let peer = Peer::start(move |r| match r.uri.as_str() {
        "/moved" => (307, vec![("location", "/here".to_string())], vec![]),
        "/away" => (307, vec![("location", format!("{target}/stolen"))], vec![]),
        _ => reply(200, ""),
    })
    .await;
    let s = service("webhook", "hook", json!({"url": peer.url, "basicAuth": {"username": "u", "password": "pw-s3cret"}}));
    let section = |path: &str| json!({"webhook": {"hook": {"method": "POST", "path": path, "body": "b"}}});
    s.send(&notification("m", section("/moved")), "").await.unwrap();
    assert_eq!(peer.seen().iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(), ["/moved", "/here"]);

    let e = failure(&s, &notification("m", section("/away")), "", &["pw-s3cret"]).await;
    assert!(!e.is_transient() && e.to_string().contains("not followed"), "{e}");
    assert!(elsewhere.seen().is_empty(), "the other host got nothing");
}

#[tokio::test]
async fn huge_answers_are_cut_and_quoted_short() {
    let peer = Peer::start(|_| reply(500, vec![b'x'; 8 * 1024 * 1024])).await;
    let s = service("webhook", "hook", json!({"url": peer.url}));
    let e = failure(&s, &notification("m", json!({})), "", &[]).await;
    assert!(e.is_transient());
    assert!(e.to_string().len() < 600, "{} characters", e.to_string().len());
}

// ---- GitHub ----

const GH_TOKEN: &str = "ghp_s3cretPersonalAccessToken";

fn github(api: &Peer) -> Service {
    service("github", "", json!({"token": GH_TOKEN, "enterpriseBaseURL": api.url}))
}

fn github_section(extra: Value) -> Value {
    let mut section = json!({"repoURLPath": REPO, "revisionPath": SHA});
    section.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({ "github": section })
}

#[tokio::test]
async fn github_sets_the_commit_status_of_the_revision() {
    let api = Peer::start(|_| json_reply(201, json!({"id": 1}))).await;
    let s = github(&api);
    let message = format!("Application guestbook is now running new version of deployments manifests. {}", "x".repeat(200));
    let status =
        json!({"status": {"state": "success", "label": "continuous-delivery/guestbook", "targetURL": format!("{APP_URL}?operation=true")}});
    s.send(&notification(&message, github_section(status)), "").await.unwrap();
    let seen = api.one();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", format!("/api/v3/repos/argoproj/argocd-example-apps/statuses/{SHA}").as_str())
    );
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {GH_TOKEN}").as_str()));
    assert_eq!(seen.header("accept"), Some("application/vnd.github+json"));
    let body = seen.json();
    assert_eq!(body["state"], "success");
    assert_eq!(body["context"], "continuous-delivery/guestbook");
    assert_eq!(body["target_url"], format!("{APP_URL}?operation=true"));
    let description = body["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 140, "GitHub's limit");
    assert!(description.starts_with("Application guestbook is now running") && description.ends_with("..."));
}

#[tokio::test]
async fn github_creates_a_deployment_and_its_status() {
    let api = Peer::start(|r| match (r.method.as_str(), r.uri.split('?').next().unwrap()) {
        ("GET", _) => json_reply(200, json!([])),
        ("POST", "/api/v3/repos/argoproj/argocd-example-apps/deployments") => json_reply(201, json!({"id": 4242})),
        _ => json_reply(201, json!({"id": 1})),
    })
    .await;
    let s = github(&api);
    let deployment = json!({"deployment": {"state": "success", "environment": "production", "environmentURL": "https://guestbook.example.com", "logURL": APP_URL, "requiredContexts": [], "autoMerge": "false"}});
    s.send(&notification("deployed", github_section(deployment)), "").await.unwrap();
    let seen = api.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].uri, format!("/api/v3/repos/argoproj/argocd-example-apps/deployments?ref={SHA}&environment=production"));
    assert_eq!(
        seen[1].json(),
        json!({"ref": SHA, "environment": "production", "auto_merge": false, "transient_environment": false, "required_contexts": [], "description": "deployed"})
    );
    assert_eq!(seen[2].uri, "/api/v3/repos/argoproj/argocd-example-apps/deployments/4242/statuses");
    assert_eq!(
        seen[2].json(),
        json!({"state": "success", "environment": "production", "environment_url": "https://guestbook.example.com", "log_url": APP_URL, "description": "deployed"})
    );
}

#[tokio::test]
async fn github_comments_on_the_pull_requests_and_edits_its_tagged_comment() {
    let api = Peer::start(|r| match (r.method.as_str(), r.uri.as_str()) {
        ("GET", u) if u.ends_with("/pulls") => json_reply(200, json!([{"number": 7}, {"number": 8}])),
        ("GET", u) if u.contains("/issues/7/comments") => {
            json_reply(200, json!([{"id": 1, "body": "hello"}, {"id": 99, "body": "old\n<!-- argocd-notifications guestbook -->"}]))
        }
        ("GET", _) => json_reply(200, json!([])),
        _ => json_reply(200, json!({"id": 5})),
    })
    .await;
    let s = github(&api);
    let comment = json!({"pullRequestComment": {"content": "Deployed guestbook", "commentTag": "guestbook"}});
    s.send(&notification("m", github_section(comment)), "").await.unwrap();
    let seen: Vec<(String, String)> = api.seen().iter().map(|r| (r.method.clone(), r.uri.clone())).collect();
    let repo = "/api/v3/repos/argoproj/argocd-example-apps";
    let expected = [
        ("GET", format!("{repo}/commits/{SHA}/pulls")),
        ("GET", format!("{repo}/issues/7/comments?per_page=100")),
        ("PATCH", format!("{repo}/issues/comments/99")),
        ("GET", format!("{repo}/issues/8/comments?per_page=100")),
        ("POST", format!("{repo}/issues/8/comments")),
    ];
    assert_eq!(seen, expected.map(|(m, u)| (m.to_string(), u)));
    let bodies: Vec<Value> = api.seen().iter().filter(|r| r.method != "GET").map(|r| r.json()).collect();
    assert_eq!(bodies, vec![json!({"body": "Deployed guestbook\n<!-- argocd-notifications guestbook -->"}); 2]);
}

#[tokio::test]
async fn github_app_mints_an_installation_token_for_the_api() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("app");
    let made =
        std::process::Command::new("ssh-keygen").args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"]).arg(&key).status();
    assert!(made.unwrap().success());
    let private_key = std::fs::read_to_string(&key).unwrap();
    let api = Peer::start(|r| {
        if r.uri.ends_with("/access_tokens") {
            json_reply(201, json!({"token": "ghs_installationS3cret", "expires_at": "2999-01-01T00:00:00Z"}))
        } else {
            json_reply(201, json!({}))
        }
    })
    .await;
    let s = service(
        "github",
        "",
        json!({"appID": 12345, "installationID": "67890", "privateKey": private_key, "enterpriseBaseURL": format!("{}/api/v3/", api.url)}),
    );
    let status = github_section(json!({"status": {"state": "pending", "label": "cd"}}));
    s.send(&notification("m", status.clone()), "").await.unwrap();
    s.send(&notification("m", status), "").await.unwrap();
    let seen = api.seen();
    let uris: Vec<&str> = seen.iter().map(|r| r.uri.as_str()).collect();
    let statuses = format!("/api/v3/repos/argoproj/argocd-example-apps/statuses/{SHA}");
    assert_eq!(uris, ["/api/v3/app/installations/67890/access_tokens", &statuses, &statuses], "one token for both");
    assert!(seen[0].header("authorization").unwrap().starts_with("Bearer ey"), "the app's JWT");
    assert_eq!(seen[1].header("authorization"), Some("Bearer ghs_installationS3cret"));

    let e = Service::parse("github", "", &json!({"appID": 1, "installationID": 2, "privateKey": "not a key"})).unwrap_err();
    assert_eq!(e.to_string(), "service.github: privateKey: not a PEM private key (`-----BEGIN RSA PRIVATE KEY-----`)");
    let e = Service::parse("github", "", &json!({"appID": "x1", "installationID": 2, "privateKey": private_key})).unwrap_err();
    assert!(e.to_string().starts_with("service.github: appID: "), "{e}");
    assert!(Service::parse("github", "", &json!({})).unwrap_err().to_string().contains("needs `appID`"));
}

#[tokio::test]
async fn github_refuses_bad_sections_and_classifies_failures() {
    let api = Peer::start(|_| json_reply(201, json!({}))).await;
    let s = github(&api);
    for (n, says) in [
        (notification("m", json!({})), "no `github` section"),
        (
            notification("m", json!({"github": {"repoURLPath": "not a url", "revisionPath": SHA, "status": {"state": "success"}}})),
            "not a URL",
        ),
        (notification("m", json!({"github": {"repoURLPath": "https://github.com/only-owner", "revisionPath": SHA}})), "owner/repository"),
        (
            notification("m", json!({"github": {"repoURLPath": REPO, "revisionPath": "../../admin", "status": {"state": "success"}}})),
            "not a commit SHA",
        ),
        (notification("m", github_section(json!({"status": {"state": "great"}}))), "github.status.state"),
        (notification("m", github_section(json!({"checkRun": {"name": "x"}}))), "not supported"),
    ] {
        let e = failure(&s, &n, "", &[GH_TOKEN]).await;
        assert!(!e.is_transient() && e.to_string().contains(says), "{says}: {e}");
    }
    assert!(api.seen().is_empty());

    for (status, transient, says) in [(422, false, "1000 statuses"), (401, false, "HTTP 401"), (502, true, "HTTP 502")] {
        let api = Peer::start(move |_| json_reply(status, json!({"message": format!("Bad credentials {GH_TOKEN}")}))).await;
        let e = failure(&github(&api), &notification("m", github_section(json!({"status": {"state": "success"}}))), "", &[GH_TOKEN]).await;
        assert_eq!(e.is_transient(), transient, "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[tokio::test]
async fn the_github_token_does_not_follow_a_redirect_to_another_host() {
    let elsewhere = Peer::answering(201, "{}").await;
    let target = elsewhere.url.clone();
    let api = Peer::start(move |_| (307, vec![("location", format!("{target}/steal"))], vec![])).await;
    let e = failure(&github(&api), &notification("m", github_section(json!({"status": {"state": "success"}}))), "", &[GH_TOKEN]).await;
    assert!(!e.is_transient() && e.to_string().contains("not followed"), "{e}");
    assert!(elsewhere.seen().is_empty());
}

// ---- GitLab ----

const GL_TOKEN: &str = "glpat-s3cretTokenValue";

#[tokio::test]
async fn gitlab_sets_the_commit_status_with_the_private_token() {
    let api = Peer::start(|_| json_reply(201, json!({"id": 1}))).await;
    let s = service("gitlab", "", json!({"token": GL_TOKEN, "baseURL": api.url}));
    let section = json!({"gitlab": {
        "repoURLPath": "git@gitlab.example.com:platform/apps/guestbook.git",
        "revisionPath": SHA,
        "status": {"state": "success", "label": "continuous-delivery/guestbook", "targetURL": APP_URL},
    }});
    s.send(&notification("Application guestbook synced.", section), "").await.unwrap();
    let seen = api.one();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", format!("/api/v4/projects/platform%2Fapps%2Fguestbook/statuses/{SHA}").as_str())
    );
    assert_eq!(seen.header("private-token"), Some(GL_TOKEN));
    assert_eq!(
        seen.json(),
        json!({"state": "success", "name": "continuous-delivery/guestbook", "target_url": APP_URL, "description": "Application guestbook synced."})
    );
}

#[tokio::test]
async fn gitlab_failures_never_show_the_token() {
    for (status, transient) in [(401, false), (404, false), (500, true)] {
        let api = Peer::start(move |_| json_reply(status, json!({"message": format!("401 Unauthorized {GL_TOKEN}")}))).await;
        let s = service("gitlab", "", json!({"token": GL_TOKEN, "baseURL": format!("{}/api/v4", api.url)}));
        let n = notification("m", json!({"gitlab": {"repoURLPath": REPO, "revisionPath": SHA, "status": {"state": "failed"}}}));
        let e = failure(&s, &n, "", &[GL_TOKEN]).await;
        assert_eq!(e.is_transient(), transient, "{e}");
        assert_eq!(api.one().uri, format!("/api/v4/projects/argoproj%2Fargocd-example-apps/statuses/{SHA}"));
    }
    let s = service("gitlab", "", json!({"token": GL_TOKEN}));
    let e = failure(
        &s,
        &notification("m", json!({"gitlab": {"repoURLPath": REPO, "revisionPath": SHA, "status": {"state": "done"}}})),
        "",
        &[GL_TOKEN],
    )
    .await;
    assert!(e.to_string().contains("gitlab.status.state"), "{e}");
    assert!(
        Service::parse("gitlab", "", &json!({"baseURL": "https://gitlab.example"})).unwrap_err().to_string().contains("token: is required")
    );
}

#[tokio::test]
async fn gitlab_creates_a_deployment_and_notes_the_merge_requests() {
    let api = Peer::start(|r| match r.method.as_str() {
        "GET" => json_reply(200, json!([{"iid": 12}, {"iid": 13}])),
        _ => json_reply(201, json!({"id": 1})),
    })
    .await;
    let s = service("gitlab", "", json!({"token": GL_TOKEN, "baseURL": format!("{}/", api.url)}));
    let section = json!({"gitlab": {
        "repoURLPath": "https://gitlab.example.com/platform/guestbook",
        "revisionPath": SHA,
        "deployment": {"state": "success", "environment": "production", "tag": "false"},
        "mergeRequestComment": {"content": "Deployed guestbook to production"},
    }});
    s.send(&notification("m", section), "").await.unwrap();
    let project = "/api/v4/projects/platform%2Fguestbook";
    let seen = api.seen();
    let calls: Vec<(&str, &str)> = seen.iter().map(|r| (r.method.as_str(), r.uri.as_str())).collect();
    let expected = [
        ("POST", format!("{project}/deployments")),
        ("GET", format!("{project}/repository/commits/{SHA}/merge_requests")),
        ("POST", format!("{project}/merge_requests/12/notes")),
        ("POST", format!("{project}/merge_requests/13/notes")),
    ];
    assert_eq!(calls, expected.iter().map(|(m, u)| (*m, u.as_str())).collect::<Vec<_>>());
    assert_eq!(seen[0].json(), json!({"environment": "production", "ref": SHA, "sha": SHA, "tag": false, "status": "success"}));
    assert_eq!(seen[2].json(), json!({"body": "Deployed guestbook to production"}));
    assert!(seen.iter().all(|r| r.header("private-token") == Some(GL_TOKEN)));
}
