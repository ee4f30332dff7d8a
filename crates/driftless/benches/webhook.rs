//! Push-to-applied figures with `driftless run` (the binary, controller and
//! API server in one) against the dev control plane and a local Git
//! repository. Prints figures; asserts nothing.
//!
//! - push to applied with the webhook: commit, `POST /api/webhook` (a
//!   GitHub push), until the ConfigMap in the cluster has the new value;
//!   p50/p95 over 20 pushes (app resync 3600 s: only the webhook wakes it);
//! - the same without the webhook, woken by the resync alone (shortened to
//!   `--app-resync 10` so that it ends; Argo CD's default is 180 s, where
//!   the wait is 18 times longer);
//! - 100 apps on one repository, each with `manifest-generate-paths: .`:
//!   a push touching one app's path; how many sources were rendered and
//!   how many Git fetches were made, from `--metrics-addr`'s counters;
//!   then the same push touching every app (no generate-paths): fetches;
//! - an ApplicationSet with a git directories generator over 1,000
//!   directories: time from its creation to 1,000 Applications, and to all
//!   Synced and Healthy, with the process' peak RSS; then a commit adding
//!   one directory: time until its app exists, with the webhook and
//!   without (the generator's `requeueAfterSeconds: 30`).
//!
//! - notifications: 1,000 apps subscribed to on-sync-succeeded through a
//!   webhook receiver on 127.0.0.1: time until every first sync is
//!   notified, then from a push touching every app until every second one
//!   is (and that no message came twice), with the peak RSS.
//!
//!     make bench   (or: cargo bench -p driftless --bench webhook)
//!
//! `WEBHOOK_BENCH` runs only the phases it names, comma-separated:
//! `latency` (push to applied, with the webhook and on resync only, and
//! their ratio), `monorepo` (the 100 apps), `appset`, `notifications`;
//! unset, all of them (notifications, appset, latency, monorepo). E.g.
//! `WEBHOOK_BENCH=latency,monorepo cargo bench -p driftless --bench webhook`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftless_api::Application;
use driftless_testkit::{GitRepo, HttpSink, TestNamespace, install_crds, procstat, wait_for};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// `driftless run`, killed when dropped.
struct Run {
    child: Child,
    api: SocketAddr,
    metrics: SocketAddr,
}

fn free_port() -> BenchResult<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl Run {
    async fn start(ns: &TestNamespace, cache: &std::path::Path, resync_seconds: u64) -> BenchResult<Run> {
        let (api, metrics) = (free_port()?, free_port()?);
        let child = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["run", "--namespace", ns.name(), "--app-resync", &resync_seconds.to_string()])
            .args(["--listen", &api.to_string(), "--metrics-addr", &metrics.to_string()])
            .env("KUBECONFIG", ns.cluster().kubeconfig())
            .env("DRIFTLESS_CACHE_DIR", cache)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let run = Run { child, api, metrics };
        wait_for("driftless run to answer", Duration::from_secs(60), || async {
            match http(run.api, "GET", "/healthz", &[], b"").await {
                Ok((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await?;
        Ok(run)
    }

    async fn webhook(&self, body: &[u8]) -> BenchResult<()> {
        let (status, text) = http(self.api, "POST", "/api/webhook", &[("X-GitHub-Event", "push")], body).await?;
        if status != 200 {
            return Err(format!("webhook answered {status}: {text}").into());
        }
        Ok(())
    }

    /// The sum of the series of `name` whose labels contain `label`.
    async fn metric(&self, name: &str, label: &str) -> BenchResult<f64> {
        let (_, text) = http(self.metrics, "GET", "/metrics", &[], b"").await?;
        let prefix = format!("{name}{{");
        Ok(text
            .lines()
            .filter(|l| l.starts_with(&prefix) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> BenchResult<(u16, String)> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Type: application/json\r\n\r\n");
    tcp.write_all(req.as_bytes()).await?;
    tcp.write_all(body).await?;
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no HTTP status")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn config_map(i: usize, version: usize) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  version: \"{version}\"\n")
}

/// A GitHub push of `main` touching `files`.
fn push(repo: &GitRepo, files: &[String]) -> Vec<u8> {
    json!({
        "ref": "refs/heads/main", "after": repo.head(),
        "repository": { "html_url": repo.url(), "clone_url": repo.url(), "default_branch": "main" },
        "commits": [{ "id": repo.head(), "added": [], "removed": [], "modified": files }],
    })
    .to_string()
    .into_bytes()
}

async fn create_apps(ns: &TestNamespace, repo: &GitRepo, n: usize, generate_paths: bool) -> BenchResult<()> {
    let apps: Api<Application> = ns.api();
    for i in 0..n {
        let annotations = if generate_paths { json!({ "argocd.argoproj.io/manifest-generate-paths": "." }) } else { json!({}) };
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": format!("a{i}"), "namespace": ns.name(), "annotations": annotations },
            "spec": {
                "project": "default",
                "source": { "repoURL": repo.url(), "targetRevision": "main", "path": format!("apps/a{i}") },
                "destination": { "server": "https://kubernetes.default.svc", "namespace": ns.name() },
                "syncPolicy": { "automated": {} },
            },
        }))?;
        apps.create(&PostParams::default(), &app).await?;
    }
    Ok(())
}

/// Waits until the ConfigMaps `cm-{i}` for every `i` of `which` hold `version`.
async fn wait_versions(ns: &TestNamespace, which: &[usize], version: usize, timeout: Duration) -> BenchResult<()> {
    let cms: Api<ConfigMap> = ns.api();
    let want = version.to_string();
    wait_for("the ConfigMaps to change", timeout, || async {
        let list = cms.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let done = which
            .iter()
            .filter(|i| {
                let name = format!("cm-{i}");
                list.items.iter().any(|c| {
                    c.metadata.name.as_deref() == Some(name.as_str()) && c.data.as_ref().and_then(|d| d.get("version")) == Some(&want)
                })
            })
            .count();
        if done == which.len() { Ok(()) } else { Err(format!("{done} of {}", which.len())) }
    })
    .await?;
    Ok(())
}

/// Commits `version` for app 0, then (with `run`) posts the webhook, and
/// returns the time until cm-0 in the cluster has it (polled every 10 ms).
async fn push_to_applied(ns: &TestNamespace, repo: &GitRepo, version: usize, run: Option<&Run>) -> BenchResult<Duration> {
    let cms: Api<ConfigMap> = ns.api();
    repo.write("apps/a0/cm.yaml", &config_map(0, version));
    repo.commit(&format!("version {version}"));
    let started = Instant::now();
    if let Some(run) = run {
        run.webhook(&push(repo, &["apps/a0/cm.yaml".to_string()])).await?;
    }
    let want = version.to_string();
    loop {
        let cm = cms.get("cm-0").await?;
        if cm.data.as_ref().and_then(|d| d.get("version")) == Some(&want) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err("no change within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0;
    (pct(0.5), pct(0.95))
}

async fn latency(pushes: usize, resync_pushes: usize) -> BenchResult<()> {
    let ns = TestNamespace::new("bench-webhook").await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    repo.write("apps/a0/cm.yaml", &config_map(0, 0));
    repo.commit("first");
    let cache = tempfile::tempdir()?;
    create_apps(&ns, &repo, 1, false).await?;
    let mut version = 0;
    let webhook;
    {
        let run = Run::start(&ns, cache.path(), 3600).await?;
        wait_versions(&ns, &[0], 0, Duration::from_secs(120)).await?;
        let mut samples = Vec::new();
        for _ in 0..pushes {
            version += 1;
            samples.push(push_to_applied(&ns, &repo, version, Some(&run)).await?);
        }
        webhook = percentiles(samples);
        println!("push to applied, webhook ({pushes} pushes, --app-resync 3600): p50 {:.0} ms, p95 {:.0} ms", webhook.0, webhook.1);
    }
    let run = Run::start(&ns, cache.path(), 10).await?;
    let mut samples = Vec::new();
    for _ in 0..resync_pushes {
        version += 1;
        samples.push(push_to_applied(&ns, &repo, version, None).await?);
    }
    drop(run);
    let (p50, p95) = percentiles(samples);
    println!("push to applied, no webhook ({resync_pushes} pushes, resync only, --app-resync 10): p50 {p50:.0} ms, p95 {p95:.0} ms");
    let (r50, r95) = (p50 / webhook.0, p95 / webhook.1);
    println!("push to applied, resync only / webhook: p50 {r50:.1}x, p95 {r95:.1}x (--app-resync 10)");
    // The resync wait is spread over the period: it grows with it.
    println!("  at Argo CD's 180 s resync, about p50 {:.0}x, p95 {:.0}x", r50 * 18.0, r95 * 18.0);
    Ok(())
}

async fn many_apps(n: usize) -> BenchResult<()> {
    let ns = TestNamespace::new("bench-webhook-many").await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    for i in 0..n {
        repo.write(&format!("apps/a{i}/cm.yaml"), &config_map(i, 0));
    }
    repo.commit("first");
    let cache = tempfile::tempdir()?;
    let run = Run::start(&ns, cache.path(), 3600).await?;
    create_apps(&ns, &repo, n, true).await?;
    let all: Vec<usize> = (0..n).collect();
    wait_versions(&ns, &all, 0, Duration::from_secs(300)).await?;
    // Let the first reconciles finish (syncs compare once more).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let fetches = || run.metric("driftless_git_requests_total", "request=\"fetch\"");
    let renders = || run.metric("driftless_renders_total", "");
    let misses = || run.metric("driftless_renders_total", "cache=\"miss\"");
    let (f0, r0, m0) = (fetches().await?, renders().await?, misses().await?);

    let one = n / 2;
    repo.write(&format!("apps/a{one}/cm.yaml"), &config_map(one, 1));
    repo.commit("one app");
    let started = Instant::now();
    run.webhook(&push(&repo, &[format!("apps/a{one}/cm.yaml")])).await?;
    wait_versions(&ns, &[one], 1, Duration::from_secs(120)).await?;
    let applied = started.elapsed();
    // Anything else the push set off has happened by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (f1, r1, m1) = (fetches().await?, renders().await?, misses().await?);
    println!(
        "{n} apps with manifest-generate-paths, push touching one app's path: applied in {:.0} ms; sources rendered {} ({} not from the render cache), Git fetches {}",
        applied.as_secs_f64() * 1000.0,
        r1 - r0,
        m1 - m0,
        f1 - f0
    );

    // Without generate-paths, a push concerns every app: all refreshed at
    // once, sharing the fetch.
    let apps: Api<Application> = ns.api();
    for i in 0..n {
        let patch = json!({ "metadata": { "annotations": { "argocd.argoproj.io/manifest-generate-paths": null } } });
        apps.patch(&format!("a{i}"), &PatchParams::default(), &Patch::Merge(patch)).await?;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (f1, r1) = (fetches().await?, renders().await?);
    let files: Vec<String> = (0..n).map(|i| format!("apps/a{i}/cm.yaml")).collect();
    for (i, file) in files.iter().enumerate() {
        repo.write(file, &config_map(i, 2));
    }
    repo.commit("every app");
    let started = Instant::now();
    run.webhook(&push(&repo, &files)).await?;
    wait_versions(&ns, &all, 2, Duration::from_secs(300)).await?;
    let applied = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (f2, r2) = (fetches().await?, renders().await?);
    println!(
        "{n} apps, push touching every app: all applied in {:.0} ms; sources rendered {}, Git fetches {}",
        applied.as_secs_f64() * 1000.0,
        r2 - r1,
        f2 - f1
    );
    Ok(())
}

/// Polls the apps (every 100 ms) until `done` holds of them; the time it took.
async fn until_apps(ns: &TestNamespace, started: Instant, done: impl Fn(&[Application]) -> bool) -> BenchResult<Duration> {
    let apps: Api<Application> = ns.api();
    loop {
        let list = apps.list(&ListParams::default()).await?;
        if done(&list.items) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err(format!("not done after 900 s ({} apps)", list.items.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn application_set(n: usize) -> BenchResult<()> {
    let ns = TestNamespace::new("bench-appset").await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    for i in 0..n {
        repo.write(&format!("apps/a{i}/cm.yaml"), &config_map(i, 0));
    }
    repo.commit("first");
    let cache = tempfile::tempdir()?;
    let mut run = Run::start(&ns, cache.path(), 3600).await?;
    let set: driftless_api::ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "dirs", "namespace": ns.name()},
        "spec": {
            "generators": [{"git": {"repoURL": repo.url(), "revision": "main", "directories": [{"path": "apps/*"}], "requeueAfterSeconds": 30}}],
            "template": {
                "metadata": {"name": "{{path.basename}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "{{path}}"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": ns.name()},
                    "syncPolicy": {"automated": {}}
                }
            }
        }
    }))?;
    let started = Instant::now();
    Api::<driftless_api::ApplicationSet>::namespaced(ns.client(), ns.name()).create(&PostParams::default(), &set).await?;
    let created = until_apps(&ns, started, |apps| apps.len() >= n).await?;
    let healthy = until_apps(&ns, started, |apps| {
        apps.len() >= n
            && apps.iter().all(|a| {
                a.status.as_ref().is_some_and(|s| {
                    s.sync.status == driftless_api::SyncStatusCode::Synced && s.health.status == driftless_api::HealthStatusCode::Healthy
                })
            })
    })
    .await?;
    println!(
        "ApplicationSet, git directories over {n} directories: {n} Applications in {:.1} s, all Synced+Healthy in {:.1} s; peak RSS {:.0} MiB",
        created.as_secs_f64(),
        healthy.as_secs_f64(),
        procstat::peak_rss_mib(run.child.id()).unwrap_or(f64::NAN)
    );
    let added = |name: &str| {
        let name = name.to_string();
        move |apps: &[Application]| apps.iter().any(|a| a.metadata.name.as_deref() == Some(name.as_str()))
    };
    repo.write("apps/new-one/cm.yaml", &config_map(n, 0));
    repo.commit("one more directory");
    let started = Instant::now();
    run.webhook(&push(&repo, &["apps/new-one/cm.yaml".to_string()])).await?;
    let with_webhook = until_apps(&ns, started, added("new-one")).await?;
    repo.write("apps/new-two/cm.yaml", &config_map(n + 1, 0));
    repo.commit("another directory");
    let without = until_apps(&ns, Instant::now(), added("new-two")).await?;
    println!(
        "a commit adding one directory: its app exists {:.0} ms after the webhook; without it, after {:.1} s (requeueAfterSeconds 30; Argo CD's default is 180 s)",
        with_webhook.as_secs_f64() * 1000.0,
        without.as_secs_f64()
    );
    let _ = run.child.kill();
    Ok(())
}

/// `n` apps subscribed (one `subscriptions` entry of argocd-notifications-cm)
/// to the catalog's on-sync-succeeded through a webhook on 127.0.0.1: time
/// until every first sync is notified, and from a push touching every app
/// until every second one is, with the process' peak memory.
async fn notifications(n: usize) -> BenchResult<()> {
    let ns = TestNamespace::new("bench-notify").await?;
    install_crds(&ns.client()).await?;
    let repo = GitRepo::new();
    for i in 0..n {
        repo.write(&format!("apps/a{i}/cm.yaml"), &config_map(i, 0));
    }
    repo.commit("first");
    let sink = HttpSink::start().await;
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-notifications-cm"},
        "data": {
            "service.webhook.hook": format!("url: {}\n", sink.url()),
            "template.app-sync-succeeded": "webhook:\n  hook:\n    method: POST\n    body: '{\"app\": \"{{.app.metadata.name}}\", \"revision\": \"{{.app.status.operationState.syncResult.revision}}\"}'\n",
            "trigger.on-sync-succeeded": "- oncePer: app.status.operationState?.syncResult?.revision\n  send: [app-sync-succeeded]\n  when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']\n",
            "subscriptions": "- recipients: ['hook:']\n  triggers: [on-sync-succeeded]\n",
        },
    });
    Api::<ConfigMap>::namespaced(ns.client(), ns.name())
        .patch("argocd-notifications-cm", &PatchParams::apply("bench"), &Patch::Apply(cm))
        .await?;
    let cache = tempfile::tempdir()?;
    let run = Run::start(&ns, cache.path(), 3600).await?;
    let started = Instant::now();
    create_apps(&ns, &repo, n, false).await?;
    let delivered = |k: usize| {
        let sink = &sink;
        async move {
            loop {
                if sink.received().len() >= k {
                    return Ok::<Duration, Box<dyn std::error::Error>>(started.elapsed());
                }
                if started.elapsed() > Duration::from_secs(900) {
                    return Err(format!("{} of {k} notifications after 900 s", sink.received().len()).into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let synced = until_apps(&ns, started, |apps| {
        apps.len() == n && apps.iter().all(|a| a.status.as_ref().is_some_and(|s| s.sync.status == driftless_api::SyncStatusCode::Synced))
    })
    .await?;
    let notified = delivered(n).await?;
    println!(
        "{n} apps subscribed to on-sync-succeeded (webhook): all Synced in {:.1} s, all notified in {:.1} s",
        synced.as_secs_f64(),
        notified.as_secs_f64()
    );
    let files: Vec<String> = (0..n).map(|i| format!("apps/a{i}/cm.yaml")).collect();
    for (i, file) in files.iter().enumerate() {
        repo.write(file, &config_map(i, 1));
    }
    repo.commit("every app");
    let pushed = Instant::now();
    run.webhook(&push(&repo, &files)).await?;
    delivered(2 * n).await?;
    let again = pushed.elapsed();
    // Any duplicate would have arrived by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!(
        "{n} apps, push touching every app: all notified again in {:.1} s ({} messages in all, {} expected); peak RSS {:.0} MiB",
        again.as_secs_f64(),
        sink.received().len(),
        2 * n,
        procstat::peak_rss_mib(run.child.id()).unwrap_or(f64::NAN)
    );
    Ok(())
}

/// The phases, as `WEBHOOK_BENCH` names them.
const PHASES: [&str; 4] = ["notifications", "appset", "latency", "monorepo"];

/// The phases `WEBHOOK_BENCH` selects (comma-separated); all when unset.
fn selected() -> Result<Vec<String>, String> {
    let Ok(wanted) = std::env::var("WEBHOOK_BENCH") else { return Ok(PHASES.map(String::from).to_vec()) };
    let wanted: Vec<String> = wanted.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
    match wanted.iter().find(|p| !PHASES.contains(&p.as_str())) {
        Some(unknown) => Err(format!("WEBHOOK_BENCH: no phase {unknown:?} (phases: {})", PHASES.join(", "))),
        None => Ok(wanted),
    }
}

#[tokio::main]
async fn main() {
    let phases = match selected() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let on = |phase: &str| phases.iter().any(|p| p == phase);
    if on("notifications")
        && let Err(e) = notifications(1000).await
    {
        println!("notifications: failed: {e}");
    }
    if on("appset")
        && let Err(e) = application_set(1000).await
    {
        println!("ApplicationSet: failed: {e}");
    }
    if on("latency")
        && let Err(e) = latency(20, 10).await
    {
        println!("push to applied: failed: {e}");
    }
    if on("monorepo")
        && let Err(e) = many_apps(100).await
    {
        println!("100 apps: failed: {e}");
    }
}
