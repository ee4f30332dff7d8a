//! core/Namespace. Argo CD has no built-in rule; a namespace is usable once
//! Active and going away while Terminating.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Healthy, Progressing};
use crate::obj::str_at;

pub(super) fn health(obj: &Value) -> Health {
    match str_at(obj, &["status", "phase"]) {
        Some("Terminating") => Health::new(Progressing, "Namespace is terminating"),
        // A namespace the API server just created may not show a phase yet;
        // it is usable at once.
        _ => Health::status(Healthy),
    }
}
