//! The `driftless` command: the CLI, the controller and (later) the server
//! entry points. Parsing and output live here; every stage's logic lives in
//! its own crate.

mod app;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::output::{Format, print};

/// A GitOps continuous-delivery operator for Kubernetes that speaks Argo CD's API.
#[derive(Parser)]
#[command(name = "driftless", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version of this binary and what it was built for.
    Version {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Print the CustomResourceDefinitions (Application, AppProject) as YAML,
    /// e.g. `driftless crds | kubectl apply -f -`.
    Crds,
    /// Run the controller: reconcile every Application until stopped.
    Controller(ControllerArgs),
    /// Manage Applications: create, list, get, diff, sync, wait, history,
    /// rollback, delete (like `argocd app ... --core`).
    App(app::AppArgs),
}

#[derive(clap::Args)]
struct ControllerArgs {
    /// Only handle Applications in these namespaces (repeatable); default: all.
    #[arg(long = "namespace", short = 'n')]
    namespaces: Vec<String>,
    /// Compare every app with Git at least this often, in seconds.
    #[arg(long, default_value_t = 180)]
    app_resync: u64,
    /// Where Git mirrors and checkouts are cached.
    #[arg(long, env = "DRIFTLESS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// How long a sync wave or hook may take to become healthy, in seconds.
    #[arg(long, default_value_t = 300)]
    wave_timeout: u64,
}

/// What `driftless version` reports.
#[derive(serde::Serialize)]
struct VersionInfo {
    version: &'static str,
    /// The Kubernetes minor whose API the binary is built against.
    kubernetes: &'static str,
    target: &'static str,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version { output } => {
            let info = VersionInfo { version: env!("CARGO_PKG_VERSION"), kubernetes: "1.34", target: std::env::consts::ARCH };
            print(output, &info, || format!("driftless {} (Kubernetes API {}, {})\n", info.version, info.kubernetes, info.target))
        }
        Command::Crds => crds(),
        Command::Controller(args) => runtime().and_then(|rt| rt.block_on(controller(args))),
        // App commands have exit codes of their own (`app diff`: 1 = out of sync).
        Command::App(args) => return app::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("driftless: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")
}

fn crds() -> anyhow::Result<()> {
    let docs: Vec<serde_json::Value> =
        driftless_api::crd::all().into_iter().map(serde_json::to_value).collect::<Result<_, _>>().context("encode CRDs")?;
    let text = docs.iter().map(serde_saphyr::to_string).collect::<Result<Vec<_>, _>>().context("encode YAML")?;
    output::write_stdout(&format!("---\n{}", text.join("---\n")))
}

async fn controller(args: ControllerArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let client = kube::Client::try_default().await.context("connect to the cluster (in-cluster config or KUBECONFIG)")?;
    let mut config = driftless_controller::Config {
        namespaces: args.namespaces,
        resync: Duration::from_secs(args.app_resync.max(1)),
        wave_timeout: Duration::from_secs(args.wave_timeout.max(1)),
        ..Default::default()
    };
    if let Some(dir) = args.cache_dir {
        config.cache_dir = dir;
    }
    tracing::info!(namespaces = ?config.namespaces, "driftless controller starting");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    driftless_controller::run(client, config, shutdown).await?;
    tracing::info!("driftless controller stopped");
    Ok(())
}
