//! The **server**: the HTTP JSON API (Argo CD's paths and shapes) and the
//! embedded web UI, reading the state the controller reports.
//!
//! - [`serve`] runs it on a listener until a shutdown future resolves;
//! - Applications are watched once ([`store`]) and served from memory, so a
//!   list of thousands of apps never waits on the API server; changes feed
//!   the server-sent-events stream;
//! - every request is authenticated ([`auth`]: local accounts, sessions and
//!   API tokens and project tokens as JWTs, CSRF, login throttling) and
//!   authorised ([`rbac`]: Argo CD's policy CSV from `argocd-rbac-cm` and
//!   the AppProjects' roles); apps where tenancy does not allow them are
//!   answered as apps that do not exist;
//! - [`openapi`] documents every route it registers, at `/swagger.json`;
//! - [`webhook`] takes Git providers' and registries' push events
//!   (`POST /api/webhook`, no login; signatures when secrets are set).

mod api;
pub mod applicationsets;
pub mod auth;
mod error;
mod oidc;
pub mod openapi;
mod project_store;
pub mod project_tokens;
pub mod rbac;
mod settings;
mod state;
pub mod store;
mod ui;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::ApiError;
pub use state::AppState;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The control-plane namespace (`argocd-cm`, `argocd-rbac-cm`,
    /// `argocd-secret`, AppProjects, the default `appNamespace`) and the
    /// other namespaces that may hold Applications.
    pub tenancy: driftless_engine::project::Tenancy,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Where Git checkouts for diffs are cached; default: a temporary
    /// directory of this process (the controller's cache locks only within
    /// one process, so processes never share one).
    pub cache_dir: Option<PathBuf>,
    /// Print the generated initial admin password on stderr (once, when it
    /// is created).
    pub print_initial_password: bool,
}

impl Config {
    /// Defaults for the control plane in `namespace`: no other namespace
    /// holds Applications, plain cookies, a temporary Git cache.
    pub fn new(namespace: impl Into<String>) -> Config {
        Config {
            tenancy: driftless_engine::project::Tenancy::new(namespace),
            secure_cookies: false,
            cache_dir: None,
            print_initial_password: true,
        }
    }

    /// The control-plane namespace.
    pub fn namespace(&self) -> &str {
        &self.tenancy.control_plane
    }
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Setting up accounts or keys in the cluster failed.
    #[error("prepare the server's settings in namespace {namespace}: {source}")]
    Settings {
        /// The server's namespace.
        namespace: String,
        /// What failed.
        #[source]
        source: kube::Error,
    },
    /// The Git cache directory could not be made.
    #[error("create a temporary directory for Git checkouts: {0}")]
    Cache(#[source] std::io::Error),
    /// Serving HTTP failed.
    #[error("serve HTTP on {addr}: {source}")]
    Serve {
        /// The listening address.
        addr: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Starts the watches, prepares accounts and keys, and serves the API and UI
/// on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener.local_addr().map(|a: SocketAddr| a.to_string()).unwrap_or_default();
    let mut config = config;
    // Removed when the server stops.
    let _tmp = match config.cache_dir {
        Some(_) => None,
        None => {
            let tmp = tempfile::Builder::new().prefix("driftless-server-").tempdir().map_err(Error::Cache)?;
            config.cache_dir = Some(tmp.path().to_path_buf());
            Some(tmp)
        }
    };
    let state = AppState::start(client, config).await?;
    let router = api::router(Arc::clone(&state));
    tracing::info!(%addr, "serving the API and UI");
    let stopping = Arc::clone(&state);
    let shutdown = async move {
        shutdown.await;
        stopping.stopping.send_replace(true);
    };
    // Without TCP_NODELAY a response of a few segments waits for the
    // client's delayed ACK (tens of milliseconds per request).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("set TCP_NODELAY: {e}");
        }
    });
    // The peer's address: the webhook's rate limit is per source.
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
    state.stop();
    result.map_err(|source| Error::Serve { addr, source })
}
