//! `driftless cluster ...`: Argo CD's `argocd cluster` commands in `--core`
//! style. The control plane is the kubeconfig's current context; a cluster
//! is registered by a cluster Secret in the control-plane namespace (`-N`),
//! which `add` writes and `rm` deletes. `list` and `get` probe each cluster
//! from here with the controller's own code, so what they show is what the
//! API server would show. No command prints a credential.

use anyhow::{Context as _, anyhow, bail};
use driftless_api::Application;
use driftless_engine::cluster_status::{self, ClusterId};
use driftless_engine::clusters::ClusterInfo;
use driftless_engine::register::{self, Target};
use driftless_engine::{Engine, EngineConfig};
use kube::Api;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::app::common::one_line;
use crate::output::{OutputArgs, confirm, print, table};

/// `driftless cluster`: manage destination clusters.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// The control-plane namespace, where cluster Secrets live.
    #[arg(short = 'N', long = "control-plane-namespace", global = true, default_value = "argocd")]
    namespace: String,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(clap::Subcommand)]
enum ClusterCommand {
    /// Register the cluster of a kubeconfig context: a ServiceAccount with a
    /// long-lived token there (kube-system/driftless-manager), and a cluster
    /// Secret with that token in the control plane.
    Add(AddArgs),
    /// List the clusters, each probed now, with the apps deploying there.
    List(OutputArgs),
    /// Show one cluster (SERVER or NAME).
    Get(GetArgs),
    /// Remove a cluster: delete its cluster Secret (never in-cluster).
    Rm(RmArgs),
}

/// Flags of `cluster add`, named after `argocd cluster add`'s.
#[derive(clap::Args)]
struct AddArgs {
    /// The kubeconfig context of the cluster to add.
    context: String,
    /// How Applications name the cluster (default: the context's name).
    #[arg(long)]
    name: Option<String>,
    /// Manage only these namespaces there (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "NS")]
    namespace_limit: Vec<String>,
    /// The project the cluster belongs to.
    #[arg(long)]
    project: Option<String>,
    /// The controller replica that handles the cluster.
    #[arg(long)]
    shard: Option<u32>,
    /// Skip verifying the cluster's certificate (drops the context's CA).
    #[arg(long)]
    insecure: bool,
    /// The API server URL the controller reaches the cluster at, when it
    /// differs from the context's (e.g. from inside the control plane).
    #[arg(long, value_name = "URL")]
    kubeconfig_context_server: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct GetArgs {
    /// The cluster's server URL or name.
    cluster: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct RmArgs {
    /// The cluster's server URL or name.
    cluster: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// What `add` and `rm` report.
#[derive(serde::Serialize)]
struct Registration<'a> {
    name: &'a str,
    server: &'a str,
    secret: &'a str,
    namespace: &'a str,
}

/// Which controller replicas hold the cluster's apps (with `--sharded`),
/// and the shard its Secret pins them to.
fn replicas(c: &ClusterInfo) -> String {
    let held = c.info.replicas.join(",");
    match c.shard {
        Some(shard) if held.is_empty() => format!("shard {shard}"),
        Some(shard) => format!("shard {shard}: {held}"),
        None => held,
    }
}

/// Runs a `cluster` command.
pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let ns = args.namespace.as_str();
    match args.command {
        ClusterCommand::Add(a) => add(ns, a).await,
        ClusterCommand::List(a) => {
            let engine = engine(ns).await?;
            let apps = apps(&engine, ns).await?;
            let clusters = overview(&engine, None, &apps).await?;
            print(a.output, &clusters, || {
                let rows: Vec<Vec<String>> = clusters
                    .iter()
                    .map(|c| {
                        let state = &c.connection_state;
                        vec![
                            c.server.clone(),
                            c.name.clone(),
                            c.server_version.clone(),
                            format!("{:?}", state.status),
                            one_line(&state.message),
                            c.info.applications_count.to_string(),
                            replicas(c),
                        ]
                    })
                    .collect();
                table(&["SERVER", "NAME", "VERSION", "STATUS", "MESSAGE", "APPS", "REPLICAS"], &rows)
            })
        }
        ClusterCommand::Get(a) => {
            let engine = engine(ns).await?;
            let apps = apps(&engine, ns).await?;
            let cluster = find(&engine, ns, &a.cluster, &apps).await?;
            print(a.output.output, &cluster, || describe(&cluster))
        }
        ClusterCommand::Rm(a) => {
            let engine = engine(ns).await?;
            let cluster = find(&engine, ns, &a.cluster, &[]).await?;
            // Refused before asking: the answer would not matter.
            cluster_status::registration(&engine, &cluster)?;
            let question = format!(
                "Are you sure you want to remove cluster '{}'? Apps deploying there will fail until it is added again. [y/n] ",
                cluster.name
            );
            if !a.yes && !confirm(&question)? {
                bail!("not removed: confirm with y, or pass -y");
            }
            let secret = cluster_status::remove(&engine, &cluster).await?;
            let done = Registration { name: &cluster.name, server: &cluster.server, secret: &secret, namespace: ns };
            print(a.output.output, &done, || format!("cluster '{}' removed: Secret {secret} deleted from namespace {ns}\n", cluster.name))
        }
    }
}

async fn add(ns: &str, args: AddArgs) -> anyhow::Result<()> {
    let kubeconfig = Kubeconfig::read().context("read the kubeconfig (KUBECONFIG or ~/.kube/config)")?;
    let (context_server, ca_data, context_insecure) =
        register::from_kubeconfig(&kubeconfig, Some(&args.context)).map_err(|e| anyhow!("kubeconfig: {e}"))?;
    let options = KubeConfigOptions { context: Some(args.context.clone()), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .with_context(|| format!("kubeconfig context {:?}", args.context))?;
    let target = kube::Client::try_from(config).with_context(|| format!("connect to the cluster of context {:?}", args.context))?;
    let control = crate::kube_client::connect().await?;
    let server = args.kubeconfig_context_server.unwrap_or(context_server).trim_end_matches('/').to_string();
    let name = args.name.unwrap_or(args.context);
    let insecure = args.insecure || context_insecure;
    let target = Target {
        client: &target,
        server: &server,
        name: &name,
        // client-go refuses a CA together with skipping verification.
        ca_data: ca_data.filter(|_| !insecure),
        insecure,
        namespaces: args.namespace_limit,
        project: args.project,
        shard: args.shard,
    };
    let secret = register::add(&target, &control, ns).await?;
    let added = Registration { name: &name, server: &server, secret: &secret, namespace: ns };
    print(args.output.output, &added, || format!("cluster '{name}' ({server}) added: Secret {secret} in namespace {ns}\n"))
}

/// An engine that reads cluster Secrets and `argocd-cm` of `ns` when asked.
async fn engine(ns: &str) -> anyhow::Result<Engine> {
    let client = crate::kube_client::connect().await?;
    Ok(Engine::one_off(client, EngineConfig { tenancy: driftless_engine::project::Tenancy::new(ns), ..Default::default() }))
}

/// Every Application, to count each cluster's apps.
async fn apps(engine: &Engine, ns: &str) -> anyhow::Result<Vec<Application>> {
    match Api::<Application>::all(engine.client.clone()).list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        // Without the CRD there is no app to count.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("list Applications in all namespaces, to count the apps of the clusters registered in namespace {ns}"))),
    }
}

async fn overview(engine: &Engine, only: Option<&ClusterId>, apps: &[Application]) -> anyhow::Result<Vec<ClusterInfo>> {
    let apps: Vec<&Application> = apps.iter().collect();
    cluster_status::overview(engine, only, &apps).await.map_err(anyhow::Error::msg)
}

/// The cluster named by `wanted` (a server URL or a name).
async fn find(engine: &Engine, ns: &str, wanted: &str, apps: &[Application]) -> anyhow::Result<ClusterInfo> {
    let id = ClusterId::ServerOrName(wanted.to_string());
    overview(engine, Some(&id), apps).await?.into_iter().next().ok_or_else(|| {
        anyhow!("cluster {wanted:?} not found: no cluster Secret in namespace {ns} names it; see `driftless cluster list -N {ns}`")
    })
}

/// The human view of one cluster.
fn describe(c: &ClusterInfo) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<20}{}\n", format!("{k}:"), v));
    kv("Name", c.name.clone());
    kv("Server", c.server.clone());
    kv("Secret", c.secret.clone().unwrap_or_else(|| "(none: the controller's own cluster)".into()));
    kv("Namespaces", if c.namespaces.is_empty() { "(all)".into() } else { c.namespaces.join(",") });
    if !c.namespaces.is_empty() {
        kv("Cluster Resources", c.cluster_resources.to_string());
    }
    if let Some(p) = &c.project {
        kv("Project", p.clone());
    }
    if let Some(s) = c.shard {
        kv("Shard", s.to_string());
    }
    kv("Server Version", c.server_version.clone());
    kv("Connection", format!("{:?}", c.connection_state.status));
    if !c.connection_state.message.is_empty() {
        kv("Message", one_line(&c.connection_state.message));
    }
    kv("Applications", c.info.applications_count.to_string());
    kv("Resources", c.info.cache_info.resources_count.to_string());
    if !c.info.replicas.is_empty() {
        kv("Replicas", c.info.replicas.join(","));
    }
    out
}
