//! external-secrets.io (External Secrets Operator), every served version:
//! ExternalSecret, ClusterExternalSecret, SecretStore, ClusterSecretStore
//! and PushSecret, as their controller reports them and Argo CD's bundled
//! checks read them.

use serde_json::Value;

use super::generic::describe;
use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing};
use crate::obj::{condition, conditions, generation, str_at};

/// ExternalSecret: its `Ready` condition, and whether the controller has
/// synced the current spec.
///
/// `Ready` False (reason `SecretSyncedError`, `SecretMissing`, ...) is
/// Degraded with the controller's message, whatever generation it is of: a
/// failed refresh leaves the last synced version in place, so waiting for it
/// would wait forever. `Ready` True with reason `SecretDeleted` (the
/// provider's data is gone and `deletionPolicy: Delete` removed the Secret)
/// is what the user asked for, so Healthy, as in Argo CD.
///
/// The controller has no `observedGeneration`; it records the generation it
/// last synced in `status.syncedResourceVersion` (`<generation>-<hash>`) and
/// refreshes when that differs, except under `refreshPolicy: CreatedOnce`.
/// A `Ready` True of an older generation is therefore Progressing until the
/// refresh lands. This stands in for Argo CD's `refreshTime` rule for
/// `refreshPolicy: OnChange` (Ready counts only when it changed after the
/// last refresh), which holds for that policy alone and stays Progressing
/// after a second successful sync, as the Ready condition does not change.
/// The `Deleted` condition type older controllers set is never persisted
/// (the object is gone), so it is not read.
pub(super) fn external_secret(obj: &Value) -> Health {
    match condition(obj, "Ready") {
        Some(c) if c.status == "False" => Health::new(Degraded, describe(&c)),
        Some(c) if c.status == "True" => match stale_generation(obj) {
            Some(synced) => Health::new(
                Progressing,
                format!("Waiting for ExternalSecret to sync generation {} (synced generation {synced})", generation(obj)),
            ),
            None => Health::new(Healthy, c.message),
        },
        _ => Health::new(Progressing, "Waiting for ExternalSecret"),
    }
}

/// The generation `status.syncedResourceVersion` records, when the
/// controller is yet to refresh to the current one.
fn stale_generation(obj: &Value) -> Option<i64> {
    if str_at(obj, &["spec", "refreshPolicy"]) == Some("CreatedOnce") {
        return None;
    }
    let synced: i64 = str_at(obj, &["status", "syncedResourceVersion"])?.split_once('-')?.0.parse().ok()?;
    (synced != generation(obj)).then_some(synced)
}

/// SecretStore, ClusterSecretStore and PushSecret: their `Ready` condition
/// (a store is Ready once its provider answered a validation call).
pub(super) fn ready(obj: &Value, kind: &str) -> Health {
    match condition(obj, "Ready") {
        Some(c) if c.status == "False" => Health::new(Degraded, describe(&c)),
        Some(c) if c.status == "True" => Health::new(Healthy, c.message),
        _ => Health::new(Progressing, format!("Waiting for {kind}")),
    }
}

/// ClusterExternalSecret: its controller appends a condition per change, so
/// the last one says where it stands: `Ready`, or `PartiallyReady`/`NotReady`
/// when some namespaces' ExternalSecrets could not be made.
pub(super) fn cluster_external_secret(obj: &Value) -> Health {
    match conditions(obj).last() {
        Some(c) if c.type_ == "Ready" && c.status == "True" => Health::new(Healthy, c.message),
        Some(c) if matches!(c.type_, "PartiallyReady" | "NotReady") && c.status == "True" => Health::new(Degraded, describe(c)),
        _ => Health::new(Progressing, "Waiting for ClusterExternalSecret"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn synced(generation: i64, synced_version: Value, policy: Value) -> Value {
        json!({
            "metadata": { "generation": generation },
            "spec": { "refreshPolicy": policy },
            "status": {
                "conditions": [{ "type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced" }],
                "syncedResourceVersion": synced_version,
            },
        })
    }

    #[test]
    fn a_synced_version_the_controller_may_write_differently_never_keeps_it_progressing() {
        // Only "<generation>-<hash>" says which generation was synced;
        // anything else is not evidence of a pending refresh.
        for odd in [json!(null), json!(""), json!("abc"), json!("-1"), json!("x-1"), json!(7), json!("99999999999999999999-h")] {
            let h = external_secret(&synced(2, odd.clone(), json!(null)));
            assert_eq!(h.status, Healthy, "{odd}: {h:?}");
        }
    }

    #[test]
    fn every_refresh_policy_but_created_once_waits_for_the_current_generation() {
        for policy in [json!(null), json!("Periodic"), json!("OnChange")] {
            let h = external_secret(&synced(3, json!("2-abc"), policy.clone()));
            assert_eq!(h.status, Progressing, "{policy}: {h:?}");
            assert_eq!(external_secret(&synced(3, json!("3-abc"), policy.clone())).status, Healthy, "{policy}");
        }
        assert_eq!(external_secret(&synced(3, json!("2-abc"), json!("CreatedOnce"))).status, Healthy);
    }

    #[test]
    fn a_failure_is_degraded_even_before_the_current_generation_is_synced() {
        let mut obj = synced(3, json!("2-abc"), json!(null));
        obj["status"]["conditions"] = json!([{ "type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": "" }]);
        assert_eq!(external_secret(&obj), Health::new(Degraded, "SecretSyncedError"));
    }
}
