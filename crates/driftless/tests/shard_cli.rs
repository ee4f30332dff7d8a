//! Three `driftless controller --sharded` processes against the real dev
//! control plane: every app is handled by exactly one replica (its status
//! names it), killing one moves its apps to the others, which heal drift
//! on them, and a fourth that joins takes a share. Every status write is
//! recorded with the replica that made it: an app's writers change only
//! when the membership does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::{Application, SyncStatusCode};
use driftless_testkit::{GitRepo, LoggedChild, TestNamespace, install_crds, wait_for};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(180);
const APPS: usize = 24;

/// A `driftless controller --sharded` process scoped to one namespace.
fn replica(kubeconfig: &Path, namespace: &str, dir: &Path, name: &str) -> LoggedChild {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["controller", "--namespace", namespace, "--app-resync", "30", "--sharded"])
        .args(["--leader-election-namespace", namespace])
        .args(["--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3", "--leader-elect-retry-period", "1"])
        .env("KUBECONFIG", kubeconfig)
        .env("DRIFTLESS_CACHE_DIR", dir.join(format!("cache-{name}")))
        .env("RUST_LOG", "info,kube=warn")
        .env("NO_COLOR", "1");
    LoggedChild::spawn(cmd, &dir.join(format!("{name}.log")), &format!("replica {name}"))
}

/// The identity a replica logged when it joined.
fn identity(replica: &LoggedChild) -> Option<String> {
    let log = replica.log();
    let line = log.lines().find(|l| l.contains("taking a share of the apps"))?;
    let rest = &line[line.find("identity=")? + "identity=".len()..];
    Some(rest.split_whitespace().next()?.trim_matches('"').to_string())
}

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value\n")
}

async fn identities(replicas: &[LoggedChild]) -> Vec<String> {
    wait_for("every replica to join", TIMEOUT, || async {
        let ids: Vec<Option<String>> = replicas.iter().map(identity).collect();
        ids.iter().cloned().collect::<Option<Vec<String>>>().ok_or(ids)
    })
    .await
    .expect("each replica logs its identity")
}

/// Waits until exactly `n` member Leases are live and publish one view.
async fn settled(leases: &Api<Lease>, n: usize) {
    wait_for(&format!("{n} shard members agreeing on one view"), TIMEOUT, || async {
        let list = leases.list(&ListParams::default().labels("driftless.dev/shard-member=true")).await.map_err(|e| e.to_string())?;
        let now = k8s_openapi::jiff::Timestamp::now();
        let live: Vec<&Lease> = list
            .items
            .iter()
            .filter(|l| {
                l.spec.as_ref().is_some_and(|s| {
                    s.renew_time.as_ref().is_some_and(|r| {
                        r.0 + k8s_openapi::jiff::SignedDuration::from_secs(i64::from(s.lease_duration_seconds.unwrap_or(0))) > now
                    })
                })
            })
            .collect();
        let views: BTreeSet<_> = live.iter().map(|l| l.annotations().get("driftless.dev/shard-view").cloned()).collect();
        if live.len() == n && views.len() == 1 { Ok(()) } else { Err(format!("{} live, views {views:?}", live.len())) }
    })
    .await
    .expect("the members settle");
}

#[tokio::test]
async fn replicas_share_the_apps_hand_them_over_and_never_write_one_app_at_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ns = TestNamespace::new("shard-cli").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let kubeconfig = ns.cluster().kubeconfig();
    let leases: Api<Lease> = ns.api();
    let mut replicas: Vec<LoggedChild> = ["a", "b", "c"].iter().map(|n| replica(kubeconfig, ns.name(), dir.path(), n)).collect();
    let ids = identities(&replicas).await;
    settled(&leases, 3).await;

    // Every version of every app, with the replica that wrote its status.
    let apps: Api<Application> = ns.api();
    let writers: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let recorder = tokio::spawn({
        let (apps, writers) = (apps.clone(), writers.clone());
        async move {
            let mut events = std::pin::pin!(watcher(apps, watcher::Config::default()).applied_objects());
            while let Some(Ok(app)) = events.next().await {
                if let Some(by) = app.status.as_ref().and_then(|s| s.reconciled_by.clone()) {
                    let mut w = writers.lock().unwrap();
                    let seq = w.entry(app.name_any()).or_default();
                    if seq.last() != Some(&by) {
                        seq.push(by);
                    }
                }
            }
        }
    });

    let repo = GitRepo::new();
    for i in 0..APPS {
        repo.write(&format!("app-{i}/cm.yaml"), &configmap(&format!("cm-{i}")));
    }
    repo.commit("apps");
    for i in 0..APPS {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": format!("app-{i}"), "namespace": ns.name() },
            "spec": { "project": "default",
                "source": { "repoURL": repo.url(), "targetRevision": "main", "path": format!("app-{i}") },
                "destination": { "server": "https://kubernetes.default.svc", "namespace": ns.name() },
                "syncPolicy": { "automated": { "prune": true, "selfHeal": true } } },
        }))
        .expect("a valid Application");
        apps.create(&PostParams::default(), &app).await.expect("create the app");
    }

    let owners = |live: &BTreeSet<String>| {
        let apps = apps.clone();
        let live = live.clone();
        async move {
            wait_for("every app Synced, handled by a live replica", TIMEOUT, || async {
                let list = apps.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
                let mut owners = BTreeMap::new();
                for a in &list.items {
                    let s = a.status.clone().unwrap_or_default();
                    match s.reconciled_by {
                        Some(by) if s.sync.status == SyncStatusCode::Synced && live.contains(&by) => {
                            owners.insert(a.name_any(), by);
                        }
                        other => return Err(format!("{}: {:?} by {other:?}", a.name_any(), s.sync.status)),
                    }
                }
                Ok(owners)
            })
            .await
            .expect("the apps settle")
        }
    };
    let all: BTreeSet<String> = ids.iter().cloned().collect();
    let first = owners(&all).await;
    for id in &ids {
        assert!(first.values().any(|o| o == id), "replica {id} holds a share: {first:?}");
    }
    // `cluster get` shows which replicas hold the cluster's apps.
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["cluster", "get", "in-cluster", "-o", "json", "-N", ns.name()])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("run driftless cluster get");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let holders: BTreeSet<String> =
        shown["info"]["replicas"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)).collect();
    // Other tests of this binary run sharded replicas on the same cluster
    // at the same time: theirs may be named too.
    assert!(all.is_subset(&holders), "cluster get names the replicas: {shown}");

    // A replica dies: its apps go to the others, which heal drift on them.
    replicas[0].kill();
    let dead = &ids[0];
    let orphaned: Vec<&String> = first.iter().filter(|(_, o)| *o == dead).map(|(a, _)| a).collect();
    assert!(!orphaned.is_empty());
    let configmaps: Api<ConfigMap> = ns.api();
    for app in &orphaned {
        let cm = format!("cm-{}", app.trim_start_matches("app-"));
        configmaps.delete(&cm, &Default::default()).await.expect("drift: delete a ConfigMap of the dead replica's app");
    }
    let survivors: BTreeSet<String> = ids[1..].iter().cloned().collect();
    let second = owners(&survivors).await;
    for app in &orphaned {
        let cm = format!("cm-{}", app.trim_start_matches("app-"));
        wait_for(&format!("{cm} re-created by a surviving replica"), TIMEOUT, || async {
            configmaps.get_opt(&cm).await.map_err(|e| e.to_string())?.map(drop).ok_or_else(|| "missing".to_string())
        })
        .await
        .expect("drift healed");
        assert_ne!(second[*app], *dead);
    }

    // A fourth replica joins and takes a share.
    replicas.push(replica(kubeconfig, ns.name(), dir.path(), "d"));
    let joined = identities(&replicas[3..]).await.remove(0);
    let mut live = survivors.clone();
    live.insert(joined.clone());
    settled(&leases, 3).await;
    let third = wait_for("the new replica to hold a share", TIMEOUT, || async {
        let owners = owners(&live).await;
        if owners.values().any(|o| *o == joined) { Ok(owners) } else { Err("nothing yet".to_string()) }
    })
    .await
    .expect("the joiner takes a share");
    let moved = first.iter().filter(|(a, o)| *o != dead && third[*a] != **o).count();
    eprintln!("apps moved from surviving replicas to the joiner: {moved}");

    // An app changes hands only when the membership changes: three
    // memberships here (a,b,c; b,c; b,c,d).
    recorder.abort();
    let writers = writers.lock().unwrap();
    for (app, seq) in writers.iter() {
        assert!(seq.len() <= 3, "{app} was written by {seq:?}: more hand-overs than membership changes");
    }
    drop(replicas);
}

/// Sharded replicas split the apps, not the ApplicationSets: one replica,
/// the holder of the Lease `driftless-applicationset`, keeps the sets;
/// when it dies, another takes the Lease and the sets over.
#[tokio::test]
async fn one_sharded_replica_at_a_time_keeps_the_applicationsets() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ns = TestNamespace::new("shard-appsets").await.expect("a test namespace");
    install_crds(&ns.client()).await.expect("install CRDs");
    let kubeconfig = ns.cluster().kubeconfig();
    let leases: Api<Lease> = ns.api();
    let mut replicas: Vec<LoggedChild> = ["a", "b"].iter().map(|n| replica(kubeconfig, ns.name(), dir.path(), n)).collect();
    let ids = identities(&replicas).await;
    let holder = || async {
        wait_for("a live holder of the ApplicationSet Lease", TIMEOUT, || async {
            let lease = leases.get_opt(driftless_controller::APPSET_LEASE).await.map_err(|e| e.to_string())?;
            let holder = lease.and_then(|l| l.spec?.holder_identity).filter(|h| !h.is_empty());
            holder.ok_or_else(|| "none".to_string())
        })
        .await
        .expect("one replica keeps the sets")
    };
    let first = holder().await;
    assert!(ids.contains(&first), "{first} is one of {ids:?}");

    let sets: Api<driftless_api::ApplicationSet> = ns.api();
    let apps: Api<Application> = ns.api();
    // A repository on this machine: the replicas reconcile the apps too.
    let repo = driftless_testkit::GitRepo::new();
    let repo_url = repo.url();
    let set = |envs: &[&str]| -> driftless_api::ApplicationSet {
        let elements: Vec<_> = envs.iter().map(|e| json!({"env": e})).collect();
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "envs", "namespace": ns.name()},
            "spec": {"generators": [{"list": {"elements": elements}}], "template": {
                "metadata": {"name": "web-{{env}}"},
                "spec": {"project": "default", "source": {"repoURL": repo_url, "path": "{{env}}"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": ns.name()}}
            }}
        }))
        .expect("a set")
    };
    let names = |want: usize| {
        let apps = apps.clone();
        async move {
            wait_for(&format!("{want} apps"), TIMEOUT, || async {
                let n = apps.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len();
                if n == want { Ok(()) } else { Err(format!("{n}")) }
            })
            .await
            .expect("the set's apps")
        }
    };
    sets.create(&PostParams::default(), &set(&["dev", "prod"])).await.expect("create the set");
    names(2).await;

    // The holder dies: the other replica takes the Lease and the set.
    let dead = ids.iter().position(|i| *i == first).expect("the holder");
    replicas[dead].kill();
    wait_for("another holder", TIMEOUT, || async {
        let lease = leases.get_opt(driftless_controller::APPSET_LEASE).await.map_err(|e| e.to_string())?;
        let holder = lease.and_then(|l| l.spec?.holder_identity).unwrap_or_default();
        if !holder.is_empty() && holder != first { Ok(()) } else { Err(holder) }
    })
    .await
    .expect("the standby takes over");
    // A merge patch of the spec: the new holder may be writing the status.
    let grown = json!({"spec": set(&["dev", "prod", "qa"]).spec});
    sets.patch("envs", &PatchParams::default(), &Patch::Merge(&grown)).await.expect("grow the set");
    names(3).await;
    drop(replicas);
}
