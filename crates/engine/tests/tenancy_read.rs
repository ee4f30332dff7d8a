//! `Tenancy::read` against the dev control plane: `application.namespaces`
//! (and `applicationsetcontroller.namespaces`) come from the control
//! plane's `argocd-cmd-params-cm` when no flag names them, a flag wins over
//! the ConfigMap, and a bad setting is an error naming where it was read.

use driftless_engine::project::{APP_NAMESPACES_KEY, APPSET_NAMESPACES_KEY, CMD_PARAMS_CONFIGMAP, Tenancy};
use driftless_testkit::TestNamespace;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Writes `argocd-cmd-params-cm` in `ns` with `data`.
async fn cmd_params(ns: &TestNamespace, data: serde_json::Value) {
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": CMD_PARAMS_CONFIGMAP }, "data": data });
    ns.api::<ConfigMap>()
        .patch(CMD_PARAMS_CONFIGMAP, &PatchParams::apply("test").force(), &Patch::Apply(cm))
        .await
        .expect("write the ConfigMap");
}

#[tokio::test]
async fn application_namespaces_come_from_argocd_cmd_params_cm_unless_a_flag_names_them() {
    let ns = TestNamespace::new("tenancy-read").await.expect("namespace");
    let client = ns.client();
    let control_plane = ns.name();

    // No ConfigMap, no flag: the control plane alone.
    let t = Tenancy::read(&client, control_plane, None, None).await.expect("no ConfigMap is no setting");
    assert!(t.namespace_enabled(control_plane) && !t.namespace_enabled("team-a"));

    // The ConfigMap's globs, when no flag is given.
    cmd_params(&ns, json!({ APP_NAMESPACES_KEY: "team-*, /^ops-[0-9]+$/", APPSET_NAMESPACES_KEY: "team-a" })).await;
    let t = Tenancy::read(&client, control_plane, None, None).await.expect("the ConfigMap's setting");
    assert!(t.namespace_enabled("team-a") && t.namespace_enabled("team-b") && t.namespace_enabled("ops-7"));
    assert!(!t.namespace_enabled("ops-x") && !t.namespace_enabled("kube-system"));
    assert!(t.appset_namespace_enabled("team-a") && !t.appset_namespace_enabled("team-b"));

    // A flag wins over the ConfigMap, each setting on its own.
    let t = Tenancy::read(&client, control_plane, Some("ops-*"), None).await.expect("the flag's setting");
    assert!(t.namespace_enabled("ops-x") && !t.namespace_enabled("team-a"), "the flag, not the ConfigMap");
    assert!(t.appset_namespace_enabled(control_plane) && !t.appset_namespace_enabled("team-a"), "team-a holds no apps now");
    let t = Tenancy::read(&client, control_plane, Some(""), Some("")).await.expect("empty flags");
    assert!(!t.namespace_enabled("team-a"), "an empty flag is a setting too: none");

    // Another namespace's ConfigMap is not read.
    let elsewhere = TestNamespace::new("tenancy-read-other").await.expect("namespace");
    let t = Tenancy::read(&client, elsewhere.name(), None, None).await.expect("its own, absent, ConfigMap");
    assert!(!t.namespace_enabled("team-a"));

    // A bad regular expression in the ConfigMap: an error naming it.
    cmd_params(&ns, json!({ APP_NAMESPACES_KEY: "/(/" })).await;
    let e = Tenancy::read(&client, control_plane, None, None).await.expect_err("a bad setting");
    assert!(e.contains(CMD_PARAMS_CONFIGMAP) && e.contains(APP_NAMESPACES_KEY) && e.contains("regular expression"), "{e}");
    // A flag replaces the bad setting.
    let t = Tenancy::read(&client, control_plane, Some("team-*"), None).await.expect("the flag wins over a bad ConfigMap");
    assert!(t.namespace_enabled("team-a"));
}
