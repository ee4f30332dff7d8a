//! Sealed Secrets and External Secrets as first-class resources, against
//! the real dev control plane with their CRDs installed: the test plays
//! their controllers (status written to `/status` as they write it, the
//! Secret each makes, owned by its parent and carrying the parent's labels
//! and annotations, tracking ones included, as those controllers copy them).
//! The app is Progressing until the controllers report, then Healthy, and
//! Degraded with the controller's message when a SealedSecret cannot be
//! decrypted; the Secrets they make are never the app's drift, orphans or
//! prune candidates, and their values appear nowhere in the app.

mod common;

use base64::Engine as _;
use common::World;
use driftless_api::{AppProject, Application, HealthStatusCode, OperationPhase, SyncStatusCode, condition};
use driftless_testkit::{Error, TestNamespace, install_secret_controller_crds, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// What the Secrets hold: it must appear nowhere but in them.
const VALUE: &str = "s3cr3t-from-the-vault";

fn sealed_secret(encrypted: &str) -> String {
    format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db-credentials\nspec:\n  encryptedData:\n    password: {encrypted}\n  template:\n    metadata:\n      name: db-credentials\n    type: Opaque\n"
    )
}

const EXTERNAL_SECRET: &str = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: api-token\nspec:\n  refreshInterval: 1h\n  secretStoreRef:\n    kind: SecretStore\n    name: vault\n  target:\n    name: api-token\n    creationPolicy: Owner\n  data:\n  - secretKey: token\n    remoteRef:\n      key: payments/api\n      property: token\n";

const SECRET_STORE: &str = "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: vault\nspec:\n  provider:\n    vault:\n      server: https://vault.example.com:8200\n      path: secret\n      version: v2\n      auth:\n        tokenSecretRef:\n          name: vault-token\n          key: token\n";

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The controllers' side of the test: reads and writes in the app's
/// destination namespace.
struct Controllers<'a> {
    ns: &'a TestNamespace,
}

impl Controllers<'_> {
    fn api(&self, ar: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.ns.client(), self.ns.name(), ar)
    }

    async fn get(&self, ar: &ApiResource, name: &str) -> Result<DynamicObject, Error> {
        let api = self.api(ar);
        wait_for(&format!("{} {name} applied", ar.kind), common::TIMEOUT, || async { api.get(name).await.map_err(|e| e.to_string()) }).await
    }

    /// Writes `status` as a controller does: through the status subresource.
    async fn status(&self, ar: &ApiResource, name: &str, status: Value) -> Result<(), Error> {
        self.api(ar)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
            .await
            .map(drop)
            .map_err(|source| Error::Kube { what: format!("write the status of {} {name}", ar.kind), source })
    }

    /// Creates the Secret a controller makes from `parent`: owned by it (a
    /// controller reference, as both controllers set), with the parent's
    /// labels and annotations copied (the tracking label and annotation
    /// among them) and `extra_labels` of the controller's own.
    async fn make_secret(&self, parent: &DynamicObject, key: &str, extra_labels: Value) -> Result<(), Error> {
        let meta = &parent.metadata;
        let mut labels = serde_json::to_value(meta.labels.clone().unwrap_or_default()).expect("labels");
        if let (Some(l), Value::Object(extra)) = (labels.as_object_mut(), extra_labels) {
            l.extend(extra);
        }
        let types = parent.types.clone().expect("a fetched object has its type");
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {
                "name": meta.name,
                "labels": labels,
                "annotations": meta.annotations,
                "ownerReferences": [{ "apiVersion": types.api_version, "kind": types.kind, "name": meta.name, "uid": meta.uid,
                                      "controller": true, "blockOwnerDeletion": true }],
            },
            "type": "Opaque",
            "data": { key: base64::engine::general_purpose::STANDARD.encode(VALUE) },
        }))
        .expect("a Secret");
        self.ns
            .api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await
            .map(drop)
            .map_err(|source| Error::Kube { what: format!("create Secret {:?}", meta.name), source })
    }
}

/// The health of one of the app's resources, as its status lists it.
fn health_of(a: &Application, kind: &str) -> Option<(HealthStatusCode, String)> {
    let r = a.status.as_ref()?.resources.iter().find(|r| r.kind == kind)?;
    let h = r.health.as_ref()?;
    Some((h.status, h.message.clone().unwrap_or_default()))
}

/// The whole life of an app with a SealedSecret, an ExternalSecret and its
/// SecretStore under the tracking method `tracking` (argocd-cm's
/// `application.resourceTrackingMethod`; `None`: the default).
async fn secrets_from_controllers(prefix: &str, tracking: Option<&str>) -> Result<(), Error> {
    let w = World::new(prefix).await?;
    install_secret_controller_crds(&w.ns.client()).await?;
    if let Some(method) = tracking {
        let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "argocd-cm" },
                         "data": { "application.resourceTrackingMethod": method } });
        Api::<ConfigMap>::namespaced(w.ns.client(), w.name())
            .patch("argocd-cm", &PatchParams::apply("test").force(), &Patch::Apply(cm))
            .await
            .map_err(|source| Error::Kube { what: "write argocd-cm".into(), source })?;
    }
    let target = TestNamespace::new(&format!("{prefix}-dest")).await?;
    let project = json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": { "name": "secrets" },
        "spec": { "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }], "orphanedResources": { "warn": true } } });
    w.ns.api::<AppProject>()
        .patch("secrets", &PatchParams::apply("test").force(), &Patch::Apply(project))
        .await
        .map_err(|source| Error::Kube { what: "apply project".into(), source })?;
    // An object no app tracks: the orphan count's yardstick.
    let stray: ConfigMap = serde_json::from_value(json!({ "metadata": { "name": "stray" } })).expect("a ConfigMap");
    target
        .api::<ConfigMap>()
        .create(&PostParams::default(), &stray)
        .await
        .map_err(|source| Error::Kube { what: "create stray".into(), source })?;

    w.repo.write("app/sealed.yaml", &sealed_secret("AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq"));
    w.repo.write("app/external.yaml", EXTERNAL_SECRET);
    w.repo.write("app/store.yaml", SECRET_STORE);
    w.repo.commit("secrets from controllers");
    w.app(
        "secrets",
        "app",
        json!({ "project": "secrets", "destination": { "server": "https://kubernetes.default.svc", "namespace": target.name() } }),
    )
    .await?;
    w.request_sync("secrets", json!({ "prune": true })).await?;

    // Applied, and nothing has reported yet.
    let ctl = Controllers { ns: &target };
    let sealed_ar = resource("bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets");
    let external_ar = resource("external-secrets.io", "v1", "ExternalSecret", "externalsecrets");
    let store_ar = resource("external-secrets.io", "v1", "SecretStore", "secretstores");
    let sealed = ctl.get(&sealed_ar, "db-credentials").await?;
    let external = ctl.get(&external_ar, "api-token").await?;
    ctl.get(&store_ar, "vault").await?;
    let waiting = w
        .wait_app("secrets", "Progressing, waiting for the controllers", |a| {
            let s = a.status.as_ref()?;
            let all = ["SealedSecret", "ExternalSecret", "SecretStore"].map(|k| health_of(a, k));
            (s.health.status == HealthStatusCode::Progressing && all.iter().all(Option::is_some)).then_some(all)
        })
        .await?;
    assert_eq!(
        waiting.map(|h| h.expect("listed")),
        [
            (HealthStatusCode::Progressing, "Waiting for Sealed Secret to be decrypted".to_string()),
            (HealthStatusCode::Progressing, "Waiting for ExternalSecret".to_string()),
            (HealthStatusCode::Progressing, "Waiting for SecretStore".to_string()),
        ]
    );

    // The controllers do their work: the Secrets first, then the status.
    ctl.make_secret(&sealed, "password", json!({})).await?;
    ctl.make_secret(&external, "token", json!({ "reconcile.external-secrets.io/managed": "true" })).await?;
    ctl.status(&store_ar, "vault", json!({ "capabilities": "ReadWrite",
        "conditions": [{ "type": "Ready", "status": "True", "reason": "Valid", "message": "store validated", "lastTransitionTime": "2026-11-21T09:40:00Z" }] }))
        .await?;
    let generation = |o: &DynamicObject| o.metadata.generation.expect("a custom resource has a generation");
    ctl.status(&sealed_ar, "db-credentials", json!({ "observedGeneration": generation(&sealed),
        "conditions": [{ "type": "Synced", "status": "True", "lastTransitionTime": "2026-11-21T09:40:01Z", "lastUpdateTime": "2026-11-21T09:40:01Z" }] }))
        .await?;
    ctl.status(&external_ar, "api-token", json!({ "binding": { "name": "api-token" }, "refreshTime": "2026-11-21T09:40:02Z",
        "syncedResourceVersion": format!("{}-9a1c0f3e5b7d2e4f6a8b0c1d3e5f7a9b", generation(&external)),
        "conditions": [{ "type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced", "lastTransitionTime": "2026-11-21T09:40:02Z" }] }))
        .await?;
    let op = w.wait_operation("secrets").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    let app = w
        .wait_app("secrets", "Healthy and Synced", |a| {
            let s = a.status.as_ref()?;
            (s.health.status == HealthStatusCode::Healthy && s.sync.status == SyncStatusCode::Synced).then(|| a.clone())
        })
        .await?;
    let listed: Vec<String> = app.status.as_ref().expect("status").resources.iter().map(|r| format!("{}/{}", r.kind, r.name)).collect();
    assert_eq!(listed.len(), 3, "the Secrets the controllers made are not the app's resources: {listed:?}");
    assert!(!listed.iter().any(|r| r.starts_with("Secret/")), "{listed:?}");
    let orphans = wait_for("the orphaned resources warning", common::TIMEOUT, || async {
        let a = w.apps.get("secrets").await.map_err(|e| e.to_string())?;
        let c = a.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == condition::ORPHANED_RESOURCE_WARNING).cloned());
        c.map(|c| c.message).ok_or_else(|| common::summary(&a))
    })
    .await?;
    assert_eq!(orphans, "Application has 1 orphaned resources", "the stray ConfigMap only, not the controllers' Secrets");

    // A sync with prune leaves them alone.
    w.request_sync("secrets", json!({ "prune": true })).await?;
    let op = w.wait_operation("secrets").await?;
    assert_eq!(op.phase, OperationPhase::Succeeded, "{op:?}");
    let touched: Vec<String> =
        op.sync_result.iter().flat_map(|r| r.resources.iter()).filter(|r| r.kind == "Secret").map(|r| r.name.clone()).collect();
    assert!(touched.is_empty(), "a sync with prune touched {touched:?}");
    for name in ["db-credentials", "api-token"] {
        assert!(
            target.api::<Secret>().get_opt(name).await.map_err(|source| Error::Kube { what: name.into(), source })?.is_some(),
            "{name} kept"
        );
    }

    // New encrypted data the controller cannot decrypt: Progressing until
    // it has looked at the new generation, then Degraded with its message.
    w.repo.write("app/sealed.yaml", &sealed_secret("AgCtr8OJSWK+sealedForAnotherCluster"));
    w.repo.commit("sealed for the wrong cluster");
    w.request_sync("secrets", json!({ "prune": true })).await?;
    let stale = wait_for("the new generation applied", common::TIMEOUT, || async {
        let o = ctl.get(&sealed_ar, "db-credentials").await.map_err(|e| e.to_string())?;
        (generation(&o) > generation(&sealed)).then_some(o).ok_or_else(|| "not yet".to_string())
    })
    .await?;
    w.wait_app("secrets", "Progressing on the new generation", |a| {
        (health_of(a, "SealedSecret")?.0 == HealthStatusCode::Progressing).then_some(())
    })
    .await?;
    let message = "no key could decrypt secret (password)";
    ctl.status(&sealed_ar, "db-credentials", json!({ "observedGeneration": generation(&stale),
        "conditions": [{ "type": "Synced", "status": "False", "message": message, "lastTransitionTime": "2026-11-21T09:41:12Z", "lastUpdateTime": "2026-11-21T09:41:12Z" }] }))
        .await?;
    let app =
        w.wait_app("secrets", "Degraded", |a| (a.status.as_ref()?.health.status == HealthStatusCode::Degraded).then(|| a.clone())).await?;
    assert_eq!(health_of(&app, "SealedSecret"), Some((HealthStatusCode::Degraded, message.to_string())));

    // The values are in the Secrets and nowhere in the app.
    let text = serde_json::to_string(&app).expect("JSON");
    for leak in [VALUE.to_string(), base64::engine::general_purpose::STANDARD.encode(VALUE)] {
        assert!(!text.contains(&leak), "the app shows a Secret's value");
    }
    Ok(())
}

#[tokio::test]
async fn sealed_and_external_secrets_with_annotation_tracking() -> Result<(), Error> {
    secrets_from_controllers("secrets-annotation", None).await
}

#[tokio::test]
async fn sealed_and_external_secrets_with_label_tracking() -> Result<(), Error> {
    // The copied instance label claims the Secrets for the app; their
    // owner reference says otherwise, and wins, as in Argo CD.
    secrets_from_controllers("secrets-label", Some("label")).await
}
