//! `driftless app ...` against the real dev control plane: every test has
//! its own namespace, Git repository and controller process, and runs the
//! CLI binary as a user would, with KUBECONFIG pointing at the cluster.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use driftless_api::Application;
use driftless_testkit::{GitRepo, LoggedChild, TestNamespace, assert_success, install_crds, run_cli, stderr, stdout, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(90);
const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// A `driftless controller` process scoped to one namespace, killed on drop.
fn start_controller(kubeconfig: &Path, namespace: &str, dir: &Path) -> LoggedChild {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["controller", "--namespace", namespace, "--app-resync", "2"])
        .env("KUBECONFIG", kubeconfig)
        .env("DRIFTLESS_CACHE_DIR", dir.join("cache"));
    LoggedChild::spawn(cmd, &dir.join("controller.log"), "driftless controller")
}

/// One test's world. Field order is drop order: the controller stops
/// before its namespace goes.
struct World {
    _controller: LoggedChild,
    ns: TestNamespace,
    repo: GitRepo,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(prefix: &str) -> World {
        let ns = TestNamespace::new(prefix).await.expect("a test namespace");
        install_crds(&ns.client()).await.expect("install CRDs");
        let dir = tempfile::tempdir().expect("a temp dir");
        let controller = start_controller(ns.cluster().kubeconfig(), ns.name(), dir.path());
        World { _controller: controller, ns, repo: GitRepo::new(), _dir: dir }
    }

    /// Runs `driftless app <args> -N <namespace>`.
    async fn app(&self, args: &[&str]) -> Output {
        let args: Vec<&str> = ["app"]
            .into_iter()
            .chain(args.iter().copied())
            .chain(["-N", self.ns.name(), "--control-plane-namespace", self.ns.name()])
            .collect();
        let cache = self._dir.path().join("cli-cache");
        run_cli(env!("CARGO_BIN_EXE_driftless"), self.ns.cluster().kubeconfig(), &cache, &args).await
    }

    /// Creates a manual app named `name` for `path` of the repo.
    async fn create(&self, name: &str, path: &str, extra: &[&str]) {
        let url = self.repo.url();
        let mut args = vec!["create", name, "--repo", &url, "--path", path, "--revision", "main"];
        args.extend(["--dest-server", IN_CLUSTER, "--dest-namespace", self.ns.name()]);
        args.extend(extra);
        let out = self.app(&args).await;
        assert_success(&out);
    }

    /// Syncs an app and expects success.
    async fn sync(&self, name: &str) -> String {
        let out = self.app(&["sync", name, "--timeout", "90"]).await;
        assert_success(&out);
        stdout(&out)
    }

    fn apps(&self) -> Api<Application> {
        self.ns.api()
    }

    fn deployments(&self) -> Api<Deployment> {
        self.ns.api()
    }

    /// Waits until the controller has compared the app with Git.
    async fn wait_compared(&self, name: &str) {
        let apps = self.apps();
        wait_for(&format!("app {name} to be compared"), TIMEOUT, || async {
            let a = apps.get(name).await.map_err(|e| e.to_string())?;
            let s = a.status.unwrap_or_default();
            if s.reconciled_at.is_some() && !s.resources.is_empty() { Ok(()) } else { Err(format!("{:?}", s.conditions)) }
        })
        .await
        .expect("the controller compares the app");
    }

    async fn replicas(&self, name: &str) -> Option<i32> {
        self.deployments().get_opt(name).await.expect("read the Deployment").and_then(|d| d.spec?.replicas)
    }
}

fn deployment(name: &str, replicas: i32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n"
    )
}

#[tokio::test]
async fn create_list_and_get() {
    let w = World::new("cli-create").await;
    w.repo
        .write("web/deploy.yaml", &deployment("web", 1, "nginx:1"))
        .write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n");
    w.repo.write("other/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  k: v\n");
    w.repo.commit("web");
    w.create("web", "web", &["--sync-option", "Validate=true"]).await;

    // Creating the same app again changes nothing; a different spec needs --upsert.
    let url = w.repo.url();
    let again = w
        .app(&[
            "create",
            "web",
            "--repo",
            &url,
            "--path",
            "web",
            "--revision",
            "main",
            "--dest-server",
            IN_CLUSTER,
            "--dest-namespace",
            w.ns.name(),
            "--sync-option",
            "Validate=true",
        ])
        .await;
    assert_success(&again);
    assert!(stdout(&again).contains("unchanged"));
    let differs =
        w.app(&["create", "web", "--repo", &url, "--path", "other", "--dest-server", IN_CLUSTER, "--dest-namespace", w.ns.name()]).await;
    assert!(!differs.status.success());
    assert!(stderr(&differs).contains("--upsert"), "the error says how to update");
    let upsert = w
        .app(&[
            "create",
            "web",
            "--repo",
            &url,
            "--path",
            "web",
            "--revision",
            "main",
            "--dest-server",
            IN_CLUSTER,
            "--dest-namespace",
            w.ns.name(),
            "--upsert",
        ])
        .await;
    assert_success(&upsert);
    assert!(stdout(&upsert).contains("updated"));

    // From a manifest.
    let manifest = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: from-file\nspec:\n  project: default\n  source:\n    repoURL: {url}\n    path: other\n    targetRevision: main\n  destination:\n    server: {IN_CLUSTER}\n    namespace: {}\n  syncPolicy:\n    automated: {{prune: true}}\n",
        w.ns.name()
    );
    let file = w._dir.path().join("app.yaml");
    std::fs::write(&file, manifest).expect("write the manifest");
    assert_success(&w.app(&["create", "-f", file.to_str().expect("utf-8 path")]).await);

    // Every flag lands where Argo CD keeps it.
    w.create(
        "flags",
        "other",
        &[
            "--project",
            "default",
            "--sync-policy",
            "none",
            "--sync-option",
            "CreateNamespace=true",
            "--directory-recurse",
            "--kustomize-image",
            "nginx=nginx:1.27",
            "--set-finalizer",
            "-l",
            "team=web",
        ],
    )
    .await;
    let got = w.app(&["get", "flags", "-o", "json"]).await;
    let flags: serde_json::Value = serde_json::from_slice(&got.stdout).expect("get -o json prints JSON");
    assert_eq!(flags["spec"]["source"]["directory"]["recurse"], true);
    assert_eq!(flags["spec"]["source"]["kustomize"]["images"][0], "nginx=nginx:1.27");
    assert_eq!(flags["spec"]["syncPolicy"]["syncOptions"][0], "CreateNamespace=true");
    assert!(flags["spec"]["syncPolicy"]["automated"].is_null());
    assert_eq!(flags["metadata"]["finalizers"][0], "resources-finalizer.argocd.argoproj.io");
    let by_label = w.app(&["list", "-l", "team=web", "-o", "name"]).await;
    assert_eq!(stdout(&by_label), "flags\n");
    let prune_without_auto = w.app(&["create", "x", "--repo", &url, "--dest-server", IN_CLUSTER, "--auto-prune"]).await;
    assert_eq!(prune_without_auto.status.code(), Some(1));
    assert!(stderr(&prune_without_auto).contains("--sync-policy automated"), "{}", stderr(&prune_without_auto));
    assert_success(&w.app(&["delete", "flags", "--cascade=false", "-y", "--wait", "--timeout", "90"]).await);
    assert!(w.apps().get_opt("flags").await.expect("read app").is_none());

    let list = w.app(&["list"]).await;
    assert_success(&list);
    let text = stdout(&list);
    let header = text.lines().next().expect("a header line");
    for col in ["NAME", "CLUSTER", "NAMESPACE", "PROJECT", "STATUS", "HEALTH", "SYNCPOLICY", "CONDITIONS", "REPO", "PATH", "TARGET"] {
        assert!(header.contains(col), "column {col} in {header:?}");
    }
    let web = text.lines().find(|l| l.starts_with("web ")).expect("a row for web");
    assert!(web.contains("Manual") && web.contains(IN_CLUSTER) && web.contains("main"), "{web}");
    assert!(text.lines().any(|l| l.starts_with("from-file ") && l.contains("Auto-Prune")), "{text}");

    let json = w.app(&["list", "-o", "json"]).await;
    assert_success(&json);
    let apps: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("list -o json is a JSON array");
    let names: Vec<&str> = apps.iter().filter_map(|a| a["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["from-file", "web"]);
    assert_eq!(apps[1]["spec"]["source"]["path"], "web");

    let names = w.app(&["list", "-o", "name"]).await;
    assert_eq!(stdout(&names), "from-file\nweb\n");
    let none = w.app(&["list", "-p", "no-such-project", "-o", "name"]).await;
    assert_eq!(stdout(&none), "");

    // Once compared, get shows the summary and every resource.
    w.wait_compared("web").await;
    let get = w.app(&["get", "web"]).await;
    assert_success(&get);
    let text = stdout(&get);
    for want in ["Name:", "Project:", "Server:", "Repo:", "Path:", "Sync Policy:", "Sync Status:", "Health Status:", "OutOfSync"] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    assert!(text.contains("GROUP") && text.contains("HEALTH") && text.contains("HOOK"), "resource table in\n{text}");
    assert!(text.lines().any(|l| l.contains("Deployment") && l.contains("web") && l.contains("OutOfSync")), "{text}");
    assert!(text.lines().any(|l| l.contains("ConfigMap") && l.contains("settings")), "{text}");
    let as_yaml = w.app(&["get", &format!("{}/web", w.ns.name()), "-o", "yaml"]).await;
    assert_success(&as_yaml);
    assert!(stdout(&as_yaml).contains("repoURL"), "ns/name works and -o yaml prints the Application");

    let missing = w.app(&["get", "nope"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("not found"), "{}", stderr(&missing));
}

#[tokio::test]
async fn sync_applies_and_shows_each_resource() {
    let w = World::new("cli-sync").await;
    w.repo
        .write("app/deploy.yaml", &deployment("web", 2, "nginx:1"))
        .write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n");
    w.repo.commit("app");
    w.create("guestbook", "app", &[]).await;

    // A dry run changes nothing; --resource syncs only what it names.
    assert_success(&w.app(&["sync", "guestbook", "--dry-run", "--timeout", "90"]).await);
    assert_eq!(w.replicas("web").await, None, "a dry run creates nothing");
    let partial = w.app(&["sync", "guestbook", "--resource", ":ConfigMap:settings", "--timeout", "90"]).await;
    assert_success(&partial);
    let configmaps: Api<ConfigMap> = w.ns.api();
    assert!(configmaps.get_opt("settings").await.expect("read ConfigMap").is_some());
    assert_eq!(w.replicas("web").await, None, "only the named resource is synced");

    let text = w.sync("guestbook").await;
    assert!(
        text.lines().any(|l| l.contains("Deployment") && l.contains("web") && l.contains("Synced")),
        "a progress line per resource:\n{text}"
    );
    assert!(text.lines().any(|l| l.contains("ConfigMap") && l.contains("settings") && l.contains("Synced")), "{text}");
    assert!(text.contains("Phase:") && text.contains("Succeeded"), "{text}");
    assert_eq!(w.replicas("web").await, Some(2), "the Deployment exists as Git says");

    // A sync that cannot apply fails with exit 1 and says why on stderr.
    w.repo.write("app/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\ndata:\n  k: v\n");
    w.repo.commit("invalid name");
    let failed = w.app(&["sync", "guestbook", "--timeout", "90"]).await;
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("guestbook"), "the error names the app: {}", stderr(&failed));

    // A bad --resource is refused before anything is requested.
    let bad = w.app(&["sync", "guestbook", "--resource", "Deployment/web"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("GROUP:KIND"), "{}", stderr(&bad));
}

#[tokio::test]
async fn diff_exit_code_follows_sync_status() {
    let w = World::new("cli-diff").await;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1")).write(
        "app/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2-do-not-print\n",
    );
    w.repo.commit("app");
    w.create("web", "app", &[]).await;

    let before = w.app(&["diff", "web"]).await;
    assert_eq!(before.status.code(), Some(1), "missing resources are a difference");
    // Neither as written nor base64-encoded (the diff folds stringData into data).
    let encoded = "aHVudGVyMi1kby1ub3QtcHJpbnQ";
    assert!(!stdout(&before).contains("hunter2") && !stdout(&before).contains(encoded), "Secret values never show:\n{}", stdout(&before));
    assert!(stdout(&before).contains("++++++++"), "a masked value shows that it differs:\n{}", stdout(&before));
    let manifests = w.app(&["manifests", "web"]).await;
    assert_success(&manifests);
    assert!(stdout(&manifests).contains("kind: Deployment") && !stdout(&manifests).contains("hunter2"), "{}", stdout(&manifests));

    w.sync("web").await;
    let synced = w.app(&["diff", "web"]).await;
    assert_eq!(synced.status.code(), Some(0), "in sync right after a sync: {}", stdout(&synced));
    assert_eq!(stdout(&synced).trim(), "", "no managedFields or status noise");
    let live = w.app(&["manifests", "web", "--source", "live"]).await;
    assert_success(&live);
    assert!(
        stdout(&live).contains("uid:") && !stdout(&live).contains("hunter2") && !stdout(&live).contains(encoded),
        "live objects, Secret masked:\n{}",
        stdout(&live)
    );

    w.repo.write("app/deploy.yaml", &deployment("web", 3, "nginx:1"));
    w.repo.commit("three replicas");
    let drift = w.app(&["diff", "web"]).await;
    assert_eq!(drift.status.code(), Some(1));
    let text = stdout(&drift);
    assert!(text.contains("-  replicas: 1") && text.contains("+  replicas: 3"), "{text}");
    assert!(!text.contains("managedFields"), "{text}");

    w.sync("web").await;
    assert_eq!(w.app(&["diff", "web"]).await.status.code(), Some(0));

    let missing = w.app(&["diff", "nope"]).await;
    assert_eq!(missing.status.code(), Some(2), "errors exit 2, like argocd app diff");
}

#[tokio::test]
async fn history_and_rollback() {
    let w = World::new("cli-rollback").await;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1"));
    let first = w.repo.commit("one replica");
    w.create("web", "app", &[]).await;
    w.sync("web").await;
    w.repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1"));
    let second = w.repo.commit("two replicas");
    w.sync("web").await;
    assert_eq!(w.replicas("web").await, Some(2));

    let history = w.app(&["history", "web"]).await;
    assert_success(&history);
    let text = stdout(&history);
    assert!(text.starts_with("ID") && text.contains("REVISION") && text.contains("INITIATOR"), "{text}");
    let row0 = text.lines().find(|l| l.starts_with("0 ")).expect("entry 0");
    assert!(row0.contains(&first), "{row0}");
    assert!(text.lines().any(|l| l.starts_with("1 ") && l.contains(&second)), "{text}");
    let json = w.app(&["history", "web", "-o", "json"]).await;
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("history -o json");
    assert_eq!(entries.len(), 2);

    // -o json: stdout is the finished operation's state alone (progress on stderr).
    let rollback = w.app(&["rollback", "web", "0", "--timeout", "90", "-o", "json"]).await;
    assert_success(&rollback);
    let state: serde_json::Value = serde_json::from_slice(&rollback.stdout)
        .unwrap_or_else(|e| panic!("rollback -o json ({e}): {}\nstderr: {}", stdout(&rollback), stderr(&rollback)));
    assert_eq!(state["phase"], "Succeeded", "{state}");
    assert_eq!(state["syncResult"]["revision"], first.as_str(), "{state}");
    assert!(stderr(&rollback).contains("rolling back"), "progress on stderr: {}", stderr(&rollback));
    assert_eq!(w.replicas("web").await, Some(1), "the old revision's replicas are back");
    let apps = w.apps();
    let app = apps.get("web").await.expect("the app");
    let last = app.status.and_then(|s| s.history.last().cloned()).expect("a history entry for the rollback");
    assert_eq!(last.revision, first);

    let unknown = w.app(&["rollback", "web", "42"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("42"), "{}", stderr(&unknown));

    // Automation would undo a rollback at once: refused, as argocd does.
    w.create("auto", "app", &["--sync-policy", "automated"]).await;
    let refused = w.app(&["rollback", "auto", "0"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("automated"), "{}", stderr(&refused));
}

#[tokio::test]
async fn delete_with_and_without_cascade() {
    let w = World::new("cli-delete").await;
    w.repo.write("gone/deploy.yaml", &deployment("gone", 1, "nginx:1")).write("keep/deploy.yaml", &deployment("keep", 1, "nginx:1"));
    w.repo.commit("two apps");
    w.create("gone", "gone", &[]).await;
    w.create("keep", "keep", &[]).await;
    w.sync("gone").await;
    w.sync("keep").await;

    let refused = w.app(&["delete", "gone"]).await;
    assert!(!refused.status.success(), "no confirmation, no deletion");
    assert!(w.apps().get_opt("gone").await.expect("read app").is_some());

    assert_success(&w.app(&["delete", "gone", "-y", "--wait", "--timeout", "90"]).await);
    let deployments = w.deployments();
    wait_for("the cascade to delete Deployment gone", TIMEOUT, || async {
        match deployments.get_opt("gone").await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|d| d.map(|d| d.metadata.deletion_timestamp)))),
        }
    })
    .await
    .expect("cascade deletes the app's resources");

    assert_success(&w.app(&["delete", "keep", "--cascade=false", "-y", "--wait", "--timeout", "90"]).await);
    assert!(w.apps().get_opt("keep").await.expect("read app").is_none(), "the Application is gone");
    let kept = w.deployments().get_opt("keep").await.expect("read Deployment");
    assert!(kept.is_some_and(|d| d.metadata.deletion_timestamp.is_none()), "without cascade the Deployment stays");
}

#[tokio::test]
async fn wait_for_health_and_time_out_clearly() {
    let w = World::new("cli-wait").await;
    w.repo.write("ok/deploy.yaml", &deployment("ok", 1, "nginx:1")).write("crash/deploy.yaml", &deployment("crash", 1, "nginx:crashloop"));
    w.repo.commit("apps");
    w.create("ok", "ok", &[]).await;
    w.create("crash", "crash", &[]).await;

    w.sync("ok").await;
    let healthy = w.app(&["wait", "ok", "--health", "--timeout", "90"]).await;
    assert_success(&healthy);
    assert!(stdout(&healthy).contains("Healthy"));
    assert_success(&w.app(&["wait", "ok", "--timeout", "90"]).await);

    // Whether the sync waits for health is the controller's business: only
    // ask for it and wait until it has been carried out.
    assert_success(&w.app(&["sync", "crash", "--async"]).await);
    assert_success(&w.app(&["wait", "crash", "--operation", "--timeout", "90"]).await);
    let timed_out = w.app(&["wait", "crash", "--health", "--timeout", "3"]).await;
    assert_eq!(timed_out.status.code(), Some(1));
    let err = stderr(&timed_out);
    assert!(err.contains("timed out") && err.contains("Healthy") && err.contains("crash"), "names what it waited for: {err}");
    assert!(err.contains("health is"), "and the last state: {err}");
}

#[tokio::test]
async fn sync_follows_hooks_and_reports_their_failure() {
    let w = World::new("cli-hooks").await;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1")).write(
        "app/smoke.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: smoke\n  annotations:\n    argocd.argoproj.io/hook: PostSync\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: busybox:fail\n",
    );
    w.repo.commit("app with a failing smoke test");
    w.create("web", "app", &[]).await;

    let out = w.app(&["sync", "web", "--timeout", "90"]).await;
    assert_eq!(out.status.code(), Some(1), "a failed hook fails the sync");
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.contains("Job (PostSync hook)") && l.contains("smoke")), "the hook's progress shows:\n{text}");
    assert!(text.lines().any(|l| l.contains("Deployment") && l.contains("web") && l.contains("Synced")), "{text}");
    let err = stderr(&out);
    assert!(err.contains("sync of app") && err.contains("web") && err.contains("Failed") && err.contains("PostSync"), "{err}");

    let get = w.app(&["get", "web"]).await;
    let text = stdout(&get);
    assert!(text.contains("Phase:") && text.contains("Failed"), "the last operation shows:\n{text}");
    assert!(text.lines().any(|l| l.contains("Job") && l.contains("smoke") && l.contains("PostSync")), "the hook row shows:\n{text}");
}

#[tokio::test]
async fn get_shows_the_sync_window_state() {
    let w = World::new("cli-windows").await;
    w.repo.write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n");
    w.repo.commit("web");
    let deny = json!([{ "kind": "deny", "schedule": "* * * * *", "duration": "1h", "namespaces": ["*"] }]);
    w.ns.create_project("team", deny).await.expect("create project");
    let projects: Api<driftless_api::AppProject> = w.ns.api();
    w.create("web", "web", &["--project", "team"]).await;
    w.create("free", "web", &[]).await;

    let get = w.app(&["get", "web"]).await;
    assert_success(&get);
    let text = stdout(&get);
    let line = text.lines().find(|l| l.starts_with("Sync Window:")).unwrap_or_default();
    assert!(line.ends_with("Sync Denied by deny window 0 of project team"), "{text}");
    let json = w.app(&["get", "web", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("get -o json prints JSON");
    assert_eq!((v["syncWindows"]["canSync"].clone(), v["syncWindows"]["automatedCanSync"].clone()), (false.into(), false.into()));
    assert_eq!(v["syncWindows"]["activeWindows"][0]["kind"], "deny");
    assert_eq!(v["metadata"]["name"], "web", "the Application itself as before");

    let free = stdout(&w.app(&["get", "free"]).await);
    assert!(free.lines().any(|l| l.starts_with("Sync Window:") && l.ends_with("Sync Allowed (no sync window applies)")), "{free}");

    // A broken window: the line says which, and that nothing syncs.
    let patch =
        json!({ "spec": { "syncWindows": [{ "kind": "deny", "schedule": "0 9 * * *", "duration": "soon", "namespaces": ["*"] }] } });
    projects.patch("team", &Default::default(), &kube::api::Patch::Merge(patch)).await.expect("edit project");
    let text = stdout(&w.app(&["get", "web"]).await);
    assert!(
        text.contains("Sync Denied until a broken sync window is fixed: project team: sync window 0: duration \"soon\": not a number"),
        "{text}"
    );
}

#[tokio::test]
async fn every_app_command_prints_json_or_yaml_for_scripts() {
    let w = World::new("cli-json").await;
    w.repo.write("app/deploy.yaml", &deployment("web", 1, "nginx:1"));
    w.repo.commit("app");
    let url = w.repo.url();
    let json = |out: &Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\nstderr: {}", stdout(out), stderr(out)))
    };
    let dest = ["--dest-server", IN_CLUSTER, "--dest-namespace", w.ns.name()];
    let mut create = vec!["create", "web", "--repo", &url, "--path", "app", "--revision", "main", "-o", "json"];
    create.extend(dest);
    let created = w.app(&create).await;
    assert_success(&created);
    assert_eq!(json(&created)["metadata"]["name"], "web", "the Application as stored");

    let diff = w.app(&["diff", "web", "-o", "json"]).await;
    assert_eq!(diff.status.code(), Some(1), "the exit code still says out of sync");
    let diff = json(&diff);
    assert_eq!(diff["sync"], "OutOfSync");
    assert_eq!(diff["resources"][0]["kind"], "Deployment", "{diff}");

    let manifests = w.app(&["manifests", "web", "-o", "json"]).await;
    assert_success(&manifests);
    assert_eq!(json(&manifests)[0]["kind"], "Deployment");

    // Progress goes to stderr, so that stdout is one document.
    let sync = w.app(&["sync", "web", "--timeout", "90", "-o", "json"]).await;
    assert_success(&sync);
    let state = json(&sync);
    assert_eq!(state["phase"], "Succeeded", "{state}");
    assert!(stderr(&sync).contains("Deployment"), "progress on stderr: {}", stderr(&sync));

    let wait = w.app(&["wait", "web", "--sync", "--timeout", "90", "-o", "yaml"]).await;
    assert_success(&wait);
    assert!(stdout(&wait).contains("name: web") && stdout(&wait).contains("status: Synced"), "{}", stdout(&wait));

    let deleted = w.app(&["delete", "web", "-y", "--wait", "--timeout", "90", "-o", "json"]).await;
    assert_success(&deleted);
    let deleted = json(&deleted);
    assert_eq!((deleted["name"].clone(), deleted["cascade"].clone(), deleted["gone"].clone()), (json!("web"), json!(true), json!(true)));
}

fn configmap(name: &str, sync_options: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-options: {sync_options:?}\ndata:\n  k: v\n"
    )
}

/// `Prune=confirm`: a sync with prune does everything else, prunes what
/// needs no confirmation, and waits (its operation Running, a condition
/// saying what waits) until `app confirm-deletion`; then the guarded
/// resource goes and the sync completes.
#[tokio::test]
async fn a_prune_confirm_resource_stays_until_confirm_deletion() {
    let w = World::new("cli-confirm").await;
    w.repo
        .write("app/guarded.yaml", &configmap("guarded", "Prune=confirm"))
        .write("app/plain.yaml", &configmap("plain", "Validate=true"))
        .write("app/deploy.yaml", &deployment("web", 1, "nginx:1"));
    w.repo.commit("v1");
    w.create("guarded", "app", &[]).await;
    w.sync("guarded").await;

    w.repo.remove("app/guarded.yaml");
    w.repo.remove("app/plain.yaml");
    w.repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1"));
    w.repo.commit("v2: both ConfigMaps leave Git");
    assert_success(&w.app(&["sync", "guarded", "--prune", "--async"]).await);
    let (apps, cms, deployments) = (w.apps(), w.ns.api::<ConfigMap>(), w.deployments());
    let waiting = wait_for("the sync to wait for a confirmation", TIMEOUT, || async {
        let a = apps.get("guarded").await.map_err(|e| e.to_string())?;
        let s = a.status.clone().unwrap_or_default();
        let op = s.operation_state.clone().ok_or("no operation yet")?;
        let condition = s.conditions.iter().find(|c| c.type_ == "PruneConfirmationRequired").map(|c| c.message.clone());
        match (op.phase, op.message.as_deref(), condition) {
            (driftless_api::OperationPhase::Running, Some(m), Some(c)) if m.contains("waiting for pruning confirmation") => {
                Ok((m.to_string(), c, s))
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .expect("the sync waits");
    assert!(waiting.0.contains("guarded") && !waiting.0.contains("plain"), "{}", waiting.0);
    assert!(waiting.1.contains("driftless app confirm-deletion"), "the condition says how to confirm: {}", waiting.1);
    let marked: Vec<_> = waiting.2.resources.iter().filter(|r| r.requires_deletion_confirmation).map(|r| r.name.as_str()).collect();
    assert_eq!(marked, ["guarded"], "status.resources marks what needs a confirmation");
    assert!(cms.get_opt("guarded").await.expect("read").is_some(), "not pruned before a confirmation");
    assert!(cms.get_opt("plain").await.expect("read").is_none(), "what needs no confirmation is pruned");
    let replicas = deployments.get("web").await.expect("read").spec.and_then(|s| s.replicas);
    assert_eq!(replicas, Some(2), "everything else is synced meanwhile");
    let get = w.app(&["get", "guarded"]).await;
    assert_success(&get);
    assert!(stdout(&get).contains("requires pruning: awaits confirmation"), "app get says what waits: {}", stdout(&get));

    let out = w.app(&["confirm-deletion", "guarded", "-o", "json"]).await;
    assert_success(&out);
    let confirmed: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(confirmed["resources"][0]["name"], "guarded", "{confirmed}");
    let approved = confirmed["approvedAt"].as_str().expect("approvedAt").to_string();
    let stored = apps.get("guarded").await.expect("read").metadata.annotations.unwrap_or_default();
    assert_eq!(stored.get("argocd.argoproj.io/deletion-approved"), Some(&approved));

    wait_for("the sync to finish once confirmed", TIMEOUT, || async {
        let a = apps.get("guarded").await.map_err(|e| e.to_string())?;
        let s = a.status.unwrap_or_default();
        let op = s.operation_state.ok_or("no operation")?;
        let gone = cms.get_opt("guarded").await.map_err(|e| e.to_string())?.is_none();
        let cleared = !s.conditions.iter().any(|c| c.type_ == "PruneConfirmationRequired");
        (op.phase == driftless_api::OperationPhase::Succeeded && gone && cleared)
            .then_some(())
            .ok_or(format!("{:?} {:?} gone={gone}", op.phase, op.message))
    })
    .await
    .expect("pruned once confirmed");

    let bad = w.app(&["confirm-deletion", "no/such/app"]).await;
    assert!(!bad.status.success() && stderr(&bad).contains("invalid application name"), "{}", stderr(&bad));
    let missing = w.app(&["confirm-deletion", "absent"]).await;
    assert!(!missing.status.success() && stderr(&missing).contains("not found"), "{}", stderr(&missing));
}

#[tokio::test]
async fn get_shows_what_an_app_waits_for_and_sync_force_does_not_wait() {
    let w = World::new("cli-deps").await;
    w.repo.write("db/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\ndata:\n  k: v\n");
    w.repo.write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  k: v\n");
    w.repo.commit("db and web");
    w.create("db", "db", &[]).await;
    w.create("web", "web", &[]).await;
    let patch = json!({ "metadata": { "annotations": { "driftless.dev/depends-on": "db" } } });
    w.apps().patch("web", &Default::default(), &kube::api::Patch::Merge(patch)).await.expect("annotate web");
    let n = w.ns.name().to_string();

    // db is never synced: web waits for it, and says so once both have been reconciled
    // (the controller may reach web before db has any status).
    let text = wait_for("web waits for db", TIMEOUT, || async {
        let text = stdout(&w.app(&["get", "web"]).await);
        let db_known = text.contains(&format!("waiting for {n}/db: OutOfSync, Missing"));
        if text.contains("DependencyNotReady") && db_known { Ok(text) } else { Err(text) }
    })
    .await
    .expect("the condition");
    let line = text.lines().find(|l| l.starts_with("Waiting For:")).unwrap_or_default();
    assert!(line.contains(&format!("waiting for {n}/db: OutOfSync, Missing")), "{text}");
    assert!(text.lines().any(|l| l.starts_with(&format!("{n}/db")) && l.contains("depends on") && l.contains("OutOfSync")), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&w.app(&["get", "web", "-o", "json"]).await.stdout).expect("JSON");
    assert_eq!(v["dependencies"]["assessment"]["dependencies"][0]["app"]["name"], "db", "{v}");
    assert_eq!(v["dependencies"]["assessment"]["dependencies"][0]["ready"], false);
    let y = stdout(&w.app(&["get", "web", "-o", "yaml"]).await);
    assert!(y.contains("dependencies:") && y.contains("reason: OutOfSync, Missing"), "{y}");
    // db waits for nothing, and shows who waits for it.
    let db = stdout(&w.app(&["get", "db"]).await);
    assert!(db.lines().any(|l| l.starts_with("Waiting For:") && l.ends_with("nothing: every dependency is ready")), "{db}");
    assert!(db.lines().any(|l| l.starts_with(&format!("{n}/web")) && l.contains("depended on by")), "{db}");

    // --force: Argo CD's force, and no wait for db.
    let out = w.app(&["sync", "web", "--force", "--timeout", "90"]).await;
    assert_success(&out);
    let web = w.apps().get("web").await.expect("web");
    let op = web.status.and_then(|s| s.operation_state).expect("the sync's state");
    assert_eq!(op.operation.sync.and_then(|s| s.sync_strategy), Some(json!({ "apply": { "force": true } })));
    assert_eq!(op.phase, driftless_api::OperationPhase::Succeeded);
    let cms: Api<ConfigMap> = w.ns.api();
    assert!(cms.get_opt("web").await.expect("read").is_some());
    assert!(cms.get_opt("db").await.expect("read").is_none(), "db still waits for its own sync");
}
