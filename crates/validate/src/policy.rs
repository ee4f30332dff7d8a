//! Policies (`driftless validate --policy DIR`): each rendered object judged
//! by `driftless-policy` as the controller judges it at sync time, with the
//! app and its AppProject as input (the repository's AppProject of that
//! name, else a project with an empty spec).

use std::collections::BTreeMap;

use driftless_api::{AppProject, Application};
use driftless_policy::{Context, PolicySet, VerdictCache};
use serde_json::Value;

use crate::ObjectCheck;
use crate::discover::Doc;
use crate::finding::{Finding, Kind, Severity};

/// Verdicts kept by object content: overlays over one base render many
/// equal objects.
const CACHED_VERDICTS: usize = 10_000;

/// The policies of a directory as an [`ObjectCheck`]: a `deny` is an error,
/// a `warn` a warning, a module that fails on an object an error.
pub struct PolicyCheck {
    set: PolicySet,
    projects: BTreeMap<String, AppProject>,
    cache: VerdictCache,
}

impl PolicyCheck {
    /// The check of `set`, with the AppProjects among `docs` (the
    /// repository's documents).
    pub fn new(set: PolicySet, docs: &[Doc]) -> PolicyCheck {
        let projects = docs
            .iter()
            .filter(|d| d.value["kind"] == "AppProject" && d.value["apiVersion"] == "argoproj.io/v1alpha1")
            .filter_map(|d| serde_json::from_value::<AppProject>(d.value.clone()).ok())
            .filter_map(|p| Some((p.metadata.name.clone()?, p)))
            .collect();
        PolicyCheck { set, projects, cache: VerdictCache::new(CACHED_VERDICTS) }
    }

    fn project(&self, app: &Application) -> AppProject {
        let name = if app.spec.project.is_empty() { "default" } else { app.spec.project.as_str() };
        self.projects.get(name).cloned().unwrap_or_else(|| AppProject::new(name, Default::default()))
    }
}

impl ObjectCheck for PolicyCheck {
    fn check(&self, app: &Application, object: &Value) -> Vec<Finding> {
        let context = Context::new(app, &self.project(app));
        let verdict = self.set.evaluate(&context, [object], &self.cache);
        let violations =
            verdict.denies.into_iter().map(|v| (Severity::Error, v)).chain(verdict.warnings.into_iter().map(|v| (Severity::Warning, v)));
        let mut findings: Vec<Finding> = violations
            .map(|(severity, v)| {
                let mut f = Finding::new(severity, Kind::Policy, v.message);
                f.rule = Some(format!("{} {}", v.policy, v.rule));
                f
            })
            .collect();
        findings.extend(verdict.errors.into_iter().map(|e| {
            let mut f = Finding::new(Severity::Error, Kind::Policy, e.message);
            f.rule = Some(e.policy).filter(|p| !p.is_empty());
            f
        }));
        findings
    }
}
