//! `ApplicationSet`: Applications generated from a template and generators
//! (lists, clusters, Git, SCM providers, pull requests, plugins, and their
//! matrix and merge combinations), with Argo CD's field names.
//!
//! The types only: `driftless_appset` generates the Applications and its
//! controller writes them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ApplicationSpec, FreeJson, ResourceStatus};

/// An Argo CD `ApplicationSet`.
// Written by hand rather than derived (`kube::CustomResource`) to read its
// metadata without managedFields (see `crate::free::metadata`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
pub struct ApplicationSet {
    /// Standard object metadata, read without managedFields.
    #[serde(deserialize_with = "crate::free::metadata")]
    #[schemars(skip)]
    pub metadata: ObjectMeta,
    /// The generators and the template.
    pub spec: ApplicationSetSpec,
    /// What the controller generated, and its conditions.
    #[serde(default)]
    pub status: Option<ApplicationSetStatus>,
}

crate::argo_resource!(ApplicationSet, "ApplicationSet", "applicationsets");

impl ApplicationSet {
    /// The set as JSON, to show (not to write back). One holding a value
    /// not read whole ([`FreeJson::TooDeep`]) does not encode: it is shown
    /// by its metadata, its template's project and destination and its
    /// status, with the reason as an `ErrorOccurred` condition, so that a
    /// listing shows the others.
    pub fn to_json_shown(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| {
            let template = &self.spec.template.spec;
            let mut status = serde_json::to_value(&self.status).ok().filter(serde_json::Value::is_object).unwrap_or_default();
            status["conditions"] = serde_json::json!([{ "type": "ErrorOccurred", "status": "True", "reason": "ApplicationSetUnreadable",
                                                        "message": format!("the ApplicationSet cannot be shown whole: {e}") }]);
            serde_json::json!({
                "apiVersion": format!("{}/{}", crate::GROUP, crate::VERSION), "kind": "ApplicationSet", "metadata": self.metadata,
                "spec": { "generators": [], "template": { "metadata": {}, "spec": { "project": template.project, "destination": template.destination } } },
                "status": status,
            })
        })
    }
}

impl Serialize for ApplicationSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut o = s.serialize_struct("ApplicationSet", 5)?;
        o.serialize_field("apiVersion", &format!("{}/{}", crate::GROUP, crate::VERSION))?;
        o.serialize_field("kind", "ApplicationSet")?;
        o.serialize_field("metadata", &self.metadata)?;
        o.serialize_field("spec", &self.spec)?;
        if let Some(status) = &self.status {
            o.serialize_field("status", status)?;
        }
        o.end()
    }
}

/// `ApplicationSet.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSpec {
    /// Templates are Go templates rather than `{{param}}` substitutions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub go_template: bool,
    /// Where the parameter sets come from.
    #[serde(default)]
    pub generators: Vec<ApplicationSetGenerator>,
    /// The Application each parameter set becomes.
    pub template: ApplicationSetTemplate,
    /// What the controller may do to the Applications it generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<ApplicationSetSyncPolicy>,
    /// Progressive syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ApplicationSetStrategy>,
    /// Annotations and labels of generated Applications left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserved_fields: Option<ApplicationPreservedFields>,
    /// Go template options, e.g. `missingkey=error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub go_template_options: Vec<String>,
    /// Apply the selectors of generators nested in matrix and merge generators.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub apply_nested_selectors: bool,
    /// Fields of generated Applications the controller does not overwrite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_application_differences: Vec<ApplicationSetResourceIgnoreDifferences>,
    /// A Go template of a patch applied to every generated Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_patch: Option<String>,
}

/// `spec.template` and every generator's `template`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationSetTemplate {
    /// The generated Application's metadata.
    #[serde(default)]
    pub metadata: ApplicationSetTemplateMeta,
    /// The generated Application's spec.
    #[serde(default)]
    pub spec: ApplicationSpec,
}

/// The metadata a template may set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationSetTemplateMeta {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Finalizers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// `spec.syncPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSyncPolicy {
    /// Deleting the ApplicationSet leaves the Applications' resources.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_resources_on_deletion: bool,
    /// `create-only`, `create-update`, `create-delete` or `sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications_sync: Option<String>,
}

/// `spec.strategy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetStrategy {
    /// `AllAtOnce` or `RollingSync`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The steps of a rolling sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_sync: Option<ApplicationSetRolloutStrategy>,
    /// `AllAtOnce` (the default) or `Reverse`: with a RollingSync, deleting
    /// the set deletes the apps of its last step first, step by step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_order: Option<String>,
}

/// `strategy.rollingSync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationSetRolloutStrategy {
    /// Steps, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<ApplicationSetRolloutStep>,
}

/// One step of a rolling sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetRolloutStep {
    /// Which Applications (by label) the step syncs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<ApplicationMatchExpression>,
    /// How many (or what percentage) sync at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_update: Option<IntOrString>,
}

/// A label requirement of a rollout step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationMatchExpression {
    /// Label key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `In` or `NotIn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Label values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// `spec.preservedFields`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationPreservedFields {
    /// Annotation keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// Label keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// `spec.ignoreApplicationDifferences[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetResourceIgnoreDifferences {
    /// Only this Application; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// RFC 6901 pointers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq path expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
}

/// A top-level generator: exactly one kind set, and an optional selector.
pub type ApplicationSetGenerator = Generator<MatrixGenerator, MergeGenerator>;

/// A generator inside a matrix or merge generator. A matrix or merge nested
/// here is kept as JSON, as in Argo CD (CRD schemas cannot recurse).
pub type ApplicationSetNestedGenerator = Generator<FreeJson, FreeJson>;

/// A generator: exactly one kind set, and the selector that filters its
/// parameter sets. A matrix or merge nested in another is kept as JSON, as
/// in Argo CD (CRD schemas cannot recurse).
// `Matrix` and `Merge`: typed at the top, JSON when nested. One struct
// rather than the shared kinds flattened into two: serde reads a flattened
// struct's fields through a copy of each value that it makes first, to any
// depth, and list elements nested deeper than serde_json reads would then
// fail every listing of the namespace's sets (see `crate::free`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Generator<Matrix, Merge> {
    /// Literal parameter sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<ListGenerator>,
    /// Registered clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<ClusterGenerator>,
    /// Directories or files of a Git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitGenerator>,
    /// Repositories of an SCM provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scm_provider: Option<ScmProviderGenerator>,
    /// Clusters listed by a duck-typed resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_decision_resource: Option<DuckTypeGenerator>,
    /// Open pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestGenerator>,
    /// An external plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginGenerator>,
    /// The cartesian product of two generators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Matrix>,
    /// Two or more generators merged by keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    /// Keeps only the parameter sets with these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

impl<Matrix, Merge> Default for Generator<Matrix, Merge> {
    fn default() -> Self {
        Generator {
            list: None,
            clusters: None,
            git: None,
            scm_provider: None,
            cluster_decision_resource: None,
            pull_request: None,
            plugin: None,
            matrix: None,
            merge: None,
            selector: None,
        }
    }
}

/// `list`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListGenerator {
    /// The parameter sets, any JSON each.
    #[serde(default)]
    #[schemars(schema_with = "crate::crd::any_json_array")]
    pub elements: Vec<FreeJson>,
    /// The parameter sets as a YAML string (a Go template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements_yaml: Option<String>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// `clusters`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGenerator {
    /// Labels of the cluster Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
    /// One parameter set with every cluster, rather than one per cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flat_list: bool,
}

/// `clusterDecisionResource`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DuckTypeGenerator {
    /// The ConfigMap that describes the resource.
    #[serde(default)]
    pub config_map_ref: String,
    /// The resource's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// Labels of the resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// `git`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitGenerator {
    /// The repository.
    #[serde(rename = "repoURL", default)]
    pub repo_url: String,
    /// Directories (globs), one parameter set each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<GitGeneratorItem>,
    /// JSON or YAML files (globs) whose content are parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<GitGeneratorItem>,
    /// Branch, tag or commit.
    #[serde(default)]
    pub revision: String,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Prefix of the path parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_param_prefix: Option<String>,
    /// Extra parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// A directory or file pattern of the Git generator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitGeneratorItem {
    /// Glob.
    #[serde(default)]
    pub path: String,
    /// Exclude what it matches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude: bool,
}

/// A reference to a key of a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// The Secret.
    #[serde(default)]
    pub secret_name: String,
    /// The key.
    #[serde(default)]
    pub key: String,
}

/// A reference to a key of a ConfigMap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// The ConfigMap.
    #[serde(default)]
    pub config_map_name: String,
    /// The key.
    #[serde(default)]
    pub key: String,
}

/// A username and a reference to its password.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Password (or token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_ref: Option<SecretRef>,
}

/// A reference to a bearer token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BearerToken {
    /// The token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
}

/// The connection fields SCM providers share: an API URL, a token, TLS
/// settings, and whether every branch is scanned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmConnection {
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Scan every branch, not only the default one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_branches: bool,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// `scmProvider`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmProviderGenerator {
    /// GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<ScmGithub>,
    /// GitLab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<ScmGitlab>,
    /// Bitbucket Cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket: Option<ScmBitbucket>,
    /// Bitbucket Server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket_server: Option<ScmBitbucketServer>,
    /// Gitea.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitea: Option<ScmGitea>,
    /// Azure DevOps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_dev_ops: Option<ScmAzureDevOps>,
    /// AWS CodeCommit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_code_commit: Option<ScmAwsCodeCommit>,
    /// Which repositories count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<ScmProviderFilter>,
    /// `ssh` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_protocol: Option<String>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// `scmProvider.github`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmGithub {
    /// The organization.
    #[serde(default)]
    pub organization: String,
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// A GitHub App's repo-creds Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret_name: Option<String>,
    /// Scan every branch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_branches: bool,
}

/// `scmProvider.gitlab`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmGitlab {
    /// The group.
    #[serde(default)]
    pub group: String,
    /// Include subgroups.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_subgroups: bool,
    /// API URL, token, TLS and branches.
    #[serde(flatten)]
    pub connection: ScmConnection,
    /// Include projects shared with the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_shared_projects: Option<bool>,
    /// Only projects with this topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Trusted CA certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
}

/// `scmProvider.gitea`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScmGitea {
    /// Organization or user.
    #[serde(default)]
    pub owner: String,
    /// API URL, token, TLS and branches.
    #[serde(flatten)]
    pub connection: ScmConnection,
}

/// `scmProvider.bitbucket` (Bitbucket Cloud).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmBitbucket {
    /// Workspace.
    #[serde(default)]
    pub owner: String,
    /// User.
    #[serde(default)]
    pub user: String,
    /// The user's app password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_password_ref: Option<SecretRef>,
    /// Scan every branch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_branches: bool,
}

/// `scmProvider.bitbucketServer`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmBitbucketServer {
    /// Project.
    #[serde(default)]
    pub project: String,
    /// API URL.
    #[serde(default)]
    pub api: String,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Bearer token authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BearerToken>,
    /// Scan every branch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_branches: bool,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Trusted CA certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
}

/// `scmProvider.azureDevOps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmAzureDevOps {
    /// Organization.
    #[serde(default)]
    pub organization: String,
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Team project.
    #[serde(default)]
    pub team_project: String,
    /// Personal access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_ref: Option<SecretRef>,
    /// Scan every branch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_branches: bool,
}

/// `scmProvider.awsCodeCommit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmAwsCodeCommit {
    /// Only repositories with these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_filters: Vec<TagFilter>,
    /// IAM role to assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// AWS region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Scan every branch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_branches: bool,
}

/// An AWS tag filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TagFilter {
    /// Tag key.
    #[serde(default)]
    pub key: String,
    /// Tag value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `scmProvider.filters[]`: every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScmProviderFilter {
    /// Repository name regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_match: Option<String>,
    /// Paths that must exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths_exist: Vec<String>,
    /// Paths that must not exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths_do_not_exist: Vec<String>,
    /// Label regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_match: Option<String>,
    /// Branch regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_match: Option<String>,
}

/// `pullRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestGenerator {
    /// GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<PullRequestGithub>,
    /// GitLab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<PullRequestGitlab>,
    /// Gitea.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitea: Option<PullRequestGitea>,
    /// Bitbucket Server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket_server: Option<PullRequestBitbucketServer>,
    /// Bitbucket Cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket: Option<PullRequestBitbucket>,
    /// Azure DevOps (Argo CD spells it in lower case).
    #[serde(default, rename = "azuredevops", skip_serializing_if = "Option::is_none")]
    pub azure_devops: Option<PullRequestAzureDevOps>,
    /// Which pull requests count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<PullRequestFilter>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Generate nothing, rather than fail, when the repository is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_repo_not_found_error: bool,
    /// Parameters added to every element, as `values.<key>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// `pullRequest.github`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestGithub {
    /// Organization or user.
    #[serde(default)]
    pub owner: String,
    /// Repository.
    #[serde(default)]
    pub repo: String,
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// A GitHub App's repo-creds Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret_name: Option<String>,
    /// Only pull requests with these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// `pullRequest.gitlab`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestGitlab {
    /// Project.
    #[serde(default)]
    pub project: String,
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Only merge requests with these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Only merge requests in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request_state: Option<String>,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Trusted CA certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
}

/// `pullRequest.gitea`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestGitea {
    /// Organization or user.
    #[serde(default)]
    pub owner: String,
    /// Repository.
    #[serde(default)]
    pub repo: String,
    /// API URL.
    #[serde(default)]
    pub api: String,
    /// The access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Only pull requests carrying every one of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// `pullRequest.bitbucketServer`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestBitbucketServer {
    /// Project.
    #[serde(default)]
    pub project: String,
    /// Repository.
    #[serde(default)]
    pub repo: String,
    /// API URL.
    #[serde(default)]
    pub api: String,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Bearer token authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BearerToken>,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Trusted CA certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
}

/// `pullRequest.bitbucket` (Bitbucket Cloud).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestBitbucket {
    /// Workspace.
    #[serde(default)]
    pub owner: String,
    /// Repository.
    #[serde(default)]
    pub repo: String,
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Bearer token authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BearerToken>,
}

/// `pullRequest.azuredevops`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestAzureDevOps {
    /// Organization.
    #[serde(default)]
    pub organization: String,
    /// Project.
    #[serde(default)]
    pub project: String,
    /// Repository.
    #[serde(default)]
    pub repo: String,
    /// API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Only pull requests with these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// `pullRequest.filters[]`: every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestFilter {
    /// Source branch regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_match: Option<String>,
    /// Target branch regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_branch_match: Option<String>,
    /// Title regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_match: Option<String>,
}

/// `plugin`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginGenerator {
    /// The ConfigMap that names the plugin's service.
    #[serde(default)]
    pub config_map_ref: PluginConfigMapRef,
    /// What is sent to the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<PluginInput>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters, not sent to the plugin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// `plugin.configMapRef`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PluginConfigMapRef {
    /// The ConfigMap.
    #[serde(default)]
    pub name: String,
}

/// `plugin.input`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PluginInput {
    /// Parameters, any JSON each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::crd::any_json_map")]
    pub parameters: BTreeMap<String, FreeJson>,
}

/// `matrix`: the cartesian product of two generators' parameter sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatrixGenerator {
    /// The two generators.
    #[serde(default)]
    pub generators: Vec<ApplicationSetNestedGenerator>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// `merge`: parameter sets merged where their merge keys are equal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MergeGenerator {
    /// The generators, the first being the base.
    #[serde(default)]
    pub generators: Vec<ApplicationSetNestedGenerator>,
    /// The keys parameter sets are matched by.
    #[serde(default)]
    pub merge_keys: Vec<String>,
    /// A template merged over the ApplicationSet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// `ApplicationSet.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetStatus {
    /// Errors and progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ApplicationSetCondition>,
    /// Progressive sync state per Application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_status: Vec<ApplicationSetApplicationStatus>,
    /// The Applications generated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// How many Applications were generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_count: Option<i64>,
}

/// `status.conditions[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetCondition {
    /// `ErrorOccurred`, `ParametersGenerated`, `ResourcesUpToDate`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// What happened.
    #[serde(default)]
    pub message: String,
    /// When it was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// Why, in one word.
    #[serde(default)]
    pub reason: String,
}

/// `status.applicationStatus[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetApplicationStatus {
    /// The Application.
    #[serde(default)]
    pub application: String,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Details.
    #[serde(default)]
    pub message: String,
    /// Waiting, Pending, Progressing or Healthy.
    #[serde(default)]
    pub status: String,
    /// The rollout step it belongs to.
    #[serde(default)]
    pub step: String,
    /// The revisions it should sync to.
    #[serde(default)]
    pub target_revisions: Vec<String>,
}

impl ApplicationSetSpec {
    /// The project of the Applications the template makes (`default` when
    /// empty, as for an Application); it may be templated (`{{...}}`).
    pub fn project(&self) -> &str {
        match self.template.spec.project.as_str() {
            "" => "default",
            p => p,
        }
    }
}

impl<Matrix, Merge> Generator<Matrix, Merge> {
    /// The generator kinds set, by their field names (`list`, `git`, ...,
    /// `matrix` and `merge` included): none means Argo CD does not
    /// recognise the entry.
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            ("list", self.list.is_some()),
            ("clusters", self.clusters.is_some()),
            ("git", self.git.is_some()),
            ("scmProvider", self.scm_provider.is_some()),
            ("clusterDecisionResource", self.cluster_decision_resource.is_some()),
            ("pullRequest", self.pull_request.is_some()),
            ("plugin", self.plugin.is_some()),
            ("matrix", self.matrix.is_some()),
            ("merge", self.merge.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, set)| set.then_some(kind))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_project_are_read_from_the_spec() {
        let spec: ApplicationSetSpec = serde_json::from_value(serde_json::json!({
            "generators": [
                { "list": { "elements": [] } },
                { "matrix": { "generators": [{ "git": { "repoURL": "r", "revision": "HEAD" } }, { "clusters": {} }] } },
                { "selector": { "matchLabels": { "a": "b" } } },
            ],
            "template": { "metadata": {}, "spec": { "destination": {}, "project": "" } },
        }))
        .expect("a valid spec");
        let kinds: Vec<Vec<&str>> = spec.generators.iter().map(ApplicationSetGenerator::kinds).collect();
        assert_eq!(kinds, [vec!["list"], vec!["matrix"], vec![]], "a selector alone is no generator");
        assert_eq!(spec.project(), "default");
    }
}
