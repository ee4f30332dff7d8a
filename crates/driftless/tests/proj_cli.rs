//! `driftless proj ...` against the dev control plane: a project built up
//! through the CLI (sources, destinations, a sync window, a role with
//! policies), a role token created by the CLI and used against a running
//! `driftless server`, then revoked by the CLI and refused.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::time::Duration;

use driftless_api::{AppProject, Application};
use driftless_testkit::{LoggedChild, TestNamespace, assert_success, install_crds, run_cli, stderr, stdout, wait_for};
use kube::api::PostParams;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(90);
const IN_CLUSTER: &str = "https://kubernetes.default.svc";

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound address")
}

fn json_of(out: &Output) -> Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// One HTTP/1.1 request with a bearer token: the status and the body.
async fn call(addr: SocketAddr, method: &str, path: &str, token: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect to the server");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    tcp.write_all(req.as_bytes()).await.expect("send");
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).await.expect("read");
    let status = resp.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

#[tokio::test]
async fn a_project_built_through_the_cli_and_its_role_token_used_then_revoked() {
    let ns = TestNamespace::new("proj-cli").await.expect("namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let dir = tempfile::tempdir().expect("a temp dir");
    let kubeconfig = ns.cluster().kubeconfig().to_path_buf();
    let cache = dir.path().join("cli-cache");
    let run = |args: Vec<&str>| {
        let (kubeconfig, cache) = (kubeconfig.clone(), cache.clone());
        let args: Vec<String> = args.into_iter().map(String::from).chain(["-N".into(), ns.name().into()]).collect();
        async move { run_cli(env!("CARGO_BIN_EXE_driftless"), &kubeconfig, &cache, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    // The server first: it generates the signing key the CLI signs with.
    let listen = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["server", "--namespace", ns.name(), "--listen", &listen.to_string()]).env("KUBECONFIG", &kubeconfig);
    let _server = LoggedChild::spawn(cmd, &dir.path().join("server.log"), "driftless server");
    wait_for("the server to listen", TIMEOUT, || async {
        tokio::net::TcpStream::connect(listen).await.map(drop).map_err(|e| e.to_string())
    })
    .await
    .expect("server up");
    // It listens before it has made its keys (argocd-secret): it answers once they are.
    wait_for("the server to answer", TIMEOUT, || async {
        match call(listen, "GET", "/healthz", "").await {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await
    .expect("server serving");

    // Build the project.
    let dest = format!("{IN_CLUSTER},{}", ns.name());
    let created = json_of(
        &run(vec!["proj", "create", "team", "-d", &dest, "-s", "https://git.example/team.git", "--description", "The team", "-o", "json"])
            .await,
    );
    assert_eq!((created["metadata"]["name"].clone(), created["metadata"]["namespace"].clone()), (json!("team"), json!(ns.name())));
    // A change prints the project as stored with -o json, one line without.
    let changed = json_of(&run(vec!["proj", "add-source", "team", "https://git.example/more.git", "-o", "json"]).await);
    assert_eq!(changed["spec"]["sourceRepos"], json!(["https://git.example/team.git", "https://git.example/more.git"]), "{changed}");
    assert!(changed["metadata"]["resourceVersion"].is_string(), "as stored: {changed}");
    let line = stdout(&run(vec!["proj", "add-destination", "team", IN_CLUSTER, "other-ns"]).await);
    assert_eq!(line, format!("project 'team': destination {IN_CLUSTER} other-ns added\n"));
    assert_success(&run(vec!["proj", "deny-namespace-resource", "team", "", "ResourceQuota"]).await);
    let again = run(vec!["proj", "add-source", "team", "https://git.example/more.git"]).await;
    assert!(!again.status.success() && stderr(&again).contains("already has source"), "{}", stderr(&again));
    let got = json_of(&run(vec!["proj", "get", "team", "-o", "json"]).await);
    assert_eq!(got["spec"]["sourceRepos"], json!(["https://git.example/team.git", "https://git.example/more.git"]));
    assert_eq!(got["spec"]["destinations"].as_array().map(Vec::len), Some(2));
    assert_eq!(got["spec"]["namespaceResourceBlacklist"], json!([{ "group": "", "kind": "ResourceQuota" }]));
    let listed = stdout(&run(vec!["proj", "list"]).await);
    assert!(listed.starts_with("NAME") && listed.lines().any(|l| l.starts_with("team") && l.contains("The team")), "{listed}");

    // A sync window; hostile schedules and durations are refused, naming the flag.
    // It is not web's: web is synced below whatever the time of day.
    let window =
        ["--kind", "deny", "--schedule", "0 22 * * *", "--duration", "1h", "--applications", "api,db", "--time-zone", "Europe/Paris"];
    assert_success(&run([&["proj", "windows", "add", "team"][..], &window[..], &["--manual-sync"][..]].concat()).await);
    for (flag, bad) in [("--schedule", "rm -rf /"), ("--schedule", "* * *"), ("--duration", "forever"), ("--time-zone", "../../etc/passwd")]
    {
        let mut args = vec!["proj", "windows", "add", "team", "--kind", "allow", "--schedule", "0 1 * * *", "--duration", "1h"];
        match flag {
            "--time-zone" => args.extend(["--time-zone", bad]),
            _ => {
                let at = args.iter().position(|a| *a == flag).expect("the flag") + 1;
                args[at] = bad;
            }
        }
        let out = run(args).await;
        assert!(!out.status.success() && stderr(&out).contains(flag), "{flag} {bad:?}: {}", stderr(&out));
    }
    let windows = json_of(&run(vec!["proj", "windows", "list", "team", "-o", "json"]).await);
    assert_eq!(windows.as_array().map(Vec::len), Some(1), "{windows}");
    assert_eq!((windows[0]["kind"].clone(), windows[0]["manualSync"].clone()), (json!("deny"), json!(true)));
    assert_eq!(windows[0]["applications"], json!(["api", "db"]));
    let out = run(vec!["proj", "windows", "disable-manual-sync", "team", "0", "-o", "yaml"]).await;
    assert_success(&out);
    let changed: AppProject = serde_saphyr::from_str(&stdout(&out)).expect("a YAML AppProject");
    assert!(!changed.spec.sync_windows[0].manual_sync);
    let table = stdout(&run(vec!["proj", "windows", "list", "team"]).await);
    // Open from 22:00 to 23:00 in Paris, as the controller judges it.
    let open = k8s_openapi::jiff::Timestamp::now().in_tz("Europe/Paris").expect("a known zone").hour() == 22;
    let status = if open { "Active" } else { "Inactive" };
    assert!(
        table.starts_with("ID")
            && table.lines().nth(1).is_some_and(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols[0] == "0" && cols[1] == status && l.contains("deny") && l.contains("Disabled") && l.contains("UTC")
            }),
        "{table}"
    );
    let out = run(vec!["proj", "windows", "delete", "team", "7"]).await;
    assert!(!out.status.success() && stderr(&out).contains("no sync window 7"), "{}", stderr(&out));

    // A role with policies, written as Argo CD writes them.
    assert_success(&run(vec!["proj", "role", "create", "team", "ci"]).await);
    assert_success(&run(vec!["proj", "role", "add-policy", "team", "ci", "-a", "get", "-o", "*"]).await);
    // -o is the policy's object here, as in Argo CD: the format is --output.
    let changed = json_of(&run(vec!["proj", "role", "add-policy", "team", "ci", "-a", "sync", "-o", "web", "--output", "json"]).await);
    assert_eq!(
        changed["spec"]["roles"][0]["policies"],
        json!(["p, proj:team:ci, applications, get, team/*, allow", "p, proj:team:ci, applications, sync, team/web, allow"])
    );
    let project: AppProject = ns.api::<AppProject>().get("team").await.expect("project");
    assert_eq!(
        project.spec.roles[0].policies,
        ["p, proj:team:ci, applications, get, team/*, allow", "p, proj:team:ci, applications, sync, team/web, allow"]
    );
    let out = run(vec!["proj", "role", "add-policy", "team", "nope", "-a", "get"]).await;
    assert!(!out.status.success() && stderr(&out).contains("no role \"nope\""), "{}", stderr(&out));
    let out = run(vec!["proj", "get", "missing"]).await;
    assert!(!out.status.success() && stderr(&out).contains("not found"), "{}", stderr(&out));

    // The token: created by the CLI, accepted by the server.
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "web", "namespace": ns.name() },
        "spec": { "project": "team", "source": { "repoURL": "https://git.example/team.git", "path": "." },
                  "destination": { "server": IN_CLUSTER, "namespace": ns.name() } },
    }))
    .expect("app");
    ns.api::<Application>().create(&PostParams::default(), &app).await.expect("create app");
    let created = json_of(&run(vec!["proj", "role", "create-token", "team", "ci", "-e", "1h", "--id", "cli-1", "-o", "json"]).await);
    let token = created["token"].as_str().expect("a token").to_string();
    let iat = created["iat"].as_i64().expect("iat");
    assert_eq!((created["id"].clone(), created["exp"].as_i64()), (json!("cli-1"), Some(iat + 3600)));
    let sync = format!("/api/v1/applications/web/sync?appNamespace={}", ns.name());
    wait_for("the server to accept the CLI's token", TIMEOUT, || async {
        match call(listen, "POST", &sync, &token).await {
            (200, _) => Ok(()),
            other => Err(other),
        }
    })
    .await
    .expect("the token syncs its project's app");
    let op = ns.api::<Application>().get("web").await.expect("app").operation.expect("a sync requested");
    assert_eq!(op.initiated_by.and_then(|i| i.username).as_deref(), Some("proj:team:ci"));
    let (status, body) = call(listen, "DELETE", &format!("/api/v1/applications/web?appNamespace={}", ns.name()), &token).await;
    assert_eq!(status, 403, "only what the role says: {body}");
    let role = json_of(&run(vec!["proj", "role", "get", "team", "ci", "-o", "json"]).await);
    assert_eq!(role["tokens"], json!([{ "id": "cli-1", "iat": iat, "exp": iat + 3600 }]), "{role}");
    let shown = stdout(&run(vec!["proj", "role", "get", "team", "ci"]).await);
    assert!(shown.contains("cli-1") && shown.contains(&iat.to_string()), "{shown}");
    assert!(!shown.contains(&token), "a token is printed only when created");

    // Revoked by the CLI: refused.
    let changed = json_of(&run(vec!["proj", "role", "delete-token", "team", "ci", &iat.to_string(), "-o", "json"]).await);
    assert_eq!(changed["spec"]["roles"][0].get("jwtTokens"), None, "{changed}");
    wait_for("the server to refuse the revoked token", TIMEOUT, || async {
        match call(listen, "GET", &format!("/api/v1/applications/web?appNamespace={}", ns.name()), &token).await {
            (401, _) => Ok(()),
            other => Err(other),
        }
    })
    .await
    .expect("refused");
    let project: AppProject = ns.api::<AppProject>().get("team").await.expect("project");
    assert!(project.spec.roles[0].jwt_tokens.is_empty());

    // A project in use is not deleted; an unused one is.
    let out = run(vec!["proj", "delete", "team"]).await;
    assert!(!out.status.success() && stderr(&out).contains("used by 1 application"), "{}", stderr(&out));
    assert_success(&run(vec!["proj", "create", "spare"]).await);
    assert_eq!(json_of(&run(vec!["proj", "delete", "spare", "-o", "json"]).await), json!({ "deleted": "spare" }));
    assert!(ns.api::<AppProject>().get_opt("spare").await.expect("read").is_none());
}
