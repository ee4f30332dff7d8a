//! `ignoreDifferences` rules: the user-facing shape and its compiled form.

use crate::error::Error;
use crate::jq::JqPath;
use crate::pointer::{self, Seg};
use driftless_api::glob_match;
use serde_json::Value;

/// Argo CD's `spec.ignoreDifferences[]` entry, as the API defines it. Group
/// and kind are globs; an empty group means the core group. `name` and
/// `namespace`, when set, must match exactly.
pub use driftless_api::ResourceIgnoreDifferences as IgnoreDifference;

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    group: String,
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
    pub(crate) pointers: Vec<Vec<Seg>>,
    pub(crate) jq: Vec<JqPath>,
    pub(crate) managers: Vec<String>,
}

/// Compiled diff options: the `ignoreDifferences` rules with every pointer
/// parsed and every jq expression compiled, so a bad rule is reported once,
/// up front, instead of silently ignoring nothing on every comparison.
///
/// Cheap to share: it is `Send + Sync` and holds no per-object state.
#[derive(Debug, Default)]
pub struct DiffOptions {
    pub(crate) rules: Vec<Rule>,
    /// Whose `status` never counts as drift.
    pub(crate) status: IgnoreStatus,
    /// A ClusterRole's `rules` filled in by its `aggregationRule` never count.
    pub(crate) ignore_aggregated_roles: bool,
}

/// argocd-cm `resource.compareoptions` `ignoreResourceStatusField`: whose
/// `status` is left out of comparisons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IgnoreStatus {
    /// Every kind's (`all`, Argo CD 3's default).
    #[default]
    All,
    /// Only CustomResourceDefinitions' (`crd`).
    Crd,
    /// Nobody's (`none` or `off`): a status set in Git, or one that differs
    /// from the dry run's prediction, is drift.
    None,
}

impl IgnoreStatus {
    /// Parses Argo CD's values; empty is the default.
    pub fn parse(s: &str) -> Option<IgnoreStatus> {
        match s.trim() {
            "" | "all" => Some(IgnoreStatus::All),
            "crd" => Some(IgnoreStatus::Crd),
            "none" | "off" => Some(IgnoreStatus::None),
            _ => None,
        }
    }
}

impl DiffOptions {
    /// Compiles `ignore`; returns an error naming the first bad pointer or jq
    /// expression (or a rule without kind).
    pub fn new(ignore: &[IgnoreDifference]) -> Result<Self, Error> {
        let mut rules = Vec::with_capacity(ignore.len());
        for (index, entry) in ignore.iter().enumerate() {
            if entry.kind.is_empty() {
                return Err(Error::MissingKind { index });
            }
            let mut pointers = Vec::with_capacity(entry.json_pointers.len());
            for p in &entry.json_pointers {
                let parsed = pointer::parse(p).map_err(|reason| Error::InvalidJsonPointer {
                    index,
                    kind: entry.kind.clone(),
                    pointer: p.clone(),
                    reason,
                })?;
                pointers.push(parsed);
            }
            let mut jq = Vec::with_capacity(entry.jq_path_expressions.len());
            for e in &entry.jq_path_expressions {
                let compiled = JqPath::compile(e).map_err(|reason| Error::InvalidJqExpression {
                    index,
                    kind: entry.kind.clone(),
                    expression: e.clone(),
                    reason,
                })?;
                jq.push(compiled);
            }
            rules.push(Rule {
                group: entry.group.clone().unwrap_or_default(),
                kind: entry.kind.clone(),
                name: entry.name.clone().filter(|n| !n.is_empty()),
                namespace: entry.namespace.clone().filter(|n| !n.is_empty()),
                pointers,
                jq,
                managers: entry.managed_fields_managers.clone(),
            });
        }
        Ok(Self { rules, ..Self::default() })
    }

    /// Whether a rule ignores what given field managers own: the diff then
    /// reads every manager's `managedFields` entry, not only the values.
    pub fn reads_managed_fields(&self) -> bool {
        self.rules.iter().any(|r| !r.managers.is_empty())
    }

    /// Whether the status of objects of `group`/`kind` is left out of
    /// comparisons (argocd-cm's `ignoreResourceStatusField`).
    pub fn ignores_status(&self, group: &str, kind: &str) -> bool {
        match self.status {
            IgnoreStatus::All => true,
            IgnoreStatus::Crd => (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"),
            IgnoreStatus::None => false,
        }
    }

    /// The same rules, with argocd-cm's `resource.compareoptions`.
    pub fn with_compare_options(self, status: IgnoreStatus, ignore_aggregated_roles: bool) -> Self {
        Self { status, ignore_aggregated_roles, ..self }
    }

    /// The rules that apply to an object with this identity.
    pub(crate) fn matching<'a>(&'a self, id: &'a Identity) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matches(id))
    }
}

impl Rule {
    fn matches(&self, id: &Identity) -> bool {
        glob_match(&self.group, &id.group)
            && glob_match(&self.kind, &id.kind)
            && self.name.as_ref().is_none_or(|n| *n == id.name)
            && self.namespace.as_ref().is_none_or(|n| *n == id.namespace)
    }
}

/// What rules are matched against: group (from apiVersion), kind, name and
/// namespace of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
}

impl Identity {
    /// Reads the identity of `obj`; `fallback` fills in a missing namespace
    /// (a desired manifest often leaves it to the Application's destination,
    /// while the live object always has it).
    pub(crate) fn of(obj: &Value, fallback: Option<&Value>) -> Self {
        let text = |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_owned();
        let api_version = text(obj, "/apiVersion");
        // "apps/v1" -> "apps"; "v1" (core) -> "".
        let group = api_version.rsplit_once('/').map(|(g, _)| g.to_owned()).unwrap_or_default();
        let mut namespace = text(obj, "/metadata/namespace");
        if namespace.is_empty()
            && let Some(f) = fallback
        {
            namespace = text(f, "/metadata/namespace");
        }
        Self { group, kind: text(obj, "/kind"), name: text(obj, "/metadata/name"), namespace }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_of_core_and_grouped() {
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let live = json!({"metadata": {"namespace": "prod"}});
        let id = Identity::of(&dep, Some(&live));
        assert_eq!((id.group.as_str(), id.kind.as_str(), id.namespace.as_str()), ("apps", "Deployment", "prod"));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(Identity::of(&cm, None).group, "");
    }

    #[test]
    fn missing_kind_is_an_error() {
        let err = DiffOptions::new(&[IgnoreDifference::default()]).expect_err("no kind");
        assert_eq!(err, Error::MissingKind { index: 0 });
    }
}
