//! What to do with a set's Applications (pure): the generated ones
//! against those the set owns, under `syncPolicy.applicationsSync`,
//! `preservedFields` and `ignoreApplicationDifferences`.

use std::collections::BTreeMap;

use driftless_api::{Application, ApplicationSetSpec, ResourceIgnoreDifferences};
use kube::ResourceExt;
use serde_json::Value;

/// `syncPolicy.applicationsSync`: what the set may do to its apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Create missing apps; never update or delete.
    CreateOnly,
    /// Create and update; never delete.
    CreateUpdate,
    /// Create and delete; never update.
    CreateDelete,
    /// Create, update and delete (the default).
    Sync,
}

impl Policy {
    /// The policy `spec` names; an unknown one is an error naming it.
    pub fn of(spec: &ApplicationSetSpec) -> Result<Policy, String> {
        match spec.sync_policy.as_ref().and_then(|p| p.applications_sync.as_deref()).unwrap_or_default() {
            "" | "sync" => Ok(Policy::Sync),
            "create-only" => Ok(Policy::CreateOnly),
            "create-update" => Ok(Policy::CreateUpdate),
            "create-delete" => Ok(Policy::CreateDelete),
            other => {
                Err(format!("spec.syncPolicy.applicationsSync: {other:?} is not one of create-only, create-update, create-delete, sync"))
            }
        }
    }

    fn updates(self) -> bool {
        matches!(self, Policy::CreateUpdate | Policy::Sync)
    }

    /// Whether the set deletes apps (also when the set itself is deleted).
    pub fn deletes(self) -> bool {
        matches!(self, Policy::CreateDelete | Policy::Sync)
    }
}

/// Annotations an app keeps whatever the template says: others' tools
/// write them (Argo CD's defaults).
const PRESERVED_ANNOTATIONS: [&str; 3] = ["argocd.argoproj.io/refresh", "argocd.argoproj.io/hydrate", "notified.notifications.argoproj.io"];

/// The actions, each on a whole Application.
#[derive(Debug, Default)]
pub struct Plan {
    /// Apps to create.
    pub create: Vec<Application>,
    /// Apps to update (the generated object, with preserved fields).
    pub update: Vec<Application>,
    /// Owned apps no element makes any longer.
    pub delete: Vec<Application>,
    /// Apps already as generated, or left alone by the policy.
    pub unchanged: Vec<String>,
}

/// Plans `desired` against `owned` (the apps with the set's
/// ownerReference).
pub fn plan(spec: &ApplicationSetSpec, desired: Vec<Application>, owned: &[Application]) -> Result<Plan, String> {
    let policy = Policy::of(spec)?;
    let ignore = ignore_rules(spec)?;
    let by_name: BTreeMap<String, &Application> = owned.iter().map(|a| (a.name_any(), a)).collect();
    let mut plan = Plan::default();
    let mut wanted = std::collections::BTreeSet::new();
    for app in desired {
        wanted.insert(app.name_any());
        match by_name.get(&app.name_any()) {
            None => plan.create.push(app),
            Some(live) if !policy.updates() => plan.unchanged.push(live.name_any()),
            Some(live) => {
                let merged = preserved(spec, app, live, &ignore);
                if differs(&merged, live) {
                    plan.update.push(merged);
                } else {
                    plan.unchanged.push(live.name_any());
                }
            }
        }
    }
    for app in owned {
        if !wanted.contains(&app.name_any()) {
            if policy.deletes() {
                plan.delete.push(app.clone());
            } else {
                plan.unchanged.push(app.name_any());
            }
        }
    }
    Ok(plan)
}

fn ignore_rules(spec: &ApplicationSetSpec) -> Result<driftless_diff::DiffOptions, String> {
    let rules: Vec<ResourceIgnoreDifferences> = spec
        .ignore_application_differences
        .iter()
        .map(|r| ResourceIgnoreDifferences {
            group: Some("argoproj.io".into()),
            kind: "Application".into(),
            name: r.name.clone(),
            json_pointers: r.json_pointers.clone(),
            jq_path_expressions: r.jq_path_expressions.clone(),
            ..Default::default()
        })
        .collect();
    driftless_diff::DiffOptions::new(&rules).map_err(|e| format!("spec.ignoreApplicationDifferences: {e}"))
}

/// The generated app with what it keeps of the live one: preserved
/// annotations and labels, ignored differences, finalizers others added.
fn preserved(spec: &ApplicationSetSpec, mut app: Application, live: &Application, ignore: &driftless_diff::DiffOptions) -> Application {
    let fields = spec.preserved_fields.clone().unwrap_or_default();
    let keep = |ours: &mut Option<BTreeMap<String, String>>, theirs: &BTreeMap<String, String>, keys: &[&str]| {
        for k in keys {
            if let Some(v) = theirs.get(*k) {
                ours.get_or_insert_default().insert(k.to_string(), v.clone());
            }
        }
    };
    let annotations: Vec<&str> = PRESERVED_ANNOTATIONS.into_iter().chain(fields.annotations.iter().map(String::as_str)).collect();
    keep(&mut app.metadata.annotations, live.annotations(), &annotations);
    let labels: Vec<&str> = fields.labels.iter().map(String::as_str).collect();
    keep(&mut app.metadata.labels, live.labels(), &labels);
    if !spec.ignore_application_differences.is_empty() {
        let (desired, live_value) = (serde_json::to_value(&app).unwrap_or_default(), serde_json::to_value(live).unwrap_or_default());
        let respected = driftless_diff::respect_ignored(&desired, &live_value, ignore);
        if let Ok(a) = serde_json::from_value(respected) {
            app = a;
        }
    }
    app
}

/// Whether writing `app` would change `live`: its spec, or a label,
/// annotation or finalizer it sets.
fn differs(app: &Application, live: &Application) -> bool {
    let subset = |ours: &Option<BTreeMap<String, String>>, theirs: &BTreeMap<String, String>| {
        ours.iter().flatten().all(|(k, v)| theirs.get(k) == Some(v))
    };
    let strip = |s: &driftless_api::ApplicationSpec| serde_json::to_value(s).unwrap_or(Value::Null);
    strip(&app.spec) != strip(&live.spec)
        || !subset(&app.metadata.labels, live.labels())
        || !subset(&app.metadata.annotations, live.annotations())
        || !app.finalizers().iter().all(|f| live.finalizers().contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(policy: &str) -> ApplicationSetSpec {
        serde_json::from_value(
            json!({"syncPolicy": {"applicationsSync": policy}, "template": {"metadata": {}, "spec": {"destination": {}, "project": ""}}}),
        )
        .unwrap()
    }

    fn app(name: &str, path: &str) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": name},
            "spec": {"source": {"repoURL": "r", "path": path}, "destination": {"server": "s"}, "project": "default"}
        }))
        .unwrap()
    }

    /// Each policy on: `new` to create, `changed` to update, `gone` to delete.
    fn names(policy: &str) -> [Vec<String>; 3] {
        let owned = [app("changed", "old"), app("gone", "p")];
        let p = plan(&spec(policy), vec![app("new", "p"), app("changed", "new")], &owned).unwrap();
        let names = |apps: Vec<Application>| apps.iter().map(|a| a.name_any()).collect();
        [names(p.create), names(p.update), names(p.delete)]
    }

    #[test]
    fn each_policy_creates_and_only_some_update_or_delete() {
        let (new, changed, gone) = (vec!["new".to_string()], vec!["changed".to_string()], vec!["gone".to_string()]);
        let none = Vec::<String>::new;
        assert_eq!(names("create-only"), [new.clone(), none(), none()]);
        assert_eq!(names("create-update"), [new.clone(), changed.clone(), none()]);
        assert_eq!(names("create-delete"), [new.clone(), none(), gone.clone()]);
        assert_eq!(names("sync"), [new.clone(), changed.clone(), gone.clone()]);
        assert_eq!(names(""), [new, changed, gone], "sync is the default");
        assert!(Policy::of(&spec("create")).unwrap_err().contains("\"create\""));
    }
}
