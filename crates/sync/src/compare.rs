//! Comparing an app's desired targets with the cluster: per-resource sync
//! and health status, the app's totals, and what left Git.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use driftless_api::{
    ANNOTATION_COMPARE_OPTIONS, ANNOTATION_SYNC_OPTIONS, HealthStatus, HealthStatusCode, ResourceSyncOptions, SyncStatusCode,
};
use driftless_diff::{Comparison, DiffOptions};
use driftless_health::CustomChecks;
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use crate::cluster::{Cluster, ClusterError, FIELD_MANAGER};
use crate::plan::{Extraneous, Role, Target};
use crate::{ResourceKey, Tracking};

/// Requests in flight at once for one app: enough to hide the round trips
/// of an app's objects without letting one app crowd out the others.
pub const PARALLEL_REQUESTS: usize = 8;

/// A kind and where to look for it: what the app manages or managed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scope {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; None for cluster-scoped kinds.
    pub namespace: Option<String>,
}

/// One resource of the app: in Git, in the cluster, or both.
#[derive(Clone, Debug)]
pub struct ResourceState {
    /// Identity.
    pub key: ResourceKey,
    /// API version (desired, else live).
    pub api_version: String,
    /// Synced or OutOfSync.
    pub sync: SyncStatusCode,
    /// Health of the live object; Missing when it does not exist.
    pub health: Option<HealthStatus>,
    /// Live, no longer in Git.
    pub requires_pruning: bool,
    /// Its pruning or deletion waits for a person's confirmation
    /// (`Prune=confirm` or `Delete=confirm`, in Git or, once it left Git,
    /// on the live object), as Argo CD's `requiresDeletionConfirmation`.
    pub requires_deletion_confirmation: bool,
    /// The wave, for display.
    pub wave: i64,
    /// The live object, as far as this comparison looked.
    pub live: Live,
    /// What the server predicts applying Git would give (or the desired
    /// manifest when no dry run was possible); None when the verdict of an
    /// earlier dry run was reused from a [`DryRunMemo`], or when
    /// [`CompareOptions::predictions`] is off.
    pub predicted: Option<Value>,
    /// The server accepted the desired manifest in a dry run against this
    /// live object (now, or at the same resourceVersion before), so a sync
    /// need not dry-run it again.
    pub validated: bool,
    /// Which fields differ.
    pub diff: Comparison,
}

/// What a comparison knows of a resource's live object.
#[derive(Clone, Debug, PartialEq)]
pub enum Live {
    /// There is none.
    Missing,
    /// As fetched now, or as an apply returned it a moment ago.
    Object(Value),
    /// The same resourceVersion an earlier comparison of the same manifest
    /// saw, by the live index: not fetched again, and its verdict, health
    /// and images are that comparison's. Or, by the index, changed since
    /// only where that verdict does not read (its status): the health is
    /// the one the index saw ([`Observed`]).
    Unchanged,
}

impl Live {
    /// The object, when this comparison has it.
    pub fn object(&self) -> Option<&Value> {
        match self {
            Live::Object(v) => Some(v),
            Live::Missing | Live::Unchanged => None,
        }
    }

    /// Whether the object exists.
    pub fn exists(&self) -> bool {
        !matches!(self, Live::Missing)
    }
}

/// The outcome of comparing an app.
#[derive(Clone, Debug)]
pub struct CompareResult {
    /// Resources in Git, then resources that left Git, in key order.
    pub resources: Vec<ResourceState>,
    /// Synced when every resource is and nothing needs pruning.
    pub sync: SyncStatusCode,
    /// The worst health of the resources.
    pub health: HealthStatusCode,
    /// Container images of the live resources, sorted.
    pub images: Vec<String>,
    /// Live resources that left Git, for the planner.
    pub extraneous: Vec<Extraneous>,
    /// Problems that did not stop the comparison (e.g. a failed dry run).
    pub warnings: Vec<String>,
    /// Resources of the app whose live object another app tracks: never
    /// applied or pruned by this one (SharedResourceWarning).
    pub shared: Vec<Shared>,
}

/// A desired resource whose live object belongs to another app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    /// The resource.
    pub key: ResourceKey,
    /// The instance name of the app that tracks it.
    pub owner: String,
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is tracked by app {}", self.key, self.owner)
    }
}

/// What the comparison needs besides the targets.
pub struct CompareOptions<'a> {
    /// The app's name in tracking ids.
    pub instance: &'a str,
    /// Which live objects belong to which app.
    pub tracking: &'a Tracking,
    /// Where the app kept resources before (from its status), so that
    /// resources removed from Git are still found.
    pub previously: &'a [Scope],
    /// ignoreDifferences.
    pub diff: &'a DiffOptions,
    /// Custom health checks.
    pub health: &'a CustomChecks,
    /// Ask the server to validate fields strictly in dry runs.
    pub validate: bool,
    /// Which objects of a kind the app tracks, if a live index knows:
    /// they are then fetched one by one instead of listing the kind.
    pub tracked: Option<&'a (dyn TrackedIndex + Sync)>,
    /// Dry-run verdicts to reuse while neither side changed.
    pub memo: Option<&'a DryRunMemo>,
    /// Objects a sync's applies just left, with their resourceVersion
    /// ([`crate::execute::Outcome::applied`]): while the verdict kept when
    /// each was applied stands, they are neither fetched nor dry-run again.
    pub fresh: &'a [(ResourceKey, String)],
    /// Keep each resource's [`ResourceState::predicted`], for a diff shown
    /// to a person. A controller reads only the verdicts: without them, its
    /// comparisons in flight hold no copy of the manifests.
    pub predictions: bool,
}

/// Server-side dry runs kept between comparisons, as Argo CD keeps its
/// server-side diff results. A dry run's outcome depends on the desired
/// manifest and the live object, so while the manifest and the live
/// resourceVersion are unchanged the verdict stands: a comparison woken by
/// nothing new dry-runs nothing and fetches nothing. Status is neither
/// applied nor compared, so a live object whose status alone changed (a
/// Deployment rolling out) is not dry-run again, and not even fetched when
/// the live index saw the change ([`Observed`]): the health is the one it
/// saw. A hard refresh forgets an app's verdicts.
#[derive(Default)]
pub struct DryRunMemo {
    /// By app; a B-tree per app rather than a hash table: a table for ten
    /// verdicts has sixteen slots, a B-tree's leaf eleven.
    apps: Mutex<HashMap<String, BTreeMap<ResourceKey, Verdict>>>,
}

#[derive(Clone)]
struct Verdict {
    /// Hash of the desired manifest and the comparison settings.
    input: u64,
    resource_version: String,
    /// [`content_hash`] of the live object.
    content: u64,
    diff: Comparison,
    /// What the live object at that resourceVersion showed.
    health: Option<HealthStatus>,
    images: Vec<String>,
}

impl DryRunMemo {
    /// Forgets the verdicts of the app `instance`.
    pub fn forget(&self, instance: &str) {
        self.lock().remove(instance);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<ResourceKey, Verdict>>> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that `manifest` was just server-side applied to `key` and gave
    /// `live`: a dry run of the same manifest against that object predicts
    /// the object itself, so it is in sync.
    pub fn applied(&self, opts: &CompareOptions<'_>, key: &ResourceKey, manifest: &Value, live: &Value) {
        let (health, images) = observe(live, opts.health);
        let verdict = Verdict {
            input: verdict_input(manifest, settings_hash(opts)),
            resource_version: live["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string(),
            content: content_hash(live, manifest, Reads::of(opts, key)),
            diff: Comparison { in_sync: true, changed: Vec::new() },
            health,
            images,
        };
        self.lock().entry(opts.instance.to_string()).or_default().insert(key.clone(), verdict);
    }

    /// Whether the app's object `key` has been seen live at all.
    fn seen(&self, instance: &str, key: &ResourceKey) -> bool {
        self.lock().get(instance).is_some_and(|a| a.contains_key(key))
    }

    /// The verdict kept for the same manifest and settings; the caller
    /// checks that it saw the same live object (resourceVersion, or content).
    fn kept(&self, instance: &str, key: &ResourceKey, input: u64) -> Option<Verdict> {
        self.lock().get(instance)?.get(key).filter(|v| v.input == input).cloned()
    }

    /// Keeps exactly `verdicts` for the app: resources that left Git or whose
    /// dry run failed drop out.
    fn replace(&self, instance: &str, verdicts: BTreeMap<ResourceKey, Verdict>) {
        self.lock().insert(instance.to_string(), verdicts);
    }
}

/// The comparison settings a dry run's verdict depends on (hashed once
/// per comparison, not per resource).
fn settings_hash(opts: &CompareOptions<'_>) -> u64 {
    use std::fmt::Write;
    let mut h = DefaultHasher::new();
    opts.validate.hash(&mut h);
    // The health checks too: a verdict also keeps the health it saw.
    let _ = write!(HashWriter(&mut h), "{:?}{:?}", opts.diff, opts.health);
    h.finish()
}

/// Feeds what is written to it to a hasher: a value is hashed as its text
/// without the text being built (on a cold start, each app's objects were
/// serialized into strings three times over, only to be hashed).
struct HashWriter<'a>(&'a mut DefaultHasher);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// Hashes `value` as its JSON text (self-delimiting, so values hashed one
/// after the other cannot be mistaken for others).
fn hash_json(h: &mut DefaultHasher, value: &Value) {
    // Writing to a hasher cannot fail, and a Value always serializes.
    let _ = serde_json::to_writer(HashWriter(h), value);
}

/// What a server-side apply of a manifest depends on, and the comparison
/// reads, of a live object, kept so that it can be told for any manifest
/// ([`Digest::content`]) and by a live watch that knows none: the object
/// without its status (unless the comparison reads it: [`Reads`]),
/// resourceVersion and generation, with only driftless' own managedFields
/// entries (without their time, which moves with every write), and each
/// annotation and label apart. Another writer's annotation or label, such
/// as the Deployment controller's `deployment.kubernetes.io/revision` just
/// after a create, is kept by an apply and equal on both sides of the
/// comparison: it cannot change the verdict, so it costs no dry run (nor,
/// seen by a watch, a fetch). A change to anything the manifest sets, to
/// the spec, or to what driftless owns does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// Everything counted but the annotations and labels.
    rest: u64,
    /// Each annotation and label: hash of (field, key), hash of the value;
    /// sorted.
    marks: Box<[(u64, u64)]>,
}

/// What of a live object, beyond its spec and what the manifest sets, a
/// comparison reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Every writer's managedFields entry (an ignoreDifferences rule by
    /// `managedFieldsManagers` reads who owns what), not only driftless'.
    pub managers: bool,
    /// The status (argocd-cm's `ignoreResourceStatusField` does not leave
    /// out the kind's).
    pub status: bool,
}

impl Reads {
    /// What `opts` reads of objects of `key`'s kind.
    fn of(opts: &CompareOptions<'_>, key: &ResourceKey) -> Reads {
        Reads { managers: opts.diff.reads_managed_fields(), status: !opts.diff.ignores_status(&key.group, &key.kind) }
    }
}

impl Digest {
    /// The digest of `live`, for a comparison that `reads` so much of it.
    pub fn of(live: &Value, reads: Reads) -> Digest {
        let mut h = DefaultHasher::new();
        let mut marks = Vec::new();
        match live.as_object() {
            None => hash_json(&mut h, live),
            Some(object) => {
                for (field, value) in object {
                    match (field.as_str(), value.as_object()) {
                        ("status", _) if !reads.status => {}
                        ("metadata", Some(meta)) => {
                            field.hash(&mut h);
                            digest_metadata(&mut h, &mut marks, meta, reads.managers);
                        }
                        _ => {
                            field.hash(&mut h);
                            hash_json(&mut h, value);
                        }
                    }
                }
            }
        }
        marks.sort_unstable();
        Digest { rest: h.finish(), marks: marks.into() }
    }

    /// The hash of what a dry run of `desired` depends on: the rest, and
    /// only the annotations and labels `desired` sets.
    pub fn content(&self, desired: &Value) -> u64 {
        let mut set: Vec<(u64, u64)> = ["annotations", "labels"]
            .into_iter()
            .flat_map(|field| desired["metadata"][field].as_object().into_iter().flatten().map(move |(k, _)| mark_key(field, k)))
            .filter_map(|key| self.marks.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| self.marks[i]))
            .collect();
        set.sort_unstable();
        let mut h = DefaultHasher::new();
        self.rest.hash(&mut h);
        set.hash(&mut h);
        h.finish()
    }
}

/// [`Digest::of`]'s part for the metadata.
fn digest_metadata(h: &mut DefaultHasher, marks: &mut Vec<(u64, u64)>, meta: &serde_json::Map<String, Value>, all_managers: bool) {
    for (field, value) in meta {
        match field.as_str() {
            // The generation follows the spec, and a Deployment's its
            // annotations too: each counted here by what changed.
            "resourceVersion" | "generation" => {}
            "managedFields" => {
                field.hash(h);
                let entries = value.as_array().into_iter().flatten();
                for entry in entries.filter(|e| (all_managers || e["manager"] == FIELD_MANAGER) && e["subresource"] != "status") {
                    // One mark per entry keeps the entries apart.
                    h.write_u8(0);
                    match entry.as_object() {
                        Some(e) => e.iter().filter(|(k, _)| *k != "time").for_each(|(k, v)| {
                            k.hash(h);
                            hash_json(h, v);
                        }),
                        None => hash_json(h, entry),
                    }
                }
            }
            "annotations" | "labels" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    let mut vh = DefaultHasher::new();
                    hash_json(&mut vh, v);
                    marks.push((mark_key(field, k), vh.finish()));
                }
            }
            _ => {
                field.hash(h);
                hash_json(h, value);
            }
        }
    }
}

/// The hash naming an annotation or a label in a [`Digest`].
fn mark_key(field: &str, key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    field.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

/// [`Digest::content`] of `live` for `desired`.
fn content_hash(live: &Value, desired: &Value, reads: Reads) -> u64 {
    Digest::of(live, reads).content(desired)
}

/// What a live watch saw of an object, beyond its identity, at the
/// resourceVersion it indexed: enough for a comparison to keep its verdict
/// without fetching the object when only what the verdict does not read
/// changed (a Deployment's status during a rollout), with the health that
/// status shows. Each rollout step otherwise cost a GET per object.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// [`Digest`] of the object (driftless' own managedFields entries).
    pub digest: Digest,
    /// Its health by the built-in checks ([`CustomChecks::none`]): used
    /// only where the comparison's checks add no script for the kind.
    pub health: Option<HealthStatus>,
}

impl Observed {
    /// What `live` shows.
    pub fn of(live: &Value) -> Observed {
        let health = driftless_health::assess(live, &CustomChecks::none())
            .unwrap_or_else(|e| Some(HealthStatus::new(HealthStatusCode::Unknown, e.to_string())));
        Observed { digest: Digest::of(live, Reads::default()), health }
    }

    /// `kept`, moved to the `version` this was seen at, when nothing it
    /// depends on changed there: the same [`Digest::content`] for
    /// `desired`, a comparison that reads neither the status nor who owns
    /// what, and a health its checks would judge the same way. Only
    /// forward: a watch behind the fetch that made `kept` would show an
    /// older health.
    fn restate(&self, kept: &Verdict, version: &str, key: &ResourceKey, desired: &Value, opts: &CompareOptions<'_>) -> Option<Verdict> {
        let same = later(version, &kept.resource_version)
            && Reads::of(opts, key) == Reads::default()
            && driftless_health::judged_builtin(opts.health, &key.group, &key.kind)
            && self.digest.content(desired) == kept.content;
        same.then(|| Verdict { resource_version: version.to_string(), health: self.health.clone(), ..kept.clone() })
    }
}

/// The health and images of a live object.
fn observe(live: &Value, checks: &CustomChecks) -> (Option<HealthStatus>, Vec<String>) {
    let health =
        driftless_health::assess(live, checks).unwrap_or_else(|e| Some(HealthStatus::new(HealthStatusCode::Unknown, e.to_string())));
    let mut images = BTreeSet::new();
    collect_images(live, &mut images);
    (health, images.into_iter().collect())
}

/// Whether resourceVersion `a` is later than `b`. The API server's are
/// etcd revisions, comparable as integers (KEP-5504); any other (an
/// aggregated API's) is never taken for later.
fn later(a: &str, b: &str) -> bool {
    matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if a > b)
}

/// What a dry run's verdict depends on besides the live object: the desired
/// manifest and the settings.
fn verdict_input(desired: &Value, settings: u64) -> u64 {
    let mut h = DefaultHasher::new();
    hash_json(&mut h, desired);
    settings.hash(&mut h);
    h.finish()
}

/// An index of the objects each app tracks, kept by live watches.
pub trait TrackedIndex {
    /// Every object of `api_version`/`kind` tracked by the app `instance`;
    /// None while the index cannot answer for that kind (not watched yet,
    /// or its first listing is not complete).
    fn tracked(&self, api_version: &str, kind: &str, instance: &str) -> Option<Vec<Tracked>>;

    /// Whether the object `namespace`/`name` of that kind may be tracked by
    /// an app other than `instance` (it must then be fetched: a desired
    /// object of this app that another app tracks is never taken over).
    fn claimed_elsewhere(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str, instance: &str) -> bool;
}

/// An object a [`TrackedIndex`] knows.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracked {
    /// Namespace; None when cluster-scoped.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The resourceVersion the index last saw.
    pub resource_version: String,
    /// What the index saw of it there (None: a kind whose watch reads
    /// metadata alone, or an object it could not read whole).
    pub observed: Option<Arc<Observed>>,
}

/// Compares targets with the cluster.
pub async fn compare(cluster: &Cluster, targets: &[Target], opts: &CompareOptions<'_>) -> Result<CompareResult, ClusterError> {
    let resources: Vec<&Target> = targets.iter().filter(|t| t.role == Role::Resource).collect();

    // Find every live object tracked by the app, in every place it has or had resources.
    let mut scopes: BTreeSet<Scope> = opts.previously.iter().cloned().collect();
    for t in targets {
        scopes.insert(Scope { api_version: t.manifest.api_version().into(), kind: t.key.kind.clone(), namespace: t.key.namespace.clone() });
    }
    let mut live: BTreeMap<ResourceKey, Value> = BTreeMap::new();
    let mut listed = BTreeSet::new();
    let mut wanted: BTreeMap<ResourceKey, String> = BTreeMap::new();
    // The resourceVersion the live index shows for each object it knows,
    // and what it saw there.
    let mut indexed: HashMap<ResourceKey, (String, Option<Arc<Observed>>)> = HashMap::new();
    // Desired objects another app tracks, with that app's instance name.
    let mut shared: BTreeMap<ResourceKey, (Value, String)> = BTreeMap::new();
    for s in &scopes {
        if !listed.insert((s.api_version.clone(), s.kind.clone(), s.namespace.clone())) {
            continue;
        }
        match opts.tracked.and_then(|index| Some((index, index.tracked(&s.api_version, &s.kind, opts.instance)?))) {
            // Targeted fetches: cost grows with the app, not with the cluster.
            Some((index, known)) => {
                let known = known.into_iter().map(|t| (t.namespace, t.name, Some((t.resource_version, t.observed))));
                // The desired objects are fetched by name too: the index may
                // not have seen an object created a moment ago. One the index
                // lacks and that was never seen live (an app's first sync)
                // is known to be missing without asking, unless another
                // app may track it.
                let desired = targets
                    .iter()
                    .filter(|t| t.key.kind == s.kind && t.manifest.api_version() == s.api_version)
                    .filter(|t| {
                        opts.memo.is_none_or(|m| m.seen(opts.instance, &t.key))
                            || index.claimed_elsewhere(&s.api_version, &s.kind, t.key.namespace.as_deref(), &t.key.name, opts.instance)
                    })
                    .map(|t| (t.key.namespace.clone(), t.key.name.clone(), None));
                for (namespace, name, version) in known.chain(desired) {
                    if s.namespace.is_some() && namespace != s.namespace {
                        continue;
                    }
                    let key = ResourceKey { group: group_of(&s.api_version), kind: s.kind.clone(), namespace, name };
                    if let Some(v) = version {
                        indexed.insert(key.clone(), v);
                    }
                    wanted.entry(key).or_insert_with(|| s.api_version.clone());
                }
            }
            None => {
                for obj in cluster.list(&s.api_version, &s.kind, s.namespace.as_deref()).await? {
                    file(ResourceKey::of(&obj), obj, opts, &resources, &mut live, &mut shared);
                }
            }
        }
    }
    wanted.retain(|key, _| !live.contains_key(key) && !shared.contains_key(key));
    // A sync's apply left the object at this version, whatever the index
    // has caught up with.
    for (key, version) in opts.fresh {
        if wanted.contains_key(key) {
            indexed.insert(key.clone(), (version.clone(), None));
        }
    }
    // A desired object the index shows at the version an earlier comparison
    // of the same manifest saw is not fetched: that comparison's verdict
    // stands. Nor is one the index saw change only where the verdict does
    // not read (its status): the verdict stands with the health the index
    // saw. Most wakes (a Deployment's rollout) change one object of many,
    // and only its status.
    let settings = settings_hash(opts);
    let inputs: HashMap<&ResourceKey, (u64, &Value)> =
        resources.iter().map(|t| (&t.key, (verdict_input(t.manifest.value(), settings), t.manifest.value()))).collect();
    let mut unchanged: HashMap<ResourceKey, Verdict> = HashMap::new();
    if let Some(memo) = opts.memo {
        wanted.retain(|key, _| {
            let kept = indexed.get(key).zip(inputs.get(key)).and_then(|((version, observed), (input, desired))| {
                let kept = memo.kept(opts.instance, key, *input)?;
                if kept.resource_version == *version {
                    return Some(kept);
                }
                observed.as_ref()?.restate(&kept, version, key, desired, opts)
            });
            kept.map(|v| unchanged.insert(key.clone(), v)).is_none()
        });
    }
    // The futures are built before they are streamed: a closure inside the
    // stream would make the whole reconcile future fail to be `Send`.
    let gets: Vec<_> =
        wanted.into_iter().map(|(key, api_version)| async move { cluster.get(&api_version, &key).await.map(|obj| (key, obj)) }).collect();
    let fetched: Vec<_> = stream::iter(gets).buffer_unordered(PARALLEL_REQUESTS).try_collect().await?;
    for (key, obj) in fetched {
        if let Some(obj) = obj {
            file(key, obj, opts, &resources, &mut live, &mut shared);
        }
    }
    // Another app's object is compared (the diff shows how the two apps
    // disagree) but never counted as this app's: no verdict is kept for it.
    let shared_owners: Vec<Shared> = shared.iter().map(|(key, (_, owner))| Shared { key: key.clone(), owner: owner.clone() }).collect();
    let mut shared_live: BTreeMap<ResourceKey, Value> = shared.into_iter().map(|(k, (obj, _))| (k, obj)).collect();

    let pairs: Vec<(&Target, Live, Option<Verdict>)> = resources
        .iter()
        .map(|t| match (live.remove(&t.key).or_else(|| shared_live.remove(&t.key)), unchanged.remove(&t.key)) {
            (Some(obj), _) => (*t, Live::Object(obj), None),
            (None, Some(kept)) => (*t, Live::Unchanged, Some(kept)),
            (None, None) => (*t, Live::Missing, None),
        })
        .collect();
    let mut warnings = Vec::new();
    let inputs = &inputs;
    let dry_runs: Vec<_> = pairs
        .iter()
        .map(|(t, live_obj, kept)| async move {
            let desired = t.manifest.value();
            let input = inputs.get(&t.key).map(|(input, _)| *input).unwrap_or_default();
            let l = match (live_obj, kept) {
                (Live::Object(l), _) => l,
                (Live::Unchanged, Some(kept)) => return DryRun::kept(kept.clone()),
                _ => return DryRun::missing(desired, opts.predictions),
            };
            let version = l["metadata"]["resourceVersion"].as_str().unwrap_or_default();
            let kept = opts.memo.and_then(|m| m.kept(opts.instance, &t.key, input));
            if let Some(same) = kept.as_ref().filter(|v| v.resource_version == version) {
                return DryRun::kept(same.clone());
            }
            let (health, images) = observe(l, opts.health);
            let content = content_hash(l, desired, Reads::of(opts, &t.key));
            let verdict = |diff: &Comparison| Verdict {
                input,
                resource_version: version.into(),
                content,
                diff: diff.clone(),
                health: health.clone(),
                images: images.clone(),
            };
            // The same object but for what a dry run neither changes nor compares.
            if let Some(diff) = kept.filter(|v| v.content == content).map(|v| v.diff) {
                return DryRun { verdict: Some(verdict(&diff)), diff, predicted: None, warning: None, health, images };
            }
            match cluster.apply(desired, true, opts.validate).await {
                Ok(p) => {
                    let diff = driftless_diff::compare(&p, l, opts.diff);
                    DryRun { verdict: Some(verdict(&diff)), diff, predicted: opts.predictions.then_some(p), warning: None, health, images }
                }
                Err(e) => DryRun {
                    diff: driftless_diff::compare_subset(desired, l, opts.diff),
                    predicted: opts.predictions.then(|| desired.clone()),
                    warning: Some(format!("{}: dry run failed, compared field by field: {e}", t.key)),
                    verdict: None,
                    health,
                    images,
                },
            }
        })
        .collect();
    let compared: Vec<DryRun> = stream::iter(dry_runs).buffered(PARALLEL_REQUESTS).collect().await;
    let mut out = Vec::new();
    let mut verdicts = BTreeMap::new();
    let mut images = BTreeSet::new();
    for ((t, live_obj, _), DryRun { diff, predicted, warning, verdict, health, images: seen }) in pairs.into_iter().zip(compared) {
        warnings.extend(warning);
        images.extend(seen);
        let is_shared = shared_owners.iter().any(|s| s.key == t.key);
        let validated = verdict.is_some() && !is_shared;
        if let Some(v) = verdict.filter(|_| opts.memo.is_some() && !is_shared) {
            verdicts.insert(t.key.clone(), v);
        }
        out.push(ResourceState {
            key: t.key.clone(),
            api_version: t.manifest.api_version().into(),
            sync: if diff.in_sync { SyncStatusCode::Synced } else { SyncStatusCode::OutOfSync },
            health,
            requires_pruning: false,
            requires_deletion_confirmation: t.options.prune_confirm || t.options.delete_confirm,
            wave: t.wave,
            live: live_obj,
            predicted,
            validated,
            diff,
        });
    }
    if let Some(memo) = opts.memo {
        memo.replace(opts.instance, verdicts);
    }
    // Hooks are tracked too, but they are not part of the desired state.
    let hooks: BTreeSet<&ResourceKey> = targets.iter().filter(|t| t.is_hook()).map(|t| &t.key).collect();
    let mut extraneous = Vec::new();
    for (key, obj) in live {
        collect_images(&obj, &mut images);
        if hooks.contains(&key) || obj["metadata"]["ownerReferences"].as_array().is_some_and(|o| !o.is_empty()) {
            continue;
        }
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let options = obj["metadata"]["annotations"][ANNOTATION_SYNC_OPTIONS].as_str().map(ResourceSyncOptions::parse).unwrap_or_default();
        extraneous.push(Extraneous { key: key.clone(), api_version: api_version.clone(), live: obj.clone() });
        out.push(ResourceState {
            key,
            api_version,
            sync: SyncStatusCode::OutOfSync,
            health: driftless_health::assess(&obj, opts.health).ok().flatten(),
            requires_pruning: true,
            requires_deletion_confirmation: options.prune_confirm || options.delete_confirm,
            wave: 0,
            live: Live::Object(obj),
            predicted: None,
            validated: false,
            diff: Comparison::missing(),
        });
    }

    // An extraneous object marked IgnoreExtraneous does not make the app OutOfSync.
    let counted = |r: &&ResourceState| !(r.requires_pruning && r.live.object().is_some_and(ignores_extraneous));
    let sync = if out.iter().filter(counted).all(|r| r.sync == SyncStatusCode::Synced) {
        SyncStatusCode::Synced
    } else {
        SyncStatusCode::OutOfSync
    };
    let health = driftless_health::aggregate(out.iter().filter(|r| !r.requires_pruning).filter_map(|r| r.health.as_ref()));
    Ok(CompareResult { resources: out, sync, health, images: images.into_iter().collect(), extraneous, warnings, shared: shared_owners })
}

/// Whether a live object's `argocd.argoproj.io/compare-options` holds
/// `IgnoreExtraneous`.
fn ignores_extraneous(obj: &Value) -> bool {
    obj["metadata"]["annotations"][ANNOTATION_COMPARE_OPTIONS]
        .as_str()
        .is_some_and(|o| o.split(',').any(|item| item.trim() == "IgnoreExtraneous"))
}

/// Files a live object: the app's own, or another app's that this app
/// wants too (shared, with that app's instance name); any other is not
/// the app's business.
fn file(
    key: ResourceKey,
    obj: Value,
    opts: &CompareOptions<'_>,
    resources: &[&Target],
    live: &mut BTreeMap<ResourceKey, Value>,
    shared: &mut BTreeMap<ResourceKey, (Value, String)>,
) {
    match opts.tracking.owner(&obj).map(String::from) {
        Some(owner) if opts.tracking.same_app(&owner, opts.instance) => {
            live.insert(key, obj);
        }
        Some(owner) if resources.iter().any(|t| t.key == key) => {
            shared.insert(key, (obj, owner));
        }
        _ => {}
    }
}

/// One resource's dry run (or the verdict reused instead), with what its
/// live object showed.
struct DryRun {
    diff: Comparison,
    predicted: Option<Value>,
    warning: Option<String>,
    /// What to remember; None when the dry run failed or there was none.
    verdict: Option<Verdict>,
    health: Option<HealthStatus>,
    images: Vec<String>,
}

impl DryRun {
    /// No live object: nothing to dry-run against; the sync dry-runs the create.
    fn missing(desired: &Value, prediction: bool) -> DryRun {
        DryRun {
            diff: Comparison::missing(),
            predicted: prediction.then(|| desired.clone()),
            warning: None,
            verdict: None,
            health: Some(HealthStatus::status(HealthStatusCode::Missing)),
            images: Vec::new(),
        }
    }

    /// An earlier verdict that still stands.
    fn kept(v: Verdict) -> DryRun {
        DryRun {
            diff: v.diff.clone(),
            predicted: None,
            warning: None,
            health: v.health.clone(),
            images: v.images.clone(),
            verdict: Some(v),
        }
    }
}

fn group_of(api_version: &str) -> String {
    api_version.rsplit_once('/').map(|(g, _)| g.to_string()).unwrap_or_default()
}

/// Images of every container list anywhere in the object (pods, templates,
/// job templates).
fn collect_images(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if matches!(k.as_str(), "containers" | "initContainers" | "ephemeralContainers") {
                    for c in child.as_array().into_iter().flatten() {
                        if let Some(image) = c["image"].as_str() {
                            out.insert(image.to_string());
                        }
                    }
                } else if k != "status" && k != "metadata" {
                    collect_images(child, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_images(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dry_run_verdict_stands_while_manifest_and_live_version_do() {
        let (diff, health, tracking) = (DiffOptions::default(), CustomChecks::none(), Tracking::new("argocd"));
        let opts = |validate| CompareOptions {
            instance: "argocd_web",
            tracking: &tracking,
            previously: &[],
            diff: &diff,
            health: &health,
            validate,
            tracked: None,
            memo: None,
            fresh: &[],
            predictions: true,
        };
        let key = ResourceKey { group: String::new(), kind: "ConfigMap".into(), namespace: Some("prod".into()), name: "settings".into() };
        let manifest = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}});
        let memo = DryRunMemo::default();
        assert!(!memo.seen("argocd_web", &key));
        let live_at = |version: &str| {
            let mut live = manifest.clone();
            live["metadata"]["resourceVersion"] = json!(version);
            live
        };
        memo.applied(&opts(true), &key, &manifest, &live_at("7"));
        assert!(memo.seen("argocd_web", &key));
        let input = verdict_input(&manifest, settings_hash(&opts(true)));
        let get = |instance, input, version: &str| memo.kept(instance, &key, input).filter(|v| v.resource_version == version);
        let diff = |input, version| get("argocd_web", input, version).map(|v| v.diff);
        assert_eq!(diff(input, "7"), Some(Comparison { in_sync: true, changed: vec![] }));
        assert_eq!(diff(input, "8"), None, "the live object changed");
        let edited = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "2"}});
        assert_eq!(diff(verdict_input(&edited, settings_hash(&opts(true))), "7"), None, "Git changed");
        assert_eq!(diff(verdict_input(&manifest, settings_hash(&opts(false))), "7"), None, "the settings changed");
        assert!(get("argocd_other", input, "7").is_none(), "another app");
        memo.replace("argocd_web", BTreeMap::new());
        assert!(!memo.seen("argocd_web", &key), "a comparison keeps only what it saw");
        memo.applied(&opts(true), &key, &manifest, &live_at("9"));
        memo.forget("argocd_web");
        assert!(!memo.seen("argocd_web", &key), "a hard refresh forgets");
    }

    #[test]
    fn a_status_write_leaves_the_content_a_dry_run_depends_on_unchanged() {
        let live = |replicas: i64, ready: i64, version: &str, time: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "resourceVersion": version, "labels": {"app": "web"}, "managedFields": [
                    {"manager": "driftless", "operation": "Apply", "time": "2026-01-01T00:00:00Z", "fieldsV1": {"f:spec": {}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "time": time, "fieldsV1": {"f:status": {}}}]},
                "spec": {"replicas": replicas}, "status": {"readyReplicas": ready}})
        };
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"replicas": 2}});
        let hash = |live: &Value| content_hash(live, &desired, Reads::default());
        let before = hash(&live(2, 0, "10", "2026-01-01T00:00:01Z"));
        assert_eq!(hash(&live(2, 2, "11", "2026-01-01T00:00:09Z")), before, "status, resourceVersion and its writer's entry");
        assert_ne!(hash(&live(3, 2, "12", "2026-01-01T00:00:09Z")), before, "a spec change");
        let mut relabelled = live(2, 0, "13", "2026-01-01T00:00:01Z");
        relabelled["metadata"]["labels"]["app"] = json!("other");
        assert_ne!(hash(&relabelled), before, "a label the manifest sets");
        let mut annotated = live(2, 0, "14", "2026-01-01T00:00:01Z");
        annotated["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
        // A Deployment's generation moves with its annotations.
        annotated["metadata"]["generation"] = json!(2);
        annotated["metadata"]["labels"]["team"] = json!("web");
        annotated["metadata"]["managedFields"].as_array_mut().unwrap().push(json!(
            {"manager": "kube-controller-manager", "operation": "Update", "time": "2026-01-01T00:00:02Z",
             "fieldsV1": {"f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}}}}));
        assert_eq!(hash(&annotated), before, "another writer's annotation and label, which an apply keeps");
        let mut disowned = live(2, 0, "15", "2026-01-01T00:00:01Z");
        disowned["metadata"]["managedFields"][0]["fieldsV1"] = json!({});
        assert_ne!(hash(&disowned), before, "what driftless owns");
        assert_ne!(
            content_hash(&annotated, &desired, Reads { managers: true, status: false }),
            content_hash(&live(2, 0, "16", "2026-01-01T00:00:01Z"), &desired, Reads { managers: true, status: false }),
            "who owns what, when an ignoreDifferences rule reads it"
        );
        let with_status = Reads { managers: false, status: true };
        assert_ne!(
            content_hash(&live(2, 2, "17", "2026-01-01T00:00:09Z"), &desired, with_status),
            content_hash(&live(2, 0, "17", "2026-01-01T00:00:09Z"), &desired, with_status),
            "the status, when ignoreResourceStatusField does not leave it out"
        );
    }

    #[test]
    fn a_verdict_moves_to_what_a_watch_saw_only_when_the_verdict_does_not_read_what_changed() {
        let (diff, tracking) = (DiffOptions::default(), Tracking::new("argocd"));
        let (builtin, scripted) =
            (CustomChecks::none(), CustomChecks::none().with_script("apps/Deployment", "return {status = \"Healthy\"}").unwrap());
        let opts = |health, diff| CompareOptions {
            instance: "argocd_web",
            tracking: &tracking,
            previously: &[],
            diff,
            health,
            validate: true,
            tracked: None,
            memo: None,
            fresh: &[],
            predictions: false,
        };
        let key = ResourceKey { group: "apps".into(), kind: "Deployment".into(), namespace: Some("prod".into()), name: "web".into() };
        let manifest = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "annotations": {"team": "web"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}});
        // As the apply returned it, then as the Deployment controller left it.
        let applied = {
            let mut live = manifest.clone();
            live["metadata"]["resourceVersion"] = json!("10");
            live["metadata"]["generation"] = json!(1);
            live
        };
        let available = |version: &str| {
            let mut live = applied.clone();
            live["metadata"]["resourceVersion"] = json!(version);
            live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
            live["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]});
            live
        };
        let memo = DryRunMemo::default();
        memo.applied(&opts(&builtin, &diff), &key, &manifest, &applied);
        let kept = memo.kept("argocd_web", &key, verdict_input(&manifest, settings_hash(&opts(&builtin, &diff)))).expect("kept");
        assert_eq!(kept.health.as_ref().map(|h| h.status), Some(HealthStatusCode::Progressing), "{:?}", kept.health);

        let restated = Observed::of(&available("14"))
            .restate(&kept, "14", &key, &manifest, &opts(&builtin, &diff))
            .expect("only the status and another writer's annotation changed");
        assert_eq!(
            (restated.resource_version.as_str(), restated.health.as_ref().map(|h| h.status)),
            ("14", Some(HealthStatusCode::Healthy))
        );
        assert_eq!((restated.diff, restated.content, restated.images), (kept.diff.clone(), kept.content, kept.images.clone()));

        let restate =
            |live: &Value, version: &str, health, diff| Observed::of(live).restate(&kept, version, &key, &manifest, &opts(health, diff));
        assert!(restate(&available("9"), "9", &builtin, &diff).is_none(), "a watch behind the verdict's fetch");
        assert!(restate(&available("a"), "a", &builtin, &diff).is_none(), "a version that is not an etcd revision");
        let mut scaled = available("15");
        scaled["spec"]["replicas"] = json!(3);
        assert!(restate(&scaled, "15", &builtin, &diff).is_none(), "a spec change");
        let mut relabelled = available("16");
        relabelled["metadata"]["annotations"]["team"] = json!("other");
        assert!(restate(&relabelled, "16", &builtin, &diff).is_none(), "an annotation the manifest sets");
        assert!(restate(&available("17"), "17", &scripted, &diff).is_none(), "a custom check judges the kind");
        let status_read = DiffOptions::default().with_compare_options(driftless_diff::IgnoreStatus::None, false);
        assert!(restate(&available("18"), "18", &builtin, &status_read).is_none(), "the comparison reads the status");
        let by_managers = DiffOptions::new(&[driftless_diff::IgnoreDifference {
            kind: "Deployment".into(),
            managed_fields_managers: vec!["kubectl".into()],
            ..Default::default()
        }])
        .expect("a valid rule");
        assert!(restate(&available("19"), "19", &builtin, &by_managers).is_none(), "an ignoreDifferences rule reads who owns what");
    }

    #[test]
    fn ignore_extraneous_is_read_from_the_compare_options_annotation() {
        let with = |v: &str| json!({"metadata": {"annotations": {ANNOTATION_COMPARE_OPTIONS: v}}});
        assert!(ignores_extraneous(&with("IgnoreExtraneous")));
        assert!(ignores_extraneous(&with("ServerSideDiff=true, IgnoreExtraneous")));
        assert!(!ignores_extraneous(&with("IgnoreExtraneousX")));
        assert!(!ignores_extraneous(&json!({"metadata": {}})));
    }

    #[test]
    fn images_come_from_every_pod_template() {
        let mut out = BTreeSet::new();
        collect_images(
            &json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"image": "busybox:1"}], "containers": [{"image": "app:2"}, {"image": "app:2"}]}}}}}}),
            &mut out,
        );
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["app:2", "busybox:1"]);
    }
}
