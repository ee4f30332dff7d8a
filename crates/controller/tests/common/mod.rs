//! What every controller test needs: a namespace, a Git repo, the CRDs, and
//! a controller of its own watching only that namespace.

#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use driftless_api::Application;
use driftless_testkit::{Error, GitRepo, TestNamespace, install_crds, wait_for};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Generous: tests never assert on how long things take.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// A test's world: its namespace, its repo, its controller.
pub struct World {
    pub ns: TestNamespace,
    pub repo: GitRepo,
    pub apps: Api<Application>,
    /// The controller's metrics, its Kubernetes requests included.
    pub metrics: driftless_metrics::Metrics,
    /// Where the controller publishes app events: subscribe before what
    /// should be seen happens.
    pub events: driftless_engine::events::Bus,
    /// The controller's client, counting its requests in `metrics`.
    client: kube::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    controller: Option<tokio::task::JoinHandle<()>>,
    resync: Duration,
    /// How long a sync runs before the controller says it runs long.
    sync_running_long: Duration,
    /// `application.namespaces` of the controller: other namespaces whose
    /// apps it handles (the test namespace is its control plane).
    app_namespaces: String,
    /// Reconciles at once; None: the controller's default.
    concurrency: Option<u16>,
    _cache: tempfile::TempDir,
}

impl World {
    /// A world whose controller compares every app every 2 s.
    pub async fn new(prefix: &str) -> Result<World, Error> {
        World::with_resync(prefix, Duration::from_secs(2)).await
    }

    /// A world whose controller's resync period is `resync`: a long one
    /// leaves only live-state events and user requests to wake apps.
    pub async fn with_resync(prefix: &str, resync: Duration) -> Result<World, Error> {
        // git's askpass and ssh: a test binary cannot be them.
        let _ = driftless_source::git_helper::set_program(env!("CARGO_BIN_EXE_controller-git-helper"));
        let ns = TestNamespace::new(prefix).await?;
        install_crds(&ns.client()).await?;
        let cache = tempfile::tempdir().expect("temp dir");
        let apps = ns.api();
        let metrics = driftless_metrics::Metrics::new();
        let kubeconfig = kube::config::Kubeconfig::read_from(ns.cluster().kubeconfig()).expect("devcluster kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("devcluster kubeconfig");
        let client = kube::client::ClientBuilder::try_from(config)
            .expect("client")
            .with_layer(&metrics.kube_layer(driftless_api::IN_CLUSTER_SERVER))
            .build();
        let mut w = World {
            ns,
            repo: GitRepo::new(),
            apps,
            metrics,
            events: Default::default(),
            client,
            stop: None,
            controller: None,
            resync,
            sync_running_long: driftless_controller::Config::default().sync_running_long,
            app_namespaces: String::new(),
            concurrency: None,
            _cache: cache,
        };
        w.start_controller();
        Ok(w)
    }

    fn config(&self) -> driftless_controller::Config {
        let defaults = driftless_controller::Config::default();
        driftless_controller::Config {
            concurrency: self.concurrency.unwrap_or(defaults.concurrency),
            tenancy: driftless_engine::project::Tenancy::new(self.name())
                .with_app_namespaces(&self.app_namespaces)
                .expect("valid application.namespaces"),
            resync: self.resync,
            cache_dir: self._cache.path().to_path_buf(),
            wave_timeout: Duration::from_secs(60),
            metrics: self.metrics.clone(),
            events: self.events.clone(),
            sync_running_long: self.sync_running_long,
            notifications_resync: self.resync,
            ..defaults
        }
    }

    /// Starts this world's controller.
    pub fn start_controller(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let client = self.client.clone();
        let config = self.config();
        self.controller = Some(tokio::spawn(async move {
            if let Err(e) = driftless_controller::run(client, config, async move {
                let _ = rx.await;
            })
            .await
            {
                eprintln!("controller stopped: {e}");
            }
        }));
        self.stop = Some(tx);
    }

    /// Starts the controller again, handling the apps of `app_namespaces`
    /// (Argo CD's `application.namespaces`) too.
    pub fn restart_with_app_namespaces(&mut self, app_namespaces: &str) {
        self.crash_controller();
        self.app_namespaces = app_namespaces.to_string();
        self.start_controller();
    }

    /// Starts the controller again, running `concurrency` reconciles at once.
    pub fn restart_with_concurrency(&mut self, concurrency: u16) {
        self.crash_controller();
        self.concurrency = Some(concurrency);
        self.start_controller();
    }

    /// Starts the controller again, saying a sync runs long after `limit`.
    pub fn restart_with_sync_running_long(&mut self, limit: Duration) {
        self.crash_controller();
        self.sync_running_long = limit;
        self.start_controller();
    }

    /// Kills the controller the way a crash would: no graceful shutdown,
    /// whatever it was doing is cut off.
    pub fn crash_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
        self.stop = None;
    }

    pub fn name(&self) -> &str {
        self.ns.name()
    }

    /// The controller's cache directory (Git mirrors, checkouts, renders).
    pub fn cache_dir(&self) -> &std::path::Path {
        self._cache.path()
    }

    /// Creates an Application for `path` in the repo, deploying into the
    /// test namespace; `extra` is merged into its spec.
    pub async fn app(&self, name: &str, path: &str, extra: Value) -> Result<Application, Error> {
        let mut spec = json!({
            "project": "default",
            "source": { "repoURL": self.repo.url(), "targetRevision": "main", "path": path },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": self.name() },
        });
        merge(&mut spec, extra);
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": name, "namespace": self.name() },
            "spec": spec,
        }))
        .expect("valid Application");
        self.apps.create(&PostParams::default(), &app).await.map_err(|source| Error::Kube { what: format!("create app {name}"), source })
    }

    /// Requests a sync the way Argo CD's CLI does: by setting `.operation`.
    pub async fn request_sync(&self, app: &str, sync: Value) -> Result<(), Error> {
        self.request_operation(app, json!({ "initiatedBy": { "username": "test" }, "sync": sync })).await
    }

    /// Sets `.operation` as given.
    pub async fn request_operation(&self, app: &str, operation: Value) -> Result<(), Error> {
        let patch = json!({ "operation": operation });
        self.apps
            .patch(app, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(drop)
            .map_err(|source| Error::Kube { what: format!("request sync of {app}"), source })
    }

    /// Waits until `check` holds for the app's status.
    pub async fn wait_app<T>(&self, app: &str, what: &str, check: impl Fn(&Application) -> Option<T>) -> Result<T, Error> {
        wait_for(&format!("app {app}: {what}"), TIMEOUT, || async {
            let a = self.apps.get(app).await.map_err(|e| e.to_string())?;
            check(&a).ok_or_else(|| summary(&a))
        })
        .await
    }

    /// Waits until the app's last operation finished, and returns it.
    pub async fn wait_operation(&self, app: &str) -> Result<driftless_api::OperationState, Error> {
        self.wait_app(app, "operation finished", |a| {
            let s = a.status.as_ref()?.operation_state.as_ref()?;
            (a.operation.is_none() && s.phase.is_completed()).then(|| s.clone())
        })
        .await
    }

    /// A figure from the controller's metrics: the sum of every sample of
    /// `name` whose labels include all of `labels` (`key="value"`).
    pub fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        self.metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }

    /// Runs kubectl against the test cluster.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.ns.cluster().kubeconfig())
            .args(["--namespace", self.name()])
            .args(args)
            .output()
            .expect("kubectl is on PATH");
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Whether an object exists in the test namespace.
    pub fn exists(&self, kind: &str, name: &str) -> bool {
        !self.kubectl(&["get", kind, name, "--ignore-not-found", "-o", "name"]).is_empty()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The status fields a failing wait should show.
pub fn summary(a: &Application) -> String {
    let s = a.status.clone().unwrap_or_default();
    format!(
        "sync={:?} health={:?} conditions={:?} operation={:?}",
        s.sync.status,
        s.health.status,
        s.conditions.iter().map(|c| format!("{}: {}", c.type_, c.message)).collect::<Vec<_>>(),
        s.operation_state.map(|o| (o.phase, o.message))
    )
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

pub fn deployment(name: &str, replicas: i32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n"
    )
}

pub fn configmap(name: &str, annotations: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\ndata:\n  key: value\n")
}
