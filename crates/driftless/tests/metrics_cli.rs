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
            .args(["run", "--namespace", ns.name(), "--listen", "127.0.0.1:0", "--metrics-addr", &format!("127.0.0.1:{port}")])
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

    // Argo CD's series, with its labels, so that its dashboard works unchanged.
    let ns_name = ns.name();
    let argo = |prefix: &str, labels: &[String]| {
        body.lines().any(|l| l.starts_with(prefix) && labels.iter().all(|want| l.contains(want.as_str())))
    };
    let app_labels = [format!("namespace=\"{ns_name}\""), "name=\"web\"".into(), "project=\"default\"".into()];
    let info = [
        app_labels.to_vec(),
        vec![
            "autosync_enabled=\"true\"".into(),
            format!("repo=\"{}\"", repo.url()),
            "dest_server=\"https://kubernetes.default.svc\"".into(),
            format!("dest_namespace=\"{ns_name}\""),
            "sync_status=\"Synced\"".into(),
            "health_status=\"Healthy\"".into(),
            "operation=".into(),
        ],
    ]
    .concat();
    assert!(argo("argocd_app_info{", &info), "argocd_app_info: {body}");
    let sync = [app_labels.to_vec(), vec!["dest_server=".into(), "phase=\"Succeeded\"".into(), "dry_run=\"false\"".into()]].concat();
    assert!(argo("argocd_app_sync_total{", &sync), "argocd_app_sync_total: {body}");
    let requests = [
        app_labels.to_vec(),
        vec![
            "server=\"https://kubernetes.default.svc\"".into(),
            "response_code=\"201\"".into(), // created by server-side apply
            "verb=\"patch\"".into(),
            "resource_kind=\"configmaps\"".into(),
            format!("resource_namespace=\"{ns_name}\""),
            "dry_run=".into(),
        ],
    ]
    .concat();
    assert!(argo("argocd_app_k8s_request_total{", &requests), "argocd_app_k8s_request_total: {body}");
    assert!(
        argo(
            "argocd_app_reconcile_bucket{",
            &[format!("namespace=\"{ns_name}\""), "dest_server=\"https://kubernetes.default.svc\"".into()]
        ),
        "argocd_app_reconcile: {body}"
    );
    assert!(
        argo(
            "argocd_cluster_info{",
            &["server=\"https://kubernetes.default.svc\"".into(), "k8s_version=".into(), "name=\"in-cluster\"".into()]
        ),
        "argocd_cluster_info: {body}"
    );
    assert!(
        argo("argocd_git_request_total{", &[format!("repo=\"{}\"", repo.url()), "request_type=\"fetch\"".into()]),
        "argocd_git_request_total: {body}"
    );
    assert!(body.contains("argocd_git_request_duration_seconds_bucket{"), "argocd_git_request_duration_seconds: {body}");
    Ok(())
}
