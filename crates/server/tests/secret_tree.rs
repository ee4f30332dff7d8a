//! The resource tree of an app with a SealedSecret and an ExternalSecret:
//! the Secret each controller made shows beneath its parent, by its
//! metadata alone; the tree and a node's live manifest never carry a
//! Secret's values. The controllers' work is written by the test.

mod api_support;

use api_support::{Server, TIMEOUT, admin_password, create_app};
use base64::Engine as _;
use driftless_testkit::{TestNamespace, install_secret_controller_crds, wait_for};
use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const VALUE: &str = "s3cr3t-from-the-vault";

/// Creates a parent as the app's sync would, with its controller's status.
async fn parent(ns: &TestNamespace, ar: &ApiResource, name: &str, spec: Value, status: Value) -> DynamicObject {
    let api: Api<DynamicObject> = Api::namespaced_with(ns.client(), ns.name(), ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": ar.api_version, "kind": ar.kind,
        "metadata": { "name": name, "labels": { "app.kubernetes.io/instance": "web" },
                      "annotations": { "argocd.argoproj.io/tracking-id": format!("web:{}/{}:{}/{name}", ar.group, ar.kind, ns.name()) } },
        "spec": spec,
    }))
    .expect("valid object");
    let created = api.create(&PostParams::default(), &obj).await.expect("create parent");
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status }))).await.expect("write status");
    created
}

/// The Secret a controller makes from `owner` (none: a Secret of nobody's),
/// with the owner's labels and annotations copied.
async fn secret(ns: &TestNamespace, name: &str, owner: Option<&DynamicObject>) {
    let refs: Vec<Value> = owner
        .iter()
        .map(|o| {
            let t = o.types.clone().expect("typed");
            json!({ "apiVersion": t.api_version, "kind": t.kind, "name": o.metadata.name, "uid": o.metadata.uid, "controller": true })
        })
        .collect();
    let s: Secret = serde_json::from_value(json!({
        "metadata": { "name": name, "ownerReferences": refs,
                      "labels": owner.and_then(|o| o.metadata.labels.clone()),
                      "annotations": owner.and_then(|o| o.metadata.annotations.clone()) },
        "data": { "value": base64::engine::general_purpose::STANDARD.encode(VALUE) },
    }))
    .expect("valid Secret");
    ns.api::<Secret>().create(&PostParams::default(), &s).await.expect("create Secret");
}

#[tokio::test]
async fn secrets_made_by_secret_controllers_show_beneath_their_parents_without_values() {
    let ns = TestNamespace::new("server-secret-tree").await.expect("namespace");
    install_secret_controller_crds(&ns.client()).await.expect("CRDs");
    let server = Server::start(&ns, "").await;
    let sealed_ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"), "sealedsecrets");
    let external_ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret"), "externalsecrets");
    let sealed = parent(
        &ns,
        &sealed_ar,
        "db-credentials",
        json!({ "encryptedData": { "value": "AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq" } }),
        json!({ "observedGeneration": 1, "conditions": [{ "type": "Synced", "status": "True" }] }),
    )
    .await;
    let external = parent(
        &ns,
        &external_ar,
        "api-token",
        json!({ "secretStoreRef": { "kind": "SecretStore", "name": "vault" }, "target": { "name": "api-token" } }),
        json!({ "syncedResourceVersion": "1-9a1c0f3e", "conditions": [{ "type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": "could not get secret data from provider" }] }),
    )
    .await;
    secret(&ns, "db-credentials", Some(&sealed)).await;
    secret(&ns, "api-token", Some(&external)).await;
    secret(&ns, "unrelated", None).await;
    let status = json!({ "resources": [
        { "group": "bitnami.com", "version": "v1alpha1", "kind": "SealedSecret", "namespace": ns.name(), "name": "db-credentials", "status": "Synced" },
        { "group": "external-secrets.io", "version": "v1", "kind": "ExternalSecret", "namespace": ns.name(), "name": "api-token", "status": "Synced" },
    ] });
    create_app(&ns, "web", "default", json!({}), status, "https://git.invalid/r.git", "web").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let q = format!("appNamespace={}", ns.name());

    let (tree, text) = wait_for("a tree with both Secrets", TIMEOUT, || async {
        let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/web/resource-tree?{q}"), None).await;
        let nodes = r.body["nodes"].as_array().cloned().unwrap_or_default();
        if nodes.iter().filter(|n| n["kind"] == "Secret").count() == 2 { Ok((nodes, r.text)) } else { Err(r.text) }
    })
    .await
    .expect("tree");
    let node = |kind: &str, name: &str| tree.iter().find(|n| n["kind"] == kind && n["name"] == name).cloned();
    for (parent_kind, parent_group, name) in
        [("SealedSecret", "bitnami.com", "db-credentials"), ("ExternalSecret", "external-secrets.io", "api-token")]
    {
        let parent = node(parent_kind, name).expect("the parent is in the tree");
        let child = node("Secret", name).expect("the Secret is in the tree");
        let refs = child["parentRefs"].as_array().cloned().unwrap_or_default();
        assert_eq!(refs.len(), 1, "{child}");
        assert_eq!((&refs[0]["kind"], &refs[0]["group"], &refs[0]["uid"]), (&json!(parent_kind), &json!(parent_group), &parent["uid"]));
        assert!(child["health"].is_null(), "a Secret has no health: {child}");
    }
    assert_eq!(node("SealedSecret", "db-credentials").expect("parent")["health"]["status"], "Healthy");
    let es = node("ExternalSecret", "api-token").expect("parent");
    assert_eq!(
        (&es["health"]["status"], &es["health"]["message"]),
        (&json!("Degraded"), &json!("could not get secret data from provider"))
    );
    assert!(node("Secret", "unrelated").is_none(), "a Secret nobody in the app owns is not in its tree");
    let encoded = base64::engine::general_purpose::STANDARD.encode(VALUE);
    assert!(!text.contains(VALUE) && !text.contains(&encoded), "the tree carries a Secret's value");

    // A node's live manifest: the Secret's identity, never its values.
    let path =
        format!("/api/v1/applications/web/resource?{q}&group=&version=v1&kind=Secret&namespace={}&resourceName=db-credentials", ns.name());
    let r = server.as_user(&admin, Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(!r.text.contains(VALUE) && !r.text.contains(&encoded), "the manifest carries the value");
    let manifest: Value = serde_json::from_str(r.body["manifest"].as_str().expect("manifest")).expect("JSON manifest");
    assert_eq!(manifest["metadata"]["ownerReferences"][0]["kind"], "SealedSecret");
}
