//! What the policies said about an app's objects, and how a condition or an
//! operation's message shows it.

use std::fmt;

use crate::ObjectOutcome;
use crate::module::Rule;

/// The object a finding is about, as the API names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// The API group ("" for the core group).
    pub group: String,
    /// The kind.
    pub kind: String,
    /// The namespace (None: cluster-scoped, or not set in the manifest).
    pub namespace: Option<String>,
    /// The name (`metadata.name`, else `metadata.generateName`).
    pub name: String,
}

impl ObjectId {
    /// The id of a rendered object.
    pub fn of(object: &serde_json::Value) -> ObjectId {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let meta = &object["metadata"];
        ObjectId {
            group: api_version.rsplit_once('/').map(|(g, _)| g.to_string()).unwrap_or_default(),
            kind: object["kind"].as_str().unwrap_or_default().to_string(),
            namespace: meta["namespace"].as_str().filter(|n| !n.is_empty()).map(String::from),
            name: meta["name"].as_str().or_else(|| meta["generateName"].as_str()).unwrap_or_default().to_string(),
        }
    }
}

impl fmt::Display for ObjectId {
    /// `apps/Deployment demo/web`; `ClusterRole reader` (core group or
    /// cluster-scoped parts left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{} ", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

/// A message of a `deny` or `warn` rule about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The object.
    pub object: ObjectId,
    /// The module (`<configmap>/<key>`, or a file).
    pub policy: String,
    /// The rule that said it.
    pub rule: Rule,
    /// The rule's message.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({} {})", self.object, self.message, self.policy, self.rule)
    }
}

/// A module that could not judge: it does not compile (no object), or its
/// evaluation on an object failed. Blocks like a deny (fail closed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The object, when the evaluation on one failed.
    pub object: Option<ObjectId>,
    /// The module ("" when the object itself could not be evaluated).
    pub policy: String,
    /// Why.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.object, self.policy.is_empty()) {
            (None, true) => f.write_str(&self.message),
            (None, false) => write!(f, "policy {}: {}", self.policy, self.message),
            (Some(o), true) => write!(f, "{o}: {}", self.message),
            (Some(o), false) => write!(f, "{o}: policy {} failed: {}", self.policy, self.message),
        }
    }
}

/// The policies' verdict on an app's objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Messages of `deny` rules: the sync applies nothing.
    pub denies: Vec<Violation>,
    /// Messages of `warn` rules: reported only.
    pub warnings: Vec<Violation>,
    /// Modules that could not judge: they block too.
    pub errors: Vec<Failure>,
}

impl Verdict {
    /// A verdict that blocks because the policies could not be had at all
    /// (their ConfigMaps could not be read, the evaluation did not finish).
    pub fn failure(message: String) -> Verdict {
        Verdict { errors: vec![Failure { object: None, policy: String::new(), message }], ..Verdict::default() }
    }

    /// Whether a sync must apply nothing.
    pub fn blocks(&self) -> bool {
        !self.denies.is_empty() || !self.errors.is_empty()
    }

    pub(crate) fn add(&mut self, object: &ObjectId, outcome: &ObjectOutcome) {
        for (policy, rule, message) in &outcome.findings {
            let v = Violation { object: object.clone(), policy: policy.clone(), rule: *rule, message: message.clone() };
            match rule {
                Rule::Deny => self.denies.push(v),
                Rule::Warn => self.warnings.push(v),
            }
        }
        for (policy, message) in &outcome.errors {
            self.errors.push(Failure { object: Some(object.clone()), policy: policy.clone(), message: message.clone() });
        }
    }

    /// What blocks, one line each (broken modules first), at most `cap`
    /// of them and "and N more": the PolicyViolation condition and a
    /// refused sync's message. None when nothing blocks.
    pub fn blocking_summary(&self, cap: usize) -> Option<String> {
        let lines: Vec<String> = self.errors.iter().map(ToString::to_string).chain(self.denies.iter().map(ToString::to_string)).collect();
        summary("blocked by policy", lines, cap)
    }

    /// The warnings, as [`Verdict::blocking_summary`] lists: the
    /// PolicyWarning condition. None without any.
    pub fn warning_summary(&self, cap: usize) -> Option<String> {
        summary("policy warnings", self.warnings.iter().map(ToString::to_string).collect(), cap)
    }
}

fn summary(what: &str, lines: Vec<String>, cap: usize) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let total = lines.len();
    let mut text = format!("{what} ({total}): {}", lines.iter().take(cap).cloned().collect::<Vec<_>>().join("; "));
    if total > cap {
        text.push_str(&format!("; and {} more", total - cap));
    }
    Some(text)
}
