//! `driftless appset ...`: Argo CD's `argocd appset` commands in `--core`
//! style: ApplicationSets read and written through the kubeconfig's
//! current context. A create follows the API's rules
//! (`driftless_server::applicationsets`: generators Argo CD knows, an
//! idempotent create, `--upsert` to replace a different spec) and checks
//! that the template's project exists; the set's Applications are those
//! with an ownerReference to it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use driftless_api::{Application, ApplicationSet};
use driftless_server::applicationsets as sets;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

use crate::output::{Format, OutputArgs, confirm, print, table, write_stdout};

/// `driftless appset`: manage ApplicationSets.
#[derive(clap::Args)]
pub struct AppSetArgs {
    /// Namespace of the ApplicationSet(s); default: the kubeconfig
    /// context's namespace. `ns/name` names override it.
    #[arg(short = 'N', long = "appset-namespace", global = true)]
    appset_namespace: Option<String>,
    /// The control-plane namespace, where the template's AppProject must exist.
    #[arg(long, global = true, env = "DRIFTLESS_NAMESPACE", default_value = "argocd")]
    control_plane_namespace: String,
    #[command(subcommand)]
    command: AppSetCommand,
}

#[derive(clap::Subcommand)]
enum AppSetCommand {
    /// Create ApplicationSets from manifests (YAML, several documents a
    /// file, or JSON; `-` for stdin).
    Create(CreateArgs),
    /// List ApplicationSets.
    List(ListArgs),
    /// Show an ApplicationSet: its generators, template, conditions, its
    /// Applications and its progressive sync.
    Get(GetArgs),
    /// Delete ApplicationSets: the Applications they own go with them (and
    /// the apps' resources, as each app's finalizer says).
    Delete(DeleteArgs),
    /// Print the Applications the sets in the files would make, without a
    /// cluster (for CI): Git is read, the control plane is not.
    Generate(GenerateArgs),
}

/// Flags of `appset generate`.
#[derive(clap::Args)]
struct GenerateArgs {
    /// Manifest files (`-` for stdin).
    files: Vec<PathBuf>,
    /// A manifest file (repeatable).
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
}

/// Flags of `appset create`, named as `argocd appset create`'s.
#[derive(clap::Args)]
struct CreateArgs {
    /// Manifest files (as `argocd appset create FILE...`).
    files: Vec<PathBuf>,
    /// A manifest file (repeatable).
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    /// Replace the spec of a set that exists with another one.
    #[arg(long)]
    upsert: bool,
    /// Have the API server validate the sets without storing them.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    out: OutputArgs,
}

/// Flags of `appset list`.
#[derive(clap::Args)]
struct ListArgs {
    /// Only sets of these projects (repeatable).
    #[arg(short = 'p', long = "project")]
    projects: Vec<String>,
    /// Only sets matching this label selector, e.g. team=web.
    #[arg(short = 'l', long = "selector")]
    selector: Option<String>,
    /// Sets of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    #[command(flatten)]
    out: OutputArgs,
}

/// Flags of `appset get`.
#[derive(clap::Args)]
struct GetArgs {
    /// The ApplicationSet (NAME or NAMESPACE/NAME).
    name: String,
    #[command(flatten)]
    out: OutputArgs,
}

/// Flags of `appset delete`, named as `argocd appset delete`'s.
#[derive(clap::Args)]
struct DeleteArgs {
    /// The ApplicationSets (NAME or NAMESPACE/NAME).
    #[arg(required = true)]
    names: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Wait until each set is gone.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
}

/// The connection and the namespace sets default to.
struct Ctx {
    client: kube::Client,
    namespace: String,
    control_plane: String,
}

impl Ctx {
    fn api(&self, namespace: &str) -> Api<ApplicationSet> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// `ns/name` or a name in the default namespace, checked to be names
    /// the API server could hold.
    fn resolve(&self, set: &str) -> anyhow::Result<(String, String)> {
        let (ns, name) = match set.split_once('/') {
            Some((ns, name)) => (ns, name),
            None => (self.namespace.as_str(), set),
        };
        if !driftless_api::is_dns_label(ns) || !driftless_api::is_dns_subdomain(name) {
            bail!("invalid ApplicationSet name {set:?}: use NAME or NAMESPACE/NAME (lowercase letters, digits, '-', '.')");
        }
        Ok((ns.to_string(), name.to_string()))
    }

    async fn get(&self, set: &str) -> anyhow::Result<ApplicationSet> {
        let (ns, name) = self.resolve(set)?;
        self.api(&ns).get_opt(&name).await.map_err(|e| api_error(e, &ns))?.with_context(|| {
            format!(
                "ApplicationSet {name:?} not found in namespace {ns:?}: see `driftless appset list -N {ns}`, or name it as NAMESPACE/NAME"
            )
        })
    }

    /// The Applications of `namespace` (every namespace: None).
    async fn apps(&self, namespace: Option<&str>) -> anyhow::Result<Vec<Application>> {
        let api: Api<Application> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        Ok(api.list(&ListParams::default()).await.context("list Applications, to find the sets' own")?.items)
    }
}

/// A Kubernetes error in words that say what to do: a 404 on a list or a
/// write most often means the ApplicationSet CRD is not installed.
fn api_error(e: kube::Error, namespace: &str) -> anyhow::Error {
    match &e {
        kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!(
            "ApplicationSets in namespace {namespace}: {} (does the namespace exist, and is the ApplicationSet CRD installed? \
             `driftless crds | kubectl apply --server-side -f -`)",
            s.message
        ),
        _ => anyhow::Error::new(e).context(format!("ApplicationSets in namespace {namespace}")),
    }
}

/// Runs an `appset` command.
pub async fn run(args: AppSetArgs) -> anyhow::Result<()> {
    if let AppSetCommand::Generate(a) = args.command {
        return generate(a).await;
    }
    let client = crate::kube_client::connect().await?;
    let namespace = args.appset_namespace.filter(|n| !n.is_empty()).unwrap_or_else(|| client.default_namespace().to_string());
    let ctx = Ctx { client, namespace, control_plane: args.control_plane_namespace };
    match args.command {
        AppSetCommand::Create(a) => create(&ctx, a).await,
        AppSetCommand::List(a) => list(&ctx, a).await,
        AppSetCommand::Get(a) => get(&ctx, a).await,
        AppSetCommand::Delete(a) => delete(&ctx, a).await,
        AppSetCommand::Generate(_) => unreachable!("generate runs without a cluster, above"),
    }
}

async fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = args.files.into_iter().chain(args.file).collect();
    if files.is_empty() {
        bail!("no manifest given: `driftless appset generate FILE` (or -f FILE; - for stdin)");
    }
    let cache = tempfile::tempdir().context("a temporary directory for Git")?;
    let sources = driftless_appset::sources::LocalSources { git: driftless_source::GitCache::new(cache.path()) };
    let mut apps = Vec::new();
    for f in &files {
        for mut set in read_manifests(f)? {
            set.metadata.namespace.get_or_insert_with(|| "argocd".into());
            let name = set.metadata.name.clone().unwrap_or_default();
            let made = driftless_appset::applications(&set, &sources)
                .await
                .map_err(|e| anyhow::anyhow!("{}: ApplicationSet {name}: {e}", f.display()))?;
            apps.extend(made);
        }
    }
    print(args.out.output, &apps, || {
        let rows: Vec<Vec<String>> = apps
            .iter()
            .map(|a| {
                let source = a.spec.source.clone().unwrap_or_default();
                vec![
                    a.metadata.name.clone().unwrap_or_default(),
                    a.spec.project.clone(),
                    source.repo_url.clone(),
                    source.path.clone().or(source.chart.clone()).unwrap_or_default(),
                    a.spec.destination.server.clone().or(a.spec.destination.name.clone()).unwrap_or_default(),
                    a.spec.destination.namespace.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(&["NAME", "PROJECT", "REPO", "PATH", "DESTINATION", "NAMESPACE"], &rows)
    })
}

/// Every ApplicationSet in `file` (one or more YAML documents, or JSON),
/// each checked as the API checks it; errors name the file and document.
fn read_manifests(file: &PathBuf) -> anyhow::Result<Vec<ApplicationSet>> {
    let shown = file.display();
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("read ApplicationSets from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("read {shown}"))?
    };
    let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&text).with_context(|| format!("{shown}: not YAML or JSON"))?;
    let docs: Vec<serde_json::Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.is_empty() {
        bail!("{shown}: no ApplicationSet in it");
    }
    docs.into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let at = format!("{shown} (document {})", i + 1);
            let kind = doc["kind"].as_str().unwrap_or_default();
            if kind != "ApplicationSet" {
                bail!("{at}: kind is {kind:?}, expected ApplicationSet (apiVersion argoproj.io/v1alpha1)");
            }
            let mut set: ApplicationSet = serde_json::from_value(doc).with_context(|| format!("{at}: not a valid ApplicationSet"))?;
            if set.metadata.name.as_deref().is_none_or(str::is_empty) {
                bail!("{at}: metadata.name is required");
            }
            sets::check_generators(&set).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
            sets::clear_server_fields(&mut set);
            Ok(set)
        })
        .collect()
}

async fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = args.files.into_iter().chain(args.file).collect();
    if files.is_empty() {
        bail!("no manifest given: `driftless appset create FILE` (or -f FILE; - for stdin)");
    }
    // Every file is read and checked before anything is written.
    let mut all = Vec::new();
    for f in &files {
        all.extend(read_manifests(f)?);
    }
    let format = if args.out.output == Format::Name { Format::Table } else { args.out.output };
    let params = PostParams { dry_run: args.dry_run, ..Default::default() };
    let mut stored = Vec::new();
    let mut lines = String::new();
    for mut set in all {
        let name = set.metadata.name.clone().unwrap_or_default();
        let ns = match set.metadata.namespace.clone().filter(|n| !n.is_empty()) {
            Some(ns) => ns,
            None => ctx.namespace.clone(),
        };
        ctx.resolve(&format!("{ns}/{name}"))?;
        set.metadata.namespace = Some(ns.clone());
        check_project(ctx, &set).await?;
        let api = ctx.api(&ns);
        let (done, result) = match api.create(&params, &set).await {
            Ok(created) => ("created", created),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = api.get(&name).await.map_err(|e| api_error(e, &ns))?;
                if sets::unchanged(&existing, &set) {
                    ("unchanged", existing)
                } else if !args.upsert {
                    bail!("ApplicationSet {ns}/{name} already exists and its spec differs: use --upsert to replace it");
                } else {
                    ("updated", upsert(&api, existing, &set, &params).await.map_err(|e| api_error(e, &ns))?)
                }
            }
            Err(e) => return Err(api_error(e, &ns).context(format!("create ApplicationSet {ns}/{name}"))),
        };
        let suffix = if args.dry_run { " (dry run)" } else { "" };
        lines.push_str(&format!("applicationset '{ns}/{name}' {done}{suffix}\n"));
        stored.push(result);
    }
    match stored.as_slice() {
        [one] => print(format, one, || lines.clone()),
        many => print(format, &many, || lines.clone()),
    }
}

/// How often an upsert reads the set again after a conflicting write.
const CONFLICT_RETRIES: usize = 5;

/// Replaces the spec and merges labels and annotations, conditional on the
/// resourceVersion read; a write in between makes it read and try again.
async fn upsert(
    api: &Api<ApplicationSet>,
    existing: ApplicationSet,
    set: &ApplicationSet,
    params: &PostParams,
) -> Result<ApplicationSet, kube::Error> {
    let name = set.metadata.name.clone().unwrap_or_default();
    let mut current = existing;
    for attempt in 1..=CONFLICT_RETRIES {
        sets::upsert_into(&mut current, set);
        match api.replace(&name, params, &current).await {
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => current = api.get(&name).await?,
            other => return other,
        }
    }
    unreachable!("the last attempt returns")
}

/// The template's project must exist in the control plane (as Argo CD
/// checks on create), unless it is templated and known only once the set
/// generates; the implicit `default` project always exists.
async fn check_project(ctx: &Ctx, set: &ApplicationSet) -> anyhow::Result<()> {
    let project = set.spec.project();
    if sets::templated(project) {
        return Ok(());
    }
    let tenancy = driftless_engine::project::Tenancy::new(ctx.control_plane.as_str());
    driftless_engine::project::load(&ctx.client, None, &tenancy, project).await.map(drop).with_context(|| {
        format!(
            "ApplicationSet {}: its template's project must exist in the control-plane namespace {:?} (--control-plane-namespace)",
            set.metadata.name.as_deref().unwrap_or_default(),
            ctx.control_plane
        )
    })
}

/// How many Applications each set owns.
fn owned(set: &ApplicationSet, apps: &[Application]) -> usize {
    apps.iter().filter(|a| sets::owns(set, a)).count()
}

fn sync_policy(set: &ApplicationSet) -> String {
    let p = set.spec.sync_policy.clone().unwrap_or_default();
    let mut s = p.applications_sync.unwrap_or_else(|| "sync".into());
    if p.preserve_resources_on_deletion {
        s.push_str(",preserve");
    }
    s
}

/// The conditions that hold, by type (`ErrorOccurred,ResourcesUpToDate`).
fn held(set: &ApplicationSet) -> String {
    let held: Vec<&str> = set.status.iter().flat_map(|s| &s.conditions).filter(|c| c.status == "True").map(|c| c.type_.as_str()).collect();
    if held.is_empty() { "<none>".into() } else { held.join(",") }
}

fn generators(set: &ApplicationSet) -> String {
    set.spec.generators.iter().map(|g| g.kinds().join("+")).collect::<Vec<_>>().join(",")
}

async fn list(ctx: &Ctx, args: ListArgs) -> anyhow::Result<()> {
    let (api, scope) = if args.all_namespaces {
        (Api::all(ctx.client.clone()), "all namespaces".to_string())
    } else {
        (ctx.api(&ctx.namespace), format!("namespace {:?}", ctx.namespace))
    };
    let mut lp = ListParams::default();
    if let Some(s) = &args.selector {
        lp = lp.labels(s);
    }
    let listed =
        api.list(&lp).await.map_err(|e| api_error(e, &ctx.namespace)).with_context(|| format!("list ApplicationSets in {scope}"))?;
    let mut items: Vec<ApplicationSet> =
        listed.items.into_iter().filter(|s| args.projects.is_empty() || args.projects.iter().any(|p| p == s.spec.project())).collect();
    items.sort_by_key(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()));
    let qualified = |s: &ApplicationSet| {
        let name = s.metadata.name.clone().unwrap_or_default();
        if args.all_namespaces { format!("{}/{name}", s.metadata.namespace.as_deref().unwrap_or_default()) } else { name }
    };
    if args.out.output == Format::Name {
        return write_stdout(&items.iter().map(|s| qualified(s) + "\n").collect::<String>());
    }
    let apps = if items.is_empty() { Vec::new() } else { ctx.apps((!args.all_namespaces).then_some(ctx.namespace.as_str())).await? };
    // Encoded only for -o json|yaml; an object that cannot be encoded
    // whole is shown in brief rather than failing the listing.
    let shown: Vec<serde_json::Value> = match args.out.output {
        Format::Json | Format::Yaml => items.iter().map(ApplicationSet::to_json_shown).collect(),
        _ => Vec::new(),
    };
    print(args.out.output, &shown, || {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|s| vec![qualified(s), s.spec.project().to_string(), generators(s), sync_policy(s), held(s), owned(s, &apps).to_string()])
            .collect();
        table(&["NAME", "PROJECT", "GENERATORS", "SYNCPOLICY", "CONDITIONS", "APPS"], &rows)
    })
}

async fn get(ctx: &Ctx, args: GetArgs) -> anyhow::Result<()> {
    let set = ctx.get(&args.name).await?;
    if args.out.output == Format::Name {
        return write_stdout(&format!("{}\n", set.metadata.name.as_deref().unwrap_or_default()));
    }
    let apps: Vec<Application> = ctx.apps(set.metadata.namespace.as_deref()).await?.into_iter().filter(|a| sets::owns(&set, a)).collect();
    print(args.out.output, &set.to_json_shown(), || describe(&set, &apps))
}

/// The human view: summary lines, then conditions, Applications and the
/// progressive sync's steps.
fn describe(set: &ApplicationSet, apps: &[Application]) -> String {
    let spec = &set.spec;
    let template = &spec.template.spec;
    let source = template.source.clone().or_else(|| template.sources.first().cloned()).unwrap_or_default();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<20}{}\n", format!("{k}:"), v));
    kv("Name", format!("{}/{}", set.metadata.namespace.as_deref().unwrap_or_default(), set.metadata.name.as_deref().unwrap_or_default()));
    kv("Project", spec.project().to_string());
    kv("Generators", generators(set));
    kv("Templates", if spec.go_template { "Go text/template".into() } else { "fasttemplate".into() });
    kv("App name", spec.template.metadata.name.clone().unwrap_or_default());
    kv("Repo", source.repo_url);
    kv("Path", source.path.unwrap_or_default());
    kv("Target", source.target_revision.filter(|t| !t.is_empty()).unwrap_or_else(|| "HEAD".into()));
    let dest = &template.destination;
    kv(
        "Destination",
        format!(
            "{} {}",
            dest.server.as_deref().or(dest.name.as_deref()).unwrap_or_default(),
            dest.namespace.as_deref().unwrap_or_default()
        ),
    );
    kv("Sync Policy", sync_policy(set));
    let strategy = spec.strategy.as_ref();
    let steps = strategy.and_then(|s| s.rolling_sync.as_ref()).map_or(0, |r| r.steps.len());
    kv(
        "Strategy",
        match strategy.and_then(|s| s.type_.as_deref()) {
            Some("RollingSync") => format!("RollingSync ({steps} steps)"),
            Some(other) => other.to_string(),
            None => "AllAtOnce".into(),
        },
    );
    let status = set.status.clone().unwrap_or_default();
    if !status.conditions.is_empty() {
        out.push_str("\nCONDITION\n");
        let rows: Vec<Vec<String>> =
            status.conditions.iter().map(|c| vec![c.type_.clone(), c.status.clone(), c.reason.clone(), one_line(&c.message)]).collect();
        out.push_str(&table(&["TYPE", "STATUS", "REASON", "MESSAGE"], &rows));
    }
    out.push('\n');
    if apps.is_empty() {
        out.push_str("No Applications yet.\n");
    } else {
        let rows: Vec<Vec<String>> = apps
            .iter()
            .map(|a| {
                let s = a.status.clone().unwrap_or_default();
                vec![a.metadata.name.clone().unwrap_or_default(), format!("{:?}", s.sync.status), s.health.status.to_string()]
            })
            .collect();
        out.push_str(&table(&["APPLICATION", "SYNC", "HEALTH"], &rows));
    }
    if !status.application_status.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = status
            .application_status
            .iter()
            .map(|s| vec![s.step.clone(), s.application.clone(), s.status.clone(), one_line(&s.message)])
            .collect();
        out.push_str(&table(&["STEP", "APPLICATION", "STATUS", "MESSAGE"], &rows));
    }
    out
}

/// A message on one line, for a table cell.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn delete(ctx: &Ctx, args: DeleteArgs) -> anyhow::Result<()> {
    // Every name is checked, and every set found, before anything is deleted.
    let mut found = Vec::new();
    for n in &args.names {
        found.push(ctx.get(n).await?);
    }
    for set in &found {
        let (ns, name) = (set.metadata.namespace.clone().unwrap_or_default(), set.metadata.name.clone().unwrap_or_default());
        if !args.yes {
            let preserve = set.spec.sync_policy.as_ref().is_some_and(|p| p.preserve_resources_on_deletion);
            let what = if preserve {
                "(their resources stay: preserveResourcesOnDeletion)"
            } else {
                "and, as each app's finalizer says, their resources"
            };
            if !confirm(&format!("Delete ApplicationSet '{ns}/{name}', the Applications it owns {what}? [y/n] "))? {
                bail!("not deleted: confirm with y, or pass -y");
            }
        }
        let api = ctx.api(&ns);
        api.delete(&name, &DeleteParams::default())
            .await
            .map_err(|e| api_error(e, &ns))
            .with_context(|| format!("delete ApplicationSet {ns}/{name}"))?;
        write_stdout(&format!("applicationset '{ns}/{name}' deleted\n"))?;
        if args.wait {
            let deadline = (args.timeout > 0).then(|| Instant::now() + Duration::from_secs(args.timeout));
            while api.get_opt(&name).await.map_err(|e| api_error(e, &ns))?.is_some() {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    bail!("timed out after {}s waiting for ApplicationSet {ns}/{name} to be deleted", args.timeout);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            write_stdout(&format!("applicationset '{ns}/{name}' is gone\n"))?;
        }
    }
    Ok(())
}
