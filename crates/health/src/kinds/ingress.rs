//! networking.k8s.io (and legacy extensions) Ingress: healthy once the
//! controller has published an address.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Healthy, Progressing};
use crate::obj::array_at;

pub(super) fn health(obj: &Value) -> Health {
    if array_at(obj, &["status", "loadBalancer", "ingress"]).is_empty() { Health::status(Progressing) } else { Health::status(Healthy) }
}
