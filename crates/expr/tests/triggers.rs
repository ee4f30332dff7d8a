//! Argo CD's catalog triggers, as a user copies them from its docs, over
//! Applications as Argo CD writes them: each fires on the state it names
//! and on no other, and `oncePer` keys come out as Argo CD's `%v`.

use driftless_expr::{Env, ExprError, Value, compile};
use serde_json::{Value as Json, json};

const NOW: &str = "2024-05-01T12:10:00Z";

/// The catalog's `when` conditions (argo-cd `notifications_catalog/triggers`).
const ON_CREATED: &str = "true";
const ON_DELETED: &str = "app.metadata.deletionTimestamp != nil";
const ON_DEPLOYED: &str = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and !time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.finishedAt))";
const ON_HEALTH_DEGRADED: &str = "app.status.health.status == 'Degraded'";
const ON_SYNC_FAILED: &str = "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']";
const ON_SYNC_RUNNING: &str = "app.status.operationState != nil and app.status.operationState.phase in ['Running']";
const ON_SYNC_STATUS_UNKNOWN: &str = "app.status.sync.status == 'Unknown'";
const ON_SYNC_SUCCEEDED: &str = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']";
const SYNC_RUNNING_LONG: &str = "time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5";
const OUT_OF_SYNC_SINCE: &str = "app.metadata.annotations['driftless.dev/out-of-sync-since'] != nil";
const FAILED_PHASE: &str = "app.status.operationState.phase in ['Error', 'Failed']";
const ONCE_PER_REVISION: &str = "app.status.operationState?.syncResult?.revision";

fn app(status: Json) -> Json {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "guestbook",
            "namespace": "argocd",
            "uid": "6f1b3c2e-0d4f-4a8e-9a61-2b9f1d7c5e10",
            "creationTimestamp": "2024-05-01T11:00:00Z",
            "annotations": {"notifications.argoproj.io/subscribe.on-deployed.slack": "deploys"},
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
        },
        "status": status,
    })
}

fn operation(phase: &str, finished: Option<&str>) -> Json {
    let mut op = json!({
        "operation": {"sync": {"revision": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}, "initiatedBy": {"automated": true}},
        "phase": phase,
        "message": format!("sync {phase}"),
        "startedAt": "2024-05-01T12:00:00Z",
        "syncResult": {
            "revision": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
            "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook"},
            "resources": [
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "guestbook", "name": "guestbook-ui", "status": "Synced", "message": "deployment.apps/guestbook-ui configured", "hookPhase": "Running", "syncPhase": "Sync"},
                {"group": "", "version": "v1", "kind": "Service", "namespace": "guestbook", "name": "guestbook-ui", "status": "Synced", "message": "service/guestbook-ui unchanged", "syncPhase": "Sync"}
            ]
        }
    });
    if let Some(f) = finished {
        op["finishedAt"] = json!(f);
    }
    op
}

fn status(health: &str, health_since: &str, sync: &str, op: Option<Json>) -> Json {
    let mut s = json!({
        "health": {"status": health, "lastTransitionTime": health_since},
        "sync": {"status": sync, "revision": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "comparedTo": {"source": {"path": "guestbook"}}},
        "resources": [
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "guestbook", "name": "guestbook-ui", "status": "Synced", "health": {"status": health}},
            {"version": "v1", "kind": "Service", "namespace": "guestbook", "name": "guestbook-ui", "status": "Synced", "health": {"status": "Healthy"}}
        ],
        "reconciledAt": "2024-05-01T12:09:00Z",
        "summary": {"images": ["gcr.io/heptio-images/ks-guestbook-demo:0.2"]},
    });
    if let Some(op) = op {
        s["operationState"] = op;
    }
    s
}

fn env(app: Json) -> Env {
    let mut vars = serde_json::Map::new();
    vars.insert("app".into(), app);
    Env { vars, now: NOW.parse().unwrap() }
}

fn run(src: &str, app: &Json) -> Result<Value, ExprError> {
    compile(src).unwrap_or_else(|e| panic!("{src}: {e}")).run(&env(app.clone()))
}

/// Whether the trigger fires: Argo CD counts only `true`, and a failed
/// evaluation as not triggered.
fn fires(src: &str, app: &Json) -> bool {
    run(src, app).ok().and_then(|v| v.as_bool()) == Some(true)
}

struct World {
    succeeded: Json,
    failed: Json,
    errored: Json,
    running: Json,
    never_synced: Json,
    degraded: Json,
    deleting: Json,
    healthy_before_sync_finished: Json,
}

fn world() -> World {
    let deleting = {
        let mut a = app(status("Healthy", "2024-05-01T12:01:00Z", "Synced", None));
        a["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:09:30Z");
        a["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
        a
    };
    World {
        succeeded: app(status("Healthy", "2024-05-01T12:02:00Z", "Synced", Some(operation("Succeeded", Some("2024-05-01T12:01:30Z"))))),
        failed: app(status("Healthy", "2024-05-01T11:00:00Z", "OutOfSync", Some(operation("Failed", Some("2024-05-01T12:01:00Z"))))),
        errored: app(status("Missing", "2024-05-01T11:00:00Z", "OutOfSync", Some(operation("Error", Some("2024-05-01T12:00:01Z"))))),
        running: app(status("Progressing", "2024-05-01T12:00:05Z", "OutOfSync", Some(operation("Running", None)))),
        never_synced: app(status("Missing", "2024-05-01T11:00:00Z", "OutOfSync", None)),
        degraded: app(status("Degraded", "2024-05-01T12:05:00Z", "Synced", Some(operation("Succeeded", Some("2024-05-01T12:01:30Z"))))),
        deleting,
        healthy_before_sync_finished: app(status(
            "Healthy",
            "2024-05-01T11:00:00Z",
            "Synced",
            Some(operation("Succeeded", Some("2024-05-01T12:01:30Z"))),
        )),
    }
}

#[test]
fn each_catalog_trigger_fires_on_its_state_only() {
    let w = world();
    let apps = [
        ("succeeded", &w.succeeded),
        ("failed", &w.failed),
        ("errored", &w.errored),
        ("running", &w.running),
        ("never_synced", &w.never_synced),
        ("degraded", &w.degraded),
        ("deleting", &w.deleting),
        ("healthy_before_sync_finished", &w.healthy_before_sync_finished),
    ];
    let expectations: [(&str, &[&str]); 9] = [
        (
            ON_CREATED,
            &["succeeded", "failed", "errored", "running", "never_synced", "degraded", "deleting", "healthy_before_sync_finished"],
        ),
        (ON_DELETED, &["deleting"]),
        (ON_DEPLOYED, &["succeeded"]),
        (ON_HEALTH_DEGRADED, &["degraded"]),
        (ON_SYNC_FAILED, &["failed", "errored"]),
        (ON_SYNC_RUNNING, &["running"]),
        (ON_SYNC_STATUS_UNKNOWN, &[]),
        (ON_SYNC_SUCCEEDED, &["succeeded", "degraded", "healthy_before_sync_finished"]),
        (OUT_OF_SYNC_SINCE, &[]),
    ];
    for (trigger, want) in expectations {
        let fired: Vec<&str> = apps.iter().filter(|(_, a)| fires(trigger, a)).map(|(n, _)| *n).collect();
        assert_eq!(fired, want, "{trigger}");
    }
}

#[test]
fn on_deployed_fails_rather_than_fires_without_an_operation() {
    let w = world();
    // The last clause reads finishedAt, which a running sync lacks: time.Parse(nil) fails, and
    // Argo CD counts the failure as not triggered. `and` stops before it when the phase differs.
    assert_eq!(run(ON_DEPLOYED, &w.running).unwrap(), Value::Bool(false));
    let mut running_succeeded = w.running.clone();
    running_succeeded["status"]["operationState"]["phase"] = json!("Succeeded");
    running_succeeded["status"]["health"]["status"] = json!("Healthy");
    let err = run(ON_DEPLOYED, &running_succeeded).unwrap_err().to_string();
    assert!(err.contains("time.Parse expects a string, got nil"), "{err}");
}

#[test]
fn a_field_of_a_missing_operation_is_an_error_naming_the_path() {
    let w = world();
    let err = run(FAILED_PHASE, &w.never_synced).unwrap_err();
    assert!(matches!(err, ExprError::Run(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cannot fetch phase from nil"), "{msg}");
    assert!(msg.contains("app.status.operationState is nil"), "{msg}");
    assert!(!fires(FAILED_PHASE, &w.never_synced));
    assert!(fires(FAILED_PHASE, &w.failed));
    assert!(fires(FAILED_PHASE, &w.errored));
    assert!(!fires(FAILED_PHASE, &w.succeeded));
}

#[test]
fn once_per_revision_is_nil_safe_and_printed_as_go() {
    let w = world();
    assert_eq!(run(ONCE_PER_REVISION, &w.succeeded).unwrap().to_go_string(), "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678");
    assert_eq!(run(ONCE_PER_REVISION, &w.never_synced).unwrap(), Value::Nil);
    assert_eq!(run(ONCE_PER_REVISION, &w.never_synced).unwrap().to_go_string(), "<nil>");
    assert_eq!(run("app.metadata.name", &w.deleting).unwrap().to_go_string(), "guestbook");
    assert_eq!(run("app.status.operationState?.syncResult?.resources[0].name", &w.succeeded).unwrap().to_go_string(), "guestbook-ui");
    assert_eq!(run("app.status.summary.images", &w.succeeded).unwrap().to_go_string(), "[gcr.io/heptio-images/ks-guestbook-demo:0.2]");
}

#[test]
fn a_sync_running_long_is_measured_against_env_now() {
    let w = world();
    // Started 12:00, now 12:10.
    assert_eq!(run("time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes()", &w.running).unwrap(), Value::Float(10.0));
    assert!(fires(SYNC_RUNNING_LONG, &w.running));
    let mut fresh = w.running.clone();
    fresh["status"]["operationState"]["startedAt"] = json!("2024-05-01T12:07:30Z");
    assert!(!fires(SYNC_RUNNING_LONG, &fresh));
    assert_eq!(run("time.Now().Sub(time.Parse(app.status.operationState.startedAt))", &fresh).unwrap().to_go_string(), "2m30s");
    let mut garbled = w.running.clone();
    garbled["status"]["operationState"]["startedAt"] = json!("yesterday");
    let err = run(SYNC_RUNNING_LONG, &garbled).unwrap_err().to_string();
    assert!(err.contains("time.Parse") && err.contains("\"yesterday\"") && err.contains("RFC 3339"), "{err}");
}

#[test]
fn annotations_with_slashes_are_read_by_index() {
    let w = world();
    let mut drifting = w.failed.clone();
    drifting["metadata"]["annotations"]["driftless.dev/out-of-sync-since"] = json!("2024-05-01T11:30:00Z");
    assert!(fires(OUT_OF_SYNC_SINCE, &drifting));
    assert!(!fires(OUT_OF_SYNC_SINCE, &w.failed));
    let long = "app.metadata.annotations['driftless.dev/out-of-sync-since'] != nil and time.Now().Sub(time.Parse(app.metadata.annotations['driftless.dev/out-of-sync-since'])) > time.Minute * 30";
    assert!(fires(long, &drifting));
    // An app without annotations at all: the map is missing, the index of nil fails.
    let mut bare = w.failed.clone();
    bare["metadata"].as_object_mut().unwrap().remove("annotations");
    assert!(run(OUT_OF_SYNC_SINCE, &bare).unwrap_err().to_string().contains("app.metadata.annotations is nil"));
    assert!(!fires("app.metadata.annotations?.['driftless.dev/out-of-sync-since'] == nil", &drifting));
    assert!(fires("app.metadata.annotations?.['driftless.dev/out-of-sync-since'] == nil", &bare));
}

#[test]
fn the_string_true_is_a_trigger_and_others_are_not() {
    let w = world();
    assert_eq!(run("true", &w.succeeded).unwrap().as_bool(), Some(true));
    // A `when` answering a non-bool never fires.
    assert!(!fires("app.metadata.name", &w.succeeded));
    assert!(!fires("false", &w.succeeded));
}

#[test]
fn predicates_over_resources() {
    let w = world();
    let cases = [
        ("any(app.status.resources, {.health.status == 'Degraded'})", &w.degraded, "true"),
        ("any(app.status.resources, {.health.status == 'Degraded'})", &w.succeeded, "false"),
        ("all(app.status.resources, .status == 'Synced')", &w.succeeded, "true"),
        ("count(app.status.resources, #.kind == 'Service')", &w.succeeded, "1"),
        ("map(filter(app.status.resources, .kind == 'Deployment'), .name)", &w.succeeded, "[guestbook-ui]"),
        ("map(app.status.resources, #index)", &w.succeeded, "[0 1]"),
        ("find(app.status.resources, .kind == 'Service').version", &w.succeeded, "v1"),
        ("findIndex(app.status.resources, .kind == 'Pod')", &w.succeeded, "-1"),
        ("none(app.status.operationState.syncResult.resources, {.status != 'Synced'})", &w.succeeded, "true"),
        ("one(app.status.resources, {.kind in ['Service', 'Deployment']})", &w.succeeded, "false"),
        ("len(app.status.resources)", &w.succeeded, "2"),
    ];
    for (src, app, want) in cases {
        assert_eq!(run(src, app).unwrap().to_go_string(), want, "{src}");
    }
}

#[test]
fn repo_functions_compile_but_do_not_run() {
    let w = world();
    let src = "repo.GetCommitMetadata(app.status.sync.revision).Author contains 'bot'";
    let program = compile(src).unwrap();
    match program.run(&env(w.succeeded)) {
        Err(ExprError::Unsupported(m)) => assert!(m.contains("repo.GetCommitMetadata"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(compile("sync.GetInfoItem(app, 'reason') == 'x'").is_ok());
}
