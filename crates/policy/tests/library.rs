//! The ready policies of `policies/` at the repository's root, each against
//! objects that pass and objects that fail.

use driftless_api::{AppProject, Application};
use driftless_policy::{Context, Module, PolicySet, VerdictCache};
use serde_json::{Value, json};

fn policy(file: &str) -> PolicySet {
    let path = format!("{}/../../policies/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let module = Module::new(file, &text, None);
    assert_eq!(module.error(), None, "{file} compiles");
    PolicySet::new(vec![module])
}

/// The deny messages of `file` on `object`, each prefixed by the object.
fn denies(file: &str, object: &Value) -> Vec<String> {
    let mut app = Application::default();
    app.metadata.name = Some("app".into());
    let project = AppProject::new("default", Default::default());
    let v = policy(file).evaluate(&Context::new(&app, &project), [object], &VerdictCache::default());
    assert!(v.errors.is_empty(), "{file}: {:?}", v.errors);
    v.denies.iter().map(|d| format!("{}: {}", d.object, d.message)).collect()
}

fn container(name: &str, image: &str, extra: Value) -> Value {
    let mut c = json!({"name": name, "image": image});
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    c
}

fn limited() -> Value {
    json!({"resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}})
}

/// A workload of `kind` whose Pod spec holds `containers` and `init`.
fn workload(kind: &str, containers: Vec<Value>, init: Vec<Value>) -> Value {
    let pod = json!({"containers": containers, "initContainers": init});
    let (api_version, spec) = match kind {
        "Pod" => ("v1", pod),
        "CronJob" => ("batch/v1", json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}})),
        "Job" => ("batch/v1", json!({"template": {"spec": pod}})),
        _ => ("apps/v1", json!({"template": {"spec": pod}})),
    };
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "w", "namespace": "demo"}, "spec": spec})
}

#[test]
fn resource_limits_on_every_container_of_every_workload() {
    for kind in ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"] {
        let ok = workload(kind, vec![container("app", "r/app:1", limited())], vec![container("init", "r/init:1", limited())]);
        assert_eq!(denies("resource-limits.rego", &ok), Vec::<String>::new(), "{kind}");
        let bad = workload(
            kind,
            vec![container("app", "r/app:1", json!({"resources": {"limits": {"cpu": "1"}}}))],
            vec![container("setup", "r/init:1", json!({}))],
        );
        let found = denies("resource-limits.rego", &bad);
        let id = match kind {
            "Pod" => "Pod demo/w".to_string(),
            "Job" | "CronJob" => format!("batch/{kind} demo/w"),
            _ => format!("apps/{kind} demo/w"),
        };
        assert_eq!(
            found,
            [
                format!("{id}: container \"app\" has no resources.limits.memory"),
                format!("{id}: init container \"setup\" has no resources.limits.cpu"),
                format!("{id}: init container \"setup\" has no resources.limits.memory"),
            ],
            "{kind}"
        );
    }
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"containers": "[]"}});
    assert!(denies("resource-limits.rego", &cm).is_empty(), "other kinds are left alone");
}

#[test]
fn images_only_from_allowed_registries() {
    let pass = ["registry.example.com/team/app:1.2", "ghcr.io/example-org/tool@sha256:abc"];
    for image in pass {
        let ok = workload("Deployment", vec![container("app", image, json!({}))], vec![]);
        assert!(denies("allowed-registries.rego", &ok).is_empty(), "{image}");
    }
    let fail = ["nginx:1.25", "library/nginx", "ghcr.io/other-org/x:1", "registry.example.com.evil.io/x:1", "localhost:5000/x:1"];
    for image in fail {
        let bad = workload("Deployment", vec![], vec![container("init", image, json!({}))]);
        assert_eq!(
            denies("allowed-registries.rego", &bad),
            [format!(
                "apps/Deployment demo/w: init container \"init\" uses image \"{image}\", which is not from an allowed registry (registry.example.com/, ghcr.io/example-org/)"
            )],
            "{image}"
        );
    }
}

#[test]
fn no_latest_or_untagged_images() {
    for image in ["nginx:1.25", "localhost:5000/app:v2", "nginx@sha256:0123", "r.io/a/b:latest@sha256:0123"] {
        let ok = workload("CronJob", vec![container("app", image, json!({}))], vec![]);
        assert!(denies("image-tags.rego", &ok).is_empty(), "{image}");
    }
    let cases = [
        ("nginx:latest", "container \"app\" uses image \"nginx:latest\": the tag latest moves; pin a version or a digest"),
        ("nginx", "container \"app\" uses image \"nginx\" without a tag (that is latest); pin a version or a digest"),
        (
            "localhost:5000/app",
            "container \"app\" uses image \"localhost:5000/app\" without a tag (that is latest); pin a version or a digest",
        ),
    ];
    for (image, message) in cases {
        let bad = workload("CronJob", vec![container("app", image, json!({}))], vec![]);
        assert_eq!(denies("image-tags.rego", &bad), [format!("batch/CronJob demo/w: {message}")], "{image}");
    }
}

#[test]
fn no_privileged_containers_or_privilege_escalation() {
    let ok = workload(
        "DaemonSet",
        vec![container("app", "a:1", json!({"securityContext": {"privileged": false, "allowPrivilegeEscalation": false}}))],
        vec![container("init", "a:1", json!({}))],
    );
    assert!(denies("privileged.rego", &ok).is_empty());
    let bad = workload(
        "Pod",
        vec![container("app", "a:1", json!({"securityContext": {"privileged": true}}))],
        vec![container("init", "a:1", json!({"securityContext": {"allowPrivilegeEscalation": true}}))],
    );
    assert_eq!(
        denies("privileged.rego", &bad),
        [
            "Pod demo/w: container \"app\" is privileged (securityContext.privileged: true)",
            "Pod demo/w: init container \"init\" allows privilege escalation (securityContext.allowPrivilegeEscalation: true)",
        ]
    );
}

#[test]
fn required_labels_on_every_object() {
    let labels = json!({"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop"});
    let ok = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": labels}});
    assert!(denies("required-labels.rego", &ok).is_empty());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
    assert!(denies("required-labels.rego", &ns).is_empty(), "exempt kinds");
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "demo", "labels": {"app.kubernetes.io/name": "web"}}});
    assert_eq!(denies("required-labels.rego", &bad), ["ConfigMap demo/c: missing the required label \"app.kubernetes.io/part-of\""]);
}

/// The library loads as a directory, as `driftless validate --policy` reads it.
#[test]
fn the_library_loads_as_a_directory() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let set = PolicySet::from_dir(&dir).unwrap();
    assert_eq!(set.modules().count(), 5);
    assert!(set.modules().all(|m| m.error().is_none()));
}
