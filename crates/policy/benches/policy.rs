//! What policy evaluation costs: the library of `policies/` (five modules)
//! on 10,000 rendered objects (Deployments, Services, ConfigMaps, CronJobs),
//! cold (every object evaluated) and cached (the same objects again, as a
//! reconcile woken by a live event sees them), and after a commit that
//! changes one object in a hundred. `cargo bench -p driftless-policy`.

use std::time::{Duration, Instant};

use driftless_api::{AppProject, Application};
use driftless_policy::{Context, PolicySet, VerdictCache};
use serde_json::{Value, json};

const OBJECTS: usize = 10_000;

fn object(i: usize, revision: usize) -> Value {
    let labels = json!({"app.kubernetes.io/name": format!("svc-{}", i / 4), "app.kubernetes.io/part-of": "shop"});
    let container = json!({
        "name": "app", "image": format!("registry.example.com/shop/svc-{}:{revision}", i / 4),
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false},
        "env": (0..10).map(|e| json!({"name": format!("E{e}"), "value": format!("v{e}")})).collect::<Vec<_>>(),
    });
    let meta = json!({"name": format!("svc-{i}"), "namespace": "shop", "labels": labels});
    match i % 4 {
        0 => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                    "spec": {"replicas": 2, "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}),
        1 => json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"ports": [{"port": 80}]}}),
        2 => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                    "data": (0..20).map(|k| (format!("key{k}"), json!(format!("value {k} {revision}")))).collect::<serde_json::Map<_, _>>()}),
        _ => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
                    "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [container]}}}}}}),
    }
}

fn per_object(d: Duration, n: usize) -> String {
    format!("{:>8.1} µs/object  ({:.2} s for {n})", d.as_secs_f64() * 1e6 / n as f64, d.as_secs_f64())
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let started = Instant::now();
    let set = PolicySet::from_dir(&dir).expect("the library loads");
    let compile = started.elapsed();
    assert!(set.modules().all(|m| m.error().is_none()));
    let mut app = Application::default();
    app.metadata.name = Some("shop".into());
    let context = Context::new(&app, &AppProject::new("default", Default::default()));
    let objects: Vec<Value> = (0..OBJECTS).map(|i| object(i, 1)).collect();
    let cache = VerdictCache::new(2 * OBJECTS);

    println!("policy evaluation: {} modules of policies/, {OBJECTS} objects", set.modules().count());
    println!("  compile the modules       {:>8.1} ms", compile.as_secs_f64() * 1e3);

    let started = Instant::now();
    let cold = set.evaluate(&context, &objects, &cache);
    println!("  cold                      {}", per_object(started.elapsed(), OBJECTS));
    assert!(!cold.blocks(), "the objects pass: {:?}", cold.blocking_summary(3));

    let started = Instant::now();
    let cached = set.evaluate(&context, &objects, &cache);
    println!("  cached                    {}", per_object(started.elapsed(), OBJECTS));
    assert_eq!(cached, cold);

    let changed: Vec<Value> = (0..OBJECTS).map(|i| object(i, if i % 100 == 0 { 2 } else { 1 })).collect();
    let started = Instant::now();
    set.evaluate(&context, &changed, &cache);
    println!("  1% of objects changed     {}", per_object(started.elapsed(), OBJECTS));

    // Every object denied by every module: the cost of messages.
    let bad: Vec<Value> = (0..1_000)
        .map(|i| {
            let mut o = object(i * 4, 1);
            o["metadata"]["labels"] = json!({});
            o["spec"]["template"]["spec"]["containers"][0] =
                json!({"name": "app", "image": "nginx", "securityContext": {"privileged": true}});
            o
        })
        .collect();
    let started = Instant::now();
    let denied = set.evaluate(&context, &bad, &VerdictCache::default());
    println!("  cold, every module denies {}  ({} denies)", per_object(started.elapsed(), bad.len()), denied.denies.len());
    let (hits, misses) = cache.hits_and_misses();
    println!("  cache: {} verdicts kept, {hits} hits, {misses} misses", cache.len());
}
