//! The CLI's contract with scripts: machine-readable output and exit codes.

use std::process::Command;

fn driftless(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_driftless")).args(args).output().expect("run driftless")
}

#[test]
fn version_as_json_names_this_build() {
    let out = driftless(&["version", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("version -o json prints JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["kubernetes"], "1.34");
}

#[test]
fn version_as_a_table_is_one_readable_line() {
    let out = driftless(&["version"]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text, format!("driftless {} (Kubernetes API 1.34, {})\n", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH));
}

#[test]
fn an_unknown_command_fails_on_stderr() {
    let out = driftless(&["no-such-command"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

fn examples(path: &str) -> String {
    format!("{}/../../examples/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn render_builds_a_kustomize_overlay_exactly_as_kubectl_kustomize_does() {
    let dir = examples("apps/guestbook/overlays/production");
    let ours = driftless(&["render", &dir]);
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    let reference = Command::new("kubectl").args(["kustomize", &dir]).output().expect("kubectl is on PATH");
    assert!(reference.status.success());
    assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&reference.stdout));
}

#[test]
fn render_check_reports_a_summary_and_errors_fail() {
    let ok = driftless(&["render", "--check", &examples("apps/config-only")]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).ends_with("apps/config-only: 4 resources render\n"));

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: [missing.yaml]\nnamePrefix: x-\n").expect("write");
    let bad = driftless(&["render", "--check", dir.path().to_str().expect("utf-8")]);
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing.yaml"), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn render_outside_a_git_repository_names_root_for_a_parent_base() {
    // A temporary directory: no Git repository encloses it.
    let dir = tempfile::tempdir().expect("temp dir");
    let (base, overlay) = (dir.path().join("base"), dir.path().join("overlay"));
    std::fs::create_dir_all(&base).expect("mkdir base");
    std::fs::create_dir_all(&overlay).expect("mkdir overlay");
    std::fs::write(base.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n").expect("write");
    std::fs::write(base.join("kustomization.yaml"), "resources: [cm.yaml]\n").expect("write");
    std::fs::write(overlay.join("kustomization.yaml"), "resources: [../base]\nnamePrefix: prod-\n").expect("write");
    let overlay = overlay.to_str().expect("utf-8");

    let out = driftless(&["render", overlay]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--root"), "the error says how to widen the root: {err}");

    let root = dir.path().to_str().expect("utf-8");
    let out = driftless(&["render", "--root", root, overlay]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: prod-settings"));
}
