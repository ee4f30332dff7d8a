//! Sync planning: which resource is applied, pruned or run as a hook, in
//! which phase and wave, in which order; and, for a sync a restart
//! interrupted, what its recorded results show done ([`Resume`]). Pure: a
//! sort over data.

use std::collections::BTreeMap;

use driftless_api::Manifest;
use driftless_api::{
    ANNOTATION_HOOK, ANNOTATION_HOOK_DELETE_POLICY, ANNOTATION_SYNC_OPTIONS, ANNOTATION_SYNC_WAVE, HELM_HOOK, HELM_HOOK_DELETE_POLICY,
    HELM_HOOK_WEIGHT, HookDeletePolicy, HookPhase, HookType, ResourceResult, ResourceSyncOptions, ResultCode,
};
use serde_json::Value;

use crate::ResourceKey;

/// Argo CD's kind order within a wave: what others depend on goes first.
const KIND_ORDER: [&str; 31] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
];
/// Continues [`KIND_ORDER`]; split only to keep lines short.
const KIND_ORDER_TAIL: [&str; 4] = ["CronJob", "IngressClass", "Ingress", "APIService"];

/// Position of a kind in Argo CD's order; unknown kinds (custom resources)
/// come after every known one.
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER.iter().chain(KIND_ORDER_TAIL.iter()).position(|k| *k == kind).unwrap_or(KIND_ORDER.len() + KIND_ORDER_TAIL.len())
}

/// How a desired manifest takes part in a sync.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// A resource applied in the Sync phase and compared with the cluster.
    Resource,
    /// A hook run in the given phases.
    Hook {
        /// The phases, e.g. PreSync.
        phases: Vec<HookType>,
        /// When to delete it; BeforeHookCreation when none is given.
        delete_policies: Vec<HookDeletePolicy>,
    },
    /// A Helm hook (`helm.sh/hook`): its phases depend on the occasion of
    /// the sync ([`HelmHooks`]).
    HelmHook {
        /// Its hook values, in order, unknown ones left out.
        hooks: Vec<HelmHook>,
        /// When to delete it; BeforeHookCreation when none is given.
        delete_policies: Vec<HookDeletePolicy>,
    },
    /// `hook: Skip`: never applied.
    Skip,
}

impl Role {
    /// The phases a hook runs in, given how Helm hooks are taken: sync
    /// phases and deletion phases alike; none for resources.
    pub fn phases(&self, helm: HelmHooks) -> Vec<HookType> {
        match self {
            Role::Hook { phases, .. } => phases.clone(),
            Role::HelmHook { hooks, .. } => helm_phases(hooks, helm),
            Role::Resource | Role::Skip => Vec::new(),
        }
    }

    /// A hook's delete policies.
    pub fn delete_policies(&self) -> &[HookDeletePolicy] {
        match self {
            Role::Hook { delete_policies, .. } | Role::HelmHook { delete_policies, .. } => delete_policies,
            Role::Resource | Role::Skip => &[],
        }
    }
}

/// One value of Helm's `helm.sh/hook` annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelmHook {
    /// `pre-install`.
    PreInstall,
    /// `post-install`.
    PostInstall,
    /// `pre-upgrade`.
    PreUpgrade,
    /// `post-upgrade`.
    PostUpgrade,
    /// `pre-rollback`.
    PreRollback,
    /// `post-rollback`.
    PostRollback,
    /// `pre-delete`.
    PreDelete,
    /// `post-delete`.
    PostDelete,
    /// `test` (and Helm 2's `test-success`/`test-failure`): never run.
    Test,
}

impl HelmHook {
    /// Parses one value; None for a value Helm does not know (ignored, as
    /// Helm ignores it) and for `crd-install`, which makes a resource.
    pub fn parse(s: &str) -> Option<HelmHook> {
        Some(match s.trim() {
            "pre-install" => HelmHook::PreInstall,
            "post-install" => HelmHook::PostInstall,
            "pre-upgrade" => HelmHook::PreUpgrade,
            "post-upgrade" => HelmHook::PostUpgrade,
            "pre-rollback" => HelmHook::PreRollback,
            "post-rollback" => HelmHook::PostRollback,
            "pre-delete" => HelmHook::PreDelete,
            "post-delete" => HelmHook::PostDelete,
            "test" | "test-success" | "test-failure" => HelmHook::Test,
            _ => return None,
        })
    }
}

/// Which of Helm's occasions a sync is: what decides whether an install,
/// upgrade or rollback hook runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HelmOccasion {
    /// The app's first sync: no successful sync in its history.
    #[default]
    Install,
    /// A later sync.
    Upgrade,
    /// A sync to a revision of the history (`Operation::is_rollback`).
    Rollback,
}

impl HelmOccasion {
    /// Of a sync of an app whose history holds `synced_before` successful
    /// syncs, `rollback` when it is one.
    pub fn of(synced_before: bool, rollback: bool) -> HelmOccasion {
        match (rollback, synced_before) {
            (true, _) => HelmOccasion::Rollback,
            (false, true) => HelmOccasion::Upgrade,
            (false, false) => HelmOccasion::Install,
        }
    }

    /// Helm's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            HelmOccasion::Install => "install",
            HelmOccasion::Upgrade => "upgrade",
            HelmOccasion::Rollback => "rollback",
        }
    }
}

/// How Helm hooks are taken: argocd-cm's `helm.hooks`, or an app's
/// `driftless.dev/helm-hooks` annotation, which overrides it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HelmHookMode {
    /// Each hook on its own occasion, as `helm install/upgrade/rollback` runs them.
    #[default]
    Helm,
    /// As Argo CD: pre-install and pre-upgrade on every sync (PreSync),
    /// post-install and post-upgrade too (PostSync), rollback hooks never.
    Argocd,
}

impl HelmHookMode {
    /// Parses `helm` or `argocd` (surrounding blanks allowed).
    pub fn parse(s: &str) -> Option<HelmHookMode> {
        match s.trim() {
            "helm" => Some(HelmHookMode::Helm),
            "argocd" => Some(HelmHookMode::Argocd),
            _ => None,
        }
    }
}

/// What decides the phases of a Helm hook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HelmHooks {
    /// How hooks are taken.
    pub mode: HelmHookMode,
    /// The occasion of the sync.
    pub occasion: HelmOccasion,
}

impl HelmHooks {
    /// For the operation's message: which Helm hooks a sync ran.
    pub fn describe(&self) -> String {
        match self.mode {
            HelmHookMode::Helm => format!("Helm hooks: {}", self.occasion.as_str()),
            HelmHookMode::Argocd => "Helm hooks: argocd, install and upgrade alike".into(),
        }
    }
}

/// The phases Helm hooks `hooks` run in (pure): delete hooks at deletion,
/// `test` never, the others as `helm` says. No duplicates.
pub fn helm_phases(hooks: &[HelmHook], helm: HelmHooks) -> Vec<HookType> {
    use HelmHook as H;
    use HelmOccasion as O;
    let mut phases = Vec::new();
    for h in hooks {
        let phase = match (helm.mode, *h, helm.occasion) {
            (_, H::PreDelete, _) => Some(HookType::PreDelete),
            (_, H::PostDelete, _) => Some(HookType::PostDelete),
            (_, H::Test, _) => None,
            (HelmHookMode::Argocd, H::PreInstall | H::PreUpgrade, _) => Some(HookType::PreSync),
            (HelmHookMode::Argocd, H::PostInstall | H::PostUpgrade, _) => Some(HookType::PostSync),
            (HelmHookMode::Argocd, H::PreRollback | H::PostRollback, _) => None,
            (HelmHookMode::Helm, H::PreInstall, O::Install)
            | (HelmHookMode::Helm, H::PreUpgrade, O::Upgrade)
            | (HelmHookMode::Helm, H::PreRollback, O::Rollback) => Some(HookType::PreSync),
            (HelmHookMode::Helm, H::PostInstall, O::Install)
            | (HelmHookMode::Helm, H::PostUpgrade, O::Upgrade)
            | (HelmHookMode::Helm, H::PostRollback, O::Rollback) => Some(HookType::PostSync),
            (HelmHookMode::Helm, _, _) => None,
        };
        if let Some(p) = phase
            && !phases.contains(&p)
        {
            phases.push(p);
        }
    }
    phases
}

/// A desired manifest with what its annotations say.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its identity.
    pub key: ResourceKey,
    /// The manifest, tracking id included.
    pub manifest: Manifest,
    /// `sync-wave` (or Helm's hook weight).
    pub wave: i64,
    /// Resource, hook or skipped.
    pub role: Role,
    /// Its `sync-options`.
    pub options: ResourceSyncOptions,
}

impl Target {
    /// Reads the annotations of `manifest`. A malformed wave is an error
    /// naming the resource, since guessing an order could break a rollout.
    pub fn new(manifest: Manifest) -> Result<Target, String> {
        let key = ResourceKey::of(manifest.value());
        let wave = match manifest.annotation(ANNOTATION_SYNC_WAVE).or_else(|| manifest.annotation(HELM_HOOK_WEIGHT)) {
            Some(w) => w.trim().parse::<i64>().map_err(|_| format!("{key}: annotation {ANNOTATION_SYNC_WAVE}={w:?} is not an integer"))?,
            None => 0,
        };
        let options = manifest.annotation(ANNOTATION_SYNC_OPTIONS).map(ResourceSyncOptions::parse).unwrap_or_default();
        let role = role(&manifest).map_err(|e| format!("{key}: {e}"))?;
        Ok(Target { key, manifest, wave, role, options })
    }

    /// True for hooks (sync or deletion hooks, Argo CD's or Helm's).
    pub fn is_hook(&self) -> bool {
        matches!(self.role, Role::Hook { .. } | Role::HelmHook { .. })
    }
}

fn role(m: &Manifest) -> Result<Role, String> {
    let split = |s: &str| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
    let policies = |raw: Option<&str>| -> Result<Vec<HookDeletePolicy>, String> {
        raw.map(split)
            .unwrap_or_default()
            .iter()
            .map(|p| HookDeletePolicy::parse(p).ok_or_else(|| format!("unknown hook delete policy {p:?}")))
            .collect()
    };
    if let Some(raw) = m.annotation(ANNOTATION_HOOK) {
        let mut phases = Vec::new();
        for p in split(raw) {
            phases.push(HookType::parse(&p).ok_or_else(|| format!("unknown hook {p:?} in {ANNOTATION_HOOK}"))?);
        }
        if phases.contains(&HookType::Skip) {
            return Ok(Role::Skip);
        }
        let delete_policies = policies(m.annotation(ANNOTATION_HOOK_DELETE_POLICY))?;
        return Ok(Role::Hook { phases, delete_policies });
    }
    // Helm hooks: their phases depend on the sync's occasion (see
    // `helm_phases`). `crd-install` (Helm 2) makes a resource; a manifest
    // with only tests or unknown values is never applied.
    if let Some(raw) = m.annotation(HELM_HOOK) {
        let values = split(raw);
        if values.iter().any(|h| h == "crd-install") {
            return Ok(Role::Resource);
        }
        let hooks: Vec<HelmHook> = values.iter().filter_map(|h| HelmHook::parse(h)).filter(|h| *h != HelmHook::Test).collect();
        if hooks.is_empty() {
            return Ok(Role::Skip);
        }
        let delete_policies = policies(m.annotation(HELM_HOOK_DELETE_POLICY))?;
        return Ok(Role::HelmHook { hooks, delete_policies });
    }
    Ok(Role::Resource)
}

/// What a task does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Apply a resource.
    Apply,
    /// Create (re-create) and run a hook.
    RunHook(Vec<HookDeletePolicy>),
    /// Delete a live resource that left Git.
    Prune,
    /// Leave a live resource that left Git, and say why.
    PruneSkip(&'static str),
    /// A `Prune=confirm` resource that left Git: pruned once a person
    /// confirms; until then the sync waits here (Argo CD 2.14's option).
    AwaitConfirmation,
}

impl Action {
    /// A hook's delete policies; none for other tasks.
    pub fn delete_policies(&self) -> &[HookDeletePolicy] {
        match self {
            Action::RunHook(p) => p,
            _ => &[],
        }
    }
}

/// One step of a sync.
#[derive(Clone, Debug)]
pub struct Task {
    /// The resource.
    pub key: ResourceKey,
    /// PreSync, Sync, PostSync or SyncFail.
    pub phase: HookType,
    /// Its wave.
    pub wave: i64,
    /// What to do.
    pub action: Action,
    /// The desired manifest; None for prunes.
    pub manifest: Option<Manifest>,
    /// The live API version (prunes) or desired one.
    pub api_version: String,
    /// Its sync options.
    pub options: ResourceSyncOptions,
}

impl Task {
    /// The phase, for hooks: what tells a hook's result from a resource's.
    pub fn hook_type(&self) -> Option<HookType> {
        matches!(self.action, Action::RunHook(_)).then_some(self.phase)
    }

    /// Whether `r` is this task's result: the same resource, as a hook of
    /// the same phase or as no hook (Argo CD finds a result by resource and
    /// sync phase).
    pub fn is_result(&self, r: &ResourceResult) -> bool {
        r.group == self.key.group
            && r.kind == self.key.kind
            && r.namespace == self.key.namespace.as_deref().unwrap_or_default()
            && r.name == self.key.name
            && r.hook_type == self.hook_type()
    }
}

/// Tasks that run together: one wave of one phase.
#[derive(Clone, Debug, Default)]
pub struct Wave {
    /// The wave number.
    pub wave: i64,
    /// Its tasks, in kind order then name.
    pub tasks: Vec<Task>,
}

/// A whole sync, in execution order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// PreSync hooks, by wave.
    pub pre_sync: Vec<Wave>,
    /// Resources and Sync hooks, by wave.
    pub sync: Vec<Wave>,
    /// Prunes, highest wave first, then the PruneLast ones.
    pub prune: Vec<Task>,
    /// PostSync hooks, by wave: they run once everything is healthy.
    pub post_sync: Vec<Wave>,
    /// SyncFail hooks, by wave: they run if the sync fails.
    pub sync_fail: Vec<Wave>,
}

impl Plan {
    /// Every task, in order (SyncFail last, though it runs only on failure).
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        fn waves(w: &[Wave]) -> impl Iterator<Item = &Task> {
            w.iter().flat_map(|w| w.tasks.iter())
        }
        waves(&self.pre_sync).chain(waves(&self.sync)).chain(self.prune.iter()).chain(waves(&self.post_sync)).chain(waves(&self.sync_fail))
    }
}

/// What the planner needs to know beyond the targets.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Prune resources that left Git.
    pub prune: bool,
    /// Every prune happens last (app-level `PruneLast=true`).
    pub prune_last: bool,
    /// Resources already in sync, skipped when `apply_out_of_sync_only`.
    pub in_sync: Vec<ResourceKey>,
    /// `ApplyOutOfSyncOnly=true`.
    pub apply_out_of_sync_only: bool,
    /// A partial sync: only these resources (hooks do not run).
    pub only: Option<Vec<ResourceKey>>,
    /// Identifies this run of the sync (the operation's start, and its
    /// retry attempt): a hook with only a `generateName` is named
    /// `<generateName><phase>-<sync_id>`, so that a restarted controller
    /// finds the hooks this run created by name. Argo CD names them from the
    /// revision, phase and start alike.
    pub sync_id: String,
    /// How Helm hooks are taken, and the sync's occasion.
    pub helm: HelmHooks,
    /// A person confirmed the pruning of `Prune=confirm` resources since the
    /// sync started (`Application::deletion_confirmed`).
    pub prune_confirmed: bool,
}

/// A live resource of the app that is no longer in Git.
#[derive(Clone, Debug)]
pub struct Extraneous {
    /// Its identity.
    pub key: ResourceKey,
    /// Its API version.
    pub api_version: String,
    /// The live object (for its annotations).
    pub live: Value,
}

impl Extraneous {
    /// Its `sync-options` annotation, parsed.
    pub fn options(&self) -> ResourceSyncOptions {
        self.live["metadata"]["annotations"][ANNOTATION_SYNC_OPTIONS].as_str().map(ResourceSyncOptions::parse).unwrap_or_default()
    }
}

/// Orders a sync: hooks into their phases, resources into the Sync phase,
/// each by wave, then kind order, then name; prunes in reverse wave order.
pub fn plan(targets: &[Target], extraneous: &[Extraneous], opts: &PlanOptions) -> Plan {
    let selected = |k: &ResourceKey| opts.only.as_ref().is_none_or(|only| only.contains(k));
    let mut phases: BTreeMap<(HookType, i64), Vec<Task>> = BTreeMap::new();
    for t in targets {
        let task = |phase, action| {
            let (mut key, mut manifest) = (t.key.clone(), t.manifest.clone());
            if matches!(action, Action::RunHook(_)) && key.name.is_empty() {
                key.name = name_generated(&mut manifest, phase, &opts.sync_id);
            }
            Task {
                key,
                phase,
                wave: t.wave,
                action,
                api_version: manifest.api_version().to_string(),
                manifest: Some(manifest),
                options: t.options,
            }
        };
        match &t.role {
            Role::Skip => {}
            Role::Resource => {
                if !selected(&t.key) || (opts.apply_out_of_sync_only && opts.in_sync.contains(&t.key)) {
                    continue;
                }
                phases.entry((HookType::Sync, t.wave)).or_default().push(task(HookType::Sync, Action::Apply));
            }
            Role::Hook { .. } | Role::HelmHook { .. } => {
                // A partial sync runs no hooks, as in Argo CD.
                if opts.only.is_some() {
                    continue;
                }
                // Deletion hooks run only when the app is deleted.
                for p in t.role.phases(opts.helm).into_iter().filter(|p| !p.is_deletion()) {
                    phases.entry((p, t.wave)).or_default().push(task(p, Action::RunHook(t.role.delete_policies().to_vec())));
                }
            }
        }
    }
    let mut plan = Plan::default();
    for ((phase, wave), mut tasks) in phases {
        sort_tasks(&mut tasks);
        let w = Wave { wave, tasks };
        match phase {
            HookType::PreSync => plan.pre_sync.push(w),
            HookType::Sync => plan.sync.push(w),
            HookType::PostSync => plan.post_sync.push(w),
            HookType::SyncFail => plan.sync_fail.push(w),
            HookType::Skip | HookType::PreDelete | HookType::PostDelete => {}
        }
    }

    let mut prunes: Vec<(bool, i64, Task)> = Vec::new();
    for e in extraneous.iter().filter(|e| selected(&e.key)) {
        let options =
            e.live["metadata"]["annotations"][ANNOTATION_SYNC_OPTIONS].as_str().map(ResourceSyncOptions::parse).unwrap_or_default();
        let wave = e.live["metadata"]["annotations"][ANNOTATION_SYNC_WAVE].as_str().and_then(|w| w.trim().parse().ok()).unwrap_or(0);
        let action = if options.no_prune {
            Action::PruneSkip("ignored (no prune: Prune=false)")
        } else if !opts.prune {
            Action::PruneSkip("ignored (requires pruning)")
        } else if options.prune_confirm && !opts.prune_confirmed {
            Action::AwaitConfirmation
        } else {
            Action::Prune
        };
        let last = opts.prune_last || options.prune_last;
        prunes.push((
            last,
            wave,
            Task { key: e.key.clone(), phase: HookType::Sync, wave, action, manifest: None, api_version: e.api_version.clone(), options },
        ));
    }
    // PruneLast ones after all others; higher waves first; reverse kind
    // order, so that dependents go before what they depend on.
    prunes.sort_by(|a, b| {
        (a.0, std::cmp::Reverse(a.1), std::cmp::Reverse(kind_rank(&a.2.key.kind)), &a.2.key).cmp(&(
            b.0,
            std::cmp::Reverse(b.1),
            std::cmp::Reverse(kind_rank(&b.2.key.kind)),
            &b.2.key,
        ))
    });
    plan.prune = prunes.into_iter().map(|(_, _, t)| t).collect();
    plan
}

/// What a cascade deletion of an app runs: its PreDelete hooks by wave,
/// then (once the resources are gone) its PostDelete hooks by wave.
#[derive(Clone, Debug, Default)]
pub struct DeletionPlan {
    /// PreDelete hooks, by wave.
    pub pre_delete: Vec<Wave>,
    /// PostDelete hooks, by wave.
    pub post_delete: Vec<Wave>,
}

impl DeletionPlan {
    /// Every hook task, PreDelete first.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.pre_delete.iter().chain(&self.post_delete).flat_map(|w| w.tasks.iter())
    }

    /// Whether `key` is one of the deletion's hooks (kept while the app's
    /// resources are deleted: its live state says whether it ran).
    pub fn is_hook(&self, key: &ResourceKey) -> bool {
        self.tasks().any(|t| t.key == *key)
    }
}

/// Orders the deletion hooks of `targets` (Argo CD's PreDelete/PostDelete
/// and Helm's pre-delete/post-delete, as `helm` takes them), each phase by
/// wave, then kind order, then name. A hook with only a `generateName` is
/// named `<generateName><phase>-<deletion_id>`: the same name at every
/// reconcile of one deletion, so that a hook is created once.
pub fn plan_deletion(targets: &[Target], helm: HelmHookMode, deletion_id: &str) -> DeletionPlan {
    let helm = HelmHooks { mode: helm, occasion: HelmOccasion::default() };
    let mut phases: BTreeMap<(HookType, i64), Vec<Task>> = BTreeMap::new();
    for t in targets {
        for phase in t.role.phases(helm).into_iter().filter(|p| p.is_deletion()) {
            let (mut key, mut manifest) = (t.key.clone(), t.manifest.clone());
            if key.name.is_empty() {
                key.name = name_generated(&mut manifest, phase, deletion_id);
            }
            phases.entry((phase, t.wave)).or_default().push(Task {
                key,
                phase,
                wave: t.wave,
                action: Action::RunHook(t.role.delete_policies().to_vec()),
                api_version: manifest.api_version().to_string(),
                manifest: Some(manifest),
                options: t.options,
            });
        }
    }
    let mut plan = DeletionPlan::default();
    for ((phase, wave), mut tasks) in phases {
        sort_tasks(&mut tasks);
        let w = Wave { wave, tasks };
        if phase == HookType::PreDelete { plan.pre_delete.push(w) } else { plan.post_delete.push(w) }
    }
    plan
}

/// Whether a deletion hook that ran is removed before the app goes: no
/// later run will replace it, so BeforeHookCreation (the default) removes
/// it as HookSucceeded does; a hook only HookFailed names is kept.
pub fn removed_after_deletion(policies: &[HookDeletePolicy]) -> bool {
    policies.is_empty() || policies.iter().any(|p| matches!(p, HookDeletePolicy::HookSucceeded | HookDeletePolicy::BeforeHookCreation))
}

/// What the deletion of an app does with each of its live resources.
#[derive(Clone, Debug, Default)]
pub struct ResourceDeletion<'a> {
    /// Deleted now.
    pub delete: Vec<&'a Extraneous>,
    /// `Delete=false`: left in the cluster.
    pub kept: Vec<&'a Extraneous>,
    /// `Delete=confirm`, not confirmed yet: wait for a person.
    pub waiting: Vec<&'a Extraneous>,
}

/// Sorts the app's live resources `live` for its deletion (pure):
/// `Delete=false` ones kept, `Delete=confirm` ones deleted only when
/// `confirmed`, the deletion's own hooks (`hooks`) left for their cleanup.
pub fn resources_to_delete<'a>(live: &'a [Extraneous], hooks: &DeletionPlan, confirmed: bool) -> ResourceDeletion<'a> {
    let mut d = ResourceDeletion::default();
    for e in live.iter().filter(|e| !hooks.is_hook(&e.key)) {
        let options = e.options();
        if options.no_delete {
            d.kept.push(e);
        } else if options.delete_confirm && !confirmed {
            d.waiting.push(e);
        } else {
            d.delete.push(e);
        }
    }
    // Deleting a Namespace, or the CRD of a kind, deletes what waits in it:
    // they wait with it.
    let holds = |e: &Extraneous| {
        d.waiting.iter().any(|w| match e.key.kind.as_str() {
            "Namespace" => e.key.group.is_empty() && w.key.namespace.as_deref() == Some(e.key.name.as_str()),
            "CustomResourceDefinition" => {
                let spec = &e.live["spec"];
                spec["group"].as_str() == Some(w.key.group.as_str()) && spec["names"]["kind"].as_str() == Some(w.key.kind.as_str())
            }
            _ => false,
        })
    };
    let (held, delete): (Vec<_>, Vec<_>) = d.delete.iter().partition(|e| holds(e));
    d.delete = delete;
    d.waiting.extend(held);
    d
}

/// Kind order, then name.
fn sort_tasks(tasks: &mut [Task]) {
    tasks.sort_by(|a, b| (kind_rank(&a.key.kind), &a.key).cmp(&(kind_rank(&b.key.kind), &b.key)));
}

/// Names a hook that has only a `generateName` (see [`PlanOptions::sync_id`]),
/// and returns the name.
fn name_generated(manifest: &mut Manifest, phase: HookType, sync_id: &str) -> String {
    let name = format!("{}{}-{sync_id}", manifest.name(), phase.as_str().to_lowercase());
    if let Some(meta) = manifest.value_mut()["metadata"].as_object_mut() {
        meta.insert("name".into(), Value::String(name.clone()));
    }
    name
}

/// Where a task stands in what an interrupted run of its sync recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// To do.
    Pending,
    /// A hook the interrupted run created, or was about to create: it is
    /// waited for if it exists, never deleted or created again.
    Running,
    /// Done: applied and seen healthy, pruned, or a hook that succeeded.
    Done,
}

/// What an interrupted run of a sync recorded in `syncResult.resources`,
/// read back so that the sync goes on from there, as gitops-engine's
/// `Sync()` finds its place again from its tasks' recorded state. Each
/// result carries its phase (`syncPhase`, `hookType`) and its progress
/// (`status`; `hookPhase`, which resources have too: Running once applied,
/// Succeeded once seen healthy); the wave is the task's own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resume<'a> {
    recorded: &'a [ResourceResult],
}

impl<'a> Resume<'a> {
    /// Reads `recorded`. A record with a failure in it is that of a run
    /// that failed (a crash came before its end was written, or during a
    /// retry's back-off): the sync starts over, as a retry does.
    pub fn new(recorded: &'a [ResourceResult]) -> Resume<'a> {
        let failed = recorded
            .iter()
            .any(|r| r.status == Some(ResultCode::SyncFailed) || matches!(r.hook_phase, Some(HookPhase::Failed | HookPhase::Error)));
        Resume { recorded: if failed { &[] } else { recorded } }
    }

    /// The results the sync goes on from.
    pub fn recorded(&self) -> &'a [ResourceResult] {
        self.recorded
    }

    /// Where `t` stands.
    pub fn state(&self, t: &Task) -> TaskState {
        let Some(r) = self.recorded.iter().find(|r| t.is_result(r)) else { return TaskState::Pending };
        match (&t.action, r.status, r.hook_phase) {
            (Action::RunHook(_), _, Some(HookPhase::Succeeded)) => TaskState::Done,
            (Action::RunHook(_), _, Some(HookPhase::Running)) => TaskState::Running,
            (Action::Apply, Some(ResultCode::Synced), Some(HookPhase::Succeeded)) => TaskState::Done,
            (Action::Prune | Action::PruneSkip(_) | Action::AwaitConfirmation, Some(ResultCode::Pruned | ResultCode::PruneSkipped), _) => {
                TaskState::Done
            }
            _ => TaskState::Pending,
        }
    }

    /// The phase and wave the interrupted run had reached: those of the
    /// first task of `plan` it had not done; None when it had done nothing,
    /// or everything.
    pub fn reached(&self, plan: &Plan) -> Option<(HookType, i64)> {
        if self.recorded.is_empty() {
            return None;
        }
        plan.tasks().filter(|t| t.phase != HookType::SyncFail).find(|t| self.state(t) != TaskState::Done).map(|t| (t.phase, t.wave))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(kind: &str, name: &str, annotations: Value) -> Target {
        let api = if kind == "Deployment" {
            "apps/v1"
        } else if kind == "Job" {
            "batch/v1"
        } else {
            "v1"
        };
        Target::new(
            Manifest::new(json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "annotations": annotations}})).unwrap(),
        )
        .unwrap()
    }

    fn names(w: &[Wave]) -> Vec<Vec<String>> {
        w.iter().map(|w| w.tasks.iter().map(|t| format!("{}/{}", t.key.kind, t.key.name)).collect()).collect()
    }

    #[test]
    fn phases_then_waves_then_kind_order_then_name() {
        let targets = [
            target("Deployment", "web", json!({})),
            target("Service", "web", json!({})),
            target("ConfigMap", "b", json!({})),
            target("ConfigMap", "a", json!({})),
            target("Namespace", "late", json!({ANNOTATION_SYNC_WAVE: "5"})),
            target("Secret", "early", json!({ANNOTATION_SYNC_WAVE: "-1"})),
            target("Job", "migrate", json!({ANNOTATION_HOOK: "PreSync"})),
            target("Job", "smoke", json!({ANNOTATION_HOOK: "PostSync", ANNOTATION_HOOK_DELETE_POLICY: "HookSucceeded"})),
            target("Job", "cleanup", json!({ANNOTATION_HOOK: "SyncFail"})),
            target("ConfigMap", "skipped", json!({ANNOTATION_HOOK: "Skip"})),
        ];
        let p = plan(&targets, &[], &PlanOptions::default());
        assert_eq!(names(&p.pre_sync), [["Job/migrate"]]);
        assert_eq!(
            names(&p.sync),
            vec![vec!["Secret/early"], vec!["ConfigMap/a", "ConfigMap/b", "Service/web", "Deployment/web"], vec!["Namespace/late"]]
        );
        assert_eq!(names(&p.post_sync), [["Job/smoke"]]);
        assert_eq!(names(&p.sync_fail), [["Job/cleanup"]]);
        assert_eq!(p.post_sync[0].tasks[0].action, Action::RunHook(vec![HookDeletePolicy::HookSucceeded]));
    }

    fn helm(mode: HelmHookMode, occasion: HelmOccasion) -> HelmHooks {
        HelmHooks { mode, occasion }
    }

    #[test]
    fn helm_hooks_run_on_their_own_occasion_and_weights_are_waves() {
        let t = target("Job", "db-init", json!({HELM_HOOK: "pre-install,pre-upgrade", HELM_HOOK_WEIGHT: "-5"}));
        assert_eq!(t.wave, -5);
        assert_eq!(t.role.phases(helm(HelmHookMode::Helm, HelmOccasion::Install)), [HookType::PreSync]);
        assert_eq!(target("Pod", "test", json!({HELM_HOOK: "test"})).role, Role::Skip);
        assert_eq!(target("Pod", "t", json!({HELM_HOOK: "test-success, bogus"})).role, Role::Skip, "only tests and unknown values");
        assert_eq!(target("CustomResourceDefinition", "c", json!({HELM_HOOK: "crd-install"})).role, Role::Resource);

        use HelmOccasion::{Install, Rollback, Upgrade};
        use HookType::{PostDelete, PostSync, PreDelete, PreSync};
        /// The phases at install, upgrade and rollback.
        type Phases<'a> = [&'a [HookType]; 3];
        let cases: [(&str, Phases, Phases); 10] = [
            // value, Helm mode at install/upgrade/rollback, Argo CD mode at install/upgrade/rollback
            ("pre-install", [&[PreSync], &[], &[]], [&[PreSync], &[PreSync], &[PreSync]]),
            ("post-install", [&[PostSync], &[], &[]], [&[PostSync], &[PostSync], &[PostSync]]),
            ("pre-upgrade", [&[], &[PreSync], &[]], [&[PreSync], &[PreSync], &[PreSync]]),
            ("post-upgrade", [&[], &[PostSync], &[]], [&[PostSync], &[PostSync], &[PostSync]]),
            ("pre-rollback", [&[], &[], &[PreSync]], [&[], &[], &[]]),
            ("post-rollback", [&[], &[], &[PostSync]], [&[], &[], &[]]),
            ("pre-delete", [&[PreDelete], &[PreDelete], &[PreDelete]], [&[PreDelete], &[PreDelete], &[PreDelete]]),
            ("post-delete", [&[PostDelete], &[PostDelete], &[PostDelete]], [&[PostDelete], &[PostDelete], &[PostDelete]]),
            // Mixed: one Job for install and upgrade, the common chart idiom.
            ("pre-install,pre-upgrade", [&[PreSync], &[PreSync], &[]], [&[PreSync], &[PreSync], &[PreSync]]),
            (
                "post-upgrade, pre-install,test,nonsense",
                [&[PreSync], &[PostSync], &[]],
                [&[PostSync, PreSync], &[PostSync, PreSync], &[PostSync, PreSync]],
            ),
        ];
        for (value, in_helm, in_argocd) in cases {
            let role = target("Job", "j", json!({HELM_HOOK: value})).role;
            for (i, occasion) in [Install, Upgrade, Rollback].into_iter().enumerate() {
                assert_eq!(role.phases(helm(HelmHookMode::Helm, occasion)), in_helm[i], "{value} at {occasion:?}");
                assert_eq!(role.phases(helm(HelmHookMode::Argocd, occasion)), in_argocd[i], "{value} at {occasion:?}, argocd mode");
            }
        }
    }

    #[test]
    fn the_occasion_is_install_until_a_sync_succeeded_and_rollback_for_a_rollback() {
        assert_eq!(HelmOccasion::of(false, false), HelmOccasion::Install);
        assert_eq!(HelmOccasion::of(true, false), HelmOccasion::Upgrade);
        assert_eq!(HelmOccasion::of(true, true), HelmOccasion::Rollback);
        assert_eq!(HelmOccasion::of(false, true), HelmOccasion::Rollback);
    }

    #[test]
    fn a_sync_runs_only_the_helm_hooks_of_its_occasion() {
        let targets = [
            target("Job", "install", json!({HELM_HOOK: "pre-install"})),
            target("Job", "upgrade", json!({HELM_HOOK: "pre-upgrade"})),
            target("Job", "cleanup", json!({HELM_HOOK: "pre-delete"})),
        ];
        let sync = |helm| plan(&targets, &[], &PlanOptions { helm, ..Default::default() });
        assert_eq!(names(&sync(helm(HelmHookMode::Helm, HelmOccasion::Install)).pre_sync), [["Job/install"]]);
        assert_eq!(names(&sync(helm(HelmHookMode::Helm, HelmOccasion::Upgrade)).pre_sync), [["Job/upgrade"]]);
        assert!(sync(helm(HelmHookMode::Helm, HelmOccasion::Rollback)).tasks().next().is_none());
        assert_eq!(names(&sync(helm(HelmHookMode::Argocd, HelmOccasion::Upgrade)).pre_sync), [["Job/install", "Job/upgrade"]]);
    }

    #[test]
    fn helm_hook_modes_parse_and_hostile_values_are_refused() {
        assert_eq!(HelmHookMode::parse(" argocd "), Some(HelmHookMode::Argocd));
        assert_eq!(HelmHookMode::parse("helm"), Some(HelmHookMode::Helm));
        for bad in ["", "Argocd", "HELM", "argocd,helm", "helm\0", "\u{202e}helm", &"x".repeat(100_000)] {
            assert_eq!(HelmHookMode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn garbage_hook_annotations_never_panic() {
        // A fuzz-style sweep: random bytes and fragments of real values.
        let pieces = ["pre-install", "post-delete", "PreDelete", ",", " ", "test", "crd-install", "\u{0}", "é", "Skip", "=", "\n"];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut value = String::new();
            for _ in 0..(seed % 6) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                value.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            for key in [HELM_HOOK, ANNOTATION_HOOK] {
                let m =
                    Manifest::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "annotations": {key: value}}}))
                        .unwrap();
                if let Ok(t) = Target::new(m) {
                    let _ = plan(std::slice::from_ref(&t), &[], &PlanOptions::default());
                    let _ = plan_deletion(&[t], HelmHookMode::Helm, "1");
                }
            }
        }
    }

    #[test]
    fn deletion_hooks_never_run_in_a_sync_and_run_in_their_phases_at_deletion() {
        let targets = [
            target("Job", "pre", json!({ANNOTATION_HOOK: "PreDelete"})),
            target("Job", "pre-late", json!({ANNOTATION_HOOK: "PreDelete", ANNOTATION_SYNC_WAVE: "2"})),
            target("Job", "post", json!({ANNOTATION_HOOK: "PostDelete", ANNOTATION_HOOK_DELETE_POLICY: "HookFailed"})),
            target("Job", "both", json!({ANNOTATION_HOOK: "PreSync,PreDelete"})),
            target("Job", "helm-post", json!({HELM_HOOK: "post-delete"})),
            target("ConfigMap", "web", json!({})),
        ];
        let p = plan(&targets, &[], &PlanOptions::default());
        assert_eq!(names(&p.pre_sync), [["Job/both"]], "a deletion hook is not run in a sync");
        assert!(p.post_sync.is_empty() && p.sync_fail.is_empty());
        let d = plan_deletion(&targets, HelmHookMode::Helm, "1700000000");
        assert_eq!(names(&d.pre_delete), [vec!["Job/both", "Job/pre"], vec!["Job/pre-late"]]);
        assert_eq!(names(&d.post_delete), [["Job/helm-post", "Job/post"]]);
        assert!(d.tasks().all(|t| t.hook_type().is_some_and(HookType::is_deletion)));
        assert!(d.is_hook(&targets[0].key) && !d.is_hook(&targets[5].key));
    }

    #[test]
    fn a_deletion_hook_with_a_generate_name_has_the_same_name_at_every_pass() {
        let m = Manifest::new(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"generateName": "drain-", "annotations": {ANNOTATION_HOOK: "PreDelete"}}}))
        .unwrap();
        let t = Target::new(m).unwrap();
        let first = plan_deletion(std::slice::from_ref(&t), HelmHookMode::Helm, "1700000000");
        let again = plan_deletion(&[t], HelmHookMode::Helm, "1700000000");
        assert_eq!(names(&first.pre_delete), [["Job/drain-predelete-1700000000"]]);
        assert_eq!(names(&first.pre_delete), names(&again.pre_delete));
    }

    #[test]
    fn deletion_hooks_are_removed_unless_only_hook_failed_keeps_them() {
        use HookDeletePolicy::*;
        assert!(removed_after_deletion(&[]));
        assert!(removed_after_deletion(&[BeforeHookCreation]));
        assert!(removed_after_deletion(&[HookSucceeded, HookFailed]));
        assert!(!removed_after_deletion(&[HookFailed]));
    }

    #[test]
    fn deletion_keeps_delete_false_waits_for_delete_confirm_and_leaves_its_hooks() {
        let live = [
            extraneous("ConfigMap", "plain", json!({})),
            extraneous("ConfigMap", "keep", json!({ANNOTATION_SYNC_OPTIONS: "Delete=false"})),
            extraneous("ConfigMap", "precious", json!({ANNOTATION_SYNC_OPTIONS: "Prune=false, Delete=confirm"})),
            {
                let live = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pre", "annotations": {ANNOTATION_HOOK: "PreDelete"}}});
                Extraneous { key: ResourceKey::of(&live), api_version: "batch/v1".into(), live }
            },
        ];
        let hooks = plan_deletion(&[target("Job", "pre", json!({ANNOTATION_HOOK: "PreDelete"}))], HelmHookMode::Helm, "1");
        let names = |v: &[&Extraneous]| v.iter().map(|e| e.key.name.clone()).collect::<Vec<_>>();
        let d = resources_to_delete(&live, &hooks, false);
        assert_eq!(
            (names(&d.delete), names(&d.kept), names(&d.waiting)),
            (vec!["plain".into()], vec!["keep".into()], vec!["precious".into()])
        );
        let d = resources_to_delete(&live, &hooks, true);
        assert_eq!(names(&d.delete), ["plain", "precious"], "confirmed");
        assert!(d.waiting.is_empty());
    }

    #[test]
    fn the_namespace_and_the_crd_of_what_waits_for_a_confirmation_wait_with_it() {
        let obj = |v: Value| Extraneous { key: ResourceKey::of(&v), api_version: v["apiVersion"].as_str().unwrap_or("v1").into(), live: v };
        let live = [
            obj(json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "data",
                "annotations": {ANNOTATION_SYNC_OPTIONS: "Delete=confirm"}}})),
            obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}})),
            obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})),
            obj(
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.dev"},
                "spec": {"group": "example.dev", "names": {"kind": "Widget", "plural": "widgets"}}}),
            ),
            obj(
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.dev"},
                "spec": {"group": "example.dev", "names": {"kind": "Gadget", "plural": "gadgets"}}}),
            ),
        ];
        let names = |v: &[&Extraneous]| v.iter().map(|e| e.key.name.clone()).collect::<Vec<_>>();
        let d = resources_to_delete(&live, &DeletionPlan::default(), false);
        assert_eq!(names(&d.delete), ["other", "gadgets.example.dev"]);
        assert_eq!(names(&d.waiting), ["w", "data", "widgets.example.dev"]);
        let d = resources_to_delete(&live, &DeletionPlan::default(), true);
        assert_eq!(d.delete.len(), 5, "all go once confirmed");
    }

    #[test]
    fn a_bad_wave_is_an_error_naming_the_resource() {
        let m = Manifest::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "annotations": {ANNOTATION_SYNC_WAVE: "soon"}}}),
        )
        .unwrap();
        let err = Target::new(m).unwrap_err();
        assert!(err.contains("ConfigMap x") && err.contains("soon"), "{err}");
    }

    fn extraneous(kind: &str, name: &str, annotations: Value) -> Extraneous {
        let live = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "annotations": annotations}});
        Extraneous { key: ResourceKey::of(&live), api_version: "v1".into(), live }
    }

    #[test]
    fn prunes_in_reverse_wave_order_with_prune_last_last_and_prune_false_kept() {
        let gone = [
            extraneous("ConfigMap", "w0", json!({})),
            extraneous("ConfigMap", "w3", json!({ANNOTATION_SYNC_WAVE: "3"})),
            extraneous("ConfigMap", "last", json!({ANNOTATION_SYNC_OPTIONS: "PruneLast=true"})),
            extraneous("ConfigMap", "keep", json!({ANNOTATION_SYNC_OPTIONS: "Prune=false"})),
        ];
        let p = plan(&[], &gone, &PlanOptions { prune: true, ..Default::default() });
        let order: Vec<_> = p.prune.iter().map(|t| (t.key.name.as_str(), t.action.clone())).collect();
        assert_eq!(
            order,
            [
                ("w3", Action::Prune),
                ("keep", Action::PruneSkip("ignored (no prune: Prune=false)")),
                ("w0", Action::Prune),
                ("last", Action::Prune)
            ]
        );
        let p = plan(&[], &gone, &PlanOptions::default());
        assert!(p.prune.iter().all(|t| matches!(t.action, Action::PruneSkip(_))), "without prune nothing is deleted");
    }

    #[test]
    fn a_prune_confirm_resource_waits_for_a_confirmation_unless_pruning_is_off() {
        let gone = [
            extraneous("ConfigMap", "guarded", json!({ANNOTATION_SYNC_OPTIONS: "Prune=confirm"})),
            extraneous("ConfigMap", "plain", json!({})),
        ];
        let actions = |opts: PlanOptions| -> Vec<Action> { plan(&[], &gone, &opts).prune.into_iter().map(|t| t.action).collect() };
        assert_eq!(actions(PlanOptions { prune: true, ..Default::default() }), [Action::AwaitConfirmation, Action::Prune]);
        assert_eq!(actions(PlanOptions { prune: true, prune_confirmed: true, ..Default::default() }), [Action::Prune, Action::Prune]);
        let off = actions(PlanOptions::default());
        assert!(off.iter().all(|a| matches!(a, Action::PruneSkip(_))), "without prune nothing waits: {off:?}");
    }

    #[test]
    fn partial_sync_runs_only_the_selected_resources_and_no_hooks() {
        let targets = [
            target("ConfigMap", "a", json!({})),
            target("ConfigMap", "b", json!({})),
            target("Job", "h", json!({ANNOTATION_HOOK: "PreSync"})),
        ];
        let only = vec![targets[1].key.clone()];
        let p = plan(&targets, &[], &PlanOptions { only: Some(only), ..Default::default() });
        assert_eq!(names(&p.sync), [["ConfigMap/b"]]);
        assert!(p.pre_sync.is_empty());
    }

    #[test]
    fn a_hook_with_only_a_generate_name_is_named_after_its_phase_and_the_sync() {
        let m = Manifest::new(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"generateName": "migrate-", "annotations": {ANNOTATION_HOOK: "PreSync,PostSync"}}}))
        .unwrap();
        let p = plan(&[Target::new(m).unwrap()], &[], &PlanOptions { sync_id: "1700000000-2".into(), ..Default::default() });
        assert_eq!(names(&p.pre_sync), [["Job/migrate-presync-1700000000-2"]]);
        assert_eq!(names(&p.post_sync), [["Job/migrate-postsync-1700000000-2"]]);
        let named = p.pre_sync[0].tasks[0].manifest.as_ref().unwrap();
        assert_eq!(named.value()["metadata"]["name"], "migrate-presync-1700000000-2", "the object is created under that name");
    }

    /// A sync with a hook in every phase and two waves: what a restart
    /// finds half done.
    fn hooked_plan() -> Plan {
        let targets = [
            target("Job", "pre", json!({ANNOTATION_HOOK: "PreSync"})),
            target("ConfigMap", "zero", json!({})),
            target("Job", "during-zero", json!({ANNOTATION_HOOK: "Sync"})),
            target("ConfigMap", "one", json!({ANNOTATION_SYNC_WAVE: "1"})),
            target("Job", "during-one", json!({ANNOTATION_HOOK: "Sync", ANNOTATION_SYNC_WAVE: "1"})),
            target("Job", "post", json!({ANNOTATION_HOOK: "PostSync"})),
        ];
        plan(&targets, &[], &PlanOptions::default())
    }

    fn result(t: &Task, status: ResultCode, hook_phase: HookPhase) -> ResourceResult {
        ResourceResult {
            group: t.key.group.clone(),
            version: "v1".into(),
            kind: t.key.kind.clone(),
            namespace: String::new(),
            name: t.key.name.clone(),
            status: Some(status),
            message: String::new(),
            hook_type: t.hook_type(),
            hook_phase: Some(hook_phase),
            sync_phase: Some(t.phase),
            images: Vec::new(),
        }
    }

    fn task<'p>(p: &'p Plan, name: &str) -> &'p Task {
        p.tasks().find(|t| t.key.name == name).unwrap()
    }

    #[test]
    fn a_resumed_sync_skips_what_its_record_shows_done_and_waits_for_the_hook_it_left_running() {
        let p = hooked_plan();
        let recorded = [
            result(task(&p, "pre"), ResultCode::Synced, HookPhase::Succeeded),
            result(task(&p, "zero"), ResultCode::Synced, HookPhase::Succeeded),
            result(task(&p, "during-zero"), ResultCode::Synced, HookPhase::Succeeded),
            // Applied, not yet seen healthy: applied again, then waited for.
            result(task(&p, "one"), ResultCode::Synced, HookPhase::Running),
            result(task(&p, "during-one"), ResultCode::Synced, HookPhase::Running),
        ];
        let resume = Resume::new(&recorded);
        let states: Vec<(&str, TaskState)> = p.tasks().map(|t| (t.key.name.as_str(), resume.state(t))).collect();
        assert_eq!(
            states,
            [
                ("pre", TaskState::Done),
                ("zero", TaskState::Done),
                ("during-zero", TaskState::Done),
                ("one", TaskState::Pending),
                ("during-one", TaskState::Running),
                ("post", TaskState::Pending),
            ]
        );
        assert_eq!(resume.reached(&p), Some((HookType::Sync, 1)));
        assert_eq!(resume.recorded().len(), 5, "the results so far are kept");
    }

    #[test]
    fn a_result_counts_only_for_its_own_phase() {
        let m = Manifest::new(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "check", "annotations": {ANNOTATION_HOOK: "PreSync,PostSync"}}}))
        .unwrap();
        let p = plan(&[Target::new(m).unwrap()], &[], &PlanOptions::default());
        let recorded = [result(&p.pre_sync[0].tasks[0], ResultCode::Synced, HookPhase::Succeeded)];
        let resume = Resume::new(&recorded);
        assert_eq!(resume.state(&p.pre_sync[0].tasks[0]), TaskState::Done);
        assert_eq!(resume.state(&p.post_sync[0].tasks[0]), TaskState::Pending, "the PostSync run is another");
        assert_eq!(resume.reached(&p), Some((HookType::PostSync, 0)));
    }

    #[test]
    fn a_record_with_a_failure_is_not_resumed_from() {
        let p = hooked_plan();
        let recorded = [
            result(task(&p, "pre"), ResultCode::Synced, HookPhase::Succeeded),
            result(task(&p, "during-zero"), ResultCode::SyncFailed, HookPhase::Failed),
        ];
        let resume = Resume::new(&recorded);
        assert!(p.tasks().all(|t| resume.state(t) == TaskState::Pending), "the sync starts over, as a retry would");
        assert!(resume.recorded().is_empty());
        assert_eq!(resume.reached(&p), None);
        assert!(p.tasks().all(|t| Resume::default().state(t) == TaskState::Pending), "nothing recorded, nothing done");
    }
}
