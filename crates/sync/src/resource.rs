//! Identity of a resource, and the tracking annotation that ties a live
//! object to its app.

use std::fmt;

use driftless_api::ANNOTATION_TRACKING_ID;
use driftless_api::Manifest;
use serde_json::Value;

/// Group, kind, namespace and name: what makes a resource the same resource
/// in Git and in the cluster (the version does not).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// API group; empty for core.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; None for cluster-scoped resources.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ResourceKey {
    /// The key of a Kubernetes object.
    pub fn of(obj: &Value) -> ResourceKey {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        ResourceKey {
            group: api_version.rsplit_once('/').map(|(g, _)| g.to_string()).unwrap_or_default(),
            kind: obj["kind"].as_str().unwrap_or_default().to_string(),
            namespace: obj["metadata"]["namespace"].as_str().filter(|s| !s.is_empty()).map(String::from),
            name: obj["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        }
    }

    /// Argo CD's tracking id: `<app>:<group>/<kind>:<namespace>/<name>`.
    pub fn tracking_id(&self, app: &str) -> String {
        format!("{app}:{}/{}:{}/{}", self.group, self.kind, self.namespace.as_deref().unwrap_or(""), self.name)
    }

    /// `group/kind/namespace/name` with the empty parts left out, as a
    /// diff's title names the resource.
    pub fn path(&self) -> String {
        [self.group.as_str(), &self.kind, self.namespace.as_deref().unwrap_or(""), &self.name]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gk = if self.group.is_empty() { self.kind.clone() } else { format!("{}/{}", self.group, self.kind) };
        match &self.namespace {
            Some(ns) => write!(f, "{gk} {ns}/{}", self.name),
            None => write!(f, "{gk} {}", self.name),
        }
    }
}

/// The tracking id on a live object, if any.
pub fn tracking_id(obj: &Value) -> Option<&str> {
    obj["metadata"]["annotations"][ANNOTATION_TRACKING_ID].as_str()
}

/// True when `obj` carries `app`'s tracking id, and the id names `obj`
/// itself: a copied manifest (or an object created by a controller from a
/// tracked template) does not belong to the app.
pub fn is_tracked_by(obj: &Value, app: &str) -> bool {
    tracking_id(obj).is_some_and(|id| id == ResourceKey::of(obj).tracking_id(app))
}

/// Stamps the tracking id of `app` on a desired manifest.
pub fn track(manifest: &mut Manifest, app: &str) {
    let id = ResourceKey::of(manifest.value()).tracking_id(app);
    manifest.set_annotation(ANNOTATION_TRACKING_ID, &id);
}

/// The name of an app in tracking ids: Argo CD uses the bare name for apps in
/// the control plane's namespace and `<namespace>_<name>` for apps in others.
/// driftless has no privileged namespace, so it always qualifies the name
/// except in `argocd`, where Argo CD's own ids stay valid.
pub fn app_instance_name(namespace: &str, name: &str) -> String {
    if namespace == "argocd" || namespace.is_empty() { name.to_string() } else { format!("{namespace}_{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tracking_ids_follow_argo_cd() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}});
        assert_eq!(ResourceKey::of(&obj).tracking_id("guestbook"), "guestbook:apps/Deployment:prod/web");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
        assert_eq!(ResourceKey::of(&ns).tracking_id("guestbook"), "guestbook:/Namespace:/prod");
    }

    #[test]
    fn only_the_object_a_tracking_id_names_is_tracked() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n",
            "annotations": {ANNOTATION_TRACKING_ID: "app:/ConfigMap:n/a"}}});
        assert!(is_tracked_by(&obj, "app"));
        assert!(!is_tracked_by(&obj, "other"));
        obj["metadata"]["name"] = json!("copy");
        assert!(!is_tracked_by(&obj, "app"), "a copy with the same annotation is not the app's");
    }
}
