//! `driftless run` serves Prometheus metrics that reflect what the
//! controller does.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use driftless_testkit::{GitRepo, TestNamespace, install_crds, wait_for};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn get(port: u16, path: &str) -> Result<String, String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

#[tokio::test]
async fn run_serves_metrics_about_apps_syncs_and_api_requests() -> Result<(), driftless_testkit::Error> {
    let ns = TestNamespace::new("metrics").await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n");
    repo.commit("one ConfigMap");
    let cache = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _run = Killed(
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            // The server's port is picked free: 8080 may be taken.
            .args([
                "run",
                "--namespace",
                ns.name(),
                "--listen",
                "127.0.0.1:0",
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
            ])
            .env("KUBECONFIG", ns.cluster().kubeconfig())
            .env("DRIFTLESS_CACHE_DIR", cache.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start driftless run"),
    );
    let apps: Api<driftless_api::Application> = ns.api();
    let app: driftless_api::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "web", "namespace": ns.name() },
        "spec": { "project": "default",
                  "source": { "repoURL": repo.url(), "targetRevision": "main", "path": "app" },
                  "destination": { "server": "https://kubernetes.default.svc", "namespace": ns.name() },
                  "syncPolicy": { "automated": {} } }
    }))
    .expect("valid Application");
    apps.create(&PostParams::default(), &app)
        .await
        .map_err(|source| driftless_testkit::Error::Kube { what: "create app".into(), source })?;

    let series = format!("name=\"web\",namespace=\"{}\"", ns.name());
    let body = wait_for("metrics showing the app Synced and its sync", Duration::from_secs(90), || async {
        let body = get(port, "/metrics")?;
        let synced = body
            .lines()
            .any(|l| l.starts_with("driftless_app_info{") && l.contains("name=\"web\"") && l.contains("sync_status=\"Synced\""));
        let sync_counted = body.lines().any(|l| {
            l.starts_with("driftless_app_sync_total")
                && l.contains("phase=\"Succeeded\"")
                && l.contains(&series.replace("name=\"web\",", ""))
        });
        if synced && sync_counted {
            Ok(body)
        } else {
            Err(body.lines().filter(|l| l.starts_with("driftless_app")).collect::<Vec<_>>().join("\n"))
        }
    })
    .await?;
    assert!(
        body.lines().any(|l| l.starts_with("driftless_kube_requests_total{") && l.contains("verb=\"patch\"")),
        "API requests are counted"
    );
    assert!(body.lines().any(|l| l.starts_with("driftless_git_requests_total{") && l.contains("result=\"ok\"")), "Git fetches are counted");
    assert!(body.contains("driftless_app_reconcile_seconds_count"), "reconciles are timed");
    assert!(get(port, "/healthz").expect("GET /healthz").ends_with("ok"), "health endpoint");
    Ok(())
}
