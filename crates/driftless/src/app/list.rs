//! `app list`: every Application of a namespace (or all), as `argocd app list`.

use std::process::ExitCode;

use driftless_api::Application;
use kube::Api;
use kube::api::ListParams;

use super::common::{Ctx, cluster, conditions_summary, sync_policy};
use crate::output::{Format, print, table, write_stdout};

/// Flags of `app list`.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Only apps matching this label selector, e.g. team=web.
    #[arg(short = 'l', long = "selector")]
    selector: Option<String>,
    /// Only apps of these projects (repeatable).
    #[arg(short = 'p', long = "project")]
    projects: Vec<String>,
    /// Apps of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
}

/// Lists the apps.
pub async fn run(ctx: &Ctx, args: ListArgs) -> anyhow::Result<ExitCode> {
    let api: Api<Application> = if args.all_namespaces { Api::all(ctx.client.clone()) } else { ctx.api(&ctx.namespace) };
    let mut lp = ListParams::default();
    if let Some(s) = &args.selector {
        lp = lp.labels(s);
    }
    let where_ = if args.all_namespaces { "all namespaces".to_string() } else { format!("namespace {:?}", ctx.namespace) };
    let list = api.list(&lp).await.map_err(|e| match &e {
        kube::Error::Api(s) if s.code == 404 => {
            anyhow::anyhow!("the Application CRD is not installed in this cluster: run `driftless crds | kubectl apply --server-side -f -`")
        }
        _ => anyhow::Error::new(e).context(format!("list Applications in {where_}")),
    })?;
    let mut apps: Vec<Application> =
        list.items.into_iter().filter(|a| args.projects.is_empty() || args.projects.iter().any(|p| *p == project(a))).collect();
    apps.sort_by_key(|a| (a.metadata.namespace.clone(), a.metadata.name.clone()));
    let qualified = |a: &Application| {
        let name = a.metadata.name.clone().unwrap_or_default();
        if args.all_namespaces { format!("{}/{name}", a.metadata.namespace.as_deref().unwrap_or_default()) } else { name }
    };
    if args.output == Format::Name {
        let names: String = apps.iter().map(|a| qualified(a) + "\n").collect();
        return write_stdout(&names).map(|()| ExitCode::SUCCESS);
    }
    // Encoded only for -o json|yaml; an object that cannot be encoded
    // whole is shown in brief rather than failing the listing.
    let shown: Vec<serde_json::Value> = match args.output {
        Format::Json | Format::Yaml => apps.iter().map(Application::to_json_shown).collect(),
        _ => Vec::new(),
    };
    print(args.output, &shown, || {
        let rows: Vec<Vec<String>> = apps
            .iter()
            .map(|a| {
                let status = a.status.clone().unwrap_or_default();
                let source = a.primary_source().cloned().unwrap_or_default();
                vec![
                    qualified(a),
                    cluster(a),
                    a.spec.destination.namespace.clone().unwrap_or_default(),
                    project(a).to_string(),
                    format!("{:?}", status.sync.status),
                    status.health.status.to_string(),
                    sync_policy(a).to_string(),
                    conditions_summary(&status.conditions),
                    source.repo_url,
                    source.path.unwrap_or_default(),
                    source.target_revision.unwrap_or_default(),
                ]
            })
            .collect();
        table(&["NAME", "CLUSTER", "NAMESPACE", "PROJECT", "STATUS", "HEALTH", "SYNCPOLICY", "CONDITIONS", "REPO", "PATH", "TARGET"], &rows)
    })?;
    Ok(ExitCode::SUCCESS)
}

fn project(a: &Application) -> &str {
    if a.spec.project.is_empty() { "default" } else { &a.spec.project }
}
