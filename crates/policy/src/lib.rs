//! Policy as code: Rego modules (evaluated by [regorus]) that every rendered
//! object of an app must pass before a sync applies anything. Pure: the
//! modules come from ConfigMaps handed in ([`PolicySet::from_configmaps`],
//! what the controller watches) or from a directory
//! ([`PolicySet::from_dir`], for `driftless validate`); nothing here reads
//! a cluster.
//!
//! Each module is evaluated on its own with the input
//! `{"object": <rendered object>, "app": <Application>, "project": <AppProject>}`
//! (the app and project as metadata and spec: their status changes at every
//! reconcile and would defeat the cache). Its `deny` rules (a set of
//! messages: strings, or objects with `msg`) block; its `warn` rules only
//! report. A module that does not compile is kept, broken: every app it
//! applies to gets its error, and it blocks their syncs (fail closed), as
//! an evaluation error does.
//!
//! Verdicts are cached per object by content ([`VerdictCache`]): the same
//! modules, object and app/project give the same verdict without running
//! Rego again.

mod cache;
mod module;
mod recursion;
mod verdict;

use std::path::Path;
use std::sync::Arc;

use driftless_api::{AppProject, Application, glob_match};
use k8s_openapi::api::core::v1::ConfigMap;
use sha2::{Digest, Sha256};

pub use cache::VerdictCache;
pub use module::Rule;
pub use verdict::{Failure, ObjectId, Verdict, Violation};

use module::Compiled;

/// The label that makes a ConfigMap of the control-plane namespace a
/// source of policies.
pub const POLICY_LABEL: &str = "driftless.dev/policy";
/// The annotation that limits a policy ConfigMap to some projects
/// (comma-separated globs); without it, its modules apply to every app.
pub const PROJECTS_ANNOTATION: &str = "driftless.dev/policy-projects";

/// The largest object (as JSON) a policy is evaluated on: anything larger
/// fails closed (the API server refuses objects far smaller anyway).
pub const MAX_OBJECT_BYTES: usize = 4 << 20;

/// Why a directory of policies could not be read. A module that does not
/// compile is no error here: it is kept as a broken module.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file or directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One module: its name, the projects it applies to, and what it compiled to.
pub struct Module {
    /// `<configmap>/<key>`, or the file's path under the directory.
    pub name: String,
    /// Project globs; None: every project.
    pub projects: Option<Vec<String>>,
    compiled: Result<Compiled, String>,
    digest: [u8; 32],
}

impl Module {
    /// Compiles `text`; a module that does not compile is kept with its error.
    pub fn new(name: impl Into<String>, text: &str, projects: Option<Vec<String>>) -> Module {
        let name = name.into();
        let mut h = Sha256::new();
        for part in [name.as_bytes(), text.as_bytes(), projects.as_ref().map(|p| p.join(",")).unwrap_or_default().as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let compiled = Compiled::compile(&name, text);
        Module { name, projects, compiled, digest: h.finalize().into() }
    }

    /// The compile error, for a broken module.
    pub fn error(&self) -> Option<&str> {
        self.compiled.as_ref().err().map(String::as_str)
    }

    /// Whether the module applies to apps of `project`.
    pub fn applies_to(&self, project: &str) -> bool {
        self.projects.as_ref().is_none_or(|globs| globs.iter().any(|g| glob_match(g, project)))
    }
}

/// The modules of the control plane (or of a directory), compiled.
#[derive(Clone, Default)]
pub struct PolicySet {
    modules: Vec<Arc<Module>>,
}

impl PolicySet {
    /// A set of the given modules, in the given order.
    pub fn new(modules: Vec<Module>) -> PolicySet {
        PolicySet { modules: modules.into_iter().map(Arc::new).collect() }
    }

    /// The modules of the ConfigMaps labelled `driftless.dev/policy: "true"`
    /// (others are skipped): every entry whose key ends in `.rego`, named
    /// `<configmap>/<key>`, limited to the projects of the ConfigMap's
    /// `driftless.dev/policy-projects`. Sorted by name, so that verdicts
    /// read the same at every reconcile.
    pub fn from_configmaps<'a>(configmaps: impl IntoIterator<Item = &'a ConfigMap>) -> PolicySet {
        let mut modules = Vec::new();
        for cm in configmaps {
            let labelled = cm.metadata.labels.as_ref().and_then(|l| l.get(POLICY_LABEL)).is_some_and(|v| v == "true");
            if !labelled {
                continue;
            }
            let cm_name = cm.metadata.name.clone().unwrap_or_default();
            let projects = cm.metadata.annotations.as_ref().and_then(|a| a.get(PROJECTS_ANNOTATION)).and_then(|v| project_globs(v));
            for (key, text) in cm.data.iter().flatten().filter(|(k, _)| k.ends_with(".rego")) {
                modules.push(Module::new(format!("{cm_name}/{key}"), text, projects.clone()));
            }
        }
        modules.sort_by(|a, b| a.name.cmp(&b.name));
        PolicySet::new(modules)
    }

    /// The `*.rego` files under `dir` (subdirectories too; OPA's test files,
    /// `*_test.rego`, are skipped), each named by its path under `dir` and
    /// applying to every project. For `driftless validate --policy DIR`.
    pub fn from_dir(dir: &Path) -> Result<PolicySet, PolicyError> {
        let mut files = Vec::new();
        collect_rego(dir, &mut files)?;
        files.sort();
        let mut modules = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read { path: path.display().to_string(), source })?;
            let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().into_owned();
            modules.push(Module::new(name, &text, None));
        }
        Ok(PolicySet::new(modules))
    }

    /// The modules, broken ones included.
    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        self.modules.iter().map(|m| &**m)
    }

    /// Whether there is no module at all.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Evaluates every module that applies to the context's project on each
    /// of `objects` (the app's rendered objects, hooks included). `cache`
    /// keeps each object's verdict by content.
    pub fn evaluate<'a>(
        &self,
        context: &Context,
        objects: impl IntoIterator<Item = &'a serde_json::Value>,
        cache: &VerdictCache,
    ) -> Verdict {
        let applicable: Vec<&Arc<Module>> = self.modules.iter().filter(|m| m.applies_to(&context.project)).collect();
        let mut verdict = Verdict::default();
        if applicable.is_empty() {
            return verdict;
        }
        for m in &applicable {
            if let Err(e) = &m.compiled {
                verdict.errors.push(Failure { object: None, policy: m.name.clone(), message: format!("does not compile: {e}") });
            }
        }
        let mut set = Sha256::new();
        for m in &applicable {
            set.update(m.digest);
        }
        set.update(context.digest);
        let set = set.finalize();
        // A module that ran out of time once is not run again for this
        // verdict: its error blocks already, and each object would cost the
        // whole limit again.
        let mut exhausted = vec![false; applicable.len()];
        for object in objects {
            let id = ObjectId::of(object);
            let json = serde_json::to_string(object).unwrap_or_default();
            if json.len() > MAX_OBJECT_BYTES {
                verdict.errors.push(Failure {
                    object: Some(id),
                    policy: String::new(),
                    message: format!("the object is {} bytes as JSON, over the {MAX_OBJECT_BYTES} a policy is evaluated on", json.len()),
                });
                continue;
            }
            let key: [u8; 32] = Sha256::new().chain_update(set).chain_update(json.as_bytes()).finalize().into();
            let outcome = match cache.get(&key) {
                Some(kept) => kept,
                None => {
                    let secret = id.group.is_empty() && id.kind == "Secret";
                    let (outcome, keep) = evaluate_object(&applicable, context, &json, secret, &mut exhausted);
                    let outcome = Arc::new(outcome);
                    if keep {
                        cache.put(key, outcome.clone());
                    }
                    outcome
                }
            };
            verdict.add(&id, &outcome);
        }
        verdict
    }
}

/// What each module said about one object: (module, rule, message) and
/// (module, error).
#[derive(Debug, Default)]
pub(crate) struct ObjectOutcome {
    pub(crate) findings: Vec<(String, Rule, String)>,
    pub(crate) errors: Vec<(String, String)>,
}

/// Evaluates the compiled modules on one object; the flag says whether the
/// outcome may be kept (no time limit was reached). On a Secret, an
/// evaluation error's text is withheld: regorus may quote the value it
/// failed on, and a Secret's values may have been decrypted from SOPS.
fn evaluate_object(modules: &[&Arc<Module>], context: &Context, json: &str, secret: bool, exhausted: &mut [bool]) -> (ObjectOutcome, bool) {
    let mut outcome = ObjectOutcome::default();
    let input = format!(r#"{{"object":{json},"app":{},"project":{}}}"#, context.app, context.project_json);
    let input = match regorus::Value::from_json_str(&input) {
        Ok(v) => v,
        Err(e) => {
            outcome.errors.push((String::new(), format!("the object cannot be read as policy input: {e}")));
            return (outcome, true);
        }
    };
    let mut keep = true;
    for (i, m) in modules.iter().enumerate() {
        let Ok(compiled) = &m.compiled else { continue };
        if exhausted[i] {
            outcome.errors.push((m.name.clone(), "not evaluated: the module ran out of time on another object".into()));
            keep = false;
            continue;
        }
        let said = compiled.evaluate(&input);
        outcome.findings.extend(said.findings.into_iter().map(|(rule, msg)| (m.name.clone(), rule, msg)));
        if let Some(e) = said.error {
            let e = if secret && !said.timed_out {
                "the evaluation failed on a Secret (the error is withheld: it may quote its data)".into()
            } else {
                e
            };
            outcome.errors.push((m.name.clone(), e));
        }
        if said.timed_out {
            exhausted[i] = true;
            keep = false;
        }
    }
    (outcome, keep)
}

/// What a module sees of the app and its project: `input.app` and
/// `input.project` (metadata and spec; status left out).
pub struct Context {
    project: String,
    app: String,
    project_json: String,
    digest: [u8; 32],
}

impl Context {
    /// The context of `app` in `project`.
    pub fn new(app: &Application, project: &AppProject) -> Context {
        let app_json = serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": meta(&app.metadata),
            "spec": app.spec,
        });
        let project_json = serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": meta(&project.metadata),
            "spec": project.spec,
        });
        let (app_json, project_json) = (app_json.to_string(), project_json.to_string());
        let digest =
            Sha256::new().chain_update(app_json.as_bytes()).chain_update([0]).chain_update(project_json.as_bytes()).finalize().into();
        Context { project: project.metadata.name.clone().unwrap_or_default(), app: app_json, project_json, digest }
    }
}

/// Annotations that driftless and Argo CD write on apps as they work (a
/// refresh, what notifications sent, since when drift lasts): left out of
/// the input, or every such write would make every verdict new.
const VOLATILE_ANNOTATIONS: [&str; 5] = [
    "argocd.argoproj.io/refresh",
    "argocd.argoproj.io/hydrate",
    "driftless.dev/refresh-since",
    "driftless.dev/out-of-sync-since",
    "notified.notifications.argoproj.io",
];

/// The metadata a policy may look at: what a person writes, not what the
/// API server or the controllers keep changing (resourceVersion,
/// managedFields, the annotations above).
fn meta(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> serde_json::Value {
    let mut annotations = m.annotations.clone().unwrap_or_default();
    annotations.retain(|k, _| !VOLATILE_ANNOTATIONS.contains(&k.as_str()));
    serde_json::json!({
        "name": m.name,
        "namespace": m.namespace,
        "labels": m.labels.clone().unwrap_or_default(),
        "annotations": annotations,
    })
}

/// `driftless.dev/policy-projects`: comma-separated globs; none (an empty
/// value) is no limit.
fn project_globs(value: &str) -> Option<Vec<String>> {
    let globs: Vec<String> = value.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect();
    (!globs.is_empty()).then_some(globs)
}

fn collect_rego(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), PolicyError> {
    let read = |source| PolicyError::Read { path: dir.display().to_string(), source };
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let path = entry.path();
        // Symlinks are not followed: a loop would never end.
        let kind = entry.file_type().map_err(read)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            collect_rego(&path, out)?;
        } else if kind.is_file() && name.ends_with(".rego") && !name.ends_with("_test.rego") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
