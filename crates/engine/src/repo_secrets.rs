//! Repository Secrets as `argocd repo add` and `argocd repocreds add` write
//! them, and as the API and CLI show them: a Secret per repository (label
//! `argocd.argoproj.io/secret-type: repository`) or per credential template
//! (`repo-creds`), in the control-plane namespace, named as Argo CD names
//! them. What is shown never holds a credential, only whether one is set:
//! credentials are write-only.

use std::collections::BTreeMap;

use driftless_source::RepoCreds;

use crate::clusters::{ConnectionState, ConnectionStatus};
use crate::repos::RepoKind;
use driftless_source::repo_creds::{RepoCredsError, SECRET_TYPE_LABEL, SECRET_TYPE_REPO_CREDS, SECRET_TYPE_REPOSITORY, normalize};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams};
use serde::{Deserialize, Serialize};

/// A repository, or a template of credentials for every repository under
/// a URL prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One repository (`repository`).
    Repository,
    /// A template (`repo-creds`).
    Template,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Repository => SECRET_TYPE_REPOSITORY,
            Kind::Template => SECRET_TYPE_REPO_CREDS,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Repository => "repo",
            Kind::Template => "creds",
        }
    }
}

/// A repository as registered: Argo CD's `Repository` (and `RepoCreds`,
/// whose `url` is this `repo`) request fields.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryInput {
    /// The URL (or URL prefix, for a template).
    #[serde(alias = "url")]
    pub repo: String,
    /// `git` (default) or `helm`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// A display name (Helm repositories are named by it).
    #[serde(default)]
    pub name: Option<String>,
    /// The project the repository belongs to, if one.
    #[serde(default)]
    pub project: Option<String>,
    /// Basic auth user.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic auth password, or a token.
    #[serde(default)]
    pub password: Option<String>,
    /// An SSH private key (PEM or OpenSSH).
    #[serde(default)]
    pub ssh_private_key: Option<String>,
    /// A TLS client certificate (PEM).
    #[serde(default)]
    pub tls_client_cert_data: Option<String>,
    /// Its key (PEM).
    #[serde(default)]
    pub tls_client_cert_key: Option<String>,
    /// Skip server certificate and host key checks.
    #[serde(default)]
    pub insecure: bool,
    /// Fetch Git LFS objects.
    #[serde(default)]
    pub enable_lfs: bool,
    /// A Helm repository that is an OCI registry.
    #[serde(default, rename = "enableOCI")]
    pub enable_oci: bool,
    /// Send basic auth without waiting for a challenge.
    #[serde(default)]
    pub force_http_basic_auth: bool,
    /// An HTTP(S) proxy.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Hosts reached without the proxy.
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// A GitHub App's id.
    #[serde(default, rename = "githubAppID")]
    pub github_app_id: Option<serde_json::Value>,
    /// Its installation's id.
    #[serde(default, rename = "githubAppInstallationID")]
    pub github_app_installation_id: Option<serde_json::Value>,
    /// Its private key (PEM).
    #[serde(default)]
    pub github_app_private_key: Option<String>,
    /// GitHub Enterprise's API URL.
    #[serde(default)]
    pub github_app_enterprise_base_url: Option<String>,
}

/// Why a repository cannot be registered as given; never quotes a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum InvalidInput {
    /// A field of the request is wrong.
    #[error("{field}: {reason}")]
    Field {
        /// The request field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The settings would make a repository Secret the controller refuses.
    #[error("{0}")]
    Settings(#[from] RepoCredsError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidInput {
    InvalidInput::Field { field, reason: reason.into() }
}

impl RepositoryInput {
    /// The credentials and settings it registers, as the controller will
    /// read them from the Secret (a connection test uses them before the
    /// Secret is written).
    pub fn creds(&self, kind: Kind) -> Result<RepoCreds, InvalidInput> {
        let data = self.secret_data()?.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        Ok(RepoCreds::from_secret_data(&data, kind == Kind::Template)?)
    }

    /// The Secret's data, checked: a URL Git, Helm or OCI can use, known
    /// types, numbers where Argo CD has numbers, one-line values where a
    /// newline would smuggle a second setting in, and all that the
    /// controller's own parser checks (sizes, PEM, GitHub App fields).
    pub fn secret_data(&self) -> Result<BTreeMap<String, String>, InvalidInput> {
        let url = self.repo.trim();
        check_url(url)?;
        let mut data = BTreeMap::from([("url".to_string(), url.to_string())]);
        match self.type_.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => {}
            Some(t @ ("git" | "helm")) => {
                data.insert("type".into(), t.into());
            }
            Some(other) => return Err(invalid("type", format!("{:?} is neither git nor helm", cut(other)))),
        }
        let texts: [(&'static str, &str, &Option<String>); 13] = [
            ("name", "name", &self.name),
            ("project", "project", &self.project),
            ("username", "username", &self.username),
            ("password", "password", &self.password),
            ("sshPrivateKey", "sshPrivateKey", &self.ssh_private_key),
            ("tlsClientCertData", "tlsClientCertData", &self.tls_client_cert_data),
            ("tlsClientCertKey", "tlsClientCertKey", &self.tls_client_cert_key),
            ("proxy", "proxy", &self.proxy),
            ("noProxy", "noProxy", &self.no_proxy),
            ("githubAppPrivateKey", "githubAppPrivateKey", &self.github_app_private_key),
            ("githubAppEnterpriseBaseUrl", "githubAppEnterpriseBaseUrl", &self.github_app_enterprise_base_url),
            ("githubAppID", "githubAppID", &self.github_app_id.as_ref().map(number_text).transpose()?.flatten()),
            (
                "githubAppInstallationID",
                "githubAppInstallationID",
                &self.github_app_installation_id.as_ref().map(number_text).transpose()?.flatten(),
            ),
        ];
        for (field, key, value) in texts {
            let Some(v) = value.as_deref().filter(|v| !v.is_empty()) else { continue };
            // Single-line fields: a newline would smuggle a header or a
            // second value into git's configuration.
            let multi_line = matches!(field, "sshPrivateKey" | "tlsClientCertData" | "tlsClientCertKey" | "githubAppPrivateKey");
            if !multi_line && v.contains(['\n', '\r', '\0']) {
                return Err(invalid(field, "must be one line"));
            }
            data.insert(key.into(), v.into());
        }
        if let Some(p) = &self.project
            && !p.is_empty()
            && !driftless_api::is_dns_subdomain(p)
        {
            return Err(invalid("project", format!("{:?} is not a project name", cut(p))));
        }
        for (flag, key) in [
            (self.insecure, "insecure"),
            (self.enable_lfs, "enableLfs"),
            (self.enable_oci, "enableOCI"),
            (self.force_http_basic_auth, "forceHttpBasicAuth"),
        ] {
            if flag {
                data.insert(key.into(), "true".into());
            }
        }
        if data.contains_key("tlsClientCertData") != data.contains_key("tlsClientCertKey") {
            return Err(invalid("tlsClientCertData", "tlsClientCertData and tlsClientCertKey go together"));
        }
        let bytes = data.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
        RepoCreds::from_secret_data(&bytes, false)?;
        Ok(data)
    }
}

/// A GitHub App id: Argo CD sends numbers; a string of digits is accepted.
fn number_text(v: &serde_json::Value) -> Result<Option<String>, InvalidInput> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) if n.as_u64().is_some() => Ok(Some(n.to_string())),
        serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(s.clone())),
        serde_json::Value::String(s) if s.is_empty() => Ok(None),
        _ => Err(invalid("githubAppID", "GitHub App ids are positive integers")),
    }
}

/// A URL Git, Helm or an OCI registry can use: `https://`, `http://`,
/// `ssh://`, `git@host:path`, `oci://`, or an OCI `host/path`; no spaces,
/// no control characters.
fn check_url(url: &str) -> Result<(), InvalidInput> {
    if url.is_empty() {
        return Err(invalid("repo", "a repository URL is required"));
    }
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("repo", "not a URL (too long, or with spaces or control characters)"));
    }
    let scp_like = url.split_once(':').is_some_and(|(user_host, path)| user_host.contains('@') && !path.starts_with("//"));
    let scheme_ok = ["https://", "http://", "ssh://", "oci://", "git://", "file://"].iter().any(|s| url.starts_with(s));
    let bare_registry = !url.contains("://") && url.split('/').next().is_some_and(|h| h.contains('.') || h.contains(':'));
    if scheme_ok || scp_like || bare_registry {
        Ok(())
    } else {
        Err(invalid("repo", format!("{:?} is not a Git, Helm or OCI URL", cut(url))))
    }
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A repository or template as shown: no credential, only which are set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryInfo {
    /// The URL (or prefix).
    pub repo: String,
    /// `git` or `helm`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Display name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its project, if one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// Basic auth user (not a secret).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Server certificate and host key checks are off.
    pub insecure: bool,
    /// Git LFS.
    pub enable_lfs: bool,
    /// An OCI Helm repository.
    #[serde(rename = "enableOCI")]
    pub enable_oci: bool,
    /// Which credentials are set (`password`, `sshPrivateKey`, ...).
    pub credentials: Vec<String>,
    /// The Secret that holds it.
    pub secret: String,
    /// Whether it answers with its credentials, when asked for
    /// ([`RepositoryInfo::test`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<ConnectionState>,
    /// What a connection test talks to.
    #[serde(skip)]
    pub kind: RepoKind,
    /// Why the controller cannot use the Secret, if it cannot.
    #[serde(skip)]
    pub problem: Option<String>,
}

const CREDENTIAL_KEYS: [&str; 5] = ["password", "sshPrivateKey", "tlsClientCertKey", "githubAppPrivateKey", "tlsClientCertData"];

impl RepositoryInfo {
    fn of(secret: &Secret) -> Option<RepositoryInfo> {
        let data = secret.data.as_ref()?;
        let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).trim().to_string()).unwrap_or_default();
        let repo = text("url");
        if repo.is_empty() {
            return None;
        }
        let flag = |k: &str| text(k).eq_ignore_ascii_case("true");
        let bytes = data.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
        let parsed = RepoCreds::from_secret_data(&bytes, false);
        Some(RepositoryInfo {
            kind: parsed.as_ref().map(RepoKind::of).unwrap_or(RepoKind::Git),
            problem: parsed.err().map(|e| format!("repository Secret {}: {e}", secret.metadata.name.as_deref().unwrap_or_default())),
            connection_state: None,
            type_: Some(text("type")).filter(|t| !t.is_empty()).unwrap_or_else(|| "git".into()),
            name: text("name"),
            project: text("project"),
            username: text("username"),
            insecure: flag("insecure"),
            enable_lfs: flag("enableLfs"),
            enable_oci: flag("enableOCI"),
            credentials: CREDENTIAL_KEYS.iter().filter(|k| data.get(**k).is_some_and(|v| !v.0.is_empty())).map(|k| k.to_string()).collect(),
            secret: secret.metadata.name.clone().unwrap_or_default(),
            repo,
        })
    }
}

/// How long a connection test may take: a host that never answers must not
/// hold a listing.
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl RepositoryInfo {
    /// Connects to the repository as a fetch would, with the credentials
    /// that apply to it, and records how that went.
    pub async fn test(&mut self, engine: &crate::Engine) {
        let outcome = match &self.problem {
            Some(p) => Err(p.clone()),
            None => bounded(engine.test_repository(&self.repo, self.kind)).await,
        };
        self.connection_state = Some(ConnectionState {
            status: if outcome.is_ok() { ConnectionStatus::Successful } else { ConnectionStatus::Failed },
            message: outcome.err().unwrap_or_default(),
            attempted_at: Some(crate::clock::now()),
        });
    }
}

/// Connects to the repository `creds` describe, with them, before they are
/// stored (`repo add` tests first, as Argo CD does).
pub async fn test_creds(engine: &crate::Engine, creds: &RepoCreds) -> Result<(), String> {
    bounded(engine.test_repository_with(creds)).await.map_err(|e| format!("connection test of {}: {e}", creds.url))
}

async fn bounded(test: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(TEST_TIMEOUT, test).await.unwrap_or_else(|_| Err(format!("no answer within {TEST_TIMEOUT:?}")))
}

/// Argo CD's Secret name: `repo-` or `creds-` and the FNV-1a hash of the
/// URL and project, so that one URL keeps one Secret.
pub fn secret_name(kind: Kind, url: &str, project: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in url.bytes().chain(project.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{}-{h}", kind.prefix())
}

/// Why a repository could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The request is wrong.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// It exists with other settings, and `upsert` was not asked for.
    #[error("{0} is already registered with other settings (upsert to replace them)")]
    Exists(String),
    /// The API server failed.
    #[error("writing Secret {secret}: {source}")]
    Api {
        /// The Secret.
        secret: String,
        /// What failed.
        #[source]
        source: kube::Error,
    },
}

/// Registers `input` in `namespace`; an existing registration is replaced
/// only with `upsert` (the same settings again change nothing).
pub async fn add(
    client: &kube::Client,
    namespace: &str,
    kind: Kind,
    input: &RepositoryInput,
    upsert: bool,
) -> Result<RepositoryInfo, AddError> {
    let data = input.secret_data()?;
    let name = secret_name(kind, &data["url"], data.get("project").map(String::as_str).unwrap_or_default());
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let api_err = |source| AddError::Api { secret: name.clone(), source };
    let wanted: BTreeMap<String, ByteString> = data.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect();
    if let Some(existing) = api.get_opt(&name).await.map_err(api_err)?
        && existing.data.as_ref() != Some(&wanted)
        && !upsert
    {
        return Err(AddError::Exists(input.repo.trim().to_string()));
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([(SECRET_TYPE_LABEL.to_string(), kind.label().to_string())])),
            ..Default::default()
        },
        data: Some(wanted),
        ..Default::default()
    };
    let secret = api.patch(&name, &PatchParams::apply("driftless-repo").force(), &Patch::Apply(secret)).await.map_err(api_err)?;
    Ok(RepositoryInfo::of(&secret).expect("written with a url"))
}

/// Every repository (or template) registered in `namespace`, by URL.
pub async fn list(client: &kube::Client, namespace: &str, kind: Kind) -> Result<Vec<RepositoryInfo>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{SECRET_TYPE_LABEL}={}", kind.label());
    let mut found: Vec<RepositoryInfo> = match api.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => list.items.iter().filter_map(RepositoryInfo::of).collect(),
        Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
        Err(e) => return Err(e),
    };
    found.sort_by(|a, b| (&a.repo, &a.project).cmp(&(&b.repo, &b.project)));
    Ok(found)
}

/// The registration of `url` (`.git`, case and trailing slashes aside).
pub async fn get(client: &kube::Client, namespace: &str, kind: Kind, url: &str) -> Result<Option<RepositoryInfo>, kube::Error> {
    let want = normalize(url);
    Ok(list(client, namespace, kind).await?.into_iter().find(|r| normalize(&r.repo) == want))
}

/// Removes the registration of `url`; the Secret removed, if there was one.
pub async fn remove(client: &kube::Client, namespace: &str, kind: Kind, url: &str) -> Result<Option<String>, kube::Error> {
    let Some(found) = get(client, namespace, kind, url).await? else { return Ok(None) };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.delete(&found.secret, &DeleteParams::default()).await {
        Ok(_) => Ok(Some(found.secret)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(repo: &str) -> RepositoryInput {
        RepositoryInput { repo: repo.into(), ..Default::default() }
    }

    #[test]
    fn names_are_argo_cds() {
        // FNV-1a of the URL and project, as Argo CD's RepoURLToSecretName.
        assert_eq!(secret_name(Kind::Repository, "", ""), "repo-2166136261");
        assert_eq!(secret_name(Kind::Repository, "a", ""), "repo-3826002220");
        assert!(secret_name(Kind::Template, "https://git.example", "").starts_with("creds-"));
        assert_ne!(secret_name(Kind::Repository, "https://x", "a"), secret_name(Kind::Repository, "https://x", "b"));
    }

    #[test]
    fn urls_of_git_helm_and_oci_are_accepted_and_others_refused() {
        for ok in [
            "https://git.example/r.git",
            "ssh://git@git.example/r",
            "git@github.com:org/r.git",
            "oci://ghcr.io/org/charts",
            "ghcr.io/org/charts",
        ] {
            assert!(input(ok).secret_data().is_ok(), "{ok}");
        }
        for bad in ["", "not a url", "https://x/\nInjected: yes", "justaword", &format!("https://{}", "a".repeat(3000))] {
            assert!(matches!(input(bad).secret_data(), Err(InvalidInput::Field { field: "repo", .. })), "{bad:?}");
        }
    }

    #[test]
    fn credentials_are_checked_and_never_quoted() {
        let mut i = input("https://git.example/r");
        i.password = Some("hunter2\nextra".into());
        let err = i.secret_data().unwrap_err().to_string();
        assert!(err.contains("password") && !err.contains("hunter2"), "{err}");
        i.password = Some("hunter2".into());
        i.ssh_private_key = Some("not a key hunter3".into());
        let err = i.secret_data().unwrap_err().to_string();
        assert!(err.contains("sshPrivateKey") && !err.contains("hunter3"), "{err}");
        i.ssh_private_key = None;
        i.github_app_id = Some(serde_json::json!("12a"));
        assert!(i.secret_data().is_err());
        i.github_app_id = Some(serde_json::json!(12345));
        let err = i.secret_data().unwrap_err().to_string();
        assert!(err.contains("githubAppInstallationID"), "the controller's own parser: a GitHub App needs all its fields: {err}");
        i.github_app_id = None;
        i.type_ = Some("svn".into());
        assert!(i.secret_data().unwrap_err().to_string().contains("type"));
        i.type_ = Some("git".into());
        i.insecure = true;
        let data = i.secret_data().unwrap();
        assert_eq!((data["type"].as_str(), data["insecure"].as_str(), data["password"].as_str()), ("git", "true", "hunter2"));
        assert!(i.creds(Kind::Repository).is_ok_and(|c| c.insecure && c.password.as_deref() == Some("hunter2")));
        i.tls_client_cert_data = Some("-----BEGIN CERTIFICATE-----\nx\n".into());
        assert!(i.secret_data().unwrap_err().to_string().contains("go together"));
    }

    #[test]
    fn what_is_shown_holds_no_credential() {
        let mut i = input("https://git.example/r");
        i.username = Some("bot".into());
        i.password = Some("hunter2".into());
        let data = i.secret_data().unwrap();
        let secret = Secret {
            metadata: ObjectMeta { name: Some("repo-1".into()), ..Default::default() },
            data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect()),
            ..Default::default()
        };
        let info = RepositoryInfo::of(&secret).unwrap();
        let shown = serde_json::to_string(&info).unwrap();
        assert!(
            !shown.contains("hunter2") && shown.contains("\"credentials\":[\"password\"]") && shown.contains("\"username\":\"bot\""),
            "{shown}"
        );
    }

    #[test]
    fn unknown_request_fields_are_refused() {
        let parsed: Result<RepositoryInput, _> = serde_json::from_value(serde_json::json!({ "repo": "https://x", "pasword": "typo" }));
        assert!(parsed.is_err(), "a misspelt credential must not be silently dropped");
    }
}
