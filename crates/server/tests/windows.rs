//! Sync windows through the API: an app's windows and a project's active
//! ones, with the same RBAC as the other GET paths, against the dev
//! control plane (the test namespace is the control plane).

mod api_support;

use api_support::{PASSWORD, Server, create_app};
use driftless_testkit::TestNamespace;
use http::{Method, StatusCode};
use k8s_openapi::jiff::{Timestamp, tz::TimeZone};
use serde_json::json;

#[tokio::test]
async fn app_and_project_sync_windows_with_rbac_and_hostile_names() {
    let ns = TestNamespace::new("server-windows").await.expect("namespace");
    let server = Server::start(&ns, "g, reader, role:readonly\np, carol, applications, get, team/api, allow\n").await;
    let q = format!("appNamespace={}", ns.name());
    // Twelve hours from now: an allow window certainly not open.
    let later = (Timestamp::now().to_zoned(TimeZone::UTC).hour() + 12) % 24;
    let deny = json!({ "kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["web"], "manualSync": true });
    let allow = json!({ "kind": "allow", "schedule": format!("0 {later} * * *"), "duration": "1h", "applications": ["web", "api"] });
    ns.create_project("team", json!([deny, allow])).await.expect("create project");
    let broken = json!([{ "kind": "deny", "schedule": "0 9 * * *", "duration": "1h", "timeZone": "Mars/Olympus" }]);
    ns.create_project("broken", broken).await.expect("create project");
    // Always closed to syncs, manual ones included.
    let frozen = json!([{ "kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["*"] }]);
    ns.create_project("frozen", frozen).await.expect("create project");
    // A history entry, so that a rollback is otherwise possible.
    let history = json!({ "history": [{ "id": 0, "revision": "1111111", "deployedAt": "2026-01-01T00:00:00Z",
        "source": { "repoURL": "https://git.invalid/r.git", "path": "old", "targetRevision": "main" } }] });
    for (app, proj) in [("web", "team"), ("api", "team"), ("fixme", "broken"), ("db", "frozen")] {
        let status = if proj == "team" { json!({}) } else { history.clone() };
        create_app(&ns, app, proj, json!({}), status, "https://git.invalid/r.git", app).await;
    }
    let admin = server.login("admin", &api_support::admin_password(&ns).await).await;
    let get = |token: String, path: String| {
        let server = &server;
        async move { server.as_user(&token, Method::GET, &path, None).await }
    };

    // web: the deny window is active (manual syncs allowed), the allow one not.
    let r = get(admin.clone(), format!("/api/v1/applications/web/syncwindows?{q}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["activeWindows"].as_array().map(Vec::len), Some(1), "{}", r.text);
    assert_eq!(r.body["activeWindows"][0]["kind"], "deny");
    assert_eq!(r.body["assignedWindows"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["canSync"], true, "manualSync");
    assert_eq!(r.body["automatedCanSync"], false);
    assert_eq!(r.body["message"], "Sync Denied by deny window 0 of project team; a manual sync may run");
    // api: only the allow window, closed: nothing may sync until it opens.
    let r = get(admin.clone(), format!("/api/v1/applications/api/syncwindows?{q}")).await;
    assert_eq!((r.body["canSync"].clone(), r.body["activeWindows"].clone()), (json!(false), json!([])), "{}", r.text);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Sync Denied outside the allow windows of project team until "), "{message}");
    assert!(r.body["nextChange"].as_str().is_some_and(|t| t.contains(&format!("T{later:02}:00:00"))), "{}", r.text);
    // A broken window allows nothing and says which.
    let r = get(admin.clone(), format!("/api/v1/applications/fixme/syncwindows?{q}")).await;
    assert_eq!(r.body["canSync"], false, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("project broken: sync window 0: timeZone \"Mars/Olympus\""));

    // The project's active windows.
    let r = get(admin.clone(), "/api/v1/projects/team/syncwindows".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["windows"],
        json!([{ "kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["web"], "manualSync": true }])
    );
    let r = get(admin.clone(), "/api/v1/projects/broken/syncwindows".into()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("sync window 0: timeZone"), "{}", r.text);
    let r = get(admin.clone(), "/api/v1/projects/default/syncwindows".into()).await;
    assert_eq!((r.status, r.body["windows"].clone()), (StatusCode::OK, json!([])), "the implicit default project: {}", r.text);

    // Syncs and rollbacks through the API: refused while a window denies
    // them, naming it; a deny window with manualSync lets a manual sync run.
    let post = |path: String, body: serde_json::Value| {
        let (server, admin) = (&server, admin.clone());
        async move { server.as_user(&admin, Method::POST, &path, Some(body)).await }
    };
    for (app, action, body, reason) in [
        ("db", "sync", json!({}), "Sync Denied by deny window 0 of project frozen"),
        ("db", "rollback", json!({ "id": 0 }), "Sync Denied by deny window 0 of project frozen"),
        ("api", "sync", json!({}), "Sync Denied outside the allow windows of project team"),
        ("fixme", "rollback", json!({ "id": 0 }), "sync window 0: timeZone"),
    ] {
        let r = post(format!("/api/v1/applications/{app}/{action}?{q}"), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{app} {action}: {}", r.text);
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("cannot sync: ") && message.contains(reason), "{app} {action}: {message}");
    }
    for app in ["db", "api", "fixme"] {
        let stored = ns.api::<driftless_api::Application>().get(app).await.expect("app");
        assert!(stored.operation.is_none(), "{app}: a refused request asks the controller for nothing");
    }
    let r = post(format!("/api/v1/applications/web/sync?{q}"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "manualSync: {}", r.text);

    // RBAC: applications/get for the app, projects/get for the project.
    let reader = server.login("reader", PASSWORD).await;
    assert_eq!(get(reader.clone(), format!("/api/v1/applications/web/syncwindows?{q}")).await.status, StatusCode::OK);
    assert_eq!(get(reader, "/api/v1/projects/team/syncwindows".into()).await.status, StatusCode::OK);
    let carol = server.login("carol", PASSWORD).await;
    assert_eq!(get(carol.clone(), format!("/api/v1/applications/api/syncwindows?{q}")).await.status, StatusCode::OK);
    assert_eq!(get(carol.clone(), format!("/api/v1/applications/web/syncwindows?{q}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(carol, "/api/v1/projects/team/syncwindows".into()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(server.call(Method::GET, "/api/v1/projects/team/syncwindows", &[], None).await.status, StatusCode::UNAUTHORIZED);

    // Unknown and hostile names: 4xx, never the server's error.
    for path in [
        format!("/api/v1/applications/nope/syncwindows?{q}"),
        "/api/v1/projects/nope/syncwindows".into(),
        "/api/v1/projects/..%2F..%2Fapi%2Fv1%2Fsecrets/syncwindows".into(),
        "/api/v1/projects/%00/syncwindows".into(),
        "/api/v1/projects/UPPER/syncwindows".into(),
        format!("/api/v1/projects/{}/syncwindows", "a".repeat(300)),
        format!("/api/v1/applications/web/syncwindows?appNamespace=..%2F{}", ns.name()),
    ] {
        let r = get(admin.clone(), path.clone()).await;
        assert!(r.status.is_client_error(), "{path}: {} {}", r.status, r.text);
    }
}
