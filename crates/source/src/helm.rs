//! Helm charts from Helm HTTP repositories and OCI registries, downloaded
//! once per chart, version and digest and unpacked under the cache.
//!
//! An HTTP repository's `index.yaml` is read on every pull (as a Git fetch
//! is), so that a constraint such as `^1.2` sees new versions; the archive
//! is only downloaded when that version and digest are not cached yet, and
//! its sha256 must match the index's digest when the index has one.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::repo_creds::RepoCreds;
use crate::{helm_index, oci};

/// Why a chart or artifact could not be pulled. Every message names it.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The repository or registry did not answer, or refused.
    #[error("{what}: repository {url} is unreachable: {reason}")]
    Unreachable {
        /// The chart or artifact.
        what: String,
        /// The repository.
        url: String,
        /// Why.
        reason: String,
    },
    /// No such chart, version or tag.
    #[error("{what}: {reason}")]
    NotFound {
        /// The chart or artifact.
        what: String,
        /// What is missing, with what exists.
        reason: String,
    },
    /// The repository's answer is unusable: bad index, bad archive, wrong digest.
    #[error("{what}: {reason}")]
    Invalid {
        /// The chart or artifact.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Local I/O failed.
    #[error("chart cache {}: {source}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A chart on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chart {
    /// The version pulled.
    pub version: String,
    /// sha256 of the archive (HTTP) or the manifest digest (OCI).
    pub digest: String,
    /// The chart's directory (holding Chart.yaml).
    pub path: PathBuf,
}

/// What to pull.
#[derive(Clone, Debug)]
pub struct ChartRequest<'a> {
    /// `https://…` Helm repository, or an OCI registry path (`oci://host/path`,
    /// or `host/path` with `enableOCI` credentials).
    pub repo_url: &'a str,
    /// The chart's name.
    pub chart: &'a str,
    /// A version or semver constraint.
    pub version: &'a str,
    /// Credentials for the repository, if any.
    pub creds: Option<&'a RepoCreds>,
    /// Send credentials to chart URLs on other hosts too.
    pub pass_credentials: bool,
    /// The CA bundle of the repository's host (argocd-tls-certs-cm).
    pub ca_pem: Option<&'a str>,
}

impl ChartRequest<'_> {
    /// Whether the chart lives in an OCI registry.
    pub fn is_oci(&self) -> bool {
        self.repo_url.starts_with("oci://") || self.creds.is_some_and(|c| c.enable_oci)
    }

    fn what(&self) -> String {
        match self.version {
            "" => format!("chart {}", self.chart),
            v => format!("chart {} {v}", self.chart),
        }
    }
}

/// Charts cached under one directory. Stateless beyond the directory:
/// entries appear by rename, so concurrent pulls of one chart are harmless.
#[derive(Clone, Debug)]
pub struct ChartCache {
    root: PathBuf,
}

impl ChartCache {
    /// A cache rooted at `root`, created on first use.
    pub fn new(root: impl Into<PathBuf>) -> ChartCache {
        ChartCache { root: root.into() }
    }

    /// Resolves the version and makes sure that chart is unpacked.
    pub async fn pull(&self, req: &ChartRequest<'_>) -> Result<Chart, PullError> {
        if req.is_oci() { self.pull_oci(req).await } else { self.pull_http(req).await }
    }

    async fn pull_http(&self, req: &ChartRequest<'_>) -> Result<Chart, PullError> {
        let what = req.what();
        let base = req.repo_url.trim_end_matches('/');
        let client = http_client(req.creds, req.ca_pem, &what, base)?;
        let index_url = format!("{base}/index.yaml");
        let index = get(&client, &index_url, req.creds, &what, base).await?;
        let index = helm_index::parse(&String::from_utf8_lossy(&index))
            .map_err(|reason| PullError::Invalid { what: what.clone(), reason: format!("{index_url}: {reason}") })?;
        let entry = helm_index::resolve(&index, req.chart, req.version)
            .map_err(|e| PullError::NotFound { what: what.clone(), reason: format!("{e} in {base}") })?;
        let digest = entry.digest.clone().filter(|d| !d.is_empty()).map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase());
        let dir = self.entry_dir(base, req.chart, &entry.version, digest.as_deref().unwrap_or("any"));
        if let Some(path) = chart_dir(&dir) {
            return Ok(Chart { version: entry.version.clone(), digest: digest.unwrap_or_default(), path });
        }
        let what = format!("chart {} {}", req.chart, entry.version);
        let url = entry.urls.first().ok_or_else(|| PullError::Invalid { what: what.clone(), reason: "the index lists no URL".into() })?;
        let url = if url.contains("://") { url.clone() } else { format!("{base}/{}", url.trim_start_matches('/')) };
        // Credentials go to the repository's host only, unless passCredentials.
        let creds = req.creds.filter(|_| req.pass_credentials || host(&url) == host(base));
        let archive = get(&client, &url, creds, &what, base).await?;
        let actual: String = Sha256::digest(&archive).iter().map(|b| format!("{b:02x}")).collect();
        if let Some(expected) = &digest
            && *expected != actual
        {
            return Err(PullError::Invalid {
                what,
                reason: format!("{url} has sha256 {actual}, but the index says {expected}: refusing a tampered or corrupt archive"),
            });
        }
        let path = unpack(&archive, &dir, &what).await?;
        Ok(Chart { version: entry.version.clone(), digest: actual, path })
    }

    async fn pull_oci(&self, req: &ChartRequest<'_>) -> Result<Chart, PullError> {
        let what = req.what();
        let repo = format!("{}/{}", req.repo_url.trim_start_matches("oci://").trim_end_matches('/'), req.chart);
        let registry = oci::Registry::new(req.creds, req.ca_pem, &what)?;
        let version = registry.resolve_tag(&repo, req.version, &what).await?;
        let what = format!("chart {} {version}", req.chart);
        // Helm stores `+` of a version as `_` in a tag.
        let reference = format!("{repo}:{}", version.replace('+', "_"));
        let digest = registry.digest(&reference, &what).await?;
        let dir = self.entry_dir(req.repo_url, req.chart, &version, digest.trim_start_matches("sha256:"));
        if let Some(path) = chart_dir(&dir) {
            return Ok(Chart { version, digest, path });
        }
        let layers = registry.pull(&format!("{repo}@{digest}"), &[oci::HELM_CHART_LAYER], &what).await?;
        let archive =
            layers.into_iter().next().ok_or_else(|| PullError::Invalid { what: what.clone(), reason: "no chart layer".into() })?;
        let path = unpack(&archive, &dir, &what).await?;
        Ok(Chart { version, digest, path })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn entry_dir(&self, repo_url: &str, chart: &str, version: &str, digest: &str) -> PathBuf {
        let repo: String = Sha256::digest(repo_url.trim_end_matches('/').as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        let digest: String = digest.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
        self.root.join(repo).join(sanitize(chart)).join(format!("{}-{digest}", sanitize(version)))
    }
}

/// Names from a repository become directory names: keep them tame.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-+".contains(c) { c } else { '_' })
        .collect::<String>()
        .trim_start_matches('.')
        .into()
}

/// Reads the `index.yaml` of the Helm repository `repo_url` with `creds`:
/// a connection test.
pub async fn test_helm_repository(repo_url: &str, creds: Option<&RepoCreds>, ca_pem: Option<&str>) -> Result<(), PullError> {
    let (what, base) = ("Helm repository", repo_url.trim_end_matches('/'));
    let client = http_client(creds, ca_pem, what, base)?;
    let index = get(&client, &format!("{base}/index.yaml"), creds, what, base).await?;
    helm_index::parse(&String::from_utf8_lossy(&index))
        .map(drop)
        .map_err(|reason| PullError::Invalid { what: what.into(), reason: format!("{base}/index.yaml: {reason}") })
}

fn host(url: &str) -> &str {
    url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or_default()
}

/// The unpacked chart in a cache entry: its one directory with a Chart.yaml.
fn chart_dir(entry: &Path) -> Option<PathBuf> {
    std::fs::read_dir(entry).ok()?.flatten().map(|e| e.path()).find(|p| p.join("Chart.yaml").is_file())
}

pub(crate) fn http_client(creds: Option<&RepoCreds>, ca_pem: Option<&str>, what: &str, url: &str) -> Result<reqwest::Client, PullError> {
    let invalid = |reason: String| PullError::Invalid { what: what.into(), reason };
    let mut b = client_builder(ca_pem, creds.is_some_and(|c| c.insecure)).map_err(invalid)?;
    if let Some(c) = creds
        && let (Some(cert), Some(key)) = (&c.tls_client_cert_data, &c.tls_client_cert_key)
    {
        let identity = reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes())
            .map_err(|e| invalid(format!("the TLS client certificate of {url} is unusable: {}", chain(&e))))?;
        b = b.identity(identity);
    }
    b.build().map_err(|e| PullError::Unreachable { what: what.into(), url: url.into(), reason: chain(&e) })
}

/// A client that trusts `ca_pem` (a host's bundle from argocd-tls-certs-cm)
/// besides the usual roots; `insecure` trusts anything. Redirects to
/// another host lose the Authorization header (reqwest drops it).
pub(crate) fn client_builder(ca_pem: Option<&str>, insecure: bool) -> Result<reqwest::ClientBuilder, String> {
    crate::install_crypto_provider();
    let mut b = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(10)).timeout(std::time::Duration::from_secs(120));
    if insecure {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("the CA certificates in argocd-tls-certs-cm are not PEM: {}", chain(&e)))?;
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b)
}

/// [`client_builder`], built.
pub(crate) fn https_client(ca_pem: Option<&str>, insecure: bool) -> Result<reqwest::Client, String> {
    client_builder(ca_pem, insecure)?.build().map_err(|e| chain(&e))
}

async fn get(client: &reqwest::Client, url: &str, creds: Option<&RepoCreds>, what: &str, repo: &str) -> Result<Vec<u8>, PullError> {
    let mut r = client.get(url);
    if let Some(c) = creds
        && let Some(user) = &c.username
    {
        r = r.basic_auth(user, c.password.as_deref());
    }
    let unreachable = |reason: String| PullError::Unreachable { what: what.into(), url: repo.into(), reason };
    let resp = r.send().await.map_err(|e| unreachable(chain(&e)))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(PullError::NotFound { what: what.into(), reason: format!("{url} does not exist (HTTP 404)") });
    }
    if !status.is_success() {
        return Err(unreachable(format!("GET {url}: HTTP {status}")));
    }
    resp.bytes().await.map(|b| b.to_vec()).map_err(|e| unreachable(chain(&e)))
}

/// An error with its causes: reqwest's own message alone says little.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cur = s.source();
    }
    msg
}

/// Unpacks a chart archive into the cache entry `dir` and returns the
/// chart's directory.
async fn unpack(archive: &[u8], dir: &Path, what: &str) -> Result<PathBuf, PullError> {
    let (archive, dir_owned, what_owned) = (archive.to_vec(), dir.to_path_buf(), what.to_string());
    tokio::task::spawn_blocking(move || unpack_tgz_into(&archive, &dir_owned, &what_owned))
        .await
        .map_err(|e| PullError::Io { path: dir.into(), source: std::io::Error::other(e) })??;
    chart_dir(dir).ok_or_else(|| PullError::Invalid { what: what.into(), reason: "the archive holds no Chart.yaml".into() })
}

/// Unpacks a `.tgz` into `dest` through a temporary directory renamed into
/// place. Only plain files and directories inside `dest` are written: no
/// links, no absolute or `..` paths.
pub(crate) fn unpack_tgz_into(archive: &[u8], dest: &Path, what: &str) -> Result<(), PullError> {
    let invalid = |reason: String| PullError::Invalid { what: what.into(), reason };
    let parent = dest.parent().unwrap_or(dest);
    std::fs::create_dir_all(parent).map_err(|source| PullError::Io { path: parent.into(), source })?;
    let tmp =
        tempfile::Builder::new().prefix(".unpack-").tempdir_in(parent).map_err(|source| PullError::Io { path: parent.into(), source })?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar.entries().map_err(|e| invalid(format!("not a gzipped tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("broken archive: {e}")))?;
        let path = entry.path().map_err(|e| invalid(format!("broken archive: {e}")))?.into_owned();
        if path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(invalid(format!("the archive entry {} leaves the chart", path.display())));
        }
        let out = tmp.path().join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&out).map_err(|source| PullError::Io { path: out.clone(), source })?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(p) = out.parent() {
                    std::fs::create_dir_all(p).map_err(|source| PullError::Io { path: p.into(), source })?;
                }
                let mut buf = Vec::new();
                entry.read_to_end(&mut buf).map_err(|e| invalid(format!("broken archive: {e}")))?;
                std::fs::write(&out, buf).map_err(|source| PullError::Io { path: out.clone(), source })?;
            }
            // pax headers and the like carry no files; links could point anywhere.
            _ => {}
        }
    }
    let tmp = tmp.keep();
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        // Another pull unpacked the same digest first: theirs is identical.
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(source) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(PullError::Io { path: dest.into(), source })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn archives_unpack_inside_their_entry_only() {
        let cache = tempfile::tempdir().unwrap();
        let good = tgz(&[(b"web/Chart.yaml", b"name: web"), (b"web/templates/cm.yaml", b"x")]);
        let dest = cache.path().join("entry");
        unpack_tgz_into(&good, &dest, "chart web").unwrap();
        assert_eq!(chart_dir(&dest), Some(dest.join("web")));

        let evil = tgz(&[(b"web/Chart.yaml", b"name: web"), (b"../../escaped", b"x")]);
        let err = unpack_tgz_into(&evil, &cache.path().join("evil"), "chart web").unwrap_err();
        assert!(err.to_string().contains("leaves the chart"), "{err}");
        assert!(!cache.path().join("evil").exists() && !cache.path().parent().unwrap().join("escaped").exists());
        let err = unpack_tgz_into(b"not gzip", &cache.path().join("junk"), "chart web").unwrap_err();
        assert!(matches!(err, PullError::Invalid { .. }), "{err}");
    }
}
