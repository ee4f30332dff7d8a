//! `driftless proj ...`: Argo CD's `argocd proj` commands in `--core`
//! style. AppProjects live in the control-plane namespace (`-N`), read and
//! written through the kubeconfig's current context. Role policies are
//! checked as the server checks them (`driftless_server::rbac`), and role
//! tokens are issued and revoked by the server's own code
//! (`driftless_server::project_tokens`).

mod role;
mod windows;

use anyhow::{Context as _, bail};
use driftless_api::{AppProject, AppProjectSpec, Application, ApplicationDestination, ClusterResourceRestrictionItem, GroupKind};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

use crate::output::{Format, OutputArgs, print, table};

/// `driftless proj`: manage AppProjects.
#[derive(clap::Args)]
pub struct ProjArgs {
    /// The control-plane namespace, where AppProjects live.
    #[arg(short = 'N', long = "namespace", visible_alias = "control-plane-namespace", global = true, default_value = "argocd")]
    control_plane: String,
    #[command(subcommand)]
    command: ProjCommand,
}

#[derive(clap::Subcommand)]
enum ProjCommand {
    /// Create a project from flags or from a manifest (-f).
    Create(CreateArgs),
    /// List projects.
    List(OutputArgs),
    /// Show a project.
    Get(NameOutput),
    /// Delete a project no app uses.
    Delete(NameOutput),
    /// Allow a source repository (URL or glob).
    AddSource(Item),
    /// Remove a source repository.
    RemoveSource(Item),
    /// Allow a destination: SERVER (URL or glob) and NAMESPACE (glob).
    AddDestination(Destination),
    /// Remove a destination.
    RemoveDestination(Destination),
    /// Let Applications of the project live in a namespace (glob).
    AddSourceNamespace(Item),
    /// Remove a source namespace.
    RemoveSourceNamespace(Item),
    /// Allow a cluster-scoped kind (adds it to the whitelist).
    AllowClusterResource(Kind),
    /// Deny a cluster-scoped kind (removes it from the whitelist).
    DenyClusterResource(Kind),
    /// Allow a namespaced kind (removes it from the blacklist).
    AllowNamespaceResource(Kind),
    /// Deny a namespaced kind (adds it to the blacklist).
    DenyNamespaceResource(Kind),
    /// Sync windows: add, list, delete, enable-manual-sync, disable-manual-sync.
    #[command(subcommand)]
    Windows(windows::WindowsCommand),
    /// Project roles: create, list, get, delete, policies, groups, tokens.
    #[command(subcommand)]
    Role(role::RoleCommand),
}

#[derive(clap::Args)]
pub(crate) struct NameOutput {
    /// The project.
    name: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct Item {
    /// The project.
    name: String,
    /// The repository URL or namespace.
    value: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct Destination {
    /// The project.
    name: String,
    /// The cluster's server URL (glob), or its name with --name.
    server: String,
    /// The namespace (glob).
    namespace: String,
    /// SERVER is the cluster's name, not its URL.
    #[arg(long = "name")]
    by_name: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
struct Kind {
    /// The project.
    name: String,
    /// The API group ('' for core).
    group: String,
    /// The kind.
    kind: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// Flags of `proj create`, named after `argocd proj create`'s.
#[derive(clap::Args)]
struct CreateArgs {
    /// The project's name (else the manifest's).
    name: Option<String>,
    /// A destination, `SERVER,NAMESPACE` (repeatable).
    #[arg(short = 'd', long = "dest", value_name = "SERVER,NAMESPACE")]
    destinations: Vec<String>,
    /// A source repository (repeatable).
    #[arg(short = 's', long = "src", value_name = "REPO")]
    sources: Vec<String>,
    /// What the project is for.
    #[arg(long)]
    description: Option<String>,
    /// Namespaces where its Applications may live (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "NS")]
    source_namespaces: Vec<String>,
    /// A manifest (YAML or JSON) of the AppProject; flags add to it.
    #[arg(short = 'f', long = "file")]
    file: Option<std::path::PathBuf>,
    /// Replace the spec of a project that exists.
    #[arg(long)]
    upsert: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// The AppProjects of the control-plane namespace.
pub(crate) struct Projects {
    pub(crate) api: Api<AppProject>,
    pub(crate) client: kube::Client,
    pub(crate) namespace: String,
}

/// How often a change is tried again when the project changed under it.
const CONFLICT_RETRIES: usize = 5;

impl Projects {
    async fn connect(namespace: String) -> anyhow::Result<Projects> {
        let client = crate::kube_client::connect().await?;
        Ok(Projects { api: Api::namespaced(client.clone(), &namespace), client, namespace })
    }

    /// The project `name`, or an error that says where it was looked for.
    pub(crate) async fn get(&self, name: &str) -> anyhow::Result<AppProject> {
        self.api.get_opt(name).await.with_context(|| format!("read AppProject {name} in namespace {}", self.namespace))?.with_context(
            || format!("project {name:?} not found in namespace {}; see `driftless proj list -N {}`", self.namespace, self.namespace),
        )
    }

    /// Reads `name`, applies `change` to its spec and writes it back
    /// (again on a conflict); prints the project as stored when `output`
    /// is JSON or YAML, else what `change` says it did.
    pub(crate) async fn modify(
        &self,
        name: &str,
        output: Format,
        change: impl Fn(&mut AppProjectSpec) -> anyhow::Result<String>,
    ) -> anyhow::Result<()> {
        for attempt in 1..=CONFLICT_RETRIES {
            let mut project = self.get(name).await?;
            let done = change(&mut project.spec)?;
            check(&project)?;
            match self.api.replace(name, &PostParams::default(), &project).await {
                Ok(stored) => return print(output, &stored, || format!("{done}\n")),
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => continue,
                Err(e) => return Err(anyhow::Error::new(e).context(format!("update AppProject {name} in namespace {}", self.namespace))),
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// Refuses a project the server would refuse: a role policy that could
/// grant outside the project, a repeated role.
fn check(project: &AppProject) -> anyhow::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for r in &project.spec.roles {
        if !seen.insert(r.name.as_str()) {
            bail!("spec.roles: role {:?} appears twice", r.name);
        }
    }
    if let Some(e) = driftless_server::rbac::Policy::default().add_project(project).into_iter().next() {
        bail!("{e}");
    }
    Ok(())
}

/// Adds `value` to `list` unless it is there; says what happened.
fn add<T: PartialEq>(list: &mut Vec<T>, value: T, what: &str, project: &str) -> anyhow::Result<String> {
    if list.contains(&value) {
        bail!("project {project:?} already has {what}");
    }
    list.push(value);
    Ok(format!("project '{project}': {what} added"))
}

/// Removes `value` from `list`; an error if it was not there.
fn remove<T: PartialEq>(list: &mut Vec<T>, value: &T, what: &str, project: &str) -> anyhow::Result<String> {
    let before = list.len();
    list.retain(|v| v != value);
    if list.len() == before {
        bail!("project {project:?} has no {what}");
    }
    Ok(format!("project '{project}': {what} removed"))
}

/// Runs a `proj` command.
pub async fn run(args: ProjArgs) -> anyhow::Result<()> {
    let projects = Projects::connect(args.control_plane).await?;
    let p = &projects;
    match args.command {
        ProjCommand::Create(a) => create(p, a).await,
        ProjCommand::List(a) => {
            let list =
                p.api.list(&ListParams::default()).await.with_context(|| format!("list AppProjects in namespace {}", p.namespace))?.items;
            print(a.output, &list, || {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|x| {
                        let s = &x.spec;
                        vec![
                            x.metadata.name.clone().unwrap_or_default(),
                            s.description.clone().unwrap_or_default(),
                            destinations(s),
                            s.source_repos.join(","),
                            s.source_namespaces.join(","),
                            s.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(","),
                            s.sync_windows.len().to_string(),
                        ]
                    })
                    .collect();
                table(&["NAME", "DESCRIPTION", "DESTINATIONS", "SOURCES", "SOURCE-NAMESPACES", "ROLES", "WINDOWS"], &rows)
            })
        }
        ProjCommand::Get(a) => {
            let project = p.get(&a.name).await?;
            print(a.output.output, &project, || describe(&project))
        }
        ProjCommand::Delete(a) => delete(p, &a.name, a.output.output).await,
        ProjCommand::AddSource(a) => {
            p.modify(&a.name, a.output.output, |s| add(&mut s.source_repos, a.value.clone(), &format!("source {}", a.value), &a.name)).await
        }
        ProjCommand::RemoveSource(a) => {
            p.modify(&a.name, a.output.output, |s| remove(&mut s.source_repos, &a.value, &format!("source {}", a.value), &a.name)).await
        }
        ProjCommand::AddSourceNamespace(a) => {
            p.modify(&a.name, a.output.output, |s| {
                add(&mut s.source_namespaces, a.value.clone(), &format!("source namespace {}", a.value), &a.name)
            })
            .await
        }
        ProjCommand::RemoveSourceNamespace(a) => {
            p.modify(&a.name, a.output.output, |s| {
                remove(&mut s.source_namespaces, &a.value, &format!("source namespace {}", a.value), &a.name)
            })
            .await
        }
        ProjCommand::AddDestination(a) => {
            let d = destination(&a);
            p.modify(&a.name, a.output.output, |s| {
                add(&mut s.destinations, d.clone(), &format!("destination {} {}", a.server, a.namespace), &a.name)
            })
            .await
        }
        ProjCommand::RemoveDestination(a) => {
            let d = destination(&a);
            p.modify(&a.name, a.output.output, |s| {
                remove(&mut s.destinations, &d, &format!("destination {} {}", a.server, a.namespace), &a.name)
            })
            .await
        }
        ProjCommand::AllowClusterResource(k) => {
            let gk = ClusterResourceRestrictionItem { group: k.group.clone(), kind: k.kind.clone(), name: None };
            p.modify(&k.name, k.output.output, |s| {
                add(&mut s.cluster_resource_whitelist, gk.clone(), &format!("allowed cluster kind {}/{}", k.group, k.kind), &k.name)
            })
            .await
        }
        ProjCommand::DenyClusterResource(k) => {
            let gk = ClusterResourceRestrictionItem { group: k.group.clone(), kind: k.kind.clone(), name: None };
            p.modify(&k.name, k.output.output, |s| {
                remove(&mut s.cluster_resource_whitelist, &gk, &format!("allowed cluster kind {}/{}", k.group, k.kind), &k.name)
            })
            .await
        }
        ProjCommand::AllowNamespaceResource(k) => {
            let gk = GroupKind { group: k.group.clone(), kind: k.kind.clone() };
            p.modify(&k.name, k.output.output, |s| {
                remove(&mut s.namespace_resource_blacklist, &gk, &format!("denied namespaced kind {}/{}", k.group, k.kind), &k.name)
            })
            .await
        }
        ProjCommand::DenyNamespaceResource(k) => {
            let gk = GroupKind { group: k.group.clone(), kind: k.kind.clone() };
            p.modify(&k.name, k.output.output, |s| {
                add(&mut s.namespace_resource_blacklist, gk.clone(), &format!("denied namespaced kind {}/{}", k.group, k.kind), &k.name)
            })
            .await
        }
        ProjCommand::Windows(w) => windows::run(p, w).await,
        ProjCommand::Role(r) => role::run(p, r).await,
    }
}

fn destination(a: &Destination) -> ApplicationDestination {
    let (server, name) = if a.by_name { (None, Some(a.server.clone())) } else { (Some(a.server.clone()), None) };
    ApplicationDestination { server, name, namespace: Some(a.namespace.clone()) }
}

fn destinations(s: &AppProjectSpec) -> String {
    s.destinations
        .iter()
        .map(|d| format!("{},{}", d.server.as_deref().or(d.name.as_deref()).unwrap_or("*"), d.namespace.as_deref().unwrap_or("*")))
        .collect::<Vec<_>>()
        .join(";")
}

async fn create(p: &Projects, a: CreateArgs) -> anyhow::Result<()> {
    let mut project = match &a.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
            serde_saphyr::from_str::<AppProject>(&text).with_context(|| format!("{}: not an AppProject manifest", path.display()))?
        }
        None => AppProject::new("", AppProjectSpec::default()),
    };
    if let Some(name) = &a.name {
        project.metadata.name = Some(name.clone());
    }
    let name = project
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .context("a project needs a name: `proj create NAME`, or metadata.name in -f")?;
    for d in &a.destinations {
        let Some((server, namespace)) = d.split_once(',') else { bail!("--dest {d:?}: expected SERVER,NAMESPACE") };
        project.spec.destinations.push(ApplicationDestination {
            server: Some(server.trim().into()),
            name: None,
            namespace: Some(namespace.trim().into()),
        });
    }
    project.spec.source_repos.extend(a.sources);
    project.spec.source_namespaces.extend(a.source_namespaces);
    if a.description.is_some() {
        project.spec.description = a.description;
    }
    project.metadata.namespace = Some(p.namespace.clone());
    project.status = None;
    check(&project)?;
    let created = match p.api.create(&PostParams::default(), &project).await {
        Err(kube::Error::Api(s)) if s.code == 409 && a.upsert => {
            let mut current = p.get(&name).await?;
            current.spec = project.spec;
            p.api.replace(&name, &PostParams::default(), &current).await.with_context(|| format!("update AppProject {name}"))?
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            bail!("project {name:?} already exists in namespace {}: pass --upsert to replace its spec", p.namespace)
        }
        other => other.with_context(|| format!("create AppProject {name} in namespace {}", p.namespace))?,
    };
    print(a.output.output, &created, || format!("project '{name}' created in namespace {}\n", p.namespace))
}

async fn delete(p: &Projects, name: &str, output: Format) -> anyhow::Result<()> {
    p.get(name).await?;
    let apps = match Api::<Application>::all(p.client.clone()).list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
        Err(e) => return Err(anyhow::Error::new(e).context("list Applications, to see whether the project is used")),
    };
    let using: Vec<String> = apps
        .iter()
        .filter(|a| (if a.spec.project.is_empty() { "default" } else { a.spec.project.as_str() }) == name)
        .map(|a| format!("{}/{}", a.metadata.namespace.as_deref().unwrap_or_default(), a.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    if !using.is_empty() {
        bail!("project {name:?} is used by {} application(s): {}; delete or move them first", using.len(), using.join(", "));
    }
    p.api.delete(name, &DeleteParams::default()).await.with_context(|| format!("delete AppProject {name}"))?;
    print(output, &serde_json::json!({ "deleted": name }), || format!("project '{name}' deleted\n"))
}

/// The human view of one project.
fn describe(p: &AppProject) -> String {
    let s = &p.spec;
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<30}{}\n", format!("{k}:"), v));
    let list = |v: &[String]| if v.is_empty() { "<none>".to_string() } else { v.join(", ") };
    let kinds = |v: Vec<String>| if v.is_empty() { "<none>".to_string() } else { v.join(", ") };
    kv("Name", p.metadata.name.clone().unwrap_or_default());
    kv("Description", s.description.clone().unwrap_or_default());
    kv("Destinations", if s.destinations.is_empty() { "<none>".into() } else { destinations(s) });
    kv("Repositories", list(&s.source_repos));
    kv("Source Namespaces", list(&s.source_namespaces));
    let named = |k: &ClusterResourceRestrictionItem| match k.name.as_deref() {
        Some(n) if !n.is_empty() => format!("{}/{} {n}", k.group, k.kind),
        _ => format!("{}/{}", k.group, k.kind),
    };
    kv("Allowed Cluster Resources", kinds(s.cluster_resource_whitelist.iter().map(named).collect()));
    kv("Denied Namespaced Resources", kinds(s.namespace_resource_blacklist.iter().map(|k| format!("{}/{}", k.group, k.kind)).collect()));
    kv("Roles", list(&s.roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>()));
    kv("Sync Windows", s.sync_windows.len().to_string());
    out
}
