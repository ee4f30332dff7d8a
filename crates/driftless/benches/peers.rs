//! driftless, Flux and Argo CD side by side: each on a fresh dev control
//! plane, with the same Git repository served on 127.0.0.1 and the same
//! apps of 10 objects (9 ConfigMaps and a Deployment). Prints one table,
//! with the ratios peer / driftless and the cluster's own floor, and writes
//! it as JSON. Asserts nothing.
//!
//! For each peer, in order:
//! - cold start: N apps created while the peer runs, until all are applied
//!   and all ready (driftless, Argo CD: Synced, Synced and Healthy; Flux:
//!   Ready with `wait: true`), with the peak RSS of the peer's own processes
//!   (Argo CD's Redis included) and the peak PSS of those with every process
//!   they started (git and the like), the CPU time of the peer and of
//!   the dev control plane (one process: etcd, kube-apiserver, controllers),
//!   and the API server's requests per app (`apiserver_request_total`,
//!   the cluster's own controllers included: the floor shows their share);
//! - steady state: RSS and CPU over a minute with nothing changing;
//! - drift revert: a Deployment's replicas patched, until the peer puts
//!   them back, over 20 trials, one at a time; a trial not reverted in 120 s
//!   ends them (Flux corrects drift only at its interval);
//! - a monorepo of 100 more apps: a commit touching one app's file, the
//!   peer told as its webhook would tell it, until the object changed in
//!   the cluster, and how many apps the peer rendered again.
//!
//! A peer that `make bench-peers` could not build is skipped with the
//! reason; the others still run. Two floors come first, each on its own
//! fresh cluster: the objects alone, and the objects with each app's
//! Application created and its status written twice (floor.rs).
//!
//!     make bench-peers   (PEERS_APPS=1000, PEERS_ONLY=floor,floor-apps,driftless,flux,argocd,
//!                         PEERS_JSON=target/bench-peers.json, PEERS_CPU_PROFILES=DIR)

// A bench's root file finds its modules beside it: they live in peers/.
#[path = "peers/argocd.rs"]
mod argocd;
#[path = "peers/driftless_peer.rs"]
mod driftless_peer;
#[path = "peers/floor.rs"]
mod floor;
#[path = "peers/floor_apps.rs"]
mod floor_apps;
#[path = "peers/flux.rs"]
mod flux;
#[path = "peers/measure.rs"]
mod measure;
#[path = "peers/report.rs"]
mod report;
#[path = "peers/watch.rs"]
mod watch;
#[path = "peers/workload.rs"]
mod workload;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use driftless_testkit::{DevCluster, GitHttpServer, wait_for};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::conditions;
use kube::runtime::wait::await_condition;
use serde_json::json;

use measure::{PlaneProfile, Sampler, api_requests, cpu, quantile};
use report::{FloorFigures, Outcome, PeerFigures};
use workload::{Repo, Workload};

/// When a peer reached each goal for all the apps waited for.
pub(crate) struct Milestones {
    /// All applied (Synced at the head commit); None when the peer shows
    /// no such point before ready.
    pub applied: Option<Instant>,
    /// All ready.
    pub ready: Instant,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// A free port on 127.0.0.1 for a peer's listener.
pub(crate) fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The body of `GET http://{addr}{path}`, when it answers 2xx.
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> Result<String, PeerError> {
    let response = reqwest::get(format!("http://{addr}{path}")).await.map_err(|e| PeerError::Other(e.to_string()))?;
    let response = response.error_for_status().map_err(|e| PeerError::Other(e.to_string()))?;
    response.text().await.map_err(|e| PeerError::Other(e.to_string()))
}

/// Watches `api` until every object named in `names` is at level 1
/// (applied) and then at level 2 (ready), as `level` judges them.
pub(crate) async fn watch_milestones<K>(
    api: Api<K>,
    names: HashSet<String>,
    level: impl Fn(&K) -> u8 + Sync,
    timeout: Duration,
) -> Result<Milestones, PeerError>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let ours = |k: &K| k.meta().name.as_ref().is_some_and(|n| names.contains(n));
    let applied = |k: &K| ours(k) && level(k) >= 1;
    let ready = |k: &K| ours(k) && level(k) >= 2;
    let goals: [&(dyn Fn(&K) -> bool + Sync); 2] = [&applied, &ready];
    let reached = watch::watch_until(&api, "apps", names.len(), &goals, timeout).await.map_err(PeerError::Other)?;
    Ok(Milestones { applied: Some(reached[0]), ready: reached[1] })
}

/// API requests in flight at once when a peer creates or annotates apps:
/// the same for every peer.
const IN_FLIGHT: usize = 16;

/// Runs `request` for each app of `apps`, [`IN_FLIGHT`] at a time.
pub(crate) async fn for_each_app<F, Fut>(apps: Range<usize>, request: F) -> Result<(), PeerError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    stream::iter(apps.map(request)).buffer_unordered(IN_FLIGHT).try_collect::<()>().await?;
    Ok(())
}

/// Server-side applies each CRD file of `files` (some are too large for a
/// client-side apply's annotation) and waits until it is established: a
/// peer's controllers watch their kinds as they start.
pub(crate) async fn install_crds(client: &kube::Client, files: &[PathBuf]) -> Result<(), PeerError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for path in files {
        let crd: serde_json::Value = read_yaml(path)?;
        let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_string();
        crds.patch(&name, &PatchParams::apply("bench-peers").force(), &Patch::Apply(&crd)).await?;
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(60), established)
            .await
            .map_err(|_| PeerError::Other(format!("CRD {name} not established after 60 s")))?
            .map_err(|e| PeerError::Other(format!("waiting for CRD {name}: {e}")))?;
    }
    Ok(())
}

/// A YAML file as JSON, or an error naming it.
pub(crate) fn read_yaml(path: &Path) -> Result<serde_json::Value, PeerError> {
    serde_saphyr::from_str(&std::fs::read_to_string(path)?).map_err(|e| PeerError::Other(format!("{}: {e}", path.display())))
}

/// The peers, dispatched by hand: each is its own type with the same
/// methods (async methods make a trait object awkward for so few).
enum Peer {
    Driftless(driftless_peer::Driftless),
    Flux(flux::Flux),
    ArgoCd(argocd::ArgoCd),
}

macro_rules! each {
    ($peer:expr, $p:ident => $e:expr) => {
        match $peer {
            Peer::Driftless($p) => $e,
            Peer::Flux($p) => $e,
            Peer::ArgoCd($p) => $e,
        }
    };
}

impl Peer {
    fn settings(&self) -> String {
        each!(self, p => p.settings())
    }
    fn pids(&self) -> Vec<u32> {
        each!(self, p => p.pids())
    }
    async fn create_apps(&self, client: &kube::Client, w: &Workload, apps: Range<usize>) -> Result<(), PeerError> {
        each!(self, p => p.create_apps(client, w, apps).await)
    }
    async fn wait(
        &self,
        client: &kube::Client,
        w: &Workload,
        apps: Range<usize>,
        head: &str,
        timeout: Duration,
    ) -> Result<Milestones, PeerError> {
        each!(self, p => p.wait(client, w, apps, head, timeout).await)
    }
    async fn notify_commit(&self, client: &kube::Client, w: &Workload, apps: Range<usize>) -> Result<(), PeerError> {
        each!(self, p => p.notify_commit(client, w, apps).await)
    }
    async fn renders(&self) -> Option<u64> {
        each!(self, p => p.renders().await)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Driftless,
    Flux,
    ArgoCd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Driftless => "driftless",
            Kind::Flux => "flux",
            Kind::ArgoCd => "argocd",
        }
    }

    /// Starts the peer, or says why it cannot run here (not built).
    async fn start(self, tools: &Path, cluster: &DevCluster, scratch: &Path) -> Result<Result<Peer, PeerError>, String> {
        Ok(match self {
            Kind::Driftless => driftless_peer::Driftless::start(cluster, scratch).await.map(Peer::Driftless),
            Kind::Flux => flux::Flux::start(&flux::locate(tools)?, cluster, scratch).await.map(Peer::Flux),
            Kind::ArgoCd => argocd::ArgoCd::start(&argocd::locate(tools)?, cluster, scratch).await.map(Peer::ArgoCd),
        })
    }
}

struct Config {
    apps: usize,
    mono_apps: usize,
    drift_trials: usize,
    tools: PathBuf,
}

const WORKLOAD_NAMESPACE: &str = "bench";
const DRIFT_TIMEOUT: Duration = Duration::from_secs(120);
const STEADY: Duration = Duration::from_secs(60);

/// A fresh dev control plane with the workload's namespace, stopped when
/// the value is dropped.
async fn fresh_cluster(dir: &Path, label: &str) -> Result<(DevCluster, kube::Client), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let flags = PlaneProfile::flags(label);
    let cluster = DevCluster::start_with(dir, &flags.iter().map(String::as_str).collect::<Vec<_>>())?;
    let client = cluster.client().await?;
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": WORKLOAD_NAMESPACE } }))?;
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
    Ok((cluster, client))
}

/// The floor on a fresh cluster; `with_apps`, the floor with Applications
/// (docs/performance.md).
async fn measure_floor(config: &Config, with_apps: bool) -> Result<FloorFigures, Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let label = if with_apps { "floor-apps" } else { "floor" };
    let (cluster, client) = fresh_cluster(&scratch.path().join("cluster"), label).await?;
    if with_apps {
        driftless_testkit::install_crds(&client).await?;
        let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": driftless_peer::NAMESPACE } }))?;
        Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
    }
    let plane = cluster.pid().into_iter().collect::<Vec<_>>();
    let (cpu0, requests0) = (cpu(&plane), api_requests(&client).await?);
    let profile = PlaneProfile::start(cluster.pid());
    let floor = if with_apps {
        // Nothing reads the repository: the Applications only carry its URL.
        let w = Workload {
            repo_url: "http://127.0.0.1:9/cold.git".into(),
            revision: "main".into(),
            namespace: WORKLOAD_NAMESPACE.into(),
            prefix: "a".into(),
        };
        floor_apps::cluster_floor_with_apps(&client, &w, config.apps).await
    } else {
        floor::cluster_floor(&client, WORKLOAD_NAMESPACE, "a", config.apps).await
    };
    let floor = floor.map_err(|e| e.to_string())?;
    profile.stop();
    let figures = FloorFigures {
        applied_s: floor.applied.as_secs_f64(),
        available_s: floor.available.as_secs_f64(),
        control_plane_cpu_s: (cpu(&plane) - cpu0).as_secs_f64(),
        api_requests: api_requests(&client).await?.per_app_since(&requests0, config.apps),
    };
    cluster.stop();
    Ok(figures)
}

async fn measure_peer(kind: Kind, config: &Config) -> Outcome {
    let scratch = match tempfile::tempdir() {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let (cluster, client) = match fresh_cluster(&scratch.path().join("cluster"), kind.name()).await {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("devcluster: {e}")),
    };
    let outcome = match kind.start(&config.tools, &cluster, scratch.path()).await {
        Err(skipped) => Outcome::Skipped(skipped),
        Ok(Err(e)) => Outcome::Failed(format!("start: {e}")),
        Ok(Ok(peer)) => match run(kind, &peer, &cluster, &client, config).await {
            Ok(figures) => Outcome::Measured(figures),
            Err(e) => Outcome::Failed(e.to_string()),
        },
    };
    cluster.stop();
    outcome
}

async fn run(
    kind: Kind,
    peer: &Peer,
    cluster: &DevCluster,
    client: &kube::Client,
    config: &Config,
) -> Result<PeerFigures, Box<dyn std::error::Error>> {
    let say = |what: &str| println!("[{}] {what}", kind.name());
    let server = GitHttpServer::start(Default::default());
    let cold = Repo::new(&server, "cold", "a", config.apps, WORKLOAD_NAMESPACE);
    let mono = Repo::new(&server, "mono", "m", config.mono_apps, WORKLOAD_NAMESPACE);
    let pids = peer.pids();
    let plane = cluster.pid().into_iter().collect::<Vec<_>>();
    let sampler = Sampler::start(pids.clone());

    say(&format!("cold start: creating {} apps", config.apps));
    let (cpu0, plane0, requests0) = (cpu(&pids), cpu(&plane), api_requests(client).await?);
    let profile = PlaneProfile::start(cluster.pid());
    let started = Instant::now();
    // The cluster's own view beside the peer's: the Deployment controller
    // and the kubelet's pace, slowed by what the peer asks of the API server.
    let available = {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), WORKLOAD_NAMESPACE);
        let n = config.apps;
        tokio::spawn(async move {
            let available = |d: &Deployment| floor::available(d);
            watch::watch_until(&deployments, "Deployments available, in the cluster", n, &[&available], Duration::from_secs(1800)).await
        })
    };
    peer.create_apps(client, &cold.workload, 0..config.apps).await?;
    let reached = peer.wait(client, &cold.workload, 0..config.apps, &cold.git.head(), Duration::from_secs(1800)).await?;
    profile.stop();
    // Ready implies available: the watch has seen it by now, or will in a moment.
    let cluster_available = match tokio::time::timeout(Duration::from_secs(60), available).await {
        Ok(Ok(Ok(at))) => Some((at[0] - started).as_secs_f64()),
        _ => None,
    };
    let (cpu1, plane1, requests1) = (cpu(&pids), cpu(&plane), api_requests(client).await?);
    let memory = sampler.memory();
    say(&format!("all ready after {:.1} s; a minute of steady state", (reached.ready - started).as_secs_f64()));

    tokio::time::sleep(STEADY).await;
    let idle_cpu = cpu(&pids) - cpu1;
    let steady_rss_mib = sampler.memory().own_now_mib;

    say(&format!("drift: {} trials", config.drift_trials));
    let (drift, drift_missed) = drift_trials(client, &cold.workload, config.drift_trials).await?;

    say(&format!("monorepo: {} apps, a commit touching one", config.mono_apps));
    peer.create_apps(client, &mono.workload, 0..config.mono_apps).await?;
    peer.wait(client, &mono.workload, 0..config.mono_apps, &mono.git.head(), Duration::from_secs(1800)).await?;
    // A peer may count its last render after the status write that shows it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let renders0 = peer.renders().await;
    let pushed = Instant::now();
    let head = mono.change(0, "v2");
    peer.notify_commit(client, &mono.workload, 0..config.mono_apps).await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), WORKLOAD_NAMESPACE);
    let changed = format!("{}-cm0", mono.workload.name(0));
    wait_for("the changed ConfigMap", Duration::from_secs(600), || async {
        let cm = configmaps.get(&changed).await.map_err(|e| e.to_string())?;
        let value = cm.data.and_then(|d| d.get("k").cloned());
        if value.as_deref() == Some("v2") { Ok(()) } else { Err(format!("{value:?}")) }
    })
    .await?;
    let mono_applied = pushed.elapsed();
    // Then every app at the new commit, rendered again or not.
    peer.wait(client, &mono.workload, 0..config.mono_apps, &head, Duration::from_secs(1800)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mono_rendered = renders0.zip(peer.renders().await).map(|(a, b)| b - a);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(PeerFigures {
        settings: peer.settings(),
        all_applied_s: reached.applied.map(|a| (a - started).as_secs_f64()),
        all_ready_s: (reached.ready - started).as_secs_f64(),
        cluster_available_s: cluster_available,
        peak_rss_mib: memory.own_peak_mib,
        peak_all_mib: memory.all_peak_mib,
        peak_rss_per_object_kib: memory.own_peak_mib * 1024.0 / (config.apps * 10) as f64,
        steady_rss_mib,
        cpu_s: (cpu1 - cpu0).as_secs_f64(),
        idle_cpu_percent: idle_cpu.as_secs_f64() / STEADY.as_secs_f64() * 100.0,
        control_plane_cpu_s: (plane1 - plane0).as_secs_f64(),
        api_requests: requests1.per_app_since(&requests0, config.apps),
        drift_p50_ms: quantile(&drift, 0.5).map(ms),
        drift_p95_ms: quantile(&drift, 0.95).map(ms),
        drift_trials: drift.len(),
        drift_missed,
        monorepo_applied_ms: ms(mono_applied),
        monorepo_rendered: mono_rendered,
    })
}

/// Drift on one Deployment at a time, until the peer has put its replicas
/// back; sorted latencies, and whether a trial was not reverted in time
/// (which ends the trials).
async fn drift_trials(client: &kube::Client, w: &Workload, trials: usize) -> Result<(Vec<Duration>, bool), PeerError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &w.namespace);
    let mut samples = Vec::new();
    for i in 0..trials {
        let name = format!("{}-web", w.name(i));
        let started = Instant::now();
        deployments.patch(&name, &PatchParams::default(), &Patch::Merge(json!({ "spec": { "replicas": 5 } }))).await?;
        let restored = wait_for("replicas restored", DRIFT_TIMEOUT, || async {
            let replicas = deployments.get(&name).await.map_err(|e| e.to_string())?.spec.and_then(|s| s.replicas);
            if replicas == Some(1) { Ok(()) } else { Err(format!("{replicas:?}")) }
        })
        .await;
        if restored.is_err() {
            samples.sort();
            return Ok((samples, true));
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok((samples, false))
}

#[tokio::main]
async fn main() {
    let env = |k: &str, default: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let config = Config {
        apps: env("PEERS_APPS", 1000),
        mono_apps: env("PEERS_MONO_APPS", 100),
        drift_trials: env("PEERS_DRIFT_TRIALS", 20),
        tools: std::env::var_os("PEERS_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/bin")),
    };
    let only = std::env::var("PEERS_ONLY").unwrap_or_else(|_| "floor,floor-apps,driftless,flux,argocd".into());
    let wanted = |name: &str| only.split(',').any(|o| o.trim() == name);
    let json_path = std::env::var_os("PEERS_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-peers.json"));

    let floor = if wanted("floor") {
        println!("[floor] {} apps x 10 objects applied straight to the API server", config.apps);
        Some(measure_floor(&config, false).await.map_err(|e| e.to_string()))
    } else {
        None
    };
    let floor_with_apps = if wanted("floor-apps") {
        println!("[floor-apps] the same, with each app's Application created and its status written twice");
        Some(measure_floor(&config, true).await.map_err(|e| e.to_string()))
    } else {
        None
    };
    let mut peers = Vec::new();
    for kind in [Kind::Driftless, Kind::Flux, Kind::ArgoCd] {
        if wanted(kind.name()) {
            let outcome = measure_peer(kind, &config).await;
            if let Outcome::Skipped(why) | Outcome::Failed(why) = &outcome {
                println!("[{}] not measured: {why}", kind.name());
            }
            peers.push((kind.name(), outcome));
        }
    }
    let report = report::Report::new(config.apps, config.mono_apps, floor, floor_with_apps, peers);
    println!("\n{}", report.table());
    match serde_json::to_string_pretty(&report).map(|text| std::fs::write(&json_path, text)) {
        Ok(Ok(())) => println!("written: {}", json_path.display()),
        Ok(Err(e)) => println!("could not write {}: {e}", json_path.display()),
        Err(e) => println!("could not encode the report: {e}"),
    }
}
