//! The age keys SOPS-encrypted files are decrypted with: the `.agekey`
//! entries of the Secret `sops-age` in the control-plane namespace (Flux's
//! convention), kept by a watch in the controller (an edit applies at the
//! next render: the controller wakes every app) and read afresh by a
//! one-off engine.

use std::sync::{Arc, Mutex};

use driftless_render::{AgeKeys, KeyOrigin, SOPS_AGE_SECRET, SopsKeys};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::runtime::reflector::{ObjectRef, Store};

/// The keys of `secret` (None: it does not exist). A bad entry is kept as
/// the error the renders that need a key report.
pub fn keys_of(namespace: &str, secret: Option<&Secret>) -> SopsKeys {
    let name = format!("{namespace}/{SOPS_AGE_SECRET}");
    let data = secret.and_then(|s| s.data.as_ref());
    let entries = data.into_iter().flatten().map(|(k, v)| (k.as_str(), v.0.as_slice()));
    SopsKeys { keys: AgeKeys::from_secret_data(entries), origin: KeyOrigin::Secret(name) }
}

/// The keys parsed last, by the Secret's resourceVersion, so that a
/// reconcile does not parse them again.
#[derive(Default)]
pub(crate) struct Parsed(Mutex<Option<(Option<String>, Arc<SopsKeys>)>>);

impl Parsed {
    /// The keys of the control plane's `sops-age`: from `store` once it
    /// has listed, else read now. A Secret that cannot be read counts as
    /// absent (logged): renders that need a key say which Secret to fix.
    pub async fn get(&self, client: &kube::Client, namespace: &str, store: Option<&Store<Secret>>) -> Arc<SopsKeys> {
        let watched = store.filter(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()));
        let secret = match watched {
            Some(s) => s.get(&ObjectRef::new(SOPS_AGE_SECRET).within(namespace)).map(|s| (*s).clone()),
            None => match Api::<Secret>::namespaced(client.clone(), namespace).get_opt(SOPS_AGE_SECRET).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("reading the Secret {namespace}/{SOPS_AGE_SECRET}: {e}");
                    None
                }
            },
        };
        let version = secret.as_ref().and_then(|s| s.metadata.resource_version.clone());
        let mut parsed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, keys)) = parsed.as_ref()
            && *seen == version
            && version.is_some()
        {
            return keys.clone();
        }
        let keys = Arc::new(keys_of(namespace, secret.as_ref()));
        *parsed = Some((version, keys.clone()));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn only_agekey_entries_and_bad_ones_are_named() {
        let data = [("README".to_string(), ByteString(b"x".to_vec())), ("team.agekey".to_string(), ByteString(b"nope".to_vec()))];
        let s = Secret { data: Some(data.into()), ..Default::default() };
        let keys = keys_of("argocd", Some(&s));
        assert_eq!(keys.origin, KeyOrigin::Secret("argocd/sops-age".into()));
        let err = keys.keys.unwrap_err().to_string();
        assert!(err.contains("team.agekey") && !err.contains("nope"), "{err}");
        assert!(keys_of("argocd", None).keys.unwrap().is_empty());
    }
}
