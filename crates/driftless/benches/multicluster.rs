//! Many clusters and many replicas, with the `driftless controller` binary
//! as users run it, against dev control planes. Prints figures; asserts
//! nothing.
//!
//! - cold start: C clusters x N apps x 10 objects (the control plane's own
//!   cluster and C-1 registered by cluster Secrets), from controller start
//!   until all are Synced and Healthy, with 1 replica and with 3 sharded
//!   replicas (peak RSS of each); and the same C x N apps on one cluster,
//!   for the ratio;
//! - failover: 3 sharded replicas, one killed: time until drift on one of
//!   its apps is healed by another;
//! - moves: how many of the apps change replica going from 3 to 4.
//!
//! The control plane is namespace `argocd` of the shared devcluster: remote
//! clusters are registered there, and its `default` project holds the
//! apps of each run's namespace (`--application-namespaces bench-*`).
//!
//!     make bench   (MULTI_APPS_PER_CLUSTER=300, MULTI_CLUSTERS=3 by default)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_api::{Application, HealthStatusCode, SyncStatusCode};
use driftless_controller::shard::Assignment;
use driftless_testkit::{DevCluster, GitRepo, LoggedChild, TestNamespace, install_crds, procstat, wait_for};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

fn replica(ns: &TestNamespace, dir: &Path, name: &str, sharded: bool) -> LoggedChild {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["controller", "--namespace", CONTROL_PLANE, "--application-namespaces", ns.name(), "--app-resync", "180"]);
    if sharded {
        // The default Lease timings (15 s, 10 s, 2 s): what users get.
        cmd.args(["--sharded", "--leader-election-namespace", ns.name()]);
    }
    cmd.env("KUBECONFIG", ns.cluster().kubeconfig())
        .env("DRIFTLESS_CACHE_DIR", dir.join(format!("cache-{name}")))
        .env("RUST_LOG", "info,kube=warn")
        .env("NO_COLOR", "1");
    LoggedChild::spawn(cmd, &dir.join(format!("{name}.log")), name)
}

fn peak_rss_mib(replica: &LoggedChild) -> f64 {
    procstat::peak_rss_mib(replica.id()).unwrap_or(f64::NAN)
}

fn identity(replica: &LoggedChild) -> Option<String> {
    let log = replica.log();
    let line = log.lines().find(|l| l.contains("taking a share of the apps"))?;
    Some(line[line.find("identity=")? + "identity=".len()..].split_whitespace().next()?.trim_matches('"').to_string())
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n"
    )
}

fn done(a: &Application) -> bool {
    a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy)
}

/// Watches the apps until `n` are Synced and Healthy.
async fn all_done(apps: &Api<Application>, n: usize) -> Result<Instant, String> {
    let mut ok = BTreeSet::new();
    let mut events = watcher(apps.clone(), watcher::Config::default()).boxed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
    while ok.len() < n {
        let event = tokio::time::timeout_at(deadline, events.try_next())
            .await
            .map_err(|_| format!("timed out with {} of {n} done", ok.len()))?
            .map_err(|e| e.to_string())?
            .ok_or("the watch ended")?;
        if let watcher::Event::Apply(a) | watcher::Event::InitApply(a) = event {
            if done(&a) {
                ok.insert(a.name_any());
            } else {
                ok.remove(&a.name_any());
            }
        }
    }
    Ok(Instant::now())
}

/// A registered cluster: its devcluster (kept running) and the server URL
/// apps name.
struct Remote {
    _dir: tempfile::TempDir,
    cluster: DevCluster,
    server: String,
}

/// The controller's control-plane namespace: cluster Secrets and projects.
const CONTROL_PLANE: &str = "argocd";

/// Creates the control-plane namespace, with a `default` project that
/// allows everything to the apps of the runs' namespaces.
async fn control_plane(control: &kube::Client) -> Result<(), Box<dyn std::error::Error>> {
    install_crds(control).await?;
    let namespaces: Api<Namespace> = Api::all(control.clone());
    if namespaces.get_opt(CONTROL_PLANE).await?.is_none() {
        namespaces.create(&PostParams::default(), &serde_json::from_value(json!({ "metadata": { "name": CONTROL_PLANE } }))?).await?;
    }
    let project = json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": { "name": "default" },
        "spec": { "sourceRepos": ["*"], "sourceNamespaces": ["bench-*"], "destinations": [{ "server": "*", "namespace": "*" }],
                  "clusterResourceWhitelist": [{ "group": "*", "kind": "*" }] } });
    let projects: Api<driftless_api::AppProject> = Api::namespaced(control.clone(), CONTROL_PLANE);
    projects.patch("default", &PatchParams::apply("bench").force(), &Patch::Apply(project)).await?;
    Ok(())
}

async fn remote(control: &kube::Client, name: &str) -> Result<Remote, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cluster = DevCluster::start(dir.path())?;
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig())?;
    let (server, ca_data, insecure) = driftless_engine::register::from_kubeconfig(&kubeconfig, None)?;
    let client = cluster.client().await?;
    let target = driftless_engine::register::Target::new(&client, &server, name, ca_data, insecure);
    driftless_engine::register::add(&target, control, CONTROL_PLANE).await?;
    Ok(Remote { _dir: dir, cluster, server })
}

/// Creates `per_cluster` apps for each destination server (each app its own
/// target namespace, created by the sync), all from one repository, which
/// is returned: it lives as long as the caller keeps it.
async fn create_apps(ns: &TestNamespace, servers: &[String], per_cluster: usize) -> Result<(usize, GitRepo), Box<dyn std::error::Error>> {
    let repo = GitRepo::new();
    for i in 0..per_cluster {
        for j in 0..9 {
            repo.write(
                &format!("apps/a{i}/cm{j}.yaml"),
                &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{j}\ndata:\n  k: v\n"),
            );
        }
        repo.write(&format!("apps/a{i}/deploy.yaml"), &deployment("web"));
    }
    repo.commit("apps");
    let apps: Api<Application> = ns.api();
    let mut n = 0;
    for (c, server) in servers.iter().enumerate() {
        for i in 0..per_cluster {
            let app: Application = serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": { "name": format!("c{c}-a{i}"), "namespace": ns.name() },
                "spec": { "project": "default",
                    "source": { "repoURL": repo.url(), "targetRevision": "main", "path": format!("apps/a{i}") },
                    "destination": { "server": server, "namespace": format!("{}-c{c}-a{i}", ns.name()) },
                    "syncPolicy": { "automated": { "prune": true, "selfHeal": true }, "syncOptions": ["CreateNamespace=true"] } },
            }))?;
            apps.create(&PostParams::default(), &app).await?;
            n += 1;
        }
    }
    Ok((n, repo))
}

/// Deletes the apps' target namespaces on every cluster (the apps have no
/// finalizer), so that the next run starts on quiet clusters.
async fn clean(clients: &[kube::Client], prefix: &str) {
    for client in clients {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        if let Ok(list) = namespaces.list(&Default::default()).await {
            for ns in list.items.iter().filter(|n| n.name_any().starts_with(prefix)) {
                let _ = namespaces.delete(&ns.name_any(), &Default::default()).await;
            }
        }
    }
}

struct Run {
    label: String,
    seconds: f64,
    peak_rss: Vec<f64>,
}

async fn cold_start(label: &str, servers: &[String], per_cluster: usize, replicas: usize) -> Result<Run, Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-multi").await?;
    install_crds(&ns.client()).await?;
    let dir = tempfile::tempdir()?;
    let (n, _repo) = create_apps(&ns, servers, per_cluster).await?;
    let started = Instant::now();
    let running: Vec<LoggedChild> = (0..replicas).map(|r| replica(&ns, dir.path(), &format!("r{r}"), replicas > 1)).collect();
    let finished = all_done(&ns.api(), n).await?;
    Ok(Run { label: label.to_string(), seconds: (finished - started).as_secs_f64(), peak_rss: running.iter().map(peak_rss_mib).collect() })
}

async fn failover(servers: &[String], per_cluster: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ns = TestNamespace::new("bench-failover").await?;
    install_crds(&ns.client()).await?;
    let dir = tempfile::tempdir()?;
    let mut replicas: Vec<LoggedChild> = (0..3).map(|r| replica(&ns, dir.path(), &format!("f{r}"), true)).collect();
    let (n, _repo) = create_apps(&ns, &servers[..1], per_cluster.min(60)).await?;
    let apps: Api<Application> = ns.api();
    all_done(&apps, n).await?;
    let victim = wait_for("the victim's identity", Duration::from_secs(60), || async { identity(&replicas[0]).ok_or("not yet") }).await?;
    let list = apps.list(&Default::default()).await?;
    let Some(app) = list.items.iter().find(|a| a.status.as_ref().and_then(|s| s.reconciled_by.as_ref()) == Some(&victim)) else {
        println!("failover: not measured: the killed replica held no app");
        return Ok(());
    };
    let target_ns = app.spec.destination.namespace.clone().unwrap_or_default();
    replicas[0].kill();
    let killed = Instant::now();
    let deployments: Api<Deployment> = Api::namespaced(ns.client(), &target_ns);
    deployments.patch("web", &PatchParams::default(), &Patch::Merge(json!({ "spec": { "replicas": 3 } }))).await?;
    wait_for("the drift to be healed by another replica", Duration::from_secs(300), || async {
        let d = deployments.get("web").await.map_err(|e| e.to_string())?;
        if d.spec.and_then(|s| s.replicas) == Some(1) { Ok(()) } else { Err("not yet".to_string()) }
    })
    .await?;
    println!(
        "failover: 3 sharded replicas (Lease duration 15 s), one killed -> drift on one of its apps healed: {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    replicas.clear();
    Ok(())
}

fn moves(n: usize) {
    let apps: Vec<ObjectRef<Application>> = (0..n).map(|i| ObjectRef::new(&format!("app-{i}")).within("argocd")).collect();
    let ids: Vec<String> = (0..4).map(|i| format!("driftless-controller-{i}_{:016x}", i * 7919)).collect();
    let three = Assignment::new(ids[..3].to_vec());
    let four = Assignment::new(ids.clone());
    let moved = apps.iter().filter(|a| three.owner(a, None) != four.owner(a, None)).count();
    let shares: Vec<usize> = ids.iter().map(|id| apps.iter().filter(|a| four.owner(a, None) == Some(id)).count()).collect();
    println!(
        "moves: {moved} of {n} apps ({:.1} %) change replica going from 3 to 4 replicas (ideal 25 %); shares with 4: {shares:?}",
        moved as f64 * 100.0 / n as f64
    );
}

#[tokio::main]
async fn main() {
    let per_cluster: usize = std::env::var("MULTI_APPS_PER_CLUSTER").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let clusters: usize = std::env::var("MULTI_CLUSTERS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    moves(per_cluster * clusters);
    let result: Result<(), Box<dyn std::error::Error>> = async {
        let control = DevCluster::shared()?.client().await?;
        control_plane(&control).await?;
        let mut remotes = Vec::new();
        for c in 1..clusters {
            remotes.push(remote(&control, &format!("remote-{c}")).await?);
        }
        let mut servers = vec![driftless_api::IN_CLUSTER_SERVER.to_string()];
        servers.extend(remotes.iter().map(|r| r.server.clone()));
        let mut clients = vec![control.clone()];
        for r in &remotes {
            clients.push(r.cluster.client().await?);
        }
        let mut runs = Vec::new();
        for (label, spread, replicas) in [("1 cluster, 1 replica", false, 1), ("multi, 1 replica", true, 1), ("multi, 3 replicas", true, 3)]
        {
            let (targets, per) = if spread { (servers.clone(), per_cluster) } else { (servers[..1].to_vec(), per_cluster * clusters) };
            let run = cold_start(label, &targets, per, replicas).await?;
            println!(
                "cold start, {label}: {} apps x 10 objects on {} cluster(s) -> all Synced+Healthy {:.1} s; peak RSS per replica {:?} MiB",
                per * targets.len(),
                targets.len(),
                run.seconds,
                run.peak_rss.iter().map(|r| r.round()).collect::<Vec<_>>()
            );
            runs.push(run);
            clean(&clients, "bench-multi").await;
        }
        if let [single, multi, sharded] = &runs[..] {
            println!(
                "ratio to one cluster ({}): {} {:.2} x, {} {:.2} x",
                single.label,
                multi.label,
                multi.seconds / single.seconds,
                sharded.label,
                sharded.seconds / single.seconds
            );
        }
        failover(&servers, per_cluster).await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        println!("multicluster: failed: {e}");
    }
}
