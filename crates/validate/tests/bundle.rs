//! The bundled schemas are what the devcluster serves, reduced: a
//! Kubernetes upgrade of the devcluster fails here until
//! `scripts/openapi-bundle.sh` is run again.

use driftless_testkit::DevCluster;
use driftless_validate::schema::{BUNDLED_VERSION, Schemas, bundle, minor_of};
use serde_json::Value;

async fn get(client: &kube::Client, path: &str) -> Value {
    let req = http::Request::get(path).body(Vec::new()).expect("request");
    let text = client.request_text(req).await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[tokio::test]
async fn bundled_schemas_are_what_the_devcluster_serves() {
    let client = DevCluster::shared().expect("devcluster").client().await.expect("client");
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(minor_of(&format!("{}.{}", version.major, version.minor)), BUNDLED_VERSION, "the bundle is of the devcluster's minor");
    let index = get(&client, "/openapi/v3").await;
    let mut docs = Vec::new();
    for path in index["paths"].as_object().expect("paths").keys() {
        docs.push(get(&client, &format!("/openapi/v3/{path}")).await);
    }
    let served = bundle::reduce(&docs);
    let bundled = Schemas::bundled_json();
    assert_eq!(served["kinds"], bundled["kinds"], "kinds differ: run scripts/openapi-bundle.sh");
    assert!(served == bundled, "schemas differ: run scripts/openapi-bundle.sh");
    // And the bundle compiles into a validator that knows the kinds.
    let schemas = Schemas::bundled(BUNDLED_VERSION).expect("bundled");
    assert_eq!(schemas.is_namespaced("apps", "Deployment"), Some(true));
    assert_eq!(schemas.is_namespaced("", "Namespace"), Some(false));
}
