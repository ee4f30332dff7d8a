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
//! - Credentials come from repository Secrets in Argo CD's format, CAs
//!   from `argocd-tls-certs-cm`, SSH host keys from `argocd-ssh-known-hosts-cm`;
//!   git gets them without any showing in its arguments, files or messages.

mod git;
mod git_access;
pub mod git_helper;
mod github_app;
mod helm;
pub mod helm_deps;
mod helm_index;
mod oci;
pub mod repo_creds;
mod repo_url;

pub use git::{Checkout, GitCache, SourceError};
pub use git_access::GitAccess;
pub use github_app::AppTokens;
pub use helm::chain as error_chain;
pub use helm::{Chart, ChartCache, ChartRequest, PullError, test_helm_repository};
pub use helm_index::version_matches;
pub use oci::{Artifact, test_oci_registry};
pub use repo_creds::{RepoCreds, RepoSettings};
pub use repo_url::normalise_url;

/// reqwest is built without a TLS crypto provider of its own: use ring, as
/// the Kubernetes client does. Installing twice is harmless; callers that
/// build their own oci-client or reqwest clients call it first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
