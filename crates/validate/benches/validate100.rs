//! How long `driftless validate` takes on a config repository of 100 apps:
//! 90 Kustomize overlays over one shared base (a Deployment, a Service, a
//! ConfigMap generator each) and 10 apps of 3 Helm charts, each an
//! Application in `apps/`. Prints the figures; asserts only that the
//! repository is clean (a fixture that breaks would time the wrong thing).
//!
//!     PATH=/path/to/helm:$PATH cargo bench -p driftless-validate --bench validate100

use std::path::Path;
use std::time::Instant;

use driftless_validate::schema::{BUNDLED_VERSION, Schemas};
use driftless_validate::{Options, run};

const KUSTOMIZE_APPS: usize = 90;
const HELM_APPS: usize = 10;
const CHARTS: usize = 3;
const REPO: &str = "https://git.example/config.git";

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn application(name: &str, path: &str, namespace: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: {REPO}\n    targetRevision: main\n    path: {path}\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {namespace}\n"
    )
}

/// The repository: a shared base, an overlay per Kustomize app, charts.
fn fixture(root: &Path) {
    std::fs::create_dir_all(root.join(".git")).expect("mkdir .git");
    write(
        root,
        "base/kustomization.yaml",
        "resources: [deploy.yaml, svc.yaml]\nconfigMapGenerator:\n- name: settings\n  literals: [LOG=info]\n",
    );
    write(
        root,
        "base/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        ports:\n        - containerPort: 80\n        resources:\n          limits: {cpu: 100m, memory: 64Mi}\n        envFrom:\n        - configMapRef: {name: settings}\n",
    );
    write(
        root,
        "base/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 80\n",
    );
    for i in 0..KUSTOMIZE_APPS {
        write(
            root,
            &format!("overlays/team{i}/kustomization.yaml"),
            &format!(
                "resources: [../../base]\nnamePrefix: team{i}-\nlabels:\n- pairs: {{team: team{i}}}\npatches:\n- path: replicas.yaml\nimages:\n- name: nginx\n  newTag: \"1.{i}\"\n"
            ),
        );
        write(
            root,
            &format!("overlays/team{i}/replicas.yaml"),
            &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {}\n", 1 + i % 3),
        );
        write(root, &format!("apps/team{i}.yaml"), &application(&format!("team{i}"), &format!("overlays/team{i}"), &format!("team{i}")));
    }
    for c in 0..CHARTS {
        write(root, &format!("charts/chart{c}/Chart.yaml"), &format!("apiVersion: v2\nname: chart{c}\nversion: 0.1.{c}\n"));
        write(root, &format!("charts/chart{c}/values.yaml"), "replicas: 2\nimage: nginx:1.27\n");
        write(
            root,
            &format!("charts/chart{c}/templates/deploy.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n      - name: main\n        image: {{ .Values.image }}\n",
        );
        write(
            root,
            &format!("charts/chart{c}/templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  release: {{ .Release.Name | quote }}\n",
        );
    }
    for i in 0..HELM_APPS {
        write(
            root,
            &format!("apps/helm{i}.yaml"),
            &application(&format!("helm{i}"), &format!("charts/chart{}", i % CHARTS), &format!("helm{i}")),
        );
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    let schemas = Schemas::bundled(BUNDLED_VERSION).expect("bundled schemas");
    let load = started.elapsed();
    let opts = Options {
        path: dir.path().to_path_buf(),
        app_files: Vec::new(),
        repo_urls: vec![REPO.into()],
        schemas,
        crd_files: Vec::new(),
        strict: true,
        checks: Vec::new(),
        render: Default::default(),
        jobs,
    };
    let report = run(&opts, &|_, _| {}).expect("validate runs (helm on PATH?)");
    let total = started.elapsed();
    assert_eq!(report.summary.errors, 0, "the fixture is clean: {}", driftless_validate::output::text(&report));
    println!(
        "validate: {} apps ({KUSTOMIZE_APPS} Kustomize overlays, {HELM_APPS} Helm), {} objects, {jobs} jobs: {:.2} s (schemas loaded in {:.0} ms)",
        report.summary.apps,
        report.summary.objects,
        total.as_secs_f64(),
        load.as_secs_f64() * 1000.0
    );
}
