//! Installing driftless' CRDs into the test cluster.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::{Error, wait_for};

/// Applies the Application and AppProject CRDs (idempotent, safe from
/// parallel tests) and waits until the server serves them.
pub async fn install_crds(client: &kube::Client) -> Result<(), Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in driftless_api::crd::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &PatchParams::apply("driftless-testkit").force(), &Patch::Apply(&crd))
            .await
            .map_err(|source| Error::Kube { what: format!("install CRD {name}"), source })?;
        wait_for(&format!("CRD {name} to be established"), std::time::Duration::from_secs(30), || async {
            let c = crds.get(&name).await.map_err(|e| e.to_string())?;
            let established =
                c.status.and_then(|s| s.conditions).unwrap_or_default().iter().any(|c| c.type_ == "Established" && c.status == "True");
            if established { Ok(()) } else { Err("not established".to_string()) }
        })
        .await?;
    }
    Ok(())
}
