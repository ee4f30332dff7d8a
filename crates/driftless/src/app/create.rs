//! `app create`: an Application from flags (as `argocd app create`) or from
//! a manifest file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use driftless_api::{
    Application, ApplicationDestination, ApplicationSource, ApplicationSourceDirectory, ApplicationSourceKustomize, RESOURCES_FINALIZER,
    SyncPolicy, SyncPolicyAutomated,
};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};

use super::common::{Ctx, api_error};
use crate::output::{Format, OutputArgs, print};

/// Flags of `app create`, named as `argocd app create`'s.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// The Application's name (or NAMESPACE/NAME); with -f, overrides the file's.
    name: Option<String>,
    /// An Application manifest (YAML or JSON) to create, `-` for stdin.
    #[arg(short = 'f', long = "file", conflicts_with_all = ["repo", "path", "revision", "dest_server", "dest_name", "dest_namespace", "sync_policy", "directory_recurse", "kustomize_images"])]
    file: Option<PathBuf>,
    /// Repository URL.
    #[arg(long)]
    repo: Option<String>,
    /// Path in the repository.
    #[arg(long)]
    path: Option<String>,
    /// Branch, tag or commit to deploy (default: HEAD).
    #[arg(long)]
    revision: Option<String>,
    /// API server URL of the destination cluster, e.g. https://kubernetes.default.svc.
    #[arg(long, conflicts_with = "dest_name")]
    dest_server: Option<String>,
    /// Name of the destination cluster, e.g. in-cluster.
    #[arg(long)]
    dest_name: Option<String>,
    /// Namespace to deploy into.
    #[arg(long)]
    dest_namespace: Option<String>,
    /// AppProject of the Application.
    #[arg(long, default_value = "default")]
    project: String,
    /// `automated` syncs on every change in Git; `none` is manual.
    #[arg(long, value_parser = ["automated", "auto", "automatic", "none", "manual"])]
    sync_policy: Option<String>,
    /// With automated sync: delete resources that left Git.
    #[arg(long)]
    auto_prune: bool,
    /// With automated sync: revert changes made in the cluster.
    #[arg(long)]
    self_heal: bool,
    /// With automated sync: allow syncing to no resources at all.
    #[arg(long)]
    allow_empty: bool,
    /// A sync option, e.g. CreateNamespace=true (repeatable).
    #[arg(long = "sync-option", value_name = "KEY=VALUE")]
    sync_options: Vec<String>,
    /// Read manifests in subdirectories of the path too.
    #[arg(long)]
    directory_recurse: bool,
    /// Kustomize image override, e.g. nginx=nginx:1.27 (repeatable).
    #[arg(long = "kustomize-image", value_name = "IMAGE")]
    kustomize_images: Vec<String>,
    /// A label of the Application, KEY=VALUE (repeatable).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Add the finalizer that deletes the app's resources with it.
    #[arg(long)]
    set_finalizer: bool,
    /// Update the Application if it exists.
    #[arg(long)]
    upsert: bool,
    #[command(flatten)]
    out: OutputArgs,
}

/// Creates (or with --upsert, updates) the Application.
pub async fn run(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let mut app = match &args.file {
        Some(file) => from_file(file)?,
        None => from_flags(&args)?,
    };
    let name = match (&args.name, app.metadata.name.clone()) {
        (Some(n), _) => n.clone(),
        (None, Some(n)) if !n.is_empty() => match &app.metadata.namespace {
            Some(ns) if !ctx.namespace_given => format!("{ns}/{n}"),
            _ => n,
        },
        _ => bail!("the Application needs a name: `driftless app create NAME ...` (or metadata.name in the file)"),
    };
    let r = ctx.resolve(&name)?;
    app.metadata.name = Some(r.name.clone());
    app.metadata.namespace = Some(r.namespace.clone());
    for l in &args.labels {
        let (k, v) = l.split_once('=').with_context(|| format!("--label {l:?}: expected KEY=VALUE"))?;
        app.metadata.labels.get_or_insert_with(BTreeMap::new).insert(k.to_string(), v.to_string());
    }
    if args.set_finalizer {
        add_finalizer(&mut app);
    }
    // The server owns these: a manifest exported from a cluster carries them.
    app.metadata.resource_version = None;
    app.metadata.uid = None;
    app.metadata.creation_timestamp = None;
    app.metadata.managed_fields = None;
    app.status = None;
    app.operation = None;

    // With -o json|yaml: the Application as the server stored it.
    let (done, stored) = match r.api.get_opt(&r.name).await.map_err(|e| api_error(e, &r))? {
        None => ("created", create(ctx, &r.namespace, &app).await.map_err(|e| api_error(e, &r))?),
        Some(existing) if same_spec(&existing, &app) && !args.upsert => ("unchanged", existing),
        Some(_) if !args.upsert => {
            bail!("application {r} already exists and its spec differs: use --upsert to update it, or `driftless app delete {r}` first")
        }
        Some(mut existing) => {
            // replace carries the resourceVersion read: a concurrent write
            // (the controller's status, most often) makes it fail with 409
            // instead of being overwritten; the change is then made again
            // on the object as it is now.
            let mut attempts = 0;
            let stored = loop {
                upsert_into(&mut existing, &app, args.set_finalizer);
                match r.api.replace(&r.name, &PostParams::default(), &existing).await {
                    Ok(stored) => break stored,
                    Err(kube::Error::Api(e)) if e.code == 409 && attempts < CONFLICT_RETRIES => {
                        attempts += 1;
                        existing = r.api.get(&r.name).await.map_err(|e| api_error(e, &r))?;
                    }
                    Err(e) => return Err(api_error(e, &r)),
                }
            };
            ("updated", stored)
        }
    };
    let format = if args.out.output == Format::Name { Format::Table } else { args.out.output };
    print(format, &stored, || format!("application '{}' {done}\n", r.name))?;
    Ok(ExitCode::SUCCESS)
}

/// How often `--upsert` reads the Application again after a conflicting write.
const CONFLICT_RETRIES: u32 = 5;

/// What `--upsert` changes on the existing Application: the spec, and the
/// labels, annotations and finalizer given.
fn upsert_into(existing: &mut Application, app: &Application, set_finalizer: bool) {
    existing.spec = app.spec.clone();
    for (k, v) in app.metadata.labels.clone().unwrap_or_default() {
        existing.metadata.labels.get_or_insert_with(BTreeMap::new).insert(k, v);
    }
    for (k, v) in app.metadata.annotations.clone().unwrap_or_default() {
        existing.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(k, v);
    }
    if set_finalizer {
        add_finalizer(existing);
    }
}

/// POSTs the Application with its apiVersion and kind: the type itself
/// does not serialize them, and the API server needs them.
async fn create(ctx: &Ctx, namespace: &str, app: &Application) -> Result<Application, kube::Error> {
    let ar = ApiResource::erase::<Application>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, &ar);
    let mut value = serde_json::to_value(app).map_err(kube::Error::SerdeError)?;
    value["apiVersion"] = format!("{}/{}", driftless_api::GROUP, driftless_api::VERSION).into();
    value["kind"] = "Application".into();
    let obj: DynamicObject = serde_json::from_value(value).map_err(kube::Error::SerdeError)?;
    let created = api.create(&PostParams::default(), &obj).await?;
    serde_json::to_value(created).and_then(serde_json::from_value).map_err(kube::Error::SerdeError)
}

fn same_spec(a: &Application, b: &Application) -> bool {
    serde_json::to_value(&a.spec).ok() == serde_json::to_value(&b.spec).ok()
}

fn add_finalizer(app: &mut Application) {
    let f = app.metadata.finalizers.get_or_insert_with(Vec::new);
    if !f.iter().any(|f| f == RESOURCES_FINALIZER) {
        f.push(RESOURCES_FINALIZER.to_string());
    }
}

fn from_file(file: &PathBuf) -> anyhow::Result<Application> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("read the Application from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?
    };
    let value: serde_json::Value =
        serde_saphyr::from_str(&text).with_context(|| format!("{}: not a YAML or JSON document", file.display()))?;
    let kind = value["kind"].as_str().unwrap_or_default();
    if kind != "Application" {
        bail!("{}: kind is {kind:?}, expected Application (apiVersion argoproj.io/v1alpha1)", file.display());
    }
    serde_json::from_value(value).with_context(|| format!("{}: not a valid Application", file.display()))
}

fn from_flags(args: &CreateArgs) -> anyhow::Result<Application> {
    let Some(repo) = args.repo.clone() else {
        bail!("--repo is required (or create from a manifest with -f FILE)");
    };
    if args.dest_server.is_none() && args.dest_name.is_none() {
        bail!("a destination is required: --dest-server https://kubernetes.default.svc (or --dest-name in-cluster)");
    }
    let automated = matches!(args.sync_policy.as_deref(), Some("automated" | "auto" | "automatic"));
    for (flag, on) in [("--auto-prune", args.auto_prune), ("--self-heal", args.self_heal), ("--allow-empty", args.allow_empty)] {
        if on && !automated {
            bail!("{flag} only applies to automated sync: add --sync-policy automated");
        }
    }
    for o in &args.sync_options {
        if !o.contains('=') {
            bail!("--sync-option {o:?}: expected KEY=VALUE, e.g. CreateNamespace=true");
        }
    }
    let mut source = ApplicationSource {
        repo_url: repo,
        path: Some(args.path.clone().unwrap_or_else(|| ".".into())),
        target_revision: args.revision.clone(),
        ..Default::default()
    };
    if args.directory_recurse {
        source.directory = Some(Box::new(ApplicationSourceDirectory { recurse: true, ..Default::default() }));
    }
    if !args.kustomize_images.is_empty() {
        source.kustomize = Some(Box::new(ApplicationSourceKustomize { images: args.kustomize_images.clone(), ..Default::default() }));
    }
    let sync_policy = (automated || !args.sync_options.is_empty()).then(|| SyncPolicy {
        automated: automated.then_some(SyncPolicyAutomated {
            prune: args.auto_prune,
            self_heal: args.self_heal,
            allow_empty: args.allow_empty,
            enabled: None,
        }),
        sync_options: args.sync_options.clone(),
        ..Default::default()
    });
    let mut app = Application::default();
    app.spec.source = Some(source);
    app.spec.destination =
        ApplicationDestination { server: args.dest_server.clone(), name: args.dest_name.clone(), namespace: args.dest_namespace.clone() };
    app.spec.project = args.project.clone();
    app.spec.sync_policy = sync_policy;
    Ok(app)
}
