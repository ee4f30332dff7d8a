//! `app wait`: block until an Application is synced, healthy and has no
//! operation running, as `argocd app wait` does.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use driftless_api::{Application, HealthStatusCode, SyncStatusCode};

use super::common::{Ctx, one_line};
use crate::output::{OutputArgs, print};

/// How often the app is read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// Flags of `app wait`; with none of --sync, --health, --operation, all three.
#[derive(clap::Args)]
pub struct WaitArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// Wait until the app is Synced.
    #[arg(long)]
    sync: bool,
    /// Wait until the app is Healthy.
    #[arg(long)]
    health: bool,
    /// Wait until no operation is requested or running.
    #[arg(long)]
    operation: bool,
    /// Give up after this many seconds (0: no limit) and exit 1.
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// With -o json|yaml: the Application as it was when the wait ended.
    #[command(flatten)]
    out: OutputArgs,
}

/// Waits, then prints the state reached.
pub async fn run(ctx: &Ctx, args: WaitArgs) -> anyhow::Result<ExitCode> {
    let all = !(args.sync || args.health || args.operation);
    let (sync, health, operation) = (all || args.sync, all || args.health, all || args.operation);
    let what: Vec<&str> = [(sync, "Synced"), (health, "Healthy"), (operation, "without a running operation")]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
        .collect();
    let what = what.join(", ");
    let r = ctx.resolve(&args.name)?;
    let deadline = (args.timeout > 0).then(|| Instant::now() + Duration::from_secs(args.timeout));
    loop {
        let (_, app) = ctx.get(&args.name).await?;
        let pending = pending(&app, sync, health, operation);
        if pending.is_empty() {
            let s = app.status.clone().unwrap_or_default();
            print(args.out.output, &app, || format!("app {r} is {what} (sync: {:?}, health: {})\n", s.sync.status, s.health.status))?;
            return Ok(ExitCode::SUCCESS);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            bail!("timed out after {}s waiting for app {r} to be {what}; last state: {}", args.timeout, pending.join("; "));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What is not there yet, described with the state seen.
fn pending(app: &Application, sync: bool, health: bool, operation: bool) -> Vec<String> {
    let s = app.status.clone().unwrap_or_default();
    let mut out = Vec::new();
    if sync && s.sync.status != SyncStatusCode::Synced {
        out.push(format!("sync status is {:?}", s.sync.status));
    }
    if health && s.health.status != HealthStatusCode::Healthy {
        // Name the resources holding the app back: that is what to look at.
        let unhealthy: Vec<String> = s
            .resources
            .iter()
            .filter_map(|r| {
                let h = r.health.as_ref().filter(|h| h.status != HealthStatusCode::Healthy)?;
                let msg = h.message.as_deref().map(|m| format!(": {}", one_line(m))).unwrap_or_default();
                Some(format!("{} {} is {}{msg}", r.kind, r.name, h.status))
            })
            .collect();
        let detail = if unhealthy.is_empty() { String::new() } else { format!(" ({})", unhealthy.join(", ")) };
        out.push(format!("health is {}{detail}", s.health.status));
    }
    if operation {
        if app.operation.is_some() {
            out.push("a requested operation has not started".into());
        } else if let Some(o) = s.operation_state.as_ref().filter(|o| !o.phase.is_completed()) {
            out.push(format!("operation is {:?}: {}", o.phase, one_line(o.message.as_deref().unwrap_or(""))));
        }
    }
    for c in &s.conditions {
        if !out.is_empty() && (c.type_.ends_with("Error") || c.type_ == driftless_api::condition::POLICY_VIOLATION) {
            out.push(format!("condition {}: {}", c.type_, one_line(&c.message)));
        }
    }
    out
}
