//! Sync time for an app of 10, 100 and 1,000 resources against the dev
//! control plane: from the sync request to the operation's end. Prints
//! figures; asserts nothing.
//!
//!     make bench   (or: DEVCLUSTER_BIN=target/devcluster/devcluster cargo bench -p driftless-controller --bench sync)

use std::time::{Duration, Instant};

use driftless_api::{Application, OperationPhase};
use driftless_testkit::{GitRepo, TestNamespace, install_crds, wait_for};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

/// A realistic mix: a third each of ConfigMaps, Services and Deployments.
fn write_resources(repo: &GitRepo, n: usize) {
    for i in 0..n {
        let doc = match i % 3 {
            0 => format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  index: \"{i}\"\n"),
            1 => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  selector: {{app: d-{i}}}\n  ports:\n  - port: 80\n"
            ),
            _ => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: d-{i}}}\n  template:\n    metadata:\n      labels: {{app: d-{i}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n"
            ),
        };
        repo.write(&format!("app/r{i:04}.yaml"), &doc);
    }
    repo.commit(&format!("{n} resources"));
}

async fn measure(n: usize) -> Result<Duration, Box<dyn std::error::Error>> {
    let ns = TestNamespace::new(&format!("bench-{n}")).await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    write_resources(&repo, n);
    let cache = tempfile::tempdir()?;
    let config = driftless_controller::Config {
        tenancy: driftless_engine::project::Tenancy::new(ns.name()),
        cache_dir: cache.path().into(),
        ..Default::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let client = ns.client();
    let controller = tokio::spawn(driftless_controller::run(client, config, async move {
        let _ = stopped.await;
    }));
    let apps: Api<Application> = ns.api();
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "bench", "namespace": ns.name() },
        "spec": { "project": "default",
                  "source": { "repoURL": repo.url(), "targetRevision": "main", "path": "app" },
                  "destination": { "server": "https://kubernetes.default.svc", "namespace": ns.name() } }
    }))?;
    apps.create(&PostParams::default(), &app).await?;
    // Let the first comparison (Git fetch, render, dry runs) finish first:
    // the figure is the sync alone.
    wait_for("first comparison", Duration::from_secs(600), || async {
        let a = apps.get("bench").await.map_err(|e| e.to_string())?;
        a.status.and_then(|s| s.reconciled_at).map(drop).ok_or_else(|| "not compared yet".to_string())
    })
    .await?;
    let started = Instant::now();
    apps.patch("bench", &PatchParams::default(), &Patch::Merge(json!({ "operation": { "sync": {} } }))).await?;
    wait_for("sync to finish", Duration::from_secs(1200), || async {
        let a = apps.get("bench").await.map_err(|e| e.to_string())?;
        let op = a.status.and_then(|s| s.operation_state).ok_or_else(|| "no operation yet".to_string())?;
        match (a.operation.is_none(), op.phase) {
            (true, OperationPhase::Succeeded) => Ok(()),
            (true, OperationPhase::Failed | OperationPhase::Error) => Ok(()),
            _ => Err(format!("{:?}", op.phase)),
        }
    })
    .await?;
    let took = started.elapsed();
    let _ = stop.send(());
    let _ = controller.await;
    Ok(took)
}

#[tokio::main]
async fn main() {
    println!("sync time, request to operation end, one app, dev control plane:");
    for n in [10, 100, 1000] {
        match measure(n).await {
            Ok(d) => {
                println!("  {n:>5} resources: {:>8.2} s  ({:.1} ms per resource)", d.as_secs_f64(), d.as_secs_f64() * 1000.0 / n as f64)
            }
            Err(e) => println!("  {n:>5} resources: failed: {e}"),
        }
    }
}
