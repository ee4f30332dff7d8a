//! API-level tests: inputs recording, root confinement, helm plumbing.

use std::path::{Path, PathBuf};

use driftless_kustomize::{BuildOptions, Error, build};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("driftless-kustomize-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

fn write(p: &Path, s: &str) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, s).expect("write");
}

#[test]
fn records_every_input_with_digest() {
    let d = tmpdir("inputs");
    write(&d.join("base/kustomization.yaml"), "resources:\n- cm.yaml\n");
    write(&d.join("base/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    write(&d.join("app/kustomization.yaml"), "resources:\n- ../base\nconfigMapGenerator:\n- name: g\n  files:\n  - f.txt\n");
    write(&d.join("app/f.txt"), "hello");
    let b = build(&d.join("app"), &BuildOptions::new(&d)).expect("build");
    let paths: Vec<&str> = b.inputs.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["app/f.txt", "app/kustomization.yaml", "base/cm.yaml", "base/kustomization.yaml"]);
    // sha256("hello")
    assert_eq!(b.inputs[0].sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_eq!(b.resources.len(), 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn refuses_a_target_outside_the_root() {
    let d = tmpdir("outside");
    write(&d.join("root/kustomization.yaml"), "resources: []\n");
    write(&d.join("other/kustomization.yaml"), "resources: []\n");
    let err = build(&d.join("other"), &BuildOptions::new(d.join("root"))).expect_err("must fail");
    assert!(matches!(err, Error::OutsideRoot { .. }), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn remote_resources_error_clearly() {
    let d = tmpdir("remote");
    write(&d.join("kustomization.yaml"), "resources:\n- https://example.com/x.yaml\n");
    let err = build(&d, &BuildOptions::new(&d)).expect_err("must fail").to_string();
    assert!(err.ends_with("remote resource https://example.com/x.yaml: files over HTTP are not fetched by the native engine; vendor it into the repository and reference it by relative path"), "{err}");
    write(&d.join("kustomization.yaml"), "resources:\n- github.com/org/repo/base?ref=v1\n");
    let err = build(&d, &BuildOptions::new(&d)).expect_err("must fail").to_string();
    assert!(
        err.contains("kustomization.yaml: remote resource github.com/org/repo/base?ref=v1: this build fetches no repositories"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[cfg(unix)]
#[test]
fn inflates_helm_charts_with_the_configured_binary() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir("helm");
    write(&d.join("charts/demo/Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 0.1.0\n");
    write(&d.join("kustomization.yaml"), "namespace: apps\nhelmCharts:\n- name: demo\n  releaseName: rel\n  valuesInline:\n    v: two\n");
    // A stand-in for helm that echoes its arguments into a ConfigMap.
    let fake = d.join("fake-helm");
    write(
        &fake,
        "#!/bin/sh\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: %s-demo\\ndata:\\n  args: \"%s\"\\n' \"$2\" \"$1 $2\"\n",
    );
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut opts = BuildOptions::new(&d);
    opts.helm_command = Some(fake);
    let b = build(&d, &opts).expect("build");
    assert_eq!(
        b.to_yaml(),
        "apiVersion: v1\ndata:\n  args: template rel\nkind: ConfigMap\nmetadata:\n  name: rel-demo\n  namespace: apps\n"
    );
    assert!(b.inputs.iter().any(|i| i.path == "charts/demo/Chart.yaml"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn helm_missing_binary_is_a_clear_error() {
    let d = tmpdir("nohelm");
    write(&d.join("kustomization.yaml"), "helmCharts:\n- name: demo\n");
    let mut opts = BuildOptions::new(&d);
    opts.helm_command = Some(d.join("does-not-exist"));
    let err = build(&d, &opts).expect_err("must fail").to_string();
    assert!(err.contains("helmCharts"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
