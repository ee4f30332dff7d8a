//! The container image, as `make image` builds it (scripts/image.sh), of
//! this build's driftless binary: pushed to a real registry on 127.0.0.1 and
//! pulled back, its binary runs `version`, its config names a non-root user
//! and the entrypoint, and no layer holds a shell.
//!
//! Needs `crane` and `registry` on PATH (scripts/tools/crane.sh and
//! registry.sh put them in target/tools/bin), and git and ssh, whose layer is
//! copied from this machine.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use driftless_testkit::OciRegistry;
use serde_json::Value;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn crane_json(args: &[&str]) -> Value {
    let out = run(Command::new("crane").args(args));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("crane {args:?} printed no JSON: {e}"))
}

/// The paths in layer `digest` of `image`, a gzipped tar written to `file`.
fn layer_paths(image: &str, digest: &str, file: &Path) -> Vec<String> {
    let blob = std::fs::File::create(file).unwrap();
    let status = Command::new("crane").args(["blob", &format!("{image}@{digest}")]).stdout(blob).status().expect("crane blob");
    assert!(status.success(), "crane blob {digest}");
    let list = run(Command::new("tar").arg("-tzf").arg(file));
    String::from_utf8_lossy(&list.stdout).lines().map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string()).collect()
}

#[test]
fn the_image_pushed_and_pulled_back_runs_version_as_a_non_root_user_without_a_shell() {
    let crane = Command::new("crane").arg("version").output().is_ok_and(|o| o.status.success());
    assert!(crane, "crane is not on PATH: run scripts/tools/crane.sh and add target/tools/bin to PATH");
    let registry = OciRegistry::start(None);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/image.sh");
    run(Command::new(script).env("BINARY", env!("CARGO_BIN_EXE_driftless")).env("REGISTRY", &registry.host).stdin(Stdio::null()));

    let image = format!("{}/driftless:v{}", registry.host, env!("CARGO_PKG_VERSION"));
    let index = crane_json(&["manifest", &image]);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json", "{index}");
    let platforms: Vec<&Value> = index["manifests"].as_array().unwrap().iter().map(|m| &m["platform"]).collect();
    assert!(platforms.iter().any(|p| p["os"] == "linux" && p["architecture"] == "amd64"), "{index}");

    let config = crane_json(&["config", "--platform", "linux/amd64", &image]);
    assert_eq!(config["config"]["User"], "65532:65532", "{config}");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/usr/local/bin/driftless"]), "{config}");

    let manifest = crane_json(&["manifest", "--platform", "linux/amd64", &image]);
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    let mut binary_layer = None;
    for (i, layer) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        let file = dir.path().join(format!("layer-{i}.tar.gz"));
        let paths = layer_paths(&image, layer["digest"].as_str().unwrap(), &file);
        if paths.iter().any(|p| p == "usr/local/bin/driftless") {
            binary_layer = Some(file);
        }
        all.extend(paths);
    }
    let shells: Vec<&String> = all
        .iter()
        .filter(|p| matches!(Path::new(p).file_name().and_then(|n| n.to_str()), Some("sh" | "bash" | "dash" | "busybox")))
        .collect();
    assert!(shells.is_empty(), "a shell in the image: {shells:?}");
    for needed in [
        "usr/bin/git",
        "usr/bin/helm",
        "usr/lib/git-core/git-remote-https",
        "usr/bin/ssh",
        "etc/passwd",
        "etc/ssl/certs/ca-certificates.crt",
        "tmp",
    ] {
        assert!(all.iter().any(|p| p == needed), "{needed} missing from the image: {all:?}");
    }

    // The binary, extracted from its layer, names this build.
    let layer = binary_layer.expect("a layer with /usr/local/bin/driftless");
    run(Command::new("tar").arg("-xzf").arg(&layer).arg("-C").arg(dir.path()).arg("./usr/local/bin/driftless"));
    let out = run(Command::new(dir.path().join("usr/local/bin/driftless")).args(["version", "-o", "json"]));
    let version: Value = serde_json::from_slice(&out.stdout).expect("version -o json prints JSON");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version["commit"], env!("DRIFTLESS_COMMIT"));
}
