//! `driftless app ...`: Argo CD's `argocd app` commands in `--core` style.
//! The CLI talks to the cluster through kubeconfig, reads and writes
//! `Application` objects, and leaves syncing to the controller: a sync is
//! requested by setting `.operation`, then followed through
//! `status.operationState`.

pub(crate) mod common;
mod confirm;
mod create;
mod delete;
mod diff;
mod get;
mod history;
mod list;
mod sync;
mod wait;

use std::process::ExitCode;

/// `driftless app`: manage Applications.
#[derive(clap::Args)]
pub struct AppArgs {
    /// Namespace of the Application(s); default: the kubeconfig context's
    /// namespace. `ns/name` app names override it.
    #[arg(short = 'N', long = "app-namespace", global = true)]
    app_namespace: Option<String>,
    /// The control-plane namespace, whose AppProjects, Secrets and
    /// settings a diff renders with, as the controller does.
    #[arg(long, global = true, env = "DRIFTLESS_NAMESPACE", default_value = "argocd")]
    control_plane_namespace: String,
    // Boxed: the commands' flags are large next to the other top-level commands.
    #[command(subcommand)]
    command: Box<AppCommand>,
}

#[derive(clap::Subcommand)]
enum AppCommand {
    /// Create an Application from flags or from a manifest (-f).
    Create(Box<create::CreateArgs>),
    /// List Applications.
    List(list::ListArgs),
    /// Show an Application: its settings, status and resources.
    Get(get::GetArgs),
    /// Compare Git with the cluster; exit 1 when they differ, 2 on error.
    Diff(diff::DiffArgs),
    /// Print the desired (Git) or live manifests of an Application.
    Manifests(diff::ManifestsArgs),
    /// Sync an Application and follow the operation until it finishes.
    Sync(sync::SyncArgs),
    /// Wait until an Application is synced, healthy and idle.
    Wait(wait::WaitArgs),
    /// Show an Application's sync history.
    History(history::HistoryArgs),
    /// Sync an Application back to a revision of its history.
    Rollback(sync::RollbackArgs),
    /// Delete an Application, and (by default) its resources.
    Delete(delete::DeleteArgs),
    /// Confirm the pruning (Prune=confirm) or deletion (Delete=confirm) of
    /// the resources that wait for a person.
    ConfirmDeletion(confirm::ConfirmArgs),
}

/// Runs an `app` command and returns the process's exit code. Errors are
/// printed on stderr; they exit 1, except for `diff`, where 1 means "out of
/// sync" and errors exit 2, as `argocd app diff` does.
pub fn run(args: AppArgs) -> ExitCode {
    let error_code = if matches!(*args.command, AppCommand::Diff(_)) { 2 } else { 1 };
    let result = crate::runtime().and_then(|rt| rt.block_on(dispatch(args)));
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("driftless: {err:#}");
            ExitCode::from(error_code)
        }
    }
}

async fn dispatch(args: AppArgs) -> anyhow::Result<ExitCode> {
    let ctx = common::Ctx::connect(args.app_namespace, args.control_plane_namespace).await?;
    match *args.command {
        AppCommand::Create(a) => create::run(&ctx, *a).await,
        AppCommand::List(a) => list::run(&ctx, a).await,
        AppCommand::Get(a) => get::run(&ctx, a).await,
        AppCommand::Diff(a) => diff::run_diff(&ctx, a).await,
        AppCommand::Manifests(a) => diff::run_manifests(&ctx, a).await,
        AppCommand::Sync(a) => sync::run_sync(&ctx, a).await,
        AppCommand::Wait(a) => wait::run(&ctx, a).await,
        AppCommand::History(a) => history::run(&ctx, a).await,
        AppCommand::Rollback(a) => sync::run_rollback(&ctx, a).await,
        AppCommand::Delete(a) => delete::run(&ctx, a).await,
        AppCommand::ConfirmDeletion(a) => confirm::run(&ctx, a).await,
    }
}
