//! `AppProject`: which repositories, clusters, namespaces and kinds a team's
//! apps may use.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ApplicationDestination;

/// `AppProject.spec`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(group = "argoproj.io", version = "v1alpha1", kind = "AppProject", namespaced, shortname = "appproj", shortname = "appprojs")]
#[kube(status = "AppProjectStatus")]
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
    /// Cluster-scoped kinds (and names) apps may create (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_whitelist: Vec<ClusterResourceRestrictionItem>,
    /// Cluster-scoped kinds (and names) apps may not create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<ClusterResourceRestrictionItem>,
    /// Namespaced kinds apps may create (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_whitelist: Vec<GroupKind>,
    /// Namespaced kinds apps may not create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_blacklist: Vec<GroupKind>,
    /// Namespaces where Applications of this project may live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_namespaces: Vec<String>,
    /// Roles: policies, SSO groups and JWT tokens for automation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ProjectRole>,
    /// When apps of this project may and may not sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_windows: Vec<SyncWindow>,
    /// Report objects in the apps' namespaces that no app tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned_resources: Option<OrphanedResources>,
    /// The ServiceAccount a sync impersonates, per destination (when
    /// `application.sync.impersonation.enabled` is set in argocd-cm).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_service_accounts: Vec<DestinationServiceAccount>,
    /// GPG keys commits must be signed with (kept, not acted on by driftless).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature_keys: Vec<SignatureKey>,
    /// Destinations may only be clusters of this project (kept, not acted
    /// on by driftless: it has no project-scoped clusters).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub permit_only_project_scoped_clusters: bool,
    /// Signature checks of Git commits and Helm charts (kept, not acted on
    /// by driftless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_integrity: Option<SourceIntegrity>,
}

/// A GPG key commits must be signed with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureKey {
    /// The key's id, in hexadecimal.
    #[serde(rename = "keyID")]
    pub key_id: String,
}

/// `sourceIntegrity`: which sources must be signed, and by whom.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrity {
    /// Policies for Git sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<SourceIntegrityGit>,
    /// Policies for Helm charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<SourceIntegrityHelm>,
}

/// `sourceIntegrity.git`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrityGit {
    /// The policies.
    #[serde(default)]
    pub policies: Vec<SourceIntegrityGitPolicy>,
}

/// A Git signature policy: the repositories it covers and its GPG check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrityGitPolicy {
    /// Repositories (URL globs).
    #[serde(default)]
    pub repos: Vec<SourceIntegrityRepo>,
    /// The GPG check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpg: Option<SourceIntegrityGpg>,
}

/// `gpg`: how much history is checked, and the trusted keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrityGpg {
    /// `none`, `head` or `strict`.
    #[serde(default)]
    pub mode: String,
    /// Trusted key ids.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// A repository a policy covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrityRepo {
    /// URL glob.
    #[serde(default)]
    pub url: String,
}

/// `sourceIntegrity.helm`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrityHelm {
    /// The policies.
    #[serde(default)]
    pub policies: Vec<SourceIntegrityHelmPolicy>,
}

/// A Helm provenance policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrityHelmPolicy {
    /// Repositories (URL globs).
    #[serde(default)]
    pub repos: Vec<SourceIntegrityRepo>,
    /// The provenance check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<SourceIntegrityProvenance>,
}

/// `provenance`: the keys a chart may be signed with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceIntegrityProvenance {
    /// Trusted key ids.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// An entry of the cluster resource lists: a group and kind, `*` matching
/// any, and optionally a name (glob) that narrows it to some objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterResourceRestrictionItem {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name glob; absent matches every object of the kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `AppProject.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectStatus {
    /// Tokens issued per role (Argo CD keeps them here and in the role).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub jwt_tokens_by_role: std::collections::BTreeMap<String, JwtTokens>,
}

/// The tokens of one role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JwtTokens {
    /// The tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<JwtToken>,
}

/// A project role: `p, proj:<project>:<role>, ...` policies, the SSO
/// groups that hold it, and its tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRole {
    /// The role's name (its subject is `proj:<project>:<name>`).
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Policy lines in argocd-rbac-cm's format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Tokens issued for the role; deleting an entry revokes its token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_tokens: Vec<JwtToken>,
    /// SSO groups that hold the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A project token's record: no secret, only what identifies it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JwtToken {
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds); absent or 0 never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The token's id (its `jti` claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// Syncs may run while it is active.
    #[default]
    Allow,
    /// Syncs may not run while it is active.
    Deny,
}

/// A sync window: when it opens (cron), how long it stays open, and the
/// apps it applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncWindow {
    /// `allow` or `deny`.
    pub kind: WindowKind,
    /// When the window opens: a five-field cron expression.
    pub schedule: String,
    /// How long it stays open (`1h`, `30m`, `1h30m`).
    pub duration: String,
    /// App names (globs) it applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// Destination namespaces (globs) it applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Destination clusters (server URLs or names, globs) it applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// Manual syncs may run despite it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual_sync: bool,
    /// The schedule's time zone (IANA name); default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// An app must match every non-empty selector, not any.
    #[serde(default, rename = "andOperator", skip_serializing_if = "std::ops::Not::not")]
    pub and_operator: bool,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `orphanedResources`: objects in the apps' namespaces that no app tracks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrphanedResources {
    /// Set an OrphanedResourceWarning condition when there are some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<bool>,
    /// Objects that are not orphans (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<OrphanedResourceKey>,
}

/// An object (or objects, by globs) never reported as orphaned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrphanedResourceKey {
    /// API group; empty for core.
    #[serde(default)]
    pub group: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: String,
}

/// The ServiceAccount a sync to a destination impersonates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationServiceAccount {
    /// Destination server URL (glob).
    pub server: String,
    /// Destination namespace (glob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `name` (in the destination namespace) or `namespace:name`.
    pub default_service_account: String,
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
                cluster_resource_whitelist: vec![ClusterResourceRestrictionItem { group: "*".into(), kind: "*".into(), name: None }],
                ..Default::default()
            },
        );
        p.metadata.namespace = Some(namespace.into());
        p
    }
}
