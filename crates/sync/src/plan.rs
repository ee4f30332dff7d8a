//! Sync planning: which resource is applied, pruned or run as a hook, in
//! which phase and wave, in which order. Pure: a sort over data.

use std::collections::BTreeMap;

use driftless_api::Manifest;
use driftless_api::{
    ANNOTATION_HOOK, ANNOTATION_HOOK_DELETE_POLICY, ANNOTATION_SYNC_OPTIONS, ANNOTATION_SYNC_WAVE, HELM_HOOK, HELM_HOOK_DELETE_POLICY,
    HELM_HOOK_WEIGHT, HookDeletePolicy, HookType, ResourceSyncOptions,
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
    /// `hook: Skip`: never applied.
    Skip,
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

    /// True for hooks.
    pub fn is_hook(&self) -> bool {
        matches!(self.role, Role::Hook { .. })
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
    // Helm hooks, mapped as Argo CD maps them; Helm-only hooks (tests,
    // deletes, rollbacks) never run in a sync.
    if let Some(raw) = m.annotation(HELM_HOOK) {
        let mut phases = Vec::new();
        for h in split(raw) {
            match h.as_str() {
                "pre-install" | "pre-upgrade" => phases.push(HookType::PreSync),
                "post-install" | "post-upgrade" => phases.push(HookType::PostSync),
                "crd-install" => return Ok(Role::Resource),
                _ => {}
            }
        }
        phases.dedup();
        if phases.is_empty() {
            return Ok(Role::Skip);
        }
        let delete_policies = policies(m.annotation(HELM_HOOK_DELETE_POLICY))?;
        return Ok(Role::Hook { phases, delete_policies });
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

/// Orders a sync: hooks into their phases, resources into the Sync phase,
/// each by wave, then kind order, then name; prunes in reverse wave order.
pub fn plan(targets: &[Target], extraneous: &[Extraneous], opts: &PlanOptions) -> Plan {
    let selected = |k: &ResourceKey| opts.only.as_ref().is_none_or(|only| only.contains(k));
    let mut phases: BTreeMap<(HookType, i64), Vec<Task>> = BTreeMap::new();
    for t in targets {
        let task = |phase, action| Task {
            key: t.key.clone(),
            phase,
            wave: t.wave,
            action,
            manifest: Some(t.manifest.clone()),
            api_version: t.manifest.api_version().to_string(),
            options: t.options,
        };
        match &t.role {
            Role::Skip => {}
            Role::Resource => {
                if !selected(&t.key) || (opts.apply_out_of_sync_only && opts.in_sync.contains(&t.key)) {
                    continue;
                }
                phases.entry((HookType::Sync, t.wave)).or_default().push(task(HookType::Sync, Action::Apply));
            }
            Role::Hook { phases: hook_phases, delete_policies } => {
                // A partial sync runs no hooks, as in Argo CD.
                if opts.only.is_some() {
                    continue;
                }
                for p in hook_phases {
                    phases.entry((*p, t.wave)).or_default().push(task(*p, Action::RunHook(delete_policies.clone())));
                }
            }
        }
    }
    let mut plan = Plan::default();
    for ((phase, wave), mut tasks) in phases {
        tasks.sort_by(|a, b| (kind_rank(&a.key.kind), &a.key).cmp(&(kind_rank(&b.key.kind), &b.key)));
        let w = Wave { wave, tasks };
        match phase {
            HookType::PreSync => plan.pre_sync.push(w),
            HookType::Sync => plan.sync.push(w),
            HookType::PostSync => plan.post_sync.push(w),
            HookType::SyncFail => plan.sync_fail.push(w),
            HookType::Skip => {}
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

    #[test]
    fn helm_hooks_map_to_phases_and_weights_to_waves() {
        let t = target("Job", "db-init", json!({HELM_HOOK: "pre-install,pre-upgrade", HELM_HOOK_WEIGHT: "-5"}));
        assert_eq!(t.role, Role::Hook { phases: vec![HookType::PreSync], delete_policies: vec![] });
        assert_eq!(t.wave, -5);
        assert_eq!(target("Pod", "test", json!({HELM_HOOK: "test"})).role, Role::Skip);
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
}
