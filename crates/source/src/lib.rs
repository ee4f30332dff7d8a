//! Stage 1 of the pipeline, **source**: resolve an Application's
//! `repoURL` + `targetRevision` and give the render stage the files on disk.
//!
//! - Git is driven through the `git` binary, the tool of the field: one bare
//!   mirror per repository URL, fetched on every resolve, and one read-only
//!   checkout per commit, shared by every app that renders it.
//! - Helm charts come from Helm HTTP repositories (`index.yaml`, a version
//!   or semver range, digest-checked archives) or OCI registries, unpacked
//!   once per chart, version and digest.
//! - OCI artifacts of plain manifests are unpacked once per digest.
//! - Credentials come from repository Secrets in Argo CD's format.

mod git;
mod helm;
pub mod helm_deps;
mod helm_index;
mod oci;
pub mod repo_creds;

pub use git::{Checkout, GitCache, SourceError};
pub use helm::{Chart, ChartCache, ChartRequest, PullError};
pub use helm_index::version_matches;
pub use oci::Artifact;
pub use repo_creds::RepoCreds;

/// reqwest is built without a TLS crypto provider of its own: use ring, as
/// the Kubernetes client does. Installing twice is harmless; callers that
/// build their own oci-client or reqwest clients call it first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
