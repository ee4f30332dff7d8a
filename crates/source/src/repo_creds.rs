//! Repository credentials in Argo CD's format: Secrets labelled
//! `argocd.argoproj.io/secret-type: repository` (one repository, matched by
//! URL) or `repo-creds` (a template, matched by URL prefix), with data keys
//! `type`, `url`, `name`, `username`, `password`, `enableOCI`,
//! `tlsClientCertData`, `tlsClientCertKey`, `insecure`,
//! `insecureOCIForceHttp`, `sshPrivateKey`, `proxy`, `noProxy`,
//! `githubAppID`, `githubAppInstallationID`, `githubAppPrivateKey`,
//! `githubAppEnterpriseBaseUrl`, `forceHttpBasicAuth`, `enableLfs`; and
//! [`RepoSettings`]: those with the CAs of `argocd-tls-certs-cm` and the
//! host keys of `argocd-ssh-known-hosts-cm`.
//!
//! Pure: the caller reads the Secrets. Debug output never shows a password
//! or key, and no error quotes a value.

use std::collections::BTreeMap;
use std::fmt;

/// The label value of a Secret for one repository.
pub const SECRET_TYPE_REPOSITORY: &str = "repository";
/// The label value of a Secret of credentials for every repository under a URL prefix.
pub const SECRET_TYPE_REPO_CREDS: &str = "repo-creds";
/// The label that marks repository Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";
/// The ConfigMap of CA certificates, one PEM bundle per host name.
pub const TLS_CERTS_CONFIGMAP: &str = "argocd-tls-certs-cm";
/// The ConfigMap of SSH host keys (`ssh_known_hosts`, in OpenSSH's format).
pub const SSH_KNOWN_HOSTS_CONFIGMAP: &str = "argocd-ssh-known-hosts-cm";
/// The key of [`SSH_KNOWN_HOSTS_CONFIGMAP`] that holds the host keys.
pub const SSH_KNOWN_HOSTS_KEY: &str = "ssh_known_hosts";
/// The most a repository setting may hold: keys and certificates are a few
/// KiB; a larger value is a mistake (or an attack), refused before use.
pub const MAX_VALUE: usize = 64 * 1024;

/// Why a repository Secret is unusable. Never quotes a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoCredsError {
    /// No `url`.
    #[error("it has no `url`")]
    NoUrl,
    /// A value is not UTF-8 text.
    #[error("`{0}` is not UTF-8 text")]
    NotText(String),
    /// A value is larger than [`MAX_VALUE`].
    #[error("`{field}` holds {len} bytes, more than the {MAX_VALUE} a repository setting may")]
    TooLarge {
        /// The key.
        field: String,
        /// Its size.
        len: usize,
    },
    /// A value does not mean anything usable.
    #[error("`{field}`: {reason}")]
    Invalid {
        /// The key.
        field: String,
        /// Why.
        reason: String,
    },
}

/// A GitHub App that gives access to repositories: an installation token,
/// minted with the app's key, is the password.
#[derive(Clone, PartialEq, Eq)]
pub struct GitHubApp {
    /// `githubAppID`.
    pub app_id: u64,
    /// `githubAppInstallationID`.
    pub installation_id: u64,
    /// `githubAppPrivateKey`: the app's RSA key, PEM.
    pub private_key: String,
    /// `githubAppEnterpriseBaseUrl` (`https://ghe.example/api/v3`); None: api.github.com.
    pub enterprise_base_url: Option<String>,
}

impl fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("private_key", &"<set>")
            .field("enterprise_base_url", &self.enterprise_base_url)
            .finish()
    }
}

/// Credentials and connection settings of one repository (or URL prefix).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RepoCreds {
    /// The repository URL (or prefix, for a template).
    pub url: String,
    /// `git` or `helm` (empty: git).
    pub type_: String,
    /// Display name.
    pub name: String,
    /// True for `repo-creds` templates, matched by prefix.
    pub template: bool,
    /// Basic auth user.
    pub username: Option<String>,
    /// Basic auth password or token.
    pub password: Option<String>,
    /// A Helm repository that is an OCI registry.
    pub enable_oci: bool,
    /// PEM client certificate.
    pub tls_client_cert_data: Option<String>,
    /// PEM client key.
    pub tls_client_cert_key: Option<String>,
    /// Skip server certificate verification (and, for SSH, host key checks).
    pub insecure: bool,
    /// Talk plain HTTP to the OCI registry.
    pub insecure_oci_force_http: bool,
    /// PEM (or OpenSSH) private key for SSH URLs.
    pub ssh_private_key: Option<String>,
    /// HTTP(S) proxy URL.
    pub proxy: Option<String>,
    /// Hosts reached without the proxy (comma-separated, as `NO_PROXY`).
    pub no_proxy: Option<String>,
    /// A GitHub App whose installation token is the password.
    pub github_app: Option<GitHubApp>,
    /// Send basic auth with the first request instead of after a 401.
    pub force_http_basic_auth: bool,
    /// The repository uses Git LFS (not supported: fetches say so).
    pub enable_lfs: bool,
}

impl fmt::Debug for RepoCreds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |o: &Option<String>| if o.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("RepoCreds")
            .field("url", &scrub_userinfo(&self.url))
            .field("type", &self.type_)
            .field("name", &self.name)
            .field("template", &self.template)
            .field("username", &self.username)
            .field("password", &set(&self.password))
            .field("enable_oci", &self.enable_oci)
            .field("tls_client_cert_data", &set(&self.tls_client_cert_data))
            .field("tls_client_cert_key", &set(&self.tls_client_cert_key))
            .field("insecure", &self.insecure)
            .field("insecure_oci_force_http", &self.insecure_oci_force_http)
            .field("ssh_private_key", &set(&self.ssh_private_key))
            // A proxy URL may carry a password.
            .field("proxy", &self.proxy.as_deref().map(scrub_userinfo))
            .field("no_proxy", &self.no_proxy)
            .field("github_app", &self.github_app)
            .field("force_http_basic_auth", &self.force_http_basic_auth)
            .field("enable_lfs", &self.enable_lfs)
            .finish()
    }
}

impl RepoCreds {
    /// Reads a Secret's decoded `data` (`template` for `repo-creds`). The
    /// error names the key at fault, never its value.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>, template: bool) -> Result<RepoCreds, RepoCredsError> {
        let raw = |k: &str| -> Result<Option<String>, RepoCredsError> {
            let Some(v) = data.get(k) else { return Ok(None) };
            if v.len() > MAX_VALUE {
                return Err(RepoCredsError::TooLarge { field: k.into(), len: v.len() });
            }
            let s = String::from_utf8(v.clone()).map_err(|_| RepoCredsError::NotText(k.into()))?;
            Ok(Some(s).filter(|s| !s.is_empty()))
        };
        let text =
            |k: &str| -> Result<Option<String>, RepoCredsError> { Ok(raw(k)?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())) };
        let flag = |k: &str| -> Result<bool, RepoCredsError> { Ok(text(k)?.is_some_and(|v| v.eq_ignore_ascii_case("true"))) };
        let url = text("url")?.ok_or(RepoCredsError::NoUrl)?;
        if has_password_in_url(&url) {
            return Err(invalid("url", "holds a password: put it in `password`, never in the URL"));
        }
        let pem = |k: &str, marker: &str| -> Result<Option<String>, RepoCredsError> {
            match text(k)? {
                Some(v) if !(v.contains("-----BEGIN ") && v.contains(marker)) => {
                    Err(invalid(k, &format!("is not PEM: expected a `-----BEGIN ...{marker}` block")))
                }
                v => Ok(v),
            }
        };
        let proxy = text("proxy")?;
        if let Some(p) = &proxy
            && !["http://", "https://", "socks5://", "socks5h://"].iter().any(|s| p.starts_with(s))
        {
            return Err(invalid("proxy", "must be an http://, https:// or socks5:// URL"));
        }
        let github_app = github_app(&text)?;
        Ok(RepoCreds {
            url,
            type_: text("type")?.unwrap_or_default(),
            name: text("name")?.unwrap_or_default(),
            template,
            username: text("username")?,
            // A password may legitimately end in spaces: keep it as written.
            password: raw("password")?,
            enable_oci: flag("enableOCI")?,
            tls_client_cert_data: pem("tlsClientCertData", "CERTIFICATE-----")?,
            tls_client_cert_key: pem("tlsClientCertKey", "PRIVATE KEY-----")?,
            insecure: flag("insecure")?,
            insecure_oci_force_http: flag("insecureOCIForceHttp")?,
            ssh_private_key: pem("sshPrivateKey", "PRIVATE KEY-----")?,
            proxy,
            no_proxy: text("noProxy")?,
            github_app,
            force_http_basic_auth: flag("forceHttpBasicAuth")?,
            enable_lfs: flag("enableLfs")?,
        })
    }

    /// The values no message, log or file left behind may show.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        [&self.password, &self.ssh_private_key, &self.tls_client_cert_key].into_iter().flatten().map(String::as_str)
    }
}

fn invalid(field: &str, reason: &str) -> RepoCredsError {
    RepoCredsError::Invalid { field: field.into(), reason: reason.into() }
}

type Text<'a> = dyn Fn(&str) -> Result<Option<String>, RepoCredsError> + 'a;

/// The GitHub App fields: all three or none.
fn github_app(text: &Text<'_>) -> Result<Option<GitHubApp>, RepoCredsError> {
    let (id, installation, key) = (text("githubAppID")?, text("githubAppInstallationID")?, text("githubAppPrivateKey")?);
    if id.is_none() && installation.is_none() && key.is_none() {
        return Ok(None);
    }
    let number = |field: &str, v: Option<String>| -> Result<u64, RepoCredsError> {
        let v =
            v.ok_or_else(|| invalid(field, "is missing: a GitHub App needs githubAppID, githubAppInstallationID and githubAppPrivateKey"))?;
        v.parse().map_err(|_| invalid(field, "is not a number"))
    };
    let app_id = number("githubAppID", id)?;
    let installation_id = number("githubAppInstallationID", installation)?;
    let private_key = key.ok_or_else(|| invalid("githubAppPrivateKey", "is missing"))?;
    crate::github_app::signing_key(&private_key).map_err(|reason| invalid("githubAppPrivateKey", &reason))?;
    let enterprise_base_url = text("githubAppEnterpriseBaseUrl")?;
    if let Some(u) = &enterprise_base_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(invalid("githubAppEnterpriseBaseUrl", "must be an http(s):// URL"));
    }
    Ok(Some(GitHubApp { app_id, installation_id, private_key, enterprise_base_url }))
}

/// `scheme://user:password@…`: a password where logs would show it.
fn has_password_in_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(_, rest)| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
    })
}

/// `text` with the user info of every `scheme://user:pass@host` URL in it
/// replaced by `***`, for messages that quote URLs.
pub fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(|c: char| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '\'' | '"')).unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Everything that decides how repositories are reached: the repository
/// Secrets, `argocd-tls-certs-cm` and `argocd-ssh-known-hosts-cm`.
#[derive(Clone, Debug, Default)]
pub struct RepoSettings {
    /// Repository Secrets and templates.
    pub creds: Vec<RepoCreds>,
    /// PEM CA bundles by host name (`argocd-tls-certs-cm`).
    pub tls_certs: BTreeMap<String, String>,
    /// Known SSH host keys, OpenSSH format (`argocd-ssh-known-hosts-cm`).
    pub ssh_known_hosts: String,
}

impl RepoSettings {
    /// The credentials for `url` (see [`find`]).
    pub fn creds_for(&self, url: &str) -> Option<&RepoCreds> {
        find(&self.creds, url)
    }

    /// The CA bundle for the host of `url`: the `host:port` key, else the host's.
    pub fn ca_for(&self, url: &str) -> Option<&str> {
        let authority = authority(url);
        let host = authority.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(authority, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.tls_certs.get(authority).or_else(|| self.tls_certs.get(host)).map(String::as_str)
    }

    /// What git needs to reach `url`.
    pub fn git_access(&self, url: &str) -> crate::GitAccess {
        crate::GitAccess {
            creds: self.creds_for(url).cloned(),
            ca_pem: self.ca_for(url).map(str::to_string),
            known_hosts: self.ssh_known_hosts.clone(),
        }
    }
}

/// `host[:port]` of `url` (`https://u@h:1/x`, `ssh://u@h/x`, `u@h:path`).
pub fn authority(url: &str) -> &str {
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or_default(),
        // scp-like `git@host:org/repo`.
        None => url.split(':').next().unwrap_or_default(),
    };
    rest.rsplit_once('@').map_or(rest, |(_, host)| host)
}

/// The credentials for `url`: the repository Secret with that URL, else
/// the template with the longest matching prefix, as Argo CD picks them.
pub fn find<'a>(creds: &'a [RepoCreds], url: &str) -> Option<&'a RepoCreds> {
    let want = normalize(url);
    creds
        .iter()
        .find(|c| !c.template && normalize(&c.url) == want)
        .or_else(|| creds.iter().filter(|c| c.template && want.starts_with(&normalize(&c.url))).max_by_key(|c| normalize(&c.url).len()))
}

/// `oci://`, trailing slashes and `.git` do not make another repository.
pub fn normalize(url: &str) -> String {
    let url = url.trim().trim_start_matches("oci://").trim_end_matches('/');
    url.strip_suffix(".git").unwrap_or(url).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn exact_repositories_win_over_the_longest_template() {
        let repo = RepoCreds::from_secret_data(&data(&[("url", "https://charts.example/stable/"), ("type", "helm")]), false).unwrap();
        let short = RepoCreds::from_secret_data(&data(&[("url", "https://charts.example")]), true).unwrap();
        let long = RepoCreds::from_secret_data(&data(&[("url", "https://charts.example/team")]), true).unwrap();
        let all = [short.clone(), long.clone(), repo.clone()];
        assert_eq!(find(&all, "https://charts.example/stable"), Some(&repo));
        assert_eq!(find(&all, "https://charts.example/team/x"), Some(&long));
        assert_eq!(find(&all, "https://charts.example/other"), Some(&short));
        assert_eq!(find(&all, "https://elsewhere.example"), None);
        let oci = RepoCreds::from_secret_data(&data(&[("url", "registry.example/charts"), ("enableOCI", "true")]), false).unwrap();
        assert!(oci.enable_oci);
        assert_eq!(find(std::slice::from_ref(&oci), "oci://registry.example/charts"), Some(&oci));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = RepoCreds::from_secret_data(&data(&[("url", "https://x"), ("username", "u"), ("password", "hunter2")]), false).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && shown.contains("<set>"), "{shown}");
    }

    #[test]
    fn git_settings_are_read_and_debug_hides_every_secret() {
        let c = RepoCreds::from_secret_data(
            &data(&[
                ("url", "git@github.com:org/repo.git"),
                ("sshPrivateKey", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n"),
                ("proxy", "http://user:proxypass@proxy.example:3128"),
                ("noProxy", "internal.example"),
                ("forceHttpBasicAuth", "true"),
                ("insecure", "TRUE"),
            ]),
            false,
        )
        .unwrap();
        assert!(c.force_http_basic_auth && c.insecure && !c.enable_lfs);
        assert_eq!(c.no_proxy.as_deref(), Some("internal.example"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("b3BlbnNzaC1rZXk") && !shown.contains("proxypass"), "{shown}");
    }

    #[test]
    fn hostile_secrets_are_refused_naming_the_key_and_never_the_value() {
        let refused = |pairs: &[(&str, &str)]| RepoCreds::from_secret_data(&data(pairs), false).unwrap_err();
        assert_eq!(refused(&[("username", "u")]), RepoCredsError::NoUrl);
        let e = refused(&[("url", "https://u:hunter2@git.example/r")]);
        assert!(e.to_string().contains("`url`") && !e.to_string().contains("hunter2"), "{e}");
        let e = refused(&[("url", "https://x"), ("sshPrivateKey", "hunter2 is no key")]);
        assert!(e.to_string().contains("sshPrivateKey") && !e.to_string().contains("hunter2"), "{e}");
        let e = refused(&[("url", "https://x"), ("tlsClientCertData", "garbage")]);
        assert!(e.to_string().contains("tlsClientCertData"), "{e}");
        let bad_key = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----";
        let e = refused(&[("url", "https://x"), ("githubAppID", "1"), ("githubAppInstallationID", "2"), ("githubAppPrivateKey", bad_key)]);
        assert!(e.to_string().contains("githubAppPrivateKey") && !e.to_string().contains("AAAA"), "{e}");
        let e =
            refused(&[("url", "https://x"), ("githubAppID", "one"), ("githubAppInstallationID", "2"), ("githubAppPrivateKey", bad_key)]);
        assert!(e.to_string().contains("githubAppID"), "{e}");
        let e = refused(&[("url", "https://x"), ("githubAppID", "1")]);
        assert!(e.to_string().contains("githubAppInstallationID"), "{e}");
        let e = refused(&[("url", "https://x"), ("proxy", "ftp://p")]);
        assert!(e.to_string().contains("proxy"), "{e}");
        let huge = "a".repeat(MAX_VALUE + 1);
        assert!(matches!(refused(&[("url", "https://x"), ("password", &huge)]), RepoCredsError::TooLarge { .. }));
        let mut d = data(&[("url", "https://x")]);
        d.insert("password".into(), vec![0xff, 0xfe, b'p']);
        assert_eq!(RepoCreds::from_secret_data(&d, false).unwrap_err(), RepoCredsError::NotText("password".into()));
    }

    #[test]
    fn userinfo_is_scrubbed_from_every_url_in_a_text() {
        assert_eq!(
            scrub_userinfo("fatal: https://u:pw@h/x and 'ssh://git@h:22/y' and http://h/z"),
            "fatal: https://***@h/x and 'ssh://***@h:22/y' and http://h/z"
        );
        assert_eq!(scrub_userinfo("no urls at all"), "no urls at all");
        assert_eq!(scrub_userinfo("trailing ://"), "trailing ://");
    }

    #[test]
    fn the_ca_of_a_host_is_found_with_or_without_its_port() {
        let s = RepoSettings {
            tls_certs: [("git.example".to_string(), "A".to_string()), ("git.example:8443".to_string(), "B".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(s.ca_for("https://user@git.example/r.git"), Some("A"));
        assert_eq!(s.ca_for("https://git.example:8443/r.git"), Some("B"));
        assert_eq!(s.ca_for("https://git.example:9000/r.git"), Some("A"));
        assert_eq!(s.ca_for("https://other.example/r.git"), None);
        assert_eq!(authority("git@github.com:org/repo.git"), "github.com");
    }

    /// Random keys and values, random bytes and truncations of real
    /// settings: the parser answers, it never panics.
    #[test]
    fn fuzz_secret_data_never_panics() {
        let keys = [
            "url",
            "username",
            "password",
            "sshPrivateKey",
            "tlsClientCertData",
            "tlsClientCertKey",
            "insecure",
            "proxy",
            "noProxy",
            "githubAppID",
            "githubAppInstallationID",
            "githubAppPrivateKey",
            "githubAppEnterpriseBaseUrl",
            "forceHttpBasicAuth",
            "enableLfs",
            "type",
            "enableOCI",
        ];
        let pieces: [&[u8]; 10] = [
            b"https://",
            b"-----BEGIN RSA PRIVATE KEY-----",
            b"-----END RSA PRIVATE KEY-----",
            b"PRIVATE KEY-----",
            b"@",
            b":",
            b"true",
            b"\xff\xfe",
            b"\n",
            b"12345",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut d = BTreeMap::new();
            for _ in 0..next() % 6 {
                let mut v = Vec::new();
                for _ in 0..next() % 5 {
                    if next() % 3 == 0 {
                        v.extend((0..next() % 8).map(|_| next() as u8));
                    } else {
                        v.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
                    }
                }
                d.insert(keys[(next() % keys.len() as u64) as usize].to_string(), v);
            }
            if let Ok(c) = RepoCreds::from_secret_data(&d, next() % 2 == 0) {
                let _ = format!("{c:?}");
                let _ = find(std::slice::from_ref(&c), "https://git.example/x");
            }
            let text = String::from_utf8_lossy(d.values().next().map_or(&[][..], Vec::as_slice)).into_owned();
            let _ = scrub_userinfo(&text);
            let _ = authority(&text);
        }
    }
}
