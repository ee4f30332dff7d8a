//! The cluster's floor with Applications: what the Argo CD data model
//! costs any controller that speaks it, over the plain floor (`floor.rs`):
//! each app's Application created (as a user does), its status written
//! once its objects are applied (Synced, Progressing) and again once its
//! Deployment is available (Healthy), each time the whole status, as an
//! Argo CD-compatible controller writes it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use driftless_api::Application;
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::driftless_peer::{NAMESPACE as APP_NAMESPACE, application};
use crate::floor::{BoxError, Floor, apply_object, available};
use crate::workload::Workload;

/// The floor with the Applications of `w` (apps `0..n`), created as the
/// driftless peer creates them (their CRDs and namespace must exist): each
/// app's objects are applied together, 16 apps at a time (a controller
/// runs apps side by side).
pub async fn cluster_floor_with_apps(client: &kube::Client, w: &Workload, n: usize) -> Result<Floor, BoxError> {
    let apps: Api<Application> = Api::namespaced(client.clone(), APP_NAMESPACE);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &w.namespace);
    let revision = "0123456789abcdef0123456789abcdef01234567";
    let (synced_tx, mut synced_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let started = Instant::now();
    // An app is written Healthy once it was written Synced and its
    // Deployment is available, whichever comes second.
    let healthy_writer = {
        let (apps, w) = (apps.clone(), w.clone());
        tokio::spawn(async move {
            let mut events = watcher(deployments, watcher::Config::default()).boxed();
            let (mut synced, mut ready) = (HashSet::new(), HashSet::new());
            let mut writing = FuturesUnordered::new();
            let mut written = 0;
            while written < n {
                tokio::select! {
                    event = events.try_next() => {
                        if let watcher::Event::Apply(d) | watcher::Event::InitApply(d) = event?.ok_or("the watch ended")? {
                            let i = d.metadata.name.as_deref().and_then(|name| app_index(&w, name)).filter(|_| available(&d));
                            if let Some(i) = i.filter(|i| ready.insert(*i) && synced.contains(i)) {
                                writing.push(write_status(&apps, &w, i, revision, "Healthy"));
                            }
                        }
                    }
                    Some(i) = synced_rx.recv() => {
                        synced.insert(i);
                        if ready.contains(&i) {
                            writing.push(write_status(&apps, &w, i, revision, "Healthy"));
                        }
                    }
                    Some(done) = writing.next(), if !writing.is_empty() => {
                        done?;
                        written += 1;
                    }
                }
            }
            Ok::<(), BoxError>(())
        })
    };
    let per_app = (0..n).map(|i| {
        let (apps, synced_tx) = (&apps, &synced_tx);
        async move {
            apps.create(&PostParams::default(), &application(w, i)).await?;
            futures::future::try_join_all((0..10).map(|j| apply_object(client, &w.namespace, w.name(i), j))).await?;
            write_status(apps, w, i, revision, "Progressing").await?;
            synced_tx.send(i)?;
            Ok::<(), BoxError>(())
        }
    });
    stream::iter(per_app).buffer_unordered(16).try_collect::<Vec<()>>().await?;
    let applied = started.elapsed();
    tokio::time::timeout(Duration::from_secs(1800), healthy_writer).await.map_err(|_| "timed out waiting for every app Healthy")???;
    Ok(Floor { applied, available: started.elapsed() })
}

/// Which app of `w` the Deployment `name` belongs to.
fn app_index(w: &Workload, name: &str) -> Option<usize> {
    name.strip_suffix("-web")?.strip_prefix(&w.prefix)?.parse().ok()
}

fn source(w: &Workload, i: usize) -> Value {
    json!({ "repoURL": w.repo_url, "targetRevision": w.revision, "path": w.path(i) })
}

/// Writes app `i`'s whole status, Synced at `revision` with the app's
/// health `health`, as an Argo CD-compatible controller writes it after
/// an automated sync: its resources, the operation's result and history.
async fn write_status(apps: &Api<Application>, w: &Workload, i: usize, revision: &str, health: &str) -> Result<(), BoxError> {
    let (app, ns, now) = (w.name(i), &w.namespace, jiff::Timestamp::now().round(jiff::Unit::Second)?.to_string());
    let mut resources: Vec<Value> = (0..9)
        .map(|j| json!({ "version": "v1", "kind": "ConfigMap", "namespace": ns, "name": format!("{app}-cm{j}"), "status": "Synced" }))
        .collect();
    resources.push(json!({ "group": "apps", "version": "v1", "kind": "Deployment", "namespace": ns, "name": format!("{app}-web"),
                           "status": "Synced", "health": { "status": health } }));
    let results: Vec<Value> = resources
        .iter()
        .map(|r| {
            json!({ "group": r["group"].as_str().unwrap_or(""), "version": "v1", "kind": r["kind"], "namespace": ns, "name": r["name"],
                    "status": "Synced", "message": format!("{} serverside-applied", r["name"].as_str().unwrap_or_default()),
                    "hookPhase": "Running", "syncPhase": "Sync" })
        })
        .collect();
    let status = json!({ "status": {
        "resources": resources,
        "sync": { "status": "Synced", "revision": revision,
                  "comparedTo": { "source": source(w, i), "destination": { "server": "https://kubernetes.default.svc", "namespace": ns } } },
        "health": { "status": health, "lastTransitionTime": now },
        "history": [{ "id": 0, "revision": revision, "deployedAt": now, "deployStartedAt": now, "source": source(w, i),
                      "initiatedBy": { "automated": true } }],
        "reconciledAt": now,
        "operationState": {
            "operation": { "sync": { "revision": revision, "prune": true }, "initiatedBy": { "automated": true }, "retry": {} },
            "phase": "Succeeded", "message": "successfully synced (all tasks run)", "startedAt": now, "finishedAt": now,
            "syncResult": { "resources": results, "revision": revision, "source": source(w, i) } },
        "sourceType": "Directory",
        "summary": { "images": ["nginx:1.27"] },
        "controllerNamespace": "argocd",
    } });
    apps.patch(&app, &PatchParams::default(), &Patch::Merge(status)).await?;
    Ok(())
}
