//! Helm charts end to end: from Git with values per environment, from a
//! Helm HTTP repository (pinned and by semver range, with credentials, which
//! an archive on another host never gets; over HTTPS with a CA from
//! argocd-tls-certs-cm and a client certificate), from
//! an OCI registry with htpasswd credentials, multi-source apps with
//! `$values`, OCI artifacts of plain manifests, hooks in their phases, and
//! every bad input as a clear condition that prunes nothing.
//!
//! The servers are real and local: a static HTTP server over `helm
//! package`d archives and an `index.yaml` from `helm repo index`, and the
//! CNCF `registry`. helm and registry must be on PATH (scripts/tools/helm.sh
//! and scripts/tools/registry.sh put them in target/tools/bin).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::World;
use driftless_api::{Application, OperationPhase, SyncStatusCode, condition};
use driftless_testkit::{Error, OciRegistry, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/apps/helm-web");
const USER: &str = "ci";
const PASSWORD: &str = "s3cret-Pa55";

fn tool(name: &str, script: &str) {
    let ok = Command::new(name).arg(if name == "helm" { "version" } else { "--version" }).output().is_ok_and(|o| o.status.success());
    assert!(ok, "{name} is not on PATH: run scripts/tools/{script} and add target/tools/bin to PATH");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm package` of the example chart at `version`, into `dir`; returns the archive.
fn package(dir: &Path, version: &str) -> PathBuf {
    tool("helm", "helm.sh");
    run(Command::new("helm").args(["package", CHART, "--version", version, "--destination"]).arg(dir));
    dir.join(format!("web-{version}.tgz"))
}

/// Each request's path and Authorization header.
type Requests = Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

/// A static HTTP server over a directory, requiring basic auth when
/// `auth` is set, recording the requests.
struct HttpRepo {
    url: String,
    dir: tempfile::TempDir,
    hits: Requests,
}

impl HttpRepo {
    fn start(auth: Option<(&str, &str)>) -> HttpRepo {
        HttpRepo::serve(auth, None)
    }

    /// Over TLS, accepting only clients with a certificate `tls` trusts.
    fn start_tls(tls: Arc<rustls::ServerConfig>) -> HttpRepo {
        HttpRepo::serve(None, Some(tls))
    }

    fn serve(auth: Option<(&str, &str)>, tls: Option<Arc<rustls::ServerConfig>>) -> HttpRepo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let hits: Requests = Arc::default();
        let expected = auth.map(|(u, p)| format!("Basic {}", base64(&format!("{u}:{p}"))));
        let seen = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let answer = |s: &mut dyn ReadWrite| respond(s, &root, expected.as_deref(), &seen);
                match &tls {
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config.clone()).expect("tls");
                        answer(&mut rustls::StreamOwned::new(conn, stream));
                    }
                    None => answer(&mut { stream }),
                }
            }
        });
        HttpRepo { url, dir, hits }
    }

    /// Publishes the example chart at these versions, with an index.
    fn publish(&self, versions: &[&str]) {
        for v in versions {
            package(self.dir.path(), v);
        }
        run(Command::new("helm").args(["repo", "index"]).arg(self.dir.path()));
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().iter().filter(|(p, _)| p == path).count()
    }

    /// The Authorization header of every request, in order.
    fn authorizations(&self) -> Vec<Option<String>> {
        self.hits.lock().unwrap().iter().map(|(_, a)| a.clone()).collect()
    }
}

trait ReadWrite: std::io::Read + Write {}
impl<T: std::io::Read + Write> ReadWrite for T {}

/// Answers one request with a file of `root` (a handshake or request that
/// fails just ends the connection).
fn respond(s: &mut dyn ReadWrite, root: &Path, expected: Option<&str>, seen: &std::sync::Mutex<Vec<(String, Option<String>)>>) {
    let mut reader = BufReader::new(&mut *s);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_string());
        }
    }
    drop(reader);
    let authorized = expected.is_none() || expected == authorization.as_deref();
    let path = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
    seen.lock().unwrap().push((path.clone(), authorization));
    let file = root.join(&path);
    let (status, body) = if !authorized {
        ("401 Unauthorized", Vec::new())
    } else if !path.contains("..") && file.is_file() {
        ("200 OK", std::fs::read(file).unwrap())
    } else {
        ("404 Not Found", Vec::new())
    };
    let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = s.write_all(&body);
    let _ = s.flush();
}

/// A CA, a server certificate it signed for 127.0.0.1, and a client
/// certificate it signed: the server config that trusts only that client,
/// the CA certificate, and the client's certificate and key, in PEM.
fn tls_with_client_certificates() -> (Arc<rustls::ServerConfig>, String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "driftless test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["driftless".to_string()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &issuer).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.der().clone()], key)
        .unwrap();
    (Arc::new(config), ca.pem(), client.pem(), client_key.serialize_pem())
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The CNCF registry on a free port, with htpasswd authentication.
struct Registry(OciRegistry);

impl Registry {
    fn start() -> Registry {
        let hash = bcrypt::hash_with_result(PASSWORD, 4).unwrap().format_for_version(bcrypt::Version::TwoY);
        Registry(OciRegistry::start(Some(&format!("{USER}:{hash}\n"))))
    }

    /// Pushes one layer (and a config) as `repo:tag`; returns the manifest digest.
    async fn push(&self, repo: &str, tag: &str, config: (&str, Vec<u8>), layer: (&str, Vec<u8>)) -> String {
        use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
        driftless_source::install_crypto_provider();
        let client = oci_client::Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
        let reference: oci_client::Reference = format!("{}/{repo}:{tag}", self.0.host).parse().unwrap();
        let auth = oci_client::secrets::RegistryAuth::Basic(USER.into(), PASSWORD.into());
        let layers = vec![ImageLayer::new(layer.1, layer.0.into(), None)];
        let config = Config::new(config.1, config.0.into(), None);
        client.push(&reference, &layers, config, &auth, None).await.expect("push");
        client.fetch_manifest_digest(&reference, &auth).await.expect("digest")
    }
}

/// A repository Secret in Argo CD's format, in the controller's settings namespace.
async fn repo_secret(w: &World, name: &str, data: Value) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "argocd.argoproj.io/secret-type": "repository" } },
        "stringData": data,
    }))
    .unwrap();
    kube::Api::<Secret>::namespaced(w.ns.client(), w.name()).create(&PostParams::default(), &secret).await.expect("secret");
}

/// An app whose source is replaced by `source` (or by `sources`).
async fn chart_app(w: &World, name: &str, spec: Value) -> Result<Application, Error> {
    let mut extra = json!({ "source": null, "syncPolicy": { "automated": { "prune": true } } });
    for (k, v) in spec.as_object().unwrap() {
        extra[k] = v.clone();
    }
    w.app(name, "", extra).await
}

async fn synced(w: &World, app: &str) -> Result<Application, Error> {
    w.wait_app(app, "Synced and Healthy", |a| {
        let s = a.status.as_ref()?;
        (s.sync.status == SyncStatusCode::Synced && s.health.status.as_str() == "Healthy").then(|| a.clone())
    })
    .await
}

fn data(w: &World, configmap: &str, key: &str) -> String {
    w.kubectl(&["get", "configmap", configmap, "-o", &format!("jsonpath={{.data.{key}}}")])
}

async fn comparison_error(w: &World, app: &str) -> Result<String, Error> {
    w.wait_app(app, "a ComparisonError", |a| {
        a.status.as_ref()?.conditions.iter().find(|c| c.type_ == condition::COMPARISON_ERROR).map(|c| c.message.clone())
    })
    .await
}

#[tokio::test]
async fn a_chart_from_git_with_values_per_environment_and_hooks_in_their_phases() -> Result<(), Error> {
    tool("helm", "helm.sh");
    let w = World::new("helm-git").await?;
    copy_chart(&w, "charts/web");
    w.repo.commit("chart");
    for env in ["staging", "production"] {
        let helm = json!({ "valueFiles": [format!("envs/{env}.yaml")], "skipCrds": true });
        w.app(&format!("web-{env}"), "charts/web", json!({ "source": { "helm": helm }, "syncPolicy": { "automated": {} } })).await?;
    }
    for (env, replicas) in [("staging", "1"), ("production", "3")] {
        let app = synced(&w, &format!("web-{env}")).await?;
        assert_eq!(app.status.as_ref().unwrap().source_type.as_deref(), Some("Helm"));
        assert_eq!(data(&w, &format!("web-{env}-settings"), "environment"), env);
        assert_eq!(data(&w, &format!("web-{env}-settings"), "namespace"), w.name());
        let kube_version = data(&w, &format!("web-{env}-settings"), "kubeVersion");
        assert!(kube_version.starts_with("v1.3"), ".Capabilities from the cluster: {kube_version}");
        assert_eq!(data(&w, &format!("web-{env}-settings"), "hasApps"), "true");
        let r = w.kubectl(&["get", "deployment", &format!("web-{env}"), "-o", "jsonpath={.spec.replicas}"]);
        assert_eq!(r, replicas);
    }
    // pre-install ran before everything, post-install after; the test hook never ran.
    let op = w.wait_operation("web-staging").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    let order: Vec<String> = op.sync_result.expect("results").resources.iter().map(|r| format!("{}/{}", r.kind, r.name)).collect();
    assert_eq!(order.first().map(String::as_str), Some("Job/web-staging-migrate"), "{order:?}");
    assert_eq!(order.last().map(String::as_str), Some("Job/web-staging-smoke"), "{order:?}");
    assert!(!order.iter().any(|r| r.contains("-test")), "helm test hooks are not run by a sync: {order:?}");
    assert!(!w.exists("pod", "web-staging-test"));
    Ok(())
}

fn copy_chart(w: &World, to: &str) {
    fn walk(from: &Path, rel: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
        for e in std::fs::read_dir(from).unwrap().flatten() {
            if e.path().is_dir() { walk(&e.path(), &rel.join(e.file_name()), out) } else { out.push((e.path(), rel.join(e.file_name()))) }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(CHART), Path::new(to), &mut files);
    for (src, rel) in files {
        w.repo.write(&rel.to_string_lossy(), &std::fs::read_to_string(src).unwrap());
    }
}

#[tokio::test]
async fn a_chart_from_an_http_repository_pinned_and_by_range_with_credentials_and_a_cache() -> Result<(), Error> {
    let w = World::new("helm-http").await?;
    let repo = HttpRepo::start(Some((USER, PASSWORD)));
    repo.publish(&["1.0.0", "1.1.0", "2.0.0"]);
    repo_secret(&w, "charts", json!({ "type": "helm", "name": "charts", "url": repo.url, "username": USER, "password": PASSWORD })).await;
    let source = |rev: &str| json!({ "repoURL": repo.url, "chart": "web", "targetRevision": rev, "helm": { "skipCrds": true } });
    chart_app(&w, "pinned", json!({ "source": source("1.0.0") })).await?;
    chart_app(&w, "ranged", json!({ "source": source(">=1.0.0 <2.0.0") })).await?;
    let pinned = synced(&w, "pinned").await?;
    assert_eq!(pinned.status.unwrap().sync.revision.as_deref(), Some("1.0.0"));
    let ranged = synced(&w, "ranged").await?;
    assert_eq!(ranged.status.unwrap().sync.revision.as_deref(), Some("1.1.0"), "the highest version in range");
    assert_eq!(data(&w, "pinned-settings", "greeting"), "hello");
    assert_eq!(data(&w, "ranged-settings", "chartVersion"), "1.1.0");

    // A chart in Git whose dependency comes from the repository, pinned by
    // Chart.lock below the newest version its range allows.
    w.repo.write(
        "umbrella/Chart.yaml",
        &format!(
            "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: web\n  version: ^1.0.0\n  repository: {}\n",
            repo.url
        ),
    );
    w.repo.write(
        "umbrella/Chart.lock",
        &format!("dependencies:\n- name: web\n  repository: {}\n  version: 1.0.0\ndigest: sha256:0\n", repo.url),
    );
    w.repo.write("umbrella/values.yaml", "web:\n  greeting: from the umbrella\n  hooks: {enabled: false}\n");
    w.repo.commit("umbrella");
    w.app("umbrella", "umbrella", json!({ "source": { "helm": { "skipCrds": true } }, "syncPolicy": { "automated": {} } })).await?;
    synced(&w, "umbrella").await?;
    assert_eq!(data(&w, "umbrella-settings", "greeting"), "from the umbrella");
    assert_eq!(data(&w, "umbrella-settings", "chartVersion"), "1.0.0", "Chart.lock's version");

    // Each archive was downloaded once, however often the apps were compared.
    let before = repo.hits("web-1.0.0.tgz");
    assert_eq!(before, 1, "downloaded once");
    w.kubectl(&["annotate", "application", "pinned", "argocd.argoproj.io/refresh=hard"]);
    let index_before = repo.hits("index.yaml");
    wait_for("a refresh to read the index again", common::TIMEOUT, || async {
        if repo.hits("index.yaml") > index_before { Ok(()) } else { Err("no new index request") }
    })
    .await?;
    synced(&w, "pinned").await?;
    assert_eq!(repo.hits("web-1.0.0.tgz"), 1, "the cached chart is reused");
    Ok(())
}

/// An index whose archive URLs name another host: the archive comes from
/// there without the chart repository's credentials (Helm's
/// CVE-2021-32690; `passCredentials` would send them).
#[tokio::test]
async fn a_chart_archive_on_another_host_gets_no_credentials() -> Result<(), Error> {
    let w = World::new("helm-elsewhere").await?;
    let repo = HttpRepo::start(Some((USER, PASSWORD)));
    let archives = HttpRepo::start(None);
    package(archives.dir.path(), "1.0.0");
    run(Command::new("helm").args(["repo", "index", "--url", &archives.url]).arg(archives.dir.path()));
    std::fs::rename(archives.dir.path().join("index.yaml"), repo.dir.path().join("index.yaml")).unwrap();
    repo_secret(&w, "charts", json!({ "type": "helm", "url": repo.url, "username": USER, "password": PASSWORD })).await;
    let source = json!({ "repoURL": repo.url, "chart": "web", "targetRevision": "1.0.0", "helm": { "skipCrds": true } });
    chart_app(&w, "elsewhere", json!({ "source": source })).await?;
    synced(&w, "elsewhere").await?;
    assert!(repo.hits("index.yaml") > 0 && archives.hits("web-1.0.0.tgz") == 1, "the index here, the archive there");
    let seen = archives.authorizations();
    assert!(seen.iter().all(Option::is_none), "the archive's host got credentials: {seen:?}");
    Ok(())
}

#[tokio::test]
async fn a_chart_from_an_https_repository_with_a_private_ca_that_requires_a_tls_client_certificate() -> Result<(), Error> {
    let w = World::new("helm-tls").await?;
    let (tls, ca, cert, key) = tls_with_client_certificates();
    let repo = HttpRepo::start_tls(tls);
    repo.publish(&["1.0.0"]);
    // The test CA is trusted through argocd-tls-certs-cm, for this host only.
    let certs: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "argocd-tls-certs-cm" }, "data": { "127.0.0.1": ca } })).unwrap();
    kube::Api::<ConfigMap>::namespaced(w.ns.client(), w.name()).create(&PostParams::default(), &certs).await.expect("argocd-tls-certs-cm");
    let secret = json!({ "type": "helm", "url": repo.url, "tlsClientCertData": cert, "tlsClientCertKey": key });
    repo_secret(&w, "tls-charts", secret).await;
    let source = json!({ "repoURL": repo.url, "chart": "web", "targetRevision": "1.0.0", "helm": { "skipCrds": true } });
    chart_app(&w, "tls", json!({ "source": source })).await?;
    synced(&w, "tls").await?;
    assert_eq!(data(&w, "tls-settings", "chartVersion"), "1.0.0");

    // The same repository under another URL, whose Secret has no certificate: no chart.
    let other = repo.url.replace("127.0.0.1", "localhost");
    repo_secret(&w, "tls-no-cert", json!({ "type": "helm", "url": other, "insecure": "true" })).await;
    let source = json!({ "repoURL": other, "chart": "web", "targetRevision": "1.0.0" });
    chart_app(&w, "no-cert", json!({ "source": source })).await?;
    let msg = comparison_error(&w, "no-cert").await?;
    assert!(msg.contains("chart web") && msg.contains("unreachable") && msg.contains("CertificateRequired"), "{msg}");
    assert!(!msg.contains("PRIVATE KEY"), "{msg}");
    Ok(())
}

#[tokio::test]
async fn multi_source_chart_from_a_repository_with_values_from_git() -> Result<(), Error> {
    let w = World::new("helm-multi").await?;
    let repo = HttpRepo::start(None);
    repo.publish(&["1.0.0"]);
    w.repo.write("values/shop.yaml", "greeting: hello from the team's repo\nreplicas: 2\n");
    w.repo.write("extra/cm.yaml", &common::configmap("extra", ""));
    // What the ref-only source (the repository's root) would render, if it rendered.
    w.repo.write("root.yaml", &common::configmap("at-the-root", ""));
    w.repo.commit("values");
    let sources = json!([
        { "repoURL": repo.url, "chart": "web", "targetRevision": "1.0.0",
          "helm": { "releaseName": "shop", "skipCrds": true, "valueFiles": ["$values/values/shop.yaml"] } },
        { "repoURL": w.repo.url(), "targetRevision": "main", "ref": "values" },
        { "repoURL": w.repo.url(), "targetRevision": "main", "path": "extra" },
    ]);
    chart_app(&w, "shop", json!({ "sources": sources })).await?;
    let app = synced(&w, "shop").await?;
    assert_eq!(app.status.unwrap().sync.revision.as_deref(), Some("1.0.0"));
    assert_eq!(data(&w, "shop-settings", "greeting"), "hello from the team's repo");
    assert_eq!(w.kubectl(&["get", "deployment", "shop", "-o", "jsonpath={.spec.replicas}"]), "2");
    assert!(w.exists("configmap", "extra"), "every source that renders adds its manifests");
    assert!(!w.exists("configmap", "at-the-root"), "a ref-only source renders nothing");
    Ok(())
}

#[tokio::test]
async fn oci_charts_and_manifest_artifacts_with_htpasswd_credentials() -> Result<(), Error> {
    let w = World::new("helm-oci").await?;
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let chart = std::fs::read(package(dir.path(), "1.2.0")).unwrap();
    let chart_config = br#"{"apiVersion":"v2","name":"web","version":"1.2.0"}"#.to_vec();
    registry
        .push(
            "charts/web",
            "1.2.0",
            ("application/vnd.cncf.helm.config.v1+json", chart_config),
            ("application/vnd.cncf.helm.chart.content.v1.tar+gzip", chart),
        )
        .await;
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("cm.yaml"), common::configmap("from-oci", "")).unwrap();
    run(Command::new("tar").arg("-czf").arg(dir.path().join("m.tgz")).arg("-C").arg(&manifests).arg("."));
    let digest = registry
        .push(
            "manifests/app",
            "v1",
            ("application/vnd.oci.image.config.v1+json", b"{}".to_vec()),
            ("application/vnd.oci.image.layer.v1.tar+gzip", std::fs::read(dir.path().join("m.tgz")).unwrap()),
        )
        .await;

    // Credentials cover the whole registry host, as a repo-creds template would;
    // here one repository Secret per URL, as Argo CD's CLI writes them.
    let creds = |url: String| json!({ "type": "helm", "url": url, "enableOCI": "true", "insecureOCIForceHttp": "true", "username": USER, "password": PASSWORD });
    repo_secret(&w, "oci-charts", creds(format!("oci://{}/charts", registry.0.host))).await;
    repo_secret(&w, "oci-manifests", creds(format!("oci://{}/manifests/app", registry.0.host))).await;
    let chart_source = json!({ "repoURL": format!("oci://{}/charts", registry.0.host), "chart": "web", "targetRevision": "^1.0.0",
        "helm": { "skipCrds": true, "parameters": [{ "name": "greeting", "value": "from oci" }] } });
    chart_app(&w, "oci-chart", json!({ "source": chart_source })).await?;
    chart_app(
        &w,
        "oci-manifests",
        json!({ "source": { "repoURL": format!("oci://{}/manifests/app", registry.0.host), "targetRevision": "v1", "path": "." } }),
    )
    .await?;
    let app = synced(&w, "oci-chart").await?;
    assert_eq!(app.status.unwrap().sync.revision.as_deref(), Some("1.2.0"));
    assert_eq!(data(&w, "oci-chart-settings", "greeting"), "from oci");
    // Argo CD 2's form: no scheme in repoURL, `enableOCI` in the Secret says OCI.
    let legacy = json!({ "repoURL": format!("{}/charts", registry.0.host), "chart": "web", "targetRevision": "1.2.0",
        "helm": { "skipCrds": true, "releaseName": "legacy", "values": "hooks: {enabled: false}" } });
    chart_app(&w, "oci-legacy", json!({ "source": legacy })).await?;
    synced(&w, "oci-legacy").await?;
    assert_eq!(data(&w, "legacy-settings", "chartVersion"), "1.2.0");
    let app = synced(&w, "oci-manifests").await?;
    assert_eq!(app.status.unwrap().sync.revision.as_deref(), Some(digest.as_str()), "an artifact's revision is its digest");
    assert!(w.exists("configmap", "from-oci"));

    // A wrong password: the registry refuses, the condition says so, and
    // never shows the password.
    let wrong = "not-the-Pa55word";
    let mut bad = creds(format!("oci://{}/other", registry.0.host));
    bad["password"] = json!(wrong);
    repo_secret(&w, "oci-other", bad).await;
    let source = json!({ "repoURL": format!("oci://{}/other", registry.0.host), "chart": "web", "targetRevision": "1.2.0" });
    chart_app(&w, "bad-creds", json!({ "source": source })).await?;
    let msg = comparison_error(&w, "bad-creds").await?;
    assert!(msg.contains("chart web 1.2.0") && msg.contains("refused the credentials"), "{msg}");
    assert!(!msg.contains(wrong) && !msg.contains(PASSWORD), "{msg}");
    Ok(())
}

#[tokio::test]
async fn bad_inputs_are_conditions_naming_the_chart_and_nothing_is_pruned() -> Result<(), Error> {
    tool("helm", "helm.sh");
    let w = World::new("helm-errors").await?;
    let repo = HttpRepo::start(None);
    repo.publish(&["1.0.0", "1.0.1"]);
    // Changed after the index recorded its digest.
    std::fs::OpenOptions::new().append(true).open(repo.dir.path().join("web-1.0.1.tgz")).unwrap().write_all(b"tampered").unwrap();
    copy_chart(&w, "charts/web");
    w.repo.write("charts/broken/Chart.yaml", "apiVersion: v2\nname: broken\nversion: 0.1.0\n");
    w.repo.write("charts/broken/templates/cm.yaml", "{{ .Values.missing.deeper }}\n");
    w.repo.commit("charts");
    let good = json!({ "repoURL": repo.url, "chart": "web", "targetRevision": "1.0.0", "helm": { "skipCrds": true } });
    chart_app(&w, "web", json!({ "source": good })).await?;
    synced(&w, "web").await?;
    assert!(w.exists("deployment", "web"));

    let git = w.repo.url();
    let closed = format!("http://{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let cases = [
        (json!({ "repoURL": repo.url, "chart": "web", "targetRevision": "9.9.9" }), vec!["chart web", "9.9.9", "available: 1.0.1, 1.0.0"]),
        (json!({ "repoURL": closed, "chart": "web", "targetRevision": "1.0.0" }), vec!["chart web", "unreachable"]),
        (json!({ "repoURL": repo.url, "chart": "web", "targetRevision": "1.0.1" }), vec!["chart web 1.0.1", "refusing a tampered"]),
        (json!({ "repoURL": git, "targetRevision": "main", "path": "charts/broken" }), vec!["Helm chart charts/broken", "missing"]),
        (
            json!({ "repoURL": git, "targetRevision": "main", "path": "charts/web", "helm": { "valueFiles": ["envs/qa.yaml"] } }),
            vec!["Helm chart charts/web", "envs/qa.yaml", "does not exist"],
        ),
    ];
    for (source, expected) in cases {
        // A merge patch keeps fields the case does not set: clear them.
        let mut replaced = json!({ "chart": null, "path": null, "helm": null });
        for (k, v) in source.as_object().unwrap() {
            replaced[k] = v.clone();
        }
        let patch = json!({ "spec": { "source": replaced } });
        w.apps
            .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Kube { what: "patch".into(), source })?;
        let msg = w
            .wait_app("web", "the new source's ComparisonError", |a| {
                let s = a.status.as_ref()?;
                let c = s.conditions.iter().find(|c| c.type_ == condition::COMPARISON_ERROR)?;
                expected.iter().all(|e| c.message.contains(e)).then(|| c.message.clone())
            })
            .await?;
        assert!(w.exists("deployment", "web") && w.exists("configmap", "web-settings"), "nothing is pruned after: {msg}");
    }
    Ok(())
}

/// A chart that keeps a generated password: `lookup` finds the Secret a
/// previous sync created and reuses its value, else `randAlphaNum`.
const LOOKUP_SECRET: &str = r#"{{- $s := lookup "v1" "Secret" .Release.Namespace (printf "%s-generated" .Release.Name) }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-generated
type: Opaque
data:
  {{- if $s }}
  password: {{ index $s.data "password" }}
  {{- else }}
  password: {{ randAlphaNum 24 | b64enc }}
  {{- end }}
"#;

/// Helm `lookup` (argo-cd #5202), opted in per app with
/// `driftless.dev/helm-lookup: "true"`: the chart sees the destination (a
/// registered cluster, through its Secret's credentials) and keeps the
/// generated password across a sync that changes values. Without the
/// annotation `lookup` sees nothing, as `helm template`'s does, and every
/// sync generates a new password: why a chart that relies on it needs the
/// opt-in.
#[tokio::test]
async fn lookup_keeps_a_generated_secret_across_syncs_only_when_the_app_opts_in() -> Result<(), Error> {
    tool("helm", "helm.sh");
    let w = World::new("helm-lookup").await?;
    let (server, ca_data, insecure) = driftless_engine::register::from_kubeconfig(
        &kube::config::Kubeconfig::read_from(w.ns.cluster().kubeconfig()).expect("kubeconfig"),
        None,
    )
    .expect("kubeconfig");
    let client = w.ns.client();
    let target = driftless_engine::register::Target::new(&client, &server, "lookup-target", ca_data, insecure);
    driftless_engine::register::add(&target, &client, w.name()).await.expect("cluster add");
    w.repo
        .write("chart/Chart.yaml", "apiVersion: v2\nname: lookup\nversion: 0.1.0\n")
        .write("chart/values.yaml", "color: blue\n")
        .write("chart/templates/secret.yaml", LOOKUP_SECRET)
        .write(
            "chart/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-color\ndata:\n  color: {{ .Values.color }}\n",
        );
    w.repo.commit("a chart that looks its Secret up");
    let remote = json!({ "destination": { "server": server, "namespace": w.name() } });
    w.app("kept", "chart", remote.clone()).await?;
    w.app("plain", "chart", remote).await?;
    let patch = json!({ "metadata": { "annotations": { driftless_engine::desired::ANNOTATION_HELM_LOOKUP: "true" } } });
    w.apps
        .patch("kept", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::Kube { what: "annotate".into(), source })?;
    // The app's wish alone is refused: its project must allow lookup.
    let refused = w.wait_app("kept", "lookup refused without the project's consent", |a| {
        a.status.as_ref()?.conditions.iter().find(|c| c.type_ == "ComparisonError" && c.message.contains("does not allow it")).map(|_| ())
    });
    refused.await?;
    let projects: kube::Api<driftless_api::AppProject> = w.ns.api();
    let project: driftless_api::AppProject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": { "name": "default", "annotations": { driftless_engine::desired::ANNOTATION_HELM_LOOKUP: "true" } },
        "spec": { "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }],
                  "clusterResourceWhitelist": [{ "group": "*", "kind": "*" }] }
    }))
    .expect("a project");
    projects.create(&Default::default(), &project).await.map_err(|source| Error::Kube { what: "project".into(), source })?;

    let secrets: kube::Api<Secret> = w.ns.api();
    let password = |name: &'static str| {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get(&format!("{name}-generated")).await.expect("the generated Secret");
            s.data.expect("data")["password"].0.clone()
        }
    };
    let w = &w;
    let sync = |app: &'static str| async move {
        w.request_sync(app, json!({ "prune": true })).await?;
        let op = w.wait_operation(app).await?;
        assert_eq!(op.phase, OperationPhase::Succeeded, "{app}: {op:?}");
        Ok::<_, Error>(())
    };
    sync("kept").await?;
    sync("plain").await?;
    let (kept, plain) = (password("kept").await, password("plain").await);

    w.repo.write("chart/values.yaml", "color: green\n");
    w.repo.commit("values change");
    sync("kept").await?;
    sync("plain").await?;
    let color = w.kubectl(&["get", "configmap", "kept-color", "-o", "jsonpath={.data.color}"]);
    assert_eq!(color, "green", "the second sync applied the new values");
    assert_eq!(password("kept").await, kept, "lookup found the Secret: the password is kept");
    assert_ne!(password("plain").await, plain, "without the opt-in lookup sees nothing and a new password is generated");
    let renders = w.cache_dir().join("renders");
    let cached: Vec<String> = std::fs::read_dir(&renders)
        .map(|d| d.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect())
        .unwrap_or_default();
    let kept_b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &kept);
    assert!(!cached.iter().any(|c| c.contains(&kept_b64)), "a render with lookup is never cached on disk");
    Ok(())
}
