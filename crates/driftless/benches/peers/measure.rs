//! What is measured of a peer while it runs: the resident memory of all
//! its processes (sampled, so that the peak is the peak of their sum), the
//! CPU time of the peer and of the dev control plane, and the API server's
//! own count of the requests it served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_testkit::procstat;

/// Samples, every 250 ms until dropped, the memory of `roots` (the peer's
/// own processes: RSS) and of them with all their descendants (PSS, so
/// that libraries shared by many `git` children count once).
pub struct Sampler {
    figures: Arc<Mutex<Memory>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Copy, Default)]
pub struct Memory {
    /// Summed RSS of the peer's own processes, now and at its peak.
    pub own_now_mib: f64,
    pub own_peak_mib: f64,
    /// Summed PSS of those and every process they started, at its peak.
    pub all_peak_mib: f64,
}

impl Sampler {
    pub fn start(roots: Vec<u32>) -> Sampler {
        let figures = Arc::new(Mutex::new(Memory::default()));
        let writer = figures.clone();
        let task = tokio::spawn(async move {
            loop {
                let own: f64 = roots.iter().filter_map(|p| procstat::rss_mib(*p)).sum();
                let all: f64 = procstat::with_descendants(&roots).iter().filter_map(|p| procstat::pss_mib(*p)).sum();
                {
                    let mut m = writer.lock().unwrap_or_else(|p| p.into_inner());
                    m.own_now_mib = own;
                    m.own_peak_mib = m.own_peak_mib.max(own);
                    m.all_peak_mib = m.all_peak_mib.max(all);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Sampler { figures, task }
    }

    pub fn memory(&self) -> Memory {
        *self.figures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CPU time of `roots` and their living descendants (finished children
/// count through their parent once reaped).
pub fn cpu(roots: &[u32]) -> Duration {
    procstat::with_descendants(roots).iter().filter_map(|p| procstat::cpu_time(*p)).sum()
}

/// The API server's `apiserver_request_total`, by verb and resource
/// ("PATCH deployments", "PATCH applications/status", "dry-run PATCH ..."):
/// every request it has answered, whoever asked (the cluster's own
/// controllers included: the floor's count shows their share).
pub async fn api_requests(client: &kube::Client) -> Result<Requests, kube::Error> {
    let request = http::Request::get("/metrics").body(Vec::new()).expect("a valid request");
    let text = client.request_text(request).await?;
    let mut counts = BTreeMap::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("apiserver_request_total{")) {
        let Some((labels, value)) = line.rsplit_once("} ") else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let label = |key: &str| {
            labels.split("\",").find_map(|kv| kv.strip_prefix(&format!("{key}=\""))).map(|v| v.trim_end_matches('"')).unwrap_or("")
        };
        let subresource = label("subresource");
        let what = format!(
            "{}{} {}{}",
            if label("dry_run").is_empty() { "" } else { "dry-run " },
            label("verb"),
            label("resource"),
            if subresource.is_empty() { String::new() } else { format!("/{subresource}") }
        );
        *counts.entry(what).or_insert(0.0) += value;
    }
    Ok(Requests(counts))
}

/// Requests served, by verb and resource.
#[derive(Clone, Default)]
pub struct Requests(BTreeMap<String, f64>);

impl Requests {
    /// The requests served since `before`, per app, by verb and resource.
    pub fn per_app_since(&self, before: &Requests, apps: usize) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), (v - before.0.get(k).copied().unwrap_or(0.0)) / apps as f64))
            .filter(|(_, v)| *v > 0.0)
            .collect()
    }
}

/// The `p`-quantile (0..=1) of sorted `samples`, nearest rank.
pub fn quantile(samples: &[Duration], p: f64) -> Option<Duration> {
    let last = samples.len().checked_sub(1)?;
    Some(samples[(last as f64 * p).round() as usize])
}

/// `PEERS_CPU_PROFILES=DIR`: a CPU profile of the control plane over each
/// cold start, `DIR/<peer>.pprof` (`go tool pprof -top`), so that where
/// its CPU goes can be compared between the floor and the peers.
pub struct PlaneProfile {
    pid: Option<u32>,
}

impl PlaneProfile {
    /// devcluster's flags for a cluster profiled as `label`: none unless asked.
    pub fn flags(label: &str) -> Vec<String> {
        match std::env::var_os("PEERS_CPU_PROFILES") {
            Some(dir) => vec!["--cpu-profile".into(), std::path::Path::new(&dir).join(format!("{label}.pprof")).display().to_string()],
            None => Vec::new(),
        }
    }

    /// Starts the profile of the control plane `pid` (when it was asked for).
    pub fn start(pid: Option<u32>) -> PlaneProfile {
        let pid = pid.filter(|_| std::env::var_os("PEERS_CPU_PROFILES").is_some());
        signal(pid, "-USR1");
        PlaneProfile { pid }
    }

    /// Ends the window: devcluster writes the profile.
    pub fn stop(self) {
        signal(self.pid, "-USR2");
    }
}

fn signal(pid: Option<u32>, which: &str) {
    if let Some(pid) = pid {
        let sent = std::process::Command::new("kill").args([which, &pid.to_string()]).status();
        if !sent.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("PEERS_CPU_PROFILES: could not signal the control plane ({pid}): {sent:?}");
        }
    }
}
