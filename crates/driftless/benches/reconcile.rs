//! Continuous-reconciliation figures against the dev control plane, with
//! the `driftless controller` binary as users run it. Prints figures;
//! asserts nothing.
//!
//! - drift revert: `kubectl scale`-style patch until the controller has put
//!   `spec.replicas` back, p50/p95 over 20 apps (one drift each);
//! - cold start: N apps of 10 resources each, from controller start until all
//!   are Synced and Healthy, with the controller's peak RSS;
//! - steady state: the controller's CPU and memory over one resync period
//!   (the default, 180 s) and 20 s more, with nothing changing;
//! - the cluster's floor: the same objects applied straight to the API
//!   server, one server-side apply each, until every Deployment is
//!   available: no agent can be faster on this machine.
//!
//! Progress is followed with watches: polling a list of a thousand objects
//! would load the API server that is being measured.
//!
//!     make bench   (COLD_START_APPS=1000 by default)

#[path = "peers/floor.rs"]
mod floor;
#[path = "peers/watch.rs"]
mod watch;
// The peers bench commits to its repositories and reads the rest.
#[allow(dead_code)]
#[path = "peers/workload.rs"]
mod workload;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftless_api::{Application, HealthStatusCode, SyncStatusCode};
use driftless_testkit::{DevCluster, GitHttpServer, TestNamespace, install_crds, procstat, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use watch::watch_until;
use workload::Repo;

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

    fn cpu_time(&self) -> Option<Duration> {
        procstat::cpu_time(self.0.id())
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

fn synced(a: &Application) -> bool {
    a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced)
}

fn synced_healthy(a: &Application) -> bool {
    a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy)
}

async fn drift_revert(trials: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-drift").await?;
    install_crds(&ns.client()).await?;
    let server = GitHttpServer::start(Default::default());
    let repo = Repo::new(&server, "drift", "a", trials, ns.name());
    let cache = tempfile::tempdir()?;
    let _controller = Controller::start(&ns, cache.path(), 3600);
    let apps: Api<Application> = ns.api();
    for i in 0..trials {
        let w = &repo.workload;
        apps.create(&PostParams::default(), &app(ns.name(), &w.name(i), &w.repo_url, &w.path(i), true)).await?;
    }
    watch_until(&apps, "apps", trials, &[&synced_healthy], Duration::from_secs(300)).await?;

    let deployments: Api<Deployment> = ns.api();
    let mut samples = Vec::new();
    for i in 0..trials {
        let name = format!("{}-web", repo.workload.name(i));
        let started = Instant::now();
        deployments.patch(&name, &PatchParams::default(), &Patch::Merge(json!({ "spec": { "replicas": 5 } }))).await?;
        wait_for("replicas restored", Duration::from_secs(120), || async {
            let d = deployments.get(&name).await.map_err(|e| e.to_string())?;
            let r = d.spec.and_then(|s| s.replicas);
            if r == Some(1) { Ok(()) } else { Err(format!("{r:?}")) }
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

/// Returns the namespace it used, deleted as it returns.
async fn cold_start(n: usize) -> Result<String, Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-cold").await?;
    install_crds(&ns.client()).await?;
    let server = GitHttpServer::start(Default::default());
    let repo = Repo::new(&server, "cold", "a", n, ns.name());
    let apps: Api<Application> = ns.api();
    for i in 0..n {
        let w = &repo.workload;
        apps.create(&PostParams::default(), &app(ns.name(), &w.name(i), &w.repo_url, &w.path(i), false)).await?;
    }
    let cache = tempfile::tempdir()?;
    let started = Instant::now();
    // The default resync period: the idle figure below includes the
    // periodic comparisons a real installation makes.
    let controller = Controller::start(&ns, cache.path(), RESYNC_SECONDS);
    // Synced is driftless' own work; Healthy also waits for the cluster's
    // controllers and kubelet to roll the Deployments out.
    let reached = watch_until(&apps, "apps", n, &[&synced, &synced_healthy], Duration::from_secs(1800)).await?;
    println!(
        "cold start: {n} apps x 10 resources, controller start -> all Synced: {:.1} s, all Synced+Healthy: {:.1} s; controller peak RSS {:.0} MiB",
        (reached[0] - started).as_secs_f64(),
        (reached[1] - started).as_secs_f64(),
        procstat::peak_rss_mib(controller.0.id()).unwrap_or(f64::NAN)
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
            procstat::rss_mib(controller.0.id()).unwrap_or(f64::NAN)
        );
    }
    Ok(ns.name().to_string())
}

async fn measure_floor(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-floor").await?;
    let floor = floor::cluster_floor(&ns.client(), ns.name(), "a", n).await.map_err(|e| -> Box<dyn std::error::Error> { e })?;
    println!(
        "cluster floor: the same {n} x 10 objects server-side applied directly (32 at a time): applied in {:.1} s, every Deployment available at {:.1} s",
        floor.applied.as_secs_f64(),
        floor.available.as_secs_f64()
    );
    Ok(())
}

/// Waits until the namespace `name` and everything in it are deleted.
async fn gone(name: &str) -> Result<(), driftless_testkit::Error> {
    let namespaces: Api<Namespace> = Api::all(DevCluster::shared()?.client().await?);
    wait_for(&format!("namespace {name} deleted"), Duration::from_secs(600), || async {
        match namespaces.get_opt(name).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err("still there".to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Argo CD's default reconciliation period.
const RESYNC_SECONDS: u64 = 180;

#[tokio::main]
async fn main() {
    if let Err(e) = drift_revert(20).await {
        println!("drift revert: failed: {e}");
    }
    let n = std::env::var("COLD_START_APPS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    match cold_start(n).await {
        // The floor is measured on a quiet cluster, once the cold start's
        // objects are gone.
        Ok(ns) => match gone(&ns).await {
            Ok(()) => {
                if let Err(e) = measure_floor(n).await {
                    println!("cluster floor: failed: {e}");
                }
            }
            Err(e) => println!("cluster floor: not measured: {e}"),
        },
        Err(e) => println!("cold start: failed: {e}"),
    }
}
