//! `POST /api/webhook` against the real dev control plane: each provider's
//! push format refreshes exactly the apps it concerns (the refresh
//! annotation appears), signatures are enforced when argocd-secret holds a
//! secret, hostile requests are refused without harm, and, with a real
//! controller, a push reaches the cluster without waiting for a resync.

mod api_support;

use std::net::IpAddr;
use std::time::Duration;

use api_support::{Controller, IN_CLUSTER, Server, TIMEOUT, admin_password};
use bytes::Bytes;
use driftless_api::{ANNOTATION_REFRESH, Application};
use driftless_server::webhook::parse::{self, Secrets};
use driftless_testkit::{GitRepo, TestNamespace, wait_for};
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const REPO: &str = "https://github.com/org/repo";

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Posts `body` to the webhook with `headers`, from `from` (a loopback
/// address: the rate limit is per source).
async fn post_from(server: &Server, from: Option<IpAddr>, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, String) {
    let mut connector = HttpConnector::new();
    connector.set_local_address(from);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut req = http::Request::builder().method(Method::POST).uri(format!("{}/api/webhook", server.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Full::new(Bytes::from(body))).expect("request")).await.expect("HTTP request");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn post(server: &Server, headers: &[(&str, &str)], body: &[u8]) -> (StatusCode, String) {
    post_from(server, None, headers, body.to_vec()).await
}

/// Adds `data` to argocd-secret (or argocd-cm) and waits until the server
/// acts on it: `probe` answers `until`.
async fn configure<F, Fut>(ns: &TestNamespace, secret: &[(&str, &str)], cm: &[(&str, &str)], probe: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if !secret.is_empty() {
        let data: serde_json::Map<String, Value> = secret.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let secrets: Api<Secret> = ns.api();
        secrets.patch("argocd-secret", &PatchParams::default(), &Patch::Merge(json!({ "stringData": data }))).await.expect("patch secret");
    }
    if !cm.is_empty() {
        let data: serde_json::Map<String, Value> = cm.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let cms: Api<ConfigMap> = ns.api();
        cms.patch("argocd-cm", &PatchParams::default(), &Patch::Merge(json!({ "data": data }))).await.expect("patch argocd-cm");
    }
    wait_for("the server to take the new settings", TIMEOUT, || async { if probe().await { Ok(()) } else { Err(()) } })
        .await
        .expect("settings applied");
}

/// Creates an app of `repo` at `revision` and `path`, with `annotations`.
async fn app(ns: &TestNamespace, name: &str, source: Value, annotations: Value) {
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": ns.name(), "annotations": annotations },
        "spec": { "project": "default", "source": source, "destination": { "server": IN_CLUSTER, "namespace": ns.name() } },
    }))
    .expect("valid Application");
    ns.api::<Application>().create(&PostParams::default(), &app).await.expect("create app");
}

fn git_source(repo: &str, revision: &str, path: &str) -> Value {
    json!({ "repoURL": repo, "targetRevision": revision, "path": path })
}

/// Waits until the server lists every app of `names` (its store is a watch).
async fn wait_listed(server: &Server, ns: &TestNamespace, names: &[&str]) {
    let token = server.login("admin", &admin_password(ns).await).await;
    for name in names {
        let path = format!("/api/v1/applications/{name}?appNamespace={}", ns.name());
        wait_for("the server to list the app", TIMEOUT, || async {
            (server.as_user(&token, Method::GET, &path, None).await.status == StatusCode::OK).then_some(()).ok_or(())
        })
        .await
        .expect("app listed");
    }
}

/// The apps of `names` that carry the refresh annotation.
async fn refreshed(ns: &TestNamespace, names: &[&str]) -> Vec<String> {
    let apps: Api<Application> = ns.api();
    let mut out = Vec::new();
    for name in names {
        let app = apps.get(name).await.expect("get app");
        if app.metadata.annotations.as_ref().is_some_and(|a| a.get(ANNOTATION_REFRESH).is_some_and(|v| v == "normal")) {
            out.push(name.to_string());
        }
    }
    out
}

async fn clear_refresh(ns: &TestNamespace, names: &[&str]) {
    let apps: Api<Application> = ns.api();
    for name in names {
        let patch = json!({ "metadata": { "annotations": { ANNOTATION_REFRESH: null } } });
        apps.patch(name, &PatchParams::default(), &Patch::Merge(patch)).await.expect("clear refresh");
    }
}

/// A GitHub push of `git_ref` to `repo` touching `files`.
fn github_push(repo: &str, git_ref: &str, files: &[&str]) -> Vec<u8> {
    json!({
        "ref": git_ref,
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "0000000000000000000000000000000000000001",
        "repository": {
            "id": 186853002, "name": "repo", "full_name": "org/repo", "private": false,
            "html_url": repo, "clone_url": format!("{repo}.git"), "ssh_url": "git@github.com:org/repo.git",
            "default_branch": "main",
        },
        "pusher": { "name": "alice", "email": "alice@example.com" },
        "commits": [{
            "id": "0000000000000000000000000000000000000001", "message": "Update", "timestamp": "2025-01-01T00:00:00Z",
            "added": [], "removed": [], "modified": files,
        }],
        "head_commit": { "id": "0000000000000000000000000000000000000001", "added": [], "removed": [], "modified": files },
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn github_push_refreshes_only_the_apps_it_concerns_and_needs_a_valid_signature() {
    let ns = TestNamespace::new("webhook-github").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let unsigned = github_push(REPO, "refs/heads/main", &["apps/web/deploy.yaml"]);
    configure(&ns, &[("webhook.github.secret", "s3cret")], &[], || async {
        post(&server, &[("x-github-event", "push")], &unsigned).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    let paths = json!({ "argocd.argoproj.io/manifest-generate-paths": "." });
    app(&ns, "web", git_source("git@github.com:org/repo.git", "main", "apps/web"), paths.clone()).await;
    app(&ns, "db", git_source(REPO, "main", "apps/db"), paths).await;
    app(&ns, "head", git_source("https://GITHUB.com/org/repo.git/", "HEAD", "apps/other"), json!({})).await;
    app(&ns, "dev", git_source(REPO, "dev", "apps/web"), json!({})).await;
    app(&ns, "elsewhere", git_source("https://github.com/org/other", "main", "apps/web"), json!({})).await;
    let all = ["web", "db", "head", "dev", "elsewhere"];
    wait_listed(&server, &ns, &all).await;

    // A wrong signature, or none, is refused and refreshes nothing.
    let forged = format!("sha256={}", hmac_hex("guess", &unsigned));
    let (status, text) = post(&server, &[("x-github-event", "push"), ("x-hub-signature-256", &forged)], &unsigned).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    let (status, _) = post(&server, &[("x-github-event", "push")], &unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signed for another body: the signature covers the payload.
    let other = github_push(REPO, "refs/heads/dev", &["apps/web/x.yaml"]);
    let wrong_body = format!("sha256={}", hmac_hex("s3cret", &other));
    assert_eq!(
        post(&server, &[("x-github-event", "push"), ("x-hub-signature-256", &wrong_body)], &unsigned).await.0,
        StatusCode::FORBIDDEN
    );
    assert!(refreshed(&ns, &all).await.is_empty());

    // Signed: the apps of that repository and branch whose paths it touched.
    let good = format!("sha256={}", hmac_hex("s3cret", &unsigned));
    let (status, text) = post(&server, &[("x-github-event", "push"), ("x-hub-signature-256", &good)], &unsigned).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(refreshed(&ns, &all).await, vec!["web", "head"]);
    clear_refresh(&ns, &all).await;

    // Another branch: its app only. Untouched paths: nothing.
    let sig = format!("sha256={}", hmac_hex("s3cret", &other));
    assert_eq!(post(&server, &[("x-github-event", "push"), ("x-hub-signature-256", &sig)], &other).await.0, StatusCode::OK);
    assert_eq!(refreshed(&ns, &all).await, vec!["dev"]);
    clear_refresh(&ns, &all).await;
    let feature = github_push(REPO, "refs/heads/feature", &["apps/web/deploy.yaml"]);
    let sig = format!("sha256={}", hmac_hex("s3cret", &feature));
    assert_eq!(post(&server, &[("x-github-event", "push"), ("x-hub-signature-256", &sig)], &feature).await.0, StatusCode::OK);
    let readme = github_push("https://github.com/org/repo", "refs/heads/main", &["docs/README.md"]);
    let sig = format!("sha256={}", hmac_hex("s3cret", &readme));
    assert_eq!(post(&server, &[("x-github-event", "push"), ("x-hub-signature-256", &sig)], &readme).await.0, StatusCode::OK);
    assert_eq!(refreshed(&ns, &all).await, vec!["head"], "only the app without generate-paths");

    // A ping is answered and changes nothing.
    clear_refresh(&ns, &all).await;
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let sig = format!("sha256={}", hmac_hex("s3cret", ping));
    assert_eq!(post(&server, &[("x-github-event", "ping"), ("x-hub-signature-256", &sig)], ping).await.0, StatusCode::OK);
    assert!(refreshed(&ns, &all).await.is_empty());
}

/// One provider's push: with `secret` in argocd-secret, the signed request
/// refreshes the app of `app_repo` and not another repository's; the
/// request without its proof (`unsigned_headers`) is refused.
async fn provider_refreshes(
    prefix: &str,
    secret: &[(&str, &str)],
    app_repo: &str,
    headers: &[(&str, &str)],
    unsigned_headers: &[(&str, &str)],
    body: &[u8],
) {
    let ns = TestNamespace::new(prefix).await.expect("namespace");
    let server = Server::start(&ns, "").await;
    configure(&ns, secret, &[], || async { post(&server, unsigned_headers, body).await.0.is_client_error() }).await;
    app(&ns, "pushed", git_source(app_repo, "main", "deploy"), json!({})).await;
    app(&ns, "other", git_source("https://example.com/other/repo.git", "main", "deploy"), json!({})).await;
    wait_listed(&server, &ns, &["pushed", "other"]).await;
    let (status, text) = post(&server, unsigned_headers, body).await;
    assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN, "{status}: {text}");
    assert!(refreshed(&ns, &["pushed", "other"]).await.is_empty());
    let (status, text) = post(&server, headers, body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(refreshed(&ns, &["pushed", "other"]).await, vec!["pushed"]);
}

#[tokio::test]
async fn gitlab_push_hook() {
    let body = json!({
        "object_kind": "push", "event_name": "push",
        "before": "95790bf891e76fee5e1747ab589903a6a1f80f22", "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "ref": "refs/heads/main", "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "user_username": "jsmith", "project_id": 15,
        "project": {
            "id": 15, "name": "Diaspora", "web_url": "https://gitlab.example.com/mike/diaspora",
            "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git", "git_http_url": "https://gitlab.example.com/mike/diaspora.git",
            "namespace": "Mike", "path_with_namespace": "mike/diaspora", "default_branch": "main",
        },
        "repository": {
            "name": "Diaspora", "url": "git@gitlab.example.com:mike/diaspora.git", "homepage": "https://gitlab.example.com/mike/diaspora",
            "git_http_url": "https://gitlab.example.com/mike/diaspora.git", "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git",
        },
        "commits": [{ "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "message": "fix", "added": ["deploy/a.yaml"], "modified": [], "removed": [] }],
        "total_commits_count": 1,
    })
    .to_string();
    provider_refreshes(
        "webhook-gitlab",
        &[("webhook.gitlab.secret", "gl-token")],
        "ssh://git@gitlab.example.com:2222/mike/diaspora.git",
        &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "gl-token")],
        &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "gl-wrong")],
        body.as_bytes(),
    )
    .await;
}

#[tokio::test]
async fn bitbucket_cloud_repo_push() {
    let body = json!({
        "actor": { "display_name": "Alice", "type": "user" },
        "repository": {
            "type": "repository", "full_name": "team/config", "name": "config", "scm": "git", "is_private": true,
            "links": { "html": { "href": "https://bitbucket.org/team/config" } },
            "uuid": "{b3a9c8b6-0000-0000-0000-000000000000}",
        },
        "push": { "changes": [{
            "new": { "type": "branch", "name": "main", "target": { "type": "commit", "hash": "709d658dc5b6d6afcd46049c2f332ee3f515a67d" } },
            "old": { "type": "branch", "name": "main", "target": { "type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c" } },
            "created": false, "forced": false, "closed": false,
        }] },
    })
    .to_string();
    provider_refreshes(
        "webhook-bbcloud",
        &[("webhook.bitbucket.uuid", "{82a3fa49-5b8c-4d45-9e2f-0a1b2c3d4e5f}")],
        "git@bitbucket.org:team/config.git",
        &[("x-event-key", "repo:push"), ("x-hook-uuid", "{82a3fa49-5b8c-4d45-9e2f-0a1b2c3d4e5f}")],
        &[("x-event-key", "repo:push"), ("x-hook-uuid", "{00000000-0000-0000-0000-000000000000}")],
        body.as_bytes(),
    )
    .await;
}

#[tokio::test]
async fn bitbucket_server_refs_changed() {
    let body = json!({
        "eventKey": "repo:refs_changed", "date": "2025-01-01T00:00:00+0000",
        "actor": { "name": "admin", "emailAddress": "admin@example.com" },
        "repository": {
            "slug": "config", "id": 84, "name": "config", "scmId": "git", "state": "AVAILABLE",
            "project": { "key": "OPS", "id": 84, "name": "Ops" },
            "links": {
                "clone": [
                    { "href": "ssh://git@bitbucket.example.com:7999/ops/config.git", "name": "ssh" },
                    { "href": "https://bitbucket.example.com/scm/ops/config.git", "name": "http" },
                ],
                "self": [{ "href": "https://bitbucket.example.com/projects/OPS/repos/config/browse" }],
            },
        },
        "changes": [{
            "ref": { "id": "refs/heads/main", "displayId": "main", "type": "BRANCH" },
            "refId": "refs/heads/main", "fromHash": "ecddabb624f6f5ba43816f5926e580a5f680a932",
            "toHash": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc", "type": "UPDATE",
        }],
    })
    .to_string();
    let sig = format!("sha256={}", hmac_hex("bbs-secret", body.as_bytes()));
    provider_refreshes(
        "webhook-bbserver",
        &[("webhook.bitbucketserver.secret", "bbs-secret")],
        "https://bitbucket.example.com/scm/ops/config.git",
        &[("x-event-key", "repo:refs_changed"), ("x-request-id", "d1b4b5a5"), ("x-hub-signature", &sig)],
        &[("x-event-key", "repo:refs_changed"), ("x-request-id", "d1b4b5a5")],
        body.as_bytes(),
    )
    .await;
}

#[tokio::test]
async fn gitea_and_gogs_push() {
    let body = json!({
        "secret": "", "ref": "refs/heads/main",
        "before": "28e1879d029cb852e4844d9c718537df08844e03", "after": "bffeb74224043ba2feb48d137756c8a9331c449a",
        "compare_url": "https://gitea.example.com/ops/config/compare/28e1879d...bffeb742",
        "commits": [{ "id": "bffeb74224043ba2feb48d137756c8a9331c449a", "message": "bump", "added": [], "removed": [], "modified": ["deploy/app.yaml"] }],
        "repository": {
            "id": 140, "name": "config", "full_name": "ops/config", "private": true,
            "html_url": "https://gitea.example.com/ops/config", "ssh_url": "git@gitea.example.com:ops/config.git",
            "clone_url": "https://gitea.example.com/ops/config.git", "default_branch": "main",
        },
        "pusher": { "login": "alice" }, "sender": { "login": "alice" },
    })
    .to_string();
    let sig = hmac_hex("gogs-secret", body.as_bytes());
    // Gitea sends its own headers and Gogs' and GitHub's event header too.
    provider_refreshes(
        "webhook-gitea",
        &[("webhook.gogs.secret", "gogs-secret")],
        "https://gitea.example.com/ops/config",
        &[("x-gitea-event", "push"), ("x-gogs-event", "push"), ("x-github-event", "push"), ("x-gitea-signature", &sig)],
        &[("x-gitea-event", "push"), ("x-gogs-event", "push"), ("x-github-event", "push"), ("x-gitea-signature", "00")],
        body.as_bytes(),
    )
    .await;
    let gogs_body = body.replace("gitea.example.com", "gogs.example.com");
    let sig = hmac_hex("gogs-secret", gogs_body.as_bytes());
    provider_refreshes(
        "webhook-gogs",
        &[("webhook.gogs.secret", "gogs-secret")],
        "git@gogs.example.com:ops/config.git",
        &[("x-gogs-event", "push"), ("x-gogs-signature", &sig)],
        &[("x-gogs-event", "push")],
        gogs_body.as_bytes(),
    )
    .await;
}

#[tokio::test]
async fn azure_devops_git_push() {
    let body = json!({
        "subscriptionId": "00000000-0000-0000-0000-000000000000", "notificationId": 3,
        "id": "03c164c2-8912-4d5e-8009-3707d5f83734", "eventType": "git.push", "publisherId": "tfs",
        "message": { "text": "Jamal Hartnett pushed updates to config:main." },
        "resource": {
            "commits": [{ "commitId": "33b55f7cb7e7e245323987634f960cf4a6e6bc74", "comment": "Fixed bug in web.config file" }],
            "refUpdates": [{ "name": "refs/heads/main", "oldObjectId": "aad331d8d3b131fa9ae03cf5e53965b51942618a", "newObjectId": "33b55f7cb7e7e245323987634f960cf4a6e6bc74" }],
            "repository": {
                "id": "278d5cd2-584d-4b63-824a-2ba458937249", "name": "config",
                "url": "https://dev.azure.com/contoso/_apis/git/repositories/278d5cd2-584d-4b63-824a-2ba458937249",
                "project": { "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c", "name": "ops" },
                "defaultBranch": "refs/heads/main", "remoteUrl": "https://contoso@dev.azure.com/contoso/ops/_git/config",
            },
            "pushedBy": { "displayName": "Jamal Hartnett" }, "pushId": 14,
        },
    })
    .to_string();
    use base64::Engine as _;
    let basic = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
    provider_refreshes(
        "webhook-azure",
        &[("webhook.azuredevops.username", "hook"), ("webhook.azuredevops.password", "az-pass")],
        "git@ssh.dev.azure.com:v3/contoso/ops/config",
        &[("content-type", "application/json; charset=utf-8"), ("authorization", &basic("hook:az-pass"))],
        &[("content-type", "application/json; charset=utf-8"), ("authorization", &basic("hook:wrong"))],
        body.as_bytes(),
    )
    .await;
}

#[tokio::test]
async fn registry_push_refreshes_apps_whose_chart_range_allows_the_version() {
    let ns = TestNamespace::new("webhook-registry").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let chart = |repo: &str, rev: &str| json!({ "repoURL": repo, "chart": "web", "targetRevision": rev });
    app(&ns, "minor", chart("oci://registry.example.com:5000/charts", "1.x"), json!({})).await;
    app(&ns, "range", chart("registry.example.com:5000/charts", ">=1.0 <2"), json!({})).await;
    app(&ns, "major2", chart("oci://registry.example.com:5000/charts", "^2.0"), json!({})).await;
    app(&ns, "othercharts", chart("oci://registry.example.com:5000/other", "1.x"), json!({})).await;
    let all = ["minor", "range", "major2", "othercharts"];
    wait_listed(&server, &ns, &all).await;
    // The distribution registry's notification envelope.
    let envelope = json!({ "events": [
        { "id": "1", "timestamp": "2025-01-01T00:00:00Z", "action": "pull",
          "target": { "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "charts/web", "tag": "1.4.0" },
          "request": { "host": "registry.example.com:5000", "method": "GET" } },
        { "id": "2", "timestamp": "2025-01-01T00:00:00Z", "action": "push",
          "target": { "mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 708,
                      "digest": "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
                      "repository": "charts/web", "tag": "1.4.0" },
          "request": { "id": "r1", "addr": "10.0.0.9:5000", "host": "registry.example.com:5000", "method": "PUT", "useragent": "helm/3.17" },
          "actor": {}, "source": { "addr": "registry:5000" } },
    ] })
    .to_string();
    let (status, text) = post(&server, &[("content-type", parse::REGISTRY_EVENTS)], envelope.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(refreshed(&ns, &all).await, vec!["minor", "range"]);
    clear_refresh(&ns, &all).await;
    // Harbor's push of 2.1.0.
    let harbor = json!({
        "type": "PUSH_ARTIFACT", "occur_at": 1_700_000_000, "operator": "admin",
        "event_data": {
            "resources": [{ "digest": "sha256:0bd3...", "tag": "2.1.0", "resource_url": "registry.example.com:5000/charts/web:2.1.0" }],
            "repository": { "date_created": 1_700_000_000, "name": "web", "namespace": "charts", "repo_full_name": "charts/web", "repo_type": "private" },
        },
    })
    .to_string();
    let (status, text) = post(&server, &[("content-type", "application/json")], harbor.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(refreshed(&ns, &all).await, vec!["major2"]);
}

#[tokio::test]
async fn oversized_floods_and_garbage_are_refused_without_harm() {
    let ns = TestNamespace::new("webhook-hostile").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    app(&ns, "web", git_source(REPO, "main", "apps/web"), json!({})).await;
    wait_listed(&server, &ns, &["web"]).await;

    // Beyond webhook.maxPayloadSizeMB: 413, and nothing is done.
    let mut big = github_push(REPO, "refs/heads/main", &["apps/web/x.yaml"]);
    big.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
    let mut big_ping = br#"{"zen":"big"}"#.to_vec();
    big_ping.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
    configure(&ns, &[], &[("webhook.maxPayloadSizeMB", "1")], || async {
        post(&server, &[("x-github-event", "ping")], &big_ping).await.0 == StatusCode::PAYLOAD_TOO_LARGE
    })
    .await;
    assert_eq!(post(&server, &[("x-github-event", "push")], &big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(refreshed(&ns, &["web"]).await.is_empty());
    // Within the limit, the same push refreshes.
    let (status, text) = post(&server, &[("x-github-event", "push")], &github_push(REPO, "refs/heads/main", &["apps/web/x.yaml"])).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(refreshed(&ns, &["web"]).await, vec!["web"]);

    // A flood from one address: 429 beyond its share, while another
    // address is still served.
    let flooder: IpAddr = "127.0.0.2".parse().expect("ip");
    let ping = br#"{"zen":"flood"}"#.to_vec();
    let replies =
        futures::future::join_all((0..120).map(|_| post_from(&server, Some(flooder), &[("x-github-event", "ping")], ping.clone()))).await;
    let limited = replies.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(limited > 0, "120 requests at once from one address were all served");
    assert!(replies.iter().all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS));
    let (status, _) = post_from(&server, Some("127.0.0.3".parse().expect("ip")), &[("x-github-event", "ping")], ping).await;
    assert_eq!(status, StatusCode::OK, "another address is not limited by the flood");

    // Garbage, truncated and mutated payloads under every provider's
    // headers: always an answer in 2xx or 4xx, never a crash.
    let seeds = [github_push(REPO, "refs/heads/main", &["apps/web/x.yaml"]), br#"{"events":[{"action":"push"}]}"#.to_vec()];
    let header_sets: [&[(&str, &str)]; 8] = [
        &[("x-github-event", "push")],
        &[("x-gitlab-event", "Push Hook")],
        &[("x-event-key", "repo:push")],
        &[("x-event-key", "repo:refs_changed")],
        &[("x-gitea-event", "push")],
        &[("x-vss-activityid", "x")],
        &[("content-type", parse::REGISTRY_EVENTS)],
        &[],
    ];
    let mut rng = Lcg(7);
    for i in 0..120u32 {
        let body = mutate(&mut rng, &seeds[(i as usize) % seeds.len()]);
        let headers = header_sets[(i as usize) % header_sets.len()];
        // Spread over addresses, so that the limit does not answer for the handler.
        let from: IpAddr = format!("127.0.1.{}", 1 + i % 60).parse().expect("ip");
        let (status, text) = post_from(&server, Some(from), headers, body).await;
        assert!(status.is_success() || status.is_client_error(), "{status}: {text}");
    }
    let (status, _) = post(&server, &[("x-github-event", "ping")], b"{}").await;
    assert_eq!(status, StatusCode::OK, "the server still answers");
}

/// A small deterministic generator: the test is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `seed` truncated, with bytes flipped, inserted or duplicated, or
/// replaced by noise.
fn mutate(rng: &mut Lcg, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    match rng.below(5) {
        0 => b.truncate(rng.below(b.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                if let Some(x) = b.get_mut(i) {
                    *x = rng.next() as u8;
                }
            }
        }
        2 => {
            let at = rng.below(b.len());
            let tokens: [&[u8]; 6] = [b"[", b"{", b"\"", b"null", b",\"ref\":1", b"\\u0000"];
            let token = tokens[rng.below(tokens.len())];
            for _ in 0..1 + rng.below(50) {
                b.splice(at..at, token.iter().copied());
            }
        }
        3 => b = (0..rng.below(2048)).map(|_| rng.next() as u8).collect(),
        _ => {
            let start = rng.below(b.len());
            let piece = b[start..].to_vec();
            b.extend(piece);
        }
    }
    b
}

#[test]
fn the_parser_survives_random_truncated_and_mutated_payloads() {
    let secrets = Secrets { github: Some("s".into()), gogs: Some("s".into()), ..Default::default() };
    let seeds: Vec<Vec<u8>> = vec![
        github_push(REPO, "refs/heads/main", &["a/b.yaml"]),
        br#"{"object_kind":"push","ref":"refs/heads/main","project":{"web_url":"https://gitlab.com/a/b"},"commits":[{"added":["x"]}],"total_commits_count":1}"#.to_vec(),
        br#"{"repository":{"full_name":"a/b","links":{"html":{"href":"https://bitbucket.org/a/b"}}},"push":{"changes":[{"new":{"type":"branch","name":"main"}}]}}"#.to_vec(),
        br#"{"repository":{"links":{"clone":[{"href":"ssh://git@h:7999/a/b.git"}]}},"changes":[{"ref":{"id":"refs/heads/main"}}]}"#.to_vec(),
        br#"{"eventType":"git.push","resource":{"refUpdates":[{"name":"refs/heads/main"}],"repository":{"remoteUrl":"https://dev.azure.com/o/p/_git/r"}}}"#.to_vec(),
        br#"{"events":[{"action":"push","target":{"repository":"c/w","tag":"1.0.0"},"request":{"host":"h:5000"}}]}"#.to_vec(),
        br#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"1","resource_url":"h/c/w:1"}],"repository":{"repo_full_name":"c/w"}}}"#.to_vec(),
    ];
    let header_names = [
        "x-github-event",
        "x-gitlab-event",
        "x-event-key",
        "x-gitea-event",
        "x-gogs-event",
        "x-vss-activityid",
        "content-type",
        "x-hub-signature-256",
        "x-hub-signature",
        "x-gitlab-token",
        "x-hook-uuid",
        "x-gitea-signature",
        "authorization",
    ];
    let values = ["push", "Push Hook", "repo:push", "repo:refs_changed", parse::REGISTRY_EVENTS, "sha256=00", "Basic Og==", "", "\u{7f}x"];
    let mut rng = Lcg(42);
    for i in 0..20_000usize {
        let body = if i % 10 == 0 { seeds[i % seeds.len()].clone() } else { mutate(&mut rng, &seeds[i % seeds.len()]) };
        let mut headers = http::HeaderMap::new();
        for _ in 0..rng.below(4) {
            let name = header_names[rng.below(header_names.len())];
            if let Ok(v) = http::HeaderValue::from_str(values[rng.below(values.len())]) {
                headers.insert(name, v);
            }
        }
        let secrets = if i % 2 == 0 { &secrets } else { &Secrets::default() };
        // Whatever comes back, it must come back.
        let _ = parse::parse(&headers, &body, secrets);
    }
}

#[tokio::test]
async fn a_signed_push_reaches_the_cluster_without_a_resync_and_apps_share_a_fetch() {
    let ns = TestNamespace::new("webhook-e2e").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let repo = GitRepo::new();
    const APPS: usize = 6;
    let cm = |i: usize, v: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  version: {v}\n");
    for i in 0..APPS {
        repo.write(&format!("apps/a{i}/cm.yaml"), &cm(i, "v1"));
    }
    repo.commit("v1");
    configure(&ns, &[("webhook.github.secret", "e2e")], &[], || async {
        post(&server, &[("x-github-event", "push")], &github_push(&repo.url(), "refs/heads/main", &[])).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;

    // A controller whose resync is an hour: only the webhook can wake it.
    let controller = Controller::start(&ns, Duration::from_secs(3600));
    let names: Vec<String> = (0..APPS).map(|i| format!("a{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut source = git_source(&repo.url(), "main", &format!("apps/a{i}"));
        source["directory"] = json!({});
        let app_json: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": name, "namespace": ns.name() },
            "spec": { "project": "default", "source": source, "destination": { "server": IN_CLUSTER, "namespace": ns.name() },
                      "syncPolicy": { "automated": {} } },
        }))
        .expect("valid app");
        ns.api::<Application>().create(&PostParams::default(), &app_json).await.expect("create app");
    }
    let cms: Api<ConfigMap> = ns.api();
    let version = |i: usize| {
        let cms = cms.clone();
        async move { cms.get_opt(&format!("cm-{i}")).await.ok().flatten().and_then(|c| c.data).and_then(|d| d.get("version").cloned()) }
    };
    for i in 0..APPS {
        wait_for("the first sync", TIMEOUT, || async { (version(i).await.as_deref() == Some("v1")).then_some(()).ok_or(()) })
            .await
            .expect("synced v1");
    }
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    wait_listed(&server, &ns, &names_ref).await;
    // Let the first reconciles' requests settle: none is pending.
    wait_for("no refresh pending", TIMEOUT, || async { refreshed(&ns, &names_ref).await.is_empty().then_some(()).ok_or(()) })
        .await
        .expect("idle");
    let fetches = |m: &driftless_metrics::Metrics| fetch_count(&m.encode());
    let before = fetches(&controller.metrics);

    for i in 0..APPS {
        repo.write(&format!("apps/a{i}/cm.yaml"), &cm(i, "v2"));
    }
    repo.commit("v2");
    let files: Vec<String> = (0..APPS).map(|i| format!("apps/a{i}/cm.yaml")).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let body = github_push(&repo.url(), "refs/heads/main", &files);
    let sig = format!("sha256={}", hmac_hex("e2e", &body));
    let (status, text) = post(&server, &[("x-github-event", "push"), ("x-hub-signature-256", &sig)], &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    for i in 0..APPS {
        wait_for("the push to reach the cluster", TIMEOUT, || async {
            (version(i).await.as_deref() == Some("v2")).then_some(()).ok_or(())
        })
        .await
        .expect("v2 applied without a resync");
    }
    let fetched = fetches(&controller.metrics) - before;
    // Every app refreshed by the push takes any fetch begun after it.
    assert_eq!(fetched, 1, "{APPS} apps refreshed by one push made {fetched} Git fetches");
}

/// `driftless_git_requests_total{request="fetch"}`, summed over
/// repositories and results.
fn fetch_count(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("driftless_git_requests_total{") && l.contains("request=\"fetch\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
