//! The API driftless speaks: Argo CD's `argoproj.io/v1alpha1` kinds
//! `Application`, `AppProject` and `ApplicationSet`, with the same field names and status
//! layout, so that existing manifests apply unchanged.
//!
//! Pure data: no I/O, no async. Every other stage depends on these types.

/// `kube::Resource` for a namespaced kind of [`GROUP`]/[`VERSION`].
macro_rules! argo_resource {
    ($type:ty, $kind:literal, $plural:literal) => {
        impl kube::Resource for $type {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                crate::GROUP.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                crate::VERSION.into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use argo_resource;

mod annotations;
mod application;
mod applicationset;
pub mod crd;
pub mod free;
mod glob;
mod manifest;
mod names;
mod operation;
mod project;
mod status;
mod unsupported;

pub use annotations::{
    ANNOTATION_APPSET_REFRESH, ANNOTATION_COMPARE_OPTIONS, ANNOTATION_DELETION_APPROVED, ANNOTATION_HELM_HOOKS, ANNOTATION_HOOK,
    ANNOTATION_HOOK_DELETE_POLICY, ANNOTATION_REFRESH, ANNOTATION_REFRESH_SINCE, ANNOTATION_SYNC_OPTIONS, ANNOTATION_SYNC_WAVE,
    ANNOTATION_TRACKING_ID, HELM_HOOK, HELM_HOOK_DELETE_POLICY, HELM_HOOK_WEIGHT, HookDeletePolicy, HookType, ResourceSyncOptions,
    SyncOptions,
};
// Automatic rollback's annotations (issue #20).
pub use annotations::{ANNOTATION_HEALTHY_HISTORY, ANNOTATION_ROLLBACK_AFTER, ANNOTATION_ROLLED_BACK_FROM};
pub use application::*;
pub use applicationset::*;
pub use free::{FreeJson, TooDeep};
pub use glob::glob_match;
pub use manifest::Manifest;
pub use names::{is_dns_label, is_dns_subdomain};
pub use operation::*;
pub use project::*;
pub use status::*;
pub use unsupported::{unsupported_fields, unsupported_message};

/// The API group of every kind here.
pub const GROUP: &str = "argoproj.io";
/// The only version served, as in Argo CD.
pub const VERSION: &str = "v1alpha1";
/// `destination.server` for the cluster the controller runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// `destination.name` for the cluster the controller runs in.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// Argo CD's finalizer: deleting the Application deletes its resources.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
