//! A namespace per test, deleted when the test ends.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource};

use crate::{DevCluster, Error};

/// A namespace of the shared devcluster that belongs to one test.
///
/// Dropping it deletes the namespace (and so everything in it), also when
/// the test panics.
pub struct TestNamespace {
    name: String,
    client: kube::Client,
    cluster: &'static DevCluster,
}

impl TestNamespace {
    /// Creates a fresh namespace named after `prefix` on the shared cluster.
    pub async fn new(prefix: &str) -> Result<TestNamespace, Error> {
        let cluster = DevCluster::shared()?;
        let client = cluster.client().await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let mut ns = Namespace::default();
        // Names must be DNS labels: keep the prefix short, let the server add
        // a random suffix so parallel tests never collide.
        let prefix: String =
            prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(40).collect();
        ns.meta_mut().generate_name = Some(format!("{}-", prefix.trim_matches('-')));
        let created = namespaces
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|source| Error::Kube { what: format!("create namespace {prefix}-*"), source })?;
        let name = created.metadata.name.unwrap_or_default();
        Ok(TestNamespace { name, client, cluster })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client for the cluster, made on this test's runtime.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The cluster this namespace lives in.
    pub fn cluster(&self) -> &'static DevCluster {
        self.cluster
    }

    /// An API handle for namespaced resources of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Creates AppProject `name` in this namespace (a test's control plane)
    /// allowing every repository and destination, with `sync_windows`.
    pub async fn create_project(&self, name: &str, sync_windows: serde_json::Value) -> Result<driftless_api::AppProject, Error> {
        let project: driftless_api::AppProject = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": { "name": name, "namespace": self.name },
            "spec": { "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }], "syncWindows": sync_windows }
        }))
        .expect("sync windows of AppProject's shape");
        self.api::<driftless_api::AppProject>()
            .create(&PostParams::default(), &project)
            .await
            .map_err(|source| Error::Kube { what: format!("create AppProject {name}"), source })
    }

    /// The admin password a driftless server writes into this namespace's
    /// `argocd-initial-admin-secret` on its first start, waited for.
    pub async fn initial_admin_password(&self, timeout: std::time::Duration) -> Result<String, Error> {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = self.api();
        crate::wait_for("the initial admin password", timeout, || async {
            let secret = secrets.get_opt("argocd-initial-admin-secret").await.map_err(|e| e.to_string())?.ok_or("not yet")?;
            let bytes = secret.data.and_then(|mut d| d.remove("password")).ok_or("no password key")?;
            String::from_utf8(bytes.0).map_err(|e| e.to_string())
        })
        .await
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be unwinding: delete
        // from a thread with a runtime of its own, and wait for the request.
        let name = std::mem::take(&mut self.name);
        let cluster = self.cluster;
        let deleted = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let client = cluster.client().await.ok()?;
                Api::<Namespace>::all(client).delete(&name, &DeleteParams::background()).await.ok()
            })
        });
        let _ = deleted.join();
    }
}
