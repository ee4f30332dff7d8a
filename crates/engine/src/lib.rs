//! The **engine**: what computes an app's state, for every loop that needs
//! it (the controller, the API server, the CLI), as gitops-engine's
//! `engine` glues its stages together.
//!
//! - [`clusters`]: the destinations (the controller's own cluster and the
//!   ones registered by cluster Secrets), each with its client, discovery,
//!   live watches and connection state;
//! - [`cluster_status`]: the clusters as the API, UI and CLI show them
//!   (probed, with their apps counted), and removing one;
//! - [`desired`]: every source of the app on disk, rendered, as targets;
//! - [`events`]: what happens to an app (sync started, health changed...), derived from its status writes, and the bus they go out on;
//! - [`project`]: AppProject rules (and which namespaces hold apps);
//! - [`repos`]: repository credentials, CAs and SSH host keys, watched; connection tests;
//! - [`impersonation`]: syncs as the project's ServiceAccount;
//! - [`repo_secrets`]: repository Secrets as the API and CLI register them;
//! - [`orphans`]: objects in an app's namespace that no app tracks;
//! - [`policies`]: Rego policies (driftless-policy) from the control plane's ConfigMaps, judging every rendered object;
//! - [`live`]: metadata-only watches that wake apps and index what they track;
//! - [`settings`]: argocd-cm's tracking, exclusions, ignoreDifferences and compare options;
//! - [`status`]: the pure folding of a comparison into `Application.status`;
//! - [`watch`]: keep a kind in memory through a watch that restarts itself;
//! - [`windows`]: AppProject sync windows: when a sync may run, and when that changes.
//!
//! [`Engine`] holds the caches (Git checkouts, renders, desired states,
//! dry-run verdicts) and answers "what is this app's state now?".

pub mod capabilities;
pub mod clock;
pub mod cluster_status;
pub mod clusters;
mod config;
pub mod dependencies;
pub mod desired;
pub mod events;
pub mod finalizer;
#[cfg(test)]
mod fuzz;
pub mod impersonation;
pub mod live;
pub mod orphans;
pub mod policies;
pub mod project;
pub mod register;
pub mod repo_secrets;
pub mod repos;
pub mod settings;
pub mod sops;
pub mod status;
pub mod watch;
pub mod windows;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use driftless_api::{AppProject, Application, ApplicationSource, ApplicationStatus};
use driftless_diff::DiffOptions;
use driftless_health::CustomChecks;
use driftless_render::RenderCache;
use driftless_source::GitCache;
use driftless_sync::compare::{CompareOptions, CompareResult, DryRunMemo, Scope, compare};
use futures::FutureExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

pub use clusters::{Clusters, Destination};
pub use config::EngineConfig;
pub use desired::{Desired, DesiredError, Validated, instance, short};
pub use repos::RepoKind;

/// Objects kept by watching them (none for a one-off comparison, which
/// reads what it needs).
#[derive(Default)]
pub struct Stores {
    /// `argocd-cm`.
    pub settings: Option<Store<ConfigMap>>,
    /// The AppProjects of the control-plane namespace.
    pub projects: Option<Store<AppProject>>,
    /// Repository Secrets, `argocd-tls-certs-cm`, `argocd-ssh-known-hosts-cm`.
    pub repos: repos::RepoStores,
    /// The Secret `sops-age` of the control plane (SOPS age keys).
    pub sops: Option<Store<k8s_openapi::api::core::v1::Secret>>,
    /// The policy ConfigMaps ([`policies::watching`]).
    pub policies: Option<Store<ConfigMap>>,
}

/// The ConfigMap that holds Argo CD's settings, custom health checks among them.
pub const SETTINGS_CONFIGMAP: &str = "argocd-cm";

/// argocd-cm's data, and the settings (or the error) it parsed to.
type ParsedSettings = (std::collections::BTreeMap<String, String>, Result<Arc<settings::AppSettings>, String>);

/// A desired state as kept between reconciles, or the error its render
/// gave: a failed render stays failed until Git is consulted again.
struct CachedDesired {
    /// A digest of the source, project and destination it was rendered for
    /// (the text they make is 1.7 KB an app, kept for each app).
    inputs: [u8; 32],
    fetched: Instant,
    outcome: Result<desired::PackedDesired, String>,
}

/// How recent the Git a desired state is made from must be. Any fetch of
/// the repository begun after `since` will do: apps that need the same
/// freshness share one fetch.
#[derive(Clone, Copy, Debug)]
pub enum Freshness {
    /// A refresh or a requested sync: rendered again.
    Refresh {
        /// When the request was made.
        since: Instant,
    },
    /// The last desired state rendered while the app's inputs are the same
    /// and the resync period has not passed; else rendered again.
    Kept {
        /// What a render needs to see: the app's last change, or the
        /// resync's poll.
        since: Instant,
    },
}

/// How many renders run at once: four a core. Each runs on a blocking
/// thread, and a cold start's 64 reconciles each began one: dozens of
/// threads, whose stacks and allocator caches stayed in memory at the peak,
/// for no more renders at a time than the cores could run.
fn renders_at_once() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Computes apps' states and keeps what makes that cheap.
pub struct Engine {
    /// The control plane's API server (Applications, projects, Secrets).
    pub client: kube::Client,
    /// The destination clusters.
    pub clusters: Arc<Clusters>,
    /// Git mirrors and checkouts.
    pub git: Arc<GitCache>,
    /// Renders kept while the files they read are unchanged.
    pub renders: Arc<RenderCache>,
    /// Renders that may run at once, each on a blocking thread.
    render_slots: tokio::sync::Semaphore,
    /// Dry-run verdicts kept while manifest and live object are unchanged
    /// (only where live watches keep comparisons coming: a one-off
    /// comparison wants the full predicted objects).
    memo: Option<DryRunMemo>,
    /// The last desired state of each app, reused when a live event (not
    /// Git) woke the reconcile.
    desired_cache: Mutex<HashMap<ObjectRef<Application>, CachedDesired>>,
    stores: Stores,
    /// Namespaces scanned for orphaned resources.
    orphan_scans: orphans::Scans,
    /// argocd-cm's data and what it parsed to, parsed again when it changes.
    parsed_settings: Mutex<Option<ParsedSettings>>,
    /// The SOPS age keys, parsed again when their Secret changes.
    sops_keys: sops::Parsed,
    /// The policies, compiled once per change, and their verdicts.
    policies: policies::Policies,
    /// Settings.
    pub config: EngineConfig,
}

impl Engine {
    /// An engine for one-off comparisons (`driftless app diff`, the API's
    /// managed resources): no live watches, no verdicts kept, cluster
    /// Secrets read when needed.
    pub fn one_off(client: kube::Client, config: EngineConfig) -> Engine {
        let clusters =
            Arc::new(Clusters::new(client.clone(), Some(config.control_plane().to_string()), clusters::ClusterOptions::default()));
        Engine { memo: None, ..Engine::build(client, config, clusters, Stores::default()) }
    }

    /// An engine whose destinations wake apps through their live watches
    /// and whose stores are kept by watches.
    pub fn watching(client: kube::Client, config: EngineConfig, clusters: Arc<Clusters>, stores: Stores) -> Engine {
        Engine::build(client, config, clusters, stores)
    }

    fn build(client: kube::Client, config: EngineConfig, clusters: Arc<Clusters>, stores: Stores) -> Engine {
        Engine {
            policies: policies::Policies::new(stores.policies.clone()),
            clusters,
            git: Arc::new(GitCache::new(config.cache_dir.join("git"))),
            renders: Arc::default(),
            render_slots: tokio::sync::Semaphore::new(renders_at_once()),
            memo: Some(DryRunMemo::default()),
            desired_cache: Mutex::default(),
            stores,
            orphan_scans: orphans::Scans::default(),
            parsed_settings: Mutex::default(),
            sops_keys: sops::Parsed::default(),
            client,
            config,
        }
    }

    /// What a desired state is made from; Git fetched unless a fetch begun
    /// after `since` is at hand.
    fn sources(
        &self,
        since: Instant,
        sops: Arc<driftless_render::SopsKeys>,
        helm_lookup: Option<driftless_render::HelmLookup>,
    ) -> desired::Sources<'_> {
        desired::Sources {
            sops,
            helm_lookup,
            git: &self.git,
            renders: &self.renders,
            render_slots: &self.render_slots,
            client: &self.client,
            config: &self.config,
            repos: &self.stores.repos,
            since,
        }
    }

    /// The age keys of the control plane's Secret `sops-age`, as a render
    /// now would decrypt SOPS files with.
    pub async fn sops_keys(&self) -> Arc<driftless_render::SopsKeys> {
        self.sops_keys.get(&self.client, self.config.control_plane(), self.stores.sops.as_ref()).await
    }

    /// The repository settings of the control plane (credentials, CAs, SSH
    /// host keys), as a fetch now would use them.
    pub async fn repo_settings(&self) -> Result<driftless_source::RepoSettings, String> {
        repos::settings(&self.client, self.config.control_plane(), &self.stores.repos).await
    }

    /// Connects to the repository `url` with the credentials that apply to
    /// it (its Secret, else the longest template prefix), as a fetch would:
    /// `git ls-remote`, a Helm repository's index.yaml, an OCI repository's
    /// tags. The error says why, without any credential.
    pub async fn test_repository(&self, url: &str, kind: repos::RepoKind) -> Result<(), String> {
        let settings = self.repo_settings().await?;
        repos::test(&self.git, &settings, settings.creds_for(url), url, kind).await
    }

    /// Connects to the repository `creds.url` with `creds` (not stored yet:
    /// `repo add` tests before writing), its kind from `creds` ([`repos::RepoKind::of`]).
    pub async fn test_repository_with(&self, creds: &driftless_source::RepoCreds) -> Result<(), String> {
        let settings = self.repo_settings().await?;
        repos::test(&self.git, &settings, Some(creds), &creds.url, repos::RepoKind::of(creds)).await
    }

    /// The dry-run verdicts, where this engine keeps them.
    pub fn memo(&self) -> Option<&DryRunMemo> {
        self.memo.as_ref()
    }

    /// The comparison settings for `app` on `destination` (whose
    /// ignoreDifferences were validated when the reconcile began), by
    /// argocd-cm's `settings`. The destination's live watches follow the
    /// settings' tracking.
    pub fn compare_options<'a>(
        &'a self,
        app: &'a Application,
        status: &ApplicationStatus,
        health: &'a CustomChecks,
        destination: &'a Destination,
        settings: &settings::AppSettings,
    ) -> CompareOptionsOwned<'a> {
        destination.live.follow(&settings.tracking);
        CompareOptionsOwned {
            tracked: Some(&destination.live),
            memo: self.memo.as_ref(),
            // An engine that keeps verdicts is the controller's: nobody
            // shows its comparisons' predictions.
            predictions: self.memo.is_none(),
            ..CompareOptionsOwned::new(app, status, health, settings, &destination.server)
        }
    }

    /// argocd-cm's tracking, exclusions, ignoreDifferences customizations
    /// and compare options, parsed again only when the ConfigMap changed.
    /// The error names every bad key: nothing may be compared, synced or
    /// pruned by settings that do not parse.
    pub async fn app_settings(&self) -> Result<Arc<settings::AppSettings>, String> {
        let data = self.settings().await.unwrap_or_default();
        let mut parsed = self.parsed_settings.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, outcome)) = parsed.as_ref()
            && *seen == data
        {
            return outcome.clone();
        }
        let outcome = settings::AppSettings::parse(self.config.control_plane(), &data).map(Arc::new).map_err(|e| settings::describe(&e));
        *parsed = Some((data, outcome.clone()));
        outcome
    }

    /// Custom health checks from the `argocd-cm` ConfigMap: from the watch
    /// once it has listed, else read afresh, so that an edit applies at the
    /// next reconcile. A broken check is logged and the built-in checks apply.
    pub async fn health_checks(&self) -> CustomChecks {
        let data = self.settings().await.unwrap_or_default();
        CustomChecks::from_argocd_cm(&data).unwrap_or_else(|e| {
            tracing::warn!("{SETTINGS_CONFIGMAP}: {e}; using built-in health checks");
            CustomChecks::none()
        })
    }

    /// The data of `argocd-cm` (None without one, or when it cannot be read).
    pub async fn settings(&self) -> Option<std::collections::BTreeMap<String, String>> {
        let ns = self.config.control_plane();
        let watched = self.stores.settings.as_ref().filter(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()));
        match watched {
            Some(store) => store.get(&ObjectRef::new(SETTINGS_CONFIGMAP).within(ns)).and_then(|cm| cm.data.clone()),
            None => {
                let cms: kube::Api<ConfigMap> = kube::Api::namespaced(self.client.clone(), ns);
                match cms.get_opt(SETTINGS_CONFIGMAP).await {
                    Ok(cm) => cm.and_then(|cm| cm.data),
                    Err(e) => {
                        tracing::warn!("reading {SETTINGS_CONFIGMAP} in {ns}: {e}");
                        None
                    }
                }
            }
        }
    }

    /// Checks what can be checked without Git: a source, valid
    /// ignoreDifferences, a namespace and project that may hold the app, a
    /// permitted and known destination. The error is an InvalidSpecError message.
    pub async fn validate(&self, app: &Application) -> Result<Validated, String> {
        let settings = self.app_settings().await?;
        let Some(source) = app.primary_source().cloned() else {
            return Err("spec.source: an Application needs a source (or spec.sources)".into());
        };
        let mut refs = std::collections::HashSet::new();
        for (i, s) in app.spec.sources.iter().enumerate() {
            if let Some(r) = s.ref_.as_deref().filter(|r| !r.is_empty())
                && !refs.insert(r)
            {
                return Err(format!("spec.sources[{i}].ref: {r:?} names two sources; each ref must be unique"));
            }
        }
        DiffOptions::new(&app.spec.ignore_differences).map_err(|e| format!("spec.ignoreDifferences: {e}"))?;
        // Tenancy first: an app its namespace or project may not hold
        // reaches no cluster.
        let project = self.project_of(app).await?;
        let in_cluster_enabled = self.settings().await.is_none_or(|s| clusters::in_cluster_enabled(&s));
        let destination = match self.clusters.resolve(&app.spec.destination, in_cluster_enabled).await {
            Ok(d) => d,
            Err(e) => {
                self.clusters.assign(app, Err(&app.spec.destination));
                return Err(e);
            }
        };
        self.clusters.assign(app, Ok(&destination));
        Ok(Validated { project, source, destination, settings })
    }

    /// The project of `app`, checked to hold the app's namespace (an
    /// InvalidSpecError message if not).
    pub async fn project_of(&self, app: &Application) -> Result<AppProject, String> {
        let project = project::load_for(&self.client, self.stores.projects.as_ref(), &self.config.tenancy, app).await?;
        project::permits(&project, app)?;
        Ok(project)
    }

    /// Checks the project again as a sync starts, for every object it
    /// would apply, hooks included: the project may have changed since the
    /// comparison.
    pub async fn recheck(&self, app: &Application, desired: &Desired) -> Result<(), String> {
        let project = self.project_of(app).await?;
        for t in &desired.targets {
            let m = &t.manifest;
            project::permits_object(&project, app, m.group(), m.kind(), m.name(), t.key.namespace.as_deref())?;
        }
        Ok(())
    }

    /// The policies' verdict on `desired` (hooks included), by the modules
    /// that apply to `project`. Policies that cannot be read give a verdict
    /// that blocks.
    pub async fn policy_verdict(&self, app: &Application, project: &AppProject, desired: Arc<Desired>) -> driftless_policy::Verdict {
        match self.policies.set(&self.client, self.config.control_plane()).await {
            Ok(set) => self.policies.judge(set, app, project, desired).await,
            Err(msg) => driftless_policy::Verdict::failure(msg),
        }
    }

    /// Judges `desired` as a sync starts, with the project and policies as
    /// they are now: the error lists what blocks (a sync then applies nothing).
    pub async fn policy_check(&self, app: &Application, desired: &Arc<Desired>) -> Result<(), String> {
        let project = self.project_of(app).await?;
        match self.policy_verdict(app, &project, desired.clone()).await.blocking_summary(policies::SHOWN) {
            Some(blocked) => Err(blocked),
            None => Ok(()),
        }
    }

    /// The orphaned resources in the app's destination namespace, when its
    /// project asks for them (None when it does not, or the app has no
    /// destination namespace).
    pub async fn orphans(&self, app: &Application, v: &Validated) -> Option<Result<Vec<orphans::Orphan>, String>> {
        let settings = v.project.spec.orphaned_resources.as_ref()?;
        let namespace = app.spec.destination.namespace.as_deref().filter(|n| !n.is_empty())?;
        let dest = &v.destination;
        Some(self.orphan_scans.orphans(dest.cluster.client(), &dest.server, namespace, &v.settings, settings).await)
    }

    /// How Helm's `lookup` reaches the destination, for an app that opted
    /// in ([`desired::ANNOTATION_HELM_LOOKUP`]): with the destination's own
    /// credentials, as the project's ServiceAccount when impersonation is
    /// on (the error: no matching account). None: `lookup` sees nothing.
    async fn helm_lookup(&self, app: &Application, v: &Validated) -> Result<Option<driftless_render::HelmLookup>, String> {
        if !desired::helm_lookup_enabled(&app.metadata) {
            return Ok(None);
        }
        // What `lookup` reads is not bound by the project's rules, and the
        // app's annotation is anyone's to write who may edit the app: the
        // project's administrator must allow it too.
        if !desired::helm_lookup_enabled(&v.project.metadata) {
            return Err(format!(
                "Helm lookup: the app asks for it (annotation {key}), but its project {project} does not allow it; an \
                 administrator allows it with the annotation {key}: \"true\" on the AppProject",
                key = desired::ANNOTATION_HELM_LOOKUP,
                project = v.project.metadata.name.as_deref().unwrap_or("default"),
            ));
        }
        let as_user = if self.settings().await.is_some_and(|s| impersonation::enabled(&s)) {
            let namespace = app.spec.destination.namespace.as_deref().unwrap_or_default();
            Some(impersonation::service_account(&v.project, &v.destination.server, namespace).map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(Some(driftless_render::HelmLookup { kubeconfig: v.destination.kubeconfig(), as_user }))
    }

    /// What a sync of `app` writes through: with impersonation enabled in
    /// argocd-cm, the destination as the project's ServiceAccount for it;
    /// else None, the destination's own client. The error (no matching
    /// account) stops the sync before anything is applied.
    pub async fn sync_cluster(&self, app: &Application, v: &Validated) -> Result<Option<driftless_sync::cluster::Cluster>, String> {
        if !self.settings().await.is_some_and(|s| impersonation::enabled(&s)) {
            return Ok(None);
        }
        let namespace = app.spec.destination.namespace.as_deref().unwrap_or_default();
        let user = impersonation::service_account(&v.project, &v.destination.server, namespace).map_err(|e| e.to_string())?;
        let client = impersonation::impersonating(v.destination.cluster.client(), &user).map_err(|e| e.to_string())?;
        Ok(Some(driftless_sync::cluster::Cluster::new(client)))
    }

    /// The desired state of `app` at `revision`, from Git as recent as
    /// `fresh` asks: rendered again on a refresh, or when the spec changed
    /// or the resync period passed; else the last one rendered, so that a
    /// burst of live events costs no Git traffic. A render that failed
    /// stays the answer until Git is consulted again: a live event must not
    /// bring back the state of an older revision.
    pub async fn desired_for(&self, app: &Application, v: &Validated, revision: &str, fresh: Freshness) -> Result<Arc<Desired>, String> {
        let key = ObjectRef::from_obj(app);
        let sops = self.sops_keys().await;
        // argocd-cm's tracking and exclusions shape the targets too; the
        // SOPS keys what was decrypted.
        let helm_lookup = self.helm_lookup(app, v).await?;
        let inputs: [u8; 32] = {
            use sha2::Digest;
            let spec = serde_json::to_vec(&(&v.source, &app.spec.sources, revision, &app.spec.destination, &v.project.spec));
            let settings = format!("{:?}{:?}{}{helm_lookup:?}", v.settings.tracking, v.settings.filter, sops.fingerprint());
            sha2::Sha256::new().chain_update(spec.unwrap_or_default()).chain_update(settings).finalize().into()
        };
        let max_age = self.config.resync.mul_f32(0.9);
        if let Freshness::Kept { .. } = fresh {
            let cache = self.desired_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get(&key).filter(|c| c.inputs == inputs && c.fetched.elapsed() < max_age) {
                return match &c.outcome {
                    Ok(packed) => packed.unpack().map(Arc::new),
                    Err(msg) => Err(msg.clone()),
                };
            }
        }
        let since = match fresh {
            Freshness::Refresh { since } | Freshness::Kept { since } => since,
        };
        let sources = self.sources(since, sops, helm_lookup);
        let kept = match desired::desired(&sources, app, v, &v.source, revision).await {
            Ok(d) => Ok(Arc::new(d)),
            // The cluster may answer at the next attempt: nothing to keep.
            Err(DesiredError::Cluster(msg)) => return Err(msg),
            Err(DesiredError::Other(msg)) => Err(msg),
        };
        let packed = kept.as_ref().map(|d| desired::PackedDesired::pack(d)).map_err(Clone::clone);
        self.desired_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, CachedDesired { inputs, fetched: Instant::now(), outcome: packed });
        kept
    }

    /// The desired state of `source` at `revision`, rendered now and not
    /// kept (a sync to another revision: a rollback).
    pub async fn desired_at(
        &self,
        app: &Application,
        v: &Validated,
        source: &ApplicationSource,
        revision: &str,
    ) -> Result<Desired, String> {
        self.desired_at_since(app, v, source, revision, Instant::now()).await
    }

    /// As [`Self::desired_at`], with any fetch of the sources begun after
    /// `since` good enough: a revision that is a commit needs no newer
    /// fetch (an app's deletion renders its last synced one at every pass).
    pub async fn desired_at_since(
        &self,
        app: &Application,
        v: &Validated,
        source: &ApplicationSource,
        revision: &str,
        since: Instant,
    ) -> Result<Desired, String> {
        let sops = self.sops_keys().await;
        let helm_lookup = self.helm_lookup(app, v).await?;
        desired::desired(&self.sources(since, sops, helm_lookup), app, v, source, revision).await.map_err(|e| e.to_string())
    }

    /// Compares `desired` with the destination.
    pub async fn compare(
        &self,
        desired: &Desired,
        destination: &Destination,
        opts: &CompareOptionsOwned<'_>,
    ) -> Result<CompareResult, String> {
        destination.reachable()?;
        compare(&destination.cluster, &desired.targets, &opts.options()).await.map_err(|e| destination.comparison_error(&e))
    }

    /// Renders `app` at its target revision and compares it with its
    /// cluster, as a reconcile would, without writing anything: what
    /// `driftless app diff` and `app manifests` show. The error is the
    /// condition a reconcile would set.
    pub async fn compare_app(&self, app: &Application) -> Result<(Desired, CompareResult), String> {
        let v = self.validate(app).await?;
        let revision = v.source.target_revision.clone().unwrap_or_default();
        let d = self.desired_at(app, &v, &v.source, &revision).await?;
        let status = app.status.clone().unwrap_or_default();
        let checks = self.health_checks().await;
        let c = self.compare(&d, &v.destination, &self.compare_options(app, &status, &checks, &v.destination, &v.settings)).await?;
        Ok((d, c))
    }

    /// The diff options a comparison of `app` uses (its ignoreDifferences,
    /// then argocd-cm's customizations and compare options): what the CLI
    /// and the API normalise a shown diff with.
    pub async fn diff_options(&self, app: &Application) -> Result<DiffOptions, String> {
        self.app_settings().await?.diff_options(&app.spec.ignore_differences).map_err(|e| format!("spec.ignoreDifferences: {e}"))
    }

    /// Drops the kept renders of the app's sources (another app rendering
    /// the very same source renders it once more).
    pub fn forget_renders(&self, app: &Application) {
        for s in app.spec.source.iter().chain(&app.spec.sources) {
            self.renders.forget(&s.repo_url, s);
        }
    }

    /// Renders and dry-runs the app again from scratch at its next
    /// comparison (a hard refresh).
    pub fn forget_verdicts(&self, app: &Application) {
        self.forget_renders(app);
        if let Some(memo) = &self.memo {
            memo.forget(&instance(app, self.config.control_plane()));
        }
    }

    /// Forgets what is kept about an app that is gone.
    pub fn forget(&self, app: &Application) {
        // A deleted app's renders would otherwise stay for good: preview
        // environments come and go by the thousand.
        self.forget_verdicts(app);
        let key = ObjectRef::from_obj(app);
        self.desired_cache.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        self.clusters.forget_app(&key);
        self.config.metrics.forget_app(&app.namespace().unwrap_or_default(), &app.name_any());
    }
}

/// [`CompareOptions`] with the data it borrows.
pub struct CompareOptionsOwned<'a> {
    instance: String,
    tracking: driftless_sync::Tracking,
    previously: Vec<Scope>,
    diff: DiffOptions,
    health: &'a CustomChecks,
    validate: bool,
    tracked: Option<&'a live::LiveWatches>,
    memo: Option<&'a DryRunMemo>,
    predictions: bool,
    /// What a sync's applies just left: keys and resourceVersions.
    pub fresh: Vec<(driftless_sync::ResourceKey, String)>,
}

impl<'a> CompareOptionsOwned<'a> {
    fn new(
        app: &'a Application,
        status: &ApplicationStatus,
        health: &'a CustomChecks,
        settings: &settings::AppSettings,
        server: &str,
    ) -> Self {
        // A kind argocd-cm now excludes is no longer looked for: never pruned.
        let previously = status
            .resources
            .iter()
            .filter(|r| !settings.filter.is_excluded(&r.group, &r.kind, server))
            .map(|r| Scope {
                api_version: if r.group.is_empty() { r.version.clone() } else { format!("{}/{}", r.group, r.version) },
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
            })
            .collect();
        let validate = !driftless_api::SyncOptions::parse(app.spec.sync_policy.iter().flat_map(|p| p.sync_options.iter())).no_validate;
        CompareOptionsOwned {
            instance: settings.tracking.instance_of(app),
            tracking: settings.tracking.clone(),
            previously,
            diff: settings.diff_options(&app.spec.ignore_differences).unwrap_or_default(),
            health,
            validate,
            tracked: None,
            memo: None,
            predictions: true,
            fresh: Vec::new(),
        }
    }

    /// The borrowed view [`compare`] takes.
    pub fn options(&self) -> CompareOptions<'_> {
        CompareOptions {
            instance: &self.instance,
            tracking: &self.tracking,
            previously: &self.previously,
            diff: &self.diff,
            health: self.health,
            validate: self.validate,
            tracked: self.tracked.map(|t| t as &(dyn driftless_sync::compare::TrackedIndex + Sync)),
            memo: self.memo,
            fresh: &self.fresh,
            predictions: self.predictions,
        }
    }
}
