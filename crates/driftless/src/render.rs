//! `driftless render DIR`: the desired manifests of a directory, for CI on
//! config repositories. Kustomizations are built by the native engine;
//! other directories are read as plain manifests. `--check` only reports
//! errors. Nothing is contacted unless a kustomization names a remote base,
//! which is fetched with `git` into a scratch cache removed afterwards.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

/// Arguments of `driftless render`.
#[derive(clap::Args)]
pub struct RenderArgs {
    /// The app directory: a kustomization, or a directory of manifests.
    dir: PathBuf,
    /// Nothing may be read outside this directory (default: the enclosing
    /// Git repository, else DIR itself).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Descend into subdirectories of a plain directory.
    #[arg(long)]
    recurse: bool,
    /// Only check that it renders; print a one-line summary.
    #[arg(long)]
    check: bool,
}

/// Renders and prints; errors go to stderr with exit code 1.
pub fn run(args: RenderArgs) -> ExitCode {
    match render(&args) {
        Ok((count, yaml)) => {
            let out = if args.check { format!("{}: {count} resources render\n", args.dir.display()) } else { yaml };
            match crate::output::write_stdout(&out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("driftless: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("driftless: render {}: {e:#}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

fn render(args: &RenderArgs) -> anyhow::Result<(usize, String)> {
    let dir = args.dir.canonicalize().with_context(|| format!("{} is not a directory", args.dir.display()))?;
    let repository = repository_root(&dir);
    let root = match (&args.root, &repository) {
        (Some(r), _) => r.canonicalize().with_context(|| format!("--root {}", r.display()))?,
        (None, Some(repo)) => repo.clone(),
        (None, None) => dir.clone(),
    };
    let is_kustomization = ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| dir.join(f).is_file());
    let docs: Vec<serde_json::Value> = if is_kustomization {
        // A fetch is driven by the runtime's own worker while this thread
        // waits on it; a current-thread runtime would have no one to drive it.
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().context("start the async runtime")?;
        let scratch = tempfile::tempdir().context("create a scratch Git cache")?;
        let git = std::sync::Arc::new(driftless_source::GitCache::new(scratch.path()));
        let remotes = std::sync::Arc::new(driftless_render::GitRemotes::new(git, runtime.handle().clone(), Default::default()));
        match driftless_kustomize::build(&dir, &driftless_kustomize::BuildOptions::new(&root).with_remotes(remotes)) {
            Ok(built) => built.resources,
            // Outside a Git repository the root is DIR itself, so an
            // overlay's `../base` leaves it: say how to widen it.
            Err(e @ driftless_kustomize::Error::OutsideRoot { .. }) if args.root.is_none() && repository.is_none() => {
                return Err(anyhow::Error::new(e).context(format!(
                    "no Git repository encloses {}, so nothing outside it may be read; pass --root with the directory that holds \
                     every file the kustomization reads (e.g. `--root {}`)",
                    dir.display(),
                    dir.parent().unwrap_or(&dir).display()
                )));
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        let rel = dir.strip_prefix(&root).map(Path::to_path_buf).unwrap_or_default();
        let source = driftless_api::ApplicationSource {
            path: Some(rel.to_string_lossy().into_owned()).filter(|p| !p.is_empty()),
            directory: Some(Box::new(driftless_api::ApplicationSourceDirectory { recurse: args.recurse, ..Default::default() })),
            ..Default::default()
        };
        let ctx = driftless_render::RenderContext::default();
        driftless_render::render(&root, &source, &ctx)?.manifests.into_iter().map(|m| m.into_value()).collect()
    };
    anyhow::ensure!(!docs.is_empty(), "it renders no resources (an empty render would prune everything an app deployed)");
    let yaml = docs.iter().map(driftless_kustomize::yaml::emit::to_yaml).collect::<Vec<_>>().join("---\n");
    Ok((docs.len(), yaml))
}

/// The nearest enclosing directory holding `.git`.
fn repository_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
}
