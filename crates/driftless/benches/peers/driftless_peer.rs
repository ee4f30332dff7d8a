//! driftless as a peer: `driftless controller`, the binary users run, with
//! its defaults, outside the cluster with a kubeconfig, Applications in
//! the control-plane namespace (`argocd`), as Argo CD's are.

use std::net::SocketAddr;
use std::ops::Range;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use driftless_api::{ANNOTATION_REFRESH, Application, HealthStatusCode, SyncStatusCode};
use driftless_testkit::{DevCluster, LoggedChild, install_crds, wait_for};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::{Milestones, PeerError, Workload, for_each_app, free_port, watch_milestones};

pub const NAMESPACE: &str = "argocd";

pub struct Driftless {
    controller: LoggedChild,
    /// Whether `controller` is a wrapper (a profiler) with the controller
    /// its child, in a process group of their own.
    wrapped: bool,
    metrics: SocketAddr,
}

/// Stopped as Kubernetes stops a pod: SIGTERM, then SIGKILL (by the
/// child's own drop) if it has not exited after 30 s (a pod's default
/// terminationGracePeriodSeconds; it takes about 10 s here). A clean exit
/// is what lets an instrumented build write its profile (scripts/pgo.sh). A
/// wrapper gets the signal with its whole group: killing it alone left the
/// controller it started running (it went on using the CPU through the next
/// peer's run).
impl Drop for Driftless {
    fn drop(&mut self) {
        let id = self.controller.id();
        let target = if self.wrapped { format!("-{id}") } else { id.to_string() };
        let _ = Command::new("kill").args(["-TERM", "--", &target]).status();
        if !self.controller.exited_within(Duration::from_secs(30)) {
            eprintln!("[driftless] the controller had not stopped 30 s after SIGTERM: killed");
        }
    }
}

impl Driftless {
    pub async fn start(cluster: &DevCluster, scratch: &Path) -> Result<Driftless, PeerError> {
        let client = cluster.client().await.map_err(|e| PeerError::Other(e.to_string()))?;
        install_crds(&client).await.map_err(|e| PeerError::Other(e.to_string()))?;
        let namespaces: Api<Namespace> = Api::all(client);
        let ns = serde_json::from_value(json!({ "metadata": { "name": NAMESPACE } })).expect("a valid Namespace");
        namespaces.create(&PostParams::default(), &ns).await?;
        let metrics = free_port()?;
        // PEERS_DRIFTLESS_WRAPPER runs the controller under a profiler
        // (e.g. `perf record -g -o target/perf.data`): the words before the binary.
        let wrapper = std::env::var("PEERS_DRIFTLESS_WRAPPER").unwrap_or_default();
        // PEERS_DRIFTLESS_BIN measures another build of the controller (a
        // PGO build, scripts/pgo.sh) than the one cargo built for the bench.
        let binary = std::env::var("PEERS_DRIFTLESS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_driftless").into());
        let mut words = wrapper.split_whitespace().chain([binary.as_str()]);
        let mut command = Command::new(words.next().expect("the binary is always there"));
        command
            .args(words)
            .args(["controller", "--namespace", NAMESPACE, "--metrics-addr", &metrics.to_string()])
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("DRIFTLESS_CACHE_DIR", scratch.join("cache"))
            .env("RUST_LOG", "warn");
        let wrapped = !wrapper.trim().is_empty();
        if wrapped {
            command.process_group(0);
        }
        let controller = LoggedChild::spawn(command, &scratch.join("driftless.log"), "driftless controller");
        let peer = Driftless { controller, wrapped, metrics };
        wait_for("driftless controller to serve /healthz", Duration::from_secs(60), || async {
            super::http_get(peer.metrics, "/healthz").await.map(drop).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| PeerError::Other(e.to_string()))?;
        Ok(peer)
    }

    pub fn settings(&self) -> String {
        "driftless controller --concurrency 64, --app-resync 180, --app-resync-jitter 60 (its defaults)".into()
    }

    pub fn pids(&self) -> Vec<u32> {
        vec![self.controller.id()]
    }

    pub async fn create_apps(&self, client: &kube::Client, w: &Workload, apps: Range<usize>) -> Result<(), PeerError> {
        let api: Api<Application> = Api::namespaced(client.clone(), NAMESPACE);
        for_each_app(apps, |i| {
            let (api, app) = (&api, application(w, i));
            async move { api.create(&PostParams::default(), &app).await.map(drop) }
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
        let api: Api<Application> = Api::namespaced(client.clone(), NAMESPACE);
        let level = |a: &Application| {
            let Some(status) = &a.status else { return 0 };
            let applied = status.sync.status == SyncStatusCode::Synced && status.sync.revision.as_deref() == Some(head);
            u8::from(applied) + u8::from(applied && status.health.status == HealthStatusCode::Healthy)
        };
        watch_milestones(api, apps.map(|i| w.name(i)).collect(), level, timeout).await
    }

    /// What Argo CD's webhook handler does for each app of a pushed
    /// repository (driftless' own webhook needs its API server, which the
    /// peers do not run either).
    pub async fn notify_commit(&self, client: &kube::Client, w: &Workload, apps: Range<usize>) -> Result<(), PeerError> {
        let api: Api<Application> = Api::namespaced(client.clone(), NAMESPACE);
        let patch = Patch::Merge(json!({ "metadata": { "annotations": { ANNOTATION_REFRESH: "normal" } } }));
        for_each_app(apps, |i| {
            let (api, patch) = (&api, &patch);
            async move { api.patch(&w.name(i), &PatchParams::default(), patch).await.map(drop) }
        })
        .await
    }

    /// `driftless_renders_total{cache="miss"}`: sources rendered anew (a
    /// cache hit reads no file that changed, and builds nothing).
    pub async fn renders(&self) -> Option<u64> {
        let text = super::http_get(self.metrics, "/metrics").await.ok()?;
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with("driftless_renders_total{") && !l.contains("cache=\"hit\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        Some(total as u64)
    }
}

/// App `i` of `w`: synced automatically with prune and self-heal, and the
/// annotation Argo CD's docs prescribe for a monorepo (driftless reads it
/// too): a commit that touches no file under the app's path renders nothing.
pub fn application(w: &Workload, i: usize) -> Application {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": w.name(i), "namespace": NAMESPACE,
                      "annotations": { "argocd.argoproj.io/manifest-generate-paths": "." } },
        "spec": { "project": "default",
                  "source": { "repoURL": w.repo_url, "targetRevision": w.revision, "path": w.path(i) },
                  "destination": { "server": "https://kubernetes.default.svc", "namespace": w.namespace },
                  "syncPolicy": { "automated": { "prune": true, "selfHeal": true } } }
    }))
    .expect("a valid Application")
}
