//! batch/Job.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing, Suspended};
use crate::obj::conditions;

pub(super) fn health(obj: &Value) -> Health {
    let mut failed = false;
    let mut complete = false;
    let mut suspended = false;
    let mut fail_msg = "";
    let mut message = "";
    // As Argo CD: Failed/Complete count whatever their status (the job
    // controller only ever sets them True); Suspended only when True.
    for c in conditions(obj) {
        match c.type_ {
            "Failed" => {
                failed = true;
                complete = true;
                fail_msg = c.message;
            }
            "Complete" => {
                complete = true;
                message = c.message;
            }
            "Suspended" => {
                complete = true;
                message = c.message;
                suspended |= c.status == "True";
            }
            _ => {}
        }
    }
    if !complete {
        Health::new(Progressing, message)
    } else if failed {
        Health::new(Degraded, fail_msg)
    } else if suspended {
        // Argo CD reports the (empty) failure message here; the condition's
        // own message is more useful.
        Health::new(Suspended, message)
    } else {
        Health::new(Healthy, message)
    }
}
