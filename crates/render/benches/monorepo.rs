//! A monorepo of 100 Kustomize apps (a base and a production overlay each),
//! and a commit that touches one of them: how long re-rendering every app
//! takes with the input-keyed render cache, without it, and with the
//! `kubectl kustomize` binary as Argo CD and Flux run it. Prints figures;
//! asserts nothing.
//!
//!     cargo bench -p driftless-render --bench monorepo

use std::path::Path;
use std::time::{Duration, Instant};

use driftless_api::ApplicationSource;
use driftless_render::{RenderCache, RenderContext, Reuse, render};

const APPS: usize = 100;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// One commit's checkout; app `bumped` has its image tag raised.
fn checkout(root: &Path, bumped: Option<usize>) {
    for i in 0..APPS {
        let tag = if bumped == Some(i) { "1.28" } else { "1.27" };
        write(
            root,
            &format!("apps/app{i}/base/kustomization.yaml"),
            "resources: [deploy.yaml, svc.yaml]\nconfigMapGenerator:\n- name: settings\n  literals: [LOG=info]\n",
        );
        write(
            root,
            &format!("apps/app{i}/base/deploy.yaml"),
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app{i}}}\nspec:\n  selector: {{matchLabels: {{app: app{i}}}}}\n  template:\n    metadata: {{labels: {{app: app{i}}}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:{tag}\n        envFrom: [{{configMapRef: {{name: settings}}}}]\n"
            ),
        );
        write(
            root,
            &format!("apps/app{i}/base/svc.yaml"),
            &format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: app{i}}}\nspec:\n  selector: {{app: app{i}}}\n  ports: [{{port: 80}}]\n"
            ),
        );
        write(
            root,
            &format!("apps/app{i}/overlays/production/kustomization.yaml"),
            "resources: [../../base]\nnamespace: production\ncommonLabels: {env: production}\nreplicas: [{name: APP, count: 3}]\n"
                .replace("APP", &format!("app{i}"))
                .as_str(),
        );
    }
}

fn sources() -> Vec<ApplicationSource> {
    (0..APPS).map(|i| ApplicationSource { path: Some(format!("apps/app{i}/overlays/production")), ..Default::default() }).collect()
}

fn main() {
    let (c1, c2) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    checkout(c1.path(), None);
    checkout(c2.path(), Some(42));
    let ctx = RenderContext::default();
    let sources = sources();

    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        f();
        started.elapsed()
    };

    let uncached = time(&mut || {
        for s in &sources {
            render(c2.path(), s, &ctx).expect("render");
        }
    });

    let cache = RenderCache::new();
    for s in &sources {
        cache.render("repo", c1.path(), s, &ctx).expect("render");
    }
    let mut rendered_again = 0;
    let cached = time(&mut || {
        for s in &sources {
            if cache.render("repo", c2.path(), s, &ctx).expect("render").1 == Reuse::Miss {
                rendered_again += 1;
            }
        }
    });

    let binary = time(&mut || {
        for s in &sources {
            let out = std::process::Command::new("kubectl")
                .args(["kustomize"])
                .arg(c2.path().join(s.path.as_deref().unwrap_or(".")))
                .output()
                .expect("kubectl on PATH");
            assert!(out.status.success(), "kubectl kustomize failed");
        }
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("monorepo of {APPS} Kustomize apps, a commit touching 1 of them; time to re-render every app:");
    println!(
        "  native engine with the render cache: {:>8.1} ms ({rendered_again} app(s) rendered again, {} reused)",
        ms(cached),
        APPS - rendered_again
    );
    println!("  native engine, no cache:             {:>8.1} ms", ms(uncached));
    println!("  kubectl kustomize, one process each:  {:>8.1} ms", ms(binary));
}
