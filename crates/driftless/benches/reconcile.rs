//! Continuous-reconciliation figures against the dev control plane, with
//! the `driftless controller` binary as users run it. Prints figures;
//! asserts nothing.
//!
//! - drift revert: `kubectl scale`-style patch until the controller has put
//!   `spec.replicas` back, p50/p95 over 20 apps (one drift each);
//! - cold start: N apps of 10 resources each, from controller start until all
//!   are Synced and Healthy, with the controller's peak RSS;
//! - steady state: the controller's CPU and memory over one resync period
//!   (the default, 180 s) and 20 s more, with nothing changing.
//!
//!     make bench   (COLD_START_APPS=1000 by default)

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftless_api::{Application, HealthStatusCode, SyncStatusCode};
use driftless_testkit::{GitRepo, TestNamespace, install_crds, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

struct Controller(Child);

impl Controller {
    fn start(ns: &TestNamespace, cache: &std::path::Path, resync_seconds: u64) -> Controller {
        let child = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["controller", "--namespace", ns.name(), "--app-resync", &resync_seconds.to_string()])
            .env("KUBECONFIG", ns.cluster().kubeconfig())
            .env("DRIFTLESS_CACHE_DIR", cache)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start driftless controller");
        Controller(child)
    }

    /// CPU time used so far (user + system), from /proc (Linux).
    fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).ok()?;
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // USER_HZ is 100 on Linux.
        Some(Duration::from_millis(ticks * 10))
    }

    /// Resident memory now, in MiB (Linux).
    fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    /// Peak resident memory so far, in MiB (Linux).
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn app(ns: &str, name: &str, repo: &str, path: &str, self_heal: bool) -> Application {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "project": "default",
                  "source": { "repoURL": repo, "targetRevision": "main", "path": path },
                  "destination": { "server": "https://kubernetes.default.svc", "namespace": ns },
                  "syncPolicy": { "automated": { "prune": true, "selfHeal": self_heal } } }
    }))
    .expect("valid Application")
}

fn deployment(name: &str, replicas: i32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n"
    )
}

async fn all_synced_healthy(apps: &Api<Application>, n: usize) -> Result<(), String> {
    all_where(apps, n, "Synced and Healthy", |s| s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy)
        .await
}

async fn all_where(
    apps: &Api<Application>,
    n: usize,
    what: &str,
    holds: impl Fn(&driftless_api::ApplicationStatus) -> bool,
) -> Result<(), String> {
    let list = apps.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
    let done = list.items.iter().filter(|a| a.status.as_ref().is_some_and(&holds)).count();
    if done == n { Ok(()) } else { Err(format!("{done}/{n} {what}")) }
}

async fn drift_revert(trials: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-drift").await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    for i in 0..trials {
        repo.write(&format!("apps/a{i}/deploy.yaml"), &deployment(&format!("web-{i}"), 2));
    }
    repo.commit("apps");
    let cache = tempfile::tempdir()?;
    let _controller = Controller::start(&ns, cache.path(), 3600);
    let apps: Api<Application> = ns.api();
    for i in 0..trials {
        apps.create(&PostParams::default(), &app(ns.name(), &format!("a{i}"), &repo.url(), &format!("apps/a{i}"), true)).await?;
    }
    wait_for("apps Synced and Healthy", Duration::from_secs(300), || all_synced_healthy(&apps, trials)).await?;

    let deployments: Api<Deployment> = ns.api();
    let mut samples = Vec::new();
    for i in 0..trials {
        let name = format!("web-{i}");
        let started = Instant::now();
        deployments.patch(&name, &PatchParams::default(), &Patch::Merge(json!({ "spec": { "replicas": 5 } }))).await?;
        wait_for("replicas restored", Duration::from_secs(120), || async {
            let d = deployments.get(&name).await.map_err(|e| e.to_string())?;
            let r = d.spec.and_then(|s| s.replicas);
            if r == Some(2) { Ok(()) } else { Err(format!("{r:?}")) }
        })
        .await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "drift revert (patch replicas -> restored, {trials} trials, polling every 200 ms): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.95).as_secs_f64() * 1000.0,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    Ok(())
}

async fn cold_start(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-cold").await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    for i in 0..n {
        for j in 0..9 {
            repo.write(
                &format!("apps/a{i}/cm{j}.yaml"),
                &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a{i}-cm{j}\ndata:\n  k: v\n"),
            );
        }
        repo.write(&format!("apps/a{i}/deploy.yaml"), &deployment(&format!("a{i}-web"), 1));
    }
    repo.commit("apps");
    let apps: Api<Application> = ns.api();
    for i in 0..n {
        apps.create(&PostParams::default(), &app(ns.name(), &format!("a{i}"), &repo.url(), &format!("apps/a{i}"), false)).await?;
    }
    let cache = tempfile::tempdir()?;
    let started = Instant::now();
    // The default resync period: the idle figure below includes the
    // periodic comparisons a real installation makes.
    let controller = Controller::start(&ns, cache.path(), RESYNC_SECONDS);
    // Synced is driftless' own work; Healthy also waits for the cluster's
    // controllers and kubelet to roll the Deployments out.
    wait_for("every app Synced", Duration::from_secs(1800), || all_where(&apps, n, "Synced", |s| s.sync.status == SyncStatusCode::Synced))
        .await?;
    let synced = started.elapsed();
    wait_for("every app Synced and Healthy", Duration::from_secs(1800), || all_synced_healthy(&apps, n)).await?;
    let took = started.elapsed();
    println!(
        "cold start: {n} apps x 10 resources, controller start -> all Synced: {:.1} s, all Synced+Healthy: {:.1} s; controller peak RSS {:.0} MiB",
        synced.as_secs_f64(),
        took.as_secs_f64(),
        controller.peak_rss_mib().unwrap_or(f64::NAN)
    );

    // Steady state: nothing changes; watches stay open and apps are
    // compared again as their resync period comes round. The window spans
    // a whole period, so that every app's periodic comparison falls in it.
    let window = Duration::from_secs(RESYNC_SECONDS + 20);
    let before = controller.cpu_time();
    tokio::time::sleep(window).await;
    if let (Some(a), Some(b)) = (before, controller.cpu_time()) {
        println!(
            "steady state: {n} idle apps, resync {RESYNC_SECONDS} s: controller CPU {:.1}% of one core over {} s; RSS {:.0} MiB",
            (b - a).as_secs_f64() / window.as_secs_f64() * 100.0,
            window.as_secs(),
            controller.rss_mib().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Argo CD's default reconciliation period.
const RESYNC_SECONDS: u64 = 180;

#[tokio::main]
async fn main() {
    if let Err(e) = drift_revert(20).await {
        println!("drift revert: failed: {e}");
    }
    let n = std::env::var("COLD_START_APPS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    if let Err(e) = cold_start(n).await {
        println!("cold start: failed: {e}");
    }
}
