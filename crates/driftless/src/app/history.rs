//! `app history`: the syncs recorded in `status.history`.

use std::process::ExitCode;

use super::common::{Ctx, initiator, time};
use crate::output::{Format, print, table};

/// Flags of `app history`.
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// Prints the history, oldest first (ids are what `app rollback` takes).
pub async fn run(ctx: &Ctx, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let (_, app) = ctx.get(&args.name).await?;
    let history = app.status.map(|s| s.history).unwrap_or_default();
    print(args.output, &history, || {
        let rows: Vec<Vec<String>> = history
            .iter()
            .map(|h| {
                let who = h.initiated_by.as_ref().map(|i| initiator(i, "automated")).unwrap_or_default();
                let source = h.source.as_ref().map(|s| format!("{} {}", s.repo_url, s.path.as_deref().unwrap_or(""))).unwrap_or_default();
                vec![h.id.to_string(), time(&h.deployed_at), h.revision.clone(), who, source.trim().to_string()]
            })
            .collect();
        table(&["ID", "DATE", "REVISION", "INITIATOR", "SOURCE"], &rows)
    })?;
    Ok(ExitCode::SUCCESS)
}
