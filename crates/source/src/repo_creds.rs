//! Repository credentials in Argo CD's format: Secrets labelled
//! `argocd.argoproj.io/secret-type: repository` (one repository, matched by
//! URL) or `repo-creds` (a template, matched by URL prefix), with data keys
//! `type`, `url`, `name`, `username`, `password`, `enableOCI`,
//! `tlsClientCertData`, `tlsClientCertKey`, `insecure`,
//! `insecureOCIForceHttp`.
//!
//! Pure: the caller reads the Secrets. Debug output never shows a password
//! or key.

use std::collections::BTreeMap;
use std::fmt;

/// The label value of a Secret for one repository.
pub const SECRET_TYPE_REPOSITORY: &str = "repository";
/// The label value of a Secret of credentials for every repository under a URL prefix.
pub const SECRET_TYPE_REPO_CREDS: &str = "repo-creds";
/// The label that marks repository Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

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
    /// Skip server certificate verification.
    pub insecure: bool,
    /// Talk plain HTTP to the OCI registry.
    pub insecure_oci_force_http: bool,
}

impl fmt::Debug for RepoCreds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |o: &Option<String>| if o.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("RepoCreds")
            .field("url", &self.url)
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
            .finish()
    }
}

impl RepoCreds {
    /// Reads a Secret's decoded `data` (`template` for `repo-creds`).
    /// None when it names no URL.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>, template: bool) -> Option<RepoCreds> {
        let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(v).trim().to_string()).filter(|s| !s.is_empty());
        let flag = |k: &str| text(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Some(RepoCreds {
            url: text("url")?,
            type_: text("type").unwrap_or_default(),
            name: text("name").unwrap_or_default(),
            template,
            username: text("username"),
            // A password may legitimately end in spaces: keep it as written.
            password: data.get("password").map(|v| String::from_utf8_lossy(v).into_owned()).filter(|s| !s.is_empty()),
            enable_oci: flag("enableOCI"),
            tls_client_cert_data: text("tlsClientCertData"),
            tls_client_cert_key: text("tlsClientCertKey"),
            insecure: flag("insecure"),
            insecure_oci_force_http: flag("insecureOCIForceHttp"),
        })
    }
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
}
