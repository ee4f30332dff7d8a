//! `driftless validate [PATH]`: the config repository's CI check, offline.
//! Every app the repository holds is rendered as the controller would and
//! its objects validated against Kubernetes' schemas (see
//! `driftless-validate`). Exit codes: 0 clean (warnings allowed), 1
//! findings that are errors, 2 validate could not run.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use driftless_validate::schema::{BUNDLED_VERSION, Schemas};
use driftless_validate::{Options, output};

/// Arguments of `driftless validate`.
#[derive(clap::Args)]
pub struct ValidateArgs {
    /// The repository, or a directory of it, whose Applications (and
    /// ApplicationSets) are validated; a directory holding none is
    /// validated as one app.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Validate only the Applications and ApplicationSets in these files.
    #[arg(long = "app", value_name = "FILE")]
    apps: Vec<PathBuf>,
    /// The URL that names this repository in the apps' sources (repeatable);
    /// default: the checkout's `origin` remote. Sources of other
    /// repositories are not rendered (a notice says so).
    #[arg(long = "repo-url", value_name = "URL")]
    repo_urls: Vec<String>,
    /// The Kubernetes version to validate against (and Helm's
    /// `.Capabilities.KubeVersion`).
    #[arg(long, default_value = BUNDLED_VERSION)]
    kubernetes_version: String,
    /// A directory of OpenAPI v3 documents of another version, as
    /// `kubectl get --raw /openapi/v3/apis/<group>/<version>` writes them
    /// (one `.json` file each), instead of the bundled schemas.
    #[arg(long, value_name = "DIR")]
    schema_dir: Option<PathBuf>,
    /// Files of CustomResourceDefinitions whose kinds are validated too
    /// (those found in the repository or rendered by an app always are).
    #[arg(long = "crd", value_name = "FILE")]
    crds: Vec<PathBuf>,
    /// A kind with no schema is an error, not a warning.
    #[arg(long)]
    strict: bool,
    /// Output: text for people, json, junit (JUnit XML), github (GitHub
    /// Actions annotations).
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Apps rendered at once (default: the number of CPUs).
    #[arg(long)]
    jobs: Option<std::num::NonZeroUsize>,
}

/// `-o`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
    Github,
}

/// Validates and prints; the exit code says the outcome.
pub fn run(args: ValidateArgs) -> ExitCode {
    match validate(&args) {
        Ok((text, code)) => match crate::output::write_stdout(&text) {
            Ok(()) => ExitCode::from(code),
            Err(e) => {
                eprintln!("driftless: {e:#}");
                ExitCode::from(2)
            }
        },
        Err(e) => {
            eprintln!("driftless: validate: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn validate(args: &ValidateArgs) -> anyhow::Result<(String, u8)> {
    let schemas = match &args.schema_dir {
        Some(dir) => Schemas::from_dir(&args.kubernetes_version, dir)?,
        None => Schemas::bundled(&args.kubernetes_version)?,
    };
    let repo_urls = if args.repo_urls.is_empty() { origin(&args.path).into_iter().collect() } else { args.repo_urls.clone() };
    let jobs = args.jobs.map(std::num::NonZeroUsize::get).unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let opts = Options {
        path: args.path.clone(),
        app_files: args.apps.clone(),
        repo_urls,
        schemas,
        crd_files: args.crds.clone(),
        strict: args.strict,
        checks: Vec::new(),
        render: Default::default(),
        jobs,
    };
    let terminal = std::io::stderr().is_terminal();
    let progress = |done: usize, total: usize| {
        if terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rvalidating: {done}/{total} apps rendered");
            if done == total {
                let _ = write!(err, "\r\x1b[K");
            }
            let _ = err.flush();
        }
    };
    let report = driftless_validate::run(&opts, &progress)?;
    let text = match args.output {
        Format::Text => output::text(&report),
        Format::Json => output::json(&report),
        Format::Junit => output::junit(&report),
        Format::Github => output::github(&report),
    };
    Ok((text, report.exit_code()))
}

/// The URL of the checkout's `origin` remote, if it has one.
fn origin(path: &Path) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(path).args(["remote", "get-url", "origin"]).output().ok()?;
    let url = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !url.is_empty()).then_some(url)
}
