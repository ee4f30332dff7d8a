//! `driftless install` and the Helm chart against the shared devcluster.
//! The controller and the API server run outside the cluster as the
//! installed ServiceAccounts (tokens from the TokenRequest API), so a sync
//! that works proves the installed RBAC is enough, and a refused request
//! that it is no more than it says. Each test installs into its own
//! namespace: cluster-scoped names carry the namespace, so they never
//! collide.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use driftless_api::Application;
use driftless_testkit::{GitRepo, LoggedChild, TestNamespace, assert_success, install_crds, run_cli, stdout, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;
use kube::config::Kubeconfig;
use serde_json::{Value, json};

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// The labels the chart adds to what `driftless install` applies.
const HELM_LABELS: [&str; 4] = ["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root")
}

fn chart() -> PathBuf {
    workspace().join("charts/driftless")
}

async fn driftless(kubeconfig: &Path, cache: &Path, args: &[&str]) -> Output {
    run_cli(env!("CARGO_BIN_EXE_driftless"), kubeconfig, cache, args).await
}

fn helm(args: &[&str]) -> Output {
    let out = Command::new("helm").args(args).output().expect("helm is on PATH (scripts/tools/helm.sh; `make test` installs it)");
    eprintln!("$ helm {}\n{}{}", args.join(" "), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// `kubectl kustomize` of a directory: the README's first install path
/// (`kubectl apply -k`), built by Kustomize itself.
fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl").arg("kustomize").arg(dir).output().expect("kubectl is on PATH (`make deps` checks it)");
    assert_success(&out);
    stdout(&out)
}

/// The README's sharding overlay, built in a temporary directory with its
/// path to `install/cluster` made to reach this workspace's (Kustomize
/// takes no absolute paths).
fn readme_sharding_overlay() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("read README.md");
    let start = readme.find("    resources:\n      - ../driftless/install/cluster").expect("the README's sharding overlay");
    let block = readme[start..].split("\n\n").next().unwrap_or_default();
    let overlay: String = block.lines().map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l))).collect();
    let dir = tempfile::tempdir().expect("a temp dir");
    let up = "../".repeat(dir.path().components().count() - 1);
    let cluster = format!("{up}{}", workspace().join("install/cluster").display().to_string().trim_start_matches('/'));
    std::fs::write(dir.path().join("kustomization.yaml"), overlay.replace("../driftless/install/cluster", &cluster)).expect("write it");
    kustomize(dir.path())
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback port").local_addr().expect("the bound address")
}

/// Objects of a multi-document YAML stream, without the chart's own labels,
/// sorted by kind, namespace and name.
fn comparable(yaml: &str) -> Vec<Value> {
    let mut objects: Vec<Value> = driftless_kustomize::yaml::parse::parse_documents(yaml)
        .expect("valid YAML")
        .into_iter()
        .filter(|o| !o.is_null())
        .map(|mut o| {
            if let Some(labels) = o["metadata"]["labels"].as_object_mut() {
                labels.retain(|k, _| !HELM_LABELS.contains(&k.as_str()));
            }
            o
        })
        .collect();
    let key = |o: &Value| format!("{}/{}/{}", o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]);
    objects.sort_by_key(key);
    objects
}

/// A kubeconfig for the devcluster that authenticates as `namespace`/`sa`
/// with a token from the TokenRequest API, and nothing else.
async fn service_account_kubeconfig(ns: &TestNamespace, namespace: &str, sa: &str, into: &Path) -> kube::Client {
    let accounts: Api<ServiceAccount> = Api::namespaced(ns.client(), namespace);
    let request = json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": { "expirationSeconds": 3600 } });
    let issued: Value = accounts
        .create_subresource("token", sa, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token for ServiceAccount {namespace}/{sa}: {e}"));
    let token = issued["status"]["token"].as_str().expect("an issued token").to_string();
    let mut config = Kubeconfig::read_from(ns.cluster().kubeconfig()).expect("the devcluster's kubeconfig");
    for user in &mut config.auth_infos {
        user.auth_info = Some(kube::config::AuthInfo { token: Some(token.clone().into()), ..Default::default() });
    }
    std::fs::write(into, serde_json::to_string(&config).expect("encode the kubeconfig")).expect("write the kubeconfig");
    let options = kube::config::KubeConfigOptions::default();
    let client_config = kube::Config::from_custom_kubeconfig(config, &options).await.expect("a client config");
    kube::Client::try_from(client_config).expect("a client")
}

/// `driftless controller` of `namespace` as its ServiceAccount, with leader
/// election as the Deployment runs it, comparing every app with Git every
/// `resync` seconds.
fn start_controller(kubeconfig: &Path, namespace: &str, dir: &Path, resync: &str) -> LoggedChild {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["controller", "--namespace", namespace, "--app-resync", resync, "--leader-elect"])
        .args(["--leader-election-namespace", namespace])
        .env("KUBECONFIG", kubeconfig)
        .env("DRIFTLESS_CACHE_DIR", dir.join("controller-cache"));
    LoggedChild::spawn(cmd, &dir.join("controller.log"), "driftless controller")
}

fn application(name: &str, namespace: &str, repo: &str, path: &str, destination: &str, automated: bool) -> Application {
    let mut app = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "project": "default",
            "source": { "repoURL": repo, "path": path, "targetRevision": "main" },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": destination }
        }
    });
    if automated {
        app["spec"]["syncPolicy"] = json!({ "automated": {} });
    }
    serde_json::from_value(app).expect("a valid Application")
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n"
    )
}

fn cluster_role(name: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get]\n"
    )
}

fn crd(group: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
    )
}

/// Waits until `name` is Synced and Healthy-or-Progressing (no kubelet
/// runs pods here: a Deployment never becomes available).
async fn wait_synced(apps: &Api<Application>, name: &str) {
    wait_for(&format!("app {name} to be Synced"), TIMEOUT, || async {
        let app = apps.get(name).await.map_err(|e| e.to_string())?;
        let status = serde_json::to_value(app.status.unwrap_or_default()).map_err(|e| e.to_string())?;
        (status["sync"]["status"] == "Synced" && status["operationState"]["phase"] == "Succeeded").then_some(()).ok_or_else(|| {
            format!("sync {}, operation {}, conditions {}", status["sync"]["status"], status["operationState"], status["conditions"])
        })
    })
    .await
    .expect("the controller syncs the app");
}

#[test]
fn the_chart_lints_and_renders_what_driftless_install_prints() {
    let chart = chart();
    let chart = chart.to_str().expect("a UTF-8 path");
    assert_success(&helm(&["lint", "--strict", chart]));
    assert_success(&helm(&["lint", "--strict", chart, "--set", "namespaceScoped=true", "--set", "server.ingress.enabled=true"]));
    assert_success(&helm(&["lint", "--strict", chart, "--set", "rbac.create=false"]));
    let bad = helm(&["lint", chart, "--set", "server.service.port=70000"]);
    assert!(!bad.status.success(), "a port out of range passes the schema");
    let install = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_driftless")).args(["install", "--dry-run"]).args(args).output().expect("run driftless");
        assert_success(&out);
        stdout(&out)
    };
    // Default values: the cluster-wide install in argocd, CRDs included.
    let rendered = helm(&["template", "driftless", chart, "--namespace", "argocd", "--include-crds"]);
    assert_success(&rendered);
    let installed = comparable(&install(&[]));
    let kinds: Vec<&str> = installed.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in ["CustomResourceDefinition", "ClusterRole", "Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget"] {
        assert!(kinds.contains(&kind), "no {kind} in driftless install --dry-run: {kinds:?}");
    }
    assert_eq!(comparable(&stdout(&rendered)), installed, "helm template and driftless install --dry-run differ");
    assert_eq!(
        comparable(&kustomize(&workspace().join("install/cluster"))),
        installed,
        "kubectl kustomize install/cluster and driftless install --dry-run differ"
    );
    assert_eq!(
        comparable(&kustomize(&workspace().join("install/namespace"))),
        comparable(&install(&["--namespace-scoped"])),
        "kubectl kustomize install/namespace and driftless install --dry-run --namespace-scoped differ"
    );
    // The namespace-scoped variant in another namespace (CRDs skipped, as its users do).
    let rendered = helm(&["template", "driftless", chart, "--namespace", "team-x", "--skip-crds", "--set", "namespaceScoped=true"]);
    assert_success(&rendered);
    assert_eq!(
        comparable(&stdout(&rendered)),
        comparable(&install(&["--namespace", "team-x", "--namespace-scoped"])),
        "the namespace-scoped chart and driftless install differ"
    );
    // Sharding: every replica takes a share instead of one leader, from the
    // chart's values and from driftless install's flags alike.
    let sharded = helm(&[
        "template",
        "driftless",
        chart,
        "--namespace",
        "argocd",
        "--include-crds",
        "--set",
        "controller.sharded=true",
        "--set",
        "controller.replicas=3",
    ]);
    assert_success(&sharded);
    let sharded = comparable(&stdout(&sharded));
    let controller = sharded
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "driftless-controller")
        .expect("the controller's Deployment");
    assert_eq!(controller["spec"]["replicas"], 3);
    let args = &controller["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(args.as_array().is_some_and(|a| a.contains(&json!("--sharded")) && !a.contains(&json!("--leader-elect"))), "{args}");
    assert_eq!(
        comparable(&install(&["--sharded", "--replicas", "3"])),
        sharded,
        "driftless install --sharded --replicas 3 and the chart differ"
    );
    assert_eq!(comparable(&readme_sharding_overlay()), sharded, "the README's kustomize overlay and the chart differ");
    let zero =
        Command::new(env!("CARGO_BIN_EXE_driftless")).args(["install", "--dry-run", "--replicas", "0"]).output().expect("run driftless");
    assert!(!zero.status.success() && String::from_utf8_lossy(&zero.stderr).contains("--replicas"), "no controller at all is refused");
}

#[tokio::test]
async fn the_cluster_wide_install_grants_the_controller_and_the_server_what_they_use() {
    let ns = TestNamespace::new("install").await.expect("a test namespace");
    let target = TestNamespace::new("install-apps").await.expect("the apps' namespace");
    let other = TestNamespace::new("install-other").await.expect("another namespace");
    let dir = tempfile::tempdir().expect("a temp dir");
    let admin = ns.cluster().kubeconfig();

    let out = driftless(admin, dir.path(), &["install", "--namespace", ns.name()]).await;
    assert_success(&out);
    let printed = stdout(&out);
    for line in [
        "CustomResourceDefinition applications.argoproj.io applied".to_string(),
        format!("ClusterRole driftless-controller-{} applied", ns.name()),
        format!("Deployment {}/driftless-server applied", ns.name()),
        format!("driftless installed in namespace {} (cluster-wide)", ns.name()),
    ] {
        assert!(printed.contains(&line), "missing {line:?} in:\n{printed}");
    }
    let deployments: Api<Deployment> = ns.api();
    let controller = deployments.get("driftless-controller").await.expect("the controller's Deployment");
    assert_eq!(controller.spec.and_then(|s| s.template.spec).and_then(|s| s.service_account_name).as_deref(), Some("driftless-controller"));

    // The controller, as its ServiceAccount, syncs a Deployment into another
    // namespace, a ClusterRole and a CRD.
    let suffix = ns.name();
    let repo = GitRepo::new();
    repo.write("app/deploy.yaml", &deployment("web"))
        .write("app/clusterrole.yaml", &cluster_role(&format!("reader-{suffix}")))
        .write("app/crd.yaml", &crd(&format!("{suffix}.example.com")))
        .write("manual/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-the-api\ndata:\n  a: b\n");
    repo.commit("an app with cluster-scoped objects");
    let controller_kubeconfig = dir.path().join("controller.kubeconfig");
    service_account_kubeconfig(&ns, ns.name(), "driftless-controller", &controller_kubeconfig).await;
    let _controller = start_controller(&controller_kubeconfig, ns.name(), dir.path(), "2");
    let apps: Api<Application> = ns.api();
    apps.create(&PostParams::default(), &application("everything", ns.name(), &repo.url(), "app", target.name(), true))
        .await
        .expect("create the app");
    wait_synced(&apps, "everything").await;
    let cluster_roles: Api<ClusterRole> = Api::all(ns.client());
    cluster_roles.get(&format!("reader-{suffix}")).await.expect("the app's ClusterRole");
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client());
    crds.get(&format!("widgets.{suffix}.example.com")).await.expect("the app's CRD");
    target.api::<Deployment>().get("web").await.expect("the app's Deployment");

    // The server, as its ServiceAccount: a sync requested through the API
    // is carried out.
    let server_kubeconfig = dir.path().join("server.kubeconfig");
    let server_client = service_account_kubeconfig(&ns, ns.name(), "driftless-server", &server_kubeconfig).await;
    let listen = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["server", "--namespace", ns.name(), "--listen", &listen.to_string()])
        .env("KUBECONFIG", &server_kubeconfig)
        .env("DRIFTLESS_SERVER_CACHE_DIR", dir.path().join("server-cache"));
    let _server = LoggedChild::spawn(cmd, &dir.path().join("server.log"), "driftless server");
    apps.create(&PostParams::default(), &application("manual", ns.name(), &repo.url(), "manual", target.name(), false))
        .await
        .expect("create the manual app");
    let password = ns.initial_admin_password(TIMEOUT).await.expect("the server writes argocd-initial-admin-secret with its own rights");
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    let token = wait_for("the server to log in admin", TIMEOUT, || async {
        let body = json!({ "username": "admin", "password": password }).to_string();
        let reply = http
            .post(format!("{base}/api/v1/session"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = reply.status();
        let text = reply.text().await.map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(&text).map_err(|_| format!("{status}: {text}"))?;
        value["token"].as_str().map(String::from).ok_or(format!("{status}: {text}"))
    })
    .await
    .expect("a session token");
    let reply = http
        .post(format!("{base}/api/v1/applications/manual/sync?appNamespace={}", ns.name()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request a sync");
    let status = reply.status();
    assert!(status.is_success(), "sync through the API: {status} {}", reply.text().await.unwrap_or_default());
    wait_synced(&apps, "manual").await;
    target.api::<k8s_openapi::api::core::v1::ConfigMap>().get("from-the-api").await.expect("the synced ConfigMap");

    // The server's token reads no Secrets outside the control plane.
    for namespace in [other.name(), target.name(), "default"] {
        let foreign: Api<Secret> = Api::namespaced(server_client.clone(), namespace);
        match foreign.list(&Default::default()).await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "listing Secrets of {namespace}: {s:?}"),
            other => panic!("the server's token lists Secrets of {namespace}: {:?}", other.map(|l| l.items.len())),
        }
    }
    match Api::<Secret>::all(server_client.clone()).list(&Default::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("the server's token lists Secrets cluster-wide: {:?}", other.map(|l| l.items.len())),
    }
}

#[tokio::test]
async fn the_namespace_scoped_install_syncs_into_its_namespace_and_refuses_cluster_scoped_objects() {
    let ns = TestNamespace::new("install-ns").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs (a cluster admin's part)");
    let dir = tempfile::tempdir().expect("a temp dir");

    let out = driftless(ns.cluster().kubeconfig(), dir.path(), &["install", "--namespace", ns.name(), "--namespace-scoped"]).await;
    assert_success(&out);
    let printed = stdout(&out);
    assert!(!printed.contains("ClusterRole") && !printed.contains("CustomResourceDefinition"), "cluster-scoped objects:\n{printed}");
    assert!(printed.contains(&format!("Role {}/driftless-controller applied", ns.name())), "{printed}");

    let repo = GitRepo::new();
    repo.write("ok/deploy.yaml", &deployment("web"));
    repo.write("wide/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\ndata:\n  a: b\n")
        .write("wide/clusterrole.yaml", &cluster_role(&format!("refused-{}", ns.name())));
    repo.commit("an app of the namespace, and one with a ClusterRole");
    let kubeconfig = dir.path().join("controller.kubeconfig");
    service_account_kubeconfig(&ns, ns.name(), "driftless-controller", &kubeconfig).await;
    // A resync far away: only the live watches (in the namespace: the Role
    // allows no cluster-wide one) can notice a change.
    let _controller = start_controller(&kubeconfig, ns.name(), dir.path(), "600");
    let apps: Api<Application> = ns.api();
    apps.create(&PostParams::default(), &application("ok", ns.name(), &repo.url(), "ok", ns.name(), true)).await.expect("create");
    apps.create(&PostParams::default(), &application("wide", ns.name(), &repo.url(), "wide", ns.name(), true)).await.expect("create");
    wait_synced(&apps, "ok").await;
    let deployments: Api<Deployment> = ns.api();
    deployments.get("web").await.expect("the app's Deployment");
    let scale = json!({ "spec": { "replicas": 3 } });
    deployments.patch("web", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&scale)).await.expect("scale the Deployment");
    wait_for("the edit to show as drift", TIMEOUT, || async {
        let app = apps.get("ok").await.map_err(|e| e.to_string())?;
        let sync = serde_json::to_value(app.status.unwrap_or_default()).map_err(|e| e.to_string())?["sync"]["status"].clone();
        (sync == "OutOfSync").then_some(()).ok_or(format!("sync {sync}"))
    })
    .await
    .expect("a live watch in the namespace notices the edit");

    let reason = wait_for("app wide to be refused", TIMEOUT, || async {
        let app = apps.get("wide").await.map_err(|e| e.to_string())?;
        let status = serde_json::to_value(app.status.unwrap_or_default()).map_err(|e| e.to_string())?;
        let messages = status["conditions"].as_array().into_iter().flatten().filter_map(|c| c["message"].as_str());
        let mut found = messages.chain(status["operationState"]["message"].as_str()).filter(|m| m.contains("ClusterRole"));
        found.next().map(String::from).ok_or_else(|| format!("status: {status}"))
    })
    .await
    .expect("a condition naming the ClusterRole");
    assert!(reason.contains("cluster-scoped"), "{reason}");
    let cluster_roles: Api<ClusterRole> = Api::all(ns.client());
    assert!(
        cluster_roles.get_opt(&format!("refused-{}", ns.name())).await.expect("read ClusterRoles").is_none(),
        "the ClusterRole was created"
    );
}

#[tokio::test]
async fn the_chart_installs_on_the_cluster() {
    let ns = TestNamespace::new("install-helm").await.expect("a test namespace");
    let chart = chart();
    let kubeconfig = ns.cluster().kubeconfig().to_str().expect("a UTF-8 path").to_string();
    let out = helm(&[
        "install",
        "driftless",
        chart.to_str().expect("a UTF-8 path"),
        "--namespace",
        ns.name(),
        "--kubeconfig",
        &kubeconfig,
        "--set",
        "configs.rbac.policy\\.default=role:readonly",
    ]);
    assert_success(&out);
    let deployments: Api<Deployment> = ns.api();
    let server = deployments.get("driftless-server").await.expect("the chart's server Deployment");
    assert_eq!(server.metadata.labels.unwrap_or_default().get("app.kubernetes.io/managed-by").map(String::as_str), Some("Helm"));
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = ns.api();
    let rbac = cms.get("argocd-rbac-cm").await.expect("argocd-rbac-cm from configs.rbac");
    assert_eq!(rbac.data.unwrap_or_default().get("policy.default").map(String::as_str), Some("role:readonly"));
    let cluster_roles: Api<ClusterRole> = Api::all(ns.client());
    cluster_roles.get(&format!("driftless-server-{}", ns.name())).await.expect("the server's ClusterRole, named for the namespace");
}

#[tokio::test]
async fn bootstrap_commits_installs_and_then_applies_a_commit_to_itself() {
    let ns = TestNamespace::new("bootstrap").await.expect("a test namespace");
    let dir = tempfile::tempdir().expect("a temp dir");
    let repo = GitRepo::new();
    repo.write("README.md", "the platform's config\n");
    repo.commit("start");
    // Bootstrap pushes to the branch this working repository has out.
    repo.git(&["config", "receive.denyCurrentBranch", "updateInstead"]);
    // The controller the installed Deployment would run, run here (as
    // cluster admin: the RBAC is the other tests' business). It exits while
    // the CRDs are missing (a pod would restart until bootstrap applied
    // them): they are there first.
    install_crds(&ns.client()).await.expect("install CRDs");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["controller", "--namespace", ns.name(), "--app-resync", "2"])
        .env("KUBECONFIG", ns.cluster().kubeconfig())
        .env("DRIFTLESS_CACHE_DIR", dir.path().join("controller-cache"));
    let _controller = LoggedChild::spawn(cmd, &dir.path().join("controller.log"), "driftless controller");

    let url = repo.url();
    let args = ["bootstrap", "--repo", &url, "--path", "clusters/dev/driftless", "--namespace", ns.name(), "--timeout", "120"];
    let out = driftless(ns.cluster().kubeconfig(), dir.path(), &args).await;
    assert_success(&out);
    let printed = stdout(&out);
    assert!(printed.contains("committed clusters/dev/driftless/driftless.yaml"), "{printed}");
    assert!(printed.contains("sync Synced, health Healthy"), "{printed}");
    let committed = std::fs::read_to_string(repo.path().join("clusters/dev/driftless/driftless.yaml")).expect("the manifests in Git");
    assert!(committed.contains("name: driftless-controller"), "{committed}");

    // An upgrade is a commit: driftless applies it to itself.
    let changed = committed.replace("memory: 2Gi", "memory: 3Gi");
    assert_ne!(changed, committed, "the controller has a 2Gi memory limit to change:\n{committed}");
    repo.write("clusters/dev/driftless/driftless.yaml", &changed);
    repo.commit("more memory for the controller");
    let deployments: Api<Deployment> = ns.api();
    wait_for("the controller's new limit to be applied", TIMEOUT, || async {
        let d = deployments.get("driftless-controller").await.map_err(|e| e.to_string())?;
        let limits = d.spec.and_then(|s| s.template.spec).map(|s| s.containers[0].resources.clone()).unwrap_or_default();
        let memory = limits.and_then(|r| r.limits).and_then(|l| l.get("memory").map(|q| q.0.clone()));
        (memory.as_deref() == Some("3Gi")).then_some(()).ok_or(format!("memory limit {memory:?}"))
    })
    .await
    .expect("driftless applies its own upgrade");

    // Bootstrapping again leaves the repository's manifests, and what they
    // installed, alone.
    let again = driftless(ns.cluster().kubeconfig(), dir.path(), &args).await;
    assert_success(&again);
    assert!(stdout(&again).contains("already holds manifests"), "{}", stdout(&again));
    assert!(!stdout(&again).contains("Deployment"), "nothing is applied over what Git says: {}", stdout(&again));
}
