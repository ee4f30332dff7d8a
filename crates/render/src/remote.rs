//! Remote Kustomize bases fetched through driftless' source layer: the same
//! Git mirrors, shared fetches and per-commit checkouts as the apps' own
//! repositories, so a base used by a hundred apps is fetched once. Each base
//! is fetched with the credentials of its own URL, never the app's.

use std::sync::Arc;

use driftless_kustomize::{RemoteCheckout, Remotes};
use driftless_source::{GitCache, RepoSettings};

/// [`Remotes`] backed by a [`GitCache`]. Renders run on blocking threads;
/// the fetch runs on `runtime` meanwhile.
#[derive(Debug)]
pub struct GitRemotes {
    git: Arc<GitCache>,
    runtime: tokio::runtime::Handle,
    repos: Arc<RepoSettings>,
}

impl GitRemotes {
    /// Fetches through `git` on `runtime`, each repository with what
    /// `repos` says for its URL. Renders using it must not run on that
    /// runtime's worker threads (use `spawn_blocking`).
    pub fn new(git: Arc<GitCache>, runtime: tokio::runtime::Handle, repos: Arc<RepoSettings>) -> GitRemotes {
        GitRemotes { git, runtime, repos }
    }
}

impl Remotes for GitRemotes {
    fn checkout(&self, repo: &str, reference: &str) -> Result<RemoteCheckout, String> {
        let checkout = self.runtime.block_on(self.git.fetch(repo, reference, &self.repos.git_access(repo))).map_err(|e| e.to_string())?;
        Ok(RemoteCheckout { root: checkout.path, revision: checkout.revision })
    }
}
