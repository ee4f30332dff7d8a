//! Identity of a resource, and its tracking id.

use std::fmt;

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
}
