//! `driftless cluster ...` against two real clusters: the shared devcluster
//! is the control plane (the kubeconfig's current context), a second
//! devcluster started by the test is the remote. Everything a user does goes
//! through the CLI binary: registering the remote, creating and syncing an
//! app that deploys there, removing the remote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use driftless_testkit::{DevCluster, GitRepo, LoggedChild, TestNamespace, assert_success, install_crds, run_cli, stderr, stdout, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::config::Kubeconfig;
use serde_json::{Value, json};

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Where the app deploys in the remote cluster (its sync creates it).
const REMOTE_NS: &str = "from-control-plane";

/// Runs the driftless binary with `kubeconfig`.
async fn driftless(kubeconfig: &Path, cache: &Path, args: &[&str]) -> Output {
    run_cli(env!("CARGO_BIN_EXE_driftless"), kubeconfig, cache, args).await
}

fn json_of(out: &Output) -> Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// One kubeconfig with both clusters: context `control-ctx` (current) and
/// `remote-ctx`, as a user who works with two clusters has.
fn merged_kubeconfig(control: &Path, remote: &Path, into: &Path) {
    let mut merged = Kubeconfig::default();
    for (path, label) in [(control, "control"), (remote, "remote")] {
        let mut k = Kubeconfig::read_from(path).expect("read a devcluster kubeconfig");
        let (mut cluster, mut user, mut context) = (k.clusters.remove(0), k.auth_infos.remove(0), k.contexts.remove(0));
        cluster.name = label.into();
        user.name = format!("{label}-admin");
        context.name = format!("{label}-ctx");
        let c = context.context.as_mut().expect("a context");
        c.cluster = label.into();
        c.user = Some(format!("{label}-admin"));
        merged.clusters.push(cluster);
        merged.auth_infos.push(user);
        merged.contexts.push(context);
    }
    merged.current_context = Some("control-ctx".into());
    std::fs::write(into, serde_json::to_string(&merged).expect("encode the kubeconfig")).expect("write the kubeconfig");
}

/// A `driftless controller` for the test's namespace, which is also its
/// control-plane namespace (where the cluster Secret is).
fn start_controller(kubeconfig: &Path, namespace: &str, dir: &Path) -> LoggedChild {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["controller", "--namespace", namespace, "--app-resync", "2"])
        .env("KUBECONFIG", kubeconfig)
        .env("DRIFTLESS_CACHE_DIR", dir.join("cache"));
    LoggedChild::spawn(cmd, &dir.join("controller.log"), "driftless controller")
}

#[tokio::test]
async fn a_cluster_added_from_a_context_is_deployed_to_through_the_cli_and_removed() {
    let ns = TestNamespace::new("cluster-cli").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let dir = tempfile::tempdir().expect("a temp dir");
    let remote_dir = dir.path().join("remote");
    std::fs::create_dir_all(&remote_dir).expect("create the remote's dir");
    let remote = DevCluster::start(&remote_dir).expect("a second devcluster");
    let kubeconfig: PathBuf = dir.path().join("kubeconfig");
    merged_kubeconfig(ns.cluster().kubeconfig(), remote.kubeconfig(), &kubeconfig);
    let cache = dir.path().join("cli-cache");
    let run = |args: Vec<&str>| {
        let (kubeconfig, cache) = (kubeconfig.clone(), cache.clone());
        let args: Vec<String> = args.into_iter().map(String::from).chain(["-N".into(), ns.name().into()]).collect();
        async move { driftless(&kubeconfig, &cache, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };

    // Register the remote: a cluster Secret in the control plane, with the label.
    let added = json_of(&run(vec!["cluster", "add", "remote-ctx", "--name", "remote", "-o", "json"]).await);
    let secret_name = added["secret"].as_str().expect("the Secret's name").to_string();
    let remote_url = Kubeconfig::read_from(remote.kubeconfig()).expect("kubeconfig").clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone())
        .expect("the remote's URL");
    assert_eq!((added["name"].clone(), added["server"].clone()), (json!("remote"), json!(remote_url)));
    let secret = ns.api::<Secret>().get(&secret_name).await.expect("the cluster Secret");
    assert_eq!(secret.metadata.labels.unwrap_or_default().get("argocd.argoproj.io/secret-type").map(String::as_str), Some("cluster"));
    let config: Value = serde_json::from_slice(&secret.data.expect("data")["config"].0).expect("config JSON");
    let token = config["bearerToken"].as_str().expect("a token").to_string();

    // Listed, probed from here: reachable, with its version; no credential printed.
    let list = run(vec!["cluster", "list", "-o", "json"]).await;
    assert!(!stdout(&list).contains(&token), "a credential was printed");
    let clusters = json_of(&list);
    let listed = clusters.as_array().expect("a list").iter().find(|c| c["name"] == "remote").expect("the remote listed").clone();
    assert_eq!(listed["server"], remote_url.as_str());
    assert_eq!(listed["connectionState"]["status"], "Successful", "{listed}");
    assert!(!listed["serverVersion"].as_str().unwrap_or_default().is_empty(), "{listed}");
    let table = stdout(&run(vec!["cluster", "list"]).await);
    assert!(table.starts_with("SERVER") && table.lines().any(|l| l.contains("remote") && l.contains("Successful")), "{table}");

    // An app deploying to the remote by name, created and synced through the CLI.
    let _controller = start_controller(&kubeconfig, ns.name(), dir.path());
    let repo = GitRepo::new();
    repo.write("greeting/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  hello: remote\n");
    repo.commit("a ConfigMap");
    let url = repo.url();
    let create = ["app", "create", "greeting", "--repo", &url, "--path", "greeting", "--revision", "main"];
    let to_remote = ["--dest-name", "remote", "--dest-namespace", REMOTE_NS, "--sync-option", "CreateNamespace=true"];
    assert_success(&run([&create[..], &to_remote[..]].concat()).await);
    assert_success(&run(vec!["app", "sync", "greeting", "--timeout", "90"]).await);
    let remote_client = remote.client().await.expect("a client for the remote");
    let remote_cms: Api<ConfigMap> = Api::namespaced(remote_client, REMOTE_NS);
    let cm = wait_for("the ConfigMap in the remote cluster", TIMEOUT, || async {
        remote_cms.get_opt("greeting").await.map_err(|e| e.to_string())?.ok_or_else(|| "not yet".to_string())
    })
    .await
    .expect("the app deploys to the remote");
    assert_eq!(cm.data.unwrap_or_default().get("hello").map(String::as_str), Some("remote"));
    let control_cms: Api<ConfigMap> = Api::namespaced(ns.client(), REMOTE_NS);
    assert!(control_cms.get_opt("greeting").await.ok().flatten().is_none(), "nothing deployed to the control plane");
    wait_for("the app to be Synced", TIMEOUT, || async {
        let app = json_of(&run(vec!["app", "get", "greeting", "-o", "json"]).await);
        if app["status"]["sync"]["status"] == "Synced" { Ok(()) } else { Err(app["status"].to_string()) }
    })
    .await
    .expect("Synced");
    let shown = json_of(&run(vec!["cluster", "get", "remote", "-o", "json"]).await);
    assert_eq!((shown["info"]["applicationsCount"].clone(), shown["info"]["cacheInfo"]["resourcesCount"].clone()), (json!(1), json!(1)));

    // The own cluster cannot be removed; the remote goes with its Secret.
    let refused = run(vec!["cluster", "rm", "in-cluster", "-y"]).await;
    assert!(!refused.status.success() && stderr(&refused).contains("cannot be removed"), "{}", stderr(&refused));
    assert_success(&run(vec!["cluster", "rm", remote_url.as_str(), "-y"]).await);
    assert!(ns.api::<Secret>().get_opt(&secret_name).await.expect("read").is_none(), "the cluster Secret is deleted");
    let gone = run(vec!["cluster", "get", "remote"]).await;
    assert!(!gone.status.success(), "the remote is no longer registered");
}

#[tokio::test]
async fn getting_an_unknown_cluster_fails_and_says_where_it_looked() {
    let ns = TestNamespace::new("cluster-cli-unknown").await.expect("a test namespace");
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = driftless(ns.cluster().kubeconfig(), dir.path(), &["cluster", "get", "nope", "-N", ns.name()]).await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("cluster \"nope\" not found") && err.contains(ns.name()) && err.contains("driftless cluster list"), "{err}");
}

/// Runs the CLI against the control plane in the test's namespace.
async fn cli(ns: &TestNamespace, cache: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["-N", ns.name()]);
    driftless(ns.cluster().kubeconfig(), cache, &all).await
}

#[tokio::test]
async fn repositories_and_templates_are_registered_listed_and_removed_without_a_credential_shown() {
    let ns = TestNamespace::new("repo-cli").await.expect("namespace");
    let cache = tempfile::tempdir().expect("temp dir");
    let kubeconfig = ns.cluster().kubeconfig().to_path_buf();
    const PASSWORD: &str = "hunter2-never-shown";
    // A repository on this machine: `repo add` tests the connection first.
    let repo = GitRepo::new();
    repo.write("README.md", "team\n");
    repo.commit("first");
    let url = repo.url();
    // The password through stdin, as a script should pass it.
    let mut add = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["repo", "add", &url, "--username", "bot", "--password-stdin", "-N", ns.name()])
        .env("KUBECONFIG", &kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run driftless");
    use std::io::Write as _;
    add.stdin.take().expect("stdin").write_all(format!("{PASSWORD}\n").as_bytes()).expect("write the password");
    let added = add.wait_with_output().expect("driftless repo add");
    assert_success(&added);
    assert!(stdout(&added).contains(&format!("repository '{url}' added")), "{}", stdout(&added));

    let listed = json_of(&cli(&ns, cache.path(), &["repo", "list", "-o", "json"]).await);
    assert_eq!(listed[0]["repo"], url.as_str());
    assert_eq!(listed[0]["connectionState"]["status"], "Successful", "{listed}");
    assert_eq!((listed[0]["username"].clone(), listed[0]["credentials"].clone()), (json!("bot"), json!(["password"])));
    let secret_name = listed[0]["secret"].as_str().expect("secret").to_string();
    let secret = ns.api::<Secret>().get(&secret_name).await.expect("the repository Secret");
    assert_eq!(secret.metadata.labels.unwrap_or_default().get("argocd.argoproj.io/secret-type").map(String::as_str), Some("repository"));
    assert_eq!(secret.data.expect("data")["password"].0, PASSWORD.as_bytes(), "stored as given, without the newline");

    // Other settings without --upsert: refused; with it: replaced.
    let again = cli(&ns, cache.path(), &["repo", "add", &url, "--username", "other"]).await;
    assert!(!again.status.success() && stderr(&again).contains("already registered"), "{}", stderr(&again));
    assert_success(&cli(&ns, cache.path(), &["repo", "add", &url, "--username", "other", "--upsert"]).await);
    // Hostile input is refused, naming the field and never the value.
    let bad = cli(&ns, cache.path(), &["repo", "add", "not a url"]).await;
    assert!(!bad.status.success() && stderr(&bad).contains("repo:"), "{}", stderr(&bad));
    let bad = cli(&ns, cache.path(), &["repo", "add", "https://git.example/x", "--password", "multi\nline-secret"]).await;
    assert!(!bad.status.success() && stderr(&bad).contains("password") && !stderr(&bad).contains("line-secret"), "{}", stderr(&bad));

    // A repository that does not answer is not stored.
    let missing = format!("file://{}/nothing-here", cache.path().display());
    let out = cli(&ns, cache.path(), &["repo", "add", &missing]).await;
    assert!(!out.status.success() && stderr(&out).contains("connection test"), "{}", stderr(&out));
    assert_eq!(json_of(&cli(&ns, cache.path(), &["repo", "list", "-o", "json"]).await).as_array().map(Vec::len), Some(1));

    // A template for everything under a prefix (not tested, as in Argo CD).
    assert_success(
        &cli(&ns, cache.path(), &["repocreds", "add", "https://git.example", "--username", "bot", "--password", PASSWORD]).await,
    );
    let templates = json_of(&cli(&ns, cache.path(), &["repocreds", "list", "-o", "json"]).await);
    assert_eq!(templates.as_array().map(Vec::len), Some(1), "{templates}");
    let table = stdout(&cli(&ns, cache.path(), &["repocreds", "list"]).await);
    assert!(table.starts_with("REPO") && table.contains("https://git.example") && table.contains("password"), "{table}");
    for out in [
        cli(&ns, cache.path(), &["repo", "list"]).await,
        cli(&ns, cache.path(), &["repo", "get", &url]).await,
        cli(&ns, cache.path(), &["repocreds", "list", "-o", "yaml"]).await,
    ] {
        assert_success(&out);
        assert!(!stdout(&out).contains(PASSWORD) && !stderr(&out).contains(PASSWORD), "a credential was printed:\n{}", stdout(&out));
    }

    assert_success(&cli(&ns, cache.path(), &["repo", "rm", &url, "-y"]).await);
    let gone = cli(&ns, cache.path(), &["repo", "get", &url]).await;
    assert!(!gone.status.success() && stderr(&gone).contains("not registered"), "{}", stderr(&gone));
    assert_success(&cli(&ns, cache.path(), &["repocreds", "rm", "https://git.example", "-y"]).await);
}

#[tokio::test]
async fn private_repositories_added_through_the_cli_sync_fail_clearly_and_never_show_a_credential() {
    let ns = TestNamespace::new("private-cli").await.expect("namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let dir = tempfile::tempdir().expect("temp dir");
    const PASSWORD: &str = "s3cret-token-never-shown";
    let server = driftless_testkit::GitHttpServer::start(driftless_testkit::GitHttpOptions {
        basic_auth: Some(("git".into(), PASSWORD.into())),
        ..Default::default()
    });
    let repo = GitRepo::new();
    repo.write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: private-web\ndata:\n  k: v\n");
    repo.commit("web");
    let url = server.serve("team.git", repo.path());

    // A wrong password: refused by the connection test, nothing stored.
    let wrong = cli(&ns, dir.path(), &["repo", "add", &url, "--username", "git", "--password", "not-the-password"]).await;
    assert!(!wrong.status.success() && stderr(&wrong).contains("connection test"), "{}", stderr(&wrong));
    assert!(!stderr(&wrong).contains("not-the-password"), "the refusal quotes the password: {}", stderr(&wrong));
    assert_success(&cli(&ns, dir.path(), &["repo", "add", &url, "--username", "git", "--password", PASSWORD]).await);

    let mut controller = Command::new(env!("CARGO_BIN_EXE_driftless"));
    controller
        .args(["controller", "--namespace", ns.name(), "--app-resync", "2"])
        .env("KUBECONFIG", ns.cluster().kubeconfig())
        .env("DRIFTLESS_CACHE_DIR", dir.path().join("cache"))
        .env("RUST_LOG", "debug,kube=info,hyper=info,tower=info,h2=info,rustls=info");
    let controller = LoggedChild::spawn(controller, &dir.path().join("controller.log"), "driftless controller");
    let mut create: Vec<&str> =
        "app create web --path web --revision main --dest-server https://kubernetes.default.svc".split(' ').collect();
    create.extend(["--repo", &url, "--dest-namespace", ns.name()]);
    assert_success(&cli(&ns, dir.path(), &create).await);
    assert_success(&cli(&ns, dir.path(), &["app", "sync", "web", "--timeout", "90"]).await);
    let cms: Api<ConfigMap> = ns.api();
    wait_for("the private repository's ConfigMap", TIMEOUT, || async {
        cms.get_opt("private-web").await.map_err(|e| e.to_string())?.ok_or_else(|| "not yet".to_string())
    })
    .await
    .expect("synced from the private repository");

    // SSH with a key, from a file: the connection test needs the host's key.
    let ssh = driftless_testkit::SshGitServer::start();
    let ssh_repo = GitRepo::new();
    ssh_repo.write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: private-ssh\ndata:\n  k: v\n");
    ssh_repo.commit("web");
    let ssh_url = ssh.url(ssh_repo.path());
    let key_file = dir.path().join("id");
    std::fs::write(&key_file, &ssh.client_key).expect("write the key file");
    let known = serde_json::from_value(
        json!({ "metadata": { "name": "argocd-ssh-known-hosts-cm" }, "data": { "ssh_known_hosts": ssh.known_hosts } }),
    );
    cms.create(&Default::default(), &known.expect("a ConfigMap")).await.expect("create argocd-ssh-known-hosts-cm");
    assert_success(&cli(&ns, dir.path(), &["repo", "add", &ssh_url, "--ssh-private-key-path", &key_file.to_string_lossy()]).await);
    // The same sshd as localhost: a host key nobody listed.
    let stranger_url = ssh_url.replace("@127.0.0.1:", "@localhost:");
    let stranger = serde_json::from_value(json!({
        "metadata": { "name": "stranger", "labels": { "argocd.argoproj.io/secret-type": "repository" } },
        "stringData": { "url": stranger_url, "sshPrivateKey": ssh.client_key },
    }));
    ns.api::<Secret>().create(&Default::default(), &stranger.expect("a Secret")).await.expect("create the stranger's Secret");
    for (app, repo_url) in [("ssh-web", &ssh_url), ("stranger", &stranger_url)] {
        let mut create: Vec<&str> = vec!["app", "create", app, "--path", "web", "--revision", "main", "--sync-policy", "automated"];
        create.extend(["--dest-server", "https://kubernetes.default.svc", "--repo", repo_url, "--dest-namespace", ns.name()]);
        assert_success(&cli(&ns, dir.path(), &create).await);
    }
    wait_for("the SSH repository's ConfigMap", TIMEOUT, || async {
        cms.get_opt("private-ssh").await.map_err(|e| e.to_string())?.ok_or_else(|| "not yet".to_string())
    })
    .await
    .expect("synced over SSH");
    // The server's password changes: the stored one is now wrong.
    server.set_basic_auth("git", "the-servers-new-password");
    repo.write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: private-web\ndata:\n  k: v2\n").commit("v2");
    for (app, says) in [("web", "Authentication failed"), ("stranger", "Host key verification failed")] {
        wait_for(says, TIMEOUT, || async {
            let got = cli(&ns, dir.path(), &["app", "get", app, "-o", "json"]).await;
            stdout(&got).contains(says).then_some(()).ok_or_else(|| stdout(&got))
        })
        .await
        .expect("a clear condition");
    }

    let mut shown = controller.log();
    let apps =
        [&["app", "get", "web", "-o", "json"][..], &["app", "get", "ssh-web", "-o", "json"], &["app", "get", "stranger", "-o", "json"]];
    for args in apps.into_iter().chain([&["repo", "list", "-o", "yaml"][..], &["repo", "get", &url]]) {
        let out = cli(&ns, dir.path(), args).await;
        assert_success(&out);
        shown.push_str(&stdout(&out));
        shown.push_str(&stderr(&out));
    }
    let events = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(ns.cluster().kubeconfig())
        .args(["get", "events", "-o", "json", "--namespace", ns.name()])
        .output()
        .expect("kubectl");
    shown.push_str(&String::from_utf8_lossy(&events.stdout));
    assert!(shown.contains("private-web") && shown.contains("reconciled"), "the scan read the logs and outputs");
    assert!(shown.contains("Authentication failed") && shown.contains("Host key verification failed"), "the scan read the failures");
    assert!(!shown.contains(PASSWORD), "the password shows in the controller's log, an output or an Event");
    for line in ssh.client_key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(line), "the SSH key shows in the controller's log, an output or an Event");
    }
    assert!(server.authorizations().iter().flatten().count() > 0, "the server was asked with credentials");
}
