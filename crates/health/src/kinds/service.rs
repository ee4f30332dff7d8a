//! core/Service: only a LoadBalancer waits, for its external address.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Healthy, Progressing};
use crate::obj::{array_at, str_at};

pub(super) fn health(obj: &Value) -> Health {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer") && array_at(obj, &["status", "loadBalancer", "ingress"]).is_empty() {
        return Health::status(Progressing);
    }
    Health::status(Healthy)
}
