//! Stage 3, **diff**: decide whether a live object matches what Git wants,
//! the way an Argo CD user expects. Pure: objects are `serde_json::Value`; no
//! client, no I/O.
//!
//! The controller asks the API server for a server-side-apply dry run of the
//! desired manifest and compares the *predicted* object with the live one
//! ([`compare`]); both are [`normalize`]d first, so only the places where
//! applying Git would change something remain. When no dry run is possible
//! (say the CRD is not installed yet) it falls back to [`compare_subset`]:
//! everything the manifest sets must be in live. [`unified_diff`] renders a
//! readable diff for the CLI and UI, masking Secrets ([`mask_secrets`]).
//!
//! Rules come from Argo CD's `ignoreDifferences` ([`IgnoreDifference`]),
//! compiled once into [`DiffOptions`].

mod compare;
mod error;
mod jq;
mod managed_fields;
mod mask;
mod normalize;
mod options;
mod pointer;
mod quantity;
mod respect;
mod subset;
mod text;
mod yaml;

pub use error::Error;
pub use mask::mask_secrets;
pub use options::{DiffOptions, IgnoreDifference, IgnoreStatus};
pub use respect::respect_ignored;
pub use text::unified_diff;

use compare::Place;
use serde_json::Value;

/// Removes what never counts as drift, then applies the matching
/// `ignoreDifferences` rules.
///
/// Always removed: `status` (unless argocd-cm's `ignoreResourceStatusField`
/// says otherwise, see [`IgnoreStatus`]); a ClusterRole's aggregated `rules`
/// with `ignoreAggregatedRoles`; `metadata.managedFields`, `resourceVersion`,
/// `uid`, `generation`, `creationTimestamp`, `selfLink`,
/// `deletionGracePeriodSeconds`; the annotation
/// `kubectl.kubernetes.io/last-applied-configuration`; and then-empty
/// `labels`/`annotations`. The `argocd.argoproj.io/tracking-id` annotation is
/// kept: it is part of the desired state.
///
/// Rules match on `obj`'s group (from `apiVersion`), kind, name and namespace
/// (a missing namespace is taken from `live_for_managers`). A rule removes its
/// `jsonPointers`, the paths its `jqPathExpressions` yield, and every field
/// that its `managedFieldsManagers` own according to the `managedFields` of
/// `live_for_managers` (or of `obj` itself when `None`). Removing fields can
/// leave empty maps and lists; as in Argo CD these are then dropped.
pub fn normalize(obj: &Value, live_for_managers: Option<&Value>, opts: &DiffOptions) -> Value {
    normalize::normalize_with(obj, obj, live_for_managers, live_for_managers.unwrap_or(obj), opts)
}

/// The two sides a person reads in a resource's diff: live and the
/// predicted object (the dry run of Git's), both [`normalize`]d against
/// live as the comparison does, so that managedFields, status and ignored
/// fields do not show as changes. The CLI's `app diff` and the server's
/// managed-resources both show these.
pub fn normalize_pair(live: Option<&Value>, predicted: Option<&Value>, opts: &DiffOptions) -> (Option<Value>, Option<Value>) {
    (live.map(|l| normalize(l, Some(l), opts)), predicted.map(|p| normalize(p, live, opts)))
}

/// The outcome for one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Whether nothing differs after normalisation.
    pub in_sync: bool,
    /// JSON pointers of the fields that differ, sorted and unique. A list
    /// whose length differs is reported as a whole; `""` means the whole
    /// object (see [`Comparison::missing`]).
    pub changed: Vec<String>,
}

impl Comparison {
    /// The outcome when the live object does not exist: out of sync, as a
    /// whole.
    pub fn missing() -> Self {
        Self { in_sync: false, changed: vec![String::new()] }
    }

    fn from_changes(mut changed: Vec<String>) -> Self {
        changed.sort();
        changed.dedup();
        Self { in_sync: changed.is_empty(), changed }
    }
}

/// Compares a server-side-apply dry-run result (`predicted`) with `live`.
///
/// Both are normalised first; rules are matched by the live object's
/// identity and managed-fields rules use live's `managedFields` (predicted
/// carries driftless's own ownership, which is exactly what must not decide).
/// Maps are compared key by key, lists element by element (a length change
/// reports the list), numbers numerically and quantities by amount where
/// Kubernetes keeps quantities.
pub fn compare(predicted: &Value, live: &Value, opts: &DiffOptions) -> Comparison {
    let predicted = normalize::normalize_with(predicted, live, None, live, opts);
    let live = normalize::normalize_with(live, live, None, live, opts);
    let mut changed = Vec::new();
    compare::diff(Place::default(), "", &predicted, &live, &mut changed);
    Comparison::from_changes(changed)
}

/// Fallback when no dry run is possible: every field the `desired` manifest
/// sets must have the same value in `live`, after normalising both.
///
/// Maps are checked recursively (fields only live has are fine: server
/// defaults); lists element-wise and with the same length; a desired `null`,
/// `{}` or `[]` matches an absent field; numbers numerically; quantities by
/// amount at the known quantity places (`resources.limits/requests` and the
/// like, where `cpu: 1` matches `"1"`) and anywhere both sides are strings
/// that parse as quantities, one of them with a suffix or exponent (`"1Gi"`
/// matches `"1024Mi"`, but versions `"1.10"` and `"1.1"` differ). A Secret's
/// `stringData` is compared as the base64 `data` the server stores. `changed`
/// holds the pointers of the desired fields that live does not match.
pub fn compare_subset(desired: &Value, live: &Value, opts: &DiffOptions) -> Comparison {
    let desired = normalize::normalize_with(desired, live, None, live, opts);
    let live = normalize::normalize_with(live, live, None, live, opts);
    let mut changed = Vec::new();
    subset::check(Place::default(), "", &desired, Some(&live), &mut changed);
    Comparison::from_changes(changed)
}
