//! `driftless repo ...` and `driftless repocreds ...`: Argo CD's `argocd
//! repo` and `argocd repocreds` commands in `--core` style. A repository
//! (or a credential template for every repository under a URL prefix) is a
//! Secret in the control-plane namespace (`-N`), written by the engine's
//! `repo_secrets` as the API writes it. Credentials are read from files or
//! stdin, never needed on the command line, and never printed.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use driftless_engine::repo_secrets::{self, Kind, RepositoryInfo, RepositoryInput};

use crate::output::{OutputArgs, confirm, print, table};

/// `driftless repo` and `driftless repocreds`: which one, and where.
#[derive(clap::Args)]
pub struct RepoArgs {
    /// The control-plane namespace, where repository Secrets live.
    #[arg(short = 'N', long = "control-plane-namespace", global = true, default_value = "argocd")]
    namespace: String,
    #[command(subcommand)]
    command: RepoCommand,
}

#[derive(clap::Subcommand)]
enum RepoCommand {
    /// Register a repository (or, under `repocreds`, a credential template).
    Add(Box<AddArgs>),
    /// List what is registered, with which credentials are set.
    List(OutputArgs),
    /// Show one registration by URL.
    Get(UrlArgs),
    /// Remove a registration: delete its Secret.
    Rm(RmArgs),
}

/// Flags of `repo add`, named after `argocd repo add`'s.
#[derive(clap::Args)]
struct AddArgs {
    /// The repository URL (or URL prefix, for a template).
    url: String,
    /// `git` (default) or `helm`.
    #[arg(long = "type")]
    type_: Option<String>,
    /// A display name (Helm repositories are named by it).
    #[arg(long)]
    name: Option<String>,
    /// The project the repository belongs to.
    #[arg(long)]
    project: Option<String>,
    /// Basic auth user.
    #[arg(long)]
    username: Option<String>,
    /// Basic auth password or token. Prefer --password-stdin: a value here
    /// is seen by anyone who lists processes.
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password (or token) from stdin.
    #[arg(long)]
    password_stdin: bool,
    /// An SSH private key file.
    #[arg(long, value_name = "FILE")]
    ssh_private_key_path: Option<PathBuf>,
    /// A TLS client certificate file (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_client_cert_key_path")]
    tls_client_cert_path: Option<PathBuf>,
    /// Its key file (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_client_cert_path")]
    tls_client_cert_key_path: Option<PathBuf>,
    /// Skip server certificate and host key checks.
    #[arg(long = "insecure-skip-server-verification")]
    insecure: bool,
    /// Fetch Git LFS objects.
    #[arg(long)]
    enable_lfs: bool,
    /// A Helm repository that is an OCI registry.
    #[arg(long = "enable-oci")]
    enable_oci: bool,
    /// Send basic auth without waiting for a challenge.
    #[arg(long)]
    force_http_basic_auth: bool,
    /// An HTTP(S) proxy.
    #[arg(long)]
    proxy: Option<String>,
    /// Hosts reached without the proxy.
    #[arg(long)]
    no_proxy: Option<String>,
    /// A GitHub App's id.
    #[arg(long)]
    github_app_id: Option<u64>,
    /// Its installation's id.
    #[arg(long)]
    github_app_installation_id: Option<u64>,
    /// Its private key file (PEM).
    #[arg(long, value_name = "FILE")]
    github_app_private_key_path: Option<PathBuf>,
    /// GitHub Enterprise's API URL.
    #[arg(long, value_name = "URL")]
    github_app_enterprise_base_url: Option<String>,
    /// Replace a registration with other settings.
    #[arg(long)]
    upsert: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct UrlArgs {
    /// The repository URL (or prefix).
    url: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct RmArgs {
    /// The repository URL (or prefix).
    url: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
}

fn read(path: &Option<PathBuf>, what: &str) -> anyhow::Result<Option<String>> {
    let Some(path) = path else { return Ok(None) };
    std::fs::read_to_string(path).map(Some).with_context(|| format!("read the {what} from {}", Path::new(path).display()))
}

impl AddArgs {
    fn input(&self) -> anyhow::Result<RepositoryInput> {
        let password = if self.password_stdin {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("read the password from stdin")?;
            Some(s.trim_end_matches(['\n', '\r']).to_string())
        } else {
            self.password.clone()
        };
        Ok(RepositoryInput {
            repo: self.url.clone(),
            type_: self.type_.clone(),
            name: self.name.clone(),
            project: self.project.clone(),
            username: self.username.clone(),
            password,
            ssh_private_key: read(&self.ssh_private_key_path, "SSH private key")?,
            tls_client_cert_data: read(&self.tls_client_cert_path, "TLS client certificate")?,
            tls_client_cert_key: read(&self.tls_client_cert_key_path, "TLS client key")?,
            insecure: self.insecure,
            enable_lfs: self.enable_lfs,
            enable_oci: self.enable_oci,
            force_http_basic_auth: self.force_http_basic_auth,
            proxy: self.proxy.clone(),
            no_proxy: self.no_proxy.clone(),
            github_app_id: self.github_app_id.map(Into::into),
            github_app_installation_id: self.github_app_installation_id.map(Into::into),
            github_app_private_key: read(&self.github_app_private_key_path, "GitHub App private key")?,
            github_app_enterprise_base_url: self.github_app_enterprise_base_url.clone(),
        })
    }
}

/// Which credentials a registration has, for people.
fn credentials(r: &RepositoryInfo) -> String {
    if r.credentials.is_empty() { "-".into() } else { r.credentials.join(",") }
}

/// The connection state, as the table shows it.
fn connection(r: &RepositoryInfo) -> (String, String) {
    match &r.connection_state {
        Some(c) => (format!("{:?}", c.status), crate::app::common::one_line(&c.message)),
        None => ("-".into(), String::new()),
    }
}

/// An engine for connection tests, with the control plane's CAs, known
/// hosts and credentials, and a Git cache of its own (removed with the
/// returned directory).
fn engine(client: &kube::Client, ns: &str) -> anyhow::Result<(driftless_engine::Engine, tempfile::TempDir)> {
    let cache = tempfile::tempdir().context("create a temporary directory for Git")?;
    let config = driftless_engine::EngineConfig {
        cache_dir: cache.path().to_path_buf(),
        tenancy: driftless_engine::project::Tenancy::new(ns),
        ..Default::default()
    };
    Ok((driftless_engine::Engine::one_off(client.clone(), config), cache))
}

/// Runs a `repo` (`kind` Repository) or `repocreds` (Template) command.
pub async fn run(args: RepoArgs, kind: Kind) -> anyhow::Result<()> {
    let ns = args.namespace.as_str();
    let client = crate::kube_client::connect().await?;
    let noun = match kind {
        Kind::Repository => "repository",
        Kind::Template => "repository credentials",
    };
    match args.command {
        RepoCommand::Add(a) => {
            let input = a.input()?;
            // As Argo CD: a repository is stored only once it answers.
            if kind == Kind::Repository {
                let creds = input.creds(kind)?;
                let (engine, _cache) = engine(&client, ns)?;
                repo_secrets::test_creds(&engine, &creds).await.map_err(anyhow::Error::msg)?;
            }
            let info = repo_secrets::add(&client, ns, kind, &input, a.upsert).await?;
            print(a.output.output, &info, || format!("{noun} '{}' added: Secret {} in namespace {ns}\n", info.repo, info.secret))
        }
        RepoCommand::List(a) => {
            let mut all =
                repo_secrets::list(&client, ns, kind).await.with_context(|| format!("list repository Secrets in namespace {ns}"))?;
            if kind == Kind::Repository {
                let (engine, _cache) = engine(&client, ns)?;
                for r in &mut all {
                    r.test(&engine).await;
                }
            }
            print(a.output, &all, || {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|r| {
                        let user = if r.username.is_empty() { "-".to_string() } else { r.username.clone() };
                        let project = if r.project.is_empty() { "-".to_string() } else { r.project.clone() };
                        let (status, message) = connection(r);
                        vec![r.repo.clone(), r.type_.clone(), project, user, credentials(r), status, message]
                    })
                    .collect();
                table(&["REPO", "TYPE", "PROJECT", "USERNAME", "CREDENTIALS", "STATUS", "MESSAGE"], &rows)
            })
        }
        RepoCommand::Get(a) => {
            let Some(mut r) = repo_secrets::get(&client, ns, kind, &a.url).await? else {
                bail!("{noun} {:?} is not registered in namespace {ns}: see `driftless repo list -N {ns}`", a.url)
            };
            if kind == Kind::Repository {
                let (engine, _cache) = engine(&client, ns)?;
                r.test(&engine).await;
            }
            print(a.output.output, &r, || {
                let (status, message) = connection(&r);
                format!(
                    "Repo:         {}\nType:         {}\nProject:      {}\nUsername:     {}\nCredentials:  {}\nInsecure:     {}\nSecret:       {}\nConnection:   {status} {message}\n",
                    r.repo,
                    r.type_,
                    r.project,
                    r.username,
                    credentials(&r),
                    r.insecure,
                    r.secret
                )
            })
        }
        RepoCommand::Rm(a) => {
            if !a.yes && !confirm(&format!("Are you sure you want to remove {noun} '{}'? [y/n] ", a.url))? {
                bail!("not removed: confirm with y, or pass -y");
            }
            match repo_secrets::remove(&client, ns, kind, &a.url).await? {
                Some(secret) => {
                    println!("{noun} '{}' removed: Secret {secret} deleted from namespace {ns}", a.url);
                    Ok(())
                }
                None => bail!("{noun} {:?} is not registered in namespace {ns}", a.url),
            }
        }
    }
}
