//! The web UI in a real browser: Debian's headless chromium, driven by
//! playwright-core (tests/browser/ui.mjs), against `driftless run` on the
//! dev control plane. Needs `scripts/tools/browser.sh` to have run (the
//! Makefile runs it before the tests). Screenshots go to
//! target/browser-artifacts/.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use driftless_api::Application;
use driftless_testkit::{GitRepo, LoggedChild, TestNamespace, install_crds, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::PostParams;

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(120);
const CHROMIUM: &str = "/usr/bin/chromium";
const APP: &str = "web";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root")
}

/// The browser side is installed by a script, not by cargo: say so plainly.
fn require_browser_tools(browser_dir: &Path) {
    let fix = "run scripts/tools/browser.sh (it installs Debian's chromium and runs npm ci in tests/browser; `make test` runs it)";
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: {fix}");
    assert!(browser_dir.join("node_modules/playwright-core/package.json").exists(), "tests/browser/node_modules is missing: {fix}");
    let node = Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "node is not on PATH: install Node.js 20+, then {fix}");
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound address")
}

/// `driftless run` (controller + API + UI) for one namespace, killed on drop;
/// its log is printed when the test fails.
fn start_driftless(kubeconfig: &Path, namespace: &str, dir: &Path, listen: SocketAddr) -> LoggedChild {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["run", "--namespace", namespace, "--app-resync", "2"])
        .args(["--listen", &listen.to_string(), "--metrics-addr", &free_port().to_string()])
        .env("KUBECONFIG", kubeconfig)
        .env("DRIFTLESS_CACHE_DIR", dir.join("cache"));
    LoggedChild::spawn(cmd, &dir.join("driftless.log"), "driftless run")
}

fn deployment(replicas: i32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n        ports:\n        - containerPort: 80\n"
    )
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";
const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata:\n  greeting: hello\n";

/// A manual-sync app (no automated policy), so the UI's Sync button is what syncs it.
fn application(namespace: &str, repo: &str) -> Application {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": APP, "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "path": "web", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace}
        }
    }))
    .expect("a valid Application")
}

/// Waits until the app is compared with `revision` and has `sync` status.
async fn wait_sync(apps: &Api<Application>, revision: &str, sync: &str) {
    wait_for(&format!("app {APP} to be {sync} at {revision}"), TIMEOUT, || async {
        let app = apps.get(APP).await.map_err(|e| e.to_string())?;
        let status = serde_json::to_value(app.status.unwrap_or_default()).map_err(|e| e.to_string())?;
        let at = (status["sync"]["revision"] == revision && status["sync"]["status"] == sync).then_some(());
        at.ok_or_else(|| format!("sync {} at {}", status["sync"]["status"], status["sync"]["revision"]))
    })
    .await
    .expect("the controller compares the app");
}

/// The UI's pure modules (tree join and layout, YAML) under node's test runner.
#[test]
fn ui_modules_pass_their_unit_tests() {
    let dir = workspace().join("tests/browser");
    let out = Command::new("node")
        .args(["--test", "unit.test.mjs"])
        .current_dir(&dir)
        .output()
        .expect("node is on PATH (install Node.js 20+, then run scripts/tools/browser.sh)");
    eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "node --test tests/browser/unit.test.mjs failed");
}

#[tokio::test]
async fn log_in_open_an_app_see_its_diff_sync_and_roll_back() {
    let root = workspace();
    let browser_dir = root.join("tests/browser");
    require_browser_tools(&browser_dir);

    let ns = TestNamespace::new("browser").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let dir = tempfile::tempdir().expect("a temp dir");
    let repo = GitRepo::new();
    repo.write("web/deploy.yaml", &deployment(1)).write("web/service.yaml", SERVICE).write("web/config.yaml", CONFIG);
    let first = repo.commit("web, one replica");

    let listen = free_port();
    let _driftless = start_driftless(ns.cluster().kubeconfig(), ns.name(), dir.path(), listen);
    // The default project, as Argo CD creates it, with an allow window open now: the page shows it.
    let mut project = driftless_api::AppProject::default_project(ns.name());
    project.spec.sync_windows = vec![driftless_api::SyncWindow {
        schedule: "* * * * *".into(),
        duration: "1h".into(),
        applications: vec![APP.into()],
        ..Default::default()
    }];
    ns.api::<driftless_api::AppProject>().create(&PostParams::default(), &project).await.expect("create the default project");
    let apps: Api<Application> = ns.api();
    apps.create(&PostParams::default(), &application(ns.name(), &repo.url())).await.expect("create the app");

    // Deployed once from the CLI, so the UI has live objects, a history entry and a real diff to show.
    wait_sync(&apps, &first, "OutOfSync").await;
    let sync = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["app", "sync", APP, "-N", ns.name(), "--timeout", "120"])
        .env("KUBECONFIG", ns.cluster().kubeconfig())
        .env("DRIFTLESS_CLI_CACHE_DIR", dir.path().join("cli-cache"))
        .stdin(Stdio::null())
        .output()
        .expect("run driftless app sync");
    assert!(sync.status.success(), "driftless app sync failed:\n{}", String::from_utf8_lossy(&sync.stderr));
    repo.write("web/deploy.yaml", &deployment(2));
    let second = repo.commit("web, two replicas");
    wait_sync(&apps, &second, "OutOfSync").await;

    // The server writes the initial admin password on first start.
    let password = ns.initial_admin_password(TIMEOUT).await.expect("driftless run creates argocd-initial-admin-secret");
    wait_for("the server to listen", TIMEOUT, || async { TcpStream::connect(listen).map(drop).map_err(|e| e.to_string()) })
        .await
        .expect("driftless run serves HTTP");

    let artifacts = root.join("target/browser-artifacts");
    let run = tokio::process::Command::new("node")
        .arg(browser_dir.join("ui.mjs"))
        .current_dir(&browser_dir)
        .env("DRIFTLESS_URL", format!("http://{listen}"))
        .env("DRIFTLESS_USERNAME", "admin")
        .env("DRIFTLESS_PASSWORD", password)
        .env("DRIFTLESS_APP", format!("{}/{APP}", ns.name()))
        .env("DRIFTLESS_ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run).await.expect("the browser test ends").expect("run node");
    eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed; screenshots are in {}", artifacts.display());

    // What the browser saw is what the cluster has: the admin's sync of the
    // second commit, the rollback to the first, the sync from the list page.
    let status = apps.get(APP).await.expect("read the app").status.expect("a status");
    let by_admin = |h: &&driftless_api::RevisionHistory| h.initiated_by.as_ref().and_then(|i| i.username.as_deref()) == Some("admin");
    let history: Vec<&str> = status.history.iter().filter(by_admin).map(|h| h.revision.as_str()).collect();
    assert_eq!(history, [second.as_str(), first.as_str(), second.as_str()], "the UI's syncs and rollback are in the history, as admin's");
    let deployments: Api<Deployment> = ns.api();
    let replicas = deployments.get("web").await.expect("read the Deployment").spec.and_then(|s| s.replicas);
    assert_eq!(replicas, Some(2), "the last sync deployed the second commit");
}
