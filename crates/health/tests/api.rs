//! Status ordering, aggregation, serialization and input errors.

use driftless_health::{CustomChecks, Error, Health, HealthStatusCode, aggregate, assess};
use serde_json::json;

use HealthStatusCode::{Degraded, Healthy, Missing, Progressing, Suspended, Unknown};

#[test]
fn is_worse_follows_argo_health_order() {
    let order = [Healthy, Suspended, Progressing, Missing, Degraded, Unknown];
    assert_eq!(order, HealthStatusCode::ORDER);
    for (i, a) in order.iter().enumerate() {
        for (j, b) in order.iter().enumerate() {
            assert_eq!(a.is_worse(*b), i > j, "{a} worse than {b}?");
        }
    }
    assert!(Degraded.is_worse(Missing));
    assert!(Missing.is_worse(Progressing));
    assert!(Progressing.is_worse(Suspended));
    assert!(!Healthy.is_worse(Healthy));
}

#[test]
fn aggregate_is_the_worst() {
    let hs = |codes: &[HealthStatusCode]| -> Vec<Health> { codes.iter().map(|c| Health::status(*c)).collect() };
    assert_eq!(aggregate(&hs(&[])), Healthy);
    assert_eq!(aggregate(&hs(&[Healthy, Healthy])), Healthy);
    assert_eq!(aggregate(&hs(&[Healthy, Suspended])), Suspended);
    assert_eq!(aggregate(&hs(&[Suspended, Progressing, Healthy])), Progressing);
    assert_eq!(aggregate(&hs(&[Missing, Progressing])), Missing);
    assert_eq!(aggregate(&hs(&[Missing, Degraded, Healthy])), Degraded);
    assert_eq!(aggregate(&hs(&[Degraded, Unknown])), Unknown);
}

#[test]
fn aggregate_skips_resources_without_health() {
    let assessed = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}}),
    ]
    .iter()
    .map(|o| assess(o, &CustomChecks::none()).expect("valid object"))
    .collect::<Vec<_>>();
    assert_eq!(assessed[0], None);
    assert_eq!(aggregate(assessed.iter().flatten()), Progressing);
}

#[test]
fn codes_serialize_as_argo_spells_them() {
    for code in HealthStatusCode::ORDER {
        let s = serde_json::to_string(&code).expect("serializes");
        assert_eq!(s, format!("\"{}\"", code.as_str()));
        let back: HealthStatusCode = serde_json::from_str(&s).expect("parses");
        assert_eq!(back, code);
        assert_eq!(HealthStatusCode::parse(code.as_str()), Some(code));
    }
    assert_eq!(HealthStatusCode::parse("healthy"), None);
}

#[test]
fn health_json_omits_empty_message() {
    assert_eq!(serde_json::to_value(Health::new(Healthy, "")).expect("serializes"), json!({"status": "Healthy"}));
    assert_eq!(serde_json::to_value(Health::new(Degraded, "boom")).expect("serializes"), json!({"status": "Degraded", "message": "boom"}));
    let parsed: Health = serde_json::from_value(json!({"status": "Missing"})).expect("parses");
    assert_eq!(parsed, Health::status(Missing));
}

#[test]
fn non_objects_are_errors() {
    let none = CustomChecks::none();
    for bad in [json!("Pod"), json!({"kind": "Pod"}), json!({"apiVersion": "v1"}), json!({"apiVersion": "v1", "kind": ""})] {
        assert!(matches!(assess(&bad, &none), Err(Error::InvalidObject(_))), "{bad}");
    }
}

#[test]
fn sparse_objects_do_not_panic() {
    // Objects fresh from a create, before any controller wrote status.
    let none = CustomChecks::none();
    for (api_version, kind) in [
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("v1", "Pod"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("v1", "Service"),
        ("networking.k8s.io/v1", "Ingress"),
        ("v1", "PersistentVolumeClaim"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("autoscaling/v1", "HorizontalPodAutoscaler"),
        ("apiregistration.k8s.io/v1", "APIService"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("v1", "Namespace"),
        ("argoproj.io/v1alpha1", "Application"),
        ("argoproj.io/v1alpha1", "Workflow"),
    ] {
        let obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "generation": 1},
                         "spec": {"replicas": "three", "type": 7}, "status": null});
        let h = assess(&obj, &none).expect("valid object");
        assert!(h.is_some(), "{kind} should have a health");
    }
}

#[test]
fn hpa_v1_with_broken_annotation_is_unknown() {
    let hpa = json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "annotations": {"autoscaling.alpha.kubernetes.io/conditions": "[{"}},
        "spec": {"maxReplicas": 3}
    });
    let h = assess(&hpa, &CustomChecks::none()).expect("valid").expect("has health");
    assert_eq!(h.status, Unknown);
}

#[test]
fn custom_checks_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone + Default>() {}
    shareable::<CustomChecks>();
}
