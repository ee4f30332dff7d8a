//! The cluster's floor: a workload's objects server-side applied straight
//! to the API server (32 at a time; no Git, no comparison, no status),
//! until every Deployment is available. That part of a cold start is the
//! cluster's own, and no agent on this machine can be faster. The floor
//! with Applications is in `floor_apps.rs`.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::Value;

use crate::watch::watch_until;
use crate::workload::{config_map, deployment};

pub struct Floor {
    /// Every object applied (with Applications: every app written Synced).
    pub applied: Duration,
    /// Every Deployment available (with Applications: every app written Healthy).
    pub available: Duration,
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies the objects of apps `{prefix}0..n` into `namespace`.
pub async fn cluster_floor(client: &kube::Client, namespace: &str, prefix: &str, n: usize) -> Result<Floor, BoxError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    let watching = {
        let deployments = deployments.clone();
        let available = |d: &Deployment| available(d);
        tokio::spawn(async move { watch_until(&deployments, "Deployments available", n, &[&available], Duration::from_secs(1800)).await })
    };
    let applies = (0..n).flat_map(|i| (0..10).map(move |j| apply_object(client, namespace, format!("{prefix}{i}"), j)));
    stream::iter(applies).buffer_unordered(32).try_collect::<Vec<()>>().await?;
    let applied = started.elapsed();
    let available = watching.await??;
    Ok(Floor { applied, available: available[0] - started })
}

pub fn available(d: &Deployment) -> bool {
    d.status.as_ref().and_then(|s| s.available_replicas) == Some(1)
}

/// Object `j` of app `app`: ConfigMaps 0 to 8, the Deployment 9.
pub async fn apply_object(client: &kube::Client, namespace: &str, app: String, j: usize) -> Result<(), BoxError> {
    let params = PatchParams::apply("bench-floor");
    if j < 9 {
        let name = format!("{app}-cm{j}");
        let cm: Value = serde_saphyr::from_str(&config_map(&name, "v"))?;
        Api::<ConfigMap>::namespaced(client.clone(), namespace).patch(&name, &params, &Patch::Apply(cm)).await?;
    } else {
        let name = format!("{app}-web");
        let d: Value = serde_saphyr::from_str(&deployment(&name))?;
        Api::<Deployment>::namespaced(client.clone(), namespace).patch(&name, &params, &Patch::Apply(d)).await?;
    }
    Ok(())
}
