//! The controller's Kubernetes client: kube's own layers (base URI,
//! authentication, extra headers) over a connection that speaks HTTP/2 when
//! the API server offers it, as client-go does. kube's default client speaks
//! HTTP/1 only, where every request in flight holds a TLS connection of its
//! own: a cold start of many apps opened hundreds, each with its buffers and
//! handshake. Over HTTP/2 they share one connection as streams.

use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;

/// Builds the client for `config`, counting requests in `metrics` and, with
/// `max_in_flight`, keeping at most that many in flight.
pub fn build(
    config: kube::Config,
    metrics: &driftless_metrics::Metrics,
    max_in_flight: Option<NonZeroUsize>,
    protocol: HttpVersion,
) -> anyhow::Result<kube::Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(config.connect_timeout);
    let tls = config.rustls_client_config().context("TLS settings of the kubeconfig")?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    let connector = match protocol {
        HttpVersion::Http2 => builder.enable_all_versions().wrap_connector(http),
        HttpVersion::Http1 => builder.enable_http1().wrap_connector(http),
    };
    let hyper_client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        // Notices a dead connection (an API server gone without a word), so
        // that watches fail over and are restarted.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .http2_keep_alive_while_idle(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .build(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().context("authentication settings of the kubeconfig")?)
        .layer(config.extra_headers_layer().context("headers of the kubeconfig")?)
        .map_err(tower::BoxError::from)
        .service(hyper_client);
    Ok(kube::client::ClientBuilder::new(service, config.default_namespace)
        // Requests are labelled with the name apps give this cluster.
        .with_layer(&metrics.kube_layer(driftless_api::IN_CLUSTER_SERVER))
        .with_layer(&tower::util::option_layer(max_in_flight.map(|n| tower::limit::ConcurrencyLimitLayer::new(n.get()))))
        .build())
}

/// A client for the kubeconfig's current context (else the in-cluster
/// config), as `kubectl` and `argocd --core` connect: what CLI commands use.
pub async fn connect() -> anyhow::Result<kube::Client> {
    kube::Client::try_default().await.context("connect to the cluster: check KUBECONFIG (or ~/.kube/config) and its current context")
}

/// The HTTP version spoken to the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpVersion {
    /// HTTP/1.1 only: one connection per request in flight.
    Http1,
    /// HTTP/2 when the server offers it (ALPN), else HTTP/1.1.
    Http2,
}
