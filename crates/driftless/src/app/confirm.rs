//! `app confirm-deletion`: a person's go-ahead for what waits for one: the
//! pruning of `Prune=confirm` resources during a sync, and the deletion of
//! `Delete=confirm` resources with the app. It sets Argo CD's
//! `argocd.argoproj.io/deletion-approved` annotation to now; the
//! controller, woken by it, goes on.

use std::process::ExitCode;

use driftless_api::{ANNOTATION_DELETION_APPROVED, Application, ResourceStatus};
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::common::{Ctx, api_error};
use crate::output::{OutputArgs, print, table};

/// Flags of `app confirm-deletion`.
#[derive(clap::Args)]
pub struct ConfirmArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    #[command(flatten)]
    out: OutputArgs,
}

/// What `app confirm-deletion -o json|yaml` prints.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Confirmed<'a> {
    name: &'a str,
    namespace: &'a str,
    /// The time written to the annotation (RFC 3339).
    approved_at: String,
    /// What waited for the confirmation when it was given.
    resources: Vec<&'a ResourceStatus>,
}

/// The app's resources whose removal waits for a person: those that left
/// Git with `Prune=confirm`, and, while the app is being deleted, those
/// with `Delete=confirm` (the comparison marks both).
pub fn awaiting_confirmation(app: &Application) -> Vec<&ResourceStatus> {
    let deleting = app.metadata.deletion_timestamp.is_some();
    let resources = app.status.as_ref().map(|s| s.resources.as_slice()).unwrap_or_default();
    resources.iter().filter(|r| r.requires_deletion_confirmation && (r.requires_pruning || deleting)).collect()
}

/// Confirms, and prints what the confirmation covers.
pub async fn run(ctx: &Ctx, args: ConfirmArgs) -> anyhow::Result<ExitCode> {
    let (r, app) = ctx.get(&args.name).await?;
    // Whole seconds, as the controller records when an operation started.
    let approved_at = driftless_engine::status::now().0.to_string();
    let patch = json!({ "metadata": { "annotations": { ANNOTATION_DELETION_APPROVED: approved_at } } });
    r.api.patch(&r.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| api_error(e, &r))?;
    let resources = awaiting_confirmation(&app);
    let report = Confirmed { name: &r.name, namespace: &r.namespace, approved_at: approved_at.clone(), resources };
    print(args.out.output, &report, || {
        let mut text = format!("application '{r}': deletion approved at {approved_at}\n");
        if report.resources.is_empty() {
            text.push_str("nothing waits for a confirmation now: it counts only for syncs and deletions already under way\n");
        } else {
            text.push_str("confirmed the pruning or deletion of:\n");
            let rows: Vec<Vec<String>> = report
                .resources
                .iter()
                .map(|x| vec![x.group.clone(), x.kind.clone(), x.namespace.clone().unwrap_or_default(), x.name.clone()])
                .collect();
            text.push_str(&table(&["GROUP", "KIND", "NAMESPACE", "NAME"], &rows));
        }
        text
    })?;
    Ok(ExitCode::SUCCESS)
}
