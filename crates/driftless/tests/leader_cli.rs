//! Two `driftless controller --leader-elect` processes against the real dev
//! control plane: one syncs, the other waits; when the leader is killed
//! (SIGKILL: no release), the standby takes over once the Lease expires and
//! syncs what changed in Git meanwhile.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use driftless_api::Application;
use driftless_testkit::{GitRepo, TestNamespace, install_crds, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(120);
const IN_CLUSTER: &str = "https://kubernetes.default.svc";
/// The default `--leader-election-id`.
const LEASE: &str = "driftless-controller";

/// A `driftless controller --leader-elect` process scoped to one namespace,
/// killed on drop.
struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    fn start(kubeconfig: &Path, namespace: &str, dir: &Path, name: &str) -> Controller {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create the controller log");
        let child = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["controller", "--namespace", namespace, "--app-resync", "2"])
            .args(["--leader-elect", "--leader-election-namespace", namespace])
            // Short timings keep the test quick; takeover still waits for expiry.
            .args(["--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3", "--leader-elect-retry-period", "1"])
            .env("KUBECONFIG", kubeconfig)
            // Each its own cache, as separate pods would have.
            .env("DRIFTLESS_CACHE_DIR", dir.join(format!("cache-{name}")))
            .env("RUST_LOG", "info,kube=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log handle"))
            .stderr(file)
            .spawn()
            .expect("start driftless controller");
        Controller { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The identity it logged when it joined the election.
    fn identity(&self) -> Option<String> {
        let log = strip_ansi(&self.log());
        let line = log.lines().find(|l| l.contains("leader election enabled"))?;
        let rest = &line[line.find("identity=")? + "identity=".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    }

    fn became_leader(&self) -> bool {
        self.log().contains("became leader")
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test explains itself better with what the controller said.
        if std::thread::panicking() {
            let text = self.log();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("--- {} (last lines) ---", self.log.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// Removes terminal colour codes, in case the log has them after all.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn configmap(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  key: {value}\n")
}

async fn wait_value(configmaps: &Api<ConfigMap>, value: &str) {
    wait_for(&format!("ConfigMap settings to hold {value}"), TIMEOUT, || async {
        let cm = configmaps.get_opt("settings").await.map_err(|e| e.to_string())?;
        let seen = cm.and_then(|c| c.data).and_then(|d| d.get("key").cloned());
        if seen.as_deref() == Some(value) { Ok(()) } else { Err(format!("{seen:?}")) }
    })
    .await
    .expect("the app is synced");
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_is_killed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ns = TestNamespace::new("leader-cli").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", &configmap("one"));
    repo.commit("one");

    // Declared after `ns`, so dropped first: the processes stop before their
    // namespace goes.
    let mut controllers = vec![
        Controller::start(ns.cluster().kubeconfig(), ns.name(), dir.path(), "first"),
        Controller::start(ns.cluster().kubeconfig(), ns.name(), dir.path(), "second"),
    ];

    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "web", "namespace": ns.name() },
        "spec": {
            "project": "default",
            "source": { "repoURL": repo.url(), "targetRevision": "main", "path": "app" },
            "destination": { "server": IN_CLUSTER, "namespace": ns.name() },
            "syncPolicy": { "automated": {} },
        },
    }))
    .expect("a valid Application");
    let apps: Api<Application> = ns.api();
    apps.create(&PostParams::default(), &app).await.expect("create the app");
    let configmaps: Api<ConfigMap> = ns.api();
    wait_value(&configmaps, "one").await;

    // The Lease names one of the two processes.
    let identities: Vec<String> = wait_for("both controllers to join the election", TIMEOUT, || async {
        let ids: Vec<Option<String>> = controllers.iter().map(Controller::identity).collect();
        ids.iter().cloned().collect::<Option<Vec<String>>>().ok_or(ids)
    })
    .await
    .expect("each controller logs its identity");
    assert_ne!(identities[0], identities[1], "identities are unique");
    let leases: Api<Lease> = ns.api();
    let holder = leases.get(LEASE).await.expect("the Lease exists").spec.and_then(|s| s.holder_identity).expect("the Lease has a holder");
    let leader = identities.iter().position(|id| *id == holder).unwrap_or_else(|| panic!("holder {holder} is one of {identities:?}"));
    let standby = 1 - leader;
    assert!(controllers[leader].became_leader());
    assert!(!controllers[standby].became_leader(), "the standby never led");

    // The leader dies without releasing; Git changes meanwhile.
    controllers[leader].child.kill().expect("kill the leader");
    let _ = controllers[leader].child.wait();
    repo.write("app/cm.yaml", &configmap("two"));
    repo.commit("two");

    wait_value(&configmaps, "two").await;
    assert!(controllers[standby].became_leader(), "the standby took over");
    let holder = leases.get(LEASE).await.expect("the Lease exists").spec.and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some(identities[standby].as_str()));
    assert!(controllers[standby].child.try_wait().expect("query the standby").is_none(), "the new leader keeps running");
    controllers.clear();
}

/// Waits until the process has exited, and returns how.
async fn wait_exit(c: &mut Controller) -> std::process::ExitStatus {
    wait_for("the controller to exit", TIMEOUT, || {
        let status = c.child.try_wait().expect("query the controller");
        async move { status.ok_or("still running") }
    })
    .await
    .expect("the controller exits")
}

async fn wait_leading(c: &Controller) {
    wait_for("the controller to lead", TIMEOUT, || async { if c.became_leader() { Ok(()) } else { Err(c.log()) } })
        .await
        .expect("the only candidate becomes leader");
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_exits_non_zero() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ns = TestNamespace::new("leader-cli-lost").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let mut controller = Controller::start(ns.cluster().kubeconfig(), ns.name(), dir.path(), "only");
    wait_leading(&controller).await;

    let leases: Api<Lease> = ns.api();
    let mut lease = leases.get(LEASE).await.expect("the Lease exists");
    let spec = lease.spec.get_or_insert_with(Default::default);
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(3600);
    leases.replace(LEASE, &PostParams::default(), &lease).await.expect("take the Lease");

    let status = wait_exit(&mut controller).await;
    assert!(!status.success(), "losing leadership is a failure: {status:?}");
    let log = controller.log();
    assert!(log.contains("driftless: lost leadership of Lease"), "stderr says why:\n{log}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_leader_stopped_by_sigterm_releases_its_lease() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ns = TestNamespace::new("leader-cli-term").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let mut controller = Controller::start(ns.cluster().kubeconfig(), ns.name(), dir.path(), "only");
    wait_leading(&controller).await;

    // What Kubernetes sends when it deletes the pod.
    let term = Command::new("kill").args(["-TERM", &controller.child.id().to_string()]).status().expect("run kill");
    assert!(term.success());
    let status = wait_exit(&mut controller).await;
    assert!(status.success(), "a requested stop is a clean exit: {status:?}\n{}", controller.log());
    let leases: Api<Lease> = ns.api();
    let spec = leases.get(LEASE).await.expect("the Lease exists").spec.unwrap_or_default();
    assert_eq!(spec.holder_identity, None, "released for a standby to take at once: {spec:?}");
    assert!(controller.log().contains("released leadership"));
}
