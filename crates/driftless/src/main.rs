//! The `driftless` command: the CLI, the controller and (later) the server
//! entry points. Parsing and output live here; every stage's logic lives in
//! its own crate.

mod allocator;
mod app;
mod appset;
mod bootstrap;
mod cluster;
mod install;
mod kube_client;
mod notifications;
mod output;
mod proj;
mod render;
mod repo;
mod server;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use driftless_controller::leader::{self, LeaderConfig};
use driftless_controller::shard::ShardConfig;

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
    /// Print the CustomResourceDefinitions (Application, AppProject,
    /// ApplicationSet) as YAML, to apply server-side (the ApplicationSet CRD
    /// is too large for client-side apply),
    /// e.g. `driftless crds | kubectl apply --server-side -f -`.
    Crds,
    /// Install driftless into a cluster (CRDs, RBAC, the controller, the API
    /// server and UI), or print the manifests with --dry-run.
    Install(install::InstallArgs),
    /// Install driftless and let it manage itself from a Git repository
    /// (the manifests are committed there when the path holds none), then
    /// wait until it is Synced and Healthy: an upgrade is then a commit.
    Bootstrap(bootstrap::BootstrapArgs),
    /// Run the controller: reconcile every Application until stopped.
    Controller(ControllerArgs),
    /// Print the manifests a directory renders to (Kustomize natively, or
    /// plain manifests), offline; `--check` only reports errors.
    Render(render::RenderArgs),
    /// Check a config repository offline, for CI: render every app as the
    /// controller would and validate each object against Kubernetes'
    /// schemas (exit 1 on errors, 2 when it cannot run).
    Validate(validate::ValidateArgs),
    /// All in one for local use: the controller with its metrics endpoint
    /// on 127.0.0.1:8082, and the HTTP API and web UI (--listen).
    Run(RunArgs),
    /// Serve the HTTP API (Argo CD's paths) and the web UI.
    Server(server::ServerArgs),
    /// Manage Applications: create, list, get, diff, sync, wait, history,
    /// rollback, delete (like `argocd app ... --core`).
    App(app::AppArgs),
    /// Manage ApplicationSets: create, list, get, delete (like `argocd
    /// appset ... --core`).
    Appset(appset::AppSetArgs),
    /// Test notification templates and triggers against an app (like
    /// `argocd admin notifications`).
    Notifications(notifications::NotificationsArgs),
    /// Manage destination clusters: add, list, get, rm (like `argocd cluster
    /// ... --core`).
    Cluster(cluster::ClusterArgs),
    /// Manage AppProjects: create, list, get, delete, sources, destinations,
    /// kinds, sync windows, roles and their tokens (like `argocd proj ...
    /// --core`).
    Proj(proj::ProjArgs),
    /// Manage repositories and their credentials: add, list, get, rm (like
    /// `argocd repo ... --core`).
    Repo(repo::RepoArgs),
    /// Manage credential templates for every repository under a URL
    /// prefix: add, list, get, rm (like `argocd repocreds ... --core`).
    Repocreds(repo::RepoArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    controller: ControllerArgs,
    #[command(flatten)]
    server: server::RunServerArgs,
}

#[derive(clap::Args)]
struct ControllerArgs {
    /// The control-plane namespace: AppProjects, argocd-cm, repository and
    /// cluster Secrets, and the Applications driftless handles first.
    #[arg(long = "namespace", short = 'n', visible_alias = "control-plane-namespace", env = "POD_NAMESPACE", default_value = "argocd")]
    namespace: String,
    /// Other namespaces whose Applications are handled (comma-separated
    /// globs or /regex/), each only for projects that list it in
    /// spec.sourceNamespaces; default: argocd-cmd-params-cm's
    /// application.namespaces.
    #[arg(long, env = "ARGOCD_APPLICATION_NAMESPACES")]
    application_namespaces: Option<String>,
    /// Other namespaces whose ApplicationSets are handled (comma-separated
    /// globs or /regex/; each must also hold Applications); default:
    /// argocd-cmd-params-cm's applicationsetcontroller.namespaces.
    #[arg(long, env = "ARGOCD_APPLICATIONSET_CONTROLLER_NAMESPACES")]
    applicationset_namespaces: Option<String>,
    /// Compare every app with Git this often, in seconds (plus a part of
    /// --app-resync-jitter). A resync takes any fetch of the app's
    /// repository begun within the last tenth of this period.
    #[arg(long, default_value_t = 180)]
    app_resync: u64,
    /// At most this many seconds (and never more than --app-resync) are
    /// added, at random, to each app's resync, so that apps synced together
    /// do not resync together (Argo CD's flag and default).
    #[arg(long, default_value_t = 60)]
    app_resync_jitter: u64,
    /// Where Git mirrors and checkouts are cached.
    #[arg(long, env = "DRIFTLESS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// How long a sync wave or hook may take to become healthy, in seconds.
    #[arg(long, default_value_t = 300)]
    wave_timeout: u64,
    /// How long a sync may run before the controller says so (a Warning
    /// Event `OperationRunningLong` on the app, and an app event for
    /// notifications), once per sync: a duration such as 10m or 1h30m.
    #[arg(long, default_value = "10m", value_parser = positive_duration)]
    sync_running_long_after: Duration,
    /// How many apps are reconciled (and synced) at once: more makes a cold
    /// start of many apps faster and costs memory. While this many apps or
    /// more wait for a sync the user asked for (a cold start), health
    /// updates and drift reverts wait for them, at most 30 s.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// At most this many requests in flight to the API server (a watch
    /// counts until its response headers arrive); default: no limit. Each
    /// holds an HTTP connection and its buffers: a low limit saves memory
    /// and slows a cold start of many apps.
    #[arg(long)]
    max_requests_in_flight: Option<std::num::NonZeroUsize>,
    /// HTTP version spoken to the API server: http2 (when the server offers
    /// it; requests share one connection) or http1 (a connection per
    /// request in flight).
    #[arg(long, value_enum, default_value_t = kube_client::HttpVersion::Http2)]
    api_http_version: kube_client::HttpVersion,
    /// What builds Kustomize overlays: driftless' own engine, or the
    /// `kustomize` binary (else `kubectl kustomize`) found on PATH.
    #[arg(long, value_enum, default_value_t = KustomizeEngine::Native)]
    kustomize: KustomizeEngine,
    /// Act only while holding a Lease (coordination.k8s.io/v1), so that of
    /// several replicas exactly one reconciles and a standby takes over when
    /// it dies. Off by default for local use; production deployments with
    /// more than one replica must set it. The process exits non-zero when it
    /// loses leadership, so that its pod restarts.
    #[arg(long, conflicts_with = "sharded")]
    leader_elect: bool,
    /// Every replica started with it takes a share of the apps (by the
    /// shard of their cluster Secret, else by name), with a Lease each in
    /// the leader election namespace and the leader election timings; a
    /// replica that dies is noticed when its Lease expires and its apps go
    /// to the others.
    #[arg(long)]
    sharded: bool,
    /// Namespace of the leader election Lease (and of the shard Leases);
    /// default: this pod's namespace (from its service account), else `default`.
    #[arg(long)]
    leader_election_namespace: Option<String>,
    /// Name of the leader election Lease; replicas of one deployment share it.
    #[arg(long, default_value = "driftless-controller")]
    leader_election_id: String,
    /// How long a standby waits after the leader's last renewal before it
    /// takes over, in seconds.
    #[arg(long, default_value_t = 15)]
    leader_elect_lease_duration: u64,
    /// How long the leader keeps acting without renewing its Lease, in
    /// seconds; shorter than the lease duration.
    #[arg(long, default_value_t = 10)]
    leader_elect_renew_deadline: u64,
    /// How often the leader renews and standbys retry, in seconds.
    #[arg(long, default_value_t = 2)]
    leader_elect_retry_period: u64,
    /// Serve Prometheus metrics on this address (GET /metrics, /healthz);
    /// `driftless run` defaults to 127.0.0.1:8082.
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// `--kustomize`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KustomizeEngine {
    Native,
    Binary,
}

impl From<KustomizeEngine> for driftless_render::KustomizeEngine {
    fn from(e: KustomizeEngine) -> Self {
        match e {
            KustomizeEngine::Native => driftless_render::KustomizeEngine::Native,
            KustomizeEngine::Binary => driftless_render::KustomizeEngine::Binary,
        }
    }
}

/// Where Kubernetes mounts the pod's namespace.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// What `driftless version` reports.
#[derive(serde::Serialize)]
struct VersionInfo {
    version: &'static str,
    /// The Git commit built (see build.rs).
    commit: &'static str,
    /// The Kubernetes minor whose API the binary is built against.
    kubernetes: &'static str,
    target: &'static str,
}

fn main() -> ExitCode {
    // git runs this executable as its askpass and ssh (an image has no shell).
    if let Some(code) = driftless_source::git_helper::run() {
        return code;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version { output } => {
            let info = VersionInfo {
                version: env!("CARGO_PKG_VERSION"),
                commit: env!("DRIFTLESS_COMMIT"),
                kubernetes: "1.34",
                target: std::env::consts::ARCH,
            };
            print(output, &info, || {
                format!("driftless {} (commit {}, Kubernetes API {}, {})\n", info.version, info.commit, info.kubernetes, info.target)
            })
        }
        Command::Crds => crds(),
        Command::Install(args) => runtime().and_then(|rt| rt.block_on(install::run(args))),
        Command::Bootstrap(args) => runtime().and_then(|rt| rt.block_on(bootstrap::run(args))),
        Command::Controller(args) => runtime().and_then(|rt| rt.block_on(controller(args, None))),
        Command::Run(RunArgs { controller: mut args, server }) => {
            args.metrics_addr.get_or_insert(std::net::SocketAddr::from(([127, 0, 0, 1], 8082)));
            let server =
                server.with_namespaces(args.namespace.clone(), args.application_namespaces.clone(), args.applicationset_namespaces.clone());
            runtime().and_then(|rt| rt.block_on(controller(args, Some(server))))
        }
        Command::Server(args) => runtime().and_then(|rt| {
            rt.block_on(async {
                init_tracing();
                server::run(args).await
            })
        }),
        // App commands have exit codes of their own (`app diff`: 1 = out of sync).
        Command::App(args) => return app::run(args),
        Command::Render(args) => return render::run(args),
        Command::Validate(args) => return validate::run(args),
        Command::Appset(args) => runtime().and_then(|rt| rt.block_on(appset::run(args))),
        Command::Notifications(args) => runtime().and_then(|rt| rt.block_on(notifications::run(args))),
        Command::Cluster(args) => runtime().and_then(|rt| rt.block_on(cluster::run(args))),
        Command::Proj(args) => runtime().and_then(|rt| rt.block_on(proj::run(args))),
        Command::Repo(args) => runtime().and_then(|rt| rt.block_on(repo::run(args, driftless_engine::repo_secrets::Kind::Repository))),
        Command::Repocreds(args) => runtime().and_then(|rt| rt.block_on(repo::run(args, driftless_engine::repo_secrets::Kind::Template))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("driftless: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A duration flag: Go's notation, as Argo CD's (`10m`, `1h30m`), above zero.
fn positive_duration(s: &str) -> Result<Duration, String> {
    driftless_controller::parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a duration above zero such as 10m or 1h30m"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let arenas = allocator::Arenas::per_core();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || arenas.bind_this_thread())
        .build()
        .context("start the async runtime")
}

fn crds() -> anyhow::Result<()> {
    output::write_stdout(&crds_yaml()?)
}

/// What `driftless crds` prints, and `install/crds/crds.yaml` holds.
fn crds_yaml() -> anyhow::Result<String> {
    let docs: Vec<serde_json::Value> =
        driftless_api::crd::all().into_iter().map(serde_json::to_value).collect::<Result<_, _>>().context("encode CRDs")?;
    let text = docs.iter().map(serde_saphyr::to_string).collect::<Result<Vec<_>, _>>().context("encode YAML")?;
    Ok(format!("---\n{}", text.join("---\n")))
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into()))
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the controller, and with `server` the API and UI beside it.
async fn controller(args: ControllerArgs, server: Option<server::ServerArgs>) -> anyhow::Result<()> {
    init_tracing();
    let metrics = driftless_metrics::Metrics::new();
    let kubeconfig = kube::Config::infer().await.context("connect to the cluster (in-cluster config or KUBECONFIG)")?;
    let client = kube_client::build(kubeconfig, &metrics, args.max_requests_in_flight, args.api_http_version)
        .context("connect to the cluster (in-cluster config or KUBECONFIG)")?;
    if let Some(addr) = args.metrics_addr {
        // Bind now, so that a taken port stops the start with a clear error.
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("serve metrics on {addr}"))?;
        let router = metrics.router();
        tokio::spawn(async move {
            if let Err(e) = driftless_metrics::serve_listener(listener, router, shutdown_signal()).await {
                tracing::error!("metrics endpoint: {e}");
            }
        });
        tracing::info!(%addr, "serving metrics on /metrics");
    }
    if let Some(server) = server {
        let serving = server::start(server, client.clone(), shutdown_signal()).await?;
        tokio::spawn(async move {
            if let Err(e) = serving.await {
                tracing::error!("API and UI server: {e:#}");
            }
        });
    }
    let tenancy = driftless_engine::project::Tenancy::read(
        &client,
        &args.namespace,
        args.application_namespaces.as_deref(),
        args.applicationset_namespaces.as_deref(),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let mut config = driftless_controller::Config {
        metrics,
        tenancy,
        resync: Duration::from_secs(args.app_resync.max(1)),
        resync_jitter: Duration::from_secs(args.app_resync_jitter),
        wave_timeout: Duration::from_secs(args.wave_timeout.max(1)),
        sync_running_long: args.sync_running_long_after,
        concurrency: args.concurrency,
        kustomize: args.kustomize.into(),
        ..Default::default()
    };
    if let Some(dir) = args.cache_dir {
        config.cache_dir = dir;
    }
    let lease_namespace = args.leader_election_namespace.unwrap_or_else(|| {
        std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
            .ok()
            .map(|ns| ns.trim().to_string())
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_string())
    });
    let lease_duration = Duration::from_secs(args.leader_elect_lease_duration);
    let renew_deadline = Duration::from_secs(args.leader_elect_renew_deadline);
    let retry_period = Duration::from_secs(args.leader_elect_retry_period);
    if args.sharded {
        if renew_deadline >= lease_duration {
            anyhow::bail!("--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration");
        }
        let identity = leader::default_identity();
        tracing::info!(namespace = %lease_namespace, %identity, "sharded: taking a share of the apps");
        config.sharded =
            Some(ShardConfig { lease_duration, renew_deadline, retry_period, ..ShardConfig::new(lease_namespace.clone(), identity) });
    }
    tracing::info!(namespace = %config.tenancy.control_plane, application_namespaces = ?config.tenancy.app_namespaces, "driftless controller starting");
    if !args.leader_elect {
        driftless_controller::run(client, config, shutdown_signal()).await?;
        tracing::info!("driftless controller stopped");
        return Ok(());
    }
    let leader = LeaderConfig {
        lease_duration,
        renew_deadline,
        retry_period,
        ..LeaderConfig::new(lease_namespace, args.leader_election_id, leader::default_identity())
    };
    tracing::info!(lease = %format!("{}/{}", leader.namespace, leader.name), identity = %leader.identity, "leader election enabled");
    let work_client = client.clone();
    let elected =
        leader::run_as_leader(client, leader, shutdown_signal(), move |stop| driftless_controller::run(work_client, config, stop));
    match elected.await {
        Ok(()) => {}
        Err(e @ leader::Error::LostLeadership { .. }) => {
            // Exit at once, as kube-controller-manager does: work may still
            // be winding down in tasks and blocking threads, and another
            // replica may already be acting. The pod restarts and rejoins
            // the election with a clean slate.
            eprintln!("driftless: {e}; exiting so that the controller restarts as a standby");
            std::process::exit(1);
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!("driftless controller stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends to stop a pod), so
/// that a leader releases its Lease instead of leaving standbys to wait for
/// it to expire.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
