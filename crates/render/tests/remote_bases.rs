//! Kustomize remote bases fetched through driftless' Git cache, built as
//! `kubectl kustomize` builds them (it clones `file://` repositories with
//! git, as driftless does).

use std::sync::Arc;

use driftless_api::ApplicationSource;
use driftless_render::{GitRemotes, RenderCache, RenderContext, Reuse, parse_manifests, render};
use driftless_source::GitCache;
use driftless_testkit::GitRepo;
use serde_json::Value;

/// A repository of shared bases: `base` (which reaches `../common` inside
/// its own repository) and a Component, tagged `v1` at one replica, then
/// moved on `main` to three.
fn shared_bases() -> (GitRepo, String) {
    let repo = GitRepo::new();
    repo.write("base/kustomization.yaml", "resources:\n- deploy.yaml\n- ../common\n")
        .write("base/deploy.yaml", &deployment(1))
        .write("common/kustomization.yaml", "resources:\n- cm.yaml\n")
        .write("common/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n")
        .write(
            "components/monitoring/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  prometheus.io/scrape: \"true\"\n",
        );
    let v1 = repo.commit("bases v1");
    repo.git(&["tag", "v1"]);
    repo.write("base/deploy.yaml", &deployment(3)).commit("three replicas");
    (repo, v1)
}

fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        envFrom:\n        - configMapRef: {{name: settings}}\n"
    )
}

/// An app repository whose overlay uses the shared base at `reference`.
fn overlay(shared: &GitRepo, reference: &str) -> GitRepo {
    let app = GitRepo::new();
    let url = shared.url();
    app.write(
        "apps/web/kustomization.yaml",
        &format!(
            "namePrefix: prod-\nresources:\n- {url}//base?ref={reference}\n- svc.yaml\ncomponents:\n- {url}//components/monitoring?ref={reference}\nimages:\n- name: nginx\n  newTag: \"1.28\"\n"
        ),
    )
    .write("apps/web/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n");
    app.commit("overlay");
    app
}

fn source() -> ApplicationSource {
    ApplicationSource { repo_url: "file:///app".into(), path: Some("apps/web".into()), ..Default::default() }
}

struct Fetcher {
    runtime: tokio::runtime::Runtime,
    _cache: tempfile::TempDir,
    ctx: RenderContext,
}

fn fetcher() -> Fetcher {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = Arc::new(GitCache::new(cache.path()));
    let ctx =
        RenderContext { remotes: Some(Arc::new(GitRemotes::new(git, runtime.handle().clone(), Default::default()))), ..Default::default() };
    Fetcher { runtime, _cache: cache, ctx }
}

fn reference_build(app: &GitRepo) -> Vec<Value> {
    let out = std::process::Command::new("kubectl").arg("kustomize").arg(app.path().join("apps/web")).output().expect("kubectl is on PATH");
    assert!(out.status.success(), "kubectl kustomize failed: {}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    parse_manifests("kubectl kustomize", &yaml).unwrap().into_iter().map(|m| m.into_value()).collect()
}

fn replicas(objects: &[Value]) -> i64 {
    let d = objects.iter().find(|o| o["kind"] == "Deployment").expect("a Deployment");
    d["spec"]["replicas"].as_i64().unwrap()
}

#[test]
fn a_remote_base_and_component_build_as_kubectl_kustomize_builds_them() {
    let (shared, _) = shared_bases();
    let app = overlay(&shared, "v1");
    let f = fetcher();
    let rendered = render(app.path(), &source(), &f.ctx).unwrap();
    let ours: Vec<Value> = rendered.manifests.into_iter().map(|m| m.into_value()).collect();
    assert_eq!(ours, reference_build(&app));
    // The tag, not the branch that moved on; the base's own `../common`.
    assert_eq!(replicas(&ours), 1);
    assert!(ours.iter().any(|o| o["metadata"]["name"] == "prod-settings"));
    assert_eq!(ours[0]["metadata"]["annotations"]["prometheus.io/scrape"], "true");
    drop(f.runtime);
}

#[test]
fn a_base_pinned_to_a_commit_is_reused_and_one_on_a_branch_is_followed() {
    let (shared, v1) = shared_bases();
    let f = fetcher();
    let renders = RenderCache::new();

    let pinned = overlay(&shared, &v1);
    let (first, reuse) = renders.render("pinned", pinned.path(), &source(), &f.ctx).unwrap();
    assert_eq!(reuse, Reuse::Miss);
    let (_, reuse) = renders.render("pinned", pinned.path(), &source(), &f.ctx).unwrap();
    assert_eq!(reuse, Reuse::Hit, "nothing the render read can change");
    assert_eq!(replicas(&first.manifests.into_iter().map(|m| m.into_value()).collect::<Vec<_>>()), 1);

    let following = overlay(&shared, "main");
    let (at_main, _) = renders.render("main", following.path(), &source(), &f.ctx).unwrap();
    assert_eq!(replicas(&at_main.manifests.into_iter().map(|m| m.into_value()).collect::<Vec<_>>()), 3);
    shared.write("base/deploy.yaml", &deployment(5)).commit("five replicas");
    let (moved, reuse) = renders.render("main", following.path(), &source(), &f.ctx).unwrap();
    assert_eq!(reuse, Reuse::Miss, "the branch may have moved");
    assert_eq!(replicas(&moved.manifests.into_iter().map(|m| m.into_value()).collect::<Vec<_>>()), 5);
}

#[test]
fn a_missing_directory_or_repository_is_an_error_naming_the_url() {
    let (shared, _) = shared_bases();
    let f = fetcher();
    let app = GitRepo::new();
    let url = format!("{}//nowhere?ref=v1", shared.url());
    app.write("apps/web/kustomization.yaml", &format!("resources:\n- {url}\n"));
    let err = render(app.path(), &source(), &f.ctx).unwrap_err().to_string();
    assert!(err.contains(&url) && err.contains("`nowhere` is no directory"), "{err}");

    let gone = "file:///nonexistent/driftless-repo//base";
    app.write("apps/web/kustomization.yaml", &format!("resources:\n- {gone}\n"));
    let err = render(app.path(), &source(), &f.ctx).unwrap_err().to_string();
    assert!(err.contains(gone) && err.contains("unreachable"), "{err}");
}

#[test]
fn origin_annotations_of_remote_files_come_from_the_kustomize_binary() {
    let (shared, _) = shared_bases();
    let app = overlay(&shared, "v1");
    let k = std::fs::read_to_string(app.path().join("apps/web/kustomization.yaml")).unwrap();
    app.write("apps/web/kustomization.yaml", &format!("{k}buildMetadata: [originAnnotations]\n"));
    let f = fetcher();
    let rendered = render(app.path(), &source(), &f.ctx).unwrap();
    assert!(rendered.inputs.is_none(), "the binary's reads are unknown");
    let ours: Vec<Value> = rendered.manifests.into_iter().map(|m| m.into_value()).collect();
    let theirs = reference_build(&app);
    assert_eq!(ours, theirs);
    let origin = theirs[0]["metadata"]["annotations"]["config.kubernetes.io/origin"].as_str().unwrap();
    assert!(origin.contains("repo: "), "{origin}");
}
