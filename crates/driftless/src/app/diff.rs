//! `app diff` and `app manifests`: render Git here, in the CLI, with the
//! controller's own code, and compare it with the cluster, without writing
//! anything.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use driftless_api::{Application, SyncStatusCode};
use driftless_diff::DiffOptions;
use driftless_engine::Desired;
use driftless_sync::compare::CompareResult;
use serde_json::Value;

use super::common::Ctx;
use crate::output::{Format, OutputArgs, print};

/// Flags of `app diff`.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// Compare with this branch, tag or commit instead of the app's target.
    #[arg(long)]
    revision: Option<String>,
    /// Where Git checkouts are cached (default: a temporary directory).
    #[arg(long, env = "DRIFTLESS_CLI_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
}

/// What `app diff -o json|yaml` prints.
#[derive(serde::Serialize)]
struct DiffReport {
    sync: SyncStatusCode,
    resources: Vec<ResourceDiff>,
}

/// One resource that differs.
#[derive(serde::Serialize)]
struct ResourceDiff {
    group: String,
    kind: String,
    namespace: String,
    name: String,
    status: SyncStatusCode,
    /// The fields that differ.
    changed: Vec<String>,
    /// A unified diff, live to desired, Secrets masked.
    diff: String,
}

/// Where `app manifests` takes the manifests from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ManifestSource {
    /// Rendered from Git at the app's target revision.
    Git,
    /// The objects in the cluster.
    Live,
}

/// Flags of `app manifests`.
#[derive(clap::Args)]
pub struct ManifestsArgs {
    /// The Application (NAME or NAMESPACE/NAME).
    name: String,
    /// Git (rendered desired state) or live (cluster objects).
    #[arg(long, value_enum, default_value_t = ManifestSource::Git)]
    source: ManifestSource,
    /// Render this branch, tag or commit instead of the app's target.
    #[arg(long)]
    revision: Option<String>,
    /// Where Git checkouts are cached (default: a temporary directory).
    #[arg(long, env = "DRIFTLESS_CLI_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// YAML documents by default; `-o json` prints one JSON array.
    #[command(flatten)]
    out: OutputArgs,
}

/// Prints a diff per out-of-sync resource; exit 1 when any differs, 0 when
/// the app is in sync (errors exit 2, see [`super::run`]).
pub async fn run_diff(ctx: &Ctx, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let (r, mut app) = ctx.get(&args.name).await?;
    with_revision(&mut app, args.revision.as_deref());
    let (_, compared, opts) = compare(ctx, &app, args.cache_dir).await.with_context(|| format!("app {r}"))?;
    let mut report = DiffReport { sync: compared.sync, resources: Vec::new() };
    for res in compared.resources.iter().filter(|res| res.sync != SyncStatusCode::Synced) {
        let k = &res.key;
        let (live_n, predicted_n) = driftless_diff::normalize_pair(res.live.object(), res.predicted.as_ref(), &opts);
        report.resources.push(ResourceDiff {
            group: k.group.clone(),
            kind: k.kind.clone(),
            namespace: k.namespace.clone().unwrap_or_default(),
            name: k.name.clone(),
            status: res.sync,
            changed: res.diff.changed.clone(),
            diff: driftless_diff::unified_diff(&k.path(), live_n.as_ref(), predicted_n.as_ref()),
        });
    }
    for w in &compared.warnings {
        eprintln!("driftless: warning: {w}");
    }
    print(args.out.output, &report, || {
        let mut out = String::new();
        for d in &report.resources {
            out.push_str(&format!("\n===== {}/{} {}/{} ======\n", d.group, d.kind, d.namespace, d.name));
            if d.diff.is_empty() {
                // The comparison found a difference the YAML rendering hides
                // (e.g. a number's type): name the fields at least.
                out.push_str(&format!("fields differ: {}\n", d.changed.join(", ")));
            } else {
                out.push_str(&d.diff);
            }
        }
        out
    })?;
    Ok(if compared.sync == SyncStatusCode::Synced { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints the desired or live manifests as YAML documents, Secrets masked.
pub async fn run_manifests(ctx: &Ctx, args: ManifestsArgs) -> anyhow::Result<ExitCode> {
    let (r, mut app) = ctx.get(&args.name).await?;
    with_revision(&mut app, args.revision.as_deref());
    let (desired, compared, _) = compare(ctx, &app, args.cache_dir).await.with_context(|| format!("app {r}"))?;
    let objects: Vec<Value> = match args.source {
        ManifestSource::Git => desired.targets.iter().map(|t| t.manifest.value().clone()).collect(),
        ManifestSource::Live => compared
            .resources
            .iter()
            .filter_map(|res| res.live.object().cloned())
            .map(|mut l| {
                // Server bookkeeping nobody wants to read in a manifest.
                if let Some(m) = l["metadata"].as_object_mut() {
                    m.remove("managedFields");
                }
                l
            })
            .collect(),
    };
    // Secret values never reach a terminal: the mask shows keys only.
    let masked: Vec<Value> = objects
        .into_iter()
        .map(|obj| {
            let (masked, _) = driftless_diff::mask_secrets(Some(&obj), None);
            masked.unwrap_or(obj)
        })
        .collect();
    if args.out.output == Format::Json {
        return print(Format::Json, &masked, String::new).map(|()| ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for obj in &masked {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(obj).context("encode YAML")?);
    }
    crate::output::write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn with_revision(app: &mut Application, revision: Option<&str>) {
    if let (Some(rev), Some(src)) = (revision, app.spec.source.as_mut()) {
        src.target_revision = Some(rev.to_string());
    }
}

/// Renders and compares with the controller's code, using a Git cache of
/// its own (the controller's cache locks only within its own process);
/// with the diff options its diffs are shown with.
async fn compare(ctx: &Ctx, app: &Application, cache_dir: Option<PathBuf>) -> anyhow::Result<(Desired, CompareResult, DiffOptions)> {
    let tmp;
    let cache_dir = match cache_dir {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().context("create a temporary directory for Git checkouts")?;
            tmp.path().to_path_buf()
        }
    };
    // The controller's rules: projects from the control plane, and the
    // namespaces it handles.
    let tenancy =
        driftless_engine::project::Tenancy::read(&ctx.client, &ctx.control_plane, None, None).await.map_err(anyhow::Error::msg)?;
    let config = driftless_engine::EngineConfig { cache_dir, tenancy, ..Default::default() };
    let engine = driftless_engine::Engine::one_off(ctx.client.clone(), config);
    let (desired, compared) = engine.compare_app(app).await.map_err(anyhow::Error::msg)?;
    Ok((desired, compared, engine.diff_options(app).await.map_err(anyhow::Error::msg)?))
}
