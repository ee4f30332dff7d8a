//! Flux as a peer: its source-controller and kustomize-controller, built by
//! scripts/tools/flux.sh from their Go modules, run outside the cluster with
//! a kubeconfig, as driftless runs in this bench. One GitRepository per
//! workload and one Kustomization per app (prune, wait, targetNamespace),
//! all in `flux-system`, as `flux bootstrap` lays them out.
//!
//! Outside the cluster, source-controller serves its artifacts on 127.0.0.1
//! and advertises that address in each GitRepository's status: that is where
//! kustomize-controller downloads them from.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use driftless_testkit::{DevCluster, LoggedChild, wait_for};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{Milestones, PeerError, Workload, for_each_app, free_port, http_get, install_crds, watch_milestones};

const NAMESPACE: &str = "flux-system";
const FIELD_MANAGER: &str = "bench-peers";
/// Workers per controller, as Flux's own benchmark of 1,000 Kustomizations
/// ran them (fluxcd/flux-benchmark, RESULTS.md: source-controller 10,
/// kustomize-controller 20).
const SOURCE_CONCURRENT: u32 = 10;
const KUSTOMIZE_CONCURRENT: u32 = 20;
/// Flux's vertical-scaling guide (fluxcd.io/flux/installation/configuration/
/// vertical-scaling) for hundreds of apps: this, more workers, and kustomize
/// builds on tmpfs.
const REQUEUE_DEPENDENCY: &str = "5s";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What scripts/tools/flux.sh builds.
pub struct Binaries {
    source_controller: PathBuf,
    kustomize_controller: PathBuf,
    /// The CRDs of both controllers' modules, one YAML file each.
    crds: PathBuf,
}

/// The controllers and CRDs in `tools_bin` (target/tools/bin) and its
/// sibling share/flux/crds, or which one is missing.
pub fn locate(tools_bin: &Path) -> Result<Binaries, String> {
    let bins = Binaries {
        source_controller: tools_bin.join("source-controller"),
        kustomize_controller: tools_bin.join("kustomize-controller"),
        crds: tools_bin.parent().unwrap_or(tools_bin).join("share/flux/crds"),
    };
    if let Some(missing) = [&bins.source_controller, &bins.kustomize_controller, &bins.crds].into_iter().find(|p| !p.exists()) {
        return Err(format!("{} is missing (scripts/tools/flux.sh builds it)", missing.display()));
    }
    Ok(bins)
}

pub struct Flux {
    source: LoggedChild,
    kustomize: LoggedChild,
    kustomize_metrics: SocketAddr,
    /// kustomize-controller's TMPDIR, where it builds each Kustomization;
    /// removed on drop.
    _builds: tempfile::TempDir,
}

impl Flux {
    pub async fn start(bins: &Binaries, cluster: &DevCluster, scratch: &Path) -> Result<Flux, PeerError> {
        let client = cluster.client().await.map_err(|e| PeerError::Other(e.to_string()))?;
        let mut crds: Vec<PathBuf> = std::fs::read_dir(&bins.crds)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        crds.sort();
        install_crds(&client, &crds).await?;
        let ns = serde_json::from_value(json!({ "metadata": { "name": NAMESPACE } })).expect("a valid Namespace");
        Api::<Namespace>::all(client).create(&PostParams::default(), &ns).await?;

        let storage = free_port()?;
        let (source_health, kustomize_health, source_metrics, kustomize_metrics) = (free_port()?, free_port()?, free_port()?, free_port()?);
        // The vertical-scaling guide puts kustomize builds in memory when
        // many run at once: /dev/shm is tmpfs.
        let builds = tempfile::Builder::new().prefix("flux-builds-").tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir_in(scratch))?;

        // source-controller stores artifacts only in a directory that exists.
        let artifacts = scratch.join("flux-artifacts");
        std::fs::create_dir_all(&artifacts)?;
        let mut command = controller(&bins.source_controller, cluster, source_health, source_metrics, SOURCE_CONCURRENT);
        command.args([
            format!("--storage-path={}", artifacts.display()),
            format!("--storage-addr={storage}"),
            format!("--storage-adv-addr={storage}"),
        ]);
        let source = LoggedChild::spawn(command, &scratch.join("source-controller.log"), "source-controller");
        let mut command = controller(&bins.kustomize_controller, cluster, kustomize_health, kustomize_metrics, KUSTOMIZE_CONCURRENT);
        command.env("TMPDIR", builds.path());
        let kustomize = LoggedChild::spawn(command, &scratch.join("kustomize-controller.log"), "kustomize-controller");

        for (name, child, health) in [("source-controller", &source, source_health), ("kustomize-controller", &kustomize, kustomize_health)]
        {
            wait_for(&format!("{name} to serve /readyz"), START_TIMEOUT, || async {
                http_get(health, "/readyz").await.map(drop).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| PeerError::Other(format!("{e}; the end of its log: {}", log_tail(child))))?;
        }
        Ok(Flux { source, kustomize, kustomize_metrics, _builds: builds })
    }

    pub fn settings(&self) -> String {
        format!(
            "source-controller --concurrent={SOURCE_CONCURRENT}, kustomize-controller --concurrent={KUSTOMIZE_CONCURRENT} \
             (Flux's benchmark of 1,000 Kustomizations), --requeue-dependency={REQUEUE_DEPENDENCY} and builds on tmpfs \
             (Flux docs: vertical scaling), API client 50 qps / burst 300 (defaults)"
        )
    }

    pub fn pids(&self) -> Vec<u32> {
        vec![self.source.id(), self.kustomize.id()]
    }

    /// Applies the workload's GitRepository (the same object on every call:
    /// the first creates it) and a Kustomization per app, at Flux's usual
    /// intervals: the source polled every minute, each app every 10 minutes.
    pub async fn create_apps(&self, client: &kube::Client, w: &Workload, apps: Range<usize>) -> Result<(), PeerError> {
        let params = PatchParams::apply(FIELD_MANAGER);
        let source = source_name(w);
        let repository = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": { "name": source, "namespace": NAMESPACE },
            "spec": { "interval": "1m", "url": w.repo_url, "ref": { "branch": w.revision } }
        });
        git_repositories(client).patch(&source, &params, &Patch::Apply(repository)).await?;
        let kustomizations = kustomizations(client);
        for_each_app(apps, |i| {
            let kustomization = json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": { "name": w.name(i), "namespace": NAMESPACE },
                "spec": { "interval": "10m", "retryInterval": "1m", "timeout": "5m",
                          "sourceRef": { "kind": "GitRepository", "name": source },
                          "path": format!("./{}", w.path(i)), "prune": true, "wait": true,
                          "targetNamespace": w.namespace }
            });
            let (kustomizations, params) = (&kustomizations, &params);
            async move { kustomizations.patch(&w.name(i), params, &Patch::Apply(kustomization)).await.map(drop) }
        })
        .await
    }

    pub async fn wait(
        &self,
        client: &kube::Client,
        w: &Workload,
        apps: Range<usize>,
        head: &str,
        timeout: Duration,
    ) -> Result<Milestones, PeerError> {
        let level = |k: &DynamicObject| level(&k.data["status"], head);
        watch_milestones(kustomizations(client), apps.map(|i| w.name(i)).collect(), level, timeout).await
    }

    /// What Flux's notification-controller does when a Receiver gets a push
    /// event: it asks the GitRepository for a reconcile now; the
    /// Kustomizations follow its new artifact.
    pub async fn notify_commit(&self, client: &kube::Client, w: &Workload, _apps: Range<usize>) -> Result<(), PeerError> {
        let now = jiff::Timestamp::now().to_string();
        let patch = Patch::Merge(json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": now } } }));
        git_repositories(client).patch(&source_name(w), &PatchParams::default(), &patch).await?;
        Ok(())
    }

    /// Kustomization reconciles (`gotk_reconcile_duration_seconds_count`,
    /// kind Kustomization, summed over objects): every reconcile of a
    /// Kustomization past its first (which only adds the finalizer) builds
    /// its directory and applies it, whether its files changed or not.
    pub async fn renders(&self) -> Option<u64> {
        let text = http_get(self.kustomize_metrics, "/metrics").await.ok()?;
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with("gotk_reconcile_duration_seconds_count{") && l.contains("kind=\"Kustomization\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        Some(total as u64)
    }
}

/// A controller's command with what both share: the cluster's kubeconfig,
/// its namespace, listeners on free ports of 127.0.0.1 and its workers.
/// Leader election is off by default.
fn controller(binary: &Path, cluster: &DevCluster, health: SocketAddr, metrics: SocketAddr, concurrent: u32) -> Command {
    let mut command = Command::new(binary);
    command
        .args([
            format!("--health-addr={health}"),
            format!("--metrics-addr={metrics}"),
            format!("--concurrent={concurrent}"),
            format!("--requeue-dependency={REQUEUE_DEPENDENCY}"),
        ])
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("RUNTIME_NAMESPACE", NAMESPACE);
    command
}

/// 2: Ready at `head`; 1: applied at `head`; 0: neither. kustomize-controller
/// sets lastAppliedRevision only with Ready, but once it has applied and
/// pruned a revision it says so in its conditions (Reconciling, Healthy):
/// "Running health checks for revision main@sha1:<head> ...".
fn level(status: &Value, head: &str) -> u8 {
    let conditions = status["conditions"].as_array().map(Vec::as_slice).unwrap_or_default();
    let at_head = status["lastAppliedRevision"].as_str().is_some_and(|r| r.contains(head));
    let checking = conditions
        .iter()
        .filter_map(|c| c["message"].as_str())
        .any(|m| m.starts_with("Running health checks for revision") && m.contains(head));
    // Ready's message names the new revision one status write before lastAppliedRevision does.
    let ready = at_head && conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
    if ready { 2 } else { u8::from(at_head || checking) }
}

fn source_name(w: &Workload) -> String {
    format!("repo-{}", w.prefix)
}

fn git_repositories(client: &kube::Client) -> Api<DynamicObject> {
    flux_api(client, "source.toolkit.fluxcd.io", "GitRepository", "gitrepositories")
}

fn kustomizations(client: &kube::Client) -> Api<DynamicObject> {
    flux_api(client, "kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations")
}

fn flux_api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), NAMESPACE, &resource)
}

/// The last lines of a controller's log, on one line, to explain a failed start.
fn log_tail(child: &LoggedChild) -> String {
    let log = child.log();
    let lines: Vec<&str> = log.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}
