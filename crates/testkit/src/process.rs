//! A process a test starts (the `driftless` binary, say): its output goes
//! to a log file, it is killed when the test is done, and when the test
//! fails the end of its log is printed to explain why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A running process, killed on drop.
#[derive(Debug)]
pub struct LoggedChild {
    child: Child,
    log: PathBuf,
    label: String,
}

impl LoggedChild {
    /// Starts `command` with its stdout and stderr in the file `log`;
    /// `label` names it in a failing test's output.
    pub fn spawn(mut command: Command, log: &Path, label: &str) -> LoggedChild {
        let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {label}: {e}"));
        LoggedChild { child, log: log.to_path_buf(), label: label.to_string() }
    }

    /// Its process id (for its figures in /proc).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `grace` for it to exit by itself (after a SIGTERM, say);
    /// whether it did.
    pub fn exited_within(&mut self, grace: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return true,
                Err(_) => return false,
                Ok(None) if std::time::Instant::now() >= deadline => return false,
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }

    /// Kills it the way a crash would (SIGKILL, no clean-up) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("--- {} log, last lines ({}) ---", self.label, self.log.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// Runs the CLI `binary` with `args` against `kubeconfig`, its cache in
/// `cache`, and prints the command with what it printed, so that a failing
/// test shows every command it ran.
pub async fn run_cli(binary: &str, kubeconfig: &Path, cache: &Path, args: &[&str]) -> Output {
    let out = tokio::process::Command::new(binary)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("DRIFTLESS_CLI_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {binary}: {e}"));
    eprintln!(
        "$ {} {}\n[exit {:?}]\n{}{}",
        Path::new(binary).file_name().unwrap_or_default().to_string_lossy(),
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What a command printed on stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a command printed on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails the test, with what the command printed, unless it succeeded.
pub fn assert_success(out: &Output) {
    assert!(out.status.success(), "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), stdout(out), stderr(out));
}
