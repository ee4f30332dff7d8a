//! `Cluster::list` against the real dev control plane: what a comparison
//! reads of a kind while the kind's watch has not listed yet.

use driftless_sync::cluster::Cluster;
use driftless_testkit::{TestNamespace, install_secret_controller_crds};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};

#[tokio::test]
async fn an_object_nested_deeper_than_driftless_reads_is_left_out_of_its_kinds_listing_alone() {
    let ns = TestNamespace::new("sync-deep-list").await.expect("namespace");
    install_secret_controller_crds(&ns.client()).await.expect("CRDs");
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"), "sealedsecrets");
    let api: Api<DynamicObject> = Api::namespaced_with(ns.client(), ns.name(), &ar);
    let object = |name: &str, spec: String| {
        format!(r#"{{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{{"name":"{name}"}},"spec":{spec}}}"#)
    };
    // A custom resource keeps its free-form spec to any depth; the answer
    // to the create is not read (kube-rs could not).
    let deep = format!("{}{{}}{}", r#"{"a":"#.repeat(300), "}".repeat(300));
    for (name, spec) in [("deep", deep), ("web", r#"{"encryptedData":{"password":"AgB"}}"#.to_string())] {
        let req = kube::core::Request::new(api.resource_url())
            .create(&PostParams::default(), object(name, spec).into_bytes())
            .expect("a request");
        ns.client().request_text(req).await.expect("the server stores it");
    }
    let listed = Cluster::new(ns.client()).list("bitnami.com/v1alpha1", "SealedSecret", Some(ns.name())).await.expect("the listing reads");
    let names: Vec<&str> = listed.iter().map(|o| o["metadata"]["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["web"], "the deep object is left out, the other read whole");
    assert_eq!(listed[0]["spec"]["encryptedData"]["password"], "AgB");
    assert_eq!((listed[0]["apiVersion"].as_str(), listed[0]["kind"].as_str()), (Some("bitnami.com/v1alpha1"), Some("SealedSecret")));
}
