//! A resource being built: the object plus the bookkeeping kustomize keeps
//! (names it had, generator options) to fix references and add hashes.

use serde_json::{Map, Value};

/// Group, version, kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Empty selector fields match anything.
    pub fn selected_by(&self, group: &str, version: &str, kind: &str) -> bool {
        (group.is_empty() || group == self.group)
            && (version.is_empty() || version == self.version)
            && (kind.is_empty() || kind == self.kind)
    }
}

/// Kinds kustomize treats as cluster-scoped (its built-in schema predates
/// newer kinds such as ValidatingAdmissionPolicy, which it namespaces).
const CLUSTER_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
    "IngressClass",
];

/// Whether objects of this kind live in a namespace.
pub fn is_namespaced(kind: &str) -> bool {
    !CLUSTER_KINDS.contains(&kind)
}

/// Options a generator attached to its output.
#[derive(Debug, Clone, Default)]
pub struct GenInfo {
    /// Append a content hash to the name at the end of the build.
    pub hash: bool,
    /// create / merge / replace.
    pub behavior: String,
}

/// One object plus build bookkeeping.
#[derive(Debug, Clone)]
pub struct Resource {
    pub obj: Value,
    /// Every name the object had, oldest first (includes the current one).
    pub names: Vec<String>,
    /// Every namespace the object had, oldest first.
    pub namespaces: Vec<String>,
    pub generated: Option<GenInfo>,
    /// Prefixes and suffixes applied so far; they disambiguate references
    /// when several objects once had the same name.
    pub affixes: (Vec<String>, Vec<String>),
    /// JSON pointers of scalars written by replacements without a YAML tag
    /// (kustomize's var pass later turns those into strings in maps).
    pub untyped: Vec<String>,
    /// Sources of name references (`refBy`) are not tracked; the history
    /// above is enough for the default name reference table.
    pub origin: String,
}

impl Resource {
    /// Wraps an object read from `origin`.
    pub fn new(obj: Value, origin: &str) -> Self {
        let mut r = Resource {
            obj,
            names: Vec::new(),
            namespaces: Vec::new(),
            generated: None,
            affixes: (Vec::new(), Vec::new()),
            untyped: Vec::new(),
            origin: origin.to_string(),
        };
        r.names.push(r.name().to_string());
        r.namespaces.push(r.namespace().to_string());
        r
    }

    pub fn gvk(&self) -> Gvk {
        let av = self.obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let (group, version) = match av.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), av.to_string()),
        };
        Gvk { group, version, kind: self.kind().to_string() }
    }

    pub fn kind(&self) -> &str {
        self.obj.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.meta_str("name")
    }

    pub fn namespace(&self) -> &str {
        self.meta_str("namespace")
    }

    /// `metadata.<field>` as a string (no JSON-pointer parsing: this is hot).
    fn meta_str(&self, field: &str) -> &str {
        self.obj.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
    }

    /// Sets metadata.name, recording the history.
    pub fn set_name(&mut self, name: &str) {
        if let Some(m) = metadata_mut(&mut self.obj) {
            m.insert("name".into(), Value::String(name.into()));
        }
        if self.names.last().map(String::as_str) != Some(name) {
            self.names.push(name.to_string());
        }
    }

    /// Sets metadata.namespace, recording the history.
    pub fn set_namespace(&mut self, ns: &str) {
        if let Some(m) = metadata_mut(&mut self.obj) {
            m.insert("namespace".into(), Value::String(ns.into()));
        }
        self.namespaces.push(ns.to_string());
    }

    /// Re-reads name and namespace after an arbitrary edit (patches).
    pub fn sync_history(&mut self) {
        let n = self.name().to_string();
        if self.names.last() != Some(&n) {
            self.names.push(n);
        }
        let ns = self.namespace().to_string();
        if self.namespaces.last() != Some(&ns) {
            self.namespaces.push(ns);
        }
    }

    pub fn labels(&self) -> Map<String, Value> {
        self.obj.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object).cloned().unwrap_or_default()
    }

    pub fn annotations(&self) -> Map<String, Value> {
        self.obj.get("metadata").and_then(|m| m.get("annotations")).and_then(Value::as_object).cloned().unwrap_or_default()
    }

    /// Current id `(gvk, namespace, name)` used for identity checks.
    pub fn same_id(&self, other: &Resource) -> bool {
        self.id_key() == other.id_key()
    }

    /// Borrowed id tuple: apiVersion, kind, name, namespace.
    pub fn id_key(&self) -> (&str, &str, &str, &str) {
        let av = self.obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        (av, self.kind(), self.name(), self.namespace())
    }

    /// Readable id for messages: `Kind/name` or `Kind/ns/name`.
    pub fn id_string(&self) -> String {
        if self.namespace().is_empty() {
            format!("{}/{}", self.kind(), self.name())
        } else {
            format!("{}/{}/{}", self.kind(), self.namespace(), self.name())
        }
    }
}

/// `metadata` as a mutable map, created when missing.
pub fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let o = obj.as_object_mut()?;
    let m = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut()
}
