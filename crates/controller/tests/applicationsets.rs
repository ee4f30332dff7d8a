//! ApplicationSets against the devcluster: Argo CD's documented examples
//! make the Applications Argo CD would (names, specs, owner), they sync,
//! and the set keeps them as its policy says.

mod common;

use std::collections::BTreeSet;

use common::{World, configmap, deployment};
use driftless_api::{Application, ApplicationSet, HealthStatusCode, SyncStatusCode};
use driftless_testkit::{DevCluster, Error, wait_for};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn sets(w: &World) -> Api<ApplicationSet> {
    w.ns.api()
}

async fn create_set(w: &World, name: &str, spec: Value) -> Result<ApplicationSet, Error> {
    let set: ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": w.name()},
        "spec": spec,
    }))
    .expect("a valid ApplicationSet");
    sets(w).create(&PostParams::default(), &set).await.map_err(|source| Error::Kube { what: format!("create set {name}"), source })
}

async fn patch_set(w: &World, name: &str, spec: Value) {
    sets(w).patch(name, &PatchParams::default(), &Patch::Merge(json!({ "spec": spec }))).await.expect("patch set");
}

/// The names of the apps in the world's namespace, once `check` holds.
async fn wait_names(w: &World, what: &str, check: impl Fn(&BTreeSet<String>) -> bool) -> Result<BTreeSet<String>, Error> {
    wait_for(what, common::TIMEOUT, || async {
        let listed = w.apps.list(&Default::default()).await.map_err(|e| format!("{e}"))?;
        let names: BTreeSet<String> = listed.items.iter().map(|a| a.name_any()).collect();
        if check(&names) { Ok(names) } else { Err(format!("{names:?}")) }
    })
    .await
}

async fn wait_set<T>(w: &World, name: &str, what: &str, check: impl Fn(&ApplicationSet) -> Option<T>) -> Result<T, Error> {
    wait_for(what, common::TIMEOUT, || async {
        let set = sets(w).get(name).await.map_err(|e| format!("{e}"))?;
        check(&set).ok_or_else(|| format!("{:?}", set.status))
    })
    .await
}

fn condition(set: &ApplicationSet, type_: &str) -> Option<(String, String)> {
    let c = set.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.message.clone()))
}

fn synced_healthy(a: &Application) -> bool {
    a.status.as_ref().is_some_and(|s| s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy)
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Argo CD's list generator example, with the guestbook in the repo.
#[tokio::test]
async fn the_list_generator_makes_argo_cds_apps_and_they_sync() -> Result<(), Error> {
    let w = World::new("appset-list").await?;
    w.repo.write("guestbook/engineering-dev/cm.yaml", &configmap("dev-config", ""));
    w.repo.write("guestbook/engineering-prod/cm.yaml", &configmap("prod-config", ""));
    w.repo.commit("guestbook");
    let set = create_set(
        &w,
        "guestbook",
        json!({
            "generators": [{"list": {"elements": [
                {"cluster": "engineering-dev", "url": "https://kubernetes.default.svc"},
                {"cluster": "engineering-prod", "url": "https://kubernetes.default.svc"}
            ]}}],
            "template": {
                "metadata": {"name": "{{cluster}}-guestbook"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "guestbook/{{cluster}}"},
                    "destination": {"server": "{{url}}", "namespace": w.name()},
                    "syncPolicy": {"automated": {}}
                }
            }
        }),
    )
    .await?;
    wait_names(&w, "both apps", |n| *n == names(&["engineering-dev-guestbook", "engineering-prod-guestbook"])).await?;
    let app = w.apps.get("engineering-dev-guestbook").await.expect("app");
    assert_eq!(app.spec.source.as_ref().map(|s| s.path.clone().unwrap_or_default()), Some("guestbook/engineering-dev".into()));
    let owner = &app.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("ApplicationSet", "guestbook", set.uid().unwrap().as_str())
    );
    assert_eq!(app.finalizers(), ["resources-finalizer.argocd.argoproj.io"], "deleting an app deletes its resources");
    w.wait_app("engineering-prod-guestbook", "Synced and Healthy", |a| synced_healthy(a).then_some(())).await?;
    assert!(w.exists("configmap", "prod-config") && w.exists("configmap", "dev-config"));
    let status = wait_set(&w, "guestbook", "status", |s| {
        let s = s.status.clone()?;
        (s.resources.len() == 2 && s.resources.iter().all(|r| r.status == SyncStatusCode::Synced)).then_some(s)
    })
    .await?;
    assert_eq!(status.resources_count, Some(2));

    // Deleting the set deletes its apps and, through their finalizer, what they deployed.
    sets(&w).delete("guestbook", &DeleteParams::default()).await.expect("delete set");
    wait_names(&w, "no apps", BTreeSet::is_empty).await?;
    wait_for("the ConfigMaps gone", common::TIMEOUT, || async {
        if w.exists("configmap", "prod-config") { Err("still there") } else { Ok(()) }
    })
    .await?;
    Ok(())
}

fn dir_set(w: &World, policy: &str) -> Value {
    json!({
        "generators": [{"git": {
            "repoURL": w.repo.url(), "revision": "HEAD",
            "directories": [{"path": "apps/*"}, {"path": "apps/excluded", "exclude": true}]
        }}],
        "syncPolicy": {"applicationsSync": policy, "preserveResourcesOnDeletion": true},
        "template": {
            "metadata": {"name": "{{path.basename}}", "labels": {"team": "web"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "{{path}}"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": w.name()},
                "syncPolicy": {"automated": {"prune": true}}
            }
        }
    })
}

#[tokio::test]
async fn git_directories_follow_commits_as_the_policy_allows() -> Result<(), Error> {
    let w = World::new("appset-dirs").await?;
    for d in ["a", "b", "excluded"] {
        w.repo.write(&format!("apps/{d}/cm.yaml"), &configmap(&format!("cm-{d}"), ""));
    }
    w.repo.write("apps/a/nested/cm.yaml", &configmap("nested", ""));
    w.repo.commit("a, b, excluded");
    create_set(&w, "dirs", dir_set(&w, "create-delete")).await?;
    wait_names(&w, "a and b", |n| *n == names(&["a", "b"])).await?;
    w.wait_app("a", "Synced", |a| synced_healthy(a).then_some(())).await?;

    // create-delete: a new directory makes an app; a removed one deletes it
    // (its resources stay: preserveResourcesOnDeletion).
    w.repo.write("apps/c/cm.yaml", &configmap("cm-c", ""));
    w.repo.remove("apps/a/cm.yaml").remove("apps/a/nested/cm.yaml");
    w.repo.commit("c in, a out");
    wait_names(&w, "b and c", |n| *n == names(&["b", "c"])).await?;
    assert!(w.exists("configmap", "cm-a"), "preserveResourcesOnDeletion keeps what a deployed");

    // create-update: a removed directory keeps its app; a template change updates it.
    patch_set(
        &w,
        "dirs",
        json!({"syncPolicy": {"applicationsSync": "create-update"}, "template": {"metadata": {"labels": {"team": "platform"}}}}),
    )
    .await;
    w.repo.remove("apps/b/cm.yaml");
    w.repo.commit("b out");
    w.wait_app("c", "relabelled", |a| (a.labels().get("team").map(String::as_str) == Some("platform")).then_some(())).await?;
    // Once the set has seen the commit (it generates c alone), b is still there.
    wait_set(&w, "dirs", "the commit seen", |s| (s.status.as_ref()?.resources_count == Some(1)).then_some(())).await?;
    assert!(w.apps.get("b").await.is_ok(), "create-update never deletes");

    // create-only: never updates.
    patch_set(
        &w,
        "dirs",
        json!({"syncPolicy": {"applicationsSync": "create-only"}, "template": {"metadata": {"labels": {"team": "ops"}}}}),
    )
    .await;
    w.repo.write("apps/d/cm.yaml", &configmap("cm-d", ""));
    w.repo.commit("d in");
    wait_names(&w, "d created", |n| n.contains("d")).await?;
    let c = w.apps.get("c").await.expect("c");
    assert_eq!(c.labels().get("team").map(String::as_str), Some("platform"), "create-only left c as it was");

    // Deleting a create-only set keeps its apps, as Argo CD: they lose
    // their ownerReference first, so the garbage collector leaves them.
    delete_set_and_wait_gone(&w, "dirs").await?;
    for app in ["b", "c", "d"] {
        let a = w.apps.get(app).await.expect("the app stays");
        assert!(a.owner_references().is_empty(), "{app}: {:?}", a.owner_references());
    }
    Ok(())
}

/// Deletes a set once the controller has put its finalizer on it, and
/// waits until it is gone.
async fn delete_set_and_wait_gone(w: &World, name: &str) -> Result<(), Error> {
    wait_set(w, name, "the set's finalizer", |s| s.finalizers().iter().any(|f| f == FINALIZER).then_some(())).await?;
    sets(w).delete(name, &DeleteParams::default()).await.expect("delete set");
    wait_for("the set gone", common::TIMEOUT, || async {
        match sets(w).get_opt(name).await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

const FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// A set of two apps, `web-dev` (step 1) and `web-prod` (step 2).
fn two_env_set(w: &World, extra: Value) -> Value {
    let mut spec = json!({
        "generators": [{"list": {"elements": [{"env": "dev"}, {"env": "prod"}]}}],
        "template": {
            "metadata": {"name": "web-{{env}}", "labels": {"env": "{{env}}"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "envs/{{env}}"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": w.name()}
            }
        }
    });
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    spec
}

#[tokio::test]
async fn deleting_a_set_keeps_create_update_apps_and_deletes_in_reverse_step_order() -> Result<(), Error> {
    let w = World::new("appset-deletion").await?;
    for env in ["dev", "prod"] {
        w.repo.write(&format!("envs/{env}/cm.yaml"), &configmap(&format!("{env}-config"), ""));
    }
    w.repo.commit("envs");

    // create-update: deleting the set keeps its apps.
    create_set(&w, "kept", two_env_set(&w, json!({"syncPolicy": {"applicationsSync": "create-update"}}))).await?;
    wait_names(&w, "both apps", |n| *n == names(&["web-dev", "web-prod"])).await?;
    delete_set_and_wait_gone(&w, "kept").await?;
    for app in ["web-dev", "web-prod"] {
        let a = w.apps.get(app).await.expect("the app stays");
        assert!(a.owner_references().is_empty(), "{app}: {:?}", a.owner_references());
        w.apps.delete(app, &DeleteParams::default()).await.expect("delete app");
    }
    wait_names(&w, "no apps", BTreeSet::is_empty).await?;

    // deletionOrder Reverse: prod (step 2) goes first; dev waits until it is gone.
    let strategy = json!({"strategy": {"type": "RollingSync", "deletionOrder": "Reverse", "rollingSync": {"steps": [
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}
    ]}}});
    create_set(&w, "ordered", two_env_set(&w, strategy)).await?;
    wait_names(&w, "both apps", |n| *n == names(&["web-dev", "web-prod"])).await?;
    // A finalizer of the test's holds prod in deletion, to see dev wait.
    let hold = "test.driftless.io/hold";
    let prod = w.apps.get("web-prod").await.expect("prod");
    let finalizers: Vec<&str> = prod.finalizers().iter().map(String::as_str).chain([hold]).collect();
    w.apps.patch("web-prod", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": finalizers}}))).await.expect("hold");
    wait_set(&w, "ordered", "the set's finalizer", |s| s.finalizers().iter().any(|f| f == FINALIZER).then_some(())).await?;
    sets(&w).delete("ordered", &DeleteParams::default()).await.expect("delete set");
    w.wait_app("web-prod", "being deleted", |a| a.metadata.deletion_timestamp.is_some().then_some(())).await?;
    // The controller looks again every 10 s at most while a step is deleted.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let dev = w.apps.get("web-dev").await.expect("dev");
    assert!(dev.metadata.deletion_timestamp.is_none(), "dev waits while prod is not gone");
    assert!(sets(&w).get_opt("ordered").await.expect("get").is_some(), "the set waits for its apps");
    let prod = w.apps.get("web-prod").await.expect("prod");
    let finalizers: Vec<&String> = prod.finalizers().iter().filter(|f| *f != hold).collect();
    w.apps
        .patch("web-prod", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": finalizers}})))
        .await
        .expect("release");
    wait_names(&w, "no apps", BTreeSet::is_empty).await?;
    wait_for("the set gone", common::TIMEOUT, || async {
        match sets(&w).get_opt("ordered").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn git_files_merge_and_a_bad_element_change_nothing() -> Result<(), Error> {
    let w = World::new("appset-files").await?;
    w.repo.write("clusters/eu/config.json", r#"{"cluster": {"name": "eu", "replicas": 2}, "team": "red"}"#);
    w.repo.write("clusters/us/config.yaml", "cluster:\n  name: us\n  replicas: 3\nteam: blue\n");
    w.repo.write("app/cm.yaml", &configmap("shared", ""));
    w.repo.commit("configs");
    let template = |name: &str| {
        json!({
            "metadata": {"name": name, "annotations": {"replicas": "{{cluster.replicas}}", "dir": "{{path.basename}}", "team": "{{team}}"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "app"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": w.name()}
            }
        })
    };
    // merge: the files' elements, with the list's element of the same cluster name over them.
    create_set(
        &w,
        "files",
        json!({
            "generators": [{"merge": {"mergeKeys": ["cluster.name"], "generators": [
                {"git": {"repoURL": w.repo.url(), "revision": "HEAD", "files": [{"path": "clusters/**/config.*"}]}},
                {"list": {"elements": [{"cluster.name": "us", "team": "green"}]}}
            ]}}],
            "template": template("{{cluster.name}}-app")
        }),
    )
    .await?;
    wait_names(&w, "eu and us", |n| *n == names(&["eu-app", "us-app"])).await?;
    let us = w.apps.get("us-app").await.expect("us");
    assert_eq!(us.annotations().get("replicas").map(String::as_str), Some("3"));
    assert_eq!(us.annotations().get("dir").map(String::as_str), Some("us"));
    assert_eq!(us.annotations().get("team").map(String::as_str), Some("green"), "the list's element overrides the file's");

    // An element whose name is no valid app name: a condition naming it,
    // and the existing apps are neither changed nor deleted.
    w.repo.write("clusters/bad/config.json", r#"{"cluster": {"name": "Not_Valid", "replicas": 1}, "team": "x"}"#);
    w.repo.commit("a bad cluster name");
    let (_, message) = wait_set(&w, "files", "ErrorOccurred", |s| condition(s, "ErrorOccurred").filter(|c| c.0 == "True")).await?;
    assert!(
        message.contains("spec.generators[0] element") && message.contains("metadata.name") && message.contains("Not_Valid"),
        "{message}"
    );
    assert_eq!(wait_names(&w, "apps", |_| true).await?, names(&["eu-app", "us-app"]));
    Ok(())
}

/// Three steps over dev, qa and prod: a step starts once the one before
/// is Healthy; a Degraded app stops the rollout.
#[tokio::test]
async fn a_rolling_sync_goes_step_by_step_and_stops_at_a_degraded_app() -> Result<(), Error> {
    let w = World::new("appset-rolling").await?;
    for env in ["dev", "qa", "prod"] {
        w.repo.write(&format!("envs/{env}/cm.yaml"), &configmap(&format!("{env}-config"), ""));
    }
    w.repo.commit("envs");
    let spec = json!({
        "generators": [{"list": {"elements": [{"env": "dev"}, {"env": "qa"}, {"env": "prod"}]}}],
        "strategy": {"type": "RollingSync", "rollingSync": {"steps": [
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["qa"]}]},
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}], "maxUpdate": "50%"}
        ]}},
        "template": {
            "metadata": {"name": "web-{{env}}", "labels": {"env": "{{env}}"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "envs/{{env}}"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": w.name()},
                "syncPolicy": {"automated": {"prune": true}}
            }
        }
    });
    create_set(&w, "rolling", spec).await?;
    let status = wait_set(&w, "rolling", "every app Healthy", |s| {
        let st = &s.status.as_ref()?.application_status;
        (st.len() == 3 && st.iter().all(|a| a.status == "Healthy")).then(|| st.clone())
    })
    .await?;
    assert_eq!(status.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["1", "3", "2"], "web-dev, web-prod, web-qa");
    let time = |app: &str| {
        let a = w.kubectl(&["get", "application", app, "-o", "jsonpath={.status.operationState.startedAt}"]);
        a.trim().parse::<k8s_openapi::jiff::Timestamp>().expect("startedAt")
    };
    let synced_at = |app: &str| {
        let a = w.kubectl(&["get", "application", app, "-o", "jsonpath={.status.operationState.finishedAt}"]);
        a.trim().parse::<k8s_openapi::jiff::Timestamp>().expect("finishedAt")
    };
    assert!(time("web-qa") >= synced_at("web-dev"), "qa's sync started after dev's had finished");
    assert!(time("web-prod") >= synced_at("web-qa"), "prod's sync started after qa's had finished");
    let auto = w.kubectl(&["get", "application", "web-dev", "-o", "jsonpath={.spec.syncPolicy.automated}"]);
    assert!(auto.trim().is_empty(), "the rollout, not automation, syncs: {auto}");

    // dev breaks: it goes Degraded; a change to qa made then waits behind it.
    let broken = deployment("web", 1, "app:crashloop").replace("spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 5\n  replicas");
    w.repo.write("envs/dev/deploy.yaml", &broken.replace("name: web", "name: web-dev"));
    w.repo.commit("break dev");
    w.wait_app("web-dev", "Degraded", |a| (a.status.as_ref()?.health.status == HealthStatusCode::Degraded).then_some(())).await?;
    w.repo.write("envs/qa/cm2.yaml", &configmap("qa-more", ""));
    w.repo.commit("change qa");
    w.wait_app("web-qa", "OutOfSync", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::OutOfSync).then_some(())).await?;
    wait_set(&w, "rolling", "dev Progressing (Degraded) and qa Waiting", |s| {
        let st = &s.status.as_ref()?.application_status;
        let of = |n: &str| st.iter().find(|a| a.application == n).map(|a| a.status.clone());
        (of("web-dev")? == "Progressing" && of("web-qa")? == "Waiting").then_some(())
    })
    .await?;
    let qa = w.apps.get("web-qa").await.expect("qa");
    assert_eq!(qa.status.as_ref().map(|s| s.sync.status), Some(SyncStatusCode::OutOfSync), "qa waits behind the Degraded dev");
    assert!(!w.exists("configmap", "qa-more"), "qa's change is not applied");
    let (progressing, _) = wait_set(&w, "rolling", "RolloutProgressing", |s| condition(s, "RolloutProgressing")).await?;
    assert_eq!(progressing, "True");
    Ok(())
}

/// Argo CD's cluster generator example over two registered devclusters
/// (the control plane's own, in-cluster, and a second one), and a matrix
/// of git directories x clusters.
#[tokio::test]
async fn clusters_and_a_matrix_of_directories_by_clusters() -> Result<(), Error> {
    let w = World::new("appset-clusters").await?;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port().to_string();
    let remote = DevCluster::start_with(dir.path(), &["--port", port.as_str()])?;
    let kubeconfig = kube::config::Kubeconfig::read_from(remote.kubeconfig()).expect("kubeconfig");
    let (server, ca, insecure) = driftless_engine::register::from_kubeconfig(&kubeconfig, None).expect("kubeconfig");
    let target_client = remote.client().await?;
    let target = driftless_engine::register::Target::new(&target_client, &server, "staging-east", ca, insecure);
    driftless_engine::register::add(&target, &w.ns.client(), w.name()).await.expect("cluster add");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = w.ns.api();
    let secret = secrets
        .list(&kube::api::ListParams::default().labels("argocd.argoproj.io/secret-type=cluster"))
        .await
        .expect("cluster Secrets")
        .items
        .remove(0);
    secrets
        .patch(&secret.name_any(), &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"staging": "true"}}})))
        .await
        .expect("label the cluster");
    w.repo.write("apps/web/cm.yaml", &configmap("web", ""));
    w.repo.write("apps/api/cm.yaml", &configmap("api", ""));
    w.repo.commit("apps");
    let template = |name: &str, namespace: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "project": "default",
                "source": {"repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "apps/web"},
                "destination": {"server": "{{server}}", "namespace": namespace},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]}
            }
        })
    };
    create_set(&w, "all-clusters", json!({"generators": [{"clusters": {}}], "template": template("{{name}}-guestbook", "guestbook")}))
        .await?;
    create_set(
        &w,
        "staging",
        json!({"generators": [{"clusters": {"selector": {"matchLabels": {"staging": "true"}}}}], "template": template("staging-{{nameNormalized}}", "staging")}),
    )
    .await?;
    wait_names(&w, "in-cluster, staging-east and the selected one", |n| {
        *n == names(&["in-cluster-guestbook", "staging-east-guestbook", "staging-staging-east"])
    })
    .await?;
    w.wait_app("staging-staging-east", "Synced on the second cluster", |a| synced_healthy(a).then_some(())).await?;
    let remote_cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(target_client.clone(), "staging");
    assert!(remote_cms.get("web").await.is_ok(), "the app deployed on the second devcluster");

    let mut matrix = template("{{path.basename}}-{{name}}", "matrix-{{path.basename}}");
    matrix["spec"]["source"]["path"] = json!("{{path}}");
    create_set(
        &w,
        "matrix",
        json!({
            "generators": [{"matrix": {"generators": [
                {"git": {"repoURL": w.repo.url(), "revision": "HEAD", "directories": [{"path": "apps/*"}]}},
                {"clusters": {"selector": {"matchLabels": {"staging": "true"}}}}
            ]}}],
            "template": matrix
        }),
    )
    .await?;
    wait_names(&w, "the matrix", |n| n.contains("web-staging-east") && n.contains("api-staging-east")).await?;
    let api = w.apps.get("api-staging-east").await.expect("api");
    assert_eq!(api.spec.destination.server.as_deref(), Some(server.as_str()));
    assert_eq!(api.spec.source.as_ref().and_then(|s| s.path.clone()).as_deref(), Some("apps/api"));
    drop(remote);
    Ok(())
}

/// Go templates with Sprig and `missingkey=error`: a template that names
/// a missing key is a condition naming the element, and no app changes.
#[tokio::test]
async fn go_templates_with_sprig_and_an_error_that_changes_nothing() -> Result<(), Error> {
    let w = World::new("appset-gotemplate").await?;
    w.repo.write("app/cm.yaml", &configmap("go", ""));
    w.repo.commit("app");
    let spec = |name: &str| {
        json!({
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": [{"cluster": "Engineering Dev", "tier": "gold"}, {"cluster": "QA", "tier": "silver"}]}}],
            "template": {
                "metadata": {"name": name, "labels": {"tier": "{{ .tier | upper }}"}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "app"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": w.name()}
                }
            }
        })
    };
    create_set(&w, "go", spec("{{ .cluster | normalize }}-{{ .tier | default \"none\" | trunc 3 }}")).await?;
    wait_names(&w, "two apps", |n| *n == names(&["engineering-dev-gol", "qa-sil"])).await?;
    assert_eq!(w.apps.get("qa-sil").await.expect("qa").labels().get("tier").map(String::as_str), Some("SILVER"));

    patch_set(&w, "go", json!({"template": {"metadata": {"name": "{{ .cluster | normalize }}-{{ .region }}"}}})).await;
    let (_, message) = wait_set(&w, "go", "ErrorOccurred", |s| condition(s, "ErrorOccurred").filter(|c| c.0 == "True")).await?;
    assert!(
        message.contains("spec.generators[0] element 0")
            && message.contains("metadata.name")
            && message.contains("map has no entry for key \"region\""),
        "{message}"
    );
    assert_eq!(wait_names(&w, "apps", |_| true).await?, names(&["engineering-dev-gol", "qa-sil"]), "nothing deleted or renamed");
    Ok(())
}

#[tokio::test]
async fn a_set_nested_deeper_than_the_controller_reads_fails_alone_and_changes_nothing() -> Result<(), Error> {
    // List elements are kept as written, to any depth; kube-rs' JSON reads
    // 128 levels. Such a set once made every list and watch of the
    // namespace's sets fail: no set there was reconciled again.
    let w = World::new("appset-deep").await?;
    w.repo.write("app/cm.yaml", &configmap("shared", ""));
    w.repo.commit("app");
    let set = |prefix: &str, envs: &[&str]| {
        let elements: Vec<Value> = envs.iter().map(|e| json!({ "env": e })).collect();
        json!({
            "generators": [{ "list": { "elements": elements } }],
            "template": {
                "metadata": { "name": format!("{prefix}-{{{{env}}}}") },
                "spec": { "project": "default", "source": { "repoURL": w.repo.url(), "targetRevision": "HEAD", "path": "app" },
                          "destination": { "server": "https://kubernetes.default.svc", "namespace": w.name() } }
            }
        })
    };
    create_set(&w, "deep", set("deep", &["dev"])).await?;
    create_set(&w, "web", set("web", &["dev"])).await?;
    wait_names(&w, "deep-dev and web-dev", |n| *n == names(&["deep-dev", "web-dev"])).await?;

    let deep = (0..300).fold(json!({}), |inner, _| json!({ "a": inner }));
    patch_set(&w, "deep", json!({ "generators": [{ "list": { "elements": [{ "env": "dev" }, deep] } }] })).await;
    let (_, message) = wait_set(&w, "deep", "ErrorOccurred", |s| condition(s, "ErrorOccurred").filter(|c| c.0 == "True")).await?;
    assert!(message.contains("elements[1]") && message.contains("nested deeper than 100 levels"), "{message}");

    // The other set is still watched: it follows an edit.
    patch_set(&w, "web", set("web", &["dev", "prod"])).await;
    wait_names(&w, "web-prod as well", |n| *n == names(&["deep-dev", "web-dev", "web-prod"])).await?;
    Ok(())
}
