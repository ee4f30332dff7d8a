//! The real `sops` binary (getsops/sops, installed by `scripts/tools/sops.sh`)
//! encrypting test fixtures for an age recipient.

use std::path::Path;
use std::process::Command;

/// `sops encrypt --age <recipients> [args] <name>` of `plain`, written as
/// `dir/name` first (its extension picks the format). `dir` should hold no
/// `.sops.yaml` unless the test wants its creation rules. Panics, saying
/// what to install, when `sops` is not on PATH.
pub fn sops_encrypt(dir: &Path, name: &str, plain: &[u8], recipients: &str, args: &[&str]) -> Vec<u8> {
    let file = dir.join(name);
    std::fs::write(&file, plain).unwrap();
    let out = Command::new("sops")
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .arg("encrypt")
        .arg("--age")
        .arg(recipients)
        .args(args)
        .arg(&file)
        .output();
    let out = match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("sops is not on PATH: run scripts/tools/sops.sh (or `make tools`) and add target/tools/bin to PATH")
        }
        other => other.unwrap(),
    };
    assert!(out.status.success(), "sops encrypt {name} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
