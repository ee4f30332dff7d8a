//! What validation found, and the report it makes: apps, their objects and
//! findings. The shape of `-o json` is this module's serialization.

use serde::Serialize;

/// How much a finding weighs: errors fail the run (exit 1), warnings and
/// notices do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The config is broken: the controller would fail or the API server refuse.
    Error,
    /// Likely wrong, or not checked (a kind without a schema).
    Warning,
    /// Said for the record: something validate could not look at offline.
    Notice,
}

impl Severity {
    /// `error`, `warning`, `notice`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// An Application or ApplicationSet manifest that does not parse.
    App,
    /// A source or generator that needs more than the local checkout (another
    /// repository, a chart repository, the control plane): not validated.
    Offline,
    /// The app does not render (a broken kustomization, chart or manifest).
    Render,
    /// A rendered object the controller would refuse before applying (a
    /// namespaced object with no namespace to go to).
    Object,
    /// An object breaks its kind's schema.
    Schema,
    /// No schema for the object's kind: not checked.
    NoSchema,
    /// A CustomResourceDefinition whose schema could not be read.
    Crd,
    /// A policy's `deny` (error) or `warn` (warning); `rule` names it.
    Policy,
    /// A SOPS-encrypted file skipped for want of a key.
    SopsEncrypted,
}

/// An object, as Kubernetes names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `apps/v1`.
    pub api_version: String,
    /// `Deployment`.
    pub kind: String,
    /// Its namespace, after the app's default applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// The object's identity.
    pub fn of(object: &serde_json::Value) -> ObjectRef {
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        ObjectRef {
            api_version: s(&object["apiVersion"]),
            kind: s(&object["kind"]),
            namespace: object["metadata"]["namespace"].as_str().filter(|n| !n.is_empty()).map(str::to_string),
            name: s(&object["metadata"]["name"]),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Where something is in the repository: a file relative to the
/// repository root, and the line its document starts at, when known.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// The file, `/`-separated, relative to the repository root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// One thing validation found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// How much it weighs.
    pub severity: Severity,
    /// What it is about.
    pub kind: Kind,
    /// Where.
    #[serde(flatten)]
    pub location: Location,
    /// The object, for findings about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// The JSON path in the object: `spec.template.spec.containers[0].image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The rule that found it (a policy's module and rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What is wrong, for people.
    pub message: String,
}

impl Finding {
    /// A finding with only a severity, kind and message.
    pub fn new(severity: Severity, kind: Kind, message: impl Into<String>) -> Finding {
        Finding { severity, kind, location: Location::default(), object: None, path: None, rule: None, message: message.into() }
    }

    /// The same, at `location`.
    pub fn at(mut self, location: Location) -> Finding {
        self.location = location;
        self
    }

    /// The same, about `object`.
    pub fn about(mut self, object: &ObjectRef) -> Finding {
        self.object = Some(object.clone());
        self
    }
}

/// An object an app renders, and where its source document is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedObject {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Its document in the repository, when it can be told.
    #[serde(flatten)]
    pub location: Location,
}

/// One app: what it renders and what was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppReport {
    /// The Application's name (the directory's, for a directory validated as
    /// one app).
    pub name: String,
    /// Its manifest (the ApplicationSet's, for a generated app).
    #[serde(flatten)]
    pub location: Location,
    /// The objects it renders, in render order.
    pub objects: Vec<CheckedObject>,
    /// What was found, sorted by file, line, object and path.
    pub findings: Vec<Finding>,
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Apps validated.
    pub apps: usize,
    /// Objects rendered.
    pub objects: usize,
    /// Findings that are errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Notices.
    pub notices: usize,
}

/// Everything a run found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The Kubernetes version validated against (major.minor).
    pub kubernetes_version: String,
    /// Counts.
    pub summary: Summary,
    /// Apps, by name.
    pub apps: Vec<AppReport>,
    /// Findings about the repository rather than one app (ApplicationSets
    /// not computed offline, unreadable CRDs).
    pub findings: Vec<Finding>,
}

impl Report {
    /// A report of `apps` and repository-level `findings`, with its summary.
    pub fn new(kubernetes_version: String, mut apps: Vec<AppReport>, mut findings: Vec<Finding>) -> Report {
        apps.sort_by(|a, b| (&a.name, &a.location).cmp(&(&b.name, &b.location)));
        for a in &mut apps {
            sort(&mut a.findings);
        }
        sort(&mut findings);
        let all = || apps.iter().flat_map(|a| &a.findings).chain(&findings);
        let count = |s: Severity| all().filter(|f| f.severity == s).count();
        let summary = Summary {
            apps: apps.len(),
            objects: apps.iter().map(|a| a.objects.len()).sum(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            notices: count(Severity::Notice),
        };
        Report { kubernetes_version, summary, apps, findings }
    }

    /// 1 when an error was found, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.summary.errors > 0)
    }
}

fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.location, &a.object, &a.path, a.severity, &a.message).cmp(&(&b.location, &b.object, &b.path, b.severity, &b.message))
    });
}
