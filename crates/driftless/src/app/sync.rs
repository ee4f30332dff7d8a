//! `app sync` and `app rollback`: request a sync through `.operation`, as
//! Argo CD's CLI does, then follow `status.operationState` and show each
//! resource's progress until the operation finishes.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use driftless_api::{Application, Operation, OperationInitiator, OperationPhase, OperationState, SyncOperation, SyncOperationResource};
use kube::api::{Patch, PatchParams};

use super::common::{AppRef, Ctx, RESOURCE_HEADERS, api_error, automated, operation_summary, result_rows, short};
use crate::output::{Format, OutputArgs, print, progress_as, table};

/// How often the operation's state is read while following it.
const POLL: Duration = Duration::from_millis(500);
/// How long an operation state identical to the one before the request is
/// given to be replaced, before it is taken as this request's result (a
/// repeat sync that finished within the same second looks exactly alike).
const SAME_STATE_GRACE: Duration = Duration::from_secs(3);

/// Flags of `app sync`, named as `argocd app sync`'s.
#[derive(clap::Args)]
pub struct SyncArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// Delete resources that are no longer in Git.
    #[arg(long)]
    prune: bool,
    /// Show what would be done without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Sync to this branch, tag or commit instead of the app's target.
    #[arg(long)]
    revision: Option<String>,
    /// Only this resource, GROUP:KIND:[NAMESPACE/]NAME (repeatable; the group is empty for core kinds).
    #[arg(long = "resource", value_name = "GROUP:KIND:[NAMESPACE/]NAME")]
    resources: Vec<String>,
    /// A sync option for this sync, e.g. Replace=true (repeatable).
    #[arg(long = "sync-option", value_name = "KEY=VALUE")]
    sync_options: Vec<String>,
    /// Re-create what an apply cannot change (Argo CD's --force: the sync
    /// strategy's force); the sync also runs without waiting for the app's
    /// dependencies (driftless.dev/depends-on).
    #[arg(long)]
    force: bool,
    /// Give up following after this many seconds (0: no limit); the sync goes on.
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// Only request the sync; do not follow it.
    #[arg(long = "async")]
    async_: bool,
    /// With -o json|yaml: the finished operation's state (progress goes to stderr).
    #[command(flatten)]
    out: OutputArgs,
}

/// Flags of `app rollback`.
#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// The history id to roll back to (see `driftless app history`); default: the one before the last.
    id: Option<i64>,
    /// Delete resources that the old revision does not have.
    #[arg(long)]
    prune: bool,
    /// Give up following after this many seconds (0: no limit); the sync goes on.
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// Only request the rollback; do not follow it.
    #[arg(long = "async")]
    async_: bool,
    /// With -o json|yaml: the finished operation's state (progress goes to stderr).
    #[command(flatten)]
    out: OutputArgs,
}

/// Requests a sync and follows it.
pub async fn run_sync(ctx: &Ctx, args: SyncArgs) -> anyhow::Result<ExitCode> {
    for o in &args.sync_options {
        if !o.contains('=') {
            bail!("--sync-option {o:?}: expected KEY=VALUE, e.g. Replace=true");
        }
    }
    let resources = args.resources.iter().map(|s| parse_resource(s)).collect::<anyhow::Result<Vec<_>>>()?;
    let (r, app) = ctx.get(&args.name).await?;
    let resources = with_namespaces(&r, &app, resources);
    let op = Operation {
        sync: Some(SyncOperation {
            revision: args.revision.clone(),
            prune: args.prune,
            dry_run: args.dry_run,
            resources,
            sync_options: args.sync_options.clone(),
            // As Argo CD's CLI writes it.
            sync_strategy: args.force.then(|| serde_json::json!({ "apply": { "force": true } })),
            ..Default::default()
        }),
        initiated_by: Some(initiator()),
        ..Default::default()
    };
    request_and_follow(&r, &app, op, Follow { timeout: args.timeout, async_: args.async_, format: args.out.output }).await
}

/// Syncs back to a history entry's revision and source.
pub async fn run_rollback(ctx: &Ctx, args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let (r, app) = ctx.get(&args.name).await?;
    if automated(&app).is_some() {
        bail!(
            "rollback cannot be initiated when automated sync is enabled on app {r}: the controller would sync it straight back to Git; \
             turn automation off first (e.g. `kubectl patch applications.argoproj.io {} -n {} --type merge -p '{{\"spec\":{{\"syncPolicy\":{{\"automated\":null}}}}}}'`)",
            r.name,
            r.namespace
        );
    }
    let history = app.status.as_ref().map(|s| s.history.clone()).unwrap_or_default();
    let ids = || history.iter().map(|h| h.id.to_string()).collect::<Vec<_>>().join(", ");
    let entry = match args.id {
        Some(id) => history
            .iter()
            .find(|h| h.id == id)
            .with_context(|| format!("app {r} has no history entry {id}; its ids are: [{}] (see `driftless app history {r}`)", ids()))?,
        None => match history.len() {
            0 | 1 => bail!("app {r} has no earlier sync to roll back to; give an id from `driftless app history {r}`"),
            n => &history[n - 2],
        },
    };
    let op = Operation {
        sync: Some(SyncOperation {
            revision: Some(entry.revision.clone()),
            prune: args.prune,
            source: entry.source.clone(),
            ..Default::default()
        }),
        initiated_by: Some(initiator()),
        ..Default::default()
    };
    let format = args.out.output;
    progress_as(format, &format!("rolling back app {r} to history id {} (revision {})", entry.id, short(&entry.revision)))?;
    request_and_follow(&r, &app, op, Follow { timeout: args.timeout, async_: args.async_, format }).await
}

/// Who asks: the local user, as Argo CD records its CLI's user.
fn initiator() -> OperationInitiator {
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "driftless-cli".into());
    OperationInitiator { username: Some(user), automated: false }
}

/// Parses `GROUP:KIND:[NAMESPACE/]NAME`, Argo CD's `--resource` syntax.
fn parse_resource(s: &str) -> anyhow::Result<SyncOperationResource> {
    let parts: Vec<&str> = s.splitn(3, ':').collect();
    let [group, kind, rest] = parts[..] else {
        bail!("--resource {s:?}: expected GROUP:KIND:[NAMESPACE/]NAME, e.g. apps:Deployment:web or :ConfigMap:prod/settings");
    };
    let (namespace, name) = match rest.split_once('/') {
        Some((ns, name)) => (Some(ns.to_string()).filter(|n| !n.is_empty()), name),
        None => (None, rest),
    };
    if kind.is_empty() || name.is_empty() {
        bail!("--resource {s:?}: KIND and NAME are required (GROUP:KIND:[NAMESPACE/]NAME)");
    }
    Ok(SyncOperationResource { group: group.to_string(), kind: kind.to_string(), name: name.to_string(), namespace })
}

/// Gives `--resource`s named without a namespace the namespace the app's
/// resource of that group, kind and name has (from its last comparison).
/// Argo CD matches a missing namespace as "any"; the controller compares
/// keys exactly, so without this a namespaced resource named without its
/// namespace would silently not be synced.
fn with_namespaces(r: &AppRef, app: &Application, wanted: Vec<SyncOperationResource>) -> Vec<SyncOperationResource> {
    let known = app.status.as_ref().map(|s| s.resources.as_slice()).unwrap_or_default();
    let mut out = Vec::new();
    for w in wanted {
        if w.namespace.is_some() {
            out.push(w);
            continue;
        }
        let matches: Vec<&driftless_api::ResourceStatus> =
            known.iter().filter(|k| k.group == w.group && k.kind == w.kind && k.name == w.name).collect();
        if matches.is_empty() {
            eprintln!("driftless: warning: app {r} has no resource {}:{}:{} (as of its last comparison)", w.group, w.kind, w.name);
            out.push(w);
            continue;
        }
        for m in matches {
            out.push(SyncOperationResource { namespace: m.namespace.clone(), ..w.clone() });
        }
    }
    out
}

/// How a requested operation is followed.
pub struct Follow {
    /// Give up following after this many seconds (0: no limit).
    pub timeout: u64,
    /// Only request it.
    pub async_: bool,
    /// How the result is printed.
    pub format: Format,
}

/// Sets `.operation`, then follows the operation until it completes.
/// Exit 0 when it succeeded, 1 when it failed (message on stderr).
pub async fn request_and_follow(r: &AppRef, app: &Application, op: Operation, follow: Follow) -> anyhow::Result<ExitCode> {
    let Follow { timeout, async_, format } = follow;
    let before = app.status.as_ref().and_then(|s| s.operation_state.clone());
    if app.operation.is_some() {
        bail!("app {r} already has an operation requested that has not started: wait for it with `driftless app wait {r} --operation`");
    }
    if let Some(s) = before.as_ref().filter(|s| !s.phase.is_completed()) {
        bail!(
            "another operation is already in progress on app {r} ({:?}: {}): wait for it with `driftless app wait {r} --operation`",
            s.phase,
            s.message.as_deref().unwrap_or("")
        );
    }
    let patch = serde_json::json!({ "operation": op });
    let patched = r.api.patch(&r.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| api_error(e, r))?;
    // The operation as the server stored it (defaults applied): what the
    // controller will copy into operationState.
    let requested = patched.operation.map_or(op, |o| *o);
    if async_ {
        print(format, &requested, || format!("sync of app {r} requested\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_secs(timeout));
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut last_phase = String::new();
    let mut same_since: Option<Instant> = None;
    loop {
        let app = r
            .api
            .get_opt(&r.name)
            .await
            .map_err(|e| api_error(e, r))?
            .with_context(|| format!("app {r} was deleted while its sync ran"))?;
        let state = app.status.as_ref().and_then(|s| s.operation_state.clone());
        let ours = match state {
            Some(s) if s.operation == requested && before.as_ref() != Some(&s) => Some(s),
            // Identical to the state before the request, request consumed:
            // give the controller a moment to write the new one, then
            // accept it (it reads exactly as the new one would).
            Some(s) if s.operation == requested && app.operation.is_none() && s.phase.is_completed() => {
                let since = *same_since.get_or_insert_with(Instant::now);
                (since.elapsed() >= SAME_STATE_GRACE).then_some(s)
            }
            _ => None,
        };
        if let Some(s) = ours {
            show_progress(format, &s, &mut shown, &mut last_phase)?;
            if s.phase.is_completed() {
                return finish(r, &s, format);
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let state = if last_phase.is_empty() {
                "the controller has not started it yet (is `driftless controller` running for this namespace?)".to_string()
            } else {
                last_phase
            };
            bail!(
                "timed out after {timeout}s following the sync of app {r}; last seen: {state}. The sync goes on in the cluster: \
                 follow it with `driftless app wait {r} --operation` or `driftless app get {r}`"
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Prints a line for every resource whose result appeared or changed, and
/// for the operation's phase and message.
fn show_progress(format: Format, s: &OperationState, shown: &mut BTreeMap<String, String>, last_phase: &mut String) -> anyhow::Result<()> {
    for res in s.sync_result.iter().flat_map(|r| r.resources.iter()) {
        let key = format!("{}/{}/{}/{}/{:?}", res.group, res.kind, res.namespace, res.name, res.hook_type);
        let status =
            res.status.map(|c| format!("{c:?}")).or_else(|| res.hook_phase.map(|p| format!("{p:?}"))).unwrap_or_else(|| "Pending".into());
        let line = format!("{status}  {}", super::common::one_line(&res.message));
        if shown.get(&key) != Some(&line) {
            let name = if res.namespace.is_empty() { res.name.clone() } else { format!("{}/{}", res.namespace, res.name) };
            let hook = res.hook_type.map(|h| format!(" ({h:?} hook)")).unwrap_or_default();
            progress_as(format, &format!("{}  {}{hook}  {name}  {}", super::common::clock(), res.kind, line.trim_end()))?;
            shown.insert(key, line);
        }
    }
    // After the resources: the final phase reads as the conclusion.
    let phase = format!("{:?}: {}", s.phase, s.message.as_deref().unwrap_or(""));
    if *last_phase != phase {
        progress_as(format, &format!("{}  operation  {}", super::common::clock(), super::common::one_line(&phase)))?;
        *last_phase = phase;
    }
    Ok(())
}

fn finish(r: &AppRef, s: &OperationState, format: Format) -> anyhow::Result<ExitCode> {
    print(format, s, || {
        let mut out = format!("\n{}", operation_summary(s));
        let rows = result_rows(s);
        if !rows.is_empty() {
            out.push('\n');
            out.push_str(&table(&RESOURCE_HEADERS, &rows));
        }
        out
    })?;
    if s.phase == OperationPhase::Succeeded {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("driftless: sync of app {r} {:?}: {}", s.phase, s.message.as_deref().unwrap_or("no message"));
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_in_argo_cd_syntax() {
        let r = parse_resource("apps:Deployment:prod/web").expect("valid");
        assert_eq!(
            (r.group.as_str(), r.kind.as_str(), r.namespace.as_deref(), r.name.as_str()),
            ("apps", "Deployment", Some("prod"), "web")
        );
        let r = parse_resource(":ConfigMap:settings").expect("valid");
        assert_eq!((r.group.as_str(), r.namespace, r.name.as_str()), ("", None, "settings"));
        assert!(parse_resource("Deployment/web").is_err());
        assert!(parse_resource("apps::web").is_err());
    }
}
