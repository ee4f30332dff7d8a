//! Built-in health checks, one kind per module.

mod apiservice;
mod application;
pub(crate) use application::judge as application_judge;
mod crd;
mod cronjob;
mod daemonset;
mod deployment;
mod externalsecrets;
pub(crate) mod generic;
mod hpa;
mod ingress;
mod job;
mod namespace;
mod pod;
mod pvc;
mod replicaset;
mod sealedsecret;
mod service;
mod statefulset;
mod workflow;

use serde_json::Value;

use crate::{GroupKind, Health};

/// Whether `gk` is Argo CD's Application (a child of an app-of-apps).
pub(crate) fn is_application(gk: &GroupKind<'_>) -> bool {
    (gk.group, gk.kind) == ("argoproj.io", "Application")
}

/// The built-in health of `obj`, or `None` when its kind has no notion of health.
pub(crate) fn assess(gk: &GroupKind<'_>, obj: &Value) -> Option<Health> {
    let check: fn(&Value) -> Health = match (gk.group, gk.kind) {
        ("apps", "Deployment") => deployment::health,
        ("apps", "StatefulSet") => statefulset::health,
        ("apps", "ReplicaSet") => replicaset::health,
        ("apps", "DaemonSet") => daemonset::health,
        ("extensions" | "networking.k8s.io", "Ingress") => ingress::health,
        ("argoproj.io", "Workflow") => workflow::health,
        ("argoproj.io", "Application") => application::health,
        ("apiregistration.k8s.io", "APIService") => apiservice::health,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::health,
        ("", "Service") => service::health,
        ("", "PersistentVolumeClaim") => pvc::health,
        ("", "Pod") => pod::health,
        ("", "Namespace") => namespace::health,
        ("batch", "Job") => job::health,
        ("batch", "CronJob") => cronjob::health,
        ("bitnami.com", "SealedSecret") => sealedsecret::health,
        ("external-secrets.io", "ExternalSecret") => externalsecrets::external_secret,
        ("external-secrets.io", "ClusterExternalSecret") => externalsecrets::cluster_external_secret,
        ("external-secrets.io", "SecretStore") => |o| externalsecrets::ready(o, "SecretStore"),
        ("external-secrets.io", "ClusterSecretStore") => |o| externalsecrets::ready(o, "ClusterSecretStore"),
        ("external-secrets.io", "PushSecret") => |o| externalsecrets::ready(o, "PushSecret"),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            return Some(hpa::health(gk.version, obj));
        }
        _ => return generic::health(gk, obj),
    };
    Some(check(obj))
}
