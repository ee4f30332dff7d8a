//! Argo CD's manifests, as a team migrating would apply them: the API server
//! accepts them with driftless' CRDs and stores every field (nothing
//! pruned), and an app that sets a field driftless does not act on yet says
//! so in a condition.

mod common;

use common::{World, configmap};
use driftless_api::{AppProject, Application, ApplicationSet, SyncStatusCode, condition};
use driftless_testkit::Error;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// Applies `manifest` as kubectl would (no driftless type in between) and
/// reads back what the API server stored.
async fn apply_raw<K: kube::Resource<DynamicType = ()>>(w: &World, manifest: &Value) -> Result<Value, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(w.ns.client(), w.name(), &ApiResource::erase::<K>(&()));
    let name = manifest["metadata"]["name"].as_str().expect("a name");
    let what = |verb: &str| format!("{verb} {} {name}", K::kind(&()));
    api.patch(name, &PatchParams::apply("argo-cd-user").force(), &Patch::Apply(manifest))
        .await
        .map_err(|source| Error::Kube { what: what("apply"), source })?;
    let stored = api.get(name).await.map_err(|source| Error::Kube { what: what("get"), source })?;
    Ok(serde_json::to_value(stored).expect("JSON"))
}

/// Every leaf of `sent` is in `stored` with the same value (the server may
/// add metadata and defaults, never drop or change a field).
fn missing_leaves(sent: &Value, stored: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => missing_leaves(v, w, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k} was pruned")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                missing_leaves(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: sent {a}, stored {b}")),
    }
}

fn assert_kept(sent: &Value, stored: &Value) {
    let mut problems = Vec::new();
    missing_leaves(&sent["spec"], &stored["spec"], "spec", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// An AppProject using every AppProject feature of Argo CD 3.x.
fn argo_project(name: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": { "name": name },
        "spec": {
            "description": "a team", "sourceRepos": ["*"], "sourceNamespaces": ["team-*"],
            "destinations": [{ "server": "*", "namespace": "*", "name": "in-cluster" }],
            "clusterResourceWhitelist": [{ "group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "team-*" }],
            "clusterResourceBlacklist": [{ "group": "", "kind": "Namespace" }],
            "namespaceResourceWhitelist": [{ "group": "*", "kind": "*" }],
            "namespaceResourceBlacklist": [{ "group": "", "kind": "ResourceQuota" }],
            "roles": [{ "name": "ci", "description": "CI", "policies": ["p, proj:team:ci, applications, sync, team/*, allow"],
                "groups": ["team-ops"], "jwtTokens": [{ "iat": 1_700_000_000, "exp": 1_800_000_000, "id": "t1" }] }],
            "syncWindows": [
                { "kind": "allow", "schedule": "0 22 * * *", "duration": "1h", "applications": ["*"], "namespaces": ["team-*"],
                  "clusters": ["in-cluster"], "manualSync": true, "timeZone": "Europe/Paris", "andOperator": true, "description": "nightly" },
                { "kind": "deny", "schedule": "0 0 * * 6", "duration": "48h", "applications": ["prod-*"] }
            ],
            "orphanedResources": { "warn": false, "ignore": [{ "group": "", "kind": "ConfigMap", "name": "kube-root-ca.crt" }] },
            "signatureKeys": [{ "keyID": "4AEE18F83AFDEB23" }],
            "permitOnlyProjectScopedClusters": true,
            "destinationServiceAccounts": [{ "server": "https://kubernetes.default.svc", "namespace": "team-*", "defaultServiceAccount": "deployer" }],
            "sourceIntegrity": {
                "git": { "policies": [{ "repos": [{ "url": "https://git.example/*" }], "gpg": { "mode": "head", "keys": ["4AEE18F83AFDEB23"] } }] },
                "helm": { "policies": [{ "repos": [{ "url": "https://charts.example/*" }], "provenance": { "keys": ["D56B8F6B4A1B1B1B"] } }] }
            }
        }
    })
}

#[tokio::test]
async fn argo_cd_projects_apps_and_applicationsets_are_stored_with_every_field() -> Result<(), Error> {
    let w = World::new("argo-manifests").await?;

    let project = argo_project("team");
    let stored = apply_raw::<AppProject>(&w, &project).await?;
    assert_kept(&project, &stored);
    let typed: AppProject = serde_json::from_value(stored.clone()).expect("driftless reads the project");
    let mut back = json!({ "spec": serde_json::to_value(&typed.spec).unwrap() });
    assert_kept(&project, &back);

    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": { "name": "argo-fields" },
        "spec": {
            "project": "default",
            "destination": { "server": "https://kubernetes.default.svc", "namespace": w.name() },
            "sources": [
                { "repoURL": w.repo.url(), "targetRevision": "main", "path": "app", "name": "main",
                  "kustomize": { "labelWithoutSelector": true, "labelIncludeTemplates": true, "kubeVersion": "1.30",
                    "apiVersions": ["monitoring.coreos.com/v1"], "ignoreMissingComponents": true, "commonAnnotationsEnvsubst": true,
                    "components": ["../c"], "patches": [{ "patch": "[]", "target": { "kind": "Deployment", "labelSelector": "a=b" },
                    "options": { "allowNameChange": true } }], "replicas": [{ "name": "web", "count": "2" }] } },
                { "repoURL": w.repo.url(), "targetRevision": "main", "path": "plugin",
                  "plugin": { "name": "cmp", "env": [{ "name": "A", "value": "b" }],
                    "parameters": [{ "name": "s", "string": "x" }, { "name": "m", "map": { "k": "v" } }, { "name": "a", "array": ["1"] }] } },
                { "repoURL": w.repo.url(), "targetRevision": "main", "path": "jsonnet",
                  "directory": { "recurse": true, "jsonnet": { "extVars": [{ "name": "e", "value": "1", "code": true }],
                    "tlas": [{ "name": "t", "value": "x" }], "libs": ["vendor"] } } }
            ],
            "sourceHydrator": {
                "drySource": { "repoURL": w.repo.url(), "targetRevision": "main", "path": "dry",
                    "helm": { "valueFiles": ["v.yaml"] }, "kustomize": { "namePrefix": "p-" } },
                "syncSource": { "targetBranch": "env/prod", "path": "prod" },
                "hydrateTo": { "targetBranch": "env/prod-next" }
            },
            "syncPolicy": { "retry": { "limit": 3, "refresh": true, "backoff": { "duration": "5s", "factor": 2, "maxDuration": "3m" } },
                "managedNamespaceMetadata": { "labels": { "team": "a" }, "annotations": { "note": "b" } },
                "syncOptions": ["CreateNamespace=true"] },
            "ignoreDifferences": [{ "group": "apps", "kind": "Deployment", "jqPathExpressions": [".spec.replicas"], "managedFieldsManagers": ["hpa"] }],
            "info": [{ "name": "docs", "value": "https://docs.example" }],
            "revisionHistoryLimit": 5
        },
        "operation": { "sync": { "sources": [{ "repoURL": w.repo.url() }], "revisions": ["main"], "syncStrategy": { "hook": { "force": true } } },
            "initiatedBy": { "username": "admin" }, "retry": { "limit": 1, "refresh": true } }
    });
    let stored = apply_raw::<Application>(&w, &app).await?;
    assert_kept(&app, &stored);
    let mut problems = Vec::new();
    missing_leaves(&app["operation"], &stored["operation"], "operation", &mut problems);
    assert!(problems.is_empty() || stored.get("operation").is_none(), "{}", problems.join("\n"));
    let typed: Application = serde_json::from_value(stored).expect("driftless reads the app");
    back = json!({ "spec": serde_json::to_value(&typed.spec).unwrap() });
    assert_kept(&app, &back);

    // Argo CD's documentation's list generator, and a matrix of a Git and
    // a list generator with a template override.
    let appset: Value = serde_saphyr::from_str(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: guestbook
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - list:
      elements:
      - cluster: engineering-dev
        url: https://1.2.3.4
      - cluster: engineering-prod
        url: https://2.4.6.8
        replicas: 3
  - matrix:
      generators:
      - git:
          repoURL: https://github.com/argoproj/argo-cd.git
          revision: HEAD
          directories:
          - path: applicationset/examples/matrix/cluster-addons/*
          - path: applicationset/examples/matrix/cluster-addons/skip
            exclude: true
      - list:
          elements:
          - cluster: staging
      template:
        metadata:
          labels:
            addon: "true"
        spec:
          project: default
          destination:
            namespace: addons
  template:
    metadata:
      name: '{{.cluster}}-guestbook'
    spec:
      project: my-project
      source:
        repoURL: https://github.com/argoproj/argo-cd.git
        targetRevision: HEAD
        path: applicationset/examples/list-generator/guestbook/{{.cluster}}
      destination:
        server: '{{.url}}'
        namespace: guestbook
  syncPolicy:
    preserveResourcesOnDeletion: true
    applicationsSync: create-update
  strategy:
    type: RollingSync
    rollingSync:
      steps:
      - matchExpressions:
        - key: envLabel
          operator: In
          values: [env-dev]
        maxUpdate: 25%
  ignoreApplicationDifferences:
  - jsonPointers: [/spec/source/targetRevision]
  templatePatch: |
    spec:
      syncPolicy: {}
"#,
    )
    .expect("YAML");
    let stored = apply_raw::<ApplicationSet>(&w, &appset).await?;
    assert_kept(&appset, &stored);
    let typed: ApplicationSet = serde_json::from_value(stored).expect("driftless reads the ApplicationSet");
    back = json!({ "spec": serde_json::to_value(&typed.spec).unwrap() });
    assert_kept(&appset, &back);
    Ok(())
}

#[tokio::test]
async fn an_app_setting_a_field_driftless_ignores_says_so_and_one_that_does_not_stays_quiet() -> Result<(), Error> {
    let w = World::new("argo-unsupported").await?;
    w.repo.write("app/cm.yaml", &configmap("settings", ""));
    w.repo.commit("app");
    w.app("plain", "app", json!({ "syncPolicy": { "automated": {}, "retry": { "limit": 2 } } })).await?;
    w.app(
        "hydrated",
        "app",
        json!({ "sourceHydrator": { "drySource": { "repoURL": w.repo.url(), "targetRevision": "main", "path": "dry" },
        "syncSource": { "targetBranch": "env/prod", "path": "prod" } } }),
    )
    .await?;
    let message = w
        .wait_app("hydrated", "an UnsupportedFieldWarning", |a| {
            a.status.as_ref()?.conditions.iter().find(|c| c.type_ == condition::UNSUPPORTED_FIELD_WARNING).map(|c| c.message.clone())
        })
        .await?;
    assert_eq!(message, "spec.sourceHydrator is not supported yet by driftless; it is kept but ignored");
    // Reconciled (and synced) with no such condition.
    let plain = w.wait_app("plain", "Synced", |a| (a.status.as_ref()?.sync.status == SyncStatusCode::Synced).then(|| a.clone())).await?;
    let conditions = plain.status.unwrap_or_default().conditions;
    assert!(!conditions.iter().any(|c| c.type_ == condition::UNSUPPORTED_FIELD_WARNING), "{conditions:?}");
    Ok(())
}
