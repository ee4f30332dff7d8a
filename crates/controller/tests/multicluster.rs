//! Apps on other clusters, registered by cluster Secrets holding a
//! ServiceAccount token and CA data: sync, prune, self-heal and health work
//! there as on the own cluster; a cluster that goes away costs only its own
//! apps (a clear condition, nothing pruned) and they recover by themselves
//! when it returns; a Secret with a wrong token, an unknown CA, or a server
//! that answers nothing is a clear condition that quotes no credential.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{World, configmap, deployment};
use driftless_api::{Application, HealthStatusCode, SyncStatusCode};
use driftless_testkit::{DevCluster, Error, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("address").port().to_string()
}

fn kubeconfig_of(cluster: &DevCluster) -> kube::config::Kubeconfig {
    kube::config::Kubeconfig::read_from(cluster.kubeconfig()).expect("devcluster kubeconfig")
}

/// Registers `remote` in the world's control-plane namespace, as `driftless
/// cluster add` does, under `name`; returns its server URL.
async fn register(w: &World, remote: &DevCluster, name: &str) -> Result<String, Error> {
    let (server, ca_data, insecure) = driftless_engine::register::from_kubeconfig(&kubeconfig_of(remote), None).expect("kubeconfig");
    let target_client = remote.client().await?;
    let target = driftless_engine::register::Target::new(&target_client, &server, name, ca_data, insecure);
    driftless_engine::register::add(&target, &w.ns.client(), w.name()).await.expect("cluster add");
    Ok(server)
}

async fn remote_replicas(client: &kube::Client, ns: &str) -> Result<i32, String> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns).get("web").await.map_err(|e| e.to_string())?;
    Ok(d.spec.and_then(|s| s.replicas).unwrap_or(1))
}

fn condition(a: &Application, type_: &str) -> Option<String> {
    a.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone())
}

#[tokio::test]
async fn an_app_on_a_registered_cluster_syncs_prunes_heals_and_survives_its_outage() -> Result<(), Error> {
    let w = World::with_resync("multi", Duration::from_secs(5)).await?;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let flags = ["--keep-data", "--port", port.as_str()];
    let remote = DevCluster::start_with(dir.path(), &flags)?;
    let remote_client = remote.client().await?;
    let server = register(&w, &remote, "remote").await?;
    let target_ns = "remote-apps";

    w.repo.write("remote/deploy.yaml", &deployment("web", 2, "nginx:1.27"));
    w.repo.write("remote/extra.yaml", &configmap("extra", ""));
    w.repo.write("local/cm.yaml", &configmap("local", ""));
    w.repo.commit("v1");
    let heal = json!({ "automated": { "prune": true, "selfHeal": true }, "syncOptions": ["CreateNamespace=true"] });
    w.app("remote", "remote", json!({ "destination": { "server": server, "namespace": target_ns }, "syncPolicy": heal })).await?;
    w.app("local", "local", json!({ "syncPolicy": heal })).await?;
    let healthy = |a: &Application| {
        let s = a.status.as_ref()?;
        (s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy).then_some(())
    };
    w.wait_app("remote", "Synced and Healthy on the remote cluster", healthy).await?;
    w.wait_app("local", "Synced and Healthy", healthy).await?;
    assert_eq!(remote_replicas(&remote_client, target_ns).await.expect("the remote Deployment"), 2);
    assert!(!w.exists("deployment", "web"), "nothing of the remote app lands on the control plane");
    wait_for("the remote cluster's state in the metrics", common::TIMEOUT, || async {
        let remote = ["name=\"remote\""];
        let (up, apps, objects) = (
            w.metric("driftless_cluster_connection_status", &remote),
            w.metric("driftless_cluster_apps", &remote),
            w.metric("driftless_cluster_objects", &remote),
        );
        if up == 1.0 && apps == 1.0 && objects >= 2.0 { Ok(()) } else { Err(format!("up {up}, apps {apps}, objects {objects}")) }
    })
    .await?;

    // Self-heal on the remote cluster.
    Api::<Deployment>::namespaced(remote_client.clone(), target_ns)
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({ "spec": { "replicas": 5 } })))
        .await
        .map_err(|source| Error::Kube { what: "scale on the remote".into(), source })?;
    wait_for("the remote scale to be reverted", common::TIMEOUT, || async {
        match remote_replicas(&remote_client, target_ns).await? {
            2 => Ok(()),
            n => Err(format!("replicas {n}")),
        }
    })
    .await?;

    // Prune on the remote cluster.
    w.repo.remove("remote/extra.yaml");
    w.repo.commit("v2: extra goes");
    let cms: Api<ConfigMap> = Api::namespaced(remote_client.clone(), target_ns);
    wait_for("the removed ConfigMap to be pruned on the remote", common::TIMEOUT, || async {
        match cms.get_opt("extra").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await?;

    // The remote cluster goes away: its app shows why; the local app keeps
    // healing.
    remote.stop();
    w.wait_app("remote", "a condition naming the unreachable cluster", |a| {
        condition(a, "ComparisonError").filter(|m| m.contains("remote") && m.contains(&server))
    })
    .await?;
    wait_for("the outage in the metrics", common::TIMEOUT, || async {
        match w.metric("driftless_cluster_connection_status", &["name=\"remote\""]) {
            0.0 => Ok(()),
            up => Err(format!("up {up}")),
        }
    })
    .await?;
    w.kubectl(&["delete", "configmap", "local"]);
    wait_for("the local app to heal while the remote is down", common::TIMEOUT, || async {
        if w.exists("configmap", "local") { Ok(()) } else { Err("missing") }
    })
    .await?;

    // It returns (same data, same port): the app recovers without a
    // restart of the controller, and nothing was pruned meanwhile.
    let remote = DevCluster::start_with(dir.path(), &flags)?;
    let remote_client = remote.client().await?;
    w.wait_app("remote", "recovered after the outage", |a| {
        (healthy(a).is_some() && condition(a, "ComparisonError").is_none()).then_some(())
    })
    .await?;
    assert_eq!(remote_replicas(&remote_client, target_ns).await.expect("the remote Deployment"), 2, "nothing was pruned");
    Ok(())
}

/// A CA that signed nothing the devcluster serves.
fn unknown_ca() -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("self-signed CA");
    base64::engine::general_purpose::STANDARD.encode(cert.pem())
}

#[tokio::test]
async fn a_wrong_token_an_unknown_ca_and_a_silent_server_are_clear_conditions_without_credentials() -> Result<(), Error> {
    let w = World::new("badcluster").await?;
    let (server, ca, _) = driftless_engine::register::from_kubeconfig(&kubeconfig_of(w.ns.cluster()), None).expect("kubeconfig");
    let token = "dGhpcy1pcy1ub3QtYS12YWxpZC10b2tlbg.x9Qz7KpL2vR4";
    let silent = format!("https://127.0.0.1:{}", free_port());
    // (cluster name, server, CA, what the condition must say)
    let cases = [
        ("wrong-token", server.clone(), ca.clone(), "Unauthorized"),
        ("unknown-ca", server.clone(), Some(unknown_ca()), "certificate"),
        ("silent", silent.clone(), ca.clone(), "connect"),
    ];
    let secrets: Api<Secret> = w.ns.api();
    w.repo.write("app/cm.yaml", &configmap("c", ""));
    w.repo.commit("v1");
    for (name, server, ca, _) in &cases {
        let config = json!({ "bearerToken": token, "tlsClientConfig": { "caData": ca } });
        let secret: Secret = serde_json::from_value(json!({
            "metadata": { "name": name, "labels": { "argocd.argoproj.io/secret-type": "cluster" } },
            "stringData": { "name": name, "server": server, "config": config.to_string() },
        }))
        .expect("secret");
        secrets.create(&PostParams::default(), &secret).await.map_err(|source| Error::Kube { what: format!("secret {name}"), source })?;
        w.app(name, "app", json!({ "destination": { "server": null, "name": name, "namespace": w.name() } })).await?;
    }
    for (name, _, _, reason) in &cases {
        let msg = w
            .wait_app(name, "a condition saying why the cluster cannot be used", |a| {
                condition(a, "ComparisonError").filter(|m| m.contains(&format!("cluster {name}")) && m.contains(reason))
            })
            .await?;
        let app = w.apps.get(name).await.map_err(|source| Error::Kube { what: "get app".into(), source })?;
        let everything = serde_json::to_string(&app).expect("json") + &w.metrics.encode();
        assert!(!everything.contains(token) && !everything.contains("x9Qz7KpL2vR4"), "a credential leaked: {msg}");
        assert_eq!(app.status.unwrap_or_default().sync.status, SyncStatusCode::Unknown, "{name}");
    }
    assert!(!w.exists("configmap", "c"), "nothing was applied to the own cluster instead");
    Ok(())
}

#[tokio::test]
async fn destinations_are_validated_as_argo_cd_does() -> Result<(), Error> {
    let w = World::new("destcheck").await?;
    w.repo.write("app/cm.yaml", &configmap("c", ""));
    w.repo.commit("v1");
    w.app("both", "app", json!({ "destination": { "name": "in-cluster" } })).await?;
    w.app("unknown", "app", json!({ "destination": { "server": "https://nowhere.example:6443" } })).await?;
    w.app("by-name", "app", json!({ "destination": { "server": null, "name": "in-cluster", "namespace": w.name() } })).await?;
    w.wait_app("both", "server and name refused", |a| condition(a, "InvalidSpecError").filter(|m| m.contains("not both"))).await?;
    w.wait_app("unknown", "an unregistered cluster refused", |a| {
        condition(a, "InvalidSpecError").filter(|m| m.contains("not registered") && m.contains("nowhere.example"))
    })
    .await?;
    w.wait_app("by-name", "in-cluster by name", |a| {
        (a.status.as_ref()?.sync.status != SyncStatusCode::Unknown && condition(a, "InvalidSpecError").is_none()).then_some(())
    })
    .await?;
    Ok(())
}
