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

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftless_api::{Application, HealthStatusCode, SyncStatusCode};
use driftless_testkit::{DevCluster, GitRepo, TestNamespace, install_crds, wait_for};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
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

fn synced(a: &Application) -> bool {
    a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced)
}

fn synced_healthy(a: &Application) -> bool {
    a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy)
}

/// Watches `api` until each of `goals` holds for `n` objects at once, and
/// returns when each was first reached, in order. Goals are cumulative (the
/// second implies the first), so each is waited for after the one before.
async fn watch_until<K>(api: &Api<K>, n: usize, goals: &[&(dyn Fn(&K) -> bool + Sync)], timeout: Duration) -> Result<Vec<Instant>, String>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let mut reached = Vec::new();
    let mut level: HashMap<String, usize> = HashMap::new();
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let deadline = tokio::time::Instant::now() + timeout;
    while reached.len() < goals.len() {
        let event = tokio::time::timeout_at(deadline, events.try_next())
            .await
            .map_err(|_| format!("timed out: {} of {} goals reached", reached.len(), goals.len()))?
            .map_err(|e| e.to_string())?
            .ok_or("the watch ended")?;
        match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                level.insert(o.meta().name.clone().unwrap_or_default(), goals.iter().take_while(|g| g(&o)).count());
            }
            watcher::Event::Delete(o) => {
                level.remove(&o.meta().name.clone().unwrap_or_default());
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
        while reached.len() < goals.len() && level.values().filter(|l| **l > reached.len()).count() >= n {
            reached.push(Instant::now());
        }
    }
    Ok(reached)
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
    watch_until(&apps, trials, &[&synced_healthy], Duration::from_secs(300)).await?;

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

/// Returns the namespace it used, deleted as it returns.
async fn cold_start(n: usize) -> Result<String, Box<dyn std::error::Error>> {
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
    let reached = watch_until(&apps, n, &[&synced, &synced_healthy], Duration::from_secs(1800)).await?;
    println!(
        "cold start: {n} apps x 10 resources, controller start -> all Synced: {:.1} s, all Synced+Healthy: {:.1} s; controller peak RSS {:.0} MiB",
        (reached[0] - started).as_secs_f64(),
        (reached[1] - started).as_secs_f64(),
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
    Ok(ns.name().to_string())
}

/// The same objects as the cold start's, server-side applied straight to
/// the API server (32 at a time, no Git, no comparison, no status), until
/// every Deployment is available: the part of the cold start that is the
/// cluster's, and a floor under any agent on this machine.
async fn cluster_floor(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-floor").await?;
    let (configmaps, deployments): (Api<ConfigMap>, Api<Deployment>) = (ns.api(), ns.api());
    let params = PatchParams::apply("bench-floor");
    let started = Instant::now();
    let watching = {
        let deployments = deployments.clone();
        let available = |d: &Deployment| d.status.as_ref().and_then(|s| s.available_replicas) == Some(1);
        tokio::spawn(async move { watch_until(&deployments, n, &[&available], Duration::from_secs(1800)).await })
    };
    let applies = (0..n).flat_map(|i| (0..10).map(move |j| (i, j))).map(|(i, j)| {
        let (configmaps, deployments, params) = (&configmaps, &deployments, &params);
        async move {
            if j < 9 {
                let cm =
                    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": format!("a{i}-cm{j}") }, "data": { "k": "v" } });
                configmaps.patch(&format!("a{i}-cm{j}"), params, &Patch::Apply(cm)).await.map(drop)
            } else {
                let d: serde_json::Value = serde_saphyr::from_str(&deployment(&format!("a{i}-web"), 1)).expect("valid YAML");
                deployments.patch(&format!("a{i}-web"), params, &Patch::Apply(d)).await.map(drop)
            }
        }
    });
    stream::iter(applies).buffer_unordered(32).try_collect::<Vec<()>>().await?;
    let applied = started.elapsed();
    let available = watching.await??;
    println!(
        "cluster floor: the same {n} x 10 objects server-side applied directly (32 at a time): applied in {:.1} s, every Deployment available at {:.1} s",
        applied.as_secs_f64(),
        (available[0] - started).as_secs_f64()
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
                if let Err(e) = cluster_floor(n).await {
                    println!("cluster floor: failed: {e}");
                }
            }
            Err(e) => println!("cluster floor: not measured: {e}"),
        },
        Err(e) => println!("cold start: failed: {e}"),
    }
}
