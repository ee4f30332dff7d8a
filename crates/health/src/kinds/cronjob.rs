//! batch/CronJob: Argo CD's bundled `batch/CronJob/health.lua`, natively.

use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing, Suspended};
use crate::obj::{array_at, at, bool_at, str_at};

pub(super) fn health(obj: &Value) -> Health {
    if bool_at(obj, &["spec", "suspend"]) {
        return Health::new(Suspended, "CronJob is Suspended");
    }
    if at(obj, &["status"]).is_none_or(Value::is_null) {
        return Health::new(Progressing, "Waiting for CronJob");
    }
    let Some(last_schedule) = str_at(obj, &["status", "lastScheduleTime"]) else {
        // Status does not tell a missed schedule apart from a future one.
        return Health::new(Healthy, "CronJob has not been scheduled yet");
    };
    let Some(last_success) = str_at(obj, &["status", "lastSuccessfulTime"]) else {
        return Health::new(Healthy, "The Cronjob never completed succesfully. It may not be healthy");
    };
    if !array_at(obj, &["status", "active"]).is_empty() {
        return Health::new(Healthy, "The job is running. Its last execution may not have been successful");
    }
    // RFC 3339 timestamps in UTC ("Z") compare correctly as strings, which is
    // what the Lua script does too.
    if last_success < last_schedule {
        return Health::new(Degraded, "CronJob has not completed its last execution successfully");
    }
    Health::new(Healthy, "CronJob has completed its last execution successfully")
}
