//! Private Git repositories: apps from an HTTPS server with basic auth (a
//! credential template serving two repositories), from sshd with a key and
//! known hosts; a wrong password and an unknown host key are clear
//! conditions that prune nothing, and so is a changed host key on an app
//! that synced before; a rotated password applies without a restart; no
//! credential shows in the apps' status or Events.

mod common;

use common::{World, configmap};
use driftless_api::Application;
use driftless_testkit::{GitHttpOptions, GitHttpServer, GitRepo, SshGitServer};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const PASSWORD: &str = "first-s3cret-token";
const ROTATED: &str = "rotated-s3cret-token";

async fn secret(w: &World, name: &str, kind: &str, data: Value) {
    let s: Secret = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "argocd.argoproj.io/secret-type": kind } },
        "stringData": data,
    }))
    .unwrap();
    Api::<Secret>::namespaced(w.ns.client(), w.name()).create(&PostParams::default(), &s).await.expect("create Secret");
}

async fn config_map(w: &World, name: &str, data: Value) {
    let cm: ConfigMap = serde_json::from_value(json!({ "metadata": { "name": name }, "data": data })).unwrap();
    Api::<ConfigMap>::namespaced(w.ns.client(), w.name()).create(&PostParams::default(), &cm).await.expect("create ConfigMap");
}

fn repo_with(name: &str) -> GitRepo {
    let r = GitRepo::new();
    r.write("app/cm.yaml", &configmap(name, ""));
    r.commit("first");
    r
}

async fn app(w: &World, name: &str, url: &str) {
    w.app(name, "app", json!({ "source": { "repoURL": url }, "syncPolicy": { "automated": { "prune": true } } })).await.unwrap();
}

async fn synced(w: &World, name: &str) {
    w.wait_app(name, "synced", |a| (a.status.as_ref()?.sync.status == driftless_api::SyncStatusCode::Synced).then_some(())).await.unwrap();
}

async fn condition(w: &World, name: &str, text: &str) -> String {
    w.wait_app(name, &format!("a condition saying {text:?}"), |a| {
        a.status.as_ref()?.conditions.iter().find(|c| c.message.contains(text)).map(|c| c.message.clone())
    })
    .await
    .unwrap()
}

/// The apps' status and the namespace's Events never hold `secrets`.
async fn assert_never_shown(w: &World, secrets: &[&str]) {
    let apps = w.apps.list(&ListParams::default()).await.unwrap();
    let events = Api::<Event>::namespaced(w.ns.client(), w.name()).list(&ListParams::default()).await.unwrap();
    let shown = format!(
        "{}{}",
        serde_json::to_string(&apps.items.iter().map(|a: &Application| &a.status).collect::<Vec<_>>()).unwrap(),
        serde_json::to_string(&events.items).unwrap()
    );
    for s in secrets {
        assert!(!shown.contains(s), "a credential shows in the status or Events");
    }
}

#[tokio::test]
async fn https_and_ssh_apps_sync_with_their_own_credentials_and_never_show_them() {
    let w = World::new("private-repos").await.unwrap();
    let server = GitHttpServer::start(GitHttpOptions { basic_auth: Some(("git".into(), PASSWORD.into())), ..Default::default() });
    let (team_a, team_b) = (repo_with("from-a"), repo_with("from-b"));
    let (url_a, url_b) = (server.serve("team-a.git", team_a.path()), server.serve("team-b.git", team_b.path()));

    // One template serves both repositories under its prefix.
    secret(&w, "team", "repo-creds", json!({ "url": server.url(""), "username": "git", "password": PASSWORD })).await;
    app(&w, "a", &url_a).await;
    app(&w, "b", &url_b).await;
    synced(&w, "a").await;
    synced(&w, "b").await;
    assert!(w.exists("configmap", "from-a") && w.exists("configmap", "from-b"));

    // The server's password changes: the fetch fails with a clear
    // condition, nothing is pruned.
    server.set_basic_auth("git", ROTATED);
    team_a.remove("app/cm.yaml").write("app/cm.yaml", &configmap("from-a-2", "")).commit("second");
    let msg = condition(&w, "a", "Authentication failed").await;
    assert!(msg.contains(&url_a), "{msg}");
    assert!(w.exists("configmap", "from-a"), "nothing pruned after a failed fetch");

    // The Secret is edited: the next fetch uses it, without a restart.
    let patch = json!({ "stringData": { "password": ROTATED } });
    Api::<Secret>::namespaced(w.ns.client(), w.name()).patch("team", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    w.wait_app("a", "the rotated password used", |a| a.status.as_ref()?.resources.iter().any(|r| r.name == "from-a-2").then_some(()))
        .await
        .unwrap();
    synced(&w, "a").await;

    // SSH: a key, and the server's host key in argocd-ssh-known-hosts-cm.
    let ssh = SshGitServer::start();
    let team_c = repo_with("from-c");
    let url_c = ssh.url(team_c.path());
    config_map(&w, "argocd-ssh-known-hosts-cm", json!({ "ssh_known_hosts": ssh.known_hosts })).await;
    secret(&w, "ssh-c", "repository", json!({ "url": url_c, "sshPrivateKey": ssh.client_key })).await;
    app(&w, "c", &url_c).await;
    synced(&w, "c").await;
    assert!(w.exists("configmap", "from-c"));

    // The same server by another name: its host key is unknown there.
    let url_d = url_c.replace("@127.0.0.1:", "@localhost:");
    secret(&w, "ssh-d", "repository", json!({ "url": url_d, "sshPrivateKey": ssh.client_key })).await;
    app(&w, "d", &url_d).await;
    let msg = condition(&w, "d", "Host key verification failed").await;
    assert!(msg.contains("argocd-ssh-known-hosts-cm"), "{msg}");

    // The host's key changes (another key for [127.0.0.1]:port): refused,
    // and what the app synced before stays although the new commit drops it.
    let known = Api::<ConfigMap>::namespaced(w.ns.client(), w.name());
    let patch = json!({ "data": { "ssh_known_hosts": other_host_key(&ssh.known_hosts) } });
    known.patch("argocd-ssh-known-hosts-cm", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    team_c.remove("app/cm.yaml").write("app/cm.yaml", &configmap("from-c-2", "")).commit("second");
    let msg = condition(&w, "c", "Host key verification failed").await;
    assert!(msg.contains("argocd-ssh-known-hosts-cm"), "{msg}");
    assert!(w.exists("configmap", "from-c") && !w.exists("configmap", "from-c-2"), "nothing pruned, nothing applied");

    let key_line = ssh.client_key.lines().nth(1).unwrap();
    assert_never_shown(&w, &[PASSWORD, ROTATED, key_line]).await;
}

/// `known_hosts` with the same host and a freshly generated key in place of
/// the real one.
fn other_host_key(known_hosts: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    let ok = std::process::Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&file).status().unwrap();
    assert!(ok.success(), "ssh-keygen");
    let public = std::fs::read_to_string(file.with_extension("pub")).unwrap();
    let host = known_hosts.split_whitespace().next().unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    format!("{host} {}\n", key.join(" "))
}

/// Kustomize remote bases are fetched with the settings of their own URL:
/// a base on a host with its own Secret gets that Secret's credentials, a
/// base on a host without one gets none; neither gets the app repository's.
#[tokio::test]
async fn remote_bases_get_their_own_hosts_credentials_only() {
    use base64::Engine as _;
    const BASE_PASSWORD: &str = "base-s3cret-token";
    let w = World::new("remote-creds").await.unwrap();
    let with_password = |p: &str| GitHttpOptions { basic_auth: Some(("git".into(), p.into())), ..Default::default() };
    let (app_server, base_server) = (GitHttpServer::start(with_password(PASSWORD)), GitHttpServer::start(with_password(BASE_PASSWORD)));
    let open_server = GitHttpServer::start(GitHttpOptions::default());
    let bases = GitRepo::new();
    for dir in ["private", "open"] {
        bases.write(&format!("{dir}/kustomization.yaml"), "resources:\n- cm.yaml\n");
        bases.write(&format!("{dir}/cm.yaml"), &configmap(&format!("from-{dir}-base"), ""));
    }
    bases.commit("bases");
    let (private_url, open_url) = (base_server.serve("bases.git", bases.path()), open_server.serve("bases.git", bases.path()));
    let overlay = GitRepo::new();
    overlay.write("app/kustomization.yaml", &format!("resources:\n- {private_url}//private?ref=main\n- {open_url}//open?ref=main\n"));
    overlay.commit("overlay");
    let url = app_server.serve("app.git", overlay.path());
    secret(&w, "app", "repository", json!({ "url": url, "username": "git", "password": PASSWORD })).await;
    secret(&w, "bases", "repository", json!({ "url": private_url, "username": "git", "password": BASE_PASSWORD })).await;
    app(&w, "kustomized", &url).await;
    synced(&w, "kustomized").await;
    assert!(w.exists("configmap", "from-private-base") && w.exists("configmap", "from-open-base"));

    let basic = |p: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("git:{p}")));
    let sent = base_server.authorizations();
    assert!(sent.iter().flatten().count() > 0, "the base's host got its own credentials");
    assert!(sent.iter().flatten().all(|a| *a == basic(BASE_PASSWORD)), "the base's host got others' credentials: {sent:?}");
    let sent = open_server.authorizations();
    assert!(!sent.is_empty() && sent.iter().all(Option::is_none), "a host without credentials got some: {sent:?}");
    assert!(app_server.authorizations().iter().flatten().all(|a| *a == basic(PASSWORD)));
}

/// The connection test the repository API and CLI use: with the stored
/// credentials, with credentials not stored yet, with the CA of
/// argocd-tls-certs-cm (read afresh by a one-off engine), and across a
/// redirect to another host, which gets no credentials.
#[tokio::test]
async fn connection_tests_use_the_credentials_and_ca_that_apply() {
    use driftless_engine::{Engine, EngineConfig, RepoKind};
    use driftless_source::RepoCreds;
    use driftless_testkit::TestCa;

    let w = World::new("repo-test").await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::one_off(
        w.ns.client(),
        EngineConfig {
            tenancy: driftless_engine::project::Tenancy::new(w.name()),
            cache_dir: cache.path().to_path_buf(),
            ..Default::default()
        },
    );
    let ca = TestCa::new();
    let ca_pem = ca.ca_pem.clone();
    let server =
        GitHttpServer::start(GitHttpOptions { basic_auth: Some(("git".into(), PASSWORD.into())), tls: Some(ca), ..Default::default() });
    let repo = repo_with("x");
    let url = server.serve("r.git", repo.path());
    secret(&w, "r", "repository", json!({ "url": url, "username": "git", "password": PASSWORD })).await;

    let err = engine.test_repository(&url, RepoKind::Git).await.unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    config_map(&w, "argocd-tls-certs-cm", json!({ "127.0.0.1": ca_pem })).await;
    engine.test_repository(&url, RepoKind::Git).await.unwrap();

    let mut wrong =
        RepoCreds { url: url.clone(), username: Some("git".into()), password: Some("wrong-s3cret".into()), ..Default::default() };
    let err = engine.test_repository_with(&wrong).await.unwrap_err();
    assert!(err.contains("Authentication failed") && !err.contains("wrong-s3cret"), "{err}");
    wrong.password = Some(PASSWORD.into());
    engine.test_repository_with(&wrong).await.unwrap();

    // The repository's host redirects to another: that one gets nothing.
    let other = GitHttpServer::start(GitHttpOptions { basic_auth: Some(("git".into(), PASSWORD.into())), ..Default::default() });
    other.serve("r.git", repo.path());
    let redirecting = GitHttpServer::start(GitHttpOptions {
        basic_auth: Some(("git".into(), PASSWORD.into())),
        redirect_to: Some(other.base().to_string()),
        ..Default::default()
    });
    let creds =
        RepoCreds { url: redirecting.url("r.git"), username: Some("git".into()), password: Some(PASSWORD.into()), ..Default::default() };
    assert!(engine.test_repository_with(&creds).await.is_err());
    assert!(!other.authorizations().is_empty() && other.authorizations().iter().all(Option::is_none), "{:?}", other.authorizations());
}
