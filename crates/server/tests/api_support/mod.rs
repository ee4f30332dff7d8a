//! What the API tests and the benchmark share: the server running
//! in-process on 127.0.0.1:0 against the dev control plane, an HTTP client,
//! and Applications created directly.

#![allow(dead_code)] // each includer uses its own part

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use driftless_api::Application;
use driftless_server::auth::accounts::hash_password;
use driftless_testkit::{TestNamespace, install_crds, wait_for};
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde_json::{Value, json};

/// Generous: tests never assert on how long things take.
pub const TIMEOUT: Duration = Duration::from_secs(90);
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";
pub const PASSWORD: &str = "correct-horse-battery";

/// The server, running until dropped.
pub struct Server {
    pub base: String,
    pub http: Client<HttpConnector, Full<Bytes>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _cache: tempfile::TempDir,
}

/// An HTTP answer.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Server {
    /// Sets up accounts and policy in `ns`, then starts the server with `ns`
    /// as its namespace.
    pub async fn start(ns: &TestNamespace, policy_csv: &str) -> Server {
        Server::start_with(ns, policy_csv, |_| {}).await
    }

    /// As [`Server::start`], with the server's configuration changed by
    /// `configure` (other namespaces for apps).
    pub async fn start_with(ns: &TestNamespace, policy_csv: &str, configure: impl FnOnce(&mut driftless_server::Config)) -> Server {
        name_git_helper();
        let client = ns.client();
        install_crds(&client).await.expect("install CRDs");
        let cms: Api<ConfigMap> = ns.api();
        let cm = |name: &str, data: &[(&str, &str)]| ConfigMap {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        };
        cms.create(
            &PostParams::default(),
            &cm(
                "argocd-cm",
                &[("accounts.reader", "login"), ("accounts.carol", "login"), ("accounts.dev", "login"), ("accounts.ci", "apiKey")],
            ),
        )
        .await
        .expect("create argocd-cm");
        cms.create(&PostParams::default(), &cm("argocd-rbac-cm", &[("policy.csv", policy_csv)])).await.expect("create argocd-rbac-cm");
        let secrets: Api<Secret> = ns.api();
        let hash = ByteString(hash_password(PASSWORD).into_bytes());
        let data: BTreeMap<String, ByteString> =
            [("accounts.reader.password", hash.clone()), ("accounts.carol.password", hash.clone()), ("accounts.dev.password", hash)]
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect();
        let secret = Secret {
            metadata: ObjectMeta { name: Some("argocd-secret".into()), ..Default::default() },
            data: Some(data),
            ..Default::default()
        };
        secrets.create(&PostParams::default(), &secret).await.expect("create argocd-secret");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let cache = tempfile::tempdir().expect("temp dir");
        let mut config = driftless_server::Config::new(ns.name());
        config.cache_dir = Some(cache.path().to_path_buf());
        config.print_initial_password = false;
        configure(&mut config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            driftless_server::serve(listener, client, config, shutdown).await.expect("server runs");
        });
        let http = Client::builder(TokioExecutor::new()).build_http();
        let server = Server { base, http, stop: Some(stop), task: Some(task), _cache: cache };
        wait_for("the server to answer", TIMEOUT, || async {
            server.call(Method::GET, "/healthz", &[], None).await.status.is_success().then_some(()).ok_or(())
        })
        .await
        .expect("server up");
        server
    }

    /// One request; `headers` as name/value pairs.
    pub async fn call(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Reply {
        let mut req = http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(b.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let resp = self.http.request(req.body(body).expect("request")).await.expect("HTTP request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("read body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
    }

    /// A bearer-authenticated request.
    pub async fn as_user(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, &[("authorization", &format!("Bearer {token}"))], body).await
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let r = self.call(Method::POST, "/api/v1/session", &[], Some(json!({ "username": user, "password": password }))).await;
        assert_eq!(r.status, StatusCode::OK, "login as {user}: {}", r.text);
        r.body["token"].as_str().expect("a token").to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The generated admin password, as an operator reads it.
pub async fn admin_password(ns: &TestNamespace) -> String {
    let secrets: Api<Secret> = ns.api();
    let s = secrets.get("argocd-initial-admin-secret").await.expect("initial admin secret");
    String::from_utf8(s.data.expect("data")["password"].0.clone()).expect("utf-8")
}

/// An Application in the test's namespace, created directly (no controller).
pub async fn create_app(
    ns: &TestNamespace,
    name: &str,
    project: &str,
    labels: Value,
    status: Value,
    repo: &str,
    path: &str,
) -> Application {
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": { "name": name, "namespace": ns.name(), "labels": labels },
        "spec": {
            "project": project,
            "source": { "repoURL": repo, "path": path, "targetRevision": "main" },
            "destination": { "server": IN_CLUSTER, "namespace": ns.name() },
        },
        "status": status,
    }))
    .expect("valid Application");
    ns.api::<Application>().create(&PostParams::default(), &app).await.expect("create app")
}

/// A controller for the test's namespace, in-process, stopped on drop.
pub struct Controller {
    pub metrics: driftless_metrics::Metrics,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _cache: tempfile::TempDir,
}

impl Controller {
    /// Starts it with `resync` as the apps' resync period.
    pub fn start(ns: &TestNamespace, resync: Duration) -> Controller {
        name_git_helper();
        let metrics = driftless_metrics::Metrics::new();
        let cache = tempfile::tempdir().expect("temp dir");
        let config = driftless_controller::Config {
            tenancy: driftless_engine::project::Tenancy::new(ns.name()),
            resync,
            cache_dir: cache.path().to_path_buf(),
            metrics: metrics.clone(),
            ..Default::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let client = ns.client();
        let task = tokio::spawn(async move {
            let _ = driftless_controller::run(client, config, async move {
                let _ = stopped.await;
            })
            .await;
        });
        Controller { metrics, stop: Some(stop), task, _cache: cache }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// git's askpass and ssh for repository tests: a test binary cannot be.
fn name_git_helper() {
    let _ = driftless_source::git_helper::set_program(env!("CARGO_BIN_EXE_server-git-helper"));
}
