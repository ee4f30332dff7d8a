//! `Application`: one app's source, destination and sync policy.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ApplicationStatus, FreeJson, Operation};

/// An Argo CD `Application`. Unlike most custom resources it has a third
/// top-level field, `operation`, through which a sync is requested, so it
/// is written by hand rather than derived.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Application {
    /// `apiVersion` and `kind`, always written: the API server needs them.
    #[serde(flatten)]
    #[schemars(skip)]
    pub types: ApplicationTypeMeta,
    /// Standard object metadata, read without managedFields (see
    /// [`crate::free::metadata`]).
    #[serde(deserialize_with = "crate::free::metadata")]
    pub metadata: ObjectMeta,
    /// What to deploy where, and how.
    pub spec: ApplicationSpec,
    /// What the controller observed and did (Argo CD's ApplicationStatus),
    /// written by the controller only and kept as written: the API server
    /// neither validates nor prunes it.
    // Validating it was a third of the server's CPU for each status write
    // (docs/performance.md). What the server no longer checks is checked
    // here: a status these types cannot read reads as none, which the
    // controller's next write replaces, rather than making the app (and
    // every listing that holds it) unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::free::lenient")]
    #[schemars(schema_with = "crate::crd::preserve_unknown_fields")]
    pub status: Option<ApplicationStatus>,
    /// A requested operation (a sync), consumed by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Box<Operation>>,
}

/// `apiVersion: argoproj.io/v1alpha1` and `kind: Application`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationTypeMeta {
    /// `argoproj.io/v1alpha1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `Application`.
    pub kind: String,
}

impl Default for ApplicationTypeMeta {
    fn default() -> Self {
        ApplicationTypeMeta { api_version: format!("{}/{}", crate::GROUP, crate::VERSION), kind: "Application".into() }
    }
}

crate::argo_resource!(Application, "Application", "applications");

impl Application {
    /// The app as JSON, to show (not to write back). One holding a value
    /// not read whole ([`crate::FreeJson::TooDeep`]) does not encode: it is
    /// shown by its metadata, project and destination, Unknown, with the
    /// reason as a `ComparisonError`, so that a listing shows the others.
    pub fn to_json_shown(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| {
            serde_json::json!({
                "apiVersion": self.types.api_version, "kind": self.types.kind, "metadata": self.metadata,
                "spec": { "project": self.spec.project, "destination": self.spec.destination },
                "status": {
                    "sync": { "status": "Unknown" }, "health": { "status": "Unknown" },
                    "conditions": [{ "type": "ComparisonError", "message": format!("the application cannot be shown whole: {e}") }]
                }
            })
        })
    }

    /// The single source, or the first of `sources`.
    pub fn primary_source(&self) -> Option<&ApplicationSource> {
        self.spec.source.as_ref().or_else(|| self.spec.sources.first())
    }

    /// Whether a person confirmed, at or after `since`, the pruning or
    /// deletion of the app's `Prune=confirm`/`Delete=confirm` resources (Argo
    /// CD's `IsDeletionConfirmed`): [`crate::ANNOTATION_DELETION_APPROVED`]
    /// holds an RFC 3339 time no earlier than `since`. An unreadable value
    /// confirms nothing.
    pub fn deletion_confirmed(&self, since: k8s_openapi::jiff::Timestamp) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::ANNOTATION_DELETION_APPROVED))
            .and_then(|v| v.trim().parse::<k8s_openapi::jiff::Timestamp>().ok())
            .is_some_and(|approved| approved >= since)
    }
}

/// `Application.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Where the manifests come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Several sources, combined (multi-source apps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// The cluster and namespace to deploy to.
    pub destination: ApplicationDestination,
    /// The AppProject this app belongs to.
    #[serde(default)]
    pub project: String,
    /// Automation and options of syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Differences that do not make the app OutOfSync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
    /// Free-form information shown with the app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<Info>,
    /// How many entries `status.history` keeps (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    /// Argo CD's source hydrator: render a "dry" source and push the result
    /// to a branch, then sync from it (kept, not acted on by driftless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<Box<SourceHydrator>>,
}

/// `spec.sourceHydrator`: where the dry manifests live, where hydrated ones
/// are synced from, and an optional staging branch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceHydrator {
    /// The "don't repeat yourself" source.
    pub dry_source: DrySource,
    /// Where hydrated manifests are synced from.
    pub sync_source: SyncSource,
    /// A staging branch hydrated manifests are pushed to first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydrate_to: Option<HydrateTo>,
}

/// `sourceHydrator.drySource`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrySource {
    /// The Git repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The revision to hydrate.
    #[serde(default)]
    pub target_revision: String,
    /// The directory of the dry manifests.
    #[serde(default)]
    pub path: String,
    /// Helm options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<ApplicationSourceHelm>,
    /// Kustomize options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<ApplicationSourceKustomize>,
    /// Directory options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<ApplicationSourceDirectory>,
    /// Config management plugin options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<ApplicationSourcePlugin>,
}

/// `sourceHydrator.syncSource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSource {
    /// The branch hydrated manifests are synced from.
    #[serde(default)]
    pub target_branch: String,
    /// The directory in that branch.
    #[serde(default)]
    pub path: String,
    /// The repository of the hydrated manifests (default: the dry source's).
    #[serde(default, rename = "repoURL", skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
}

/// `sourceHydrator.hydrateTo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydrateTo {
    /// The staging branch.
    #[serde(default)]
    pub target_branch: String,
}

/// A source of manifests: a Git repository path, a Helm chart or an OCI artifact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    /// Repository URL (Git, Helm repository, or `oci://`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Directory in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Branch, tag, commit or chart version; empty means HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// Helm chart name, for Helm repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// Name of this source, referenced as `$ref` by other sources.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,
    /// Display name of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only Git tags with this prefix are semver candidates for
    /// `targetRevision`, compared without it (Argo CD's; not acted on yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_prefix: Option<String>,
    // The four tools' options are boxed, as is `Application.operation`:
    // most apps set none of them, and inline they made each cached
    // Application 3.5 KB larger.
    /// Options for plain directories of manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<Box<ApplicationSourceDirectory>>,
    /// Options for Kustomize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<Box<ApplicationSourceKustomize>>,
    /// Options for Helm charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Box<ApplicationSourceHelm>>,
    /// Config management plugin options (not supported: rejected at render).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Box<ApplicationSourcePlugin>>,
}

/// `source.plugin`: a config management plugin, its environment and parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationSourcePlugin {
    /// The plugin's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvEntry>,
    /// Parameters: a string, a map or an array each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<PluginParameter>,
}

/// A name/value environment variable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvEntry {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// One `plugin.parameters[]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PluginParameter {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A string value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// A map value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<BTreeMap<String, String>>,
    /// An array value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<Vec<String>>,
}

/// `source.helm`: how `helm template` renders the chart, with Argo CD's
/// field names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSourceHelm {
    /// Values files, relative to the chart's directory, or `$name/path` in
    /// the source whose `ref` is `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// `--set` (or `--set-string`) parameters, applied after every values file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
    /// The release name; defaults to the Application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Values as a YAML string (ignored when `valuesObject` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    /// `--set-file` parameters: a value read from a file of the repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<HelmFileParameter>,
    /// Helm version (only v3 exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Send the repository's credentials to every domain (chart URLs on
    /// another host than the repository).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_credentials: bool,
    /// Skip values files that do not exist instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_value_files: bool,
    /// Leave out the chart's `crds/` directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_crds: bool,
    /// Values as an object; takes precedence over `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::preserve_unknown_fields")]
    pub values_object: Option<FreeJson>,
    /// The release namespace (`.Release.Namespace`); defaults to the
    /// destination namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `.Capabilities.KubeVersion`; defaults to the destination cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// `.Capabilities.APIVersions`; defaults to the destination cluster's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    /// Leave out the chart's test hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_tests: bool,
    /// Do not validate values against the chart's `values.schema.json`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_schema_validation: bool,
}

/// One `source.helm.parameters[]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmParameter {
    /// The value's path, e.g. `image.tag`.
    #[serde(default)]
    pub name: String,
    /// The value.
    #[serde(default)]
    pub value: String,
    /// Keep the value a string (`--set-string`) instead of guessing its type.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_string: bool,
}

/// One `source.helm.fileParameters[]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HelmFileParameter {
    /// The value's path.
    #[serde(default)]
    pub name: String,
    /// The file whose content becomes the value.
    #[serde(default)]
    pub path: String,
}

/// `source.directory`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSourceDirectory {
    /// Descend into subdirectories.
    #[serde(default)]
    pub recurse: bool,
    /// Glob (or `{a,b}` list of globs) of files to include.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    /// Glob (or `{a,b}` list of globs) of files to exclude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    /// Argo CD's switch for manifests whose extension is not `.yaml`,
    /// `.yml` or `.json` (argo-cd#28571; not acted on yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_extension_filter: bool,
    /// Jsonnet options (not supported: rejected at render).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonnet: Option<ApplicationSourceJsonnet>,
}

/// `directory.jsonnet`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSourceJsonnet {
    /// External variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_vars: Vec<JsonnetVar>,
    /// Top-level arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlas: Vec<JsonnetVar>,
    /// Library search directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libs: Vec<String>,
}

impl ApplicationSourceJsonnet {
    /// True when it sets nothing (Argo CD writes `jsonnet: {}`).
    pub fn is_empty(&self) -> bool {
        self.ext_vars.is_empty() && self.tlas.is_empty() && self.libs.is_empty()
    }
}

/// A Jsonnet variable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JsonnetVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// The value is Jsonnet code, not a string.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub code: bool,
}

/// `source.kustomize`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSourceKustomize {
    /// Prefix added to every resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Suffix added to every resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Image overrides, `name=newName:tag` or `name:tag` or `name@digest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Labels added to every resource and selector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations added to every resource.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Overwrite labels already set (Argo CD's `--force-common-label`).
    #[serde(default)]
    pub force_common_labels: bool,
    /// Overwrite annotations already set.
    #[serde(default)]
    pub force_common_annotations: bool,
    /// Namespace set on every namespaced resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Replica overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<KustomizeReplica>,
    /// Patches applied after the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<KustomizePatch>,
    /// Components added to the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Kustomize version to use (only the built-in one exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Substitute `$ARGOCD_APP_*` variables in `commonAnnotations`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub common_annotations_envsubst: bool,
    /// Skip components that do not exist instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_components: bool,
    /// Add `commonLabels` to resources but not to selectors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub label_without_selector: bool,
    /// With `labelWithoutSelector`, add them to pod templates too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub label_include_templates: bool,
    /// `.Capabilities.KubeVersion` for Helm charts inflated by Kustomize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// `.Capabilities.APIVersions` for Helm charts inflated by Kustomize.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

/// A replica override of `source.kustomize.replicas`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KustomizeReplica {
    /// Name of the Deployment or StatefulSet.
    pub name: String,
    /// Number of replicas.
    pub count: IntOrString,
}

/// A patch of `source.kustomize.patches`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KustomizePatch {
    /// A file with the patch, relative to the app's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The patch inline (strategic merge or JSON 6902).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Which resources the patch applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<KustomizeSelector>,
    /// Patch options (`allowNameChange`, `allowKindChange`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, bool>,
}

/// A Kustomize patch target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeSelector {
    /// API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (a regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Annotation selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// `spec.destination`: a cluster by `server` URL or by `name`, and a namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationDestination {
    /// API server URL of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Registered name of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace for namespaced resources that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ApplicationDestination {
    /// True when the destination is the cluster the controller runs in.
    pub fn is_in_cluster(&self) -> bool {
        match (&self.server, &self.name) {
            (Some(server), _) => server.trim_end_matches('/') == crate::IN_CLUSTER_SERVER,
            (None, Some(name)) => name == crate::IN_CLUSTER_NAME,
            (None, None) => false,
        }
    }
}

/// `spec.syncPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Sync automatically when Git changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<SyncPolicyAutomated>,
    /// Options such as `CreateNamespace=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Retries of a failed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// Labels and annotations for a namespace created by CreateNamespace
    /// (its schema: [`ManagedNamespaceMetadata`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ManagedNamespaceMetadata>")]
    pub managed_namespace_metadata: Option<serde_json::Value>,
}

/// `syncPolicy.managedNamespaceMetadata`: the schema of the field, which
/// driftless reads as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManagedNamespaceMetadata {
    /// Labels of the namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of the namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.syncPolicy.automated`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicyAutomated {
    /// Delete resources that are no longer in Git.
    #[serde(default)]
    pub prune: bool,
    /// Revert changes made in the cluster.
    #[serde(default)]
    pub self_heal: bool,
    /// Allow a sync that would leave the app with no resources.
    #[serde(default)]
    pub allow_empty: bool,
    /// `false` turns automation off while keeping the settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `syncPolicy.retry` / `operation.retry`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetryStrategy {
    /// Maximum number of retries; negative means forever.
    #[serde(default)]
    pub limit: i64,
    /// Delay between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Retry with the latest revision rather than the one that failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

/// Exponential back-off of retries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First delay, e.g. `5s` (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Multiplier per retry (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Longest delay, e.g. `3m` (default 3m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// `spec.ignoreDifferences[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceIgnoreDifferences {
    /// API group; empty for the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind.
    pub kind: String,
    /// Only this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// RFC 6901 pointers to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq path expressions to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    /// Fields owned by these field managers are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

/// A name/value pair of `spec.info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Info {
    /// Label.
    pub name: String,
    /// Value.
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_is_confirmed_by_an_approval_no_earlier_than_the_wait() {
        let mut app = Application::default();
        let since: k8s_openapi::jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        assert!(!app.deletion_confirmed(since), "no annotation confirms nothing");
        for (value, confirmed) in [
            ("2026-01-02T03:04:05Z", true),
            ("2026-01-02T04:00:00+01:00", false),
            ("2026-01-03T00:00:00Z", true),
            ("yesterday", false),
            ("", false),
        ] {
            app.metadata.annotations = Some([(crate::ANNOTATION_DELETION_APPROVED.to_string(), value.to_string())].into());
            assert_eq!(app.deletion_confirmed(since), confirmed, "{value:?}");
        }
    }

    #[test]
    fn a_status_the_types_cannot_read_reads_as_none_and_the_rest_of_the_app_as_written() {
        let app = |status: serde_json::Value| {
            serde_json::json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": { "name": "shop", "namespace": "argocd" },
                "spec": { "project": "default", "source": { "repoURL": "https://git.example/shop", "path": "." },
                          "destination": { "server": "https://kubernetes.default.svc", "namespace": "shop" } },
                "status": status
            })
        };
        // Written by someone other than the controller, which the API
        // server no longer refuses: wrong types, a time that is not one,
        // an object where a string goes.
        for hostile in [
            serde_json::json!({ "sync": 5 }),
            serde_json::json!({ "history": "all of it" }),
            serde_json::json!({ "reconciledAt": "yesterday" }),
            serde_json::json!({ "resources": [{ "kind": { "nested": true } }] }),
            serde_json::json!({ "health": { "status": { "code": ["Healthy"] } } }),
            serde_json::json!("not an object"),
        ] {
            let read: Application = serde_json::from_value(app(hostile.clone())).unwrap_or_else(|e| panic!("{hostile}: {e}"));
            assert_eq!(read.status, None, "{hostile}");
            assert_eq!(read.metadata.name.as_deref(), Some("shop"));
            assert_eq!(read.spec.source.as_ref().map(|s| s.repo_url.as_str()), Some("https://git.example/shop"));
            // The same through text, as a watch event or a listing arrives.
            let text = serde_json::to_string(&app(hostile)).unwrap();
            assert_eq!(serde_json::from_str::<Application>(&text).unwrap().status, None);
        }
        // A status the controller wrote reads whole; no status, or null, is none.
        let written = serde_json::json!({ "sync": { "status": "Synced", "revision": "abc" }, "health": { "status": "Healthy" },
                                          "reconciledAt": "2026-12-07T14:29:14Z" });
        let read: Application = serde_json::from_value(app(written.clone())).unwrap();
        assert_eq!(read.status.as_ref().map(|s| s.sync.revision.as_deref()), Some(Some("abc")));
        assert_eq!(serde_json::to_value(read.status.as_ref().unwrap()).unwrap()["reconciledAt"], written["reconciledAt"]);
        assert_eq!(serde_json::from_value::<Application>(app(serde_json::Value::Null)).unwrap().status, None);
    }

    #[test]
    fn argo_cd_helm_sources_read_into_typed_fields_and_back_unchanged() {
        let source = serde_json::json!({
            "repoURL": "https://charts.example", "chart": "web", "targetRevision": "^1.2",
            "helm": {
                "releaseName": "shop", "valueFiles": ["$values/envs/prod.yaml"], "ignoreMissingValueFiles": true,
                "values": "a: 1\n", "valuesObject": { "b": { "c": 2 } },
                "parameters": [{ "name": "image.tag", "value": "1.2", "forceString": true }],
                "fileParameters": [{ "name": "config", "path": "files/config.json" }],
                "skipCrds": true, "skipSchemaValidation": true, "skipTests": true, "passCredentials": true,
                "namespace": "shop", "kubeVersion": "1.30", "apiVersions": ["monitoring.coreos.com/v1"], "version": "v3"
            }
        });
        let typed: ApplicationSource = serde_json::from_value(source.clone()).unwrap();
        let helm = typed.helm.as_deref().unwrap();
        assert_eq!(helm.value_files, ["$values/envs/prod.yaml"]);
        assert!(helm.parameters[0].force_string && helm.skip_crds && helm.pass_credentials);
        assert_eq!(helm.values_object.as_ref().unwrap().value().unwrap()["b"]["c"], 2);
        assert_eq!(serde_json::to_value(&typed).unwrap(), source);
        // Unset flags stay unset, as Argo CD writes them.
        let bare: ApplicationSource = serde_json::from_value(serde_json::json!({ "repoURL": "r", "helm": {} })).unwrap();
        assert_eq!(serde_json::to_value(&bare).unwrap(), serde_json::json!({ "repoURL": "r", "helm": {} }));
    }
}
