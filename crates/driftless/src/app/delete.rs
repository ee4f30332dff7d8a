//! `app delete`: delete an Application, with its resources (cascade, the
//! default) or without them.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use driftless_api::RESOURCES_FINALIZER;
use kube::api::DeleteParams;

use super::common::{Ctx, api_error};
use crate::output::{Format, OutputArgs, confirm, print, progress_as};

/// Flags of `app delete`.
#[derive(clap::Args)]
pub struct DeleteArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// Delete the app's resources too (true), or leave them in the cluster (false).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    cascade: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Wait until the Application is gone (with cascade: its resources deleted).
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this many seconds (0: no limit) and exit 1.
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    #[command(flatten)]
    out: OutputArgs,
}

/// What `app delete -o json|yaml` prints.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Deleted<'a> {
    name: &'a str,
    namespace: &'a str,
    /// Whether the app's resources are deleted with it.
    cascade: bool,
    /// Whether the Application was seen gone (only with --wait).
    gone: bool,
}

/// Deletes the app.
pub async fn run(ctx: &Ctx, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let (r, app) = ctx.get(&args.name).await?;
    if !args.yes {
        let what = if args.cascade { "and all its resources" } else { "(its resources stay in the cluster)" };
        if !confirm(&format!("Are you sure you want to delete application '{r}' {what}? [y/n] "))? {
            bail!("not deleted: confirm with y, or pass -y");
        }
    }
    // The finalizer decides whether the controller deletes the resources:
    // set it for cascade, remove it otherwise, before the deletion starts.
    driftless_engine::finalizer::set_cascade(&r.api, app, args.cascade)
        .await
        .map_err(|e| api_error(e, &r))
        .with_context(|| format!("set the finalizers of app {r}"))?;
    r.api.delete(&r.name, &DeleteParams::default()).await.map_err(|e| api_error(e, &r))?;
    let format = args.out.output;
    let report = |gone: bool| {
        print(format, &Deleted { name: &r.name, namespace: &r.namespace, cascade: args.cascade, gone }, || {
            format!("application '{}' deleted{}\n", r.name, if args.cascade { "" } else { " (resources kept)" })
        })
    };
    if !args.wait {
        report(false)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !matches!(format, Format::Json | Format::Yaml) {
        report(false)?;
    }
    let deadline = (args.timeout > 0).then(|| Instant::now() + Duration::from_secs(args.timeout));
    loop {
        match r.api.get_opt(&r.name).await.map_err(|e| api_error(e, &r))? {
            None => {
                if matches!(format, Format::Json | Format::Yaml) {
                    report(true)?;
                } else {
                    progress_as(format, &format!("application '{}' is gone", r.name))?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            Some(a) if deadline.is_some_and(|d| Instant::now() >= d) => bail!(
                "timed out after {}s waiting for app {r} to be deleted; finalizers left: {:?} (the controller removes {RESOURCES_FINALIZER} once the app's resources are deleted: is it running?)",
                args.timeout,
                a.metadata.finalizers.unwrap_or_default()
            ),
            Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
