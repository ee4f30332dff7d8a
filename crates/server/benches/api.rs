//! `cargo bench -p driftless-server`: 2,000 Applications in the dev control
//! plane, the server in-process, and the latency of the list endpoints and
//! the UI's list page. Prints p50/p95 per request kind; asserts nothing
//! about time.

#[path = "../tests/api_support/mod.rs"]
mod api_support;

use std::time::{Duration, Instant};

use api_support::{Server, admin_password, create_app};
use driftless_testkit::TestNamespace;
use futures::StreamExt as _;
use http::{Method, StatusCode};
use serde_json::json;

const APPS: usize = 2000;
const ROUNDS: usize = 30;
/// The fields the UI's list page asks for.
const UI_FIELDS: &str = "metadata.total,metadata.remainingItemCount,items.metadata.name,items.metadata.namespace,items.spec.project,\
items.spec.source,items.spec.destination,items.status.sync.status,items.status.sync.revision,items.status.health,\
items.status.operationState.phase,items.status.operationState.startedAt,items.status.operationState.finishedAt,items.status.reconciledAt";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn measure(server: &Server, token: &str, label: &str, path: &str) {
    let mut times = Vec::with_capacity(ROUNDS);
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let cookie = format!("argocd.token={token}");
        let r = server.call(Method::GET, path, &[("cookie", &cookie)], None).await;
        times.push(start.elapsed());
        assert_eq!(r.status, StatusCode::OK, "{label}: {}", r.text.chars().take(300).collect::<String>());
        bytes = r.text.len();
    }
    times.sort();
    println!(
        "{label:<48} p50 {:>8.1} ms   p95 {:>8.1} ms   {:>9} bytes",
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.95).as_secs_f64() * 1000.0,
        bytes
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let ns = TestNamespace::new("server-bench").await.expect("namespace");
        let server = Server::start(&ns, "").await;
        let started = Instant::now();
        let statuses = [("Synced", "Healthy"), ("OutOfSync", "Healthy"), ("Synced", "Progressing"), ("Synced", "Degraded")];
        futures::stream::iter(0..APPS)
            .for_each_concurrent(16, |i| {
                let ns = &ns;
                async move {
                    let (sync, health) = statuses[i % statuses.len()];
                    let status = json!({
                        "sync": { "status": sync, "revision": "0123456789abcdef0123456789abcdef01234567" },
                        "health": { "status": health },
                        "resources": (0..5).map(|r| json!({ "group": "apps", "version": "v1", "kind": "Deployment",
                            "namespace": "apps", "name": format!("svc-{i}-{r}"), "status": sync, "health": { "status": health } }))
                            .collect::<Vec<_>>(),
                    });
                    let name = format!("app-{i:04}");
                    create_app(
                        ns,
                        &name,
                        "default",
                        json!({ "team": format!("t{}", i % 10) }),
                        status,
                        "https://git.invalid/apps.git",
                        &name,
                    )
                    .await;
                }
            })
            .await;
        println!("created {APPS} Applications in {:.1} s", started.elapsed().as_secs_f64());
        let token = server.login("admin", &admin_password(&ns).await).await;
        // Wait until the store holds them all.
        let q = format!("appNamespace={}", ns.name());
        loop {
            let r = server.as_user(&token, Method::GET, &format!("/api/v1/applications?{q}&limit=1"), None).await;
            if r.body["metadata"]["total"] == APPS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("{ROUNDS} sequential requests each, {APPS} apps:");
        measure(&server, &token, "GET /api/v1/applications (all, full)", &format!("/api/v1/applications?{q}")).await;
        measure(&server, &token, "GET /api/v1/applications (all, UI fields)", &format!("/api/v1/applications?{q}&fields={UI_FIELDS}"))
            .await;
        measure(
            &server,
            &token,
            "GET /api/v1/applications (UI page: 100, fields)",
            &format!("/api/v1/applications?{q}&limit=100&fields={UI_FIELDS}"),
        )
        .await;
        measure(&server, &token, "GET /api/v1/applications?search=app-19", &format!("/api/v1/applications?{q}&search=app-19")).await;
        measure(&server, &token, "GET /applications (UI list page HTML)", "/applications").await;
    });
}
