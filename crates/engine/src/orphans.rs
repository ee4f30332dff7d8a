//! Orphaned resources (AppProject `orphanedResources`): top-level objects
//! in an app's destination namespace that no app tracks, as Argo CD
//! reports them. Shown, warned about, never deleted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::{OrphanedResources, glob_match};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, ListParams};
use kube::core::DynamicObject;
use serde::Serialize;

use crate::settings::AppSettings;

/// An object no app tracks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// API group; empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

/// Whether an object of `group`/`kind` with `meta` on the cluster at
/// `server` is an orphan: no owner, claimed by no app (as argocd-cm's
/// tracking says), not one of what every namespace has (its `default`
/// ServiceAccount, `kube-root-ca.crt`), not of a kind argocd-cm excludes
/// (events, endpoints, leases by default), not ignored by the project.
pub fn is_orphan(group: &str, kind: &str, meta: &ObjectMeta, server: &str, app: &AppSettings, settings: &OrphanedResources) -> bool {
    let name = meta.name.as_deref().unwrap_or_default();
    let owned = meta.owner_references.as_ref().is_some_and(|o| !o.is_empty());
    let tracked = app.tracking.claimed(meta.labels.as_ref(), meta.annotations.as_ref()).is_some();
    let built_in = group.is_empty()
        && ((kind == "ServiceAccount" && name == "default")
            || (kind == "ConfigMap" && name == "kube-root-ca.crt")
            || (kind == "Service" && name == "kubernetes" && meta.namespace.as_deref() == Some("default")));
    let excluded = app.filter.is_excluded(group, kind, server);
    let ignored = settings.ignore.iter().any(|i| {
        let any = |p: &str, s: &str| p.is_empty() || glob_match(p, s);
        // The group is matched as given: empty is the core group.
        glob_match(&i.group, group) && any(&i.kind, kind) && any(&i.name, name)
    });
    !(owned || tracked || built_in || excluded || ignored)
}

/// The message of the OrphanedResourceWarning condition, as Argo CD writes it.
pub fn warning(count: usize) -> String {
    format!("Application has {count} orphaned resources")
}

/// How long a namespace's scan is reused: every reconcile of every app in
/// it would otherwise list every kind.
const SCAN_MAX_AGE: Duration = Duration::from_secs(10);
/// How long the list of namespaced kinds is reused.
const KINDS_MAX_AGE: Duration = Duration::from_secs(300);

/// Every object of a namespace, as `(apiVersion, kind, metadata)`.
type Objects = Arc<Vec<(String, String, ObjectMeta)>>;
/// The namespaced, listable kinds of a cluster.
type Kinds = Arc<Vec<ApiResource>>;

/// Scans of namespaces, kept briefly.
#[derive(Default)]
pub struct Scans {
    kinds: Mutex<HashMap<String, (Instant, Kinds)>>,
    namespaces: Mutex<HashMap<(String, String), (Instant, Objects)>>,
}

impl Scans {
    /// The orphans in `namespace` of the cluster at `server`, by the
    /// project's `settings`.
    pub async fn orphans(
        &self,
        client: &kube::Client,
        server: &str,
        namespace: &str,
        app: &AppSettings,
        settings: &OrphanedResources,
    ) -> Result<Vec<Orphan>, String> {
        let objects = self.objects(client, server, namespace).await?;
        let mut found: Vec<Orphan> = objects
            .iter()
            .filter(|(api_version, kind, meta)| is_orphan(group_of(api_version), kind, meta, server, app, settings))
            .map(|(api_version, kind, meta)| {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                Orphan {
                    group: group.into(),
                    version: version.into(),
                    kind: kind.clone(),
                    namespace: namespace.into(),
                    name: meta.name.clone().unwrap_or_default(),
                    uid: meta.uid.clone().unwrap_or_default(),
                }
            })
            .collect();
        found.sort_by(|a, b| (&a.group, &a.kind, &a.name).cmp(&(&b.group, &b.kind, &b.name)));
        Ok(found)
    }

    /// Every object of a namespaced, listable kind in `namespace`, as
    /// `(apiVersion, kind, metadata)`.
    async fn objects(&self, client: &kube::Client, server: &str, namespace: &str) -> Result<Objects, String> {
        let key = (server.to_string(), namespace.to_string());
        if let Some((at, scan)) = self.namespaces.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && at.elapsed() < SCAN_MAX_AGE
        {
            return Ok(scan.clone());
        }
        let kinds = self.kinds(client, server).await?;
        let mut objects = Vec::new();
        for ar in kinds.iter() {
            let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(client.clone(), namespace, ar);
            match api.list_metadata(&ListParams::default()).await {
                Ok(list) => objects.extend(list.items.into_iter().map(|o| (ar.api_version.clone(), ar.kind.clone(), o.metadata))),
                // A kind gone since discovery, or one the controller may
                // not list: nothing to report there.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 403 || s.code == 405 => {}
                Err(e) => return Err(format!("listing {} in namespace {namespace} for orphaned resources: {e}", ar.kind)),
            }
        }
        let scan = Arc::new(objects);
        self.namespaces.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (Instant::now(), scan.clone()));
        Ok(scan)
    }

    /// The namespaced kinds that can be listed, in their preferred version.
    async fn kinds(&self, client: &kube::Client, server: &str) -> Result<Kinds, String> {
        if let Some((at, kinds)) = self.kinds.lock().unwrap_or_else(|p| p.into_inner()).get(server)
            && at.elapsed() < KINDS_MAX_AGE
        {
            return Ok(kinds.clone());
        }
        let err = |e: kube::Error| format!("discovery for orphaned resources: {e}");
        let mut groups = client.list_core_api_versions_aggregated().await.map_err(err)?.items;
        groups.extend(client.list_api_groups_aggregated().await.map_err(err)?.items);
        let mut kinds = Vec::new();
        for g in groups {
            let group = g.metadata.and_then(|m| m.name).unwrap_or_default();
            // Versions come in the server's order of preference.
            let Some(v) = g.versions.into_iter().next() else { continue };
            let Some(version) = v.version else { continue };
            for r in v.resources {
                let listable = r.verbs.iter().any(|v| v == "list");
                let namespaced = r.scope.as_deref() == Some("Namespaced");
                let (Some(plural), Some(kind)) = (r.resource, r.response_kind.and_then(|k| k.kind)) else { continue };
                if listable && namespaced && !plural.contains('/') {
                    let api_version = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
                    kinds.push(ApiResource { group: group.clone(), version: version.clone(), api_version, kind, plural });
                }
            }
        }
        let kinds = Arc::new(kinds);
        self.kinds.lock().unwrap_or_else(|p| p.into_inner()).insert(server.to_string(), (Instant::now(), kinds.clone()));
        Ok(kinds)
    }
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::ANNOTATION_TRACKING_ID;
    use driftless_api::OrphanedResourceKey;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use std::collections::BTreeMap;

    const SERVER: &str = "https://kubernetes.default.svc";

    fn is_orphan(group: &str, kind: &str, meta: &ObjectMeta, settings: &OrphanedResources) -> bool {
        super::is_orphan(group, kind, meta, SERVER, &AppSettings::defaults("argocd"), settings)
    }

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta { name: Some(name.into()), namespace: Some("team-a".into()), ..Default::default() }
    }

    #[test]
    fn only_untracked_unowned_top_level_objects_are_orphans() {
        let none = OrphanedResources::default();
        assert!(is_orphan("", "ConfigMap", &meta("stray"), &none));
        let mut tracked = meta("mine");
        tracked.annotations = Some(BTreeMap::from([(ANNOTATION_TRACKING_ID.to_string(), "app:/ConfigMap:team-a/mine".to_string())]));
        assert!(!is_orphan("", "ConfigMap", &tracked, &none));
        let mut owned = meta("web-abc");
        owned.owner_references = Some(vec![OwnerReference { name: "web".into(), ..Default::default() }]);
        assert!(!is_orphan("apps", "ReplicaSet", &owned, &none));
        assert!(!is_orphan("", "ServiceAccount", &meta("default"), &none));
        assert!(!is_orphan("", "ConfigMap", &meta("kube-root-ca.crt"), &none));
        assert!(!is_orphan("", "Event", &meta("x.123"), &none));
        assert!(!is_orphan("coordination.k8s.io", "Lease", &meta("x"), &none));
        assert!(is_orphan("", "ServiceAccount", &meta("builder"), &none));
        // With label tracking, the label claims the object, and the annotation does not.
        let label = AppSettings::parse("argocd", &BTreeMap::from([(crate::settings::TRACKING_METHOD_KEY.into(), "label".into())])).unwrap();
        let mut labelled = meta("deployed-by-argo-cd-2");
        labelled.labels = Some(BTreeMap::from([("app.kubernetes.io/instance".to_string(), "guestbook".to_string())]));
        assert!(!super::is_orphan("", "ConfigMap", &labelled, SERVER, &label, &none));
        assert!(super::is_orphan("", "ConfigMap", &tracked, SERVER, &label, &none));
        assert!(is_orphan("", "ConfigMap", &labelled, &none), "the label means nothing to annotation tracking");
    }

    #[test]
    fn the_project_ignores_what_it_lists() {
        let settings = OrphanedResources {
            warn: Some(true),
            ignore: vec![
                OrphanedResourceKey { group: "".into(), kind: "ConfigMap".into(), name: "ignored-*".into() },
                OrphanedResourceKey { group: "apps".into(), kind: "".into(), name: "".into() },
            ],
        };
        assert!(!is_orphan("", "ConfigMap", &meta("ignored-1"), &settings));
        assert!(is_orphan("", "ConfigMap", &meta("stray"), &settings));
        assert!(!is_orphan("apps", "Deployment", &meta("any"), &settings), "an empty kind and name match every object of the group");
        assert!(is_orphan("", "Secret", &meta("ignored-1"), &settings), "the kind must match");
        assert_eq!(warning(2), "Application has 2 orphaned resources");
    }
}
