//! bitnami.com/SealedSecret (Sealed Secrets): its `Synced` condition, once
//! the controller has seen the current spec.
//!
//! The controller decrypts the SealedSecret into a Secret it owns and says
//! how that went in `Synced`: True once the Secret is written, False with the
//! reason (e.g. `no key could decrypt secret (password)`) when it cannot
//! decrypt. As Argo CD's bundled check does today, a condition counts only
//! when `status.observedGeneration` is the object's generation: after a push
//! of new encrypted data, the old `Synced` describes the old data.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing};
use crate::obj::{condition, generation, int_at};

pub(super) fn health(obj: &Value) -> Health {
    let waiting = || Health::new(Progressing, "Waiting for Sealed Secret to be decrypted");
    if int_at(obj, &["status", "observedGeneration"]) != Some(generation(obj)) {
        return waiting();
    }
    match condition(obj, "Synced") {
        Some(c) if c.status == "True" => Health::new(Healthy, c.message),
        Some(c) if c.status == "False" => Health::new(Degraded, c.message),
        _ => waiting(),
    }
}
