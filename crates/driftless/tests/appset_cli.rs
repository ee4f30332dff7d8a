//! `driftless appset ...` against the dev control plane: sets created from
//! a multi-document file (idempotent, `--upsert`, `--dry-run`), refused
//! with the file and the reason when they are wrong, listed and shown with
//! the Applications they own and their progressive sync, then deleted with
//! their Applications.

use std::time::Duration;

use driftless_api::{AppProject, Application, ApplicationSet};
use driftless_testkit::{TestNamespace, assert_success, install_crds, run_cli, stderr, stdout, wait_for};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Generous: tests never assert on how long things take.
const TIMEOUT: Duration = Duration::from_secs(90);

fn manifest(name: &str, project: &str, path: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: {name}\nspec:\n  generators:\n  - list:\n      elements:\n      - env: dev\n      - env: prod\n  template:\n    metadata:\n      name: '{name}-{{{{env}}}}'\n    spec:\n      project: '{project}'\n      source:\n        repoURL: https://git.invalid/r.git\n        path: '{path}'\n      destination:\n        server: https://kubernetes.default.svc\n        namespace: '{{{{env}}}}'\n"
    )
}

fn json_of(out: &std::process::Output) -> Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[tokio::test]
async fn sets_created_listed_shown_and_deleted_through_the_cli() {
    let ns = TestNamespace::new("appset-cli").await.expect("namespace");
    let client = ns.client();
    install_crds(&client).await.expect("install CRDs");
    let n = ns.name().to_string();
    let project: AppProject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": { "name": "team", "namespace": n },
        "spec": { "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }] },
    }))
    .expect("valid project");
    ns.api::<AppProject>().create(&PostParams::default(), &project).await.expect("create project");
    let dir = tempfile::tempdir().expect("a temp dir");
    let kubeconfig = ns.cluster().kubeconfig().to_path_buf();
    let cache = dir.path().join("cli-cache");
    let run = |args: Vec<&str>| {
        let (kubeconfig, cache) = (kubeconfig.clone(), cache.clone());
        let args: Vec<String> =
            args.into_iter().map(String::from).chain(["-N".into(), n.clone(), "--control-plane-namespace".into(), n.clone()]).collect();
        async move { run_cli(env!("CARGO_BIN_EXE_driftless"), &kubeconfig, &cache, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write manifest");
        path.to_string_lossy().into_owned()
    };
    let sets = ns.api::<ApplicationSet>();

    // Two sets from one file; the same file again changes nothing.
    let both = file("sets.yaml", &format!("{}---\n{}", manifest("web", "team", "{{env}}"), manifest("api", "", "api")));
    let out = run(vec!["appset", "create", "-f", &both]).await;
    assert_success(&out);
    assert_eq!(stdout(&out), format!("applicationset '{n}/web' created\napplicationset '{n}/api' created\n"));
    let version = sets.get("web").await.expect("web stored").metadata.resource_version;
    let out = run(vec!["appset", "create", &both]).await;
    assert_success(&out);
    assert!(stdout(&out).contains(&format!("'{n}/web' unchanged")), "{}", stdout(&out));
    assert_eq!(sets.get("web").await.expect("web").metadata.resource_version, version, "nothing written");

    // Another spec needs --upsert.
    let changed = file("web.yaml", &manifest("web", "team", "apps/{{env}}"));
    let out = run(vec!["appset", "create", "-f", &changed]).await;
    assert!(!out.status.success() && stderr(&out).contains("--upsert"), "{}", stderr(&out));
    let out = run(vec!["appset", "create", "-f", &changed, "--upsert", "-o", "json"]).await;
    assert_eq!(json_of(&out)["spec"]["template"]["spec"]["source"]["path"], "apps/{{env}}");
    // A dry run stores nothing.
    let preview = file("preview.yaml", &manifest("preview", "team", "."));
    let out = run(vec!["appset", "create", "-f", &preview, "--dry-run"]).await;
    assert_success(&out);
    assert!(stdout(&out).contains("created (dry run)"), "{}", stdout(&out));
    assert!(sets.get_opt("preview").await.expect("read").is_none());

    // Wrong manifests: refused with the file, the document and the reason;
    // a file with one bad set creates none of its sets.
    let wrong_kind = file("app.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\n");
    let no_generator = file(
        "empty.yaml",
        &format!(
            "{}---\n{}",
            manifest("good", "team", "."),
            manifest("bad", "team", ".").replace("  - list:\n      elements:\n      - env: dev\n      - env: prod\n", "  - selector: {}\n")
        ),
    );
    let lost = file("lost.yaml", &manifest("lost", "nowhere", "."));
    let garbage = file("garbage.yaml", "{ not: [yaml\n");
    for (path, says) in [
        (wrong_kind.as_str(), "(document 1): kind is \"Application\""),
        (no_generator.as_str(), "(document 2): spec.generators[0]: no generator set"),
        (lost.as_str(), "project must exist"),
        (garbage.as_str(), "not YAML or JSON"),
        ("/nonexistent/sets.yaml", "read /nonexistent/sets.yaml"),
    ] {
        let out = run(vec!["appset", "create", "-f", path]).await;
        assert!(!out.status.success(), "{path} is refused");
        assert!(stderr(&out).contains(says), "{path}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{path}: nothing reported created: {}", stdout(&out));
    }
    for name in ["good", "bad", "lost", "x"] {
        assert!(sets.get_opt(name).await.expect("read").is_none(), "{name} was not created");
    }
    let out = run(vec!["appset", "create"]).await;
    assert!(!out.status.success() && stderr(&out).contains("no manifest given"), "{}", stderr(&out));

    // The set's Applications (as the controller makes them) and its
    // progressive sync, as the controller reports them.
    let web = sets.get("web").await.expect("web");
    for name in ["web-dev", "web-prod"] {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": name, "namespace": n, "ownerReferences": [{ "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                          "name": "web", "uid": web.metadata.uid, "controller": true }] },
            "spec": { "project": "team", "source": { "repoURL": "https://git.invalid/r.git", "path": "." },
                      "destination": { "server": "https://kubernetes.default.svc", "namespace": n } },
        }))
        .expect("valid app");
        ns.api::<Application>().create(&PostParams::default(), &app).await.expect("create app");
    }
    let status = json!({ "status": {
        "conditions": [{ "type": "ResourcesUpToDate", "status": "True", "reason": "ApplicationSetUpToDate", "message": "All applications have been generated successfully" }],
        "applicationStatus": [
            { "application": "web-dev", "status": "Healthy", "step": "1", "message": "Application resource became Healthy" },
            { "application": "web-prod", "status": "Waiting", "step": "2", "message": "Application is waiting for step 1" },
        ],
    } });
    sets.patch_status("web", &PatchParams::default(), &Patch::Merge(&status)).await.expect("write the set's status");

    let out = run(vec!["appset", "list"]).await;
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PROJECT", "GENERATORS", "SYNCPOLICY", "CONDITIONS", "APPS"],
        "{text}"
    );
    let web_row: Vec<&str> = lines.iter().find(|l| l.starts_with("web ")).expect("a web row").split_whitespace().collect();
    assert_eq!(web_row, ["web", "team", "list", "sync", "ResourcesUpToDate", "2"], "{text}");
    let api_row: Vec<&str> = lines.iter().find(|l| l.starts_with("api ")).expect("an api row").split_whitespace().collect();
    assert_eq!(api_row, ["api", "default", "list", "sync", "<none>", "0"], "{text}");
    let listed = json_of(&run(vec!["appset", "list", "-p", "team", "-o", "json"]).await);
    assert_eq!(listed.as_array().map(|a| a.iter().map(|s| s["metadata"]["name"].clone()).collect::<Vec<_>>()), Some(vec![json!("web")]));
    let out = run(vec!["appset", "list", "-o", "name"]).await;
    assert_eq!(stdout(&out), "api\nweb\n");

    let out = run(vec!["appset", "get", "web"]).await;
    assert_success(&out);
    let text = stdout(&out);
    for expected in [
        "Project:            team",
        "Generators:         list",
        "Path:               apps/{{env}}",
        "web-dev",
        "web-prod",
        "STEP",
        "Waiting",
    ] {
        assert!(text.contains(expected), "get shows {expected:?}:\n{text}");
    }
    let got = json_of(&run(vec!["appset", "get", &format!("{n}/web"), "-o", "json"]).await);
    assert_eq!(got["status"]["applicationStatus"][1]["status"], "Waiting");
    for (name, says) in [("ghost", "not found"), ("../x", "invalid ApplicationSet name"), ("Web", "invalid ApplicationSet name")] {
        let out = run(vec!["appset", "get", name]).await;
        assert!(!out.status.success() && stderr(&out).contains(says), "{name}: {}", stderr(&out));
    }

    // Delete: refused without a confirmation, then done with -y; the
    // Applications it owns go with it.
    let out = run(vec!["appset", "delete", "web"]).await;
    assert!(!out.status.success() && stderr(&out).contains("not deleted"), "{}", stderr(&out));
    assert!(sets.get_opt("web").await.expect("read").is_some());
    let out = run(vec!["appset", "delete", "web", "ghost", "-y"]).await;
    assert!(!out.status.success() && stderr(&out).contains("\"ghost\" not found"), "{}", stderr(&out));
    assert!(sets.get_opt("web").await.expect("read").is_some(), "a missing name deletes nothing");
    let out = run(vec!["appset", "delete", "web", "-y", "--wait", "--timeout", "60"]).await;
    assert_success(&out);
    assert_eq!(stdout(&out), format!("applicationset '{n}/web' deleted\napplicationset '{n}/web' is gone\n"));
    wait_for("the set's apps to be collected", TIMEOUT, || async {
        let left = ns.api::<Application>().list(&Default::default()).await.map_err(|e| e.to_string())?.items.len();
        if left == 0 { Ok(()) } else { Err(format!("{left} apps left")) }
    })
    .await
    .expect("the apps are gone");
}

/// `appset generate` needs no cluster: a kubeconfig that points nowhere
/// is never read; Git is. A generator that needs the control plane says so.
#[tokio::test]
async fn generate_prints_the_apps_a_set_would_make_without_a_cluster() {
    let repo = driftless_testkit::GitRepo::new();
    for d in ["web", "api"] {
        repo.write(&format!("apps/{d}/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
    }
    repo.commit("apps");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("set.yaml");
    let set = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: dirs\nspec:\n  generators:\n  - git:\n      repoURL: {url}\n      revision: HEAD\n      directories:\n      - path: apps/*\n  template:\n    metadata:\n      name: '{{{{path.basename}}}}'\n    spec:\n      project: default\n      source:\n        repoURL: {url}\n        path: '{{{{path}}}}'\n      destination:\n        server: https://kubernetes.default.svc\n        namespace: '{{{{path.basename}}}}'\n",
        url = repo.url()
    );
    std::fs::write(&file, set).expect("write the set");
    let nowhere = dir.path().join("no-kubeconfig");
    let bin = env!("CARGO_BIN_EXE_driftless");
    let file_arg = file.to_str().expect("utf-8 path");
    let out = run_cli(bin, &nowhere, dir.path(), &["appset", "generate", file_arg, "-o", "json"]).await;
    let apps = json_of(&out);
    let names: Vec<&str> = apps.as_array().expect("a list").iter().filter_map(|a| a["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    assert_eq!(apps[1]["spec"]["source"]["path"], "apps/web");
    let table = run_cli(bin, &nowhere, dir.path(), &["appset", "generate", file_arg]).await;
    assert_success(&table);
    assert!(stdout(&table).contains("NAME") && stdout(&table).contains("apps/api"), "{}", stdout(&table));

    std::fs::write(
        &file,
        manifest("c", "default", "x").replace("  - list:\n      elements:\n      - env: dev\n      - env: prod\n", "  - clusters: {}\n"),
    )
    .expect("write");
    let out = run_cli(bin, &nowhere, dir.path(), &["appset", "generate", file_arg]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("the clusters generator needs a control plane"), "{}", stderr(&out));
}

/// Argo CD's documented git generator examples (directories with Go
/// templates, files discovery with `**`), over a copy of the layout of
/// its example repository: the Applications Argo CD's docs show.
#[tokio::test]
async fn argo_cds_documented_git_examples_make_argo_cds_apps() {
    let repo = driftless_testkit::GitRepo::new();
    let base = "applicationset/examples";
    for addon in ["argo-workflows", "prometheus-operator"] {
        repo.write(&format!("{base}/git-generator-directory/cluster-addons/{addon}/kustomization.yaml"), "resources: []\n");
    }
    repo.write(&format!("{base}/git-generator-directory/excludes/cluster-addons/exclude-helm-guestbook/values.yaml"), "x: 1\n");
    for env in ["dev", "prod"] {
        repo.write(
            &format!("{base}/git-generator-files-discovery/cluster-config/engineering/{env}/config.json"),
            &format!(
                r#"{{"aws_account": "123456", "asset_id": "11223344", "cluster": {{"owner": "cluster-admin@company.com", "name": "engineering-{env}", "address": "https://1.2.3.4"}}}}"#
            ),
        );
    }
    repo.write(&format!("{base}/git-generator-files-discovery/apps/guestbook/kustomization.yaml"), "resources: []\n");
    repo.commit("a copy of the example layout");
    let url = repo.url();
    let sets = format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: cluster-addons
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - git:
      repoURL: {url}
      revision: HEAD
      directories:
      - path: {base}/git-generator-directory/cluster-addons/*
  template:
    metadata:
      name: '{{{{.path.basename}}}}'
    spec:
      project: "my-project"
      source:
        repoURL: {url}
        targetRevision: HEAD
        path: '{{{{.path.path}}}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{{{.path.basename}}}}'
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: guestbook
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - git:
      repoURL: {url}
      revision: HEAD
      files:
      - path: "{base}/git-generator-files-discovery/cluster-config/**/config.json"
  template:
    metadata:
      name: '{{{{.cluster.name}}}}-guestbook'
    spec:
      project: default
      source:
        repoURL: {url}
        targetRevision: HEAD
        path: "{base}/git-generator-files-discovery/apps/guestbook"
      destination:
        server: '{{{{.cluster.address}}}}'
        namespace: guestbook
"#
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sets.yaml");
    std::fs::write(&file, sets).expect("write");
    let out = run_cli(
        env!("CARGO_BIN_EXE_driftless"),
        &dir.path().join("none"),
        dir.path(),
        &["appset", "generate", file.to_str().unwrap(), "-o", "json"],
    )
    .await;
    let apps = json_of(&out);
    let summary: Vec<(String, String, String, String)> = apps
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&a["metadata"]["name"]),
                s(&a["spec"]["source"]["path"]),
                s(&a["spec"]["destination"]["server"]),
                s(&a["spec"]["destination"]["namespace"]),
            )
        })
        .collect();
    let own = |name: &str, path: &str, server: &str, ns: &str| (name.to_string(), path.to_string(), server.to_string(), ns.to_string());
    assert_eq!(
        summary,
        [
            own(
                "argo-workflows",
                &format!("{base}/git-generator-directory/cluster-addons/argo-workflows"),
                "https://kubernetes.default.svc",
                "argo-workflows"
            ),
            own(
                "prometheus-operator",
                &format!("{base}/git-generator-directory/cluster-addons/prometheus-operator"),
                "https://kubernetes.default.svc",
                "prometheus-operator"
            ),
            own(
                "engineering-dev-guestbook",
                &format!("{base}/git-generator-files-discovery/apps/guestbook"),
                "https://1.2.3.4",
                "guestbook"
            ),
            own(
                "engineering-prod-guestbook",
                &format!("{base}/git-generator-files-discovery/apps/guestbook"),
                "https://1.2.3.4",
                "guestbook"
            ),
        ]
    );
    assert_eq!(apps[0]["spec"]["project"], "my-project");
    assert_eq!(apps[0]["metadata"]["finalizers"], json!(["resources-finalizer.argocd.argoproj.io"]));
}
