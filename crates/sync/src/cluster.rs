//! Everything the sync stage asks of the API server: discovery, get, list,
//! server-side apply (and its dry run), replace and delete. Objects cross
//! this boundary as `serde_json::Value`.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{Api, DeleteParams, DynamicObject, GetParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

use crate::ResourceKey;

/// The field manager driftless applies as.
pub const FIELD_MANAGER: &str = "driftless";

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kind is not served by the API server (CRD missing?).
    #[error("the server does not serve {group_version} {kind}: is its CustomResourceDefinition installed?")]
    UnknownKind {
        /// `group/version`.
        group_version: String,
        /// Kind.
        kind: String,
    },
    /// The API server refused or failed.
    #[error("{}", api_message(.0))]
    Api(#[from] kube::Error),
    /// An object could not be (de)serialized.
    #[error("invalid object: {0}")]
    Json(#[from] serde_json::Error),
    /// An object the sync may re-create (Force, Replace) cannot change in
    /// place, and the API server refuses it as a new object too.
    #[error("{update}; re-created it would be refused too: {create}")]
    Recreate {
        /// Why it cannot change in place.
        update: String,
        /// Why it cannot be created anew.
        create: String,
    },
}

/// The server's own message for refusals (kube's Display repeats it with a
/// debug dump of the whole Status); other errors with their causes, since
/// kube's own words ("client error (Connect)") do not say what failed: a
/// refused connection, an untrusted certificate.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        other => {
            let mut text = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                let part = c.to_string();
                if !text.contains(&part) {
                    text.push_str(": ");
                    text.push_str(&part);
                }
                cause = c.source();
            }
            text
        }
    }
}

impl ClusterError {
    /// The HTTP status the API server answered, if it did.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClusterError::Api(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        }
    }

    /// True when the object (or its kind) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::UnknownKind { .. }) || self.status() == Some(404)
    }
}

/// `(group, version, kind)`.
type Gvk = (String, String, String);

/// A handle on one cluster with a discovery cache.
pub struct Cluster {
    client: kube::Client,
    kinds: Mutex<HashMap<Gvk, (ApiResource, ApiCapabilities)>>,
}

impl Cluster {
    /// Wraps a client.
    pub fn new(client: kube::Client) -> Cluster {
        Cluster { client, kinds: Mutex::default() }
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The API resource serving `apiVersion` + `kind`, looked up once.
    pub async fn resource(&self, api_version: &str, kind: &str) -> Result<(ApiResource, ApiCapabilities), ClusterError> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let k = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(found) = self.kinds.lock().unwrap_or_else(|p| p.into_inner()).get(&k) {
            return Ok(found.clone());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok(found) => {
                self.kinds.lock().unwrap_or_else(|p| p.into_inner()).insert(k, found.clone());
                Ok(found)
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                Err(ClusterError::UnknownKind { group_version: api_version.into(), kind: kind.into() })
            }
            Err(kube::Error::Discovery(_)) => Err(ClusterError::UnknownKind { group_version: api_version.into(), kind: kind.into() }),
            Err(e) => Err(e.into()),
        }
    }

    /// True when the kind is namespaced.
    pub async fn is_namespaced(&self, api_version: &str, kind: &str) -> Result<bool, ClusterError> {
        Ok(self.resource(api_version, kind).await?.1.scope == Scope::Namespaced)
    }

    async fn api(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Result<Api<DynamicObject>, ClusterError> {
        let (ar, caps) = self.resource(api_version, kind).await?;
        Ok(match (caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(self.client.clone(), &ar),
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// Sends a request built by `kube::core::Request` and reads the answer
    /// straight into a `Value`. Read as a `DynamicObject`, an object became
    /// typed metadata and was then written out again as a `Value`: two
    /// copies of every object a sync applies or fetches, and the CPU to
    /// make the second.
    async fn send(
        &self,
        req: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
        verb: &'static str,
    ) -> Result<Value, ClusterError> {
        let mut req = req.map_err(kube::Error::BuildRequest)?;
        // What kube's own methods tag their requests with.
        req.extensions_mut().insert(verb);
        Ok(self.client.request::<Value>(req).await?)
    }

    /// A request builder for the objects of `api`.
    fn requests(api: &Api<DynamicObject>) -> kube::core::Request {
        kube::core::Request::new(api.resource_url())
    }

    /// The live object, or None.
    pub async fn get(&self, api_version: &str, key: &ResourceKey) -> Result<Option<Value>, ClusterError> {
        let api = match self.api(api_version, &key.kind, key.namespace.as_deref()).await {
            Ok(api) => api,
            Err(ClusterError::UnknownKind { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.send(Self::requests(&api).get(&key.name, &GetParams::default()), "get").await {
            Ok(obj) => Ok(Some(obj)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Server-side applies `obj` as driftless, taking over conflicting
    /// fields (Git is the source of truth). `dry_run` asks the server what
    /// the object would become without changing it.
    pub async fn apply(&self, obj: &Value, dry_run: bool, validate: bool) -> Result<Value, ClusterError> {
        let key = ResourceKey::of(obj);
        let api = self.api(obj["apiVersion"].as_str().unwrap_or_default(), &key.kind, key.namespace.as_deref()).await?;
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        params.field_validation =
            Some(if validate { kube::api::ValidationDirective::Strict } else { kube::api::ValidationDirective::Ignore });
        self.send(Self::requests(&api).patch(&key.name, &params, &Patch::Apply(obj)), "patch").await
    }

    /// Replaces the object (PUT), creating it if missing.
    pub async fn replace(&self, obj: &Value) -> Result<Value, ClusterError> {
        let key = ResourceKey::of(obj);
        let api = self.api(obj["apiVersion"].as_str().unwrap_or_default(), &key.kind, key.namespace.as_deref()).await?;
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        match self.get(obj["apiVersion"].as_str().unwrap_or_default(), &key).await? {
            Some(live) => {
                let mut desired = obj.clone();
                desired["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
                self.send(Self::requests(&api).replace(&key.name, &pp, serde_json::to_vec(&desired)?), "replace").await
            }
            None => self.send(Self::requests(&api).create(&pp, serde_json::to_vec(obj)?), "create").await,
        }
    }

    /// Creates the object; fails if it exists.
    pub async fn create(&self, obj: &Value) -> Result<Value, ClusterError> {
        let key = ResourceKey::of(obj);
        let api = self.api(obj["apiVersion"].as_str().unwrap_or_default(), &key.kind, key.namespace.as_deref()).await?;
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        self.send(Self::requests(&api).create(&pp, serde_json::to_vec(obj)?), "create").await
    }

    /// Asks the server, in a dry run, whether `obj` would be accepted as a
    /// new object: what re-creating it needs when the live one cannot
    /// change. The copy is named by the server (`generateName`), so that the
    /// live object's existence does not matter.
    pub async fn dry_run_create_anew(&self, obj: &Value) -> Result<(), ClusterError> {
        let key = ResourceKey::of(obj);
        let api = self.api(obj["apiVersion"].as_str().unwrap_or_default(), &key.kind, key.namespace.as_deref()).await?;
        let mut desired = obj.clone();
        if let Some(meta) = desired["metadata"].as_object_mut() {
            meta.remove("name");
            meta.insert("generateName".into(), format!("{}-", key.name).into());
        }
        let pp = PostParams { dry_run: true, field_manager: Some(FIELD_MANAGER.into()) };
        self.send(Self::requests(&api).create(&pp, serde_json::to_vec(&desired)?), "create").await?;
        Ok(())
    }

    /// Deletes the object; a missing object is not an error.
    pub async fn delete(&self, api_version: &str, key: &ResourceKey, propagation: Option<&str>) -> Result<(), ClusterError> {
        let api = match self.api(api_version, &key.kind, key.namespace.as_deref()).await {
            Err(ClusterError::UnknownKind { .. }) => return Ok(()),
            other => other?,
        };
        let dp = DeleteParams {
            propagation_policy: Some(match propagation {
                Some("background") => PropagationPolicy::Background,
                Some("orphan") => PropagationPolicy::Orphan,
                _ => PropagationPolicy::Foreground,
            }),
            ..Default::default()
        };
        match api.delete(&key.name, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object of a kind, in one namespace or (None) everywhere. An
    /// unknown kind has no objects.
    pub async fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Result<Vec<Value>, ClusterError> {
        let (ar, caps) = match self.resource(api_version, kind).await {
            Err(ClusterError::UnknownKind { .. }) => return Ok(Vec::new()),
            other => other?,
        };
        let api: Api<DynamicObject> = match (caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        };
        let mut req = Self::requests(&api).list(&ListParams::default()).map_err(kube::Error::BuildRequest)?;
        req.extensions_mut().insert("list");
        let text = self.client.request_text(req).await?;
        // Each item on its own: serde_json skips a value of any depth, and
        // reads one as a tree to 128 levels. One object nested deeper (a
        // custom resource's free-form field) is skipped, not the kind's
        // whole listing, for every app of the namespace or cluster.
        #[derive(serde::Deserialize)]
        struct Items<'a> {
            #[serde(borrow)]
            items: Vec<&'a serde_json::value::RawValue>,
        }
        let listed: Items = serde_json::from_str(&text)?;
        let mut items = Vec::with_capacity(listed.items.len());
        for raw in listed.items {
            match serde_json::from_str::<Value>(raw.get()) {
                Ok(mut item) => {
                    if let Some(obj) = item.as_object_mut() {
                        // List items carry no type meta: restore it for callers.
                        obj.insert("apiVersion".into(), ar.api_version.clone().into());
                        obj.insert("kind".into(), ar.kind.clone().into());
                    }
                    items.push(item);
                }
                Err(e) => {
                    let meta = serde_json::from_str::<Unread>(raw.get()).map(|u| u.metadata).unwrap_or_default();
                    let (namespace, name) = (meta.namespace.unwrap_or_default(), meta.name.unwrap_or_default());
                    tracing::warn!(%api_version, %kind, %namespace, %name, "a live object driftless cannot read is left out of a listing: {e}");
                }
            }
        }
        Ok(items)
    }
}

/// Who a listed object that could not be read is.
#[derive(serde::Deserialize)]
struct Unread {
    #[serde(deserialize_with = "driftless_api::free::metadata")]
    metadata: kube::api::ObjectMeta,
}
