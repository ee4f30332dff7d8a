//! An API server outage: the controller keeps running while the server is
//! gone, and recovers on its own when it comes back — its watches resume
//! and self-heal works again, with no restart of the controller.

mod common;

use std::time::Duration;

use common::deployment;
use driftless_api::{Application, SyncStatusCode};
use driftless_testkit::{DevCluster, Error, GitRepo, install_crds, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

const NS: &str = "outage";

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("address").port().to_string()
}

async fn replicas(client: &kube::Client) -> Result<i32, String> {
    let d = Api::<Deployment>::namespaced(client.clone(), NS).get("web").await.map_err(|e| e.to_string())?;
    Ok(d.spec.and_then(|s| s.replicas).unwrap_or(1))
}

#[tokio::test]
async fn the_controller_recovers_when_the_api_server_comes_back() -> Result<(), Error> {
    // A cluster of this test's own, kept across its restart on the same port.
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let flags = ["--keep-data", "--port", port.as_str()];
    let cluster = DevCluster::start_with(dir.path(), &flags)?;
    let client = cluster.client().await?;
    install_crds(&client).await?;
    let namespace: Namespace = serde_json::from_value(json!({ "metadata": { "name": NS } })).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(|source| Error::Kube { what: "create namespace".into(), source })?;

    let repo = GitRepo::new();
    repo.write("app/deploy.yaml", &deployment("web", 2, "nginx:1.27"));
    repo.commit("v1");
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "web", "namespace": NS },
        "spec": { "project": "default",
                  "source": { "repoURL": repo.url(), "targetRevision": "main", "path": "app" },
                  "destination": { "server": "https://kubernetes.default.svc", "namespace": NS },
                  "syncPolicy": { "automated": { "selfHeal": true } } }
    }))
    .expect("app");
    let apps: Api<Application> = Api::namespaced(client.clone(), NS);
    apps.create(&PostParams::default(), &app).await.map_err(|source| Error::Kube { what: "create app".into(), source })?;

    let cache = tempfile::tempdir().expect("temp dir");
    let config = driftless_controller::Config {
        tenancy: driftless_engine::project::Tenancy::new(NS),
        resync: Duration::from_secs(3600),
        cache_dir: cache.path().to_path_buf(),
        ..Default::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(driftless_controller::run(client.clone(), config, async move {
        let _ = stopped.await;
    }));

    wait_for("the app to sync before the outage", common::TIMEOUT, || async {
        let a = apps.get("web").await.map_err(|e| e.to_string())?;
        match a.status.as_ref().map(|s| s.sync.status) {
            Some(SyncStatusCode::Synced) if replicas(&client).await? == 2 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await?;

    cluster.stop();
    // Long enough for every watch and request of the controller to fail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!controller.is_finished(), "the controller keeps running while the API server is away");
    let _cluster = DevCluster::start_with(dir.path(), &flags)?;

    // Drift made after the return is seen by the controller's resumed
    // watches and reverted, with the client it has had all along.
    wait_for("the scale after the outage to be accepted", common::TIMEOUT, || async {
        Api::<Deployment>::namespaced(client.clone(), NS)
            .patch("web", &PatchParams::default(), &Patch::Merge(json!({ "spec": { "replicas": 5 } })))
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await?;
    wait_for("self-heal to revert the scale after the outage", common::TIMEOUT, || async {
        match replicas(&client).await? {
            2 => Ok(()),
            n => Err(format!("replicas {n}")),
        }
    })
    .await?;

    let _ = stop.send(());
    controller.await.expect("controller task").expect("the controller stops cleanly");
    Ok(())
}
