//! `driftless bootstrap`: install driftless and hand it its own
//! installation, as Flux's bootstrap does. The install manifests go into
//! the repository (committed and pushed when the path holds none yet), the
//! same manifests are applied to the cluster, and an Application named
//! `driftless` then keeps the installation as the repository says: an
//! upgrade is a commit.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use driftless_api::{Application, HealthStatusCode, SyncStatusCode};
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::install;
use crate::output::progress;

/// The name of the Application that manages driftless itself.
pub const SELF_APP: &str = "driftless";
/// The file bootstrap writes into an empty path of the repository.
const MANIFEST_FILE: &str = "driftless.yaml";

/// Flags of `driftless bootstrap`.
#[derive(clap::Args)]
pub struct BootstrapArgs {
    /// The Git repository that holds driftless' own manifests (any URL
    /// `git` can push to with the credentials it already has).
    #[arg(long)]
    repo: String,
    /// The directory of the repository for those manifests.
    #[arg(long)]
    path: String,
    /// The branch the Application follows and bootstrap pushes to.
    #[arg(long, default_value = "main")]
    branch: String,
    /// The namespace to install into (the control plane).
    #[arg(long, short = 'n', default_value = install::DEFAULT_NAMESPACE)]
    namespace: String,
    /// Roles instead of ClusterRoles (see `driftless install --namespace-scoped`).
    #[arg(long)]
    namespace_scoped: bool,
    /// The container image of the controller and the server.
    #[arg(long)]
    image: Option<String>,
    /// Let the Application delete what leaves the repository (off by
    /// default: a file deleted by mistake would delete the CRDs, and every
    /// Application with them).
    #[arg(long)]
    prune: bool,
    /// Give up waiting for the Application after this many seconds (0: no limit).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// `driftless bootstrap`.
pub async fn run(args: BootstrapArgs) -> anyhow::Result<()> {
    let path = checked_path(&args.path)?;
    let opts = install::Options {
        namespace: args.namespace.clone(),
        namespace_scoped: args.namespace_scoped,
        image: args.image.clone(),
        ..Default::default()
    };
    let objects = install::manifests(&opts)?;
    let committed = commit_manifests(&args.repo, &args.branch, path, &install::to_yaml(&objects))?;
    let client = crate::kube_client::connect().await?;
    let apps: kube::Api<Application> = kube::Api::namespaced(client.clone(), &opts.namespace);
    let managed = match apps.get_opt(SELF_APP).await {
        Ok(app) => app.is_some(),
        // A cluster without the CRDs yet: nothing manages driftless there.
        Err(kube::Error::Api(s)) if s.code == 404 => false,
        Err(e) => return Err(e).with_context(|| format!("read Application {}/{SELF_APP}", opts.namespace)),
    };
    if committed || !managed {
        install::apply(&client, &opts.namespace, &objects).await?;
    } else {
        // The repository's manifests may be newer than this binary's: the
        // Application applies them, this binary's would undo an upgrade.
        progress(&format!("driftless already manages itself in namespace {}: nothing applied", opts.namespace))?;
    }
    let app = self_app(&args, path);
    apps.patch(SELF_APP, &PatchParams::apply("driftless").force(), &Patch::Apply(&app))
        .await
        .with_context(|| format!("write Application {}/{SELF_APP}", opts.namespace))?;
    progress(&format!("Application {}/{SELF_APP} manages driftless from {} ({}, {path})", opts.namespace, args.repo, args.branch))?;
    wait_synced_healthy(&apps, &opts.namespace, args.timeout).await
}

/// `path` as a relative path inside the repository.
fn checked_path(path: &str) -> anyhow::Result<&str> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() || Path::new(trimmed).components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        bail!("--path {path:?}: a directory inside the repository, such as clusters/production/driftless (no `..`, not the root)");
    }
    Ok(trimmed)
}

/// The Application that keeps the installation as the repository says.
fn self_app(args: &BootstrapArgs, path: &str) -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": { "name": SELF_APP, "namespace": args.namespace },
        "spec": {
            "project": "default",
            "source": { "repoURL": args.repo, "targetRevision": args.branch, "path": path },
            "destination": { "server": driftless_api::IN_CLUSTER_SERVER, "namespace": args.namespace },
            "syncPolicy": { "automated": { "prune": args.prune, "selfHeal": true } },
        },
    })
}

/// Writes the manifests into `path` of the repository and pushes them,
/// unless the path already holds manifests: they are then the repository's
/// to change (an upgrade is a commit), and are left alone. Says whether it
/// committed.
fn commit_manifests(repo: &str, branch: &str, path: &str, yaml: &str) -> anyhow::Result<bool> {
    let work = tempfile::tempdir().context("create a temporary directory for the clone")?;
    let dir = work.path().join("repo");
    let dir_str = dir.to_str().context("the temporary directory's path is not UTF-8")?;
    git(None, &["clone", "--quiet", "--branch", branch, "--", repo, dir_str])
        .with_context(|| format!("clone branch {branch} of {repo}"))?;
    let target = dir.join(path);
    let has_manifests = std::fs::read_dir(&target)
        .map(|entries| entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json")))
        .unwrap_or(false);
    if has_manifests {
        progress(&format!("{repo} already holds manifests in {path}: left as they are"))?;
        return Ok(false);
    }
    std::fs::create_dir_all(&target).with_context(|| format!("create {path} in the clone"))?;
    std::fs::write(target.join(MANIFEST_FILE), yaml).with_context(|| format!("write {path}/{MANIFEST_FILE}"))?;
    git(Some(&dir), &["add", "--", path])?;
    git(
        Some(&dir),
        &[
            "-c",
            "user.name=driftless",
            "-c",
            "user.email=driftless@localhost",
            "commit",
            "--quiet",
            "-m",
            "driftless bootstrap: install manifests",
        ],
    )?;
    git(Some(&dir), &["push", "--quiet", "origin", &format!("HEAD:refs/heads/{branch}")])
        .with_context(|| format!("push the install manifests to {repo} ({branch})"))?;
    progress(&format!("committed {path}/{MANIFEST_FILE} to {repo} ({branch})"))?;
    Ok(true)
}

/// Runs `git` (in `dir`), with its stderr in the error.
fn git(dir: Option<&Path>, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    // Never prompt: bootstrap may run in a pipeline.
    let out = cmd.args(args).env("GIT_TERMINAL_PROMPT", "0").output().context("run git (is it installed and on PATH?)")?;
    if !out.status.success() {
        bail!("git {}: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Waits until the self-managing Application is Synced and Healthy,
/// printing each change of its state.
async fn wait_synced_healthy(apps: &kube::Api<Application>, namespace: &str, timeout: u64) -> anyhow::Result<()> {
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_secs(timeout));
    let mut last = String::new();
    loop {
        let app = apps.get(SELF_APP).await.with_context(|| format!("read Application {namespace}/{SELF_APP}"))?;
        let s = app.status.unwrap_or_default();
        let state = format!("sync {:?}, health {}", s.sync.status, s.health.status);
        if state != last {
            progress(&format!("Application {namespace}/{SELF_APP}: {state}"))?;
            last = state;
        }
        if s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy {
            return progress(&format!(
                "driftless manages itself from Git: an upgrade is a commit to {}",
                app.spec.source.map(|s| s.repo_url).unwrap_or_default()
            ));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let conditions: Vec<String> = s.conditions.iter().map(|c| format!("{}: {}", c.type_, c.message)).collect();
            bail!(
                "timed out after {timeout}s waiting for Application {namespace}/{SELF_APP} to be Synced and Healthy; last: {last}{}. \
                 Is the controller running (kubectl -n {namespace} get pods)?",
                if conditions.is_empty() { String::new() } else { format!("; {}", conditions.join("; ")) }
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_stays_inside_the_repository() {
        assert_eq!(checked_path("clusters/prod/driftless/").expect("valid"), "clusters/prod/driftless");
        for bad in ["", "/", "../x", "a/../../b", "./"] {
            assert!(checked_path(bad).is_err(), "{bad:?}");
        }
    }
}
