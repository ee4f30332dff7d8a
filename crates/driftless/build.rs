//! Records the Git commit this binary is built from, for `driftless
//! version`: `DRIFTLESS_COMMIT` when set (a build from a source archive, or
//! an image build that knows better), else `git rev-parse HEAD`, else
//! "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DRIFTLESS_COMMIT");
    let commit = match std::env::var("DRIFTLESS_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
    };
    // Build again when HEAD moves: HEAD itself (another branch) and the ref
    // it points to (a commit). Only files that exist: a missing one would
    // rebuild every time.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".into()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]).filter(|p| std::path::Path::new(p).exists())
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=DRIFTLESS_COMMIT={commit}");
}

/// What `git args` prints, trimmed; None when git is missing or fails (not a
/// checkout).
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
