//! The cluster's floor: a workload's objects server-side applied straight
//! to the API server (32 at a time; no Git, no comparison, no status),
//! until every Deployment is available. That part of a cold start is the
//! cluster's own, and no agent on this machine can be faster.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::watch::watch_until;
use crate::workload::{config_map, deployment};

pub struct Floor {
    /// Every object applied.
    pub applied: Duration,
    /// Every Deployment available.
    pub available: Duration,
}

/// Applies the objects of apps `{prefix}0..n` into `namespace`.
pub async fn cluster_floor(client: &kube::Client, namespace: &str, prefix: &str, n: usize) -> Result<Floor, Box<dyn std::error::Error>> {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply("bench-floor");
    let started = Instant::now();
    let watching = {
        let deployments = deployments.clone();
        let available = |d: &Deployment| d.status.as_ref().and_then(|s| s.available_replicas) == Some(1);
        tokio::spawn(async move { watch_until(&deployments, n, &[&available], Duration::from_secs(1800)).await })
    };
    let applies = (0..n).flat_map(|i| (0..10).map(move |j| (i, j))).map(|(i, j)| {
        let (configmaps, deployments, params) = (&configmaps, &deployments, &params);
        async move {
            if j < 9 {
                let name = format!("{prefix}{i}-cm{j}");
                let cm: serde_json::Value = serde_saphyr::from_str(&config_map(&name, "v")).expect("valid YAML");
                configmaps.patch(&name, params, &Patch::Apply(cm)).await.map(drop)
            } else {
                let name = format!("{prefix}{i}-web");
                let d: serde_json::Value = serde_saphyr::from_str(&deployment(&name)).expect("valid YAML");
                deployments.patch(&name, params, &Patch::Apply(d)).await.map(drop)
            }
        }
    });
    stream::iter(applies).buffer_unordered(32).try_collect::<Vec<()>>().await?;
    let applied = started.elapsed();
    let available = watching.await??;
    Ok(Floor { applied, available: available[0] - started })
}
