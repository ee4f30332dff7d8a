//! Fields of Argo CD's API that driftless accepts and keeps but does not act
//! on yet: an app that sets one says so (an `UnsupportedFieldWarning`
//! condition) rather than ignoring it in silence.

use crate::{AppProject, Application, ApplicationSource, RetryStrategy};

/// The fields `app`, or its `project`, sets that driftless does not act on
/// yet, as paths (`spec.sources[1].kustomize.labelWithoutSelector`,
/// `AppProject default: spec.sourceIntegrity`), in a stable order. Fields
/// driftless refuses outright (plugins, Jsonnet) are not listed: rendering
/// fails with a clear error instead.
pub fn unsupported_fields(app: &Application, project: &AppProject) -> Vec<String> {
    let mut out = Vec::new();
    let spec = &app.spec;
    if spec.source_hydrator.is_some() {
        out.push("spec.sourceHydrator".to_string());
    }
    if let Some(s) = &spec.source {
        source_fields("spec.source", s, &mut out);
    }
    for (i, s) in spec.sources.iter().enumerate() {
        source_fields(&format!("spec.sources[{i}]"), s, &mut out);
    }
    retry_fields("spec.syncPolicy.retry", spec.sync_policy.as_ref().and_then(|p| p.retry.as_ref()), &mut out);
    if let Some(op) = &app.operation {
        retry_fields("operation.retry", op.retry.as_ref(), &mut out);
        if let Some(sync) = &op.sync {
            let lists =
                [("sources", sync.sources.is_empty()), ("revisions", sync.revisions.is_empty()), ("manifests", sync.manifests.is_empty())];
            out.extend(lists.iter().filter(|(_, empty)| !empty).map(|(f, _)| format!("operation.sync.{f}")));
        }
    }
    let p = &project.spec;
    let name = project.metadata.name.as_deref().unwrap_or("default");
    let sets = [
        ("signatureKeys", !p.signature_keys.is_empty()),
        ("permitOnlyProjectScopedClusters", p.permit_only_project_scoped_clusters),
        ("sourceIntegrity", p.source_integrity.is_some()),
    ];
    out.extend(sets.iter().filter(|(_, set)| *set).map(|(f, _)| format!("AppProject {name}: spec.{f}")));
    out
}

/// The condition message for [`unsupported_fields`]; None when there are none.
pub fn unsupported_message(fields: &[String]) -> Option<String> {
    match fields {
        [] => None,
        [one] => Some(format!("{one} is not supported yet by driftless; it is kept but ignored")),
        many => Some(format!("{} are not supported yet by driftless; they are kept but ignored", many.join(", "))),
    }
}

fn source_fields(at: &str, s: &ApplicationSource, out: &mut Vec<String>) {
    if s.tag_prefix.as_deref().is_some_and(|p| !p.is_empty()) {
        out.push(format!("{at}.tagPrefix"));
    }
    if s.directory.as_deref().is_some_and(|d| d.disable_extension_filter) {
        out.push(format!("{at}.directory.disableExtensionFilter"));
    }
    let Some(k) = &s.kustomize else { return };
    let set = [
        ("labelWithoutSelector", k.label_without_selector),
        ("labelIncludeTemplates", k.label_include_templates),
        ("commonAnnotationsEnvsubst", k.common_annotations_envsubst),
        ("ignoreMissingComponents", k.ignore_missing_components),
        ("kubeVersion", k.kube_version.as_deref().is_some_and(|v| !v.is_empty())),
        ("apiVersions", !k.api_versions.is_empty()),
    ];
    out.extend(set.iter().filter(|(_, on)| *on).map(|(f, _)| format!("{at}.kustomize.{f}")));
}

fn retry_fields(at: &str, retry: Option<&RetryStrategy>, out: &mut Vec<String>) {
    if retry.is_some_and(|r| r.refresh) {
        out.push(format!("{at}.refresh"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn app(spec: serde_json::Value) -> Application {
        serde_json::from_value(
            json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": { "name": "a" }, "spec": spec }),
        )
        .expect("an Application")
    }

    #[test]
    fn an_app_using_only_what_driftless_acts_on_reports_nothing() {
        // Every feature driftless implements, set: none may be listed.
        let a = app(json!({
            "project": "default",
            "destination": { "server": "https://kubernetes.default.svc", "namespace": "web" },
            "sources": [
                { "repoURL": "https://git.example/r", "path": "k", "kustomize": {
                    "namePrefix": "p-", "commonLabels": { "a": "b" }, "images": ["nginx:1"], "components": ["c"],
                    "patches": [{ "patch": "[]", "target": { "kind": "Deployment" } }], "replicas": [{ "name": "d", "count": 2 }] } },
                { "repoURL": "https://charts.example", "chart": "c", "targetRevision": "1.0.0", "helm": {
                    "valueFiles": ["$v/x.yaml"], "kubeVersion": "1.30", "apiVersions": ["v1"], "valuesObject": { "a": 1 } } },
                { "repoURL": "https://git.example/v", "ref": "v" },
                { "repoURL": "https://git.example/d", "path": "d", "directory": { "recurse": true, "include": "*.yaml" } }
            ],
            "syncPolicy": { "automated": { "prune": true, "selfHeal": true }, "syncOptions": ["CreateNamespace=true"],
                "retry": { "limit": 2, "backoff": { "duration": "5s" } }, "managedNamespaceMetadata": { "labels": { "a": "b" } } },
            "ignoreDifferences": [{ "kind": "Deployment", "jsonPointers": ["/spec/replicas"] }],
            "revisionHistoryLimit": 3
        }));
        let project = AppProject::default_project("argocd");
        assert_eq!(unsupported_fields(&a, &project), Vec::<String>::new());
        assert_eq!(unsupported_message(&[]), None);
    }

    #[test]
    fn every_field_kept_but_not_acted_on_is_named_with_its_path() {
        let mut a = app(json!({
            "project": "default",
            "destination": { "name": "in-cluster" },
            "source": { "repoURL": "r", "tagPrefix": "web/", "kustomize": { "labelWithoutSelector": true, "kubeVersion": "1.29" } },
            "sources": [{ "repoURL": "r", "directory": { "disableExtensionFilter": true } }, { "repoURL": "r", "kustomize": {
                "ignoreMissingComponents": true, "apiVersions": ["v1"], "labelIncludeTemplates": true, "commonAnnotationsEnvsubst": true } }],
            "sourceHydrator": { "drySource": { "repoURL": "r", "targetRevision": "HEAD", "path": "dry" },
                "syncSource": { "targetBranch": "env/prod", "path": "prod" } },
            "syncPolicy": { "retry": { "limit": 1, "refresh": true } }
        }));
        a.operation = Some(
            serde_json::from_value(json!({ "sync": { "sources": [{ "repoURL": "r" }], "revisions": ["abc"], "manifests": ["{}"] },
                "retry": { "refresh": true } }))
            .unwrap(),
        );
        let mut project = AppProject::default_project("argocd");
        project.spec.permit_only_project_scoped_clusters = true;
        project.spec.signature_keys = vec![crate::SignatureKey { key_id: "4AEE18F83AFDEB23".into() }];
        project.spec.source_integrity = Some(Default::default());
        assert_eq!(
            unsupported_fields(&a, &project),
            [
                "spec.sourceHydrator",
                "spec.source.tagPrefix",
                "spec.source.kustomize.labelWithoutSelector",
                "spec.source.kustomize.kubeVersion",
                "spec.sources[0].directory.disableExtensionFilter",
                "spec.sources[1].kustomize.labelIncludeTemplates",
                "spec.sources[1].kustomize.commonAnnotationsEnvsubst",
                "spec.sources[1].kustomize.ignoreMissingComponents",
                "spec.sources[1].kustomize.apiVersions",
                "spec.syncPolicy.retry.refresh",
                "operation.retry.refresh",
                "operation.sync.sources",
                "operation.sync.revisions",
                "operation.sync.manifests",
                "AppProject default: spec.signatureKeys",
                "AppProject default: spec.permitOnlyProjectScopedClusters",
                "AppProject default: spec.sourceIntegrity",
            ]
        );
    }

    #[test]
    fn the_message_names_the_fields_and_says_they_are_kept() {
        assert_eq!(
            unsupported_message(&["spec.sourceHydrator".into()]).unwrap(),
            "spec.sourceHydrator is not supported yet by driftless; it is kept but ignored"
        );
        assert_eq!(
            unsupported_message(&["a".into(), "b".into()]).unwrap(),
            "a, b are not supported yet by driftless; they are kept but ignored"
        );
    }
}
