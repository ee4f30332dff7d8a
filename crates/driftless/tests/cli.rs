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
    assert_eq!(v["commit"], env!("DRIFTLESS_COMMIT"));
    assert_names_a_commit(env!("DRIFTLESS_COMMIT"));
}

/// `commit` is a commit of this repository ("unknown" only when built
/// outside a checkout without DRIFTLESS_COMMIT).
fn assert_names_a_commit(commit: &str) {
    let checkout = Command::new("git").args(["rev-parse", "--git-dir"]).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    if !checkout.is_ok_and(|o| o.status.success()) {
        assert_eq!(commit, "unknown");
        return;
    }
    assert!(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()), "not a commit SHA: {commit:?}");
    let object = format!("{commit}^{{commit}}");
    let exists = Command::new("git").args(["cat-file", "-e", &object]).current_dir(env!("CARGO_MANIFEST_DIR")).status().unwrap();
    assert!(exists.success(), "{commit} is no commit of this repository");
}

#[test]
fn version_as_a_table_is_one_readable_line() {
    let out = driftless(&["version"]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        text,
        format!(
            "driftless {} (commit {}, Kubernetes API 1.34, {})\n",
            env!("CARGO_PKG_VERSION"),
            env!("DRIFTLESS_COMMIT"),
            std::env::consts::ARCH
        )
    );
}

#[test]
fn an_unknown_command_fails_on_stderr() {
    let out = driftless(&["no-such-command"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn a_bad_sync_running_long_limit_is_refused_naming_the_flag() {
    for bad in ["soon", "0s", "5 minutes", "99999999999999999999999h", ""] {
        let out = driftless(&["controller", "--sync-running-long-after", bad]);
        assert!(!out.status.success(), "{bad:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--sync-running-long-after") && err.contains("10m or 1h30m"), "{bad:?}: {err}");
    }
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
