//! Argo CD as a peer: its application controller and repo server (the one
//! `argocd` binary that scripts/tools/argocd.sh builds, acting as the
//! component its argv[0] names) and the Redis they cache in, all run outside
//! the cluster against the devcluster, as driftless runs in its own bench.
//! Its own CRDs and settings are installed, and its own `Application`s in
//! its own namespace are what it reconciles.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_testkit::{DevCluster, LoggedChild};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{Milestones, PeerError, Workload, for_each_app, install_crds, read_yaml, watch_milestones};

/// Where Argo CD keeps its Applications, AppProjects and settings.
const NAMESPACE: &str = "argocd";
/// Argo CD's operator manual (High Availability, argocd-application-controller):
/// "For 1000 application we use 50 for --status-processors and 25 for
/// --operation-processors".
const STATUS_PROCESSORS: u32 = 50;
const OPERATION_PROCESSORS: u32 = 25;
/// Files scripts/tools/argocd.sh saves from the module, under target/tools/share/argocd.
const CRDS: [&str; 2] = ["crds/application-crd.yaml", "crds/appproject-crd.yaml"];
const CONFIG: [&str; 2] = ["config/argocd-cm.yaml", "config/argocd-secret.yaml"];
/// How long each process may take to start serving.
const STARTUP: Duration = Duration::from_secs(60);
const FIELD_MANAGER: &str = "bench-peers";
/// What the repo server logs when an app's manifests at a revision are not
/// in its cache, just before it generates them.
const CACHE_MISS: &str = "manifest cache miss: ";

/// The files Argo CD runs from.
pub struct Binaries {
    controller: PathBuf,
    repo_server: PathBuf,
    redis: PathBuf,
    /// target/tools/share/argocd: its CRDs and stock settings.
    share: PathBuf,
}

/// Argo CD's components from `tools_bin` (target/tools/bin), its CRDs and
/// settings from target/tools/share/argocd, and Debian's redis-server from
/// PATH; or why Argo CD is skipped.
pub fn locate(tools_bin: &Path) -> Result<Binaries, String> {
    let bins = Binaries {
        controller: tools_bin.join("argocd-application-controller"),
        repo_server: tools_bin.join("argocd-repo-server"),
        redis: find_on_path("redis-server").ok_or("Argo CD skipped: redis-server is not on PATH (scripts/tools/argocd.sh installs it)")?,
        share: tools_bin.join("../share/argocd"),
    };
    let needed =
        [bins.controller.clone(), bins.repo_server.clone()].into_iter().chain(CRDS.iter().chain(&CONFIG).map(|f| bins.share.join(f)));
    for file in needed {
        if !file.is_file() {
            return Err(format!("Argo CD skipped: {} is missing (scripts/tools/argocd.sh builds it)", file.display()));
        }
    }
    Ok(bins)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A running Argo CD. Fields drop in order: the controller stops before the
/// repo server and Redis it talks to.
pub struct ArgoCd {
    controller: LoggedChild,
    repo_server: LoggedChild,
    redis: LoggedChild,
}

impl ArgoCd {
    /// Installs Argo CD's CRDs, namespace, settings and default project,
    /// starts Redis, the repo server and the controller (logs in `scratch`),
    /// and returns once each serves.
    pub async fn start(bins: &Binaries, cluster: &DevCluster, scratch: &Path) -> Result<ArgoCd, PeerError> {
        let client = cluster.client().await.map_err(|e| PeerError::Other(format!("argocd: a client for the devcluster: {e}")))?;
        install(&client, &bins.share).await?;

        let mut ports = PortPicker::default();
        let (redis_port, repo_port, repo_metrics_port, controller_metrics_port) =
            (ports.pick()?, ports.pick()?, ports.pick()?, ports.pick()?);
        drop(ports);
        let redis_address = format!("127.0.0.1:{redis_port}");
        // Outside a pod, the container paths Argo CD defaults to (/app/config/...)
        // do not exist: its TLS and SSH trust stores are empty directories here.
        let (tls, ssh, tmp) = (scratch.join("argocd-tls"), scratch.join("argocd-ssh"), scratch.join("argocd-repo-server-tmp"));
        for dir in [&tls, &ssh, &tmp] {
            std::fs::create_dir_all(dir)?;
        }

        // As Argo CD's install manifest runs it: a cache, nothing persisted.
        let mut redis = Command::new(&bins.redis);
        redis.args(["--bind", "127.0.0.1", "--port", &redis_port.to_string(), "--save", "", "--appendonly", "no"]);
        let redis = spawn(redis, scratch, "redis-server");
        serving(&redis, "redis-server", async || tokio::net::TcpStream::connect(&redis_address).await.is_ok()).await?;

        let mut repo_server = Command::new(&bins.repo_server);
        repo_server
            .args(["--address", "127.0.0.1", "--port", &repo_port.to_string()])
            .args(["--metrics-address", "127.0.0.1", "--metrics-port", &repo_metrics_port.to_string()])
            .args(["--redis", &redis_address])
            // The controller reaches it on loopback: plain gRPC, as `make start-local` runs it.
            .arg("--disable-tls")
            // Its GnuPG keyring would be set up under /app/config/gpg; no commit is signed here.
            .env("ARGOCD_GPG_ENABLED", "false")
            .env("ARGOCD_TLS_DATA_PATH", &tls)
            .env("ARGOCD_SSH_DATA_PATH", &ssh)
            // Not the default /tmp/reposerver-ask-pass.sock that every repo server on the machine shares.
            .env("ARGOCD_ASK_PASS_SOCK", scratch.join("argocd-askpass.sock"))
            // Its Git clones.
            .env("TMPDIR", &tmp);
        let repo_server = spawn(repo_server, scratch, "argocd-repo-server");
        // `full=true` makes it call its own gRPC health service.
        let health = format!("http://127.0.0.1:{repo_metrics_port}/healthz?full=true");
        serving(&repo_server, "argocd-repo-server", async || http_ok(&health).await).await?;

        let mut controller = Command::new(&bins.controller);
        controller
            .args(["--namespace", NAMESPACE, "--redis", &redis_address])
            .args(["--repo-server", &format!("127.0.0.1:{repo_port}"), "--repo-server-plaintext"])
            .args(["--metrics-port", &controller_metrics_port.to_string()])
            .args(["--status-processors", &STATUS_PROCESSORS.to_string()])
            .args(["--operation-processors", &OPERATION_PROCESSORS.to_string()])
            .env("KUBECONFIG", cluster.kubeconfig())
            // The in-cluster destination (https://kubernetes.default.svc) then
            // uses KUBECONFIG instead of a pod's service account.
            .env("ARGOCD_FAKE_IN_CLUSTER", "true")
            .env("ARGOCD_TLS_DATA_PATH", &tls)
            .env("ARGOCD_SSH_DATA_PATH", &ssh);
        let controller = spawn(controller, scratch, "argocd-application-controller");
        let health = format!("http://127.0.0.1:{controller_metrics_port}/healthz");
        serving(&controller, "argocd-application-controller", async || http_ok(&health).await).await?;

        Ok(ArgoCd { controller, repo_server, redis })
    }

    /// The concurrency settings, and where they come from.
    pub fn settings(&self) -> String {
        format!(
            "argocd-application-controller --status-processors={STATUS_PROCESSORS} --operation-processors={OPERATION_PROCESSORS} \
             (Argo CD operator manual, High Availability: \"For 1000 application we use 50 for --status-processors and 25 for \
             --operation-processors\"); argocd-repo-server defaults (--parallelismlimit=0: unlimited)"
        )
    }

    /// Controller, repo server and Redis (git and kubectl run as their children).
    pub fn pids(&self) -> Vec<u32> {
        vec![self.controller.id(), self.repo_server.id(), self.redis.id()]
    }

    /// One Application per app, in Argo CD's namespace, synced automatically
    /// with prune and self-heal to the in-cluster destination.
    pub async fn create_apps(&self, client: &kube::Client, w: &Workload, apps: Range<usize>) -> Result<(), PeerError> {
        let api = applications(client);
        for_each_app(apps, |i| {
            let (api, app) = (&api, application(w, i));
            async move { api.create(&PostParams::default(), &app).await.map(drop) }
        })
        .await
    }

    /// Watches the Applications until all of `apps` are Synced at `head`
    /// (applied) and also Healthy (ready).
    pub async fn wait(
        &self,
        client: &kube::Client,
        w: &Workload,
        apps: Range<usize>,
        head: &str,
        timeout: Duration,
    ) -> Result<Milestones, PeerError> {
        watch_milestones(applications(client), apps.map(|i| w.name(i)).collect(), |app| level(app, head), timeout).await
    }

    /// Asks for a refresh of each app, as Argo CD's webhook handler does on a push.
    pub async fn notify_commit(&self, client: &kube::Client, w: &Workload, apps: Range<usize>) -> Result<(), PeerError> {
        let api = applications(client);
        let refresh = Patch::Merge(json!({ "metadata": { "annotations": { "argocd.argoproj.io/refresh": "normal" } } }));
        for_each_app(apps, |i| {
            let (api, refresh) = (&api, &refresh);
            async move { api.patch(&w.name(i), &PatchParams::default(), refresh).await.map(drop) }
        })
        .await
    }

    /// Manifest generations so far. The repo server exposes no counter of
    /// them (its metrics count Git requests; its GenerateManifest calls
    /// include cache hits), but it logs a cache miss for an app's source at
    /// a revision before generating it (twice: before and after taking the
    /// repository's lock). Each distinct miss is one (app, revision)
    /// generated: afterwards that pair is served from the cache.
    pub async fn renders(&self) -> Option<u64> {
        let log = self.repo_server.log();
        let misses: HashSet<String> = log
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|entry| entry["msg"].as_str().filter(|m| m.starts_with(CACHE_MISS)).map(str::to_string))
            .collect();
        u64::try_from(misses.len()).ok()
    }
}

/// 2: Synced at `head` and Healthy; 1: Synced at `head`; 0: neither.
fn level(app: &DynamicObject, head: &str) -> u8 {
    let status = &app.data["status"];
    let synced = status["sync"]["status"] == "Synced" && status["sync"]["revision"] == head;
    u8::from(synced) + u8::from(synced && status["health"]["status"] == "Healthy")
}

fn application_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"))
}

fn applications(client: &kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), NAMESPACE, &application_resource())
}

/// App `i` of `w` as an Argo CD Application. The manifest-generate-paths
/// annotation is what Argo CD's docs prescribe for a monorepo: a commit that
/// touches no file under the app's path reuses its cached manifests.
fn application(w: &Workload, i: usize) -> DynamicObject {
    let mut app = DynamicObject::new(&w.name(i), &application_resource()).within(NAMESPACE).data(json!({
        "spec": {
            "project": "default",
            "source": { "repoURL": w.repo_url, "targetRevision": w.revision, "path": w.path(i) },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": w.namespace },
            "syncPolicy": { "automated": { "prune": true, "selfHeal": true } },
        }
    }));
    app.metadata.annotations = Some(BTreeMap::from([("argocd.argoproj.io/manifest-generate-paths".to_string(), ".".to_string())]));
    app
}

/// Argo CD's CRDs, its namespace, the argocd-cm and argocd-secret its
/// install manifests create (the controller will not start without them),
/// and the `default` AppProject, which argocd-server (not run here) would
/// create at its start.
async fn install(client: &kube::Client, share: &Path) -> Result<(), PeerError> {
    install_crds(client, &CRDS.map(|f| share.join(f))).await?;
    apply(client, json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NAMESPACE } }), None).await?;
    for file in CONFIG {
        apply(client, read_yaml(&share.join(file))?, Some(NAMESPACE)).await?;
    }
    let project = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": { "name": "default" },
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{ "server": "*", "namespace": "*" }],
            "clusterResourceWhitelist": [{ "group": "*", "kind": "*" }],
        }
    });
    apply(client, project, Some(NAMESPACE)).await?;
    Ok(())
}

/// Applies `object` server-side (in `namespace`, or cluster-wide); its name.
async fn apply(client: &kube::Client, object: Value, namespace: Option<&str>) -> Result<String, PeerError> {
    let object: DynamicObject = serde_json::from_value(object).map_err(|e| PeerError::Other(format!("argocd: not an object: {e}")))?;
    let name = object.metadata.name.clone().unwrap_or_default();
    let gvk = object
        .types
        .as_ref()
        .ok_or_else(|| PeerError::Other(format!("argocd: {name} has no apiVersion/kind")))
        .and_then(|t| GroupVersionKind::try_from(t).map_err(|e| PeerError::Other(format!("argocd: {name}: {e}"))))?;
    let resource = ApiResource::from_gvk(&gvk);
    let api = match namespace {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&object)).await?;
    Ok(name)
}

fn spawn(command: Command, scratch: &Path, name: &str) -> LoggedChild {
    LoggedChild::spawn(command, &scratch.join(format!("{name}.log")), name)
}

/// Free loopback ports, each held until all are picked so that they differ.
#[derive(Default)]
struct PortPicker(Vec<TcpListener>);

impl PortPicker {
    fn pick(&mut self) -> std::io::Result<u16> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        self.0.push(listener);
        Ok(port)
    }
}

async fn http_ok(url: &str) -> bool {
    reqwest::get(url).await.is_ok_and(|r| r.status().is_success())
}

/// Waits until `check` passes: the process `what` serves.
async fn serving(child: &LoggedChild, what: &str, check: impl AsyncFn() -> bool) -> Result<(), PeerError> {
    let deadline = Instant::now() + STARTUP;
    while !check().await {
        if Instant::now() > deadline {
            let last = child.log().lines().last().unwrap_or_default().to_string();
            return Err(PeerError::Other(format!("argocd: {what} does not serve after {STARTUP:?}; its log ends: {last}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
