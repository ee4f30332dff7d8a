//! autoscaling/HorizontalPodAutoscaler: its conditions (v2*) or, for v1, the
//! conditions the API server serializes into an annotation.

use serde::Deserialize;
use serde_json::Value;

use crate::Health;
use crate::HealthStatusCode::{Degraded, Healthy, Progressing, Unknown};
use crate::obj::{Condition, conditions, str_at};

const V1_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// (type, reason) pairs meaning the autoscaler cannot do its job.
const DEGRADED: [(&str, &str); 4] = [
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "InvalidSelector"),
];

/// A condition as the v1 annotation's JSON spells it.
#[derive(Deserialize)]
struct AnnotatedCondition {
    #[serde(default, rename = "type")]
    type_: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

pub(super) fn health(version: &str, obj: &Value) -> Health {
    match version {
        "v2" | "v2beta1" | "v2beta2" => check(&conditions(obj)),
        "v1" => {
            let Some(annotation) = str_at(obj, &["metadata", "annotations", V1_CONDITIONS_ANNOTATION]) else {
                return waiting();
            };
            match serde_json::from_str::<Vec<AnnotatedCondition>>(annotation) {
                Ok(parsed) if parsed.is_empty() => waiting(),
                Ok(parsed) => {
                    let conds: Vec<Condition<'_>> = parsed
                        .iter()
                        .map(|c| Condition { type_: &c.type_, status: &c.status, reason: &c.reason, message: &c.message })
                        .collect();
                    check(&conds)
                }
                Err(e) => Health::new(Unknown, format!("failed to convert conditions annotation to typed: {e}")),
            }
        }
        other => Health::new(Unknown, format!("unsupported HPA GVK: autoscaling/{other}, Kind=HorizontalPodAutoscaler")),
    }
}

/// The first condition that decides, in list order, as Argo CD does.
fn check(conds: &[Condition<'_>]) -> Health {
    for c in conds {
        if DEGRADED.contains(&(c.type_, c.reason)) {
            return Health::new(Degraded, c.message);
        }
        if matches!(c.type_, "AbleToScale" | "ScalingLimited") && c.status == "True" {
            return Health::new(Healthy, c.message);
        }
    }
    waiting()
}

fn waiting() -> Health {
    Health::new(Progressing, "Waiting to Autoscale")
}
