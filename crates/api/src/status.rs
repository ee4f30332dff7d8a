//! `Application.status`, laid out as Argo CD writes it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ApplicationDestination, ApplicationSource, Operation, OperationInitiator, ResourceIgnoreDifferences};

/// `Application.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Every resource of the app, with its sync and health status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// Whether the cluster matches Git.
    #[serde(default)]
    pub sync: SyncStatus,
    /// The app's health: the worst of its resources'.
    #[serde(default)]
    pub health: HealthStatus,
    /// Past syncs, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RevisionHistory>,
    /// Errors and warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ApplicationCondition>,
    /// When the app was last compared with Git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<Time>,
    /// The current or last operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// Directory, Kustomize, Helm ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Images and URLs found in the resources.
    #[serde(default)]
    pub summary: ApplicationSummary,
    /// The controller replica that wrote this status, when the controller
    /// runs sharded (`driftless controller --sharded`); not in Argo CD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_by: Option<String>,
    /// Deprecated in Argo CD, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
    /// Where resource health is kept (`appTree` in Argo CD, or inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_health_source: Option<String>,
    /// A multi-source app's source types, one per source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_types: Vec<String>,
    /// The namespace of the controller that manages the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_namespace: Option<String>,
    /// Argo CD's source hydrator's progress (not written by driftless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<Box<SourceHydratorStatus>>,
}

/// `status.sourceHydrator`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceHydratorStatus {
    /// The last hydration that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_operation: Option<HydrateOperation>,
    /// The hydration under way or last attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_operation: Option<HydrateOperation>,
}

/// One hydration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydrateOperation {
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Hydrating, Failed or Hydrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The dry source's commit.
    #[serde(default, rename = "drySHA", skip_serializing_if = "Option::is_none")]
    pub dry_sha: Option<String>,
    /// The hydrated commit.
    #[serde(default, rename = "hydratedSHA", skip_serializing_if = "Option::is_none")]
    pub hydrated_sha: Option<String>,
    /// The hydrator settings used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<Box<crate::SourceHydrator>>,
}

/// Argo CD's sync statuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SyncStatusCode {
    /// Not compared yet, or the comparison failed.
    #[default]
    Unknown,
    /// Live matches Git.
    Synced,
    /// Live differs from Git.
    OutOfSync,
}

/// `status.sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Synced, OutOfSync or Unknown.
    pub status: SyncStatusCode,
    /// What the comparison was made against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_to: Option<ComparedTo>,
    /// The resolved revision (commit SHA) compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// A multi-source app's resolved revisions, one per source in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
}

/// `status.sync.comparedTo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedTo {
    /// The source compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// A multi-source app's sources compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// The destination compared.
    pub destination: ApplicationDestination,
    /// The ignore rules in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
}

/// Argo CD's health statuses, serialized exactly as "Healthy", "Progressing",
/// "Degraded", "Suspended", "Missing", "Unknown".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum HealthStatusCode {
    /// The resource is fully healthy.
    Healthy,
    /// Not healthy yet, but still has a chance to become so.
    Progressing,
    /// The resource failed or could not become healthy in time.
    Degraded,
    /// Paused or suspended (a paused Deployment, a suspended Job or CronJob).
    Suspended,
    /// The resource is absent from the cluster.
    Missing,
    /// The health could not be assessed.
    #[default]
    Unknown,
}

impl HealthStatusCode {
    /// All codes, from most to least healthy: Argo CD's `healthOrder`.
    pub const ORDER: [HealthStatusCode; 6] = [
        HealthStatusCode::Healthy,
        HealthStatusCode::Suspended,
        HealthStatusCode::Progressing,
        HealthStatusCode::Missing,
        HealthStatusCode::Degraded,
        HealthStatusCode::Unknown,
    ];

    /// Position in [`Self::ORDER`]; higher is worse.
    fn rank(self) -> usize {
        match self {
            HealthStatusCode::Healthy => 0,
            HealthStatusCode::Suspended => 1,
            HealthStatusCode::Progressing => 2,
            HealthStatusCode::Missing => 3,
            HealthStatusCode::Degraded => 4,
            HealthStatusCode::Unknown => 5,
        }
    }

    /// Whether `self` is strictly worse than `other` (Argo CD's
    /// `IsWorse(other, self)`).
    pub fn is_worse(self, other: Self) -> bool {
        self.rank() > other.rank()
    }

    /// The code as Argo CD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatusCode::Healthy => "Healthy",
            HealthStatusCode::Progressing => "Progressing",
            HealthStatusCode::Degraded => "Degraded",
            HealthStatusCode::Suspended => "Suspended",
            HealthStatusCode::Missing => "Missing",
            HealthStatusCode::Unknown => "Unknown",
        }
    }

    /// Parses Argo CD's spelling; `None` for anything else (Argo CD treats
    /// such a status from a Lua script as invalid).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ORDER.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for HealthStatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status.health` and `status.resources[].health`: a status and an
/// optional human message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthStatus {
    /// The health status.
    pub status: HealthStatusCode,
    /// Why; omitted when empty, as Argo CD's `omitempty` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed (Argo CD sets it on the app's health).
    #[serde(default, rename = "lastTransitionTime", skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

impl HealthStatus {
    /// A health with a message; an empty message becomes `None`, matching the
    /// Go zero value Argo CD leaves out of its JSON.
    pub fn new(status: HealthStatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        HealthStatus { status, message: (!message.is_empty()).then_some(message), last_transition_time: None }
    }

    /// A health without a message.
    pub fn status(status: HealthStatusCode) -> Self {
        HealthStatus { status, message: None, last_transition_time: None }
    }
}

/// `status.resources[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, if namespaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Synced or OutOfSync.
    pub status: SyncStatusCode,
    /// Health, for kinds that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// It is a hook.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hook: bool,
    /// Live but no longer in Git.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_pruning: bool,
    /// Its sync wave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_wave: Option<i64>,
    /// Deleting it needs a confirmation (Argo CD's `Delete=confirm`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_deletion_confirmation: bool,
}

/// `status.history[]`: one sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionHistory {
    /// Increasing id, used by rollback.
    pub id: i64,
    /// The commit synced.
    pub revision: String,
    /// The source synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// When the sync started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_at: Option<Time>,
    /// When the sync finished.
    pub deployed_at: Time,
    /// Who asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
    /// A multi-source app's sources synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// A multi-source app's commits synced, one per source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
}

/// `status.conditions[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationCondition {
    /// `ComparisonError`, `SyncError`, `InvalidSpecError`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// What happened, and what to do about it.
    pub message: String,
    /// When the condition was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Condition types, as Argo CD names them.
pub mod condition {
    /// The desired state could not be computed (render, Git, ...).
    pub const COMPARISON_ERROR: &str = "ComparisonError";
    /// A sync failed.
    pub const SYNC_ERROR: &str = "SyncError";
    /// The Application's spec is invalid.
    pub const INVALID_SPEC_ERROR: &str = "InvalidSpecError";
    /// A resource is managed by another app too.
    pub const SHARED_RESOURCE_WARNING: &str = "SharedResourceWarning";
    /// Objects in the app's namespace that no app tracks (the project's
    /// `orphanedResources.warn`).
    pub const ORPHANED_RESOURCE_WARNING: &str = "OrphanedResourceWarning";
    /// The project's sync windows keep automation from syncing now (or one
    /// of them is broken): which window, and until when. driftless's own:
    /// Argo CD shows the windows' state only in its UI.
    pub const SYNC_WINDOW_BLOCKED: &str = "SyncWindowBlocked";
    /// The app or its project sets fields of Argo CD's API that driftless
    /// keeps but does not act on yet ([`crate::unsupported_fields`]). A
    /// warning: the app is still compared and synced. driftless's own.
    pub const UNSUPPORTED_FIELD_WARNING: &str = "UnsupportedFieldWarning";
    /// A policy's `deny` rule refuses an object of the app's render, or a
    /// policy cannot judge it (it does not compile, its evaluation failed):
    /// no sync applies anything. driftless's own.
    pub const POLICY_VIOLATION: &str = "PolicyViolation";
    /// A policy's `warn` rule reports on an object of the app's render; the
    /// app syncs. driftless's own.
    pub const POLICY_WARNING: &str = "PolicyWarning";
    /// The app's cascade deletion cannot go on: a PreDelete hook failed, its
    /// render failed, or `Delete=confirm` resources wait for a person to
    /// confirm. The finalizer stays. driftless's own.
    pub const DELETION_ERROR: &str = "DeletionError";
    /// Automatic rollback synced the app back from a revision that left it
    /// Degraded or not Healthy in time; automation holds that revision until
    /// Git moves past it (the app shows OutOfSync on purpose), and the
    /// message says so, or that the rollback itself failed. driftless's own.
    pub const ROLLED_BACK: &str = "RolledBack";
    /// Automatic rollback cannot act: a bad `driftless.dev/rollback-after`
    /// value, or no earlier history entry seen Healthy. driftless's own.
    pub const ROLLBACK_ERROR: &str = "RollbackError";
    /// A sync waits for a person to confirm the pruning of `Prune=confirm`
    /// resources (Argo CD says so only in the operation's message): which,
    /// and how to confirm. driftless's own.
    pub const PRUNE_CONFIRMATION_REQUIRED: &str = "PruneConfirmationRequired";
    /// An app's dependencies (`driftless.dev/depends-on`) are not ready:
    /// each one waited for and why. No sync starts but a forced one.
    /// driftless's own.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// An app's dependencies cannot be judged: a bad `depends-on` or
    /// `depends-on-ready` annotation, or a cycle the app is part of. Nothing
    /// syncs but a forced sync. driftless's own.
    pub const DEPENDENCY_ERROR: &str = "DependencyError";
    /// A cascading deletion waits until the apps that depend on the app are
    /// gone (they are named). driftless's own.
    pub const DEPENDENTS_EXIST: &str = "DependentsExist";
}

/// Phases of an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OperationPhase {
    /// In progress.
    #[default]
    Running,
    /// Being stopped.
    Terminating,
    /// Finished with a failure.
    Failed,
    /// Could not be carried out.
    Error,
    /// Finished successfully.
    Succeeded,
}

impl OperationPhase {
    /// True once the operation is over.
    pub fn is_completed(self) -> bool {
        matches!(self, OperationPhase::Failed | OperationPhase::Error | OperationPhase::Succeeded)
    }
}

/// `status.operationState`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// The operation being carried out.
    pub operation: Operation,
    /// Where it is.
    pub phase: OperationPhase,
    /// A summary for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the sync did, per resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncOperationResult>,
    /// When it started.
    pub started_at: Time,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// How many retries so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
}

/// `status.operationState.syncResult`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SyncOperationResult {
    /// One entry per resource touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceResult>,
    /// The commit synced.
    pub revision: String,
    /// The source synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// A multi-source app's sources synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// A multi-source app's commits synced, one per source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// The managed namespace's metadata as last synced.
    #[serde(default, rename = "managedNamespaceMetadata", skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<crate::ManagedNamespaceMetadata>,
}

/// Outcome of one resource in a sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ResultCode {
    /// Applied.
    Synced,
    /// Apply failed.
    SyncFailed,
    /// Deleted because it left Git.
    Pruned,
    /// Not deleted: pruning was off, or Prune=false.
    PruneSkipped,
}

/// Phase of a hook, or of a resource's part in a sync (Argo CD's
/// `hookPhase`, an `OperationPhase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HookPhase {
    /// A hook created (or about to be), not finished; a resource applied,
    /// not yet seen healthy.
    Running,
    /// A hook that finished well; a resource seen healthy by its wave.
    Succeeded,
    /// Finished badly.
    Failed,
    /// Could not be run.
    Error,
    /// Stopped.
    Terminating,
}

/// `syncResult.resources[]`. Written as a sync goes, they are also where a
/// sync a restart interrupted finds its place again: a hook Succeeded is not
/// run again, a hook Running is waited for, a resource Succeeded is not
/// applied again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResultCode>,
    /// Details, e.g. the API server's error.
    #[serde(default)]
    pub message: String,
    /// The hook's type, for hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_type: Option<crate::HookType>,
    /// The hook's phase, for hooks; for resources, whether the sync has
    /// seen them healthy yet (as in Argo CD, where it can be set for
    /// resources too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_phase: Option<HookPhase>,
    /// The sync phase it ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_phase: Option<crate::HookType>,
    /// Images of the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

/// `status.summary`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSummary {
    /// Container images used, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// URLs of Ingresses and LoadBalancers.
    #[serde(default, rename = "externalURLs", skip_serializing_if = "Vec::is_empty")]
    pub external_urls: Vec<String>,
    /// An Application is among the app's resources (an app of apps).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_app_of_apps: bool,
}
