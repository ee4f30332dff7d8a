//! Policies as the engine applies them: the ConfigMaps of the control plane
//! labelled `driftless.dev/policy: "true"` (watched by the controller, read
//! afresh by a one-off engine), compiled again only when they change; an
//! app's rendered objects, hooks included, judged by the modules that apply
//! to its project, each object's verdict kept by content.

use std::sync::{Arc, Mutex};

use driftless_api::{AppProject, Application};
use driftless_policy::{Context, PolicySet, Verdict, VerdictCache};
use futures::FutureExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ListParams;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

use crate::desired::Desired;
use crate::watch::{Seen, keep_watching_with};

/// The label selector of policy ConfigMaps.
pub fn selector() -> String {
    format!("{}=true", driftless_policy::POLICY_LABEL)
}

/// How many violations a condition or a refused sync lists before "and N more".
pub const SHOWN: usize = 10;

/// Keeps the policy ConfigMaps of `namespace` until `shutdown`, calling
/// `changed` when what one of them holds (its modules, its projects)
/// changes, is added, or goes.
pub fn watching(
    client: &kube::Client,
    namespace: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    changed: impl Fn() + Send + 'static,
) -> Store<ConfigMap> {
    let seen = Mutex::new(std::collections::HashMap::<String, String>::new());
    keep_watching_with(
        kube::Api::<ConfigMap>::namespaced(client.clone(), namespace),
        watcher::Config::default().labels(&selector()),
        shutdown,
        move |event| {
            let name = event.object().metadata.name.clone().unwrap_or_default();
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            let (before, now) = match event {
                Seen::Changed(cm) => {
                    let now = content(cm);
                    (seen.insert(name, now.clone()), Some(now))
                }
                Seen::Deleted(_) => (seen.remove(&name), None),
            };
            if before != now {
                changed();
            }
        },
    )
}

/// What of a policy ConfigMap makes its modules (a relist or an edit of
/// another field is no change).
fn content(cm: &ConfigMap) -> String {
    let projects = cm.metadata.annotations.as_ref().and_then(|a| a.get(driftless_policy::PROJECTS_ANNOTATION));
    serde_json::to_string(&(&cm.metadata.name, projects, &cm.metadata.labels, &cm.data)).unwrap_or_default()
}

/// The control plane's policies, compiled once per change, and the
/// verdicts kept by content.
#[derive(Default)]
pub struct Policies {
    store: Option<Store<ConfigMap>>,
    /// The ConfigMaps' content and the set they compiled to.
    compiled: Mutex<Option<(Vec<String>, Arc<PolicySet>)>>,
    verdicts: Arc<VerdictCache>,
}

impl Policies {
    /// Policies read from `store` (None: listed at each use).
    pub fn new(store: Option<Store<ConfigMap>>) -> Policies {
        Policies { store, ..Policies::default() }
    }

    /// The compiled set: from the watch once it has listed, else listed
    /// now. The error (the ConfigMaps cannot be listed) blocks every sync:
    /// policies that cannot be read cannot pass anything.
    pub async fn set(&self, client: &kube::Client, namespace: &str) -> Result<Arc<PolicySet>, String> {
        let watched = self.store.as_ref().filter(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()));
        let mut cms: Vec<ConfigMap> = match watched {
            Some(store) => store.state().iter().map(|cm| (**cm).clone()).collect(),
            None => {
                kube::Api::<ConfigMap>::namespaced(client.clone(), namespace)
                    .list(&ListParams::default().labels(&selector()))
                    .await
                    .map_err(|e| format!("reading the policy ConfigMaps of {namespace}: {e}"))?
                    .items
            }
        };
        cms.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let key: Vec<String> = cms.iter().map(content).collect();
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, set)) = compiled.as_ref()
            && *seen == key
        {
            return Ok(set.clone());
        }
        let set = Arc::new(PolicySet::from_configmaps(&cms));
        *compiled = Some((key, set.clone()));
        Ok(set)
    }

    /// The verdict of the policies that apply to `project` on every object
    /// of `desired` that a sync may apply (hooks included; `hook: Skip`
    /// objects are never applied). Evaluated off the async threads: Rego
    /// is CPU work.
    pub async fn judge(&self, set: Arc<PolicySet>, app: &Application, project: &AppProject, desired: Arc<Desired>) -> Verdict {
        if set.is_empty() {
            return Verdict::default();
        }
        let context = Context::new(app, project);
        let cache = self.verdicts.clone();
        let judged = tokio::task::spawn_blocking(move || {
            let objects = desired.targets.iter().filter(|t| t.role != driftless_sync::plan::Role::Skip).map(|t| t.manifest.value());
            set.evaluate(&context, objects, &cache)
        })
        .await;
        judged.unwrap_or_else(|e| Verdict::failure(format!("policy evaluation failed: {e}")))
    }
}
