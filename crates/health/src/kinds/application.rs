//! argoproj.io/Application (app-of-apps): the child app's own reported
//! health, as the Lua customization in Argo CD's docs does.

use serde_json::Value;

use crate::obj::{at, str_at, str_or_empty};
use crate::{Health, HealthStatusCode};

pub(super) fn health(obj: &Value) -> Health {
    let Some(health) = at(obj, &["status", "health"]).filter(|h| h.is_object()) else {
        return Health::status(HealthStatusCode::Progressing);
    };
    let message = str_or_empty(health, &["message"]);
    match str_at(health, &["status"]).and_then(HealthStatusCode::parse) {
        Some(status) => Health::new(status, message),
        // What Argo CD says of a customization returning a bad status.
        None => Health::new(HealthStatusCode::Unknown, "Lua returned an invalid health status"),
    }
}
