//! `driftless validate [PATH]`: the config repository's CI check, offline.
//! Every app the repository holds is rendered as the controller would and
//! its objects validated against Kubernetes' schemas (see
//! `driftless-validate`). Exit codes: 0 clean (warnings allowed), 1
//! findings that are errors, 2 validate could not run.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use driftless_render::{AgeKeys, KeyOrigin, RenderContext, SopsKeys};

use driftless_policy::PolicySet;
use driftless_validate::policy::PolicyCheck;
use driftless_validate::schema::{BUNDLED_VERSION, Schemas};
use driftless_validate::{ObjectCheck, Options, output};

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
    /// An age key file (`age-keygen`'s output) that decrypts the
    /// repository's SOPS-encrypted files (repeatable; default:
    /// `SOPS_AGE_KEY_FILE`). Without one, an app that reads an encrypted
    /// file is not validated, and a notice says so.
    #[arg(long = "sops-age-key", value_name = "FILE", env = "SOPS_AGE_KEY_FILE")]
    sops_age_keys: Vec<PathBuf>,
    /// A directory of Rego policies (`*.rego`, `*_test.rego` skipped), each
    /// applied to every rendered object as the controller applies the
    /// policy ConfigMaps: a `deny` is an error, a `warn` a warning. A
    /// module that does not compile stops validate (exit 2).
    #[arg(long, value_name = "DIR")]
    policy: Option<PathBuf>,
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
        checks: policy_checks(args)?,
        render: RenderContext { sops: sops_keys(&args.sops_age_keys)?, ..Default::default() },
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

/// The check of `--policy DIR`, with the repository's AppProjects.
fn policy_checks(args: &ValidateArgs) -> anyhow::Result<Vec<Box<dyn ObjectCheck>>> {
    let Some(dir) = &args.policy else { return Ok(Vec::new()) };
    let set = PolicySet::from_dir(dir).with_context(|| format!("reading the policies of {}", dir.display()))?;
    if set.is_empty() {
        anyhow::bail!("{}: no Rego module (*.rego) in the policy directory", dir.display());
    }
    let broken: Vec<String> = set.modules().filter_map(|m| Some(format!("policy {}: does not compile: {}", m.name, m.error()?))).collect();
    if !broken.is_empty() {
        anyhow::bail!("{}", broken.join("\n"));
    }
    // The AppProjects of the whole repository, as validate looks for apps.
    let root = driftless_validate::repository_root(&args.path.canonicalize().unwrap_or_else(|_| args.path.clone()));
    let (docs, _) = driftless_validate::discover::scan(&root, &root);
    Ok(vec![Box::new(PolicyCheck::new(set, &docs))])
}

/// The age identities of `files`, if any are given.
fn sops_keys(files: &[PathBuf]) -> anyhow::Result<Option<Arc<SopsKeys>>> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut read = Vec::new();
    for f in files {
        let data = std::fs::read(f).with_context(|| format!("reading the age key file {}", f.display()))?;
        read.push((f.display().to_string(), data));
    }
    let keys = AgeKeys::from_key_files(read.iter().map(|(name, data)| (name.as_str(), data.as_slice())))?;
    let origin = KeyOrigin::Files(read.into_iter().map(|(name, _)| name).collect());
    Ok(Some(Arc::new(SopsKeys { keys: Ok(keys), origin })))
}

/// The URL of the checkout's `origin` remote, if it has one.
fn origin(path: &Path) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(path).args(["remote", "get-url", "origin"]).output().ok()?;
    let url = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !url.is_empty()).then_some(url)
}
