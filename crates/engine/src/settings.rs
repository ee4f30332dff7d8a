//! The `argocd-cm` settings that change what an app is made of and how it
//! is compared, parsed once per change of the ConfigMap (pure):
//!
//! - `application.resourceTrackingMethod`, `application.instanceLabelKey`:
//!   [`Tracking`];
//! - `resource.exclusions`, `resource.inclusions`: [`ResourceFilter`] (with
//!   Argo CD 3's default exclusions when `resource.exclusions` is unset);
//! - `resource.customizations.ignoreDifferences.<group_kind>` and `.all`:
//!   ignoreDifferences rules added to every app's own;
//! - `resource.compareoptions`: `ignoreAggregatedRoles`, `ignoreResourceStatusField`;
//! - `application.childHealth`: whether a child Application (app-of-apps)
//!   is judged by its own state (`driftless_health`'s rule; default on);
//! - `helm.hooks`: `helm` (the default: each Helm hook on its own occasion)
//!   or `argocd` (Argo CD's mapping); an app's `driftless.dev/helm-hooks`
//!   annotation overrides it ([`AppSettings::helm_hooks_for`]);
//! - `resource.customizations.knownTypeFields.<group_kind>`: checked only.
//!   Argo CD uses them to normalise Kubernetes types embedded in custom
//!   resources (`cpu: 1000m` against `cpu: "1"`); driftless's diff compares
//!   quantities by amount anywhere and takes every other value from the
//!   server's dry run, so it needs them for nothing.
//!
//! A value that does not parse is an error naming the key: the caller
//! compares, syncs and prunes nothing until it is fixed.

use std::collections::BTreeMap;

use driftless_api::glob_match;
use driftless_api::{ANNOTATION_HELM_HOOKS, Application};
use driftless_diff::{DiffOptions, IgnoreDifference, IgnoreStatus};
use driftless_sync::Tracking;
use driftless_sync::plan::HelmHookMode;
use driftless_sync::tracking::TrackingError;
use serde::Deserialize;

/// `application.resourceTrackingMethod`.
pub const TRACKING_METHOD_KEY: &str = "application.resourceTrackingMethod";
/// `application.instanceLabelKey`.
pub const INSTANCE_LABEL_KEY: &str = "application.instanceLabelKey";
/// `resource.exclusions`.
pub const EXCLUSIONS_KEY: &str = "resource.exclusions";
/// `resource.inclusions`.
pub const INCLUSIONS_KEY: &str = "resource.inclusions";
/// `resource.compareoptions`.
pub const COMPARE_OPTIONS_KEY: &str = "resource.compareoptions";
/// `helm.hooks`.
pub const HELM_HOOKS_KEY: &str = "helm.hooks";
/// Prefix of the per-kind ignoreDifferences customizations.
const IGNORE_DIFFERENCES_PREFIX: &str = "resource.customizations.ignoreDifferences.";
/// Prefix of the per-kind known type fields.
const KNOWN_TYPE_FIELDS_PREFIX: &str = "resource.customizations.knownTypeFields.";

/// Argo CD's condition for a manifest of an excluded kind.
pub const EXCLUDED_RESOURCE_WARNING: &str = "ExcludedResourceWarning";

/// Argo CD 3's `resource.exclusions`, as its install manifests ship them:
/// used when argocd-cm does not set the key.
const DEFAULT_EXCLUSIONS: &str = r#"
- apiGroups: ["", "discovery.k8s.io"]
  kinds: [Endpoints, EndpointSlice]
- apiGroups: [apiregistration.k8s.io]
  kinds: [APIService]
- apiGroups: [coordination.k8s.io]
  kinds: [Lease]
- apiGroups: [authentication.k8s.io, authorization.k8s.io]
  kinds: [SelfSubjectReview, TokenReview, LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview]
- apiGroups: [certificates.k8s.io]
  kinds: [CertificateSigningRequest]
- apiGroups: [cert-manager.io]
  kinds: [CertificateRequest]
- apiGroups: [cilium.io]
  kinds: [CiliumIdentity, CiliumEndpoint, CiliumEndpointSlice]
- apiGroups: [kyverno.io, reports.kyverno.io, wgpolicyk8s.io]
  kinds: [PolicyReport, ClusterPolicyReport, EphemeralReport, ClusterEphemeralReport, AdmissionReport, ClusterAdmissionReport,
          BackgroundScanReport, ClusterBackgroundScanReport, UpdateRequest]
"#;

/// A setting that does not parse: the key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argocd-cm {key}: {reason}")]
pub struct SettingsError {
    /// The ConfigMap key.
    pub key: String,
    /// What is wrong with its value.
    pub reason: String,
}

impl SettingsError {
    fn new(key: &str, reason: impl ToString) -> SettingsError {
        // A key is the user's text: keep a hostile one from flooding a condition.
        SettingsError { key: key.chars().take(200).collect(), reason: reason.to_string() }
    }
}

/// The argocd-cm settings every app's comparison follows.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSettings {
    /// Which live objects belong to which app, and what a manifest carries.
    pub tracking: Tracking,
    /// Kinds hidden from every app.
    pub filter: ResourceFilter,
    /// ignoreDifferences rules for every app (the customizations).
    pub ignore_differences: Vec<IgnoreDifference>,
    /// `ignoreResourceStatusField`.
    pub ignore_status: IgnoreStatus,
    /// `ignoreAggregatedRoles`.
    pub ignore_aggregated_roles: bool,
    /// `application.childHealth`: the health checks read it themselves
    /// ([`driftless_health::CustomChecks::from_argocd_cm`]); kept here so
    /// that a bad value stops comparisons as every bad setting does, and an
    /// edit wakes every app.
    pub child_health: bool,
    /// `helm.hooks`: how Helm hooks are taken, unless an app says otherwise.
    pub helm_hooks: HelmHookMode,
}

impl AppSettings {
    /// The defaults (no argocd-cm), for the control plane `control_plane`.
    pub fn defaults(control_plane: &str) -> AppSettings {
        AppSettings::parse(control_plane, &BTreeMap::new()).expect("the defaults parse")
    }

    /// Parses argocd-cm's data. Every bad key is reported, in key order.
    pub fn parse(control_plane: &str, data: &BTreeMap<String, String>) -> Result<AppSettings, Vec<SettingsError>> {
        let mut errors = Vec::new();
        let get = |key: &str| data.get(key).map(String::as_str);
        let tracking = Tracking::new(control_plane).with(get(TRACKING_METHOD_KEY), get(INSTANCE_LABEL_KEY)).unwrap_or_else(|e| {
            let key = if matches!(e, TrackingError::UnknownMethod(_)) { TRACKING_METHOD_KEY } else { INSTANCE_LABEL_KEY };
            errors.push(SettingsError::new(key, e));
            Tracking::new(control_plane)
        });
        let mut filter_list = |key: &str, default: &str| {
            let text = get(key).unwrap_or(default);
            parse_filters(text).unwrap_or_else(|reason| {
                errors.push(SettingsError::new(key, reason));
                Vec::new()
            })
        };
        let filter =
            ResourceFilter { exclusions: filter_list(EXCLUSIONS_KEY, DEFAULT_EXCLUSIONS), inclusions: filter_list(INCLUSIONS_KEY, "") };
        let compare = get(COMPARE_OPTIONS_KEY).map_or(Ok(CompareOptions::default()), parse_compare_options).unwrap_or_else(|reason| {
            errors.push(SettingsError::new(COMPARE_OPTIONS_KEY, reason));
            CompareOptions::default()
        });
        let ignore_status = IgnoreStatus::parse(compare.ignore_resource_status_field.as_deref().unwrap_or_default()).unwrap_or_else(|| {
            errors.push(SettingsError::new(COMPARE_OPTIONS_KEY, "ignoreResourceStatusField must be all, crd, none or off"));
            IgnoreStatus::All
        });
        let child_health = driftless_health::child_health_setting(data).unwrap_or_else(|e| {
            errors.push(SettingsError::new(e.key, e.reason));
            true
        });
        let helm_hooks = get(HELM_HOOKS_KEY).map_or(Some(HelmHookMode::default()), HelmHookMode::parse).unwrap_or_else(|| {
            errors.push(SettingsError::new(HELM_HOOKS_KEY, "must be helm or argocd"));
            HelmHookMode::default()
        });
        let mut ignore_differences = Vec::new();
        for (key, value) in data {
            if let Some(group_kind) = key.strip_prefix(IGNORE_DIFFERENCES_PREFIX) {
                match parse_ignore_differences(group_kind, value) {
                    Ok(rule) => ignore_differences.push(rule),
                    Err(reason) => errors.push(SettingsError::new(key, reason)),
                }
            } else if let Some(group_kind) = key.strip_prefix(KNOWN_TYPE_FIELDS_PREFIX)
                && let Err(reason) = check_known_type_fields(group_kind, value)
            {
                errors.push(SettingsError::new(key, reason));
            }
        }
        if errors.is_empty() {
            Ok(AppSettings {
                tracking,
                filter,
                ignore_differences,
                ignore_status,
                ignore_aggregated_roles: compare.ignore_aggregated_roles.unwrap_or(false),
                child_health,
                helm_hooks,
            })
        } else {
            Err(errors)
        }
    }

    /// How `app`'s Helm hooks are taken: its `driftless.dev/helm-hooks`
    /// annotation, else `helm.hooks`. A bad value is an error naming the
    /// annotation (quoted, cut short).
    pub fn helm_hooks_for(&self, app: &Application) -> Result<HelmHookMode, String> {
        match app.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_HELM_HOOKS)) {
            None => Ok(self.helm_hooks),
            Some(v) => HelmHookMode::parse(v).ok_or_else(|| {
                let shown: String = v.chars().take(64).collect();
                format!("annotation {ANNOTATION_HELM_HOOKS}: {shown:?} must be helm or argocd")
            }),
        }
    }

    /// The diff options of an app with `own` ignoreDifferences: its rules,
    /// then argocd-cm's, with the compare options. The error names the bad rule.
    pub fn diff_options(&self, own: &[IgnoreDifference]) -> Result<DiffOptions, driftless_diff::Error> {
        let rules: Vec<IgnoreDifference> = own.iter().chain(&self.ignore_differences).cloned().collect();
        Ok(DiffOptions::new(&rules)?.with_compare_options(self.ignore_status, self.ignore_aggregated_roles))
    }
}

/// Argo CD's `resource.exclusions`/`resource.inclusions`, and the kinds it
/// never shows (events, metrics, Leases).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    /// Kinds hidden (besides the core ones).
    pub exclusions: Vec<FilteredResource>,
    /// When any, the only kinds shown.
    pub inclusions: Vec<FilteredResource>,
}

/// One entry: globs of API groups, kinds and cluster URLs; an empty list
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilteredResource {
    /// API groups (`""` is the core group).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Cluster server URLs.
    #[serde(default)]
    pub clusters: Vec<String>,
}

impl FilteredResource {
    /// Whether this entry names `group`/`kind` on the cluster at `server`.
    pub fn matches(&self, group: &str, kind: &str, server: &str) -> bool {
        let any = |globs: &[String], text: &str| globs.is_empty() || globs.iter().any(|g| glob_match(g, text));
        any(&self.api_groups, group) && any(&self.kinds, kind) && any(&self.clusters, server)
    }
}

/// What Argo CD never watches, whatever the settings.
fn core_excluded(group: &str, kind: &str) -> bool {
    matches!(group, "events.k8s.io" | "metrics.k8s.io")
        || (group.is_empty() && kind == "Event")
        || (group == "coordination.k8s.io" && kind == "Lease")
}

impl ResourceFilter {
    /// Whether `group`/`kind` is hidden on the cluster at `server`.
    pub fn is_excluded(&self, group: &str, kind: &str, server: &str) -> bool {
        core_excluded(group, kind)
            || (!self.inclusions.is_empty() && !self.inclusions.iter().any(|f| f.matches(group, kind, server)))
            || self.exclusions.iter().any(|f| f.matches(group, kind, server))
    }
}

fn parse_filters(text: &str) -> Result<Vec<FilteredResource>, String> {
    let parsed: Option<Vec<FilteredResource>> =
        serde_saphyr::from_str(text).map_err(|e| format!("not a list of {{apiGroups, kinds, clusters}}: {e}"))?;
    Ok(parsed.unwrap_or_default())
}

/// `resource.compareoptions`. Other keys (`ignoreDifferencesOnResourceUpdates`,
/// which tunes what Argo CD's cache reports) are accepted and mean nothing here.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompareOptions {
    #[serde(default)]
    ignore_aggregated_roles: Option<bool>,
    #[serde(default)]
    ignore_resource_status_field: Option<String>,
}

fn parse_compare_options(text: &str) -> Result<CompareOptions, String> {
    let parsed: Option<CompareOptions> = serde_saphyr::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    Ok(parsed.unwrap_or_default())
}

/// The value of an ignoreDifferences customization.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OverrideIgnoreDiff {
    #[serde(default)]
    json_pointers: Vec<String>,
    #[serde(default)]
    jq_path_expressions: Vec<String>,
    #[serde(default)]
    managed_fields_managers: Vec<String>,
}

/// `(group, kind)` globs of a customization key's `<group_kind>` (`all`: every kind).
fn group_kind(suffix: &str) -> Result<(String, String), String> {
    if suffix == "all" {
        return Ok(("*".into(), "*".into()));
    }
    let key = driftless_health::override_key(suffix).ok_or("expected <group>_<Kind>, <Kind> or all after the prefix")?;
    Ok(match key.split_once('/') {
        Some((group, kind)) => (group.to_string(), kind.to_string()),
        None => (String::new(), key),
    })
}

fn parse_ignore_differences(suffix: &str, text: &str) -> Result<IgnoreDifference, String> {
    let (group, kind) = group_kind(suffix)?;
    let parsed: Option<OverrideIgnoreDiff> =
        serde_saphyr::from_str(text).map_err(|e| format!("not {{jsonPointers, jqPathExpressions, managedFieldsManagers}}: {e}"))?;
    let o = parsed.unwrap_or_default();
    let rule = IgnoreDifference {
        group: Some(group),
        kind,
        name: None,
        namespace: None,
        json_pointers: o.json_pointers,
        jq_path_expressions: o.jq_path_expressions,
        managed_fields_managers: o.managed_fields_managers,
    };
    // Compiled now, so that a bad pointer or jq expression names its key.
    DiffOptions::new(std::slice::from_ref(&rule)).map_err(|e| e.to_string())?;
    Ok(rule)
}

/// One entry of a knownTypeFields customization.
#[derive(Debug, Deserialize)]
struct KnownTypeField {
    field: String,
    #[serde(rename = "type")]
    type_: String,
}

fn check_known_type_fields(suffix: &str, text: &str) -> Result<(), String> {
    group_kind(suffix)?;
    let parsed: Option<Vec<KnownTypeField>> = serde_saphyr::from_str(text).map_err(|e| format!("not a list of {{field, type}}: {e}"))?;
    for (i, f) in parsed.unwrap_or_default().iter().enumerate() {
        if f.field.trim().is_empty() || f.type_.trim().is_empty() {
            return Err(format!("entry {i}: field and type are required"));
        }
    }
    Ok(())
}

/// Several settings errors as one message.
pub fn describe(errors: &[SettingsError]) -> String {
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{}; nothing is compared, synced or pruned until it is fixed", all.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_sync::TrackingMethod;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn keys(errors: Vec<SettingsError>) -> Vec<String> {
        errors.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn defaults_are_argo_cd_3s() {
        let s = AppSettings::defaults("argocd");
        assert_eq!(s.tracking, Tracking::new("argocd"));
        assert_eq!(s.ignore_status, IgnoreStatus::All);
        assert!(!s.ignore_aggregated_roles && s.ignore_differences.is_empty());
        assert!(s.child_health, "child apps are judged unless turned off");
        let hidden = |g: &str, k: &str| s.filter.is_excluded(g, k, "https://kubernetes.default.svc");
        for (g, k) in [
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("", "Endpoints"),
            ("discovery.k8s.io", "EndpointSlice"),
            ("coordination.k8s.io", "Lease"),
            ("authentication.k8s.io", "TokenReview"),
            ("authorization.k8s.io", "SubjectAccessReview"),
            ("certificates.k8s.io", "CertificateSigningRequest"),
            ("cilium.io", "CiliumIdentity"),
            ("reports.kyverno.io", "EphemeralReport"),
            ("metrics.k8s.io", "PodMetrics"),
        ] {
            assert!(hidden(g, k), "{g}/{k}");
        }
        for (g, k) in [("", "ConfigMap"), ("apps", "Deployment"), ("", "Service"), ("cilium.io", "CiliumNetworkPolicy")] {
            assert!(!hidden(g, k), "{g}/{k}");
        }
    }

    #[test]
    fn exclusions_and_inclusions_match_by_globs() {
        let s = AppSettings::parse(
            "argocd",
            &data(&[
                (EXCLUSIONS_KEY, "- apiGroups: ['*.example.com']\n  kinds: ['*']\n  clusters: ['https://prod-*']\n- apiGroups: ['']\n  kinds: [ConfigMap]\n"),
                (INCLUSIONS_KEY, "- apiGroups: ['', apps, '*.example.com']\n"),
            ]),
        )
        .unwrap();
        let f = &s.filter;
        assert!(f.is_excluded("", "ConfigMap", "https://dev"));
        assert!(f.is_excluded("a.example.com", "Widget", "https://prod-eu"));
        assert!(!f.is_excluded("a.example.com", "Widget", "https://dev"), "only on the clusters named");
        assert!(!f.is_excluded("apps", "Deployment", "https://dev"));
        assert!(f.is_excluded("batch", "Job", "https://dev"), "not included");
        assert!(f.is_excluded("", "Event", "https://dev"), "core exclusions always apply");
        assert!(!f.is_excluded("", "Endpoints", "https://dev"), "the user's list replaces Argo CD's default one");
    }

    #[test]
    fn tracking_comes_from_argocd_cm() {
        let s = AppSettings::parse("cd", &data(&[(TRACKING_METHOD_KEY, "label"), (INSTANCE_LABEL_KEY, "argocd.argoproj.io/instance")]))
            .unwrap();
        assert_eq!(s.tracking.method, TrackingMethod::Label);
        assert_eq!(s.tracking.label_key, "argocd.argoproj.io/instance");
        assert_eq!(s.tracking.control_plane, "cd");
        let both = AppSettings::parse("cd", &data(&[(TRACKING_METHOD_KEY, "annotation+label")])).unwrap();
        assert_eq!(both.tracking.method, TrackingMethod::AnnotationAndLabel);
        let off = AppSettings::parse("cd", &data(&[(driftless_health::CHILD_HEALTH_KEY, "false")])).unwrap();
        assert!(!off.child_health);
        assert_ne!(off, AppSettings::defaults("cd"), "turning it off is a change that wakes every app");
    }

    #[test]
    fn customizations_add_rules_for_every_app() {
        let s = AppSettings::parse(
            "argocd",
            &data(&[
                ("resource.customizations.ignoreDifferences.apps_Deployment", "jsonPointers: [/spec/replicas]"),
                ("resource.customizations.ignoreDifferences.all", "managedFieldsManagers: [kube-controller-manager]"),
                ("resource.customizations.ignoreDifferences.ConfigMap", "jqPathExpressions: ['.data.generated']"),
                ("resource.customizations.knownTypeFields.argoproj.io_Rollout", "- field: spec.template.spec\n  type: core/v1/PodSpec\n"),
                (
                    COMPARE_OPTIONS_KEY,
                    "ignoreAggregatedRoles: true\nignoreResourceStatusField: crd\nignoreDifferencesOnResourceUpdates: true\n",
                ),
            ]),
        )
        .unwrap();
        let rules: Vec<(String, String)> =
            s.ignore_differences.iter().map(|r| (r.group.clone().unwrap_or_default(), r.kind.clone())).collect();
        assert_eq!(rules, [("".into(), "ConfigMap".into()), ("*".into(), "*".into()), ("apps".into(), "Deployment".into())]);
        assert!(s.ignore_aggregated_roles);
        assert_eq!(s.ignore_status, IgnoreStatus::Crd);
        let own = [IgnoreDifference { kind: "Service".into(), json_pointers: vec!["/spec/clusterIP".into()], ..Default::default() }];
        assert!(s.diff_options(&own).is_ok());
        let live = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
        let git = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}});
        assert!(driftless_diff::compare(&git, &live, &s.diff_options(&[]).unwrap()).in_sync, "argocd-cm's rule hides replicas");
        assert!(!driftless_diff::compare(&git, &live, &AppSettings::defaults("argocd").diff_options(&[]).unwrap()).in_sync);
    }

    #[test]
    fn bad_values_name_their_key() {
        let errors = AppSettings::parse(
            "argocd",
            &data(&[
                (TRACKING_METHOD_KEY, "labels"),
                (EXCLUSIONS_KEY, "kinds: [ConfigMap]"),
                (INCLUSIONS_KEY, "- apiGroups: {a: b}"),
                (COMPARE_OPTIONS_KEY, "ignoreResourceStatusField: some"),
                ("resource.customizations.ignoreDifferences.apps_Deployment", "jsonPointers: [spec/replicas]"),
                ("resource.customizations.ignoreDifferences.a_b_c", "jsonPointers: [/x]"),
                ("resource.customizations.knownTypeFields.Foo", "- field: ''\n  type: core/v1/PodSpec"),
                ("resource.customizations.ignoreDifferences.Service", "jqPathExpressions: ['.[']"),
                (driftless_health::CHILD_HEALTH_KEY, "sometimes"),
                (HELM_HOOKS_KEY, "Argo CD"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            keys(errors.clone()),
            [
                TRACKING_METHOD_KEY,
                EXCLUSIONS_KEY,
                INCLUSIONS_KEY,
                COMPARE_OPTIONS_KEY,
                driftless_health::CHILD_HEALTH_KEY,
                HELM_HOOKS_KEY,
                "resource.customizations.ignoreDifferences.Service",
                "resource.customizations.ignoreDifferences.a_b_c",
                "resource.customizations.ignoreDifferences.apps_Deployment",
                "resource.customizations.knownTypeFields.Foo",
            ]
        );
        let message = describe(&errors);
        assert!(message.starts_with("argocd-cm application.resourceTrackingMethod: \"labels\" is not a tracking method"), "{message}");
        assert!(message.contains("nothing is compared, synced or pruned"), "{message}");
        assert!(message.contains("argocd-cm application.childHealth: \"sometimes\" is not a boolean"), "{message}");
        assert!(message.contains("argocd-cm helm.hooks: must be helm or argocd"), "{message}");
        let label = AppSettings::parse("argocd", &data(&[(INSTANCE_LABEL_KEY, "a/b/c")])).unwrap_err();
        assert_eq!(keys(label), [INSTANCE_LABEL_KEY]);
    }

    #[test]
    fn helm_hooks_default_to_helm_and_an_app_annotation_overrides_argocd_cm() {
        assert_eq!(AppSettings::defaults("argocd").helm_hooks, HelmHookMode::Helm);
        let argocd = AppSettings::parse("argocd", &data(&[(HELM_HOOKS_KEY, "argocd")])).unwrap();
        assert_eq!(argocd.helm_hooks, HelmHookMode::Argocd);
        let mut app = Application::default();
        assert_eq!(argocd.helm_hooks_for(&app), Ok(HelmHookMode::Argocd));
        let annotate = |app: &mut Application, v: &str| {
            app.metadata.annotations = Some([(ANNOTATION_HELM_HOOKS.to_string(), v.to_string())].into());
        };
        annotate(&mut app, "helm");
        assert_eq!(argocd.helm_hooks_for(&app), Ok(HelmHookMode::Helm));
        // Hostile values: an error naming the annotation, the value cut short.
        for bad in ["", "HELM", "helm,argocd", "\u{0}", &"x".repeat(10_000)] {
            annotate(&mut app, bad);
            let err = argocd.helm_hooks_for(&app).unwrap_err();
            assert!(err.starts_with("annotation driftless.dev/helm-hooks: ") && err.len() < 200, "{err}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic generator: the same inputs every run.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces = [
            "- ",
            "apiGroups:",
            "kinds:",
            " [",
            "]",
            "{",
            "}",
            "'*'",
            "\n",
            "  ",
            ":",
            "&a",
            "*a",
            "!!str",
            "\"",
            "\u{0}",
            "é",
            "jsonPointers:",
            "/spec",
            "jqPathExpressions:",
            ".[",
            "managedFieldsManagers",
            "- field:",
            "type:",
            "true",
            "~",
            "---",
            "#",
            ",",
            "label",
            "annotation+label",
            "helm",
            "argocd",
            "_",
            "/",
        ];
        let keys = [
            TRACKING_METHOD_KEY,
            INSTANCE_LABEL_KEY,
            EXCLUSIONS_KEY,
            INCLUSIONS_KEY,
            COMPARE_OPTIONS_KEY,
            "resource.customizations.ignoreDifferences.all",
            "resource.customizations.ignoreDifferences.apps_Deployment",
            "resource.customizations.knownTypeFields.Pod",
            "resource.customizations.ignoreDifferences.",
            "resource.customizations.knownTypeFields._",
            driftless_health::CHILD_HEALTH_KEY,
            HELM_HOOKS_KEY,
        ];
        for _ in 0..3000 {
            let mut cm = BTreeMap::new();
            for _ in 0..(next() % 4) {
                let key = keys[(next() % keys.len() as u64) as usize];
                let value: String = (0..(next() % 24)).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect();
                cm.insert(key.to_string(), value);
            }
            if let Err(errors) = AppSettings::parse("argocd", &cm) {
                assert!(!errors.is_empty() && errors.iter().all(|e| e.to_string().starts_with("argocd-cm ")));
            }
        }
    }
}
