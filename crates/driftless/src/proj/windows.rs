//! `driftless proj windows ...`: a project's sync windows, each known by
//! its index (ID), as `argocd proj windows` numbers them. `list` shows the
//! windows as written, with whether each is active now and when that
//! changes, as the controller judges it.

use anyhow::{Context as _, bail};
use driftless_api::{AppProjectSpec, SyncWindow, WindowKind};

use super::{NameOutput, Projects};
use crate::output::{OutputArgs, print, table};

#[derive(clap::Subcommand)]
pub enum WindowsCommand {
    /// Add a sync window.
    Add(AddArgs),
    /// List the sync windows of a project.
    List(NameOutput),
    /// Delete the sync window ID.
    Delete(IdArgs),
    /// Let manual syncs run while window ID is active.
    EnableManualSync(IdArgs),
    /// Stop manual syncs from running while window ID is active.
    DisableManualSync(IdArgs),
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The project.
    project: String,
    /// allow or deny.
    #[arg(short = 'k', long, value_parser = ["allow", "deny"])]
    kind: String,
    /// When it opens: a five-field cron expression ("0 22 * * *").
    #[arg(long)]
    schedule: String,
    /// How long it stays open (1h, 30m, 1h30m).
    #[arg(long)]
    duration: String,
    /// App names (globs) it applies to (comma-separated).
    #[arg(long, value_delimiter = ',')]
    applications: Vec<String>,
    /// Destination namespaces (globs) it applies to (comma-separated).
    #[arg(long, value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Destination clusters (globs) it applies to (comma-separated).
    #[arg(long, value_delimiter = ',')]
    clusters: Vec<String>,
    /// Manual syncs may run despite it.
    #[arg(long)]
    manual_sync: bool,
    /// The schedule's time zone (IANA name, e.g. Europe/Paris); default UTC.
    #[arg(long)]
    time_zone: Option<String>,
    /// An app must match every selector given, not any.
    #[arg(long)]
    use_and_operator: bool,
    /// What it is for.
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct IdArgs {
    /// The project.
    project: String,
    /// The window's ID, as `windows list` shows it.
    id: usize,
    #[command(flatten)]
    output: OutputArgs,
}

/// Checks what can be checked here: five cron fields of cron characters,
/// a positive duration, a plausible zone name. The controller judges the
/// rest when it evaluates the window.
fn check(a: &AddArgs) -> anyhow::Result<()> {
    let fields: Vec<&str> = a.schedule.split_whitespace().collect();
    if fields.len() != 5 || !fields.iter().all(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || "*/,-?".contains(c))) {
        bail!("--schedule {:?}: expected five cron fields (minute hour day-of-month month day-of-week), e.g. \"0 22 * * *\"", a.schedule);
    }
    if driftless_controller::parse_duration(&a.duration).is_none_or(|d| d.is_zero()) {
        bail!("--duration {:?}: expected a duration such as 1h, 30m or 1h30m", a.duration);
    }
    if let Some(tz) = &a.time_zone
        && (tz.is_empty() || tz.len() > 64 || !tz.chars().all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c)))
    {
        bail!("--time-zone {tz:?}: expected an IANA time zone name such as Europe/Paris");
    }
    Ok(())
}

fn window_mut<'a>(s: &'a mut AppProjectSpec, project: &str, id: usize) -> anyhow::Result<&'a mut SyncWindow> {
    let n = s.sync_windows.len();
    s.sync_windows
        .get_mut(id)
        .with_context(|| format!("project {project:?} has no sync window {id} (it has {n}; see `driftless proj windows list {project}`)"))
}

/// Runs a `proj windows` command.
pub async fn run(p: &Projects, command: WindowsCommand) -> anyhow::Result<()> {
    match command {
        WindowsCommand::Add(a) => {
            check(&a)?;
            let window = SyncWindow {
                kind: if a.kind == "deny" { WindowKind::Deny } else { WindowKind::Allow },
                schedule: a.schedule.clone(),
                duration: a.duration.clone(),
                applications: a.applications.clone(),
                namespaces: a.namespaces.clone(),
                clusters: a.clusters.clone(),
                manual_sync: a.manual_sync,
                time_zone: a.time_zone.clone(),
                and_operator: a.use_and_operator,
                description: a.description.clone(),
            };
            p.modify(&a.project, a.output.output, |s| {
                s.sync_windows.push(window.clone());
                Ok(format!("sync window {} added to project '{}'", s.sync_windows.len() - 1, a.project))
            })
            .await
        }
        WindowsCommand::List(a) => {
            let project = p.get(&a.name).await?;
            let windows = &project.spec.sync_windows;
            // Whether each is open now, as the controller judges it; a
            // broken window makes the whole project's state unknown.
            let states = driftless_engine::windows::states(&project, k8s_openapi::jiff::Timestamp::now());
            if let Err(e) = &states {
                eprintln!("driftless: {e}");
            }
            let state = |i: usize| match &states {
                Ok(s) => s.iter().find(|s| s.index == i).map(|s| {
                    let next = s.next_change.map(driftless_engine::windows::show_time).unwrap_or_else(|| "-".into());
                    (if s.active { "Active" } else { "Inactive" }.to_string(), next)
                }),
                Err(_) => None,
            };
            print(a.output.output, windows, || {
                let list = |v: &[String]| v.join(",");
                let rows: Vec<Vec<String>> = windows
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let (active, next) = state(i).unwrap_or_else(|| ("Unknown".into(), "-".into()));
                        vec![
                            i.to_string(),
                            active,
                            next,
                            format!("{:?}", w.kind).to_lowercase(),
                            w.schedule.clone(),
                            w.duration.clone(),
                            list(&w.applications),
                            list(&w.namespaces),
                            list(&w.clusters),
                            if w.manual_sync { "Enabled" } else { "Disabled" }.to_string(),
                            w.time_zone.clone().unwrap_or_else(|| "UTC".into()),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "STATUS",
                        "NEXT CHANGE",
                        "KIND",
                        "SCHEDULE",
                        "DURATION",
                        "APPLICATIONS",
                        "NAMESPACES",
                        "CLUSTERS",
                        "MANUALSYNC",
                        "TIMEZONE",
                    ],
                    &rows,
                )
            })
        }
        WindowsCommand::Delete(a) => {
            p.modify(&a.project, a.output.output, |s| {
                window_mut(s, &a.project, a.id)?;
                s.sync_windows.remove(a.id);
                Ok(format!("sync window {} deleted from project '{}'", a.id, a.project))
            })
            .await
        }
        WindowsCommand::EnableManualSync(a) => manual_sync(p, a, true).await,
        WindowsCommand::DisableManualSync(a) => manual_sync(p, a, false).await,
    }
}

async fn manual_sync(p: &Projects, a: IdArgs, on: bool) -> anyhow::Result<()> {
    p.modify(&a.project, a.output.output, |s| {
        window_mut(s, &a.project, a.id)?.manual_sync = on;
        Ok(format!("manual sync {} for sync window {} of project '{}'", if on { "enabled" } else { "disabled" }, a.id, a.project))
    })
    .await
}
