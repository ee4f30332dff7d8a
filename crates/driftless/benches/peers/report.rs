//! The side-by-side table (peers as columns, with each peer's ratio to
//! driftless) and its JSON form.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Serialize)]
pub struct FloorFigures {
    pub applied_s: f64,
    pub available_s: f64,
    pub control_plane_cpu_s: f64,
    /// Per app, by verb and resource.
    pub api_requests: BTreeMap<String, f64>,
}

#[derive(Serialize)]
pub struct PeerFigures {
    pub settings: String,
    pub all_applied_s: Option<f64>,
    pub all_ready_s: f64,
    /// When every Deployment of the cold start was available, as the
    /// cluster shows it (not the peer): what is left between this and
    /// `all_ready_s` is the peer's own lag in telling.
    pub cluster_available_s: Option<f64>,
    /// The peer's own processes (RSS).
    pub peak_rss_mib: f64,
    /// With every process they started (PSS).
    pub peak_all_mib: f64,
    /// Peak RSS of the peer's own processes over the cold start's managed
    /// objects (10 per app).
    pub peak_rss_per_object_kib: f64,
    pub steady_rss_mib: f64,
    pub cpu_s: f64,
    pub idle_cpu_percent: f64,
    pub control_plane_cpu_s: f64,
    /// Per app, by verb and resource.
    pub api_requests: BTreeMap<String, f64>,
    pub drift_p50_ms: Option<f64>,
    pub drift_p95_ms: Option<f64>,
    /// Trials reverted in time.
    pub drift_trials: usize,
    /// A trial was not reverted in 120 s (and the trials stopped there).
    pub drift_missed: bool,
    pub monorepo_applied_ms: f64,
    pub monorepo_rendered: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "figures")]
pub enum Outcome {
    Measured(PeerFigures),
    Skipped(String),
    Failed(String),
}

#[derive(Serialize)]
pub struct Machine {
    cpu: String,
    cores: usize,
    memory_gib: f64,
    kernel: String,
}

impl Machine {
    fn read() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let field = |text: &str, key: &str| {
            text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
        };
        Machine {
            cpu: field(&cpuinfo, "model name"),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: field(&read("/proc/meminfo"), "MemTotal").trim_end_matches(" kB").parse::<f64>().unwrap_or(0.0) / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }
}

#[derive(Serialize)]
pub struct Report {
    machine: Machine,
    apps: usize,
    objects_per_app: usize,
    monorepo_apps: usize,
    floor: Option<Result<FloorFigures, String>>,
    /// The floor with each app's Application created and its status
    /// written twice.
    floor_with_apps: Option<Result<FloorFigures, String>>,
    peers: Vec<(&'static str, Outcome)>,
}

impl Report {
    pub fn new(
        apps: usize,
        monorepo_apps: usize,
        floor: Option<Result<FloorFigures, String>>,
        floor_with_apps: Option<Result<FloorFigures, String>>,
        peers: Vec<(&'static str, Outcome)>,
    ) -> Report {
        Report { machine: Machine::read(), apps, objects_per_app: 10, monorepo_apps, floor, floor_with_apps, peers }
    }

    /// Rows of measures; a column per peer, then its ratio to driftless.
    pub fn table(&self) -> String {
        let measured: Vec<(&str, &PeerFigures)> = self
            .peers
            .iter()
            .filter_map(|(name, o)| match o {
                Outcome::Measured(f) => Some((*name, f)),
                _ => None,
            })
            .collect();
        let ours = measured.iter().find(|(n, _)| *n == "driftless").map(|(_, f)| *f);
        let floors: Vec<(&str, &FloorFigures)> = [("floor", &self.floor), ("floor+apps", &self.floor_with_apps)]
            .into_iter()
            .filter_map(|(name, f)| Some((name, f.as_ref()?.as_ref().ok()?)))
            .collect();
        type Get = fn(&PeerFigures) -> Option<f64>;
        type FloorGet = fn(&FloorFigures) -> f64;
        let rows: [(&str, Get, Option<FloorGet>); 15] = [
            ("all applied / Synced (s)", |f| f.all_applied_s, Some(|f| f.applied_s)),
            ("all ready / Synced+Healthy (s)", |f| Some(f.all_ready_s), Some(|f| f.available_s)),
            ("every Deployment available, in the cluster (s)", |f| f.cluster_available_s, Some(|f| f.available_s)),
            ("peak RSS, the peer's processes (MiB)", |f| Some(f.peak_rss_mib), None),
            ("peak PSS, with their children (MiB)", |f| Some(f.peak_all_mib), None),
            ("peak RSS per managed object (KiB)", |f| Some(f.peak_rss_per_object_kib), None),
            ("steady RSS (MiB)", |f| Some(f.steady_rss_mib), None),
            ("CPU, cold start (s)", |f| Some(f.cpu_s), None),
            ("CPU, idle (% of a core)", |f| Some(f.idle_cpu_percent), None),
            ("control plane CPU, cold start (s)", |f| Some(f.control_plane_cpu_s), Some(|f| f.control_plane_cpu_s)),
            ("API requests per app", |f| Some(total(&f.api_requests)), Some(|f| total(&f.api_requests))),
            ("drift revert p50 (ms)", |f| f.drift_p50_ms, None),
            ("drift revert p95 (ms)", |f| f.drift_p95_ms, None),
            ("monorepo commit to applied (ms)", |f| Some(f.monorepo_applied_ms), None),
            ("monorepo apps rendered again", |f| f.monorepo_rendered.map(|r| r as f64), None),
        ];
        let mut header = vec!["measure".to_string()];
        header.extend(floors.iter().map(|(name, _)| name.to_string()));
        for (name, _) in &measured {
            header.push(name.to_string());
            if *name != "driftless" && ours.is_some() {
                header.push(format!("{name}/driftless"));
            }
        }
        let mut lines = vec![header];
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") });
        for (label, get, floor_get) in rows {
            let mut line = vec![label.to_string()];
            line.extend(floors.iter().map(|(_, f)| cell(floor_get.map(|g| g(f)))));
            for (name, f) in &measured {
                line.push(cell(get(f)));
                if *name != "driftless"
                    && let Some(ours) = ours
                {
                    line.push(get(f).zip(get(ours)).filter(|(_, o)| *o > 0.0).map_or("-".into(), |(t, o)| format!("{:.2}x", t / o)));
                }
            }
            lines.push(line);
        }
        let widths: Vec<usize> = (0..lines[0].len()).map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0)).collect();
        let mut out = format!(
            "{} apps x 10 objects; machine: {} x {} cores, {:.0} GiB\n",
            self.apps, self.machine.cpu, self.machine.cores, self.machine.memory_gib
        );
        for line in &lines {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (v, w))| if c == 0 { format!("{v:<w$}") } else { format!("{v:>w$}") })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        for (name, outcome) in &self.peers {
            match outcome {
                Outcome::Measured(f) => {
                    out.push_str(&format!("{name}: {}", f.settings));
                    if f.drift_missed {
                        out.push_str(&format!("; drift: a trial was not reverted in 120 s (after {} that were)", f.drift_trials));
                    }
                    out.push('\n');
                }
                Outcome::Skipped(why) => out.push_str(&format!("{name}: skipped: {why}\n")),
                Outcome::Failed(why) => out.push_str(&format!("{name}: failed: {why}\n")),
            }
        }
        for (name, floor) in [("floor", &self.floor), ("floor+apps", &self.floor_with_apps)] {
            if let Some(Err(e)) = floor {
                out.push_str(&format!("{name}: failed: {e}\n"));
            }
        }
        out.push_str(&self.requests_table(&floors, &measured));
        out
    }

    /// API requests per app by verb and resource: where each peer's
    /// requests beyond the floors' go.
    fn requests_table(&self, floors: &[(&str, &FloorFigures)], measured: &[(&str, &PeerFigures)]) -> String {
        let columns: Vec<(&str, &BTreeMap<String, f64>)> = floors
            .iter()
            .map(|(name, f)| (*name, &f.api_requests))
            .chain(measured.iter().map(|(name, f)| (*name, &f.api_requests)))
            .collect();
        let mut kinds: Vec<&String> = columns.iter().flat_map(|(_, m)| m.keys()).collect();
        kinds.sort();
        kinds.dedup();
        // Rare requests (watches, discovery) say little per app.
        let notable: Vec<&String> =
            kinds.into_iter().filter(|k| columns.iter().any(|(_, m)| m.get(*k).is_some_and(|v| *v >= 0.05))).collect();
        let mut out = format!("\nAPI requests per app, by verb and resource (0.05 or more)\n{:<44}", "request");
        for (name, _) in &columns {
            out.push_str(&format!("{name:>12}"));
        }
        out.push('\n');
        for k in notable {
            out.push_str(&format!("{k:<44}"));
            for (_, m) in &columns {
                out.push_str(&format!("{:>12}", m.get(k).map_or("-".to_string(), |v| format!("{v:.2}"))));
            }
            out.push('\n');
        }
        out
    }
}

fn total(requests: &BTreeMap<String, f64>) -> f64 {
    requests.values().sum()
}
