//! Installing driftless' CRDs into the test cluster.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};

use crate::{Error, wait_for};

/// Applies the Application, AppProject and ApplicationSet CRDs
/// (server-side: the ApplicationSet CRD is too large for client-side
/// apply; idempotent, safe from parallel tests) and waits until the server
/// serves them.
pub async fn install_crds(client: &kube::Client) -> Result<(), Error> {
    apply_crds(client, encoded_crds()).await
}

/// Applies the CRDs of the Sealed Secrets controller (`bitnami.com/v1alpha1`
/// SealedSecret) and of External Secrets Operator (`external-secrets.io`
/// ExternalSecret, ClusterExternalSecret, SecretStore, ClusterSecretStore:
/// v1, and v1beta1 still served) and waits until the server serves them.
/// Cut down to what tests need: names, scope, versions and the status
/// subresource as upstream has them; the schemas keep whatever is written,
/// as a test plays the controllers. No controller runs.
pub async fn install_secret_controller_crds(client: &kube::Client) -> Result<(), Error> {
    let v1alpha1 = [("v1alpha1", true)];
    let eso = [("v1", true), ("v1beta1", false)];
    let crds = vec![
        minimal_crd("bitnami.com", "SealedSecret", "sealedsecrets", "Namespaced", &v1alpha1),
        minimal_crd("external-secrets.io", "ExternalSecret", "externalsecrets", "Namespaced", &eso),
        minimal_crd("external-secrets.io", "ClusterExternalSecret", "clusterexternalsecrets", "Cluster", &eso),
        minimal_crd("external-secrets.io", "SecretStore", "secretstores", "Namespaced", &eso),
        minimal_crd("external-secrets.io", "ClusterSecretStore", "clustersecretstores", "Cluster", &eso),
    ];
    apply_crds(client, crds).await
}

/// A CRD whose versions (`(name, storage)`) keep any spec and status, with
/// the status subresource: a write of the object leaves status alone, and
/// only a write to `/status` (the controller's) sets it.
fn minimal_crd(group: &str, kind: &str, plural: &str, scope: &str, versions: &[(&str, bool)]) -> serde_json::Value {
    let open = serde_json::json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true });
    let schema = serde_json::json!({ "openAPIV3Schema": { "type": "object", "properties": { "spec": open, "status": open } } });
    let versions: Vec<serde_json::Value> = versions
        .iter()
        .map(|(name, storage)| {
            serde_json::json!({ "name": name, "served": true, "storage": storage, "schema": schema, "subresources": { "status": {} } })
        })
        .collect();
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "scope": scope,
            "names": { "kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase() },
            "versions": versions,
        },
    })
}

/// Applies CRDs (server-side: idempotent, safe from parallel tests) and
/// waits until each is established.
async fn apply_crds(client: &kube::Client, crds_json: Vec<serde_json::Value>) -> Result<(), Error> {
    // Untyped: decoding a large CRD into its typed form recurses past a
    // test thread's stack in debug builds.
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::erase::<CustomResourceDefinition>(&()));
    for crd in crds_json {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_string();
        crds.patch(&name, &PatchParams::apply("driftless-testkit").force(), &Patch::Apply(&crd))
            .await
            .map_err(|source| Error::Kube { what: format!("install CRD {name}"), source })?;
        wait_for(&format!("CRD {name} to be established"), std::time::Duration::from_secs(30), || async {
            let c = crds.get(&name).await.map_err(|e| e.to_string())?;
            let conditions = c.data["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let established = conditions.iter().any(|c| c["type"] == "Established" && c["status"] == "True");
            if established { Ok(()) } else { Err("not established".to_string()) }
        })
        .await?;
    }
    Ok(())
}

/// The CRDs as JSON. Building and encoding the ApplicationSet CRD (its
/// schema nests an Application spec in every generator) recurses deeper
/// than a test thread's stack allows in debug builds: it is done on a
/// thread with a larger one.
fn encoded_crds() -> Vec<serde_json::Value> {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| driftless_api::crd::all().iter().map(|c| serde_json::to_value(c).expect("a CRD encodes")).collect())
        .expect("spawn a thread")
        .join()
        .expect("the CRDs build")
}
