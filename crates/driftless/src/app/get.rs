//! `app get`: an Application's settings, status and resources, as
//! `argocd app get` shows them.

use std::process::ExitCode;

use anyhow::Context as _;
use driftless_api::Application;
use driftless_engine::dependencies::{self, Graph};
use driftless_engine::project::{self, Tenancy};
use driftless_engine::windows::{self, Assessment};

use super::common::{Ctx, RESOURCE_HEADERS, cluster, one_line, operation_summary, resource_rows, short, sync_policy, time};
use crate::output::{Format, print, table, write_stdout};

/// Flags of `app get`.
#[derive(clap::Args)]
pub struct GetArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// Output format: the summary and resources (table), or the Application
    /// as JSON/YAML, with its project's sync windows under `syncWindows`
    /// (the API's `/syncwindows` answer) and its dependency graph under
    /// `dependencies` (the API's `/dependencies` answer).
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// Prints the app.
pub async fn run(ctx: &Ctx, args: GetArgs) -> anyhow::Result<ExitCode> {
    let (r, app) = ctx.get(&args.name).await?;
    if args.output == Format::Name {
        write_stdout(&format!("{}\n", r.name))?;
        return Ok(ExitCode::SUCCESS);
    }
    let windows = sync_windows(ctx, &app).await;
    let mut value = app.to_json_shown();
    value["syncWindows"] = match &windows {
        Ok(a) => serde_json::to_value(a.response()).context("encode the sync windows")?,
        Err(e) => serde_json::json!({ "error": e }),
    };
    let graph = dependency_graph(ctx, &app).await;
    value["dependencies"] = match &graph {
        Ok(g) => serde_json::to_value(g).context("encode the dependencies")?,
        Err(e) => serde_json::json!({ "error": e }),
    };
    print(args.output, &value, || render(&app, &windows) + &render_dependencies(&graph))?;
    Ok(ExitCode::SUCCESS)
}

/// The app's dependency graph (`driftless.dev/depends-on`), judged as the
/// controller judges it: every Application the kubeconfig may list (all
/// namespaces, else the app's own).
async fn dependency_graph(ctx: &Ctx, app: &Application) -> Result<Graph, String> {
    let all: kube::Api<Application> = kube::Api::all(ctx.client.clone());
    let listed = match all.list(&Default::default()).await {
        Ok(list) => list,
        Err(_) => {
            ctx.api(app.metadata.namespace.as_deref().unwrap_or_default()).list(&Default::default()).await.map_err(|e| e.to_string())?
        }
    };
    let apps: Vec<std::sync::Arc<Application>> = listed.items.into_iter().map(std::sync::Arc::new).collect();
    Ok(dependencies::graph(app, &apps))
}

/// What the app waits for, and the apps of its dependency graph; nothing
/// for an app in none.
fn render_dependencies(graph: &Result<Graph, String>) -> String {
    let graph = match graph {
        Ok(g) if g.nodes.len() > 1 || g.assessment.error.is_some() => g,
        Ok(_) => return String::new(),
        Err(e) => return format!("\nDEPENDENCIES: unknown ({})\n", one_line(e)),
    };
    let a = &graph.assessment;
    let waiting = match (&a.error, a.waiting()) {
        (Some(e), _) => e.to_string(),
        (None, Some(w)) => w,
        (None, None) => "nothing: every dependency is ready".into(),
    };
    let me = graph.app.as_ref();
    let relation = |k: &dependencies::AppKey| {
        if Some(k) == me {
            "this app"
        } else if graph.edges.iter().any(|e| Some(&e.from) == me && e.to == *k) {
            "depends on"
        } else if graph.edges.iter().any(|e| Some(&e.to) == me && e.from == *k) {
            "depended on by"
        } else {
            "further"
        }
    };
    let rows: Vec<Vec<String>> = graph
        .nodes
        .iter()
        .map(|n| {
            let waits = if n.in_cycle {
                format!("cycle: {}", n.waiting.clone().unwrap_or_default())
            } else {
                n.waiting.clone().unwrap_or_default()
            };
            vec![
                n.app.to_string(),
                relation(&n.app).into(),
                n.sync.clone(),
                n.health.clone(),
                if n.ready { "yes" } else { "no" }.into(),
                one_line(&waits),
            ]
        })
        .collect();
    format!(
        "\n{:<20}{}\n\n{}",
        "Waiting For:",
        one_line(&waiting),
        table(&["APP", "RELATION", "SYNC", "HEALTH", "READY", "WAITS FOR"], &rows)
    )
}

/// What the app's project's sync windows say now. The project is read from
/// the control-plane namespace, as the controller reads it.
async fn sync_windows(ctx: &Ctx, app: &Application) -> Result<Assessment, String> {
    let tenancy = Tenancy::new(ctx.control_plane.as_str());
    let project = project::load(&ctx.client, None, &tenancy, &app.spec.project).await.map_err(|e| e.to_string())?;
    Ok(windows::assess(&project, app, k8s_openapi::jiff::Timestamp::now()))
}

/// The human view: summary lines, then the resource table.
pub fn render(app: &Application, windows: &Result<Assessment, String>) -> String {
    let status = app.status.clone().unwrap_or_default();
    let source = app.primary_source().cloned().unwrap_or_default();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<20}{}\n", format!("{k}:"), v));
    kv("Name", format!("{}/{}", app.metadata.namespace.as_deref().unwrap_or_default(), app.metadata.name.as_deref().unwrap_or_default()));
    kv("Project", if app.spec.project.is_empty() { "default".into() } else { app.spec.project.clone() });
    kv("Server", cluster(app));
    kv("Namespace", app.spec.destination.namespace.clone().unwrap_or_default());
    kv("Repo", source.repo_url.clone());
    kv("Target", source.target_revision.clone().unwrap_or_default());
    kv("Path", source.path.clone().unwrap_or_default());
    let options = app.spec.sync_policy.as_ref().map(|p| p.sync_options.join(",")).unwrap_or_default();
    kv("Sync Policy", sync_policy(app).to_string());
    if !options.is_empty() {
        kv("Sync Options", options);
    }
    kv("Sync Window", windows.as_ref().map_or_else(|e| format!("unknown ({e})"), Assessment::summary));
    let revision = status.sync.revision.as_deref().map(|r| format!(" ({})", short(r))).unwrap_or_default();
    let target = source.target_revision.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "HEAD".into());
    kv("Sync Status", format!("{:?} to {target}{revision}", status.sync.status));
    let health_msg = status.health.message.as_deref().map(|m| format!(" ({})", one_line(m))).unwrap_or_default();
    kv("Health Status", format!("{}{health_msg}", status.health.status));
    if let Some(t) = &status.reconciled_at {
        kv("Reconciled At", time(t));
    }
    if app.metadata.deletion_timestamp.is_some() {
        kv("Deleting", "yes (waiting for the controller to delete the app's resources)".into());
    }
    if app.operation.is_some() {
        kv("Requested", "a sync is requested and not started yet".into());
    }
    if !status.conditions.is_empty() {
        out.push_str("\nCONDITION\n");
        let rows: Vec<Vec<String>> = status.conditions.iter().map(|c| vec![c.type_.clone(), one_line(&c.message)]).collect();
        out.push_str(&table(&["TYPE", "MESSAGE"], &rows));
    }
    if let Some(op) = &status.operation_state {
        out.push('\n');
        out.push_str(&operation_summary(op));
    }
    let rows = resource_rows(app);
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table(&RESOURCE_HEADERS, &rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::{ApplicationCondition, Operation, OperationInitiator, OperationPhase, OperationState, SyncOperation, condition};

    #[test]
    fn an_automatic_rollback_shows_why_in_the_condition_and_the_operation() {
        let why = "rolled back from 2222222: not Healthy within 30s";
        let mut app = Application::default();
        app.metadata.name = Some("web".into());
        let status = app.status.get_or_insert_with(Default::default);
        status.conditions.push(ApplicationCondition {
            type_: condition::ROLLED_BACK.into(),
            message: why.into(),
            last_transition_time: None,
        });
        status.operation_state = Some(OperationState {
            operation: Operation {
                sync: Some(SyncOperation { revision: Some("1111111".into()), ..Default::default() }),
                initiated_by: Some(OperationInitiator { username: Some(why.into()), automated: true }),
                ..Default::default()
            },
            phase: OperationPhase::Succeeded,
            message: Some(format!("{why}; successfully synced")),
            sync_result: None,
            started_at: driftless_engine::status::now(),
            finished_at: None,
            retry_count: None,
        });
        let text = render(&app, &Err("no project".into()));
        assert!(text.contains(&format!("RolledBack  {why}")), "{text}");
        assert!(text.contains(&format!("Initiated By:       automated sync policy ({why})")), "{text}");
        assert!(text.contains(&format!("Message:            {why}; successfully synced")), "{text}");
    }
}
