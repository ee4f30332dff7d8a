//! `GET /api/v1/applications/{name}/events` against the real dev control
//! plane: the app's Kubernetes Events as a core/v1 EventList (those the
//! controller writes and the server's own), only to those who may see the
//! app, and hostile names refused.

mod api_support;

use api_support::{PASSWORD, Server, TIMEOUT, admin_password, create_app};
use driftless_testkit::{TestNamespace, wait_for};
use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ObjectMeta, PostParams};
use serde_json::{Value, json};

/// A core/v1 Event on the app `name` (uid `uid`), as the controller writes one.
async fn event(ns: &TestNamespace, event: &str, app: &str, uid: Option<String>, reason: &str, message: &str) {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let e = Event {
        metadata: ObjectMeta { name: Some(event.into()), ..Default::default() },
        involved_object: ObjectReference {
            api_version: Some("argoproj.io/v1alpha1".into()),
            kind: Some("Application".into()),
            name: Some(app.into()),
            namespace: Some(ns.name().into()),
            uid,
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some("Normal".into()),
        count: Some(3),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        ..Default::default()
    };
    ns.api::<Event>().create(&PostParams::default(), &e).await.expect("create Event");
}

fn messages(body: &Value) -> Vec<String> {
    let mut m: Vec<String> =
        body["items"].as_array().into_iter().flatten().filter_map(|e| e["message"].as_str().map(String::from)).collect();
    m.sort();
    m
}

#[tokio::test]
async fn an_apps_events_are_served_to_those_who_may_see_the_app() {
    let ns = TestNamespace::new("app-events").await.expect("namespace");
    let server = Server::start(&ns, "p, carol, applications, get, default/web, allow\n").await;
    let q = format!("appNamespace={}", ns.name());
    let web = create_app(&ns, "web", "default", json!({}), json!({}), "https://git.invalid/r.git", "web").await;
    let api = create_app(&ns, "api", "default", json!({}), json!({}), "https://git.invalid/r.git", "api").await;
    event(&ns, "web.1", "web", web.metadata.uid.clone(), "OperationCompleted", "Sync operation to abc succeeded").await;
    event(&ns, "web.2", "web", web.metadata.uid.clone(), "ResourceUpdated", "Updated health status: Progressing -> Healthy").await;
    // Another app's, and those of an earlier app of the same name: not this one's.
    event(&ns, "api.1", "api", api.metadata.uid.clone(), "OperationCompleted", "Sync operation to def succeeded").await;
    event(&ns, "web.old", "web", Some("0e4c1a5e-0000-4000-8000-000000000000".into()), "OperationCompleted", "of a deleted app").await;

    let carol = server.login("carol", PASSWORD).await;
    let r = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/web/events?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(messages(&r.body), ["Sync operation to abc succeeded", "Updated health status: Progressing -> Healthy"]);
    let first = &r.body["items"][0];
    assert_eq!((first["involvedObject"]["kind"].clone(), first["count"].clone()), (json!("Application"), json!(3)), "{first}");
    assert!(r.body["metadata"].is_object(), "an EventList: {}", r.text);
    // `namespace/name` in the path, as the other app paths take it.
    let r = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/{}%2Fweb/events", ns.name()), None).await;
    assert_eq!((r.status, messages(&r.body).len()), (StatusCode::OK, 2), "{}", r.text);

    // An app carol may not see answers as one that does not exist.
    let hidden = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/api/events?{q}"), None).await;
    let ghost = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/ghost/events?{q}"), None).await;
    assert_eq!((hidden.status, ghost.status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN), "{}", hidden.text);
    assert!(!hidden.text.contains("def succeeded"), "{}", hidden.text);
    let r = server.call(Method::GET, &format!("/api/v1/applications/web/events?{q}"), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // Hostile names and namespaces never reach a field selector, nor
    // another namespace's Events.
    for path in [
        format!("/api/v1/applications/web,involvedObject.name=api/events?{q}"),
        format!("/api/v1/applications/web/events?appNamespace={}%2Cinvolved", ns.name()),
        "/api/v1/applications/web/events?appNamespace=kube-system".to_string(),
        format!("/api/v1/applications/..%2F..%2Fweb/events?{q}"),
        format!("/api/v1/applications/{}/events?{q}", "w".repeat(5000)),
        format!("/api/v1/applications/%00%ff/events?{q}"),
    ] {
        let r = server.as_user(&carol, Method::GET, &path, None).await;
        assert!(matches!(r.status, StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST), "{path}: {} {}", r.status, r.text);
        assert!(!r.text.contains("succeeded"), "{path}: {}", r.text);
    }
    // One resource's Events live in the destination cluster: not served.
    let r = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/web/events?{q}&resourceName=web&resourceUID=x"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("resourceName"), "{}", r.text);

    // The server's own audit Events (events.k8s.io) are among them.
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let r = server.as_user(&admin, Method::POST, &format!("/api/v1/applications/web/sync?{q}"), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    wait_for("the sync request's Event", TIMEOUT, || async {
        let r = server.as_user(&carol, Method::GET, &format!("/api/v1/applications/web/events?{q}"), None).await;
        let m = messages(&r.body);
        if m.iter().any(|m| m.starts_with("admin initiated sync")) { Ok(()) } else { Err(format!("{m:?}")) }
    })
    .await
    .expect("the server's Event listed");
}
