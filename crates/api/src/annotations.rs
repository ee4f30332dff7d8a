//! The `argocd.argoproj.io/*` annotations users keep in their manifests, and
//! the sync options they carry, parsed once into types.

use serde::{Deserialize, Serialize};

/// Orders resources within a phase: lower waves are applied first.
pub const ANNOTATION_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// Marks a resource as a hook of one or more phases (comma-separated).
pub const ANNOTATION_HOOK: &str = "argocd.argoproj.io/hook";
/// When to delete a hook (comma-separated).
pub const ANNOTATION_HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Per-resource sync options, e.g. `Prune=false,Replace=true`.
pub const ANNOTATION_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// Per-resource compare options, e.g. `IgnoreExtraneous`.
pub const ANNOTATION_COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";
/// `<app>:<group>/<kind>:<namespace>/<name>`: which app owns the object.
pub const ANNOTATION_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// On an Application: `normal` or `hard` asks for a refresh.
pub const ANNOTATION_REFRESH: &str = "argocd.argoproj.io/refresh";
/// On an ApplicationSet: asks it to generate again now (a Git webhook
/// sets it).
pub const ANNOTATION_APPSET_REFRESH: &str = "argocd.argoproj.io/application-set-refresh";
/// With the refresh annotation: when the reason for it happened (a
/// webhook's push, Unix milliseconds). Any Git fetch begun after it will
/// do, so the apps one push refreshes share one fetch.
pub const ANNOTATION_REFRESH_SINCE: &str = "driftless.dev/refresh-since";
/// On an Application: when a person confirmed the pruning or deletion of
/// its `Prune=confirm` / `Delete=confirm` resources (RFC 3339, Argo CD's
/// annotation). A confirmation counts for what waits since before it.
pub const ANNOTATION_DELETION_APPROVED: &str = "argocd.argoproj.io/deletion-approved";
// Automatic rollback (issue #20): the opt-in a person sets, and what the
// controller records on the app (annotations: the status stays within Argo
// CD's schema).
/// On an Application: roll back automatically when a sync leaves it
/// Degraded, or not Healthy within this Go duration (`30s`, `5m`).
pub const ANNOTATION_ROLLBACK_AFTER: &str = "driftless.dev/rollback-after";
/// Written by the controller: the ids of `status.history` entries seen
/// Healthy (comma-separated), the targets a rollback may go back to.
pub const ANNOTATION_HEALTHY_HISTORY: &str = "driftless.dev/healthy-history";
/// Written by the controller: the revision it rolled back from, which
/// automation does not sync again until Git resolves to another revision
/// (or a person syncs it).
pub const ANNOTATION_ROLLED_BACK_FROM: &str = "driftless.dev/rolled-back-from";
/// Helm's hook annotation, mapped to sync phases as Argo CD does.
pub const HELM_HOOK: &str = "helm.sh/hook";
/// Helm's hook weight, mapped to a sync wave.
pub const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm's hook delete policy.
pub const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";
/// On an Application: `helm` (the default) runs each Helm hook on its own
/// occasion (install, upgrade, rollback, delete); `argocd` maps them as Argo
/// CD does (pre-install and pre-upgrade both on every sync). Overrides
/// argocd-cm's `helm.hooks`.
pub const ANNOTATION_HELM_HOOKS: &str = "driftless.dev/helm-hooks";

/// A sync phase a hook runs in, or `Skip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum HookType {
    /// Before anything else is applied.
    PreSync,
    /// With the other resources of the Sync phase.
    Sync,
    /// After every resource is applied and healthy.
    PostSync,
    /// When the sync fails.
    SyncFail,
    /// Never applied.
    Skip,
    /// When the app is deleted with cascade, before its resources are
    /// deleted (Argo CD 3.3); never in a sync.
    PreDelete,
    /// When the app is deleted with cascade, once its resources are gone;
    /// never in a sync.
    PostDelete,
}

impl HookType {
    /// Every value.
    const ALL: [HookType; 7] = [
        HookType::PreSync,
        HookType::Sync,
        HookType::PostSync,
        HookType::SyncFail,
        HookType::Skip,
        HookType::PreDelete,
        HookType::PostDelete,
    ];

    /// Parses one value of the hook annotation.
    pub fn parse(s: &str) -> Option<HookType> {
        let s = s.trim();
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The value as Argo CD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HookType::PreSync => "PreSync",
            HookType::Sync => "Sync",
            HookType::PostSync => "PostSync",
            HookType::SyncFail => "SyncFail",
            HookType::Skip => "Skip",
            HookType::PreDelete => "PreDelete",
            HookType::PostDelete => "PostDelete",
        }
    }

    /// Whether hooks of this type run at the app's deletion, never in a sync.
    pub fn is_deletion(self) -> bool {
        matches!(self, HookType::PreDelete | HookType::PostDelete)
    }
}

/// When a hook is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookDeletePolicy {
    /// After the hook succeeded.
    HookSucceeded,
    /// After the hook failed.
    HookFailed,
    /// Before a new instance of the hook is created (the default).
    BeforeHookCreation,
}

impl HookDeletePolicy {
    /// Parses one value of the delete-policy annotation (Argo CD's or Helm's).
    pub fn parse(s: &str) -> Option<HookDeletePolicy> {
        Some(match s.trim() {
            "HookSucceeded" | "hook-succeeded" => HookDeletePolicy::HookSucceeded,
            "HookFailed" | "hook-failed" => HookDeletePolicy::HookFailed,
            "BeforeHookCreation" | "before-hook-creation" => HookDeletePolicy::BeforeHookCreation,
            _ => return None,
        })
    }
}

/// The options of the `argocd.argoproj.io/sync-options` annotation that
/// driftless honours on a resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceSyncOptions {
    /// `Prune=false`: never pruned.
    pub no_prune: bool,
    /// `Delete=false`: kept when the app is deleted.
    pub no_delete: bool,
    /// `Replace=true`: replaced (or re-created) instead of applied.
    pub replace: bool,
    /// `ServerSideApply=true` (already the default in driftless).
    pub server_side_apply: Option<bool>,
    /// `SkipDryRunOnMissingResource=true`: no dry run when the kind is unknown yet.
    pub skip_dry_run_on_missing_resource: bool,
    /// `PruneLast=true`: pruned after everything else.
    pub prune_last: bool,
    /// `Force=true`: delete and re-create when an apply fails.
    pub force: bool,
    /// `Prune=confirm`: pruned only once a person confirmed it
    /// ([`ANNOTATION_DELETION_APPROVED`] on the app).
    pub prune_confirm: bool,
    /// `Delete=confirm`: deleted with the app only once a person confirmed it.
    pub delete_confirm: bool,
}

impl ResourceSyncOptions {
    /// Parses the annotation's comma-separated `Key=value` list. Unknown
    /// options are ignored, as in Argo CD.
    pub fn parse(annotation: &str) -> ResourceSyncOptions {
        let mut o = ResourceSyncOptions::default();
        for item in annotation.split(',') {
            let Some((k, v)) = item.trim().split_once('=') else { continue };
            let on = v.trim().eq_ignore_ascii_case("true");
            match k.trim() {
                "Prune" => {
                    o.no_prune = v.trim().eq_ignore_ascii_case("false");
                    o.prune_confirm = v.trim().eq_ignore_ascii_case("confirm");
                }
                "Delete" => {
                    o.no_delete = v.trim().eq_ignore_ascii_case("false");
                    o.delete_confirm = v.trim().eq_ignore_ascii_case("confirm");
                }
                "Replace" => o.replace = on,
                "ServerSideApply" => o.server_side_apply = Some(on),
                "SkipDryRunOnMissingResource" => o.skip_dry_run_on_missing_resource = on,
                "PruneLast" => o.prune_last = on,
                "Force" => o.force = on,
                _ => {}
            }
        }
        o
    }
}

/// `syncPolicy.syncOptions` / `operation.sync.syncOptions` of an app, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// `CreateNamespace=true`.
    pub create_namespace: bool,
    /// `PruneLast=true`: every prune happens after the last wave.
    pub prune_last: bool,
    /// `ApplyOutOfSyncOnly=true`: skip resources already in sync.
    pub apply_out_of_sync_only: bool,
    /// `PrunePropagationPolicy=foreground|background|orphan`.
    pub prune_propagation_policy: Option<String>,
    /// `Replace=true` for every resource.
    pub replace: bool,
    /// `ServerSideApply=true|false`.
    pub server_side_apply: Option<bool>,
    /// `Validate=false`: no schema validation by the server.
    pub no_validate: bool,
    /// `RespectIgnoreDifferences=true`: ignored fields keep their live values on sync.
    pub respect_ignore_differences: bool,
    /// `FailOnSharedResource=true`.
    pub fail_on_shared_resource: bool,
}

impl SyncOptions {
    /// Parses a list like `["CreateNamespace=true", "PruneLast=true"]`.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a String>) -> SyncOptions {
        let mut o = SyncOptions::default();
        for item in items {
            let Some((k, v)) = item.trim().split_once('=') else { continue };
            let v = v.trim();
            let on = v.eq_ignore_ascii_case("true");
            match k.trim() {
                "CreateNamespace" => o.create_namespace = on,
                "PruneLast" => o.prune_last = on,
                "ApplyOutOfSyncOnly" => o.apply_out_of_sync_only = on,
                "PrunePropagationPolicy" => o.prune_propagation_policy = Some(v.to_ascii_lowercase()),
                "Replace" => o.replace = on,
                "ServerSideApply" => o.server_side_apply = Some(on),
                "Validate" => o.no_validate = v.eq_ignore_ascii_case("false"),
                "RespectIgnoreDifferences" => o.respect_ignore_differences = on,
                "FailOnSharedResource" => o.fail_on_shared_resource = on,
                _ => {}
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_sync_options_parse_argo_cd_syntax() {
        let o = ResourceSyncOptions::parse("Prune=false, Replace=true,SkipDryRunOnMissingResource=true");
        assert!(o.no_prune && o.replace && o.skip_dry_run_on_missing_resource);
        assert!(!o.no_delete);
        assert!(ResourceSyncOptions::parse("Delete=false").no_delete);
        let confirm = ResourceSyncOptions::parse("Prune=confirm,Delete=confirm");
        assert!(confirm.prune_confirm && confirm.delete_confirm && !confirm.no_prune && !confirm.no_delete);
    }

    #[test]
    fn app_sync_options_parse() {
        let items: Vec<String> =
            ["CreateNamespace=true", "PrunePropagationPolicy=Foreground", "Validate=false", "bogus"].map(String::from).into();
        let o = SyncOptions::parse(&items);
        assert!(o.create_namespace && o.no_validate);
        assert_eq!(o.prune_propagation_policy.as_deref(), Some("foreground"));
    }

    #[test]
    fn hook_values_parse_in_both_spellings() {
        assert_eq!(HookType::parse(" PreSync"), Some(HookType::PreSync));
        assert_eq!(HookType::parse("pre-install"), None);
        assert_eq!(HookType::parse("PreDelete "), Some(HookType::PreDelete));
        assert_eq!(HookType::parse("PostDelete"), Some(HookType::PostDelete));
        assert_eq!(HookType::parse("predelete"), None, "Argo CD's spelling only");
        assert!(HookType::PostDelete.is_deletion() && !HookType::PostSync.is_deletion());
        assert_eq!(HookDeletePolicy::parse("before-hook-creation"), Some(HookDeletePolicy::BeforeHookCreation));
    }
}
