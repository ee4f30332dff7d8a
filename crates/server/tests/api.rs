//! The HTTP API against the real dev control plane: each test runs the
//! server in-process on 127.0.0.1:0 with its own namespace as the server's
//! namespace (so its own argocd-cm, argocd-rbac-cm and argocd-secret), and
//! talks to it over HTTP as a script or browser would.

mod api_support;

use std::collections::BTreeMap;

use api_support::{IN_CLUSTER, PASSWORD, Reply, Server, TIMEOUT, admin_password, create_app};
use bytes::Bytes;
use driftless_api::Application;
use driftless_testkit::{GitRepo, TestNamespace, wait_for};
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap_or_default().to_string()).collect()
}

fn cookie_value(cookies: &[String], name: &str) -> String {
    cookies.iter().find_map(|c| c.strip_prefix(&format!("{name}="))).and_then(|c| c.split(';').next()).expect("cookie set").to_string()
}

async fn events_for(ns: &TestNamespace, app: &str) -> Vec<Event> {
    let events: Api<Event> = ns.api();
    events
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(app))
        .collect()
}

#[tokio::test]
async fn login_throttling_rbac_csrf_tokens_and_audit() {
    let ns = TestNamespace::new("server-auth").await.expect("namespace");
    let server = Server::start(&ns, "g, reader, role:readonly\n").await;
    let q = format!("appNamespace={}", ns.name());
    create_app(&ns, "web", "default", json!({}), json!({}), "https://git.invalid/r.git", "web").await;
    create_app(&ns, "api", "default", json!({}), json!({}), "https://git.invalid/r.git", "api").await;

    // Login: the generated admin password works and sets both cookies.
    let admin_pw = admin_password(&ns).await;
    let r = server.call(Method::POST, "/api/v1/session", &[], Some(json!({ "username": "admin", "password": admin_pw }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let admin = r.body["token"].as_str().expect("token").to_string();
    let cookies = set_cookies(&r);
    let session = cookies.iter().find(|c| c.starts_with("argocd.token=")).expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let csrf = cookie_value(&cookies, "driftless.csrf");

    // Wrong password and unknown user: the same 401.
    let bad = server.call(Method::POST, "/api/v1/session", &[], Some(json!({ "username": "admin", "password": "nope" }))).await;
    let ghost = server.call(Method::POST, "/api/v1/session", &[], Some(json!({ "username": "ghost", "password": "nope" }))).await;
    assert_eq!((bad.status, ghost.status), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(bad.body["message"], ghost.body["message"], "no hint whether the user exists");

    // Throttling: after repeated failures even the right password waits,
    // and an unknown user is throttled the same way.
    for user in ["carol", "ghost"] {
        for _ in 0..6 {
            server.call(Method::POST, "/api/v1/session", &[], Some(json!({ "username": user, "password": "wrong" }))).await;
        }
        let r = server.call(Method::POST, "/api/v1/session", &[], Some(json!({ "username": user, "password": PASSWORD }))).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{user}: {}", r.text);
        assert!(r.body["message"].as_str().unwrap_or_default().contains("try again in"), "{}", r.text);
    }
    // Others are not affected; and scripts may send JSON without a Content-Type.
    let body = json!({ "username": "reader", "password": PASSWORD }).to_string();
    let req = http::Request::post(format!("{}/api/v1/session", server.base)).body(Full::new(Bytes::from(body))).expect("request");
    assert_eq!(server.http.request(req).await.expect("login").status(), StatusCode::OK);
    let reader = server.login("reader", PASSWORD).await;

    // Anonymous: the API says 401, a UI page sends to the login page.
    let r = server.call(Method::GET, &format!("/api/v1/applications?{q}"), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = server.call(Method::GET, "/applications?search=web", &[], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/login?return_url=%2Fapplications%3Fsearch%3Dweb");
    let r = server.call(Method::GET, "/login", &[], None).await;
    assert_eq!(r.status, StatusCode::OK, "the login page is public");
    let r = server.call(Method::GET, "/api/v1/session/userinfo", &[], None).await;
    assert_eq!(r.body["loggedIn"], false);
    let r = server.as_user(&reader, Method::GET, "/api/v1/session/userinfo", None).await;
    assert_eq!((r.body["loggedIn"].clone(), r.body["username"].clone()), (json!(true), json!("reader")));

    // RBAC: the readonly user reads but may not sync or delete.
    for (action, answer) in [("get", "yes"), ("sync", "no")] {
        let r = server.as_user(&reader, Method::GET, &format!("/api/v1/account/can-i/applications/{action}/default/web"), None).await;
        assert_eq!(r.body["value"], answer, "can-i {action}: {}", r.text);
    }
    let r = server.as_user(&reader, Method::GET, &format!("/api/v1/applications?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    let r = server.as_user(&reader, Method::POST, &format!("/api/v1/applications/web/sync?{q}"), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.as_user(&reader, Method::DELETE, &format!("/api/v1/applications/web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(ns.api::<Application>().get_opt("web").await.expect("read").is_some_and(|a| a.operation.is_none()));

    // The admin syncs: the operation names the user, and an Event says so.
    let body = json!({ "prune": true, "dryRun": false, "resources": [{ "group": "apps", "kind": "Deployment", "name": "web", "namespace": ns.name() }],
                       "strategy": { "apply": { "force": true } }, "syncOptions": { "items": ["Replace=true"] } });
    let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications/web/sync?{q}"), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let stored = ns.api::<Application>().get("web").await.expect("read app");
    let op = stored.operation.expect("operation set");
    assert_eq!(op.initiated_by.and_then(|i| i.username).as_deref(), Some("admin"));
    let sync = op.sync.expect("a sync");
    assert!(sync.prune && sync.sync_options == ["Replace=true"] && sync.resources.len() == 1);
    assert_eq!(sync.sync_strategy, Some(json!({ "apply": { "force": true } })));
    let events = wait_for("the sync's Event", TIMEOUT, || async {
        let ev = events_for(&ns, "web").await;
        if ev.iter().any(|e| e.reason.as_deref() == Some("OperationStarted")) { Ok(ev) } else { Err(ev.len()) }
    })
    .await
    .expect("event");
    let ev = events.iter().find(|e| e.reason.as_deref() == Some("OperationStarted")).expect("event");
    assert!(ev.note.as_deref().unwrap_or_default().contains("admin"), "{:?}", ev.note);

    // A second sync while one is pending conflicts.
    let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications/web/sync?{q}"), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    // Terminate withdraws the pending request.
    let r = server.as_user(&admin, Method::DELETE, &format!("/api/v1/applications/web/operation?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(ns.api::<Application>().get("web").await.expect("read").operation.is_none());

    // CSRF: a cookie-authenticated POST needs the header.
    let cookie = format!("argocd.token={admin}; driftless.csrf={csrf}");
    let path = format!("/api/v1/applications/api/sync?{q}");
    let r = server.call(Method::POST, &path, &[("cookie", &cookie)], Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.call(Method::POST, &path, &[("cookie", &cookie), ("x-csrf-token", "forged")], Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(ns.api::<Application>().get("api").await.expect("read").operation.is_none(), "refused requests change nothing");
    let r = server.call(Method::POST, &path, &[("cookie", &cookie), ("x-csrf-token", &csrf)], Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = server.call(Method::GET, &format!("/api/v1/applications?{q}"), &[("cookie", &cookie)], None).await;
    assert_eq!(r.status, StatusCode::OK, "reads need no CSRF header");

    // API tokens: for accounts with apiKey only; checked like sessions.
    let r = server.as_user(&admin, Method::POST, "/api/v1/account/reader/token", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "reader has no apiKey capability: {}", r.text);
    let r = server.as_user(&reader, Method::POST, "/api/v1/account/ci/token", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.as_user(&admin, Method::POST, "/api/v1/account/ci/token", Some(json!({ "expiresIn": 3600 }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ci = r.body["token"].as_str().expect("token").to_string();
    let r = server.as_user(&ci, Method::GET, "/api/v1/session/userinfo", None).await;
    assert_eq!(r.body["username"], "ci");
    let r = server.as_user(&ci, Method::GET, &format!("/api/v1/applications?{q}"), None).await;
    assert_eq!((r.status, r.body["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "no role, no apps");
    let r = server.as_user(&ci, Method::POST, &format!("/api/v1/applications/web/sync?{q}"), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = server.as_user("not.a.token", Method::GET, "/api/v1/applications", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Delete, as the admin, without cascade: the app goes, and an Event says who.
    let r = server.as_user(&admin, Method::DELETE, &format!("/api/v1/applications/web?{q}&cascade=false"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    wait_for("the app to be gone", TIMEOUT, || async {
        match ns.api::<Application>().get_opt("web").await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|a| a.map(|a| a.metadata.finalizers)))),
        }
    })
    .await
    .expect("deleted");
    let events = events_for(&ns, "web").await;
    let ev = events.iter().find(|e| e.reason.as_deref() == Some("ResourceDeleted")).expect("a ResourceDeleted event");
    assert!(ev.note.as_deref().unwrap_or_default().contains("admin"));

    // A password change: the current one must be given, and it ends the
    // sessions opened before it.
    let change = |current: &str| json!({ "currentPassword": current, "newPassword": "a-new-long-password" });
    let r = server.as_user(&reader, Method::PUT, "/api/v1/account/password", Some(change("wrong"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // a new second: sessions are dated in seconds
    let r = server.as_user(&reader, Method::PUT, "/api/v1/account/password", Some(change(PASSWORD))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = server.as_user(&reader, Method::GET, "/api/v1/session/userinfo", None).await;
    assert_eq!(r.body["loggedIn"], false, "the old session ended");
    let r = server.call(Method::POST, "/api/v1/session", &[], Some(json!({ "username": "reader", "password": PASSWORD }))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let reader = server.login("reader", "a-new-long-password").await;

    // Policy edits apply without a restart.
    let cms: Api<ConfigMap> = ns.api();
    let patch = json!({ "data": { "policy.csv": "g, reader, role:admin\n" } });
    cms.patch("argocd-rbac-cm", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("edit policy");
    wait_for("the new policy", TIMEOUT, || async {
        let r = server.as_user(&reader, Method::DELETE, &format!("/api/v1/applications/api/operation?{q}"), None).await;
        if r.status == StatusCode::OK { Ok(()) } else { Err(r.status) }
    })
    .await
    .expect("reader became admin");
}

#[tokio::test]
async fn list_filters_pages_search_and_fields() {
    let ns = TestNamespace::new("server-list").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let q = format!("appNamespace={}", ns.name());
    let status = |sync: &str, health: &str| json!({ "sync": { "status": sync }, "health": { "status": health } });
    for (name, project, team, sync, health) in [
        ("alpha-web", "default", "a", "Synced", "Healthy"),
        ("beta-web", "default", "b", "OutOfSync", "Healthy"),
        ("gamma-db", "data", "a", "Synced", "Degraded"),
        ("delta-db", "data", "b", "OutOfSync", "Progressing"),
        ("epsilon-web", "default", "a", "Synced", "Healthy"),
    ] {
        create_app(&ns, name, project, json!({ "team": team }), status(sync, health), "https://git.invalid/r.git", name).await;
    }
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let names = |r: &Reply| -> Vec<String> {
        r.body["items"].as_array().expect("items").iter().map(|a| a["metadata"]["name"].as_str().unwrap_or("").to_string()).collect()
    };
    let list = |query: String| {
        let server = &server;
        let admin = admin.clone();
        async move {
            let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications?{query}"), None).await;
            assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
            r
        }
    };
    // The list is served from the server's watch of Applications, which
    // receives the apps just created a moment later.
    wait_for("the server to list the five apps", TIMEOUT, || async {
        let r = list(q.clone()).await;
        if r.body["metadata"]["total"] == 5 { Ok(()) } else { Err(r.body["metadata"]["total"].clone()) }
    })
    .await
    .expect("the apps listed");
    let all = list(q.clone()).await;
    assert_eq!(names(&all), ["alpha-web", "beta-web", "delta-db", "epsilon-web", "gamma-db"], "sorted by name");
    assert_eq!(all.body["metadata"]["total"], 5);
    assert_eq!(names(&list(format!("{q}&projects=data")).await), ["delta-db", "gamma-db"]);
    assert_eq!(names(&list(format!("{q}&sync=OutOfSync")).await), ["beta-web", "delta-db"]);
    assert_eq!(names(&list(format!("{q}&health=Healthy&selector=team%3Da")).await), ["alpha-web", "epsilon-web"]);
    assert_eq!(names(&list(format!("{q}&search=WEB&namespace={}", ns.name())).await), ["alpha-web", "beta-web", "epsilon-web"]);
    assert_eq!(names(&list(format!("{q}&cluster={IN_CLUSTER}&projects=default&projects=data&health=Progressing")).await), ["delta-db"]);
    let page = list(format!("{q}&limit=2&offset=2")).await;
    assert_eq!(names(&page), ["delta-db", "epsilon-web"]);
    assert_eq!((page.body["metadata"]["total"].clone(), page.body["metadata"]["remainingItemCount"].clone()), (json!(5), json!(1)));
    let slim = list(format!("{q}&limit=1&fields=items.metadata.name,items.status.sync.status")).await;
    assert_eq!(slim.body["items"], json!([{ "metadata": { "name": "alpha-web" }, "status": { "sync": { "status": "Synced" } } }]));
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications?{q}&limit=x"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("limit"), "{}", r.text);

    // Create through the API: admins may, others may not; a second create
    // conflicts unless it is an upsert.
    let new_app = json!({ "metadata": { "name": "zeta-web" }, "spec": { "project": "default",
        "source": { "repoURL": "https://git.invalid/r.git", "path": "zeta", "targetRevision": "main" },
        "destination": { "server": IN_CLUSTER, "namespace": ns.name() } } });
    let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications?{q}"), Some(new_app.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["metadata"]["namespace"], ns.name());
    let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications?{q}"), Some(new_app.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let mut changed = new_app.clone();
    changed["spec"]["source"]["path"] = json!("zeta2");
    let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications?{q}&upsert=true"), Some(changed)).await;
    assert_eq!((r.status, r.body["spec"]["source"]["path"].clone()), (StatusCode::OK, json!("zeta2")), "{}", r.text);

    // Get one, with a refresh request.
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/beta-web?{q}&refresh=hard"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["metadata"]["annotations"]["argocd.argoproj.io/refresh"], "hard");
    // An app that does not exist is refused as a hidden one is, even to the admin.
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/nope?{q}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["code"], 7, "Argo CD's error shape: {}", r.text);
    assert!(r.body["message"].as_str().unwrap_or_default().starts_with("permission denied"), "{}", r.text);
}

#[tokio::test]
async fn rollback_requests_a_sync_to_a_history_entry() {
    let ns = TestNamespace::new("server-rollback").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let q = format!("appNamespace={}", ns.name());
    let entry = |id: i64, rev: &str, path: &str| {
        json!({ "id": id, "revision": rev, "deployedAt": "2026-01-01T00:00:00Z",
                "source": { "repoURL": "https://git.invalid/r.git", "path": path, "targetRevision": "main" } })
    };
    let status = json!({ "history": [entry(0, "1111111", "old"), entry(1, "2222222", "web")] });
    create_app(&ns, "web", "default", json!({}), status, "https://git.invalid/r.git", "web").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications/web/rollback?{q}"), Some(json!({ "id": 9 }))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("[0, 1]"), "names the ids: {}", r.text);
    let r = server
        .as_user(&admin, Method::POST, &format!("/api/v1/applications/web/rollback?{q}"), Some(json!({ "id": 0, "prune": true })))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let op = ns.api::<Application>().get("web").await.expect("app").operation.expect("operation");
    assert_eq!(op.initiated_by.and_then(|i| i.username).as_deref(), Some("admin"));
    let sync = op.sync.expect("sync");
    assert_eq!((sync.revision.as_deref(), sync.prune), (Some("1111111"), true));
    assert_eq!(sync.source.map(|s| s.path), Some(Some("old".to_string())), "the entry's source");
    let events = wait_for("the rollback's Event", TIMEOUT, || async {
        let ev: Vec<Event> = ns.api::<Event>().list(&ListParams::default()).await.map_err(|e| e.to_string())?.items;
        ev.into_iter().find(|e| e.action.as_deref() == Some("Rollback")).ok_or_else(|| "none yet".to_string())
    })
    .await
    .expect("event");
    assert!(events.note.as_deref().unwrap_or_default().contains("admin initiated rollback to history id 0"), "{:?}", events.note);
}

#[tokio::test]
async fn resource_tree_lists_what_no_app_tracks_when_the_project_monitors_orphans() {
    let ns = TestNamespace::new("server-orphans").await.expect("namespace");
    let target = TestNamespace::new("server-orphans-target").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let project: driftless_api::AppProject = serde_json::from_value(json!({
        "metadata": { "name": "watched" },
        "spec": { "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }], "orphanedResources": { "warn": false } }
    }))
    .expect("valid project");
    ns.api::<driftless_api::AppProject>().create(&PostParams::default(), &project).await.expect("create project");
    let stray: ConfigMap = serde_json::from_value(json!({ "metadata": { "name": "stray" } })).expect("valid ConfigMap");
    target.api::<ConfigMap>().create(&PostParams::default(), &stray).await.expect("create the stray ConfigMap");
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "web", "namespace": ns.name() },
        "spec": { "project": "watched",
            "source": { "repoURL": "https://git.invalid/r.git", "path": "web", "targetRevision": "main" },
            "destination": { "server": IN_CLUSTER, "namespace": target.name() } },
    }))
    .expect("valid Application");
    ns.api::<Application>().create(&PostParams::default(), &app).await.expect("create app");
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let q = format!("appNamespace={}", ns.name());
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/web/resource-tree?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let orphans: Vec<(Value, Value)> =
        r.body["orphanedNodes"].as_array().expect("orphanedNodes").iter().map(|n| (n["kind"].clone(), n["name"].clone())).collect();
    // Not the namespace's own ServiceAccount and root CA ConfigMap.
    assert_eq!(orphans, [(json!("ConfigMap"), json!("stray"))], "{}", r.text);
}

#[tokio::test]
async fn resource_tree_follows_owner_references() {
    let ns = TestNamespace::new("server-tree").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let q = format!("appNamespace={}", ns.name());
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web", "namespace": ns.name() },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [{ "name": "web", "image": "nginx:1.27" }] } }
        }
    }))
    .expect("valid deployment");
    ns.api::<Deployment>().create(&PostParams::default(), &deployment).await.expect("create deployment");
    let status = json!({ "resources": [{ "group": "apps", "version": "v1", "kind": "Deployment", "namespace": ns.name(), "name": "web", "status": "Synced" }] });
    create_app(&ns, "web", "default", json!({}), status, "https://git.invalid/r.git", "web").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let tree = wait_for("a tree with the pods", TIMEOUT, || async {
        let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/web/resource-tree?{q}"), None).await;
        let nodes = r.body["nodes"].as_array().cloned().unwrap_or_default();
        let pods = nodes.iter().filter(|n| n["kind"] == "Pod").count();
        if pods == 2 { Ok(nodes) } else { Err(r.text) }
    })
    .await
    .expect("tree");
    let find = |kind: &str| tree.iter().filter(|n| n["kind"] == kind).cloned().collect::<Vec<_>>();
    let deploy = &find("Deployment")[0];
    let rs = &find("ReplicaSet")[0];
    assert_eq!(rs["parentRefs"][0]["uid"], deploy["uid"], "ReplicaSet under the Deployment");
    assert_eq!(rs["parentRefs"][0]["kind"], "Deployment");
    for pod in find("Pod") {
        assert_eq!(pod["parentRefs"][0]["uid"], rs["uid"], "Pods under the ReplicaSet");
        assert!(pod["health"]["status"].is_string(), "{pod}");
        assert_eq!(pod["images"], json!(["nginx:1.27"]));
    }
    assert!(deploy["health"]["status"].is_string());

    // The live manifest of an owned object (not in Git) comes from the tree.
    let pod = &find("Pod")[0];
    let path = format!(
        "/api/v1/applications/web/resource?{q}&group=&version=v1&kind=Pod&namespace={}&resourceName={}",
        ns.name(),
        pod["name"].as_str().expect("pod name")
    );
    let r = server.as_user(&admin, Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let manifest: Value = serde_json::from_str(r.body["manifest"].as_str().expect("manifest")).expect("JSON manifest");
    assert_eq!(manifest["metadata"]["uid"], pod["uid"]);
    let outside = format!(
        "/api/v1/applications/web/resource?{q}&group=&version=v1&kind=ConfigMap&namespace={}&resourceName=kube-root-ca.crt",
        ns.name()
    );
    let r = server.as_user(&admin, Method::GET, &outside, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "objects outside the app's tree are not served: {}", r.text);
}

#[tokio::test]
async fn managed_resources_show_diffs_with_secrets_masked() {
    let ns = TestNamespace::new("server-managed").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let q = format!("appNamespace={}", ns.name());
    let repo = GitRepo::new();
    repo.write("app/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2-from-git\n")
        .write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n");
    // A SOPS-encrypted Secret too, decrypted by the server's engine with the
    // control plane's `sops-age`: shown masked like any other.
    let identity = age::x25519::Identity::generate();
    let vault = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: vault\nstringData:\n  token: hunter2-from-sops\n";
    let encrypted =
        driftless_testkit::sops_encrypt(repo.path(), "app/vault.yaml", vault.as_bytes(), &identity.to_public().to_string(), &[]);
    repo.write("app/vault.yaml", std::str::from_utf8(&encrypted).expect("sops writes text"));
    repo.commit("app");
    let key = age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_string();
    let keys = Secret {
        metadata: ObjectMeta { name: Some("sops-age".into()), ..Default::default() },
        string_data: Some(BTreeMap::from([("team.agekey".to_string(), key)])),
        ..Default::default()
    };
    ns.api::<Secret>().create(&PostParams::default(), &keys).await.expect("create sops-age");
    let live = Secret {
        metadata: ObjectMeta { name: Some("creds".into()), ..Default::default() },
        string_data: Some(BTreeMap::from([("password".to_string(), "hunter2-live-value".to_string())])),
        ..Default::default()
    };
    ns.api::<Secret>().create(&PostParams::default(), &live).await.expect("create live secret");
    create_app(&ns, "web", "default", json!({}), json!({}), &repo.url(), "app").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/web/managed-resources?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for secret in ["hunter2-from-git", "hunter2-live-value", "hunter2-from-sops"] {
        assert!(!r.text.contains(secret), "a Secret value leaked");
        let b64 = base64_encode(secret.as_bytes());
        assert!(!r.text.contains(&b64), "a Secret value leaked (base64)");
    }
    let items = r.body["items"].as_array().expect("items");
    let secret = items.iter().find(|i| i["kind"] == "Secret" && i["name"] == "creds").expect("the Secret");
    let target: Value = serde_json::from_str(secret["targetState"].as_str().expect("a JSON string")).expect("JSON");
    assert!(target.to_string().contains("++++"), "masked: {target}");
    let vault = items.iter().find(|i| i["kind"] == "Secret" && i["name"] == "vault").expect("the decrypted Secret");
    let target: Value = serde_json::from_str(vault["targetState"].as_str().expect("a JSON string")).expect("JSON");
    assert_eq!(target["data"]["token"], "++++++++", "decrypted, then masked: {target}");
    assert!(!r.text.contains("ENC[AES256_GCM"), "the manifest is the decrypted one");
    let cm = items.iter().find(|i| i["kind"] == "ConfigMap").expect("the ConfigMap");
    assert_eq!(cm["modified"], true, "missing from the cluster");
    assert!(cm["diff"].as_str().unwrap_or_default().contains("color: blue"), "{}", cm["diff"]);
    let target: Value = serde_json::from_str(cm["targetState"].as_str().expect("a JSON string")).expect("JSON");
    assert_eq!(target["data"]["color"], "blue");
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { T[(n >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    out
}

#[tokio::test]
async fn the_stream_delivers_changes() {
    let ns = TestNamespace::new("server-sse").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    create_app(&ns, "web", "default", json!({}), json!({}), "https://git.invalid/r.git", "web").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let req = http::Request::builder()
        .uri(format!("{}/api/v1/stream/applications?appNamespace={}&name=web", server.base, ns.name()))
        .header("authorization", format!("Bearer {admin}"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = server.http.request(req).await.expect("stream");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body();
    let patch = json!({ "metadata": { "labels": { "changed": "yes" } } });
    ns.api::<Application>().patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("change the app");
    let mut seen = String::new();
    let event = tokio::time::timeout(TIMEOUT, async {
        loop {
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Some(data) = frame.data_ref() {
                seen.push_str(&String::from_utf8_lossy(data));
            }
            if let Some(line) = seen.lines().find(|l| l.starts_with("data:") && l.contains("MODIFIED")) {
                return serde_json::from_str::<Value>(line.trim_start_matches("data:").trim()).expect("JSON event");
            }
        }
    })
    .await
    .expect("a MODIFIED event");
    assert_eq!(event["result"]["type"], "MODIFIED");
    assert_eq!(event["result"]["application"]["metadata"]["labels"]["changed"], "yes");
}

#[tokio::test]
async fn swagger_documents_every_route() {
    let ns = TestNamespace::new("server-swagger").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let r = server.call(Method::GET, "/swagger.json", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    let paths = r.body["paths"].as_object().expect("paths").clone();
    // The contract's routes are all there ...
    for (method, path) in [
        ("post", "/api/v1/session"),
        ("get", "/api/v1/applications"),
        ("get", "/api/v1/applications/{name}"),
        ("delete", "/api/v1/applications/{name}"),
        ("post", "/api/v1/applications/{name}/sync"),
        ("post", "/api/v1/applications/{name}/rollback"),
        ("delete", "/api/v1/applications/{name}/operation"),
        ("get", "/api/v1/applications/{name}/resource-tree"),
        ("get", "/api/v1/applications/{name}/resource"),
        ("get", "/api/v1/applications/{name}/managed-resources"),
        ("get", "/api/v1/stream/applications"),
        ("get", "/api/v1/settings"),
        ("get", "/api/v1/clusters"),
        ("get", "/api/v1/clusters/{server}"),
        ("delete", "/api/v1/clusters/{server}"),
        ("get", "/applications"),
        ("get", "/clusters"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from the spec");
    }
    // ... and every documented route is served (the router answers, even
    // if only to say 401): an unserved one would be a bare 404 or a 405.
    for (path, methods) in &paths {
        let concrete = path
            .replace("{name}", "x")
            .replace("{namespace}", "y")
            .replace("{file}", "z.js")
            .replace("{server}", "s")
            .replace("{project}", "p")
            .replace("{role}", "r")
            .replace("{iat}", "1")
            .replace("{repo}", "r")
            .replace("{url}", "u");
        for method in methods.as_object().expect("methods").keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let r = server.call(m, &concrete, &[], None).await;
            let unserved = r.status == StatusCode::METHOD_NOT_ALLOWED || (r.status == StatusCode::NOT_FOUND && r.text.is_empty());
            assert!(!unserved, "{method} {path} is documented but not served ({})", r.status);
        }
    }
    let r = server.call(Method::GET, "/api/v1/undocumented", &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "unknown paths are not served");
}

/// A cluster Secret in Argo CD's format, created as given.
async fn cluster_secret(ns: &TestNamespace, name: &str, data: &[(&str, &str)]) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "argocd.argoproj.io/secret-type": "cluster" } },
        "stringData": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    }))
    .expect("valid Secret");
    ns.api::<Secret>().create(&PostParams::default(), &secret).await.expect("create cluster Secret");
}

/// An Application deploying to `destination`, with `resources` resources in its status.
async fn app_to(ns: &TestNamespace, name: &str, destination: Value, resources: usize) {
    let resources: Vec<Value> = (0..resources)
        .map(|i| json!({ "version": "v1", "kind": "ConfigMap", "namespace": "x", "name": format!("c{i}"), "status": "Synced" }))
        .collect();
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": ns.name() },
        "spec": { "project": "default", "source": { "repoURL": "https://git.invalid/r.git", "path": "." }, "destination": destination },
        "status": { "resources": resources },
    }))
    .expect("valid Application");
    ns.api::<Application>().create(&PostParams::default(), &app).await.expect("create app");
}

#[tokio::test]
async fn clusters_show_connection_state_and_app_counts_and_never_a_credential() {
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.aG9zdGlsZS10b2tlbg.c2VjcmV0LXNpZ25hdHVyZQ";
    let ns = TestNamespace::new("server-clusters").await.expect("namespace");
    let server = Server::start(&ns, "g, reader, role:readonly\n").await;
    let client = ns.client();
    // The test's own cluster registered once more under its URL, as
    // `driftless cluster add` does: a real token in the Secret.
    let kubeconfig = kube::config::Kubeconfig::read_from(ns.cluster().kubeconfig()).expect("read the kubeconfig");
    let (url, ca_data, insecure) = driftless_engine::register::from_kubeconfig(&kubeconfig, None).expect("the current context");
    let target = driftless_engine::register::Target {
        client: &client,
        server: &url,
        name: "self",
        ca_data,
        insecure,
        namespaces: Vec::new(),
        project: None,
        shard: None,
    };
    let self_secret = driftless_engine::register::add(&target, &client, ns.name()).await.expect("register the cluster");
    let stored = ns.api::<Secret>().get(&self_secret).await.expect("the cluster Secret");
    let config: Value = serde_json::from_slice(&stored.data.expect("data")["config"].0).expect("config JSON");
    let real_token = config["bearerToken"].as_str().expect("a token").to_string();
    // Hostile: a token inside a config that is not JSON; and a cluster that is down.
    let broken_config = format!(r#"{{"bearerToken": "{TOKEN}", "tlsClientConfig": {{"insecure": tru }}}}"#);
    cluster_secret(&ns, "hostile", &[("name", "hostile"), ("server", "https://k.invalid"), ("config", &broken_config)]).await;
    let down_config = format!(r#"{{"bearerToken": "{TOKEN}", "tlsClientConfig": {{"insecure": true}}}}"#);
    cluster_secret(&ns, "down", &[("name", "down"), ("server", "https://127.0.0.1:1"), ("config", &down_config)]).await;
    app_to(&ns, "by-name", json!({ "name": "self", "namespace": "x" }), 2).await;
    app_to(&ns, "by-server", json!({ "server": format!("{url}/"), "namespace": "x" }), 1).await;
    app_to(&ns, "elsewhere", json!({ "name": "down", "namespace": "x" }), 4).await;

    let admin = server.login("admin", &admin_password(&ns).await).await;
    let r = wait_for("both apps in the server's store", TIMEOUT, || async {
        let r = server.as_user(&admin, Method::GET, "/api/v1/clusters", None).await;
        let counted = r.body["items"].as_array().into_iter().flatten().any(|c| c["name"] == "self" && c["info"]["applicationsCount"] == 2);
        if counted { Ok(r) } else { Err(r.text) }
    })
    .await
    .expect("the clusters");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for secret in [TOKEN, real_token.as_str()] {
        assert!(!r.text.contains(secret), "a credential leaked: {}", r.text);
    }
    let items = r.body["items"].as_array().expect("items").clone();
    let item = |name: &str| items.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name} listed: {}", r.text)).clone();
    let own = item("in-cluster");
    assert_eq!((own["server"].clone(), own["connectionState"]["status"].clone()), (json!(IN_CLUSTER), json!("Successful")));
    let me = item("self");
    assert_eq!(me["server"], url.as_str());
    assert_eq!(me["secret"], self_secret.as_str());
    assert_eq!(me["connectionState"]["status"], "Successful", "{me}");
    assert!(me["serverVersion"].as_str().unwrap_or_default().starts_with('v'), "{me}");
    assert_eq!(me["info"]["serverVersion"], me["serverVersion"]);
    assert_eq!(me["info"]["cacheInfo"]["resourcesCount"], 3, "the resources of the two apps deploying there: {me}");
    let down = item("down");
    assert_eq!((down["connectionState"]["status"].clone(), down["info"]["applicationsCount"].clone()), (json!("Failed"), json!(1)));
    assert!(!down["connectionState"]["message"].as_str().unwrap_or_default().is_empty(), "says why: {down}");
    let hostile = item("hostile");
    assert_eq!(hostile["connectionState"]["status"], "Failed");
    assert!(hostile["connectionState"]["message"].as_str().unwrap_or_default().contains("invalid JSON"), "{hostile}");

    // One cluster: by URL-encoded server, or by name as Argo CD's id.type says.
    let encoded = url.replace(':', "%3A").replace('/', "%2F");
    for path in [
        format!("/api/v1/clusters/{encoded}"),
        "/api/v1/clusters/self?id.type=name".into(),
        "/api/v1/clusters/x?id.type=name&id.value=self".into(),
    ] {
        let r = server.as_user(&admin, Method::GET, &path, None).await;
        assert_eq!((r.status, r.body["name"].clone()), (StatusCode::OK, json!("self")), "{path}: {}", r.text);
        assert!(!r.text.contains(&real_token), "a credential leaked");
    }
    let r = server.as_user(&admin, Method::GET, "/api/v1/clusters/hostile?id.type=name", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(!r.text.contains(TOKEN), "a credential leaked: {}", r.text);
    let r = server.as_user(&admin, Method::GET, "/api/v1/clusters/https%3A%2F%2Fnope.invalid", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = server.as_user(&admin, Method::GET, "/api/v1/clusters/self?id.type=uid", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // RBAC: readers see clusters and may not remove one; who has no role
    // sees none, and cannot tell an unknown cluster from a hidden one.
    let reader = server.login("reader", PASSWORD).await;
    let r = server.as_user(&reader, Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(items.len()), "{}", r.text);
    let r = server.as_user(&reader, Method::DELETE, "/api/v1/clusters/self?id.type=name", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let carol = server.login("carol", PASSWORD).await;
    let r = server.as_user(&carol, Method::GET, "/api/v1/clusters", None).await;
    assert_eq!((r.status, r.body["items"].clone()), (StatusCode::OK, json!([])), "{}", r.text);
    for name in ["self", "nope"] {
        let r = server.as_user(&carol, Method::GET, &format!("/api/v1/clusters/{name}?id.type=name"), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {}", r.text);
    }

    // Removing: never the own cluster; a registered one (even unusable)
    // goes with its Secret.
    let r = server.as_user(&admin, Method::DELETE, "/api/v1/clusters/https%3A%2F%2Fkubernetes.default.svc", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("cannot be removed"), "{}", r.text);
    for (path, secret) in
        [(format!("/api/v1/clusters/{encoded}"), self_secret.as_str()), ("/api/v1/clusters/hostile?id.type=name".into(), "hostile")]
    {
        let r = server.as_user(&admin, Method::DELETE, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert!(ns.api::<Secret>().get_opt(secret).await.expect("read").is_none(), "Secret {secret} deleted");
    }
    let r = server.as_user(&admin, Method::GET, "/api/v1/clusters", None).await;
    let names: Vec<&str> = r.body["items"].as_array().expect("items").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["in-cluster", "down"], "{}", r.text);
}

/// `POST .../confirm-deletion`: the `delete` action; the server's time,
/// whatever the client sends; never an app of a namespace the server does
/// not serve, nor one a bad name points at.
#[tokio::test]
async fn confirm_deletion_sets_the_servers_time_for_those_allowed_to_delete() {
    let ns = TestNamespace::new("server-confirm").await.expect("namespace");
    let server = Server::start(&ns, "g, reader, role:readonly\n").await;
    let q = format!("appNamespace={}", ns.name());
    create_app(&ns, "web", "default", json!({}), json!({}), "https://git.invalid/r.git", "web").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let reader = server.login("reader", PASSWORD).await;
    let approved = || async {
        let a = ns.api::<Application>().get("web").await.expect("app");
        a.metadata.annotations.unwrap_or_default().get(driftless_api::ANNOTATION_DELETION_APPROVED).cloned()
    };

    let r = server.as_user(&reader, Method::POST, &format!("/api/v1/applications/web/confirm-deletion?{q}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "read-only may not confirm a deletion: {}", r.text);
    assert_eq!(approved().await, None);

    for path in [
        format!("/api/v1/applications/nope/confirm-deletion?{q}"),
        "/api/v1/applications/web/confirm-deletion?appNamespace=kube-system".to_string(),
        format!("/api/v1/applications/..%2F..%2Fweb/confirm-deletion?{q}"),
        format!("/api/v1/applications/WEB%20%3Bx/confirm-deletion?{q}"),
        format!("/api/v1/applications/{}%2Fweb/confirm-deletion?appNamespace=kube-system", "default"),
    ] {
        let r = server.as_user(&admin, Method::POST, &path, None).await;
        assert!(r.status.is_client_error(), "{path}: {} {}", r.status, r.text);
    }
    assert_eq!(approved().await, None, "nothing confirmed by a refused request");

    let before = k8s_openapi::jiff::Timestamp::from_second(k8s_openapi::jiff::Timestamp::now().as_second()).expect("now");
    let forged = json!({ "approvedAt": "2000-01-01T00:00:00Z", "metadata": { "annotations": { driftless_api::ANNOTATION_DELETION_APPROVED: "2999-01-01T00:00:00Z" } } });
    let r = server
        .as_user(
            &admin,
            Method::POST,
            &format!("/api/v1/applications/web/confirm-deletion?{q}&approvedAt=2999-01-01T00:00:00Z"),
            Some(forged),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let stored = approved().await.expect("annotation set");
    let at: k8s_openapi::jiff::Timestamp = stored.parse().expect("RFC 3339");
    assert!(at >= before && !stored.starts_with("2999") && !stored.starts_with("2000"), "the server's time, not the client's: {stored}");
    assert_eq!(r.body["metadata"]["annotations"][driftless_api::ANNOTATION_DELETION_APPROVED], stored.as_str(), "answers the updated app");
    let event = wait_for("the confirmation's Event", TIMEOUT, || async {
        events_for(&ns, "web").await.into_iter().find(|e| e.action.as_deref() == Some("ConfirmDeletion")).ok_or("none yet")
    })
    .await
    .expect("event");
    assert!(event.note.as_deref().unwrap_or_default().starts_with("admin confirmed"), "{:?}", event.note);
}

/// A repository Secret in the test's namespace, written directly (the API
/// tests a repository before it stores it).
async fn repository_secret(ns: &TestNamespace, name: &str, data: Value) {
    let s: Secret = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "argocd.argoproj.io/secret-type": "repository" } },
        "stringData": data,
    }))
    .expect("a Secret");
    ns.api::<Secret>().create(&PostParams::default(), &s).await.expect("create the repository Secret");
}

/// Repositories show their connection state, tested with their own
/// credentials: Successful for one that answers, Failed with the reason for
/// a wrong password and an unknown SSH host key. With a controller, apps
/// from those failing repositories: nothing the API says about them (the
/// app, its resource tree, events and managed resources) and nothing about
/// the repositories holds a password or the key.
#[tokio::test]
async fn repositories_show_their_connection_state_and_no_answer_holds_a_credential() {
    use driftless_testkit::{GitHttpOptions, GitHttpServer, SshGitServer};
    const GIT_PASSWORD: &str = "s3cret-git-password";
    const WRONG: &str = "wrong-s3cret-password";
    let ns = TestNamespace::new("server-repos").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let git = GitHttpServer::start(GitHttpOptions { basic_auth: Some(("git".into(), GIT_PASSWORD.into())), ..Default::default() });
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-private\n");
    repo.commit("first");
    let (good, bad) = (git.serve("good.git", repo.path()), git.serve("bad.git", repo.path()));
    let body = json!({ "repo": good, "username": "git", "password": GIT_PASSWORD });
    let r = server.as_user(&admin, Method::POST, "/api/v1/repositories", Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    repository_secret(&ns, "bad", json!({ "url": bad, "username": "git", "password": WRONG })).await;
    // The sshd by another name than its key is listed under: unknown.
    let ssh = SshGitServer::start();
    let known = ConfigMap {
        metadata: ObjectMeta { name: Some("argocd-ssh-known-hosts-cm".into()), ..Default::default() },
        data: Some([("ssh_known_hosts".to_string(), ssh.known_hosts.clone())].into()),
        ..Default::default()
    };
    ns.api::<ConfigMap>().create(&PostParams::default(), &known).await.expect("create argocd-ssh-known-hosts-cm");
    let stranger = ssh.url(repo.path()).replace("@127.0.0.1:", "@localhost:");
    repository_secret(&ns, "stranger", json!({ "url": stranger, "sshPrivateKey": ssh.client_key })).await;
    let mut secrets = vec![GIT_PASSWORD, WRONG];
    secrets.extend(ssh.client_key.lines().filter(|l| !l.starts_with("-----")));
    let assert_no_credential = |what: &str, text: &str| {
        for s in &secrets {
            assert!(!text.contains(s), "{what} shows a credential: {text}");
        }
    };

    let r = server.as_user(&admin, Method::GET, "/api/v1/repositories", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_no_credential("the repository list", &r.text);
    let items = r.body["items"].as_array().expect("items").clone();
    let state = |url: &str| {
        let item = items.iter().find(|i| i["repo"] == url).unwrap_or_else(|| panic!("{url} listed: {}", r.text));
        (item["connectionState"]["status"].as_str().unwrap_or_default().to_string(), item["connectionState"]["message"].clone())
    };
    assert_eq!(state(&good).0, "Successful", "{}", r.text);
    let (status, message) = state(&bad);
    assert!(status == "Failed" && message.as_str().unwrap_or_default().contains("Authentication failed"), "{}", r.text);
    let (status, message) = state(&stranger);
    assert!(status == "Failed" && message.as_str().unwrap_or_default().contains("Host key verification failed"), "{}", r.text);
    let encoded: String =
        bad.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/repositories/{encoded}"), None).await;
    assert_eq!((r.status, r.body["connectionState"]["status"].clone()), (StatusCode::OK, json!("Failed")), "{}", r.text);
    assert_no_credential("a repository", &r.text);

    let _controller = api_support::Controller::start(&ns, std::time::Duration::from_secs(2));
    for (name, url, says) in
        [("wrong-password", &bad, "Authentication failed"), ("unknown-host", &stranger, "Host key verification failed")]
    {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": name, "namespace": ns.name() },
            "spec": { "project": "default", "source": { "repoURL": url, "path": "app", "targetRevision": "main" },
                      "destination": { "server": IN_CLUSTER, "namespace": ns.name() }, "syncPolicy": { "automated": {} } },
        }))
        .expect("an Application");
        ns.api::<Application>().create(&PostParams::default(), &app).await.expect("create the app");
        let path = format!("/api/v1/applications/{name}?appNamespace={}", ns.name());
        let r = wait_for(says, TIMEOUT, || async {
            let r = server.as_user(&admin, Method::GET, &path, None).await;
            if r.text.contains(says) { Ok(r) } else { Err(r.text) }
        })
        .await
        .expect("a clear condition");
        assert_no_credential("the app", &r.text);
        for part in ["resource-tree", "events", "managed-resources"] {
            let r =
                server.as_user(&admin, Method::GET, &format!("/api/v1/applications/{name}/{part}?appNamespace={}", ns.name()), None).await;
            // Managed resources cannot be compared: 422, saying why.
            assert!(r.status == StatusCode::OK || r.text.contains(says), "{part}: {}", r.text);
            assert_no_credential(part, &r.text);
        }
    }
}

/// A JSON value of `levels` arrays nested in each other.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!([]), |inner, _| json!([inner]))
}

#[tokio::test]
async fn an_app_nested_deeper_than_driftless_reads_is_listed_in_brief_and_takes_no_other_with_it() {
    let ns = TestNamespace::new("server-deep").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    let q = format!("appNamespace={}", ns.name());
    for name in ["deep", "web"] {
        create_app(&ns, name, "default", json!({}), json!({ "sync": { "status": "Synced" } }), "https://git.invalid/r.git", name).await;
    }
    // The API server keeps valuesObject as written, to any depth.
    let deep = json!({ "spec": { "source": { "helm": { "valuesObject": { "x": nested(300) } } } } });
    ns.api::<Application>().patch("deep", &PatchParams::default(), &Patch::Merge(&deep)).await.expect("the server stores it");
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let list = |query: String| {
        let (server, admin) = (&server, admin.clone());
        async move { server.as_user(&admin, Method::GET, &format!("/api/v1/applications?{query}"), None).await }
    };
    let shown = wait_for("the server to list the deep app as patched", TIMEOUT, || async {
        let r = list(q.clone()).await;
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        match items.iter().find(|a| a["metadata"]["name"] == "deep") {
            Some(a) if a["status"]["conditions"].is_array() => Ok((r.status, items)),
            _ => Err(r.text),
        }
    })
    .await
    .expect("listed");
    assert_eq!(shown.0, StatusCode::OK);
    let (deep, web) = (&shown.1[0], &shown.1[1]);
    assert_eq!((deep["metadata"]["name"].clone(), web["metadata"]["name"].clone()), (json!("deep"), json!("web")));
    let why = deep["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
    assert!(why.contains("nested deeper than 100 levels"), "{why}");
    assert_eq!(deep["spec"]["project"], "default", "shown by its project and destination");
    assert_eq!(web["status"]["sync"]["status"], "Synced", "the other app is shown whole");
    assert_eq!(web["spec"]["source"]["path"], "web");
    let slim = list(format!("{q}&fields=items.metadata.name,items.status.sync.status")).await;
    assert_eq!(
        slim.body["items"],
        json!([{ "metadata": { "name": "deep" }, "status": { "sync": { "status": "Unknown" } } },
                                          { "metadata": { "name": "web" }, "status": { "sync": { "status": "Synced" } } }])
    );
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/deep?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"]["health"]["status"], "Unknown");

    // Creating one is refused with the reason, not stored without the value:
    // too deep for the request's JSON, or read but too deep to write back.
    let create = |values: Value| {
        json!({ "metadata": { "name": "zeta" }, "spec": { "project": "default",
            "source": { "repoURL": "https://git.invalid/r.git", "path": "z", "helm": { "valuesObject": { "x": values } } },
            "destination": { "server": IN_CLUSTER, "namespace": ns.name() } } })
    };
    for (levels, reason) in [(300, "recursion limit exceeded"), (110, "nested deeper than 100 levels")] {
        let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications?{q}&upsert=true"), Some(create(nested(levels)))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{levels} levels: {}", r.text);
        assert!(r.body["message"].as_str().unwrap_or_default().contains(reason), "{levels} levels: {}", r.text);
    }
    assert!(ns.api::<Application>().get_opt("zeta").await.expect("get").is_none(), "nothing was created");
}
