//! `driftless server` and the server inside `driftless run`: flags, and
//! starting the HTTP API and UI on a bound listener.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

/// Flags of `driftless server`.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// Serve the HTTP API and the web UI on this address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The control-plane namespace: argocd-cm, argocd-rbac-cm, argocd-secret,
    /// AppProjects, and the default namespace of apps named without one.
    #[arg(long, short = 'n', env = "POD_NAMESPACE", default_value = "argocd")]
    namespace: String,
    /// Other namespaces whose Applications are served (comma-separated
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
    /// Mark the session cookie Secure (when the server is reached over HTTPS).
    #[arg(long)]
    secure_cookies: bool,
    /// Where Git checkouts for diffs are cached (default: a temporary directory).
    #[arg(long, env = "DRIFTLESS_SERVER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// The server's flags inside `driftless run`, beside the controller's
/// (whose `--namespace` and `--application-namespaces` it shares).
#[derive(clap::Args)]
pub struct RunServerArgs {
    /// Serve the HTTP API and the web UI on this address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Mark the session cookie Secure (when the server is reached over HTTPS).
    #[arg(long)]
    secure_cookies: bool,
}

impl RunServerArgs {
    /// The server's flags, in the controller's namespaces.
    pub fn with_namespaces(
        self,
        namespace: String,
        application_namespaces: Option<String>,
        applicationset_namespaces: Option<String>,
    ) -> ServerArgs {
        ServerArgs {
            listen: self.listen,
            namespace,
            application_namespaces,
            applicationset_namespaces,
            secure_cookies: self.secure_cookies,
            cache_dir: None,
        }
    }
}

/// Binds the listener now (a taken port stops the start with a clear
/// error) and returns the server, to run until `shutdown`.
pub async fn start(
    args: ServerArgs,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("serve the API and UI on {}", args.listen))?;
    let mut config = driftless_server::Config::new(args.namespace.clone());
    config.tenancy = driftless_engine::project::Tenancy::read(
        &client,
        &args.namespace,
        args.application_namespaces.as_deref(),
        args.applicationset_namespaces.as_deref(),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    config.secure_cookies = args.secure_cookies;
    config.cache_dir = args.cache_dir;
    Ok(async move { driftless_server::serve(listener, client, config, shutdown).await.map_err(anyhow::Error::from) })
}

/// `driftless server`: the API and UI alone, until Ctrl-C or SIGTERM.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let client = kube::Client::try_default().await.context("connect to the cluster (in-cluster config or KUBECONFIG)")?;
    start(args, client, crate::shutdown_signal()).await?.await
}
