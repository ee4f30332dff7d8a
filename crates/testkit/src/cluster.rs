//! Starting, finding and stopping a devcluster process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

/// Reuse this cluster instead of starting one: a path to its kubeconfig.
pub const KUBECONFIG_ENV: &str = "DRIFTLESS_TEST_KUBECONFIG";
/// The devcluster binary to run; defaults to `target/devcluster/devcluster`.
pub const BINARY_ENV: &str = "DEVCLUSTER_BIN";

/// How long a cold devcluster may take to become ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// Why the test kit could not provide a cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The devcluster binary is not where the kit looked.
    #[error("devcluster binary not found at {0}: run `make devcluster` or set {BINARY_ENV}")]
    BinaryMissing(PathBuf),
    /// The devcluster process could not be started or waited on.
    #[error("devcluster: {0}")]
    Process(#[from] std::io::Error),
    /// The devcluster exited or timed out before it was ready.
    #[error("devcluster did not become ready: {reason}\n{stderr}(log: {log})")]
    NotReady {
        /// What went wrong.
        reason: String,
        /// What devcluster printed on stderr.
        stderr: String,
        /// Where the control plane's own log is.
        log: String,
    },
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A Kubernetes API call made by the kit failed.
    #[error("{what}: {source}")]
    Kube {
        /// What the kit was doing.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A wait ran out of time.
    #[error("timed out after {timeout:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the wait lasted.
        timeout: Duration,
        /// The last state observed, to explain the failure.
        last: String,
    },
    /// A previous attempt to start the shared cluster failed.
    #[error("the shared devcluster failed to start earlier: {0}")]
    SharedFailed(String),
}

/// A running devcluster that tests talk to.
#[derive(Debug)]
pub struct DevCluster {
    kubeconfig: PathBuf,
    /// Held open for the life of the process: devcluster runs with
    /// `--stop-on-stdin-close`, so it stops when this test binary exits,
    /// however it exits.
    _lifeline: Option<Mutex<(Child, ChildStdin)>>,
}

impl DevCluster {
    /// The cluster shared by every test of this binary, started on first use.
    pub fn shared() -> Result<&'static DevCluster, Error> {
        static SHARED: OnceLock<Result<DevCluster, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| match std::env::var_os(KUBECONFIG_ENV) {
                Some(path) => Ok(DevCluster::existing(PathBuf::from(path))),
                None => DevCluster::start(&run_dir()).map_err(|e| e.to_string()),
            })
            .as_ref()
            .map_err(|e| Error::SharedFailed(e.clone()))
    }

    /// Uses a cluster someone else runs.
    pub fn existing(kubeconfig: PathBuf) -> DevCluster {
        DevCluster { kubeconfig, _lifeline: None }
    }

    /// Starts a devcluster writing into `dir` and waits until it is ready.
    /// It stops when this process exits.
    pub fn start(dir: &Path) -> Result<DevCluster, Error> {
        DevCluster::start_with(dir, &[])
    }

    /// Like [`DevCluster::start`], with more devcluster flags (e.g.
    /// `--keep-data` and a fixed `--port`, to stop and restart one cluster).
    pub fn start_with(dir: &Path, flags: &[&str]) -> Result<DevCluster, Error> {
        let binary = binary();
        if !binary.is_file() {
            return Err(Error::BinaryMissing(binary));
        }
        let log = dir.join("devcluster.log").display().to_string();
        let mut child = Command::new(&binary)
            .arg("--dir")
            .arg(dir)
            .arg("--stop-on-stdin-close")
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        // Drain stderr for the life of the process: if its pipe closed,
        // devcluster's next warning would kill it with SIGPIPE. Keep the tail
        // to explain a failed start.
        let tail = std::sync::Arc::new(Mutex::new(StderrTail::default()));
        let tail_writer = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tail_writer.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });

        // Read the ready line on a thread so that the wait can time out.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let ready = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("devcluster ready"));
            let _ = tx.send(ready);
            // Keep draining so that devcluster never blocks on a full pipe.
            lines.for_each(drop);
        });
        let not_ready = |child: &mut Child, reason: String| {
            let _ = child.kill();
            let _ = child.wait();
            // Give the drain thread a moment to read what the process left.
            std::thread::sleep(Duration::from_millis(100));
            let text = tail.lock().unwrap_or_else(|p| p.into_inner()).text();
            Error::NotReady { reason, stderr: text + "\n", log: log.clone() }
        };
        match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(not_ready(&mut child, "it exited".into())),
            Err(_) => return Err(not_ready(&mut child, format!("not ready after {STARTUP_TIMEOUT:?}"))),
        }
        Ok(DevCluster { kubeconfig: dir.join("kubeconfig"), _lifeline: Some(Mutex::new((child, stdin))) })
    }

    /// Stops a cluster this process started and waits until it has exited:
    /// its API server is gone.
    pub fn stop(self) {
        if let Some(lifeline) = self._lifeline {
            let (mut child, stdin) = lifeline.into_inner().unwrap_or_else(|p| p.into_inner());
            drop(stdin);
            let _ = child.wait();
        }
    }

    /// The process id of a cluster this process started (its API server,
    /// etcd and controllers run in that one process), for its CPU time.
    pub fn pid(&self) -> Option<u32> {
        let lifeline = self._lifeline.as_ref()?;
        Some(lifeline.lock().unwrap_or_else(|p| p.into_inner()).0.id())
    }

    /// The admin kubeconfig of this cluster.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client for this cluster. Make one per test: a client belongs to the
    /// Tokio runtime it was made on.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        let wrap = |e: Box<dyn std::error::Error + Send + Sync>| Error::Kubeconfig { path: self.kubeconfig.clone(), source: e };
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).map_err(|e| wrap(e.into()))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.map_err(|e| wrap(e.into()))?;
        kube::Client::try_from(config).map_err(|e| wrap(e.into()))
    }
}

/// The last lines a devcluster printed on stderr, and the first line of a Go
/// panic among them, which names the panic above a stack trace longer than
/// the tail.
#[derive(Default)]
struct StderrTail {
    panic: Option<String>,
    lines: std::collections::VecDeque<String>,
}

impl StderrTail {
    const LINES: usize = 20;

    fn push(&mut self, line: String) {
        if self.panic.is_none() && (line.starts_with("panic: ") || line.starts_with("fatal error: ")) {
            self.panic = Some(line.clone());
        }
        if self.lines.len() == Self::LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn text(&self) -> String {
        let tail = Vec::from(self.lines.clone()).join("\n");
        match &self.panic {
            Some(panic) if !self.lines.contains(panic) => format!("{panic}\n[...]\n{tail}"),
            _ => tail,
        }
    }
}

/// The devcluster binary: `$DEVCLUSTER_BIN`, else the one `make devcluster`
/// builds into the workspace's target directory.
fn binary() -> PathBuf {
    std::env::var_os(BINARY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/devcluster/devcluster"))
}

/// A directory for this process's cluster, under the system temp dir. Dirs
/// left by test processes that are gone are removed first.
fn run_dir() -> PathBuf {
    let base = std::env::temp_dir().join("driftless-testkit");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok();
            if pid.is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    base.join(std::process::id().to_string())
}

#[cfg(test)]
mod tests {
    use super::StderrTail;

    #[test]
    fn a_panic_above_a_long_stack_trace_stays_in_the_tail() {
        let mut tail = StderrTail::default();
        tail.push("starting".into());
        tail.push("panic: failed to create WAL".into());
        for i in 0..100 {
            tail.push(format!("frame {i}"));
        }
        let text = tail.text();
        assert!(text.starts_with("panic: failed to create WAL\n[...]\nframe 80\n"), "{text}");
        assert!(text.ends_with("frame 99") && !text.contains("starting"), "{text}");

        let mut short = StderrTail::default();
        short.push("panic: boom".into());
        short.push("frame 0".into());
        assert_eq!(short.text(), "panic: boom\nframe 0", "a panic still in the tail is not repeated");
    }
}
