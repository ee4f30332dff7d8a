//! The metrics endpoint over real HTTP, and the kube layer inside a real
//! `kube::Client` talking to a local stand-in for an API server.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use driftless_metrics::{AppLabels, Error, Metrics, OPENMETRICS_CONTENT_TYPE, serve, serve_listener};
use k8s_openapi::api::core::v1::ConfigMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Serves `router` on a free loopback port; the server stops when the
/// returned sender is dropped.
async fn start(router: Router) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), Error>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_listener(listener, router, async move {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

/// A plain HTTP/1.1 GET: (status line and headers, body).
async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8(buf).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    (head.to_owned(), body.to_owned())
}

fn series<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn app(name: &str) -> AppLabels {
    AppLabels {
        namespace: "argocd".into(),
        name: name.into(),
        project: "default".into(),
        dest_server: "https://kubernetes.default.svc".into(),
        dest_namespace: "apps".into(),
        repo: "https://github.com/argoproj/argocd-example-apps.git".into(),
        ..AppLabels::default()
    }
}

#[tokio::test]
async fn metrics_endpoint_shows_recorded_series() {
    let m = Metrics::new();
    let (addr, stop, task) = start(m.router()).await;

    let (head, body) = http_get(addr, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "ok");

    m.app_status(&app("guestbook"), "OutOfSync", "Missing");
    m.app_status(&app("guestbook"), "Synced", "Healthy");
    m.app_status(&app("other"), "Synced", "Degraded");
    m.observe_reconcile(&app("guestbook"), 0.004, true);
    m.observe_reconcile(&app("guestbook"), 0.2, true);
    m.observe_reconcile(&app("other"), 3.0, false);
    m.sync_finished(&app("guestbook"), "Succeeded", false);
    m.git_request("https://github.com/argoproj/argocd-example-apps.git", "fetch", 1.5, true);
    m.git_request("https://github.com/argoproj/argocd-example-apps.git", "checkout", 0.01, false);
    m.set_queue_depth(4);
    let guard = m.reconcile_started();

    let (head, body) = http_get(addr, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = format!("{}: {OPENMETRICS_CONTENT_TYPE}", header::CONTENT_TYPE);
    assert!(head.lines().any(|l| l.eq_ignore_ascii_case(&content_type)), "{head}");
    assert!(body.ends_with("# EOF\n"), "{body}");

    // A status change replaced the app's series: one per app.
    let guestbook = series(&body, r#"driftless_app_info{namespace="argocd",name="guestbook","#);
    assert_eq!(guestbook.len(), 1, "{body}");
    assert!(guestbook[0].contains(r#"sync_status="Synced",health_status="Healthy""#), "{}", guestbook[0]);
    assert!(guestbook[0].ends_with(" 1"));
    assert_eq!(series(&body, "driftless_app_info{").len(), 2, "{body}");

    assert!(body.contains(r#"driftless_app_reconcile_seconds_count{result="ok"} 2"#), "{body}");
    assert!(body.contains(r#"driftless_app_reconcile_seconds_count{result="error"} 1"#), "{body}");
    assert!(body.contains(r#"driftless_app_reconcile_seconds_bucket{le="0.005",result="ok"} 1"#), "{body}");
    assert!(body.contains(r#"driftless_app_reconcile_seconds_bucket{le="0.25",result="ok"} 2"#), "{body}");
    assert!(body.contains(r#"driftless_app_sync_total{namespace="argocd",name="guestbook",phase="Succeeded"} 1"#), "{body}");
    assert!(
        body.contains(
            r#"driftless_git_requests_total{repo="https://github.com/argoproj/argocd-example-apps.git",request="fetch",result="ok"} 1"#
        ),
        "{body}"
    );
    assert!(body.contains(r#"request="checkout",result="error"} 1"#), "{body}");
    assert!(body.contains(r#"driftless_git_request_duration_seconds_count{request="fetch"} 1"#), "{body}");
    assert!(body.contains("driftless_workqueue_depth 4"), "{body}");
    // Argo CD's names and labels, for its dashboard.
    assert!(
        body.contains(r#"argocd_app_info{namespace="argocd",name="guestbook",project="default",autosync_enabled="false",repo="https://github.com/argoproj/argocd-example-apps.git",dest_server="https://kubernetes.default.svc",dest_namespace="apps",sync_status="Synced",health_status="Healthy",operation=""} 1"#),
        "{body}"
    );
    assert!(body.contains(r#"argocd_app_reconcile_count{namespace="argocd",dest_server="https://kubernetes.default.svc"} 3"#), "{body}");
    assert!(
        body.contains(r#"argocd_app_sync_total{namespace="argocd",name="guestbook",project="default",dest_server="https://kubernetes.default.svc",phase="Succeeded",dry_run="false"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"argocd_git_request_total{repo="https://github.com/argoproj/argocd-example-apps.git",request_type="fetch"} 1"#),
        "{body}"
    );
    assert!(body.contains("driftless_reconciles_in_flight 1"), "{body}");

    // Deleting an app removes its series; the guard's drop ends the reconcile.
    m.forget_app("argocd", "guestbook");
    drop(guard);
    let (_, body) = http_get(addr, "/metrics").await;
    assert!(series(&body, r#"driftless_app_info{namespace="argocd",name="guestbook","#).is_empty(), "{body}");
    assert_eq!(series(&body, "driftless_app_info{").len(), 1, "{body}");
    assert!(series(&body, "driftless_app_sync_total{").is_empty(), "{body}");
    assert!(body.contains("driftless_reconciles_in_flight 0"), "{body}");

    drop(stop);
    task.await.expect("join").expect("serve ends cleanly on shutdown");
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = taken.local_addr().expect("addr");
    let err = serve(addr, Metrics::new().router(), std::future::pending()).await.expect_err("the port is taken");
    assert!(matches!(err, Error::AddrInUse { addr: a } if a == addr), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()) && msg.contains("already in use"), "{msg}");
}

const CONFIGMAP: &str =
    r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"default","resourceVersion":"1"},"data":{"a":"b"}}"#;
const NOT_FOUND: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"configmaps"},"code":404}"#;

/// Just enough of an API server for a get, a failed get, a list and a watch
/// of ConfigMaps.
fn fake_api_server() -> Router {
    let json = |status: StatusCode, body: String| (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    Router::new()
        .route("/api/v1/namespaces/default/configmaps/cm", get(move || async move { json(StatusCode::OK, CONFIGMAP.to_owned()) }))
        .route("/api/v1/namespaces/default/configmaps/nope", get(move || async move { json(StatusCode::NOT_FOUND, NOT_FOUND.to_owned()) }))
        .route(
            "/api/v1/namespaces/default/configmaps",
            get(move |uri: Uri| async move {
                if uri.query().is_some_and(|q| q.contains("watch=true")) {
                    // One event, then the stream ends.
                    json(StatusCode::OK, format!("{{\"type\":\"ADDED\",\"object\":{CONFIGMAP}}}\n"))
                } else {
                    json(
                        StatusCode::OK,
                        format!(
                            r#"{{"apiVersion":"v1","kind":"ConfigMapList","metadata":{{"resourceVersion":"1"}},"items":[{CONFIGMAP}]}}"#
                        ),
                    )
                }
            }),
        )
}

#[tokio::test]
async fn kube_client_requests_are_counted_through_the_layer() {
    let (api_addr, _stop_api, _api) = start(fake_api_server()).await;
    let m = Metrics::new();
    let config = kube::Config::new(format!("http://{api_addr}").parse().expect("url"));
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&m.kube_layer("https://kubernetes.default.svc"))
        .build();
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");

    let cm = api.get("cm").await.expect("get");
    assert_eq!(cm.data.unwrap_or_default().get("a").map(String::as_str), Some("b"));
    api.get("cm").await.expect("second get");
    let err = api.get("nope").await.expect_err("not found");
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 404), "{err:?}");
    assert_eq!(api.list(&Default::default()).await.expect("list").items.len(), 1);
    // The watch is counted when its response starts, not per event; the
    // stream is never read.
    let _stream = api.watch(&Default::default(), "0").await.expect("watch");

    let text = m.encode();
    assert!(text.contains(r#"driftless_kube_requests_total{verb="get",status="200"} 2"#), "{text}");
    assert!(text.contains(r#"driftless_kube_requests_total{verb="get",status="404"} 1"#), "{text}");
    assert!(text.contains(r#"driftless_kube_requests_total{verb="list",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"driftless_kube_requests_total{verb="watch",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"driftless_kube_request_duration_seconds_count{verb="get"} 3"#), "{text}");

    // And on the endpoint.
    let (metrics_addr, _stop, _task) = start(m.router()).await;
    let (_, body) = http_get(metrics_addr, "/metrics").await;
    assert!(body.contains(r#"driftless_kube_requests_total{verb="watch",status="200"} 1"#), "{body}");
}
