//! `driftless notifications ...` against the dev control plane: triggers
//! evaluated and templates rendered for a real Application without sending,
//! a send to a real receiver on 127.0.0.1 only with `--recipient`, and
//! clear errors on stderr with a non-zero exit.

use driftless_api::Application;
use driftless_testkit::{HttpSink, TestNamespace, assert_success, install_crds, run_cli, stderr, stdout};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const CONFIG: &str = r#"
trigger.on-sync-succeeded: |
  - description: Application syncing has succeeded
    oncePer: app.status.operationState?.syncResult?.revision
    send: [app-sync-succeeded]
    when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']
trigger.on-sync-failed: |
  - when: app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']
    send: [app-sync-succeeded]
template.app-sync-succeeded: |
  message: Application {{.app.metadata.name}} has been successfully synced at {{.app.status.operationState.syncResult.revision}}.
  webhook:
    hook:
      method: POST
      path: /{{.app.metadata.name}}
      body: '{"app": "{{.app.metadata.name}}"}'
"#;

#[tokio::test]
async fn triggers_run_and_templates_render_without_sending_unless_asked() {
    let ns = TestNamespace::new("notify-cli").await.expect("namespace");
    let client = ns.client();
    install_crds(&client).await.expect("install CRDs");
    let n = ns.name().to_string();
    let sink = HttpSink::start().await;
    let mut data: serde_json::Map<String, Value> = serde_saphyr::from_str(CONFIG).expect("YAML");
    data.insert("service.webhook.hook".into(), Value::String(format!("url: {}\n", sink.url())));
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-notifications-cm"}, "data": data});
    Api::<ConfigMap>::namespaced(client.clone(), &n)
        .patch("argocd-notifications-cm", &PatchParams::apply("test").force(), &Patch::Apply(cm.clone()))
        .await
        .expect("ConfigMap");
    // An app as the controller leaves it after a successful sync.
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "guestbook", "namespace": n},
        "spec": {"project": "default", "source": {"repoURL": "https://git.invalid/r.git", "path": "."},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": n}},
    }))
    .expect("app");
    let apps = ns.api::<Application>();
    apps.create(&PostParams::default(), &app).await.expect("create app");
    let status = json!({"status": {"sync": {"status": "Synced"}, "operationState": {
        "phase": "Succeeded", "startedAt": "2026-12-05T10:00:00Z", "finishedAt": "2026-12-05T10:00:05Z",
        "operation": {"sync": {"revision": "abc123"}}, "syncResult": {"revision": "abc123"}}}});
    // Argo CD's Application CRD has no status subresource.
    apps.patch("guestbook", &PatchParams::default(), &Patch::Merge(status)).await.expect("status");

    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = ns.cluster().kubeconfig().to_path_buf();
    let cache = dir.path().join("cache");
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).chain(["-N".to_string(), n.clone()]).collect();
        let (kubeconfig, cache) = (kubeconfig.clone(), cache.clone());
        async move { run_cli(env!("CARGO_BIN_EXE_driftless"), &kubeconfig, &cache, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };

    // A trigger's conditions, as a table and as JSON.
    let out = run(&["notifications", "trigger", "run", "on-sync-succeeded", "guestbook"]).await;
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.starts_with("CONDITION") && text.contains("phase in ['Succeeded']  true"), "{text}");
    let out = run(&["notifications", "trigger", "run", "on-sync-failed", "guestbook", "-o", "json"]).await;
    assert_success(&out);
    let rows: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(rows[0]["result"], false);
    let out = run(&["notifications", "trigger", "run", "on-sync-succeeded", "guestbook", "-o", "json"]).await;
    let rows: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((rows[0]["result"].clone(), rows[0]["oncePer"].clone()), (json!(true), json!("abc123")));

    // A template rendered, nothing sent.
    let out = run(&["notifications", "template", "notify", "app-sync-succeeded", "guestbook", "-o", "json"]).await;
    assert_success(&out);
    let rendered: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(rendered["message"], "Application guestbook has been successfully synced at abc123.");
    assert_eq!(rendered["webhook"]["hook"]["path"], "/guestbook");
    assert!(sink.received().is_empty(), "nothing is sent without --recipient");

    // Sent when asked.
    let out = run(&["notifications", "template", "notify", "app-sync-succeeded", "guestbook", "--recipient", "hook:"]).await;
    assert_success(&out);
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].method.as_str(), got[0].path.as_str(), got[0].json()), ("POST", "/guestbook", json!({"app": "guestbook"})));

    // Lists.
    let out = run(&["notifications", "trigger", "get", "-o", "json"]).await;
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).expect("JSON"), json!(["on-sync-failed", "on-sync-succeeded"]));

    // Errors: on stderr, non-zero, naming what is wrong.
    for (args, says) in [
        (vec!["notifications", "trigger", "run", "on-nothing", "guestbook"], "trigger \"on-nothing\" is not configured"),
        (vec!["notifications", "template", "notify", "app-sync-succeeded", "missing"], "not found"),
        (
            vec!["notifications", "template", "notify", "app-sync-succeeded", "guestbook", "--recipient", "nocolon"],
            "not <service>:<recipient>",
        ),
        (
            vec!["notifications", "template", "notify", "app-sync-succeeded", "guestbook", "--recipient", "slack:ops"],
            "service \"slack\" is not configured",
        ),
        (vec!["notifications", "template", "get", "nope"], "template \"nope\" is not configured"),
    ] {
        let out = run(&args).await;
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }

    // From files, as in CI: the ConfigMap and Secret as written in Git.
    let file = dir.path().join("cm.yaml");
    std::fs::write(&file, serde_json::to_string(&cm).expect("JSON")).expect("write");
    let secret = dir.path().join("secret.yaml");
    std::fs::write(&secret, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: argocd-notifications-secret\nstringData:\n  token: x\n")
        .expect("write");
    let out =
        run(&["notifications", "template", "get", "--config-map", file.to_str().unwrap(), "--secret", secret.to_str().unwrap()]).await;
    assert_success(&out);
    assert_eq!(stdout(&out), "NAME\napp-sync-succeeded\n");
}
