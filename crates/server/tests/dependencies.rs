//! The dependency graph through the API (`GET /api/v1/applications/{name}/dependencies`):
//! what an app waits for, its nodes and edges; RBAC `get` on the app, apps
//! the caller may not get hidden without their names; hostile names refused.

mod api_support;

use std::time::Duration;

use api_support::{PASSWORD, Server, create_app};
use driftless_api::Application;
use driftless_engine::dependencies::ANNOTATION_DEPENDS_ON;
use driftless_testkit::{TestNamespace, wait_for};
use http::{Method, StatusCode};
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn the_dependency_graph_with_rbac_hidden_apps_and_hostile_names() {
    let ns = TestNamespace::new("server-deps").await.expect("namespace");
    let server = Server::start(&ns, "p, carol, applications, get, team/*, allow\n").await;
    let n = ns.name().to_string();
    let q = format!("appNamespace={n}");
    ns.create_project("team", json!([])).await.expect("create project");
    ns.create_project("secret", json!([])).await.expect("create project");
    for (app, proj) in [("web", "team"), ("db", "team"), ("vault-prod", "secret"), ("lone", "team")] {
        create_app(&ns, app, proj, json!({}), json!({}), "https://git.invalid/r.git", app).await;
    }
    let patch = json!({"metadata": {"annotations": { ANNOTATION_DEPENDS_ON: "db, vault-*" }}});
    ns.api::<Application>().patch("web", &PatchParams::default(), &Patch::Merge(patch)).await.expect("annotate");
    let admin = server.login("admin", &api_support::admin_password(&ns).await).await;
    let path = format!("/api/v1/applications/web/dependencies?{q}");

    // The server's store follows the watch: wait for the annotation.
    let r = wait_for("the graph of web", Duration::from_secs(30), || async {
        let r = server.as_user(&admin, Method::GET, &path, None).await;
        if r.status == StatusCode::OK && r.body["nodes"].as_array().map(Vec::len) == Some(3) { Ok(r) } else { Err(r.text) }
    })
    .await
    .expect("graph");
    let waiting = r.body["nodes"].as_array().unwrap().iter().find(|n| n["app"]["name"] == "web").unwrap()["waiting"].clone();
    assert_eq!(
        waiting,
        json!(format!(
            "waiting for {n}/db: Unknown, Unknown (has not reported on its current spec yet); {n}/vault-prod: Unknown, Unknown (has not reported on its current spec yet)"
        )),
        "{}",
        r.text
    );
    assert_eq!(r.body["edges"].as_array().map(Vec::len), Some(2), "{}", r.text);
    assert_eq!(r.body["assessment"]["dependencies"][1]["app"], json!({"namespace": n, "name": "vault-prod"}));

    // carol may get the team's apps only: vault-prod is a placeholder, its name nowhere.
    let carol = server.login("carol", PASSWORD).await;
    let r = server.as_user(&carol, Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(!r.text.contains("vault-prod"), "{}", r.text);
    assert!(r.text.contains("(hidden-1)") && r.text.contains(&format!("{n}/db")), "{}", r.text);
    let hidden = r.body["nodes"].as_array().unwrap().iter().find(|n| n["app"]["hidden"] == true).expect("a hidden node").clone();
    assert_eq!((hidden["sync"].clone(), hidden.get("waiting")), (json!(""), None));
    // An app she may not get: 403; no annotation: a graph of one.
    let r = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/vault-prod/dependencies?{q}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/lone/dependencies?{q}"), None).await;
    assert_eq!(
        (r.status, r.body["nodes"].as_array().map(Vec::len), r.body["edges"].clone()),
        (StatusCode::OK, Some(1), json!([])),
        "{}",
        r.text
    );
    assert_eq!(server.call(Method::GET, &path, &[], None).await.status, StatusCode::UNAUTHORIZED);

    // Unknown and hostile names: 4xx, never the server's error.
    for path in [
        format!("/api/v1/applications/nope/dependencies?{q}"),
        format!("/api/v1/applications/..%2F..%2Fapi%2Fv1%2Fsecrets/dependencies?{q}"),
        format!("/api/v1/applications/%00/dependencies?{q}"),
        format!("/api/v1/applications/{}/dependencies?{q}", "a".repeat(300)),
        format!("/api/v1/applications/web/dependencies?appNamespace=..%2F{n}"),
        "/api/v1/applications/web/dependencies?appNamespace=%E2%80%AEevil".into(),
    ] {
        let r = server.as_user(&admin, Method::GET, &path, None).await;
        assert!(r.status.is_client_error(), "{path}: {} {}", r.status, r.text);
    }
}
