//! A tower layer that counts and times the requests a `kube::Client` makes.
//!
//! It is generic over any `Service<http::Request<B>, Response = http::Response<B2>>`,
//! so it needs no kube dependency and fits `kube::client::ClientBuilder::with_layer`.
//!
//! A request made while an app is reconciled ([`for_app`]) is counted for
//! that app as well, in Argo CD's `argocd_app_k8s_request_total`. The app is
//! carried by a task-local value rather than passed down: every call site of
//! the client would otherwise need it, and kube's client answers through a
//! buffer task, so only the response future (polled by the caller's task)
//! can see it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tower::{Layer, Service};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    verb: &'static str,
    status: StatusLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VerbLabel {
    verb: &'static str,
}

/// One `argocd_app_k8s_request_total` series, with Argo CD's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ArgoRequestLabels {
    namespace: Arc<str>,
    name: Arc<str>,
    project: Arc<str>,
    server: Arc<str>,
    response_code: StatusLabel,
    verb: &'static str,
    resource_kind: String,
    resource_namespace: String,
    dry_run: &'static str,
}

/// The app a request is made for ([`crate::Metrics::app_ref`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppRef {
    /// The Application's namespace.
    pub namespace: Arc<str>,
    /// Its name.
    pub name: Arc<str>,
    /// `spec.project`.
    pub project: Arc<str>,
}

tokio::task_local! {
    static APP: Arc<AppRef>;
}

/// Runs `work` with every Kubernetes request it makes (through a client
/// with a [`KubeMetricsLayer`]) counted for `app`.
pub async fn for_app<F: Future>(app: AppRef, work: F) -> F::Output {
    APP.scope(Arc::new(app), work).await
}

/// An HTTP status code, or `error` when no response came; a number rather
/// than a String so that counting a request does not allocate.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum StatusLabel {
    Code(u16),
    Error,
}

impl prometheus_client::encoding::EncodeLabelValue for StatusLabel {
    fn encode(&self, encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        match self {
            StatusLabel::Code(c) => write!(encoder, "{c}"),
            StatusLabel::Error => encoder.write_str("error"),
        }
    }
}

/// The kube families, shared by the registry and every layer.
#[derive(Clone, Debug)]
pub(crate) struct KubeMetrics {
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) durations: Family<VerbLabel, Histogram, fn() -> Histogram>,
    pub(crate) argo_requests: Family<ArgoRequestLabels, Counter>,
}

/// What a request was about, read from its path and query.
struct Target {
    verb: &'static str,
    resource: String,
    namespace: String,
    dry_run: bool,
}

impl KubeMetrics {
    pub(crate) fn new() -> KubeMetrics {
        KubeMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(crate::KUBE_BUCKETS)),
            argo_requests: Family::default(),
        }
    }

    fn record(&self, server: &Arc<str>, target: &Target, status: StatusLabel, seconds: f64) {
        let verb = target.verb;
        self.requests.get_or_create(&RequestLabels { verb, status }).inc();
        self.durations.get_or_create(&VerbLabel { verb }).observe(seconds);
        // Outside an app's scope the app labels are empty, as Argo CD's are.
        let (namespace, name, project) = APP.try_with(|a| (a.namespace.clone(), a.name.clone(), a.project.clone())).unwrap_or_default();
        let labels = ArgoRequestLabels {
            namespace,
            name,
            project,
            server: Arc::clone(server),
            response_code: status,
            verb,
            resource_kind: target.resource.clone(),
            resource_namespace: target.namespace.clone(),
            dry_run: if target.dry_run { "true" } else { "false" },
        };
        self.argo_requests.get_or_create(&labels).inc();
    }
}

/// A [`tower::Layer`] recording every request of the wrapped HTTP service
/// in `driftless_kube_requests_total{verb,status}`,
/// `driftless_kube_request_duration_seconds{verb}` and Argo CD's
/// `argocd_app_k8s_request_total`.
///
/// A request is recorded when its response headers arrive (or the service
/// fails), so a watch counts once, when it starts, and its duration is the
/// time to the first byte, not the life of the stream.
///
/// ```text
/// let client = kube::client::ClientBuilder::try_from(config)?.with_layer(&metrics.kube_layer(&server)).build();
/// ```
#[derive(Clone, Debug)]
pub struct KubeMetricsLayer {
    metrics: KubeMetrics,
    server: Arc<str>,
}

impl KubeMetricsLayer {
    pub(crate) fn new(metrics: KubeMetrics, server: &str) -> KubeMetricsLayer {
        KubeMetricsLayer { metrics, server: Arc::from(server) }
    }
}

impl<S> Layer<S> for KubeMetricsLayer {
    type Service = KubeMetricsService<S>;

    fn layer(&self, inner: S) -> KubeMetricsService<S> {
        KubeMetricsService { inner, metrics: self.metrics.clone(), server: Arc::clone(&self.server) }
    }
}

/// The service [`KubeMetricsLayer`] wraps around a client's HTTP stack.
#[derive(Clone, Debug)]
pub struct KubeMetricsService<S> {
    inner: S,
    metrics: KubeMetrics,
    server: Arc<str>,
}

impl<S, B, B2> Service<Request<B>> for KubeMetricsService<S>
where
    S: Service<Request<B>, Response = Response<B2>>,
    S::Future: Send + 'static,
{
    type Response = Response<B2>;
    type Error = S::Error;
    // Boxed: naming the future would need a pin projection (unsafe code or
    // another dependency); one allocation is nothing next to a round trip.
    type Future = Pin<Box<dyn Future<Output = Result<Response<B2>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let target = target(req.method(), req.uri().path(), req.uri().query());
        let (metrics, server) = (self.metrics.clone(), Arc::clone(&self.server));
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let status = match &res {
                Ok(r) => StatusLabel::Code(r.status().as_u16()),
                Err(_) => StatusLabel::Error,
            };
            metrics.record(&server, &target, status, start.elapsed().as_secs_f64());
            res
        })
    }
}

/// The Kubernetes verb of a request, as the API server's audit log names
/// it: the method, with GET split into get/list/watch and DELETE into
/// delete/deletecollection by the path; a request to a path that is no
/// resource (`/version`, a cluster's health probe) is `nonresource`, so that
/// `get` counts objects fetched. A fixed set, so that the label's
/// cardinality stays bounded whatever the requests are.
fn verb(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    if !(path.starts_with("/api/") || path.starts_with("/apis/") || path == "/api" || path == "/apis") {
        return "nonresource";
    }
    let collection = is_collection(path);
    match *method {
        Method::GET if is_watch(query) => "watch",
        Method::GET if collection => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if collection => "deletecollection",
        Method::DELETE => "delete",
        _ => "other",
    }
}

fn is_watch(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|kv| matches!(kv, "watch=true" | "watch=1")))
}

/// The verb, resource (plural, as the path names it) and namespace of a
/// request, and whether it is a server-side dry run.
fn target(method: &Method, path: &str, query: Option<&str>) -> Target {
    let verb = verb(method, path, query);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _, rest @ ..] | ["apis", _, _, rest @ ..] => rest,
        _ => &[][..],
    };
    let (namespace, resource) = match rest {
        ["namespaces", ns, resource, ..] => (*ns, *resource),
        [resource, ..] => ("", *resource),
        [] => ("", ""),
    };
    let dry_run = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("dryRun=")));
    Target { verb, resource: resource.to_string(), namespace: namespace.to_string(), dry_run }
}

/// Whether `path` names a collection of resources
/// (`/api/v1/namespaces/ns/pods`) rather than one object
/// (`/api/v1/namespaces/ns/pods/web`) or a non-resource path (`/version`).
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return false,
    };
    // `namespaces/{ns}/{resource}...` is namespaced; `namespaces` and
    // `namespaces/{ns}` are the Namespace resource itself.
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        rest => rest,
    };
    rest.len() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        let cases = [
            ("GET", "/api/v1/namespaces/ns/pods", None, "list"),
            ("GET", "/api/v1/namespaces/ns/pods", Some("watch=true&resourceVersion=1"), "watch"),
            ("GET", "/api/v1/namespaces/ns/pods/web", None, "get"),
            ("GET", "/api/v1/namespaces/ns/pods/web/log", None, "get"),
            ("GET", "/api/v1/namespaces", None, "list"),
            ("GET", "/api/v1/namespaces/ns", None, "get"),
            ("GET", "/apis/argoproj.io/v1alpha1/applications", Some("limit=1"), "list"),
            ("GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/a", None, "get"),
            ("GET", "/version", None, "nonresource"),
            ("GET", "/apis", None, "get"),
            ("POST", "/api/v1/namespaces/ns/pods", None, "create"),
            ("PUT", "/api/v1/namespaces/ns/pods/web", None, "update"),
            ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web", Some("fieldManager=driftless"), "patch"),
            ("DELETE", "/api/v1/namespaces/ns/pods/web", None, "delete"),
            ("DELETE", "/api/v1/namespaces/ns/pods", None, "deletecollection"),
            ("HEAD", "/api/v1/namespaces/ns/pods", None, "other"),
        ];
        for (method, path, query, want) in cases {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            assert_eq!(verb(&method, path, query), want, "{method} {path} {query:?}");
        }
    }

    #[test]
    fn layer_counts_responses_and_errors() {
        let m = crate::Metrics::new();
        let layer = m.kube_layer("https://kubernetes.default.svc");
        let ok = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, std::io::Error>(Response::builder().status(404).body(()).expect("response"))
        });
        let failing = tower::service_fn(|_req: Request<()>| async { Err::<Response<()>, _>(std::io::Error::other("refused")) });
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let mut svc = layer.layer(ok);
            let req = Request::get("/api/v1/namespaces/ns/pods/x").body(()).expect("request");
            let res = svc.call(req).await.expect("response");
            assert_eq!(res.status(), 404);
            let mut svc = layer.layer(failing);
            let req = Request::post("/api/v1/namespaces/ns/pods").body(()).expect("request");
            assert!(svc.call(req).await.is_err());
            // Within an app's scope, the request is the app's.
            let mut svc = layer.layer(ok);
            let app = AppRef { namespace: "argocd".into(), name: "guestbook".into(), project: "default".into() };
            let req =
                Request::patch("/apis/apps/v1/namespaces/web/deployments/api?dryRun=All&fieldManager=driftless").body(()).expect("request");
            for_app(app, svc.call(req)).await.expect("response");
        });
        let text = m.encode();
        assert!(text.contains(r#"driftless_kube_requests_total{verb="get",status="404"} 1"#), "{text}");
        assert!(text.contains(r#"driftless_kube_requests_total{verb="create",status="error"} 1"#), "{text}");
        assert!(text.contains(r#"driftless_kube_request_duration_seconds_count{verb="get"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"argocd_app_k8s_request_total{namespace="",name="",project="",server="https://kubernetes.default.svc",response_code="404",verb="get",resource_kind="pods",resource_namespace="ns",dry_run="false"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"argocd_app_k8s_request_total{namespace="argocd",name="guestbook",project="default",server="https://kubernetes.default.svc",response_code="404",verb="patch",resource_kind="deployments",resource_namespace="web",dry_run="true"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn targets() {
        let t = target(&Method::GET, "/api/v1/namespaces", None);
        assert_eq!((t.resource.as_str(), t.namespace.as_str()), ("namespaces", ""));
        let t = target(&Method::GET, "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", None);
        assert_eq!((t.resource.as_str(), t.namespace.as_str(), t.dry_run), ("clusterroles", "", false));
        let t = target(&Method::GET, "/version", None);
        assert_eq!((t.verb, t.resource.as_str()), ("nonresource", ""));
    }
}
