//! `AppProject`: which repositories, clusters, namespaces and kinds a team's
//! apps may use.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ApplicationDestination;

/// `AppProject.spec`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(group = "argoproj.io", version = "v1alpha1", kind = "AppProject", namespaced, shortname = "appproj", shortname = "appprojs")]
#[kube(crates(kube_core = "kube::core", k8s_openapi = "k8s_openapi", schemars = "schemars", serde = "serde", serde_json = "serde_json"))]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    /// What the project is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Repository URLs (globs) apps may deploy from; `*` allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
    /// Clusters and namespaces (globs) apps may deploy to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<ApplicationDestination>,
    /// Cluster-scoped kinds apps may create (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_whitelist: Vec<GroupKind>,
    /// Cluster-scoped kinds apps may not create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<GroupKind>,
    /// Namespaced kinds apps may create (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_whitelist: Vec<GroupKind>,
    /// Namespaced kinds apps may not create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_blacklist: Vec<GroupKind>,
    /// Namespaces where Applications of this project may live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_namespaces: Vec<String>,
    /// Roles and their policies (kept as given until RBAC lands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::preserve_unknown_fields")]
    pub roles: Option<serde_json::Value>,
    /// Sync windows (kept as given until sync windows land).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::preserve_unknown_fields")]
    pub sync_windows: Option<serde_json::Value>,
    /// Orphaned-resource monitoring (kept as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::preserve_unknown_fields")]
    pub orphaned_resources: Option<serde_json::Value>,
}

/// A group and kind, `*` matching any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GroupKind {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
}

impl AppProject {
    /// The `default` project, which allows everything, as Argo CD creates it.
    pub fn default_project(namespace: &str) -> AppProject {
        let mut p = AppProject::new(
            "default",
            AppProjectSpec {
                source_repos: vec!["*".into()],
                destinations: vec![ApplicationDestination { server: Some("*".into()), name: None, namespace: Some("*".into()) }],
                cluster_resource_whitelist: vec![GroupKind { group: "*".into(), kind: "*".into() }],
                ..Default::default()
            },
        );
        p.metadata.namespace = Some(namespace.into());
        p
    }
}
