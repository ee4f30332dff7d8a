//! OCI registries, through the oci-client crate: Helm charts stored as OCI
//! artifacts, and artifacts of plain manifests (`repoURL: oci://host/repo`
//! with a tag or digest as targetRevision), unpacked once per digest.

use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};

use crate::helm::{ChartCache, PullError, chain, unpack_tgz_into};
use crate::repo_creds::RepoCreds;

/// The layer of a Helm chart pushed by `helm push`.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Layers of a manifests artifact: gzipped tarballs of files.
const TAR_GZIP_LAYERS: [&str; 3] =
    ["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip", HELM_CHART_LAYER];

/// An artifact's files on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The manifest digest.
    pub digest: String,
    /// The root of its files.
    pub path: PathBuf,
}

/// One registry, with the credentials of the repository asked for.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    /// Where errors say the request went.
    url: String,
}

impl Registry {
    /// A client for the registry of `creds` (plain HTTP when they say
    /// `insecureOCIForceHttp`).
    pub fn new(creds: Option<&RepoCreds>, ca_pem: Option<&str>, what: &str) -> Result<Registry, PullError> {
        if creds.is_some_and(|c| c.tls_client_cert_data.is_some()) {
            return Err(PullError::Invalid {
                what: what.into(),
                reason: "TLS client certificates are not supported for OCI registries; use a username and password or token".into(),
            });
        }
        crate::install_crypto_provider();
        let config = ClientConfig {
            protocol: if creds.is_some_and(|c| c.insecure_oci_force_http) { ClientProtocol::Http } else { ClientProtocol::Https },
            accept_invalid_certificates: creds.is_some_and(|c| c.insecure),
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            extra_root_certificates: ca_pem
                .map(|pem| vec![Certificate { encoding: CertificateEncoding::Pem, data: pem.as_bytes().to_vec() }])
                .unwrap_or_default(),
            ..Default::default()
        };
        let auth = match creds.and_then(|c| Some((c.username.clone()?, c.password.clone().unwrap_or_default()))) {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        };
        Ok(Registry { client: Client::new(config), auth, url: creds.map(|c| c.url.clone()).unwrap_or_default() })
    }

    /// The tag `wanted` names: itself when it is a version or a plain tag,
    /// else the highest tag matching the semver constraint.
    pub async fn resolve_tag(&self, repo: &str, wanted: &str, what: &str) -> Result<String, PullError> {
        let wanted = wanted.trim();
        let is_constraint = wanted.is_empty() || wanted.contains(['^', '~', '*', '>', '<', '=', ' ', '|']) || wanted.ends_with(".x");
        if !is_constraint {
            return Ok(wanted.to_string());
        }
        let reference = self.reference(repo, what)?;
        let tags = self.client.list_tags(&reference, &self.auth, None, None).await.map_err(|e| self.error(e, repo, what))?;
        let index = crate::helm_index::Index {
            entries: [(
                String::new(),
                tags.tags.iter().map(|t| crate::helm_index::ChartVersion { version: t.replace('_', "+"), ..Default::default() }).collect(),
            )]
            .into(),
        };
        crate::helm_index::resolve(&index, "", wanted).map(|v| v.version.clone()).map_err(|e| PullError::NotFound {
            what: what.into(),
            reason: format!("{e} in oci://{repo}").replace("chart \"\"", "the chart"),
        })
    }

    /// The manifest digest `reference` points at.
    pub async fn digest(&self, reference: &str, what: &str) -> Result<String, PullError> {
        let r = self.reference(reference, what)?;
        self.client.fetch_manifest_digest(&r, &self.auth).await.map_err(|e| self.error(e, reference, what))
    }

    /// The layers of `reference`, which must all be of `media_types`; the
    /// client checks every blob against its digest.
    pub async fn pull(&self, reference: &str, media_types: &[&str], what: &str) -> Result<Vec<Vec<u8>>, PullError> {
        let r = self.reference(reference, what)?;
        let image = self.client.pull(&r, &self.auth, media_types.to_vec()).await.map_err(|e| self.error(e, reference, what))?;
        Ok(image.layers.into_iter().map(|l| l.data.to_vec()).collect())
    }

    fn reference(&self, reference: &str, what: &str) -> Result<Reference, PullError> {
        reference
            .parse()
            .map_err(|e| PullError::Invalid { what: what.into(), reason: format!("{reference:?} is not an OCI reference: {e}") })
    }

    fn error(&self, e: OciDistributionError, reference: &str, what: &str) -> PullError {
        let url = if self.url.is_empty() { reference.split('/').next().unwrap_or(reference).to_string() } else { self.url.clone() };
        let not_found = |reason: String| PullError::NotFound { what: what.into(), reason };
        match e {
            OciDistributionError::ImageManifestNotFoundError(_) => not_found(format!("oci://{reference} does not exist")),
            OciDistributionError::ServerError { code: 404, .. } => not_found(format!("oci://{reference} does not exist")),
            OciDistributionError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|x| format!("{:?}", x.code).contains("Unknown")) =>
            {
                not_found(format!("oci://{reference} does not exist"))
            }
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => PullError::Unreachable {
                what: what.into(),
                url,
                reason: "the registry refused the credentials (check the repository Secret's username and password)".into(),
            },
            OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => {
                PullError::Unreachable { what: what.into(), url, reason: chain(&e) }
            }
            other => PullError::Invalid { what: what.into(), reason: chain(&other) },
        }
    }
}

/// Lists the tags of the OCI repository `url` (`oci://host/path`, or
/// `host/path`) with `creds`: a connection test.
pub async fn test_oci_registry(url: &str, creds: Option<&RepoCreds>, ca_pem: Option<&str>) -> Result<(), PullError> {
    let repo = url.trim_start_matches("oci://").trim_end_matches('/');
    let what = format!("OCI repository oci://{repo}");
    let registry = Registry::new(creds, ca_pem, &what)?;
    let reference = registry.reference(repo, &what)?;
    registry.client.list_tags(&reference, &registry.auth, Some(1), None).await.map(drop).map_err(|e| registry.error(e, repo, &what))
}

impl ChartCache {
    /// Pulls the artifact `url` (`oci://host/repo`) at `revision` (a tag,
    /// `sha256:…` digest, or empty for `latest`) and unpacks its layers.
    pub async fn pull_artifact(
        &self,
        url: &str,
        revision: &str,
        creds: Option<&RepoCreds>,
        ca_pem: Option<&str>,
    ) -> Result<Artifact, PullError> {
        let repo = url.trim_start_matches("oci://").trim_end_matches('/');
        let revision = revision.trim();
        let reference = match revision {
            "" => format!("{repo}:latest"),
            r if r.starts_with("sha256:") => format!("{repo}@{r}"),
            r => format!("{repo}:{r}"),
        };
        let what = format!("OCI artifact oci://{reference}");
        let registry = Registry::new(creds, ca_pem, &what)?;
        let digest = registry.digest(&reference, &what).await?;
        let repo_key: String = Sha256::digest(repo.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        let dir = self.root().join("artifacts").join(repo_key).join(digest.replace(':', "-"));
        if dir.is_dir() {
            return Ok(Artifact { digest, path: dir });
        }
        let layers = registry.pull(&format!("{repo}@{digest}"), &TAR_GZIP_LAYERS, &what).await?;
        let (dir2, what2) = (dir.clone(), what.clone());
        tokio::task::spawn_blocking(move || {
            // Every layer unpacks over the one before, as image layers stack.
            let parent = dir2.parent().unwrap_or(&dir2);
            std::fs::create_dir_all(parent).map_err(|source| PullError::Io { path: parent.into(), source })?;
            let staging = tempfile::Builder::new()
                .prefix(".layers-")
                .tempdir_in(parent)
                .map_err(|source| PullError::Io { path: parent.into(), source })?;
            for (i, layer) in layers.iter().enumerate() {
                unpack_tgz_into(layer, &staging.path().join(i.to_string()), &what2)?;
            }
            merge_layers(staging.path(), layers.len(), &dir2)
        })
        .await
        .map_err(|e| PullError::Io { path: dir.clone(), source: std::io::Error::other(e) })??;
        Ok(Artifact { digest, path: dir })
    }
}

/// Moves the unpacked layers `staging/0..n` into one tree at `dest`, later
/// layers winning. The caller removes `staging`.
fn merge_layers(staging: &std::path::Path, n: usize, dest: &std::path::Path) -> Result<(), PullError> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| PullError::Io { path, source }
    };
    let merged = staging.join("merged");
    std::fs::create_dir_all(&merged).map_err(io(&merged))?;
    for i in 0..n {
        copy_tree(&staging.join(i.to_string()), &merged).map_err(io(&merged))?;
    }
    // Another pull of the same digest may have finished first: theirs is identical.
    match std::fs::rename(&merged, dest) {
        Err(_) if dest.is_dir() => Ok(()),
        other => other.map_err(io(dest)),
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}
