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
