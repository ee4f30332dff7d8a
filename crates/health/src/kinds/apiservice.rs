//! apiregistration.k8s.io/APIService: its Available condition.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Healthy, Progressing};
use crate::obj::condition;

pub(super) fn health(obj: &Value) -> Health {
    match condition(obj, "Available") {
        Some(c) => {
            let status = if c.status == "True" { Healthy } else { Progressing };
            Health::new(status, format!("{}: {}", c.reason, c.message))
        }
        None => Health::new(Progressing, "Waiting to be processed"),
    }
}
