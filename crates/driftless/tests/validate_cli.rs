//! `driftless validate` on a config repository, as CI runs it: the exact
//! findings in each output format, and the exit codes (0 clean, 1 errors,
//! 2 could not run). No cluster: validate is offline.

use std::path::Path;
use std::process::{Command, Output};

use driftless_testkit::{GitRepo, assert_success, stderr, stdout};

const REPO: &str = "https://git.example/org/config.git";

fn validate(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_driftless")).arg("validate").args(args).current_dir(dir).output().expect("run driftless");
    eprintln!("$ driftless validate {}\n[exit {:?}]\n{}{}", args.join(" "), out.status.code(), stdout(&out), stderr(&out));
    out
}

fn application(name: &str, repo: &str, path: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: {repo}\n    targetRevision: main\n    path: {path}\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {name}\n"
    )
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        ports:\n        - containerPort: 80\n";

/// A config repository: a clean app, an app with a typo'd field and a
/// wrong type, a broken kustomization, an app of another repository, and
/// ApplicationSets (one generated offline, one needing a cluster).
fn fixture() -> GitRepo {
    let repo = GitRepo::new();
    repo.git(&["remote", "add", "origin", "git@git.example:org/config.git"]);
    repo.write("apps/clean.yaml", &application("clean", REPO, "clean"))
        .write("clean/deploy.yaml", DEPLOYMENT)
        .write("clean/config.yaml", "# settings\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LOG: info\n")
        .write("apps/typo.yaml", &application("typo", "https://git.example/org/config", "typo"))
        .write(
            "typo/deploy.yaml",
            &DEPLOYMENT.replace("  replicas: 2\n", "  replicaz: 2\n").replace("containerPort: 80", "containerPort: http"),
        )
        .write("apps/broken.yaml", &application("broken", REPO, "broken"))
        .write("broken/kustomization.yaml", "resources:\n- deploy.yaml\n- missing.yaml\n")
        .write("broken/deploy.yaml", DEPLOYMENT)
        .write("apps/elsewhere.yaml", &application("elsewhere", "https://git.example/org/other.git", "app"))
        .write(
            "appsets/envs.yaml",
            &format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: envs\nspec:\n  goTemplate: true\n  generators:\n  - list:\n      elements:\n      - env: staging\n  template:\n    metadata:\n      name: 'clean-{{{{.env}}}}'\n    spec:\n      project: default\n      source:\n        repoURL: {REPO}\n        path: clean\n      destination:\n        server: https://kubernetes.default.svc\n        namespace: '{{{{.env}}}}'\n"
            ),
        )
        .write(
            "appsets/clusters.yaml",
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: everywhere\nspec:\n  generators:\n  - clusters: {}\n  template:\n    metadata:\n      name: '{{name}}-web'\n    spec:\n      project: default\n      source: {repoURL: x, path: clean}\n      destination: {server: '{{server}}', namespace: web}\n",
        );
    repo.commit("config");
    repo
}

const TEXT: &str = "\
app broken (apps/broken.yaml:1): 0 objects, 1 error
  apps/broken.yaml
    1: error   rendering broken: kustomize build broken failed: broken/kustomization.yaml: field `resources`: `missing.yaml` does not exist; fix the path (relative to broken)
app clean (apps/clean.yaml:1): 2 objects, ok
app clean-staging (appsets/envs.yaml:1): 2 objects, ok
app elsewhere (apps/elsewhere.yaml:1): 0 objects, ok
  apps/elsewhere.yaml
    1: notice  https://git.example/org/other.git: not rendered; validate renders only this repository's sources
app typo (apps/typo.yaml:1): 1 objects, 2 errors
  typo/deploy.yaml
    1: error   Deployment typo/web: spec.replicaz: unknown field (not in the schema)
    1: error   Deployment typo/web: spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string \"http\"
repository
  appsets/clusters.yaml
    1: notice  ApplicationSet everywhere: the clusters generator cannot be run offline; its Applications are not validated
5 apps, 5 objects (Kubernetes 1.34): 3 errors, 0 warnings, 2 notices
";

#[test]
fn findings_for_people_grouped_by_app_and_file_and_exit_1() {
    let repo = fixture();
    let out = validate(repo.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "errors exit 1");
    assert_eq!(stdout(&out), TEXT);
    assert_eq!(stderr(&out), "", "no progress when stderr is no terminal");
}

#[test]
fn json_has_every_finding_with_file_line_object_and_path() {
    let repo = fixture();
    let out = validate(repo.path(), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["summary"], serde_json::json!({ "apps": 5, "objects": 5, "errors": 3, "warnings": 0, "notices": 2 }));
    let typo = v["apps"].as_array().unwrap().iter().find(|a| a["name"] == "typo").expect("app typo");
    assert_eq!(
        typo["findings"],
        serde_json::json!([
            { "severity": "error", "kind": "schema", "file": "typo/deploy.yaml", "line": 1,
              "object": { "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "typo", "name": "web" },
              "path": "spec.replicaz", "message": "unknown field (not in the schema)" },
            { "severity": "error", "kind": "schema", "file": "typo/deploy.yaml", "line": 1,
              "object": { "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "typo", "name": "web" },
              "path": "spec.template.spec.containers[0].ports[0].containerPort", "message": "expected integer, got string \"http\"" }
        ])
    );
    let clean = v["apps"].as_array().unwrap().iter().find(|a| a["name"] == "clean").expect("app clean");
    assert_eq!(clean["file"], "apps/clean.yaml");
    assert_eq!(
        clean["objects"],
        serde_json::json!([
            { "apiVersion": "v1", "kind": "ConfigMap", "namespace": "clean", "name": "settings", "file": "clean/config.yaml", "line": 3 },
            { "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "clean", "name": "web", "file": "clean/deploy.yaml", "line": 1 }
        ])
    );
    let broken = v["apps"].as_array().unwrap().iter().find(|a| a["name"] == "broken").expect("app broken");
    assert_eq!(broken["findings"][0]["kind"], "render");
}

#[test]
fn junit_is_valid_xml_with_a_suite_per_app_and_a_case_per_object() {
    let repo = fixture();
    let out = validate(repo.path(), &["-o", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = stdout(&out);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut suites, mut cases, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_failure = false;
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let attr = |name: &str| {
                    e.try_get_attribute(name)
                        .expect("attribute")
                        .map(|a| a.unescape_value().expect("escaped").into_owned())
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"testsuite" => suites.push(attr("name")),
                    b"testcase" => cases.push(format!("{}: {}", attr("classname"), attr("name"))),
                    b"failure" => {
                        failures.push(attr("message"));
                        in_failure = true;
                    }
                    _ => {}
                }
            }
            quick_xml::events::Event::End(_) => in_failure = false,
            quick_xml::events::Event::Text(t) if in_failure => assert!(!t.decode().expect("text").is_empty()),
            _ => {}
        }
    }
    assert_eq!(suites, ["broken", "clean", "clean-staging", "elsewhere", "typo", "repository"]);
    assert_eq!(
        cases,
        [
            "broken: render",
            "clean: render",
            "clean: ConfigMap clean/settings",
            "clean: Deployment clean/web",
            "clean-staging: render",
            "clean-staging: ConfigMap staging/settings",
            "clean-staging: Deployment staging/web",
            "elsewhere: render",
            "typo: render",
            "typo: Deployment typo/web",
            "repository: render",
        ]
    );
    assert_eq!(
        failures,
        [
            "rendering broken: kustomize build broken failed: broken/kustomization.yaml: field `resources`: `missing.yaml` does not exist; fix the path (relative to broken)",
            "Deployment typo/web: spec.replicaz: unknown field (not in the schema)",
        ]
    );
}

#[test]
fn github_annotations_point_at_files_and_lines() {
    let repo = fixture();
    let out = validate(repo.path(), &["-o", "github"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "\
::error file=apps/broken.yaml,line=1,title=broken::rendering broken: kustomize build broken failed: broken/kustomization.yaml: field `resources`: `missing.yaml` does not exist; fix the path (relative to broken)
::notice file=apps/elsewhere.yaml,line=1,title=elsewhere::https://git.example/org/other.git: not rendered; validate renders only this repository's sources
::error file=typo/deploy.yaml,line=1,title=typo%3A Deployment typo/web::Deployment typo/web: spec.replicaz: unknown field (not in the schema)
::error file=typo/deploy.yaml,line=1,title=typo%3A Deployment typo/web::Deployment typo/web: spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string \"http\"
::notice file=appsets/clusters.yaml,line=1,title=repository::ApplicationSet everywhere: the clusters generator cannot be run offline; its Applications are not validated
5 apps, 5 objects (Kubernetes 1.34): 3 errors, 0 warnings, 2 notices
"
    );
}

#[test]
fn a_clean_app_exits_0_and_only_the_named_files_are_validated() {
    let repo = fixture();
    let out = validate(repo.path(), &["--app", "apps/clean.yaml", "--app", "appsets/envs.yaml"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "app clean (apps/clean.yaml:1): 2 objects, ok\napp clean-staging (appsets/envs.yaml:1): 2 objects, ok\n2 apps, 4 objects (Kubernetes 1.34): 0 errors, 0 warnings, 0 notices\n"
    );
    // A directory that holds no Application is one app itself.
    let out = validate(&repo.path().join("clean"), &[]);
    assert_success(&out);
    assert_eq!(stdout(&out), "app clean (clean): 2 objects, ok\n1 app, 2 objects (Kubernetes 1.34): 0 errors, 0 warnings, 0 notices\n");
}

#[test]
fn exit_2_when_validate_cannot_run() {
    let repo = fixture();
    let out = validate(repo.path(), &["no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("no/such/dir: not a directory"), "{}", stderr(&out));

    let out = validate(repo.path(), &["--kubernetes-version", "1.20"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no bundled schemas for Kubernetes 1.20 (bundled: 1.34); pass --schema-dir"), "{}", stderr(&out));

    let empty = tempfile::tempdir().unwrap();
    let out = validate(repo.path(), &["--schema-dir", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no OpenAPI v3 group-version document"), "{}", stderr(&out));

    let out = validate(repo.path(), &["--app", "apps/nothing.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("apps/nothing.yaml: No such file"), "{}", stderr(&out));

    // A chart needs helm: without it validate cannot judge the app.
    let chart = GitRepo::new();
    chart
        .write("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
        .write("templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["validate", "--repo-url", REPO])
        .current_dir(chart.path())
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("helm not found on PATH"), "{}", stderr(&out));
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              size: {type: integer}\n";

#[test]
fn custom_resources_are_validated_with_crds_from_a_flag_or_the_repository() {
    let repo = GitRepo::new();
    repo.write("widgets/w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  size: big\n");
    repo.commit("widgets");
    let app = repo.path().join("widgets");
    let out = validate(&app, &[]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "app widgets (widgets): 1 objects, ok\n  widgets/w.yaml\n    1: warning Widget default/w: no schema for example.com/v1/Widget; not validated\n1 app, 1 object (Kubernetes 1.34): 0 errors, 1 warning, 0 notices\n"
    );
    assert_eq!(validate(&app, &["--strict"]).status.code(), Some(1), "--strict: a kind without a schema is an error");

    let crd = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(crd.path(), WIDGET_CRD).unwrap();
    let out = validate(&app, &["--crd", crd.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("    1: error   Widget default/w: spec.size: expected integer, got string \"big\"\n"),
        "{}",
        stdout(&out)
    );

    // The same CRD kept in the repository serves too.
    repo.write("crds/widget.yaml", WIDGET_CRD)
        .write("widgets/w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  size: 3\n");
    assert_success(&validate(&app, &["--strict"]));
}

#[test]
fn other_kubernetes_versions_from_a_schema_directory() {
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 1}\n");
    repo.commit("cm");
    // One group-version document, as `kubectl get --raw /openapi/v3/api/v1` writes it.
    let dir = tempfile::tempdir().unwrap();
    let doc = serde_json::json!({
        "openapi": "3.0.0",
        "paths": { "/api/v1/namespaces/{namespace}/configmaps": { "post": {
            "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": { "group": "", "version": "v1", "kind": "ConfigMap" }
        } } },
        "components": { "schemas": { "io.k8s.api.core.v1.ConfigMap": {
            "description": "ConfigMap holds configuration data.", "type": "object",
            "x-kubernetes-group-version-kind": [{ "group": "", "version": "v1", "kind": "ConfigMap" }],
            "properties": {
                "apiVersion": { "type": "string" }, "kind": { "type": "string" }, "metadata": { "type": "object" },
                "data": { "type": "object", "additionalProperties": { "type": "string", "default": "" } }
            }
        } } }
    });
    std::fs::write(dir.path().join("api__v1.json"), doc.to_string()).unwrap();
    let out =
        validate(&repo.path().join("app"), &["--kubernetes-version", "1.29", "--schema-dir", dir.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["kubernetesVersion"], "1.29");
    assert_eq!(v["apps"][0]["findings"][0]["path"], "data.a");
    assert_eq!(v["apps"][0]["findings"][0]["message"], "expected string, got integer 1");
}

#[test]
fn hostile_names_and_paths_stay_inside_the_repository_and_escaped() {
    let repo = GitRepo::new();
    repo.git(&["remote", "add", "origin", REPO]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside}\n").unwrap();
    let escape = format!("../../../../../../..{}", outside.path().display());
    repo.write("apps/escape.yaml", &application("escape", REPO, &escape))
        .write("apps/odd.yaml", &application("odd,name", REPO, "odd"))
        .write("odd/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"x\\u001b[31m\"\ndata: {\"k%0A:\": 1}\n");
    repo.commit("hostile");
    let out = validate(repo.path(), &["-o", "github"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("::error file=apps/escape.yaml,line=1,title=escape::rendering ../"), "{text}");
    assert!(text.contains("a source may only read inside its repository"), "{text}");
    assert!(!text.contains("outside"), "nothing outside the repository is read: {text}");
    assert!(
        text.contains("::error file=odd/cm.yaml,line=1,title=odd%2Cname%3A ConfigMap odd%2Cname/x\u{FFFD}[31m::ConfigMap odd,name/x\u{FFFD}[31m: data[\"k%250A:\"]: expected string, got integer 1"),
        "{text}"
    );
    let people = stdout(&validate(repo.path(), &[]));
    assert!(!people.contains('\u{1b}') && !text.contains('\u{1b}'), "no escape sequence reaches a terminal or a log: {people}");
}

/// A repository whose app reads a SOPS-encrypted Secret with a typo'd
/// field: without a key the app is skipped with a notice (exit 0); with the
/// key its decrypted objects are validated (exit 1), the plain text shown
/// nowhere; with another key a clear error names the file and recipient.
#[test]
fn sops_encrypted_files_are_validated_with_a_key_and_skipped_with_a_notice_without() {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let repo = GitRepo::new();
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labelz: {tier: db}\nstringData:\n  password: hunter2-in-plain-text\n";
    repo.write("vault/kustomization.yaml", "resources:\n- secret.yaml\n").write("apps/vault.yaml", &application("vault", REPO, "vault"));
    let encrypted = driftless_testkit::sops_encrypt(repo.path(), "vault/secret.yaml", secret.as_bytes(), &recipient, &[]);
    repo.write("vault/secret.yaml", std::str::from_utf8(&encrypted).unwrap());
    repo.commit("encrypted");
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("key.txt");
    std::fs::write(&key_file, format!("# created for the test\n{}\n", identity.to_string().expose_secret())).unwrap();
    let other = keys.path().join("other.txt");
    std::fs::write(&other, format!("{}\n", age::x25519::Identity::generate().to_string().expose_secret())).unwrap();

    let without = validate(repo.path(), &["--repo-url", REPO]);
    assert_eq!(without.status.code(), Some(0));
    assert!(
        stdout(&without).contains(
            "notice  rendering vault: vault/secret.yaml is SOPS-encrypted and no age key was given (--sops-age-key): not validated"
        ),
        "{}",
        stdout(&without)
    );

    let with = validate(repo.path(), &["--repo-url", REPO, "--sops-age-key", key_file.to_str().unwrap()]);
    assert_eq!(with.status.code(), Some(1));
    assert!(stdout(&with).contains("error   Secret vault/db: metadata.labelz: unknown field (not in the schema)"), "{}", stdout(&with));
    for out in [&without, &with] {
        assert!(!stdout(out).contains("hunter2") && !stderr(out).contains("hunter2"));
    }

    let wrong = validate(repo.path(), &["--repo-url", REPO, "-o", "json", "--sops-age-key", other.to_str().unwrap()]);
    assert_eq!(wrong.status.code(), Some(1));
    let text = stdout(&wrong);
    assert!(text.contains("vault/secret.yaml: encrypted with SOPS for ") && text.contains(&recipient), "{text}");
    assert!(
        text.contains("no age key of the key files ") && text.contains("give a key file holding the identity of one of them"),
        "{text}"
    );
}

/// `--policy DIR` judges every rendered object as the controller would: the
/// shipped limits policy's deny is an error naming the container (exit 1),
/// a warn only a warning; a module that does not compile stops validate
/// (exit 2) naming it.
#[test]
fn policies_from_a_directory_deny_and_warn_and_a_broken_one_stops_validate() {
    let repo = fixture();
    let policies = tempfile::tempdir().unwrap();
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/resource-limits.rego");
    std::fs::copy(library, policies.path().join("resource-limits.rego")).unwrap();
    std::fs::write(
        policies.path().join("replicas.rego"),
        "package team.replicas\nimport rego.v1\nwarn contains msg if {\n  input.object.kind == \"Deployment\"\n  input.object.spec.replicas < 3\n  msg := sprintf(\"%s runs %d replicas; 3 survive a zone failure\", [input.object.metadata.name, input.object.spec.replicas])\n}\n",
    )
    .unwrap();
    let dir = policies.path().to_str().unwrap();

    let out = validate(repo.path(), &["--app", "apps/clean.yaml", "--policy", dir]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    for line in [
        "error   Deployment clean/web: [resource-limits.rego deny] container \"web\" has no resources.limits.cpu",
        "error   Deployment clean/web: [resource-limits.rego deny] container \"web\" has no resources.limits.memory",
        "warning Deployment clean/web: [replicas.rego warn] web runs 2 replicas; 3 survive a zone failure",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("ConfigMap clean/settings: ["), "the ConfigMap breaks no policy:\n{text}");

    std::fs::write(policies.path().join("broken.rego"), "package broken\ndeny contains msg if {\n").unwrap();
    let out = validate(repo.path(), &["--app", "apps/clean.yaml", "--policy", dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("policy broken.rego: does not compile"), "{}", stderr(&out));
}

/// An Application file that does not parse is an error, never skipped: in
/// the repository's scan (when it names argoproj.io) and with `--app`, as is
/// a file given with `--app` that holds no app.
#[test]
fn broken_application_files_are_errors_not_skipped() {
    let repo = fixture();
    repo.write("apps/typo2.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\n spec: [\n")
        .write("notes/readme.yaml", "just: [text\n");
    repo.commit("broken");
    let out = validate(repo.path(), &["--repo-url", REPO]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("apps/typo2.yaml\n    1: error   not valid YAML: its manifests are not validated"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("notes/readme.yaml"), "a broken file that is no Argo CD manifest is not an app's business");

    let out = validate(repo.path(), &["--app", "apps/typo2.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not valid YAML"), "{}", stdout(&out));
    let out = validate(repo.path(), &["--app", "clean/config.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no Application or ApplicationSet in this file"), "{}", stdout(&out));
}
