//! The dev control plane is a real one: workloads reach their real status
//! through the real controllers, driven by the fake kubelet.

use std::time::Duration;

use driftless_testkit::{Error, TestNamespace, wait_for};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

/// Generous: the controllers react in well under a second, but CI machines
/// can be slow. Tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(90);

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "main", "image": image }] }
            }
        }
    }))
    .expect("valid Deployment")
}

fn job(name: &str, image: &str) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{ "name": "main", "image": image }]
                }
            }
        }
    }))
    .expect("valid Job")
}

async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K, Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply("driftless-test"), &Patch::Apply(obj))
        .await
        .map_err(|source| Error::Kube { what: format!("apply {name}"), source })
}

/// Pods matching `selector` that are Ready.
async fn ready_pods(pods: &Api<Pod>, selector: &str) -> Result<Vec<String>, kube::Error> {
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| p.metadata.name)
        .collect())
}

async fn wait_available(deployments: &Api<Deployment>, pods: &Api<Pod>, name: &str, replicas: i32) -> Result<(), Error> {
    wait_for(&format!("deployment {name} to have {replicas} available replicas"), TIMEOUT, || async {
        let d = deployments.get_status(name).await.map_err(|e| e.to_string())?;
        let status = d.status.unwrap_or_default();
        let ready = ready_pods(pods, &format!("app={name}")).await.map_err(|e| e.to_string())?;
        let available = status.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Available" && c.status == "True");
        if available
            && status.available_replicas == Some(replicas)
            && status.updated_replicas == Some(replicas)
            && ready.len() == replicas as usize
        {
            Ok(())
        } else {
            Err(format!("availableReplicas={:?} available={available} ready pods={ready:?}", status.available_replicas))
        }
    })
    .await
}

#[tokio::test]
async fn deployment_becomes_available_scales_and_is_garbage_collected() -> Result<(), Error> {
    let ns = TestNamespace::new("deployment").await?;
    let deployments: Api<Deployment> = ns.api();
    let pods: Api<Pod> = ns.api();
    let replicasets: Api<ReplicaSet> = ns.api();

    apply(&deployments, &deployment("web", 2, "nginx:1.27")).await?;
    wait_available(&deployments, &pods, "web", 2).await?;

    apply(&deployments, &deployment("web", 3, "nginx:1.27")).await?;
    wait_available(&deployments, &pods, "web", 3).await?;

    deployments
        .delete("web", &DeleteParams::background())
        .await
        .map_err(|source| Error::Kube { what: "delete deployment web".into(), source })?;
    wait_for("the garbage collector to remove web's ReplicaSets and Pods", TIMEOUT, || async {
        let rs = replicasets.list(&ListParams::default().labels("app=web")).await.map_err(|e| e.to_string())?;
        let ps = pods.list(&ListParams::default().labels("app=web")).await.map_err(|e| e.to_string())?;
        if rs.items.is_empty() && ps.items.is_empty() {
            Ok(())
        } else {
            Err(format!("{} ReplicaSets, {} Pods left", rs.items.len(), ps.items.len()))
        }
    })
    .await
}

#[tokio::test]
async fn crashloop_image_keeps_a_deployment_unavailable() -> Result<(), Error> {
    let ns = TestNamespace::new("crashloop").await?;
    let deployments: Api<Deployment> = ns.api();
    let pods: Api<Pod> = ns.api();
    apply(&deployments, &deployment("broken", 1, "registry.example/app:crashloop")).await?;

    // Wait until the pod has crashed at least once and is backing off ...
    wait_for("the pod to be in CrashLoopBackOff", TIMEOUT, || async {
        let list = pods.list(&ListParams::default().labels("app=broken")).await.map_err(|e| e.to_string())?;
        let waiting: Vec<_> = list
            .items
            .iter()
            .flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()))
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .collect();
        if waiting.iter().any(|r| r == "CrashLoopBackOff") { Ok(()) } else { Err(format!("waiting reasons: {waiting:?}")) }
    })
    .await?;

    // ... and then the Deployment controller must judge it unavailable.
    wait_for("the Deployment to report Available=False", TIMEOUT, || async {
        let d = deployments.get_status("broken").await.map_err(|e| e.to_string())?;
        let status = d.status.unwrap_or_default();
        let available = status.conditions.unwrap_or_default().into_iter().find(|c| c.type_ == "Available");
        match available {
            Some(c) if c.status == "False" && status.available_replicas.unwrap_or(0) == 0 => Ok(()),
            other => Err(format!("{other:?}, availableReplicas={:?}", status.available_replicas)),
        }
    })
    .await?;
    assert!(ready_pods(&pods, "app=broken").await.expect("list pods").is_empty(), "a crash-looping pod must never be Ready");
    Ok(())
}

async fn job_condition(jobs: &Api<Job>, name: &str, condition: &str) -> Result<(), Error> {
    wait_for(&format!("job {name} to be {condition}"), TIMEOUT, || async {
        let j = jobs.get_status(name).await.map_err(|e| e.to_string())?;
        let conditions = j.status.and_then(|s| s.conditions).unwrap_or_default();
        if conditions.iter().any(|c| c.type_ == condition && c.status == "True") {
            Ok(())
        } else {
            Err(format!("conditions: {:?}", conditions.iter().map(|c| format!("{}={}", c.type_, c.status)).collect::<Vec<_>>()))
        }
    })
    .await
}

#[tokio::test]
async fn jobs_complete_and_the_fail_image_fails() -> Result<(), Error> {
    let ns = TestNamespace::new("jobs").await?;
    let jobs: Api<Job> = ns.api();
    apply(&jobs, &job("migrate", "busybox:1.36")).await?;
    apply(&jobs, &job("broken", "busybox:fail")).await?;
    job_condition(&jobs, "migrate", "Complete").await?;
    job_condition(&jobs, "broken", "Failed").await
}

#[tokio::test]
async fn statefulsets_and_daemonsets_become_ready() -> Result<(), Error> {
    let ns = TestNamespace::new("workloads").await?;
    let statefulsets: Api<StatefulSet> = ns.api();
    let daemonsets: Api<DaemonSet> = ns.api();
    let sts: StatefulSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": "db" },
        "spec": {
            "replicas": 2, "serviceName": "db",
            "selector": { "matchLabels": { "app": "db" } },
            "template": { "metadata": { "labels": { "app": "db" } },
                          "spec": { "containers": [{ "name": "db", "image": "postgres:17" }] } }
        }
    }))
    .expect("valid StatefulSet");
    let ds: DaemonSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": { "name": "agent" },
        "spec": {
            "selector": { "matchLabels": { "app": "agent" } },
            "template": { "metadata": { "labels": { "app": "agent" } },
                          "spec": { "containers": [{ "name": "agent", "image": "fluent-bit:3" }] } }
        }
    }))
    .expect("valid DaemonSet");
    apply(&statefulsets, &sts).await?;
    apply(&daemonsets, &ds).await?;

    wait_for("statefulset db to have 2 ready replicas", TIMEOUT, || async {
        let s = statefulsets.get_status("db").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        if s.ready_replicas == Some(2) && s.available_replicas == Some(2) { Ok(()) } else { Err(format!("{s:?}")) }
    })
    .await?;
    wait_for("daemonset agent to run a ready pod on every node", TIMEOUT, || async {
        let s = daemonsets.get_status("agent").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        if s.desired_number_scheduled > 0 && s.number_ready == s.desired_number_scheduled && s.number_available == Some(s.number_ready) {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn kubectl_works_with_the_written_kubeconfig() -> Result<(), Error> {
    let ns = TestNamespace::new("kubectl").await?;
    let deployments: Api<Deployment> = ns.api();
    let pods: Api<Pod> = ns.api();
    apply(&deployments, &deployment("hello", 1, "nginx:1.27")).await?;
    wait_available(&deployments, &pods, "hello", 1).await?;

    let kubeconfig = ns.cluster().kubeconfig().to_path_buf();
    let name = ns.name().to_string();
    let output = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "pods", "--namespace", &name, "--no-headers"])
        .output()
        .await
        .expect("kubectl is on PATH");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "kubectl failed: {}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.lines().any(|l| l.starts_with("hello-") && l.contains("1/1") && l.contains("Running")),
        "kubectl should list hello's running pod, got:\n{stdout}"
    );
    Ok(())
}
