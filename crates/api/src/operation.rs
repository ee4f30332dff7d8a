//! `Application.operation`: a requested sync, as Argo CD's CLI and UI write it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ApplicationSource, RetryStrategy};

/// A requested operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// A sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOperation>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
    /// Free-form information.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<crate::Info>,
    /// Retries of this operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
}

impl Operation {
    /// Whether this is a rollback: a sync to a source or sources of the
    /// app's history instead of its spec's, as `app rollback` (Argo CD's
    /// and driftless' API) and automatic rollback write it.
    pub fn is_rollback(&self) -> bool {
        self.sync.as_ref().is_some_and(|s| s.source.is_some() || !s.sources.is_empty())
    }
}

/// Who started an operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OperationInitiator {
    /// A user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The controller, by automated sync.
    #[serde(default)]
    pub automated: bool,
}

/// `operation.sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperation {
    /// The revision to sync to; empty means the app's targetRevision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Delete resources that are no longer in Git.
    #[serde(default)]
    pub prune: bool,
    /// Go through the motions without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Only these resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<SyncOperationResource>,
    /// Options for this sync (override the app's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Apply or hook strategy, with `force` (its schema: [`SyncStrategy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<SyncStrategy>")]
    pub sync_strategy: Option<serde_json::Value>,
    /// Sync from this source instead of the spec's (rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// A multi-source app's sources to sync instead of the spec's (rollback).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// A multi-source app's revisions, one per source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Local manifests to sync instead of the source's (`argocd app sync --local`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<String>,
    /// How many self-heal attempts led here (Argo CD's bookkeeping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_heal_attempts_count: Option<i64>,
}

/// `operation.sync.syncStrategy`: the schema of the field, which driftless
/// reads as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncStrategy {
    /// `kubectl apply` every resource, hooks ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<SyncStrategyForce>,
    /// Run hooks (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<SyncStrategyForce>,
}

/// `syncStrategy.apply` / `syncStrategy.hook`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncStrategyForce {
    /// Delete and re-create a resource a patch cannot update.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// A resource selected for a partial sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncOperationResource {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace, if namespaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
