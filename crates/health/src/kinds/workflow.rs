//! argoproj.io/Workflow (Argo Workflows): its phase.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing, Unknown};
use crate::obj::str_or_empty;

pub(super) fn health(obj: &Value) -> Health {
    let message = str_or_empty(obj, &["status", "message"]);
    let status = match str_or_empty(obj, &["status", "phase"]) {
        "" | "Pending" | "Running" => Progressing,
        "Succeeded" => Healthy,
        "Failed" | "Error" => Degraded,
        _ => Unknown,
    };
    Health::new(status, message)
}
