//! Comparing an app's desired targets with the cluster: per-resource sync
//! and health status, the app's totals, and what left Git.

use std::collections::{BTreeMap, BTreeSet};

use driftless_api::{HealthStatus, HealthStatusCode, SyncStatusCode};
use driftless_diff::{Comparison, DiffOptions};
use driftless_health::CustomChecks;
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use crate::cluster::{Cluster, ClusterError};
use crate::plan::{Extraneous, Role, Target};
use crate::{ResourceKey, is_tracked_by};

/// Requests in flight at once for one app: enough to hide the round trips
/// of an app's objects without letting one app crowd out the others.
pub const PARALLEL_REQUESTS: usize = 8;

/// A kind and where to look for it: what the app manages or managed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scope {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; None for cluster-scoped kinds.
    pub namespace: Option<String>,
}

/// One resource of the app: in Git, in the cluster, or both.
#[derive(Clone, Debug)]
pub struct ResourceState {
    /// Identity.
    pub key: ResourceKey,
    /// API version (desired, else live).
    pub api_version: String,
    /// Synced or OutOfSync.
    pub sync: SyncStatusCode,
    /// Health of the live object; Missing when it does not exist.
    pub health: Option<HealthStatus>,
    /// Live, no longer in Git.
    pub requires_pruning: bool,
    /// The wave, for display.
    pub wave: i64,
    /// The live object.
    pub live: Option<Value>,
    /// What the server predicts applying Git would give (or the desired
    /// manifest when no dry run was possible).
    pub predicted: Option<Value>,
    /// Which fields differ.
    pub diff: Comparison,
}

/// The outcome of comparing an app.
#[derive(Clone, Debug)]
pub struct CompareResult {
    /// Resources in Git, then resources that left Git, in key order.
    pub resources: Vec<ResourceState>,
    /// Synced when every resource is and nothing needs pruning.
    pub sync: SyncStatusCode,
    /// The worst health of the resources.
    pub health: HealthStatusCode,
    /// Container images of the live resources, sorted.
    pub images: Vec<String>,
    /// Live resources that left Git, for the planner.
    pub extraneous: Vec<Extraneous>,
    /// Problems that did not stop the comparison (e.g. a failed dry run).
    pub warnings: Vec<String>,
}

/// What the comparison needs besides the targets.
pub struct CompareOptions<'a> {
    /// The app's name in tracking ids.
    pub instance: &'a str,
    /// Where the app kept resources before (from its status), so that
    /// resources removed from Git are still found.
    pub previously: &'a [Scope],
    /// ignoreDifferences.
    pub diff: &'a DiffOptions,
    /// Custom health checks.
    pub health: &'a CustomChecks,
    /// Ask the server to validate fields strictly in dry runs.
    pub validate: bool,
    /// Which objects of a kind the app tracks, if a live index knows:
    /// they are then fetched one by one instead of listing the kind.
    pub tracked: Option<&'a (dyn TrackedIndex + Sync)>,
}

/// An index of the objects each app tracks, kept by live watches.
pub trait TrackedIndex {
    /// `(namespace, name)` of every object of `api_version`/`kind` tracked by
    /// the app `instance`; None while the index cannot answer for that kind
    /// (not watched yet, or its first listing is not complete).
    fn tracked(&self, api_version: &str, kind: &str, instance: &str) -> Option<Vec<(Option<String>, String)>>;
}

/// Compares targets with the cluster.
pub async fn compare(cluster: &Cluster, targets: &[Target], opts: &CompareOptions<'_>) -> Result<CompareResult, ClusterError> {
    let resources: Vec<&Target> = targets.iter().filter(|t| t.role == Role::Resource).collect();

    // Find every live object tracked by the app, in every place it has or had resources.
    let mut scopes: BTreeSet<Scope> = opts.previously.iter().cloned().collect();
    for t in targets {
        scopes.insert(Scope { api_version: t.manifest.api_version().into(), kind: t.key.kind.clone(), namespace: t.key.namespace.clone() });
    }
    let mut live: BTreeMap<ResourceKey, Value> = BTreeMap::new();
    let mut listed = BTreeSet::new();
    let mut wanted: BTreeMap<ResourceKey, String> = BTreeMap::new();
    for s in &scopes {
        if !listed.insert((s.api_version.clone(), s.kind.clone(), s.namespace.clone())) {
            continue;
        }
        match opts.tracked.and_then(|t| t.tracked(&s.api_version, &s.kind, opts.instance)) {
            // Targeted fetches: cost grows with the app, not with the cluster.
            Some(mut names) => {
                // The desired objects are fetched by name too: the index may
                // not have seen an object created a moment ago.
                names.extend(
                    targets
                        .iter()
                        .filter(|t| t.key.kind == s.kind && t.manifest.api_version() == s.api_version)
                        .map(|t| (t.key.namespace.clone(), t.key.name.clone())),
                );
                for (namespace, name) in names {
                    if s.namespace.is_some() && namespace != s.namespace {
                        continue;
                    }
                    let key = ResourceKey { group: group_of(&s.api_version), kind: s.kind.clone(), namespace, name };
                    wanted.entry(key).or_insert_with(|| s.api_version.clone());
                }
            }
            None => {
                for obj in cluster.list(&s.api_version, &s.kind, s.namespace.as_deref()).await? {
                    if is_tracked_by(&obj, opts.instance) {
                        live.insert(ResourceKey::of(&obj), obj);
                    }
                }
            }
        }
    }
    wanted.retain(|key, _| !live.contains_key(key));
    // The futures are built before they are streamed: a closure inside the
    // stream would make the whole reconcile future fail to be `Send`.
    let gets: Vec<_> =
        wanted.into_iter().map(|(key, api_version)| async move { cluster.get(&api_version, &key).await.map(|obj| (key, obj)) }).collect();
    let fetched: Vec<_> = stream::iter(gets)
        .buffer_unordered(PARALLEL_REQUESTS)
        .try_collect()
        .await?;
    for (key, obj) in fetched {
        if let Some(obj) = obj.filter(|o| is_tracked_by(o, opts.instance)) {
            live.insert(key, obj);
        }
    }

    let pairs: Vec<(&Target, Option<Value>)> = resources.iter().map(|t| (*t, live.remove(&t.key))).collect();
    let mut warnings = Vec::new();
    let dry_runs: Vec<_> = pairs
        .iter()
        .map(|(t, live_obj)| async move {
            let desired = t.manifest.value();
            match live_obj {
                None => (Comparison::missing(), Some(desired.clone()), None),
                Some(l) => match cluster.apply(desired, true, opts.validate).await {
                    Ok(p) => (driftless_diff::compare(&p, l, opts.diff), Some(p), None),
                    Err(e) => (
                        driftless_diff::compare_subset(desired, l, opts.diff),
                        Some(desired.clone()),
                        Some(format!("{}: dry run failed, compared field by field: {e}", t.key)),
                    ),
                },
            }
        })
        .collect();
    let compared: Vec<(Comparison, Option<Value>, Option<String>)> = stream::iter(dry_runs).buffered(PARALLEL_REQUESTS).collect().await;
    let mut out = Vec::new();
    for ((t, live_obj), (diff, predicted, warning)) in pairs.into_iter().zip(compared) {
        warnings.extend(warning);
        let health = match &live_obj {
            None => Some(HealthStatus::status(HealthStatusCode::Missing)),
            Some(l) => driftless_health::assess(l, opts.health)
                .unwrap_or_else(|e| Some(HealthStatus::new(HealthStatusCode::Unknown, e.to_string()))),
        };
        out.push(ResourceState {
            key: t.key.clone(),
            api_version: t.manifest.api_version().into(),
            sync: if diff.in_sync { SyncStatusCode::Synced } else { SyncStatusCode::OutOfSync },
            health,
            requires_pruning: false,
            wave: t.wave,
            live: live_obj,
            predicted,
            diff,
        });
    }
    // Hooks are tracked too, but they are not part of the desired state.
    let hooks: BTreeSet<&ResourceKey> = targets.iter().filter(|t| t.is_hook()).map(|t| &t.key).collect();
    let mut extraneous = Vec::new();
    for (key, obj) in live {
        if hooks.contains(&key) || obj["metadata"]["ownerReferences"].as_array().is_some_and(|o| !o.is_empty()) {
            continue;
        }
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        extraneous.push(Extraneous { key: key.clone(), api_version: api_version.clone(), live: obj.clone() });
        out.push(ResourceState {
            key,
            api_version,
            sync: SyncStatusCode::OutOfSync,
            health: driftless_health::assess(&obj, opts.health).ok().flatten(),
            requires_pruning: true,
            wave: 0,
            live: Some(obj),
            predicted: None,
            diff: Comparison::missing(),
        });
    }

    let sync = if out.iter().all(|r| r.sync == SyncStatusCode::Synced) { SyncStatusCode::Synced } else { SyncStatusCode::OutOfSync };
    let health = driftless_health::aggregate(out.iter().filter(|r| !r.requires_pruning).filter_map(|r| r.health.as_ref()));
    let mut images = BTreeSet::new();
    for r in &out {
        if let Some(l) = &r.live {
            collect_images(l, &mut images);
        }
    }
    Ok(CompareResult { resources: out, sync, health, images: images.into_iter().collect(), extraneous, warnings })
}

fn group_of(api_version: &str) -> String {
    api_version.rsplit_once('/').map(|(g, _)| g.to_string()).unwrap_or_default()
}

/// Images of every container list anywhere in the object (pods, templates,
/// job templates).
fn collect_images(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if matches!(k.as_str(), "containers" | "initContainers" | "ephemeralContainers") {
                    for c in child.as_array().into_iter().flatten() {
                        if let Some(image) = c["image"].as_str() {
                            out.insert(image.to_string());
                        }
                    }
                } else if k != "status" && k != "metadata" {
                    collect_images(child, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_images(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_come_from_every_pod_template() {
        let mut out = BTreeSet::new();
        collect_images(
            &json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"image": "busybox:1"}], "containers": [{"image": "app:2"}, {"image": "app:2"}]}}}}}}),
            &mut out,
        );
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["app:2", "busybox:1"]);
    }
}
