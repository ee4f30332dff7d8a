//! The desired state of an app: materialise every source on disk (a Git
//! checkout, a downloaded chart, an OCI artifact), render the sources that
//! produce manifests with the `ref` sources' roots at hand for `$ref`
//! values files, and turn the manifests into sync targets (namespace
//! defaulted, excluded kinds left out, tracking stamped, project rules checked).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use driftless_api::{AppProject, Application, ApplicationSource};
use driftless_render::{GitRemotes, Manifest, RenderContext, SourceType};
use driftless_source::helm_deps::{self, DependencySource};
use driftless_source::{ChartCache, ChartRequest, RepoSettings};
use driftless_sync::ResourceKey;
use driftless_sync::cluster::ClusterError;
use driftless_sync::plan::Target;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::clock::now;
use crate::clusters::Destination;
use crate::config::EngineConfig;
use crate::project;
use crate::repos::{self, RepoStores};
use crate::settings::AppSettings;

/// What the sources want, at one revision each.
pub struct Desired {
    /// The resolved revision of the first source (a commit, a chart
    /// version, an artifact digest).
    pub revision: String,
    /// The resolved revision of every source, in `spec.sources` order.
    pub revisions: Vec<String>,
    /// How the first rendered source was rendered.
    pub source_type: SourceType,
    /// Every manifest, as a sync target.
    pub targets: Vec<Target>,
    /// When the sources were consulted for it: the app's `reconciledAt`.
    pub fetched_at: Time,
    /// Manifests left out because argocd-cm excludes their kind, as the
    /// ExcludedResourceWarning says them.
    pub excluded: Vec<String>,
}

impl Desired {
    /// Nothing: compared with the cluster, every live object the app
    /// tracks is extraneous (deleting an app's resources finds them so).
    pub fn empty() -> Desired {
        Desired {
            revision: String::new(),
            revisions: Vec::new(),
            source_type: SourceType::Directory,
            targets: Vec::new(),
            fetched_at: now(),
            excluded: Vec::new(),
        }
    }
}

/// A [`Desired`] as it is kept between reconciles: each manifest as compact
/// JSON text. A `serde_json::Value` spends most of its size on map nodes
/// (a small object costs hundreds of bytes), and a thousand apps' kept
/// manifests were the controller's largest allocation; parsing them back
/// when a live event wakes the app costs microseconds.
pub struct PackedDesired {
    revision: String,
    revisions: Vec<String>,
    source_type: SourceType,
    manifests: Vec<Box<str>>,
    fetched_at: Time,
    excluded: Vec<String>,
}

impl PackedDesired {
    /// Packs `d`.
    pub fn pack(d: &Desired) -> PackedDesired {
        PackedDesired {
            revision: d.revision.clone(),
            revisions: d.revisions.clone(),
            source_type: d.source_type,
            manifests: d.targets.iter().map(|t| t.manifest.value().to_string().into_boxed_str()).collect(),
            fetched_at: d.fetched_at.clone(),
            excluded: d.excluded.clone(),
        }
    }

    /// The desired state again.
    pub fn unpack(&self) -> Result<Desired, String> {
        let targets = self
            .manifests
            .iter()
            .map(|text| {
                let value = serde_json::from_str(text).map_err(|e| format!("a kept manifest does not parse: {e}"))?;
                Target::new(Manifest::new(value)?)
            })
            .collect::<Result<_, String>>()?;
        Ok(Desired {
            revision: self.revision.clone(),
            revisions: self.revisions.clone(),
            source_type: self.source_type,
            targets,
            fetched_at: self.fetched_at.clone(),
            excluded: self.excluded.clone(),
        })
    }
}

/// What an app's spec resolves to before anything is fetched.
pub struct Validated {
    /// The app's AppProject.
    pub project: AppProject,
    /// The primary source.
    pub source: ApplicationSource,
    /// The destination cluster.
    pub destination: Arc<Destination>,
    /// argocd-cm's tracking, exclusions and compare settings.
    pub settings: Arc<AppSettings>,
}

/// On an Application, `"true"`: Helm's `lookup` sees the destination
/// cluster, read-only, through the app's own credentials (argo-cd #5202),
/// if its AppProject carries the same annotation (an administrator's say).
/// Off by default: such renders depend on live state and are never cached.
pub const ANNOTATION_HELM_LOOKUP: &str = "driftless.dev/helm-lookup";

/// Whether an object (the app, and its AppProject) opted in to Helm's
/// `lookup`: exactly `true` (any case, blanks around it); anything else is no.
pub fn helm_lookup_enabled(meta: &kube::api::ObjectMeta) -> bool {
    meta.annotations.as_ref().and_then(|a| a.get(ANNOTATION_HELM_LOOKUP)).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// What rendering needs of the engine.
pub(crate) struct Sources<'a> {
    /// The age keys SOPS files are decrypted with.
    pub sops: Arc<driftless_render::SopsKeys>,
    /// How Helm's `lookup` reaches the destination, if the app opted in.
    pub helm_lookup: Option<driftless_render::HelmLookup>,
    pub git: &'a Arc<driftless_source::GitCache>,
    pub renders: &'a Arc<driftless_render::RenderCache>,
    pub render_slots: &'a tokio::sync::Semaphore,
    pub client: &'a kube::Client,
    pub config: &'a EngineConfig,
    pub repos: &'a RepoStores,
    /// A Git fetch begun after this will do.
    pub since: std::time::Instant,
}

/// Why no desired state: the cluster could not be asked (it may answer
/// soon), or anything else (a source, a render, a rule), which stays so
/// until Git changes.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// The destination cluster failed.
    #[error("{0}")]
    Cluster(String),
    /// A source, render or rule failed.
    #[error("{0}")]
    Other(String),
}

impl From<String> for DesiredError {
    fn from(message: String) -> DesiredError {
        DesiredError::Other(message)
    }
}

/// One source on disk.
struct Materialised {
    /// What was resolved: commit, chart version or digest.
    revision: String,
    /// The root its paths are relative to.
    root: PathBuf,
}

/// Fetches and renders `source` at `revision` for `app`; for a multi-source
/// app whose `spec.sources` holds `source`, every source of the app, with
/// `revision` for that one. The error is a ComparisonError message: it
/// names the repository, chart, path or file at fault.
pub(crate) async fn desired(
    ctx: &Sources<'_>,
    app: &Application,
    v: &Validated,
    source: &ApplicationSource,
    revision: &str,
) -> Result<Desired, DesiredError> {
    let sources = sources_of(app, source, revision);
    // Each repository (a source, a remote base, a chart dependency) is
    // reached with the settings of its own URL, never the app's.
    let settings = Arc::new(repos::settings(ctx.client, ctx.config.control_plane(), ctx.repos).await?);
    let mut materialised = Vec::with_capacity(sources.len());
    for (src, rev) in &sources {
        materialised.push(materialise(ctx, &settings, src, rev).await?);
    }
    let refs: BTreeMap<String, PathBuf> = sources
        .iter()
        .zip(&materialised)
        .filter_map(|((s, _), m)| Some((s.ref_.clone().filter(|r| !r.is_empty())?, m.root.clone())))
        .collect();
    let renders_helm = sources.iter().zip(&materialised).any(|((s, _), m)| is_helm(s, m));
    let capabilities = if renders_helm { v.destination.capabilities().await.map_err(DesiredError::Cluster)? } else { Default::default() };
    let render_ctx = RenderContext {
        app_name: app.metadata.name.clone().unwrap_or_default(),
        namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
        kube_version: capabilities.kube_version,
        api_versions: capabilities.api_versions,
        refs,
        cache_dir: Some(ctx.config.cache_dir.join("renders")),
        dependencies: Vec::new(),
        remotes: Some(Arc::new(GitRemotes::new(ctx.git.clone(), tokio::runtime::Handle::current(), settings.clone()))),
        kustomize: ctx.config.kustomize,
        sops: Some(ctx.sops.clone()),
        helm_lookup: ctx.helm_lookup.clone(),
    };

    let mut manifests = Vec::new();
    let mut source_type = None;
    for ((src, _), m) in sources.iter().zip(&materialised) {
        // A source that only lends its files to `$ref` renders nothing.
        if is_ref_only(src) {
            continue;
        }
        let (root, mut s, mut rctx) = (m.root.clone(), src.clone(), render_ctx.clone());
        if !is_git(src) && src.chart.is_some() {
            // A chart's root is the chart itself; `path` means nothing there.
            s.path = None;
        }
        if is_git(src) && is_helm(src, m) {
            rctx.dependencies = dependencies(ctx, &settings, src, m).await?;
        }
        let (renders, origin) = (ctx.renders.clone(), src.repo_url.clone());
        let _slot = ctx.render_slots.acquire().await.map_err(|e| format!("render slots: {e}"))?;
        let (rendered, reuse) = tokio::task::spawn_blocking(move || renders.render(&origin, &root, &s, &rctx))
            .await
            .map_err(|e| format!("render task failed: {e}"))?
            .map_err(|e| format!("rendering {} at {}: {e}", src.repo_url, short(&m.revision)))?;
        ctx.config.metrics.render(reuse == driftless_render::Reuse::Hit);
        source_type.get_or_insert(rendered.source_type);
        manifests.extend(rendered.manifests);
    }
    let (targets, excluded) = targets(v, app, manifests).await?;
    let revisions: Vec<String> = materialised.into_iter().map(|m| m.revision).collect();
    Ok(Desired {
        revision: revisions.first().cloned().unwrap_or_default(),
        revisions,
        source_type: source_type.unwrap_or(SourceType::Directory),
        targets,
        fetched_at: now(),
        excluded,
    })
}

/// The sources to render: all of a multi-source app's (with `revision` for
/// `source`), or `source` alone (a single-source app, or a sync to another
/// source).
fn sources_of(app: &Application, source: &ApplicationSource, revision: &str) -> Vec<(ApplicationSource, String)> {
    if app.spec.sources.contains(source) {
        app.spec
            .sources
            .iter()
            .map(|s| {
                let rev = if s == source { revision.to_string() } else { s.target_revision.clone().unwrap_or_default() };
                (s.clone(), rev)
            })
            .collect()
    } else {
        vec![(source.clone(), revision.to_string())]
    }
}

/// A `ref` source with neither path nor chart only provides values files.
fn is_ref_only(s: &ApplicationSource) -> bool {
    s.ref_.as_deref().is_some_and(|r| !r.is_empty())
        && s.path.as_deref().is_none_or(str::is_empty)
        && s.chart.as_deref().is_none_or(str::is_empty)
}

fn is_helm(s: &ApplicationSource, m: &Materialised) -> bool {
    !is_ref_only(s) && (s.helm.is_some() || s.chart.is_some() || m.root.join(s.path.as_deref().unwrap_or(".")).join("Chart.yaml").is_file())
}

/// Puts one source on disk: a chart (`chart` set) from a Helm repository
/// or an OCI registry, an OCI artifact (`oci://` without a chart), else a
/// Git checkout.
async fn materialise(
    ctx: &Sources<'_>,
    settings: &RepoSettings,
    source: &ApplicationSource,
    revision: &str,
) -> Result<Materialised, String> {
    let found = settings.creds_for(&source.repo_url);
    let ca_pem = settings.ca_for(&source.repo_url);
    if let Some(chart) = source.chart.as_deref().filter(|c| !c.is_empty()) {
        let req = ChartRequest {
            repo_url: &source.repo_url,
            chart,
            version: revision,
            creds: found,
            pass_credentials: source.helm.as_deref().is_some_and(|h| h.pass_credentials),
            ca_pem,
        };
        let chart = charts(ctx).pull(&req).await.map_err(|e| e.to_string())?;
        return Ok(Materialised { revision: chart.version, root: chart.path });
    }
    if source.repo_url.starts_with("oci://") {
        let artifact = charts(ctx).pull_artifact(&source.repo_url, revision, found, ca_pem).await.map_err(|e| e.to_string())?;
        return Ok(Materialised { revision: artifact.digest, root: artifact.path });
    }
    let started = std::time::Instant::now();
    let fetched = ctx.git.fetch_since(&source.repo_url, revision, &settings.git_access(&source.repo_url), ctx.since).await;
    // A call that shared another's fetch made no request of its own.
    if fetched.as_ref().map_or(true, |c| c.fetched) {
        ctx.config.metrics.git_request(&source.repo_url, "fetch", started.elapsed().as_secs_f64(), fetched.is_ok());
    }
    let checkout = fetched.map_err(|e| e.to_string())?;
    Ok(Materialised { revision: checkout.revision, root: checkout.path })
}

/// The dependencies a chart kept in Git lacks in its `charts/`, fetched
/// (Chart.lock's versions when it has one) or found in the repository.
async fn dependencies(
    ctx: &Sources<'_>,
    settings: &RepoSettings,
    source: &ApplicationSource,
    m: &Materialised,
) -> Result<Vec<PathBuf>, String> {
    // A path that leaves the checkout is refused by the render; read nothing there.
    let Ok(chart_dir) = m.root.join(source.path.as_deref().unwrap_or(".")).canonicalize() else { return Ok(Vec::new()) };
    if !m.root.canonicalize().is_ok_and(|root| chart_dir.starts_with(root)) {
        return Ok(Vec::new());
    }
    let label = source.path.as_deref().unwrap_or(".");
    let missing = helm_deps::missing(&m.root, &chart_dir).map_err(|e| format!("Helm chart {label}: {e}"))?;
    let mut dirs = Vec::with_capacity(missing.len());
    for dep in missing {
        match dep.source {
            DependencySource::Directory(dir) => dirs.push(dir),
            DependencySource::Repository(url) => {
                let req = ChartRequest {
                    repo_url: &url,
                    chart: &dep.name,
                    version: &dep.version,
                    creds: settings.creds_for(&url),
                    pass_credentials: source.helm.as_deref().is_some_and(|h| h.pass_credentials),
                    ca_pem: settings.ca_for(&url),
                };
                let chart = charts(ctx).pull(&req).await.map_err(|e| format!("Helm chart {label}: dependency {e}"))?;
                dirs.push(chart.path);
            }
        }
    }
    Ok(dirs)
}

fn charts(ctx: &Sources<'_>) -> ChartCache {
    ChartCache::new(ctx.config.cache_dir.join("charts"))
}

fn is_git(s: &ApplicationSource) -> bool {
    s.chart.as_deref().is_none_or(str::is_empty) && !s.repo_url.starts_with("oci://")
}

/// Leaves out the kinds argocd-cm excludes (said in the second list, as
/// Argo CD's ExcludedResourceWarning says them), defaults namespaces,
/// checks the project's rules, stamps tracking.
async fn targets(v: &Validated, app: &Application, manifests: Vec<Manifest>) -> Result<(Vec<Target>, Vec<String>), DesiredError> {
    let (project, destination, tracking) = (&v.project, &v.destination, &v.settings.tracking);
    let instance = tracking.instance_of(app);
    let mut excluded = Vec::new();
    let dest_ns = app.spec.destination.namespace.clone().filter(|s| !s.is_empty());
    let crd_scopes = crd_scopes(&manifests);
    let mut targets = Vec::with_capacity(manifests.len());
    let mut seen: HashMap<ResourceKey, ()> = HashMap::new();
    for mut m in manifests {
        if v.settings.filter.is_excluded(m.group(), m.kind(), &destination.server) {
            excluded.push(format!("Resource {}/{} {} is excluded in the settings", m.group(), m.kind(), m.name()));
            continue;
        }
        let namespaced = match destination.cluster.is_namespaced(m.api_version(), m.kind()).await {
            Ok(n) => n,
            // A kind whose CRD comes with the app: its CRD says.
            Err(ClusterError::UnknownKind { .. }) => {
                crd_scopes.get(&(m.group().to_string(), m.kind().to_string())).copied().unwrap_or(true)
            }
            Err(e) => {
                return Err(DesiredError::Cluster(format!(
                    "discovery of {} {}: {}",
                    m.api_version(),
                    m.kind(),
                    destination.comparison_error(&e)
                )));
            }
        };
        if namespaced && m.namespace().is_none() {
            match &dest_ns {
                Some(ns) => m.set_namespace(ns),
                None => {
                    return Err(format!("{} {} has no namespace and spec.destination.namespace is empty", m.kind(), m.name()).into());
                }
            }
        }
        project::permits_object(project, app, m.group(), m.kind(), m.name(), m.namespace().filter(|_| namespaced))?;
        destination.permits(m.kind(), m.name(), m.namespace().filter(|_| namespaced))?;
        tracking.stamp(&mut m, &instance).map_err(|e| format!("{} {}: {e}", m.kind(), m.name()))?;
        let target = Target::new(m)?;
        if seen.insert(target.key.clone(), ()).is_some() && !target.is_hook() {
            return Err(format!("{} is rendered twice: each resource may appear only once", target.key).into());
        }
        targets.push(target);
    }
    Ok((targets, excluded))
}

/// Scope of the custom resource kinds whose CRDs are among the manifests.
fn crd_scopes(manifests: &[Manifest]) -> HashMap<(String, String), bool> {
    manifests
        .iter()
        .filter(|m| m.kind() == "CustomResourceDefinition")
        .filter_map(|m| {
            let spec = &m.value()["spec"];
            Some((
                (spec["group"].as_str()?.to_string(), spec["names"]["kind"].as_str()?.to_string()),
                spec["scope"].as_str() != Some("Cluster"),
            ))
        })
        .collect()
}

/// The first 7 characters of a commit (or of an artifact's digest, after
/// its `sha256:`), as people read them. Chart versions stay whole.
pub fn short(revision: &str) -> &str {
    match revision.strip_prefix("sha256:") {
        Some(_) => revision.get(.."sha256:".len() + 7).unwrap_or(revision),
        None if revision.chars().all(|c| c.is_ascii_hexdigit()) => revision.get(..7).unwrap_or(revision),
        None => revision,
    }
}

/// The app's name in tracking ids and instance labels, under the control
/// plane `control_plane`.
pub fn instance(app: &Application, control_plane: &str) -> String {
    driftless_sync::tracking::instance_name(control_plane, app.metadata.namespace.as_deref().unwrap_or(""), &app.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(repo: &str, rev: &str, ref_: Option<&str>, path: Option<&str>) -> ApplicationSource {
        ApplicationSource {
            repo_url: repo.into(),
            target_revision: Some(rev.into()),
            ref_: ref_.map(Into::into),
            path: path.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn helm_lookup_is_on_only_for_true() {
        let mut app = Application::default();
        assert!(!helm_lookup_enabled(&app.metadata), "off without the annotation");
        for (value, on) in [
            ("true", true),
            (" TRUE ", true),
            ("True", true),
            ("false", false),
            ("", false),
            ("yes", false),
            ("1", false),
            ("true,true", false),
            ("tru\u{0}e", false),
            ("\u{202e}true", false),
        ] {
            app.metadata.annotations = Some([(ANNOTATION_HELM_LOOKUP.to_string(), value.to_string())].into());
            assert_eq!(helm_lookup_enabled(&app.metadata), on, "{value:?}");
        }
        // Whatever a user writes there never panics.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let text: String = (0..(seed % 9)).map(|i| char::from_u32(((seed >> (i * 7)) % 0x250) as u32).unwrap_or('?')).collect();
            app.metadata.annotations = Some([(ANNOTATION_HELM_LOOKUP.to_string(), text)].into());
            let _ = helm_lookup_enabled(&app.metadata);
        }
    }

    #[test]
    fn a_packed_desired_state_unpacks_to_the_same_targets() {
        let manifest = |v: serde_json::Value| Target::new(Manifest::new(v).unwrap()).unwrap();
        let d = Desired {
            revision: "abc".into(),
            revisions: vec!["abc".into()],
            source_type: SourceType::Kustomize,
            targets: vec![
                manifest(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "annotations": {"argocd.argoproj.io/sync-wave": "-2"}}, "data": {"ratio": "0.1", "n": "1"}})),
                manifest(serde_json::json!({"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": "migrate", "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
                    "spec": {"backoffLimit": 0, "ratio": 0.25, "big": 18446744073709551615u64}})),
            ],
            fetched_at: now(),
            excluded: vec!["Resource /Endpoints e is excluded in the settings".into()],
        };
        let back = PackedDesired::pack(&d).unpack().unwrap();
        assert_eq!(back.excluded, d.excluded);
        assert_eq!(
            (&back.revision, &back.revisions, back.source_type, &back.fetched_at),
            (&d.revision, &d.revisions, d.source_type, &d.fetched_at)
        );
        assert_eq!(format!("{:?}", back.targets), format!("{:?}", d.targets), "manifests, waves and roles survive");
    }

    #[test]
    fn a_multi_source_app_renders_every_source_and_a_rollback_only_its_own() {
        let chart = ApplicationSource { chart: Some("web".into()), ..src("https://charts.example", "1.0.0", None, None) };
        let values = src("https://git.example/values", "main", Some("values"), None);
        let mut app = Application::default();
        app.spec.sources = vec![chart.clone(), values.clone()];

        let all = sources_of(&app, &chart, "1.2.0");
        assert_eq!(
            all.iter().map(|(s, r)| (s.repo_url.as_str(), r.as_str())).collect::<Vec<_>>(),
            [("https://charts.example", "1.2.0"), ("https://git.example/values", "main")]
        );
        let other = src("https://git.example/old", "abc", None, Some("app"));
        assert_eq!(sources_of(&app, &other, "abc").len(), 1);

        assert!(is_ref_only(&values));
        assert!(!is_ref_only(&chart));
        assert!(!is_ref_only(&src("https://git.example/values", "main", Some("values"), Some("manifests"))));
        assert!(!is_git(&chart) && is_git(&values) && !is_git(&src("oci://r.example/a", "v1", None, None)));
    }

    #[test]
    fn short_revisions_for_commits_digests_and_versions() {
        assert_eq!(short("0123456789abcdef0123456789abcdef01234567"), "0123456");
        assert_eq!(short(&format!("sha256:{}", "ab".repeat(32))), "sha256:abababa");
        assert_eq!(short("1.10.0-rc.1"), "1.10.0-rc.1");
    }
}
