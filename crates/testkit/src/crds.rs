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
    // Untyped: decoding a large CRD into its typed form recurses past a
    // test thread's stack in debug builds.
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::erase::<CustomResourceDefinition>(&()));
    for crd in encoded_crds() {
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
