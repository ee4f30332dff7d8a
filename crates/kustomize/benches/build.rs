//! Benchmark: native build vs `kubectl kustomize`, on the conformance corpus
//! and on a generated overlay of ~500 resources. Prints figures only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_kustomize::{BuildOptions, build};

fn cases() -> Vec<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else { return out };
    for e in rd.flatten() {
        let case = e.path();
        if !case.is_dir() || case.join("EXPECT_ERROR").exists() {
            continue;
        }
        let target = match std::fs::read_to_string(case.join("TARGET")) {
            Ok(t) => case.join(t.trim()),
            Err(_) => case.clone(),
        };
        out.push((case, target));
    }
    out.sort();
    out
}

fn time_native(items: &[(PathBuf, PathBuf)], rounds: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..rounds {
        for (root, target) in items {
            let _ = build(target, &BuildOptions::new(root));
        }
    }
    start.elapsed() / rounds
}

fn time_kubectl(items: &[(PathBuf, PathBuf)]) -> Option<Duration> {
    let start = Instant::now();
    for (_, target) in items {
        Command::new("kubectl").arg("kustomize").arg(target).output().ok()?;
    }
    Some(start.elapsed())
}

/// Writes a base of `n` resources (Deployments, Services, ConfigMaps) and an
/// overlay with prefix, namespace, labels, images, a generator and patches.
fn generate_large(n: usize) -> std::io::Result<(PathBuf, PathBuf)> {
    let root = std::env::temp_dir().join(format!("driftless-kustomize-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let base = root.join("base");
    let overlay = root.join("overlay");
    std::fs::create_dir_all(&base)?;
    std::fs::create_dir_all(&overlay)?;
    let mut files = Vec::new();
    for i in 0..n / 3 {
        let doc = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels:\n    app: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n      - name: main\n        image: registry.example.com/app:{i}\n        envFrom:\n        - configMapRef:\n            name: cfg-{i}\n        ports:\n        - containerPort: 8080\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector:\n    app: app-{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-{i}\ndata:\n  INDEX: \"{i}\"\n  DESCRIPTION: resource number {i} of the generated benchmark overlay\n"
        );
        let name = format!("app-{i}.yaml");
        std::fs::write(base.join(&name), doc)?;
        files.push(name);
    }
    let mut k = String::from("resources:\n");
    for f in &files {
        k.push_str(&format!("- {f}\n"));
    }
    std::fs::write(base.join("kustomization.yaml"), k)?;
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "namespace: bench\nnamePrefix: prod-\ncommonLabels:\n  env: prod\ncommonAnnotations:\n  owner: bench\nresources:\n- ../base\nimages:\n- name: registry.example.com/app\n  newName: mirror.example.com/app\nconfigMapGenerator:\n- name: shared\n  literals:\n  - A=1\npatches:\n- target:\n    kind: Deployment\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: any\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            resources:\n              limits:\n                memory: 256Mi\n",
    )?;
    Ok((root, overlay))
}

fn ratio(a: Duration, b: Duration) -> f64 {
    b.as_secs_f64() / a.as_secs_f64().max(1e-9)
}

fn main() {
    let items = cases();
    let native = time_native(&items, 5);
    println!("corpus: {} kustomizations", items.len());
    println!("  native:  {:>10.2?} per pass (mean of 5)", native);
    match time_kubectl(&items) {
        Some(k) => {
            println!("  kubectl: {:>10.2?} per pass", k);
            println!("  native is {:.1}x faster than kubectl kustomize", ratio(native, k));
        }
        None => println!("  kubectl: not available"),
    }
    match generate_large(500) {
        Ok((root, overlay)) => {
            let big = vec![(root.clone(), overlay.clone())];
            let native = time_native(&big, 5);
            let count = build(&overlay, &BuildOptions::new(&root)).map(|b| b.resources.len()).unwrap_or(0);
            println!("large overlay: {count} resources");
            println!("  native:  {:>10.2?} (mean of 5)", native);
            match time_kubectl(&big) {
                Some(k) => {
                    println!("  kubectl: {:>10.2?}", k);
                    println!("  native is {:.1}x faster than kubectl kustomize", ratio(native, k));
                }
                None => println!("  kubectl: not available"),
            }
            let _ = std::fs::remove_dir_all(&root);
        }
        Err(e) => println!("large overlay: could not generate: {e}"),
    }
}
