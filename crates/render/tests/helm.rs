//! Helm charts rendered by the real `helm` binary (found on PATH: run
//! scripts/tools/helm.sh and put target/tools/bin on PATH).

use std::path::Path;

use driftless_api::{ApplicationSource, ApplicationSourceHelm, HelmFileParameter, HelmParameter};
use driftless_render::{Manifest, RenderContext, RenderError, SourceType, render};
use serde_json::json;

fn require_helm() {
    let ok = std::process::Command::new("helm").arg("version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "helm is not on PATH: run scripts/tools/helm.sh and add target/tools/bin to PATH");
}

/// A repository holding the example chart at `charts/web`.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/apps/helm-web");
    copy_dir(&chart, &dir.path().join("charts/web"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() { copy_dir(&e.path(), &target) } else { std::fs::copy(e.path(), target).map(drop).unwrap() }
    }
}

fn source(helm: ApplicationSourceHelm) -> ApplicationSource {
    ApplicationSource {
        repo_url: "https://git.example/repo".into(),
        path: Some("charts/web".into()),
        helm: Some(Box::new(helm)),
        ..Default::default()
    }
}

fn ctx() -> RenderContext {
    RenderContext {
        app_name: "shop".into(),
        namespace: "team-a".into(),
        kube_version: Some("v1.34.3".into()),
        api_versions: vec!["v1".into(), "apps/v1".into(), "apps/v1/Deployment".into()],
        ..Default::default()
    }
}

fn find<'a>(m: &'a [Manifest], kind: &str, name: &str) -> &'a Manifest {
    m.iter().find(|m| m.kind() == kind && m.name() == name).unwrap_or_else(|| panic!("{kind}/{name} not rendered"))
}

#[test]
fn values_per_environment_and_capabilities() {
    require_helm();
    let repo = repo();
    for (env, replicas) in [("staging", 1), ("production", 3)] {
        let helm = ApplicationSourceHelm { value_files: vec![format!("envs/{env}.yaml")], ..Default::default() };
        let r = render(repo.path(), &source(helm), &ctx()).unwrap();
        assert_eq!(r.source_type, SourceType::Helm);
        let cm = find(&r.manifests, "ConfigMap", "shop-settings").value();
        assert_eq!(cm["data"]["environment"], env);
        assert_eq!(cm["data"]["greeting"], format!("hello from {env}"));
        assert_eq!(cm["data"]["namespace"], "team-a");
        assert_eq!(cm["data"]["kubeVersion"], "v1.34.3");
        assert_eq!(cm["data"]["hasApps"], "true");
        assert_eq!(find(&r.manifests, "Deployment", "shop").value()["spec"]["replicas"], replicas);
        // CRDs come with the chart unless skipCrds; hooks are kept for the sync plan.
        find(&r.manifests, "CustomResourceDefinition", "widgets.example.driftless.dev");
        assert_eq!(find(&r.manifests, "Job", "shop-migrate").annotation("helm.sh/hook"), Some("pre-install,pre-upgrade"));
    }
}

#[test]
fn inline_values_parameters_and_file_parameters_in_argo_cd_order() {
    require_helm();
    let repo = repo();
    std::fs::write(repo.path().join("charts/web/greeting.txt"), "from a file").unwrap();
    let helm = ApplicationSourceHelm {
        release_name: Some("web".into()),
        namespace: Some("elsewhere".into()),
        value_files: vec!["envs/production.yaml".into()],
        values: Some("replicas: 7\ngreeting: from values\n".into()),
        // The object wins over the string; parameters win over both.
        values_object: Some(json!({ "replicas": 5, "image": { "tag": "1.28" } }).into()),
        parameters: vec![
            HelmParameter { name: "image.tag".into(), value: "2.0".into(), force_string: true },
            HelmParameter { name: "environment".into(), value: "a,b".into(), force_string: false },
        ],
        file_parameters: vec![HelmFileParameter { name: "greeting".into(), path: "greeting.txt".into() }],
        skip_crds: true,
        kube_version: Some("1.30.0".into()),
        ..Default::default()
    };
    let r = render(repo.path(), &source(helm), &ctx()).unwrap();
    let cm = find(&r.manifests, "ConfigMap", "web-settings").value();
    assert_eq!(cm["data"]["greeting"], "from a file");
    assert_eq!(cm["data"]["environment"], "a,b");
    assert_eq!(cm["data"]["namespace"], "elsewhere");
    assert_eq!(cm["data"]["kubeVersion"], "v1.30.0");
    let deploy = find(&r.manifests, "Deployment", "web").value();
    assert_eq!(deploy["spec"]["replicas"], 5);
    assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2.0");
    assert!(!r.manifests.iter().any(|m| m.kind() == "CustomResourceDefinition"), "skipCrds leaves the CRD out");
}

#[test]
fn ref_values_files_come_from_another_root() {
    require_helm();
    let repo = repo();
    let values = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(values.path().join("shop")).unwrap();
    std::fs::write(values.path().join("shop/values.yaml"), "greeting: from the values repo\n").unwrap();
    let mut ctx = ctx();
    ctx.refs.insert("values".into(), values.path().to_path_buf());
    let helm = ApplicationSourceHelm { value_files: vec!["$values/shop/values.yaml".into()], ..Default::default() };
    let r = render(repo.path(), &source(helm), &ctx).unwrap();
    assert_eq!(find(&r.manifests, "ConfigMap", "shop-settings").value()["data"]["greeting"], "from the values repo");
}

#[test]
fn missing_values_files_fail_unless_ignored() {
    require_helm();
    let repo = repo();
    let helm = ApplicationSourceHelm { value_files: vec!["envs/qa.yaml".into()], ..Default::default() };
    let err = render(repo.path(), &source(helm.clone()), &ctx()).unwrap_err().to_string();
    assert!(err.contains("charts/web") && err.contains("envs/qa.yaml") && err.contains("does not exist"), "{err}");
    let ignored = ApplicationSourceHelm { ignore_missing_value_files: true, ..helm };
    assert!(render(repo.path(), &source(ignored), &ctx()).is_ok());
}

#[test]
fn values_files_outside_the_repository_are_refused() {
    require_helm();
    let repo = repo();
    let helm = ApplicationSourceHelm { value_files: vec!["../../../../etc/passwd".into()], ..Default::default() };
    let err = render(repo.path(), &source(helm), &ctx()).unwrap_err();
    assert!(matches!(err, RenderError::OutsideRepository { .. }), "{err}");
}

#[test]
fn a_template_error_names_the_chart_and_helms_reason() {
    require_helm();
    let repo = repo();
    std::fs::write(repo.path().join("charts/web/templates/broken.yaml"), "{{ .Values.nope.deeper }}\n").unwrap();
    let err = render(repo.path(), &source(ApplicationSourceHelm::default()), &ctx()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RenderError::Helm { .. }), "{msg}");
    assert!(msg.starts_with("Helm chart charts/web:") && msg.contains("broken.yaml"), "{msg}");
}

#[test]
fn renders_are_cached_by_their_inputs() {
    require_helm();
    let repo = repo();
    let cache = tempfile::tempdir().unwrap();
    let ctx = RenderContext { cache_dir: Some(cache.path().to_path_buf()), ..ctx() };
    let staging = ApplicationSourceHelm { value_files: vec!["envs/staging.yaml".into()], ..Default::default() };
    let production = ApplicationSourceHelm { value_files: vec!["envs/production.yaml".into()], ..Default::default() };
    render(repo.path(), &source(staging.clone()), &ctx).unwrap();
    render(repo.path(), &source(production), &ctx).unwrap();
    let entries = || std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(entries(), 2, "one entry per distinct input");
    // Proof that the cached render is used: the chart is gone, the render is not.
    std::fs::remove_dir_all(repo.path().join("charts/web/templates")).unwrap();
    let again = render(repo.path(), &source(staging), &ctx).unwrap();
    assert_eq!(find(&again.manifests, "ConfigMap", "shop-settings").value()["data"]["environment"], "staging");
    assert_eq!(entries(), 2);
}

#[test]
fn fetched_dependencies_join_a_copy_of_the_chart_never_the_checkout() {
    require_helm();
    let repo = repo();
    let umbrella = repo.path().join("charts/umbrella");
    std::fs::create_dir_all(&umbrella).unwrap();
    std::fs::write(
        umbrella.join("Chart.yaml"),
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- {name: web, version: 1.0.0, repository: https://charts.example}\n",
    )
    .unwrap();
    std::fs::write(umbrella.join("values.yaml"), "web:\n  greeting: from the umbrella\n").unwrap();
    let source = ApplicationSource { path: Some("charts/umbrella".into()), ..source(ApplicationSourceHelm::default()) };

    let err = render(repo.path(), &source, &ctx()).unwrap_err().to_string();
    assert!(err.contains("charts/umbrella") && err.contains("web"), "a missing dependency is named: {err}");

    let ctx = RenderContext { dependencies: vec![repo.path().join("charts/web")], ..ctx() };
    let r = render(repo.path(), &source, &ctx).unwrap();
    assert_eq!(find(&r.manifests, "ConfigMap", "shop-settings").value()["data"]["greeting"], "from the umbrella");
    assert!(!umbrella.join("charts").exists(), "the checkout is never written");

    // Dependencies vendored in `charts/` need nothing fetched.
    copy_dir(&repo.path().join("charts/web"), &umbrella.join("charts/web"));
    let r = render(repo.path(), &source, &self::ctx()).unwrap();
    assert_eq!(find(&r.manifests, "ConfigMap", "shop-settings").value()["data"]["greeting"], "from the umbrella");
}

/// Without helm on PATH the error says what to install. The check runs in a
/// child process of this test binary, whose PATH holds no helm.
#[test]
fn a_missing_helm_binary_is_a_clear_error() {
    const CHILD: &str = "DRIFTLESS_TEST_WITHOUT_HELM";
    if std::env::var_os(CHILD).is_some() {
        let repo = repo();
        let err = render(repo.path(), &source(ApplicationSourceHelm::default()), &ctx()).unwrap_err();
        assert!(matches!(err, RenderError::ToolMissing { tool: "helm", .. }), "{err}");
        assert!(err.to_string().contains("scripts/tools/helm.sh"), "{err}");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_missing_helm_binary_is_a_clear_error"])
        .env(CHILD, "1")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("1 passed"), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
}
