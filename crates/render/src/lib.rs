//! Stage 2, **render**: turn a source checkout into the desired manifests.
//!
//! The tool is chosen as Argo CD chooses it: `source.kustomize` or a
//! kustomization file means Kustomize, a `Chart.yaml` means Helm, anything
//! else is a plain directory of YAML and JSON files. Rendering reads only
//! inside the checkout: absolute paths, `..` that escapes it and symlinks
//! that point out of it are refused.

mod cache;
mod directory;
mod error;
mod helm;
mod kustomize;
mod manifest;
mod path;
mod remote;
mod sops;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use driftless_api::ApplicationSource;
use driftless_kustomize::Remotes;

pub use cache::{RenderCache, Reuse};
pub use driftless_kustomize::Input;
pub use driftless_sops::AgeKeys;
pub use error::RenderError;
pub use manifest::{Manifest, parse_manifests};
pub use remote::GitRemotes;
pub use sops::{KeyOrigin, SOPS_AGE_SECRET, SopsKeys};

/// How a source was rendered, as `status.sourceType` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    /// Plain YAML/JSON files.
    Directory,
    /// A kustomization.
    Kustomize,
    /// A Helm chart.
    Helm,
}

impl SourceType {
    /// The name Argo CD uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Directory => "Directory",
            SourceType::Kustomize => "Kustomize",
            SourceType::Helm => "Helm",
        }
    }
}

/// The desired state of one source.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The tool used.
    pub source_type: SourceType,
    /// The manifests, in the order the tool produced them.
    pub manifests: Vec<Manifest>,
    /// What the render read, when the renderer can tell (plain directories
    /// and the native Kustomize engine): what a cached render depends on.
    pub inputs: Option<Inputs>,
}

/// What a render read from its checkout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Every file, with its digest.
    pub files: Vec<Input>,
    /// Directories whose entries the render listed, `/`-separated and
    /// relative to the root (`.` for the root), beyond those holding a
    /// file: a file added there changes the render.
    pub listed: Vec<String>,
}

/// What builds Kustomize overlays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KustomizeEngine {
    /// driftless' own engine (`driftless-kustomize`): no process per
    /// render, and renders reused while the files they read are unchanged.
    /// What it does not do goes to the binary.
    #[default]
    Native,
    /// The `kustomize` binary (else `kubectl kustomize`) for every overlay.
    Binary,
}

/// What a render needs to know beyond the source itself: the app, its
/// destination, and the other sources of a multi-source app.
#[derive(Clone, Debug, Default)]
pub struct RenderContext {
    /// The Application's name: Helm's default release name.
    pub app_name: String,
    /// The destination namespace: Helm's default release namespace.
    pub namespace: String,
    /// The destination's Kubernetes version (`.Capabilities.KubeVersion`).
    pub kube_version: Option<String>,
    /// The destination's API versions, `group/version` and
    /// `group/version/Kind` (`.Capabilities.APIVersions`).
    pub api_versions: Vec<String>,
    /// The roots of the sources with a `ref`, by ref name, for `$ref/...`
    /// values files.
    pub refs: BTreeMap<String, PathBuf>,
    /// Where renders are cached by their inputs. Set it only when every
    /// root is immutable (a commit's checkout, a chart of one digest): the
    /// key holds paths, not file contents.
    pub cache_dir: Option<PathBuf>,
    /// Chart directories added to a chart's `charts/` before it renders:
    /// the dependencies the source stage fetched for a chart kept in Git.
    pub dependencies: Vec<PathBuf>,
    /// Fetches Kustomize remote bases; without it they go to the
    /// `kustomize` binary.
    pub remotes: Option<Arc<dyn Remotes>>,
    /// What builds Kustomize overlays.
    pub kustomize: KustomizeEngine,
    /// The age keys SOPS-encrypted files are decrypted with (in memory);
    /// None: no key is configured, and an encrypted file is an error that
    /// says which Secret to create. Helm values are not decrypted.
    pub sops: Option<Arc<SopsKeys>>,
    /// Helm's `lookup` sees the destination cluster (the app opted in):
    /// `helm template --dry-run=server` with these credentials. Such a
    /// render depends on live state and may hold Secret data: it is never
    /// cached. None: `lookup` returns nothing, as `helm template` does.
    pub helm_lookup: Option<HelmLookup>,
}

/// How a chart's `lookup` reaches the destination cluster, read-only.
#[derive(Clone, Default)]
pub struct HelmLookup {
    /// A kubeconfig with the destination's credentials, written to a
    /// private temporary file for the one render; None: helm's own
    /// environment (the controller's cluster: its kubeconfig, or its
    /// in-cluster ServiceAccount).
    pub kubeconfig: Option<String>,
    /// Whom helm acts as (`--kube-as-user`): the project's
    /// `destinationServiceAccounts` account when impersonation is on.
    pub as_user: Option<String>,
}

/// Never the credentials.
impl std::fmt::Debug for HelmLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelmLookup")
            .field("kubeconfig", &self.kubeconfig.as_ref().map(|_| "<redacted>"))
            .field("as_user", &self.as_user)
            .finish()
    }
}

/// Renders `source` from the checkout at `root`.
pub fn render(root: &Path, source: &ApplicationSource, ctx: &RenderContext) -> Result<Rendered, RenderError> {
    if source.plugin.is_some() {
        return Err(RenderError::Unsupported { field: "source.plugin", what: "config management plugins".into() });
    }
    let app_dir = path::resolve_app_dir(root, source.path.as_deref().unwrap_or("."))?;
    let source_type = detect(&app_dir, source);
    let (manifests, inputs) = match source_type {
        SourceType::Directory => {
            let (manifests, inputs) = directory::render(root, &app_dir, source.directory.as_deref(), ctx.sops.as_deref())?;
            (manifests, Some(inputs))
        }
        SourceType::Kustomize => kustomize::render(root, &app_dir, source.kustomize.as_deref(), ctx)?,
        SourceType::Helm => (helm::render(root, &app_dir, source, ctx)?, None),
    };
    Ok(Rendered { source_type, manifests, inputs })
}

fn detect(app_dir: &Path, source: &ApplicationSource) -> SourceType {
    if source.helm.is_some() || source.chart.is_some() || app_dir.join("Chart.yaml").is_file() {
        SourceType::Helm
    } else if source.kustomize.is_some() || kustomize::kustomization_file(app_dir).is_some() {
        SourceType::Kustomize
    } else {
        SourceType::Directory
    }
}

/// `path` relative to the checkout root, for messages.
/// The hex sha256 of `data`: how inputs are compared.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn rel(root: &Path, path: &Path) -> String {
    let r = path.strip_prefix(root).unwrap_or(path).display().to_string();
    if r.is_empty() { ".".into() } else { r }
}
