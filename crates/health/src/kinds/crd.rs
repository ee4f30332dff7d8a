//! apiextensions.k8s.io/CustomResourceDefinition.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing};
use crate::obj::conditions;

pub(super) fn health(obj: &Value) -> Health {
    let conds = conditions(obj);
    if conds.is_empty() {
        return Health::new(Progressing, "Status conditions not found");
    }
    let mut established = false;
    let mut terminating = false;
    let mut names_not_accepted = false;
    let mut violations = false;
    // As Argo CD, the message of the last relevant condition is reported.
    let mut msg = "";
    for c in conds {
        match (c.type_, c.status) {
            ("Terminating", "True") => {
                terminating = true;
                msg = c.message;
            }
            ("NamesAccepted", "False") => {
                names_not_accepted = true;
                msg = c.message;
            }
            ("Established", "True") => established = true,
            ("Established", _) => msg = c.message,
            ("NonStructuralSchema", "True") => {
                violations = true;
                msg = c.message;
            }
            _ => {}
        }
    }
    if terminating {
        Health::new(Progressing, format!("CRD is being terminated: {msg}"))
    } else if names_not_accepted {
        Health::new(Degraded, format!("CRD names have not been accepted: {msg}"))
    } else if !established {
        Health::new(Degraded, format!("CRD is not established: {msg}"))
    } else if violations {
        Health::new(Degraded, format!("Schema violations found: {msg}"))
    } else {
        Health::new(Healthy, "CRD is healthy")
    }
}
