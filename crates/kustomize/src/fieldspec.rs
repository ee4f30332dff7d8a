//! Field specs: "this path, in objects of this kind" — the way kustomize says
//! where labels, names and references live. Includes the default tables.

use serde_json::{Map, Value};

use crate::resource::Gvk;

/// A path in objects of a given group/version/kind (empty = any).
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: Vec<Seg>,
    pub create: bool,
}

/// One path segment.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// A mapping field; a sequence met on the way is traversed element-wise.
    Field(String),
    /// `name[]`: a sequence field whose elements are traversed.
    List(String),
}

/// Splits `a/b\/c/d[]` into segments.
pub fn parse_path(p: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => segs.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    segs.push(cur);
    segs.into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_suffix("[]") {
            Some(n) => Seg::List(n.to_string()),
            None => Seg::Field(s),
        })
        .collect()
}

impl FieldSpec {
    pub fn new(kind: &str, group: &str, version: &str, path: &str, create: bool) -> Self {
        FieldSpec { group: group.into(), version: version.into(), kind: kind.into(), path: parse_path(path), create }
    }

    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        gvk.selected_by(&self.group, &self.version, &self.kind)
    }
}

/// Calls `f` on every value at `path` inside `v`. When `create` is set,
/// missing mapping fields on the way are created (the last one as null).
pub fn visit<E>(v: &mut Value, path: &[Seg], create: bool, f: &mut dyn FnMut(&mut Value) -> Result<(), E>) -> Result<(), E> {
    let Some((first, rest)) = path.split_first() else {
        return f(v);
    };
    if let Value::Array(items) = v {
        for it in items {
            visit(it, path, create, f)?;
        }
        return Ok(());
    }
    let Value::Object(m) = v else { return Ok(()) };
    let (name, is_list) = match first {
        Seg::Field(n) => (n, false),
        Seg::List(n) => (n, true),
    };
    if !m.contains_key(name.as_str()) {
        if !create || is_list {
            return Ok(());
        }
        let init = if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) };
        m.insert(name.clone(), init);
    }
    let Some(child) = m.get_mut(name.as_str()) else { return Ok(()) };
    if child.is_null() && !rest.is_empty() {
        if !create {
            return Ok(());
        }
        *child = Value::Object(Map::new());
    }
    visit(child, rest, create, f)
}

fn specs(kind_paths: &[(&str, &str, &str, bool)]) -> Vec<FieldSpec> {
    kind_paths.iter().map(|(k, g, p, c)| FieldSpec::new(k, g, "", p, *c)).collect()
}

/// Pod template metadata paths (labels or annotations appended).
fn template_specs(leaf: &str) -> Vec<FieldSpec> {
    let t = |p: &str| format!("{p}/{leaf}");
    let rows: Vec<(&str, &str, String, bool)> = vec![
        ("ReplicationController", "", t("spec/template/metadata"), true),
        ("Deployment", "", t("spec/template/metadata"), true),
        ("ReplicaSet", "", t("spec/template/metadata"), true),
        ("DaemonSet", "", t("spec/template/metadata"), true),
        ("StatefulSet", "apps", t("spec/template/metadata"), true),
        ("Job", "batch", t("spec/template/metadata"), true),
        ("CronJob", "batch", t("spec/jobTemplate/metadata"), true),
        ("CronJob", "batch", t("spec/jobTemplate/spec/template/metadata"), true),
    ];
    rows.into_iter().map(|(k, g, p, c)| FieldSpec::new(k, g, "", &p, c)).collect()
}

/// `metadata/labels` plus pod template labels (`labels.includeTemplates`).
pub fn label_template_specs() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::new("", "", "", "metadata/labels", true)];
    v.extend(template_specs("labels"));
    v.push(FieldSpec::new("StatefulSet", "apps", "", "spec/volumeClaimTemplates[]/metadata/labels", true));
    v
}

/// Selector paths (`commonLabels`, `labels.includeSelectors`).
pub fn label_selector_specs() -> Vec<FieldSpec> {
    let aff = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    let mut v = specs(&[
        ("Service", "", "spec/selector", true),
        ("ReplicationController", "", "spec/selector", true),
        ("Deployment", "", "spec/selector/matchLabels", true),
    ]);
    v.iter_mut().take(2).for_each(|s| s.version = "v1".into());
    for p in aff {
        v.push(FieldSpec::new("Deployment", "apps", "", p, false));
    }
    v.push(FieldSpec::new("ReplicaSet", "", "", "spec/selector/matchLabels", true));
    v.push(FieldSpec::new("DaemonSet", "", "", "spec/selector/matchLabels", true));
    v.push(FieldSpec::new("StatefulSet", "apps", "", "spec/selector/matchLabels", true));
    for p in aff {
        v.push(FieldSpec::new("StatefulSet", "apps", "", p, false));
    }
    v.extend(specs(&[
        ("Job", "batch", "spec/selector/matchLabels", false),
        ("CronJob", "batch", "spec/jobTemplate/spec/selector/matchLabels", false),
        ("PodDisruptionBudget", "policy", "spec/selector/matchLabels", false),
        ("NetworkPolicy", "networking.k8s.io", "spec/podSelector/matchLabels", false),
        ("NetworkPolicy", "networking.k8s.io", "spec/ingress/from/podSelector/matchLabels", false),
        ("NetworkPolicy", "networking.k8s.io", "spec/egress/to/podSelector/matchLabels", false),
    ]));
    v
}

/// Everything `commonLabels` touches.
pub fn common_label_specs() -> Vec<FieldSpec> {
    let mut v = label_selector_specs();
    v.extend(label_template_specs());
    v
}

/// Everything `commonAnnotations` touches.
pub fn common_annotation_specs() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::new("", "", "", "metadata/annotations", true)];
    v.extend(template_specs("annotations"));
    v
}

/// Where `replicas` writes.
pub fn replica_specs() -> Vec<FieldSpec> {
    ["Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"]
        .iter()
        .map(|k| FieldSpec::new(k, "", "", "spec/replicas", true))
        .collect()
}

/// One row of the name reference table: objects of `target` kind are
/// referred to by name from the fields in `referrers`.
#[derive(Debug, Clone)]
pub struct NameRef {
    pub target_kind: String,
    pub target_group: String,
    pub target_version: String,
    pub referrers: Vec<FieldSpec>,
}

fn nr(kind: &str, group: &str, referrers: Vec<FieldSpec>) -> NameRef {
    NameRef { target_kind: kind.into(), target_group: group.into(), target_version: String::new(), referrers }
}

/// Workload kinds whose pod template lives at `spec/template/spec`.
const TEMPLATED: &[&str] = &["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"];

fn pod_paths(pod_leafs: &[&str], extra_rc: bool) -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for leaf in pod_leafs {
        v.push(FieldSpec::new("Pod", "", "", &format!("spec/{leaf}"), false));
        for k in TEMPLATED {
            v.push(FieldSpec::new(k, "", "", &format!("spec/template/spec/{leaf}"), false));
        }
        if extra_rc {
            v.push(FieldSpec::new("ReplicationController", "", "", &format!("spec/template/spec/{leaf}"), false));
        }
        v.push(FieldSpec::new("CronJob", "", "", &format!("spec/jobTemplate/spec/template/spec/{leaf}"), false));
    }
    v
}

/// The default name reference table.
pub fn name_refs() -> Vec<NameRef> {
    let hpa = |_k: &str| vec![FieldSpec::new("HorizontalPodAutoscaler", "", "", "spec/scaleTargetRef/name", false)];
    let mut cm = pod_paths(
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
        false,
    );
    cm.extend([
        FieldSpec::new("Node", "", "", "spec/configSource/configMap", false),
        FieldSpec::new("Role", "", "", "rules/resourceNames", false),
        FieldSpec::new("ClusterRole", "", "", "rules/resourceNames", false),
        FieldSpec::new("Ingress", "", "", "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap", false),
    ]);
    let mut secret = pod_paths(
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
        false,
    );
    secret.extend([
        FieldSpec::new("Ingress", "", "", "spec/tls/secretName", false),
        FieldSpec::new("Ingress", "", "", "metadata/annotations/ingress.kubernetes.io\\/auth-secret", false),
        FieldSpec::new("Ingress", "", "", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret", false),
        FieldSpec::new("Ingress", "", "", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret", false),
        FieldSpec::new("ServiceAccount", "", "", "imagePullSecrets/name", false),
        FieldSpec::new("StorageClass", "", "", "parameters/secretName", false),
        FieldSpec::new("StorageClass", "", "", "parameters/adminSecretName", false),
        FieldSpec::new("StorageClass", "", "", "parameters/userSecretName", false),
        FieldSpec::new("StorageClass", "", "", "parameters/secretRef", false),
        FieldSpec::new("Role", "", "", "rules/resourceNames", false),
        FieldSpec::new("ClusterRole", "", "", "rules/resourceNames", false),
        FieldSpec::new("PersistentVolume", "", "", "spec/azureFile/secretName", false),
    ]);
    let mut sa = pod_paths(&["serviceAccountName"], true);
    sa.retain(|f| f.kind != "ReplicaSet");
    sa.extend([
        FieldSpec::new("RoleBinding", "rbac.authorization.k8s.io", "", "subjects", false),
        FieldSpec::new("ClusterRoleBinding", "rbac.authorization.k8s.io", "", "subjects", false),
    ]);
    let mut pvc = pod_paths(&["volumes/persistentVolumeClaim/claimName"], true);
    pvc.retain(|f| f.kind != "ReplicaSet");
    let mut prio = pod_paths(&["priorityClassName"], true);
    prio.retain(|f| f.kind != "ReplicaSet");
    vec![
        nr("Deployment", "", hpa("Deployment")),
        nr("ReplicationController", "", hpa("")),
        nr("ReplicaSet", "", hpa("")),
        nr("StatefulSet", "", hpa("")),
        nr("ConfigMap", "", cm),
        nr("Secret", "", secret),
        nr(
            "Service",
            "",
            vec![
                FieldSpec::new("StatefulSet", "apps", "", "spec/serviceName", false),
                FieldSpec::new("Ingress", "", "", "spec/rules/http/paths/backend/serviceName", false),
                FieldSpec::new("Ingress", "", "", "spec/backend/serviceName", false),
                FieldSpec::new("Ingress", "", "", "spec/rules/http/paths/backend/service/name", false),
                FieldSpec::new("Ingress", "", "", "spec/defaultBackend/service/name", false),
                FieldSpec::new("APIService", "apiregistration.k8s.io", "", "spec/service/name", false),
                FieldSpec::new(
                    "ValidatingWebhookConfiguration",
                    "admissionregistration.k8s.io",
                    "",
                    "webhooks/clientConfig/service",
                    false,
                ),
                FieldSpec::new("MutatingWebhookConfiguration", "admissionregistration.k8s.io", "", "webhooks/clientConfig/service", false),
            ],
        ),
        nr(
            "Role",
            "rbac.authorization.k8s.io",
            vec![FieldSpec::new("RoleBinding", "rbac.authorization.k8s.io", "", "roleRef/name", false)],
        ),
        nr(
            "ClusterRole",
            "rbac.authorization.k8s.io",
            vec![
                FieldSpec::new("RoleBinding", "rbac.authorization.k8s.io", "", "roleRef/name", false),
                FieldSpec::new("ClusterRoleBinding", "rbac.authorization.k8s.io", "", "roleRef/name", false),
            ],
        ),
        nr("ServiceAccount", "", sa),
        nr("PersistentVolumeClaim", "", pvc),
        nr(
            "PersistentVolume",
            "",
            vec![
                FieldSpec::new("PersistentVolumeClaim", "", "", "spec/volumeName", false),
                FieldSpec::new("ClusterRole", "", "", "rules/resourceNames", false),
            ],
        ),
        nr(
            "StorageClass",
            "storage.k8s.io",
            vec![
                FieldSpec::new("PersistentVolume", "", "", "spec/storageClassName", false),
                FieldSpec::new("PersistentVolumeClaim", "", "", "spec/storageClassName", false),
                FieldSpec::new("StatefulSet", "", "", "spec/volumeClaimTemplates/spec/storageClassName", false),
            ],
        ),
        nr("PriorityClass", "scheduling.k8s.io", prio),
        // kustomize's table spells the group `networking.k8s.io/v1`, so this
        // row never matches; kept faithful on purpose.
        nr("IngressClass", "networking.k8s.io/v1", vec![FieldSpec::new("Ingress", "", "", "spec/ingressClassName", false)]),
    ]
}
