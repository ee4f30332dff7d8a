//! `driftless validate`: the checks a config repository's CI runs before a
//! merge, offline. Each app the repository holds (its Applications, and those
//! of ApplicationSets that can be generated from the checkout alone) is
//! rendered as the controller renders it, from the local checkout; every
//! object it renders is validated against Kubernetes' OpenAPI schemas of a
//! chosen version (bundled, or from a directory) and the schemas of the CRDs
//! the repository holds, then goes through the extra [`ObjectCheck`]s
//! (policies). What was found is a [`Report`]; [`output`] writes it for
//! people, JSON, JUnit XML or GitHub annotations.
//!
//! The pipeline, per app: [`apps`] (which apps) -> render (every source of
//! this repository, `$ref` roots, Helm's `.Capabilities` from the schemas) ->
//! the default namespace as the engine applies it -> schema -> checks.

pub mod apps;
pub mod discover;
pub mod finding;
pub mod output;
pub mod policy;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use driftless_api::{Application, ApplicationSource};
use driftless_render::{RenderContext, RenderError};
use serde_json::Value;

use crate::apps::{AppUnderTest, Local};
use crate::discover::{Doc, Index};
pub use crate::finding::{AppReport, CheckedObject, Finding, Kind, Location, ObjectRef, Report, Severity, Summary};
use crate::schema::{Outcome, Schemas};

/// A check every rendered object goes through after its schema: the place
/// for policies. It sees the object as the controller would apply it (the
/// app's default namespace applied) and the app it belongs to.
pub trait ObjectCheck: Send + Sync {
    /// What the check finds about `object` of `app`; the object, its file
    /// and line are filled in by the caller when left empty.
    fn check(&self, app: &Application, object: &Value) -> Vec<Finding>;
}

/// What to validate and how.
pub struct Options {
    /// The directory whose Applications are validated (`.`); when it holds
    /// none, it is one app itself.
    pub path: PathBuf,
    /// Only the Applications (and ApplicationSets) of these files.
    pub app_files: Vec<PathBuf>,
    /// URLs naming this repository (`--repo-url`, the `origin` remote):
    /// sources of other URLs are not rendered. None: every Git source is
    /// taken for this repository.
    pub repo_urls: Vec<String>,
    /// The Kubernetes schemas.
    pub schemas: Schemas,
    /// Files of CustomResourceDefinitions whose kinds are validated too.
    pub crd_files: Vec<PathBuf>,
    /// A kind without a schema is an error, not a warning.
    pub strict: bool,
    /// Checks after the schema (policies).
    pub checks: Vec<Box<dyn ObjectCheck>>,
    /// The render context every app's starts from: what is the same for
    /// all apps (keys for decryption, the Kustomize engine). The app's name,
    /// namespace, `$ref` roots and Helm capabilities are set per app.
    pub render: RenderContext,
    /// Apps rendered at once.
    pub jobs: usize,
}

/// Why validation could not run (exit code 2), as opposed to what it found.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The directory to validate is not there.
    #[error("{0}: not a directory")]
    PathMissing(String),
    /// A file named on the command line could not be read.
    #[error("{file}: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A tool an app needs is missing (`helm`).
    #[error("{0}")]
    ToolMissing(String),
}

/// A rendered app, before validation.
struct Rendered {
    objects: Vec<Value>,
    findings: Vec<Finding>,
    /// The files the render read, when known (native Kustomize), else the
    /// directories of its sources: where its objects' documents may be.
    read: Reads,
}

enum Reads {
    Files(Vec<String>),
    Dirs(Vec<String>),
}

impl Reads {
    fn has(&self, file: &str) -> bool {
        match self {
            Reads::Files(f) => f.iter().any(|x| x == file),
            Reads::Dirs(d) => d.iter().any(|dir| dir == "." || file.strip_prefix(dir.as_str()).is_some_and(|r| r.starts_with('/'))),
        }
    }
}

/// The repository `path` is in: its closest ancestor holding `.git`, else
/// `path` itself. Where apps, CRDs and AppProjects are looked for.
pub fn repository_root(path: &Path) -> PathBuf {
    path.ancestors().find(|d| d.join(".git").exists()).unwrap_or(path).to_path_buf()
}

/// Validates. `progress` is called with (apps done, apps) as renders finish.
pub fn run(opts: &Options, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<Report, RunError> {
    let path =
        opts.path.canonicalize().ok().filter(|p| p.is_dir()).ok_or_else(|| RunError::PathMissing(opts.path.display().to_string()))?;
    let root = repository_root(&path);
    let local = Local::new(root.clone(), &opts.repo_urls);
    let (docs, broken) = discover::scan(&root, &root);
    let index = Index::new(docs);
    let mut findings = Vec::new();
    let unparsed = |at: Location| Finding::new(Severity::Error, Kind::App, "not valid YAML: its manifests are not validated").at(at);

    let mut apps = if opts.app_files.is_empty() {
        let under = discover::relative(&root, &path);
        let inside = |file: &str| Reads::Dirs(vec![under.clone()]).has(file);
        findings.extend(broken.into_iter().filter(|at| at.file.as_deref().is_some_and(inside)).map(unparsed));
        let docs: Vec<&Doc> = index.docs().iter().filter(|d| inside(&d.file)).collect();
        apps::collect(&docs, &local, &mut findings)
    } else {
        let mut docs = Vec::new();
        for f in &opts.app_files {
            let text =
                std::fs::read_to_string(f).map_err(|e| RunError::Unreadable { file: f.display().to_string(), reason: e.to_string() })?;
            let file = f.canonicalize().map(|c| discover::relative(&root, &c)).unwrap_or_else(|_| f.display().to_string());
            // A file named to be validated holds apps: none is an error.
            match discover::parse(&file, &text) {
                Err(line) => findings.push(unparsed(Location { file: Some(file), line: Some(line) })),
                Ok(d) if !d.iter().any(|d| matches!(d.value["kind"].as_str(), Some("Application" | "ApplicationSet"))) => findings.push(
                    Finding::new(Severity::Error, Kind::App, "no Application or ApplicationSet in this file")
                        .at(Location { file: Some(file), line: None }),
                ),
                Ok(d) => docs.extend(d),
            }
        }
        apps::collect(&docs.iter().collect::<Vec<_>>(), &local, &mut findings)
    };
    if apps.is_empty() && opts.app_files.is_empty() && findings.is_empty() {
        apps.push(directory_app(&root, &path));
    }

    let mut schemas = opts.schemas.clone();
    for doc in index.docs() {
        add_crd(&mut schemas, &doc.value, doc.location(), &mut findings);
    }
    for f in &opts.crd_files {
        let text = std::fs::read_to_string(f).map_err(|e| RunError::Unreadable { file: f.display().to_string(), reason: e.to_string() })?;
        let file = f.display().to_string();
        for doc in discover::documents(&file, &text) {
            add_crd(&mut schemas, &doc.value, doc.location(), &mut findings);
        }
    }

    let rendered = render_all(&apps, &local, &schemas, opts, progress)?;
    // Argo CD's kinds are driftless' own (an app of apps renders them);
    // their CRDs are built only when needed: that takes a while.
    if rendered.iter().flat_map(|r| &r.objects).any(|o| o["apiVersion"].as_str().is_some_and(|a| a.starts_with("argoproj.io/"))) {
        for crd in driftless_api::crd::all() {
            add_crd(&mut schemas, &serde_json::to_value(crd).unwrap_or_default(), Location::default(), &mut findings);
        }
    }
    // CRDs an app renders (a chart's) serve the kinds of every app.
    for (r, a) in rendered.iter().zip(&apps) {
        for object in &r.objects {
            add_crd(&mut schemas, object, a.location.clone(), &mut findings);
        }
    }
    let reports = apps.iter().zip(rendered).map(|(a, r)| validate_app(a, r, &schemas, &index, opts)).collect();
    Ok(Report::new(schemas.version().to_string(), reports, findings))
}

fn add_crd(schemas: &mut Schemas, value: &Value, at: Location, findings: &mut Vec<Finding>) {
    if value["kind"].as_str() != Some("CustomResourceDefinition")
        || !value["apiVersion"].as_str().is_some_and(|a| a.starts_with("apiextensions.k8s.io/"))
    {
        return;
    }
    if let Err(e) = schemas.add_crd(value) {
        let name = value["metadata"]["name"].as_str().unwrap_or_default();
        findings.push(
            Finding::new(Severity::Warning, Kind::Crd, format!("CustomResourceDefinition {name}: {e}; its kinds are not validated")).at(at),
        );
    }
}

/// The directory validated as one app, when it holds no Application.
fn directory_app(root: &Path, path: &Path) -> AppUnderTest {
    let rel = discover::relative(root, path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into());
    let mut app = Application::default();
    app.metadata.name = Some(name);
    app.spec.source = Some(ApplicationSource { path: Some(rel.clone()), ..Default::default() });
    // Helm's default release namespace; a namespaced object without one
    // is no error in a directory that is not an app.
    app.spec.destination.namespace = Some("default".into());
    AppUnderTest { app, location: Location { file: Some(rel), line: None } }
}

/// Renders every app, `opts.jobs` at once.
fn render_all(
    apps: &[AppUnderTest],
    local: &Local,
    schemas: &Schemas,
    opts: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Rendered>, RunError> {
    let api_versions = schemas.api_versions();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Rendered, RunError>>>> = Mutex::new((0..apps.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, apps.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(a) = apps.get(i) else { break };
                    let r = render_app(&a.app, local, schemas.version(), &api_versions, &opts.render);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, apps.len());
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().map(|r| r.expect("every app rendered")).collect()
}

/// Renders one app's sources of this repository as the engine does.
fn render_app(
    app: &Application,
    local: &Local,
    kube_version: &str,
    api_versions: &[String],
    base: &RenderContext,
) -> Result<Rendered, RunError> {
    let sources: Vec<ApplicationSource> =
        if app.spec.sources.is_empty() { app.spec.source.clone().into_iter().collect() } else { app.spec.sources.clone() };
    let mut findings = Vec::new();
    let offline = |s: &ApplicationSource, what: &str| {
        let name = s.chart.as_deref().map(|c| format!("chart {c} of {}", s.repo_url)).unwrap_or_else(|| s.repo_url.clone());
        Finding::new(Severity::Notice, Kind::Offline, format!("{name}: {what}; validate renders only this repository's sources"))
    };
    let refs: BTreeMap<String, PathBuf> = sources
        .iter()
        .filter(|s| local.has(s))
        .filter_map(|s| Some((s.ref_.clone().filter(|r| !r.is_empty())?, local.root.clone())))
        .collect();
    let ctx = RenderContext {
        app_name: app.metadata.name.clone().unwrap_or_default(),
        namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
        kube_version: Some(kube_version.to_string()),
        api_versions: api_versions.to_vec(),
        refs,
        ..base.clone()
    };
    let (mut objects, mut files, mut dirs, mut all_known) = (Vec::new(), Vec::new(), Vec::new(), true);
    for s in &sources {
        if is_ref_only(s) {
            if !local.has(s) {
                findings.push(offline(s, "a source of values files from elsewhere"));
            }
            continue;
        }
        if !local.has(s) {
            findings.push(offline(s, "not rendered"));
            continue;
        }
        // A `$ref` to a source of elsewhere cannot be read offline.
        let helm = serde_json::to_string(&s.helm).unwrap_or_default();
        if let Some(r) =
            sources.iter().filter(|o| !local.has(o)).filter_map(|o| o.ref_.as_deref()).find(|r| helm.contains(&format!("${r}/")))
        {
            findings.push(offline(s, &format!("reads values through ${r} from another repository; not rendered")));
            continue;
        }
        let dir = s.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| ".".into());
        dirs.push(dir.trim_end_matches('/').to_string());
        let mut ctx = ctx.clone();
        match chart_dependencies(&local.root, s) {
            Ok(deps) => ctx.dependencies = deps,
            Err(why) => {
                findings.push(Finding::new(Severity::Notice, Kind::Offline, format!("Helm chart {dir}: {why}; not rendered")));
                continue;
            }
        }
        match driftless_render::render(&local.root, s, &ctx) {
            Ok(r) => {
                match r.inputs {
                    Some(inputs) => files.extend(inputs.files.into_iter().map(|i| i.path)),
                    None => all_known = false,
                }
                objects.extend(r.manifests.into_iter().map(|m| m.into_value()));
            }
            Err(RenderError::ToolMissing { tool, hint }) => return Err(RunError::ToolMissing(format!("{tool} not found on PATH: {hint}"))),
            Err(RenderError::Sops { file, .. }) if ctx.sops.is_none() => findings.push(Finding::new(
                Severity::Notice,
                Kind::SopsEncrypted,
                format!("rendering {dir}: {file} is SOPS-encrypted and no age key was given (--sops-age-key): not validated"),
            )),
            // Paths in the checkout are said relative to it, as in the repository.
            Err(e) => {
                let message = format!("rendering {dir}: {e}").replace(&format!("{}/", local.root.display()), "");
                findings.push(Finding::new(Severity::Error, Kind::Render, message));
            }
        }
    }
    let read = if all_known && !files.is_empty() { Reads::Files(files) } else { Reads::Dirs(dirs) };
    Ok(Rendered { objects, findings, read })
}

/// The dependencies a chart kept in Git lacks in its `charts/` that lie in
/// this repository; one from a chart repository cannot be fetched offline.
fn chart_dependencies(root: &Path, s: &ApplicationSource) -> Result<Vec<PathBuf>, String> {
    let Ok(chart_dir) = root.join(s.path.as_deref().unwrap_or(".")).canonicalize() else { return Ok(Vec::new()) };
    if !chart_dir.starts_with(root) {
        // The render refuses the path; read nothing there.
        return Ok(Vec::new());
    }
    let mut dirs = Vec::new();
    for dep in driftless_source::helm_deps::missing(root, &chart_dir)? {
        match dep.source {
            driftless_source::helm_deps::DependencySource::Directory(d) => dirs.push(d),
            driftless_source::helm_deps::DependencySource::Repository(url) => {
                return Err(format!("dependency {} {} from {url} is not in charts/ and cannot be fetched offline", dep.name, dep.version));
            }
        }
    }
    Ok(dirs)
}

/// A `ref` source with neither path nor chart only provides values files.
fn is_ref_only(s: &ApplicationSource) -> bool {
    s.ref_.as_deref().is_some_and(|r| !r.is_empty())
        && s.path.as_deref().is_none_or(str::is_empty)
        && s.chart.as_deref().is_none_or(str::is_empty)
}

/// Validates what one app rendered.
fn validate_app(a: &AppUnderTest, r: Rendered, schemas: &Schemas, index: &Index, opts: &Options) -> AppReport {
    let mut findings: Vec<Finding> =
        r.findings.into_iter().map(|f| if f.location.file.is_none() { f.at(a.location.clone()) } else { f }).collect();
    let dest_ns = a.app.spec.destination.namespace.clone().filter(|n| !n.is_empty());
    let read = |f: &str| r.read.has(f);
    let mut objects = Vec::with_capacity(r.objects.len());
    for mut object in r.objects {
        let (group, kind) = {
            let g = schema::Gvk::of(object["apiVersion"].as_str().unwrap_or_default(), object["kind"].as_str().unwrap_or_default());
            (g.group, g.kind)
        };
        // A kind nobody describes is taken as namespaced, as the engine does.
        let namespaced = schemas.is_namespaced(&group, &kind).unwrap_or(true);
        let no_namespace = object["metadata"]["namespace"].as_str().is_none_or(str::is_empty);
        let id_before = ObjectRef::of(&object);
        if namespaced && no_namespace {
            match &dest_ns {
                Some(ns) => object["metadata"]["namespace"] = Value::String(ns.clone()),
                None => findings.push(
                    Finding::new(
                        Severity::Error,
                        Kind::Object,
                        format!("{id_before} has no namespace and spec.destination.namespace is empty"),
                    )
                    .about(&id_before)
                    .at(index.locate(&object, None, &read)),
                ),
            }
        }
        let id = ObjectRef::of(&object);
        let location = index.locate(&object, None, &read);
        match schemas.validate(&object) {
            Outcome::NoSchema(gvk) => {
                let severity = if opts.strict { Severity::Error } else { Severity::Warning };
                findings.push(
                    Finding::new(severity, Kind::NoSchema, format!("no schema for {gvk}; not validated")).about(&id).at(location.clone()),
                );
            }
            Outcome::Checked(violations) => {
                for v in violations {
                    let mut f = Finding::new(Severity::Error, Kind::Schema, v.message).about(&id).at(index.locate(
                        &object,
                        Some(&v.segments),
                        &read,
                    ));
                    f.path = Some(v.path).filter(|p| !p.is_empty());
                    findings.push(f);
                }
            }
        }
        for check in &opts.checks {
            for mut f in check.check(&a.app, &object) {
                f.object.get_or_insert_with(|| id.clone());
                if f.location.file.is_none() {
                    f.location = location.clone();
                }
                findings.push(f);
            }
        }
        objects.push(CheckedObject { object: id, location });
    }
    AppReport { name: app_name(&a.app), location: a.location.clone(), objects, findings }
}

/// The app's name.
fn app_name(app: &Application) -> String {
    app.metadata.name.clone().unwrap_or_default()
}
