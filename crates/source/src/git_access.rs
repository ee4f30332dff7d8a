//! How git is handed a repository's credentials without showing them
//! anywhere: not in its arguments (`ps`), not in a file that outlives the
//! command, not in a message.
//!
//! - HTTPS: `GIT_ASKPASS` is the driftless executable ([`crate::git_helper`]),
//!   which answers only prompts for the credential's own origin
//!   (`scheme://host:port`), reading the values from its environment,
//!   which only git and its children get. A redirect to another host makes
//!   git prompt for that host: nothing is answered. Without credentials it
//!   answers nothing at all.
//!   `forceHttpBasicAuth` sends the header from the first request
//!   (`http.<url>.extraHeader`). git sends such a header with every request
//!   of the command, also to the host a redirect named, so redirects are
//!   then not followed at all: a clear error instead of a leaked password.
//! - SSH: `GIT_SSH_COMMAND` is the driftless executable too, which runs
//!   `ssh` with the key in a 0600 file of that directory,
//!   `argocd-ssh-known-hosts-cm` as the only known hosts and strict host
//!   key checking (`insecure` turns it off), batch mode. No shell is
//!   involved: git runs a command without shell metacharacters itself.
//! - TLS: the host's CA from `argocd-tls-certs-cm`, the client certificate
//!   and key as files (`GIT_SSL_CAINFO`, `GIT_SSL_CERT`, `GIT_SSL_KEY`);
//!   no verification (`GIT_SSL_NO_VERIFY`) only with `insecure`.
//! - Settings go through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`.
//!
//! The directory is removed when the command is done.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;

use crate::git_helper;
use crate::repo_creds::{RepoCreds, authority, scrub_userinfo};

/// What git needs to reach one repository.
#[derive(Clone, Debug, Default)]
pub struct GitAccess {
    /// The repository's credentials (its Secret, or the template whose prefix matches).
    pub creds: Option<RepoCreds>,
    /// The PEM CA bundle for its host.
    pub ca_pem: Option<String>,
    /// Known SSH host keys (OpenSSH's `known_hosts` format).
    pub known_hosts: String,
}

/// The environment of one git command, and the directory its files live in
/// (removed on drop).
pub(crate) struct Prepared {
    _dir: tempfile::TempDir,
    pub(crate) env: Vec<(String, String)>,
    /// Values to cut out of anything git prints.
    secrets: Vec<String>,
    /// Redirects are refused (`forceHttpBasicAuth`): a redirect is explained.
    redirects_refused: bool,
}

/// Whether `url` is reached over SSH (`ssh://…` or scp-like `user@host:path`).
pub(crate) fn is_ssh(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, _)) => scheme.eq_ignore_ascii_case("ssh") || scheme.eq_ignore_ascii_case("git+ssh"),
        None => url.split_once(':').is_some_and(|(host, _)| !host.contains('/')),
    }
}

/// `scheme://host[:port]` as git names it in prompts.
fn origin(url: &str) -> String {
    let scheme = url.split_once("://").map_or("https", |(s, _)| s).to_ascii_lowercase();
    format!("{scheme}://{}", authority(url))
}

impl GitAccess {
    /// Writes what git needs for `url` into a private directory under
    /// `parent` and says how to point git at it. `token` is a GitHub App's
    /// installation token, the password then.
    pub(crate) fn prepare(&self, url: &str, parent: &Path, token: Option<String>) -> std::io::Result<Prepared> {
        std::fs::create_dir_all(parent)?;
        let dir = tempfile::Builder::new().prefix(".access-").permissions(std::fs::Permissions::from_mode(0o700)).tempdir_in(parent)?;
        let mut p = Prepared { env: Vec::new(), secrets: Vec::new(), redirects_refused: false, _dir: dir };
        let mut config: Vec<(String, String)> = Vec::new();
        p.env.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
        p.env.push(("GIT_CONFIG_NOSYSTEM".into(), "1".into()));
        let creds = self.creds.as_ref();
        if let Some(c) = creds {
            p.secrets.extend(c.secrets().map(str::to_string));
        }
        if let Some(t) = &token {
            p.secrets.push(t.clone());
        }
        let dir = p._dir.path().to_path_buf();
        if is_ssh(url) {
            let known_hosts = write_private(&dir, "known_hosts", &self.known_hosts)?;
            let mut ssh =
                vec!["-F".to_string(), "/dev/null".into(), "-o".into(), "BatchMode=yes".into(), "-o".into(), "IdentitiesOnly=yes".into()];
            if creds.is_some_and(|c| c.insecure) {
                ssh.extend(["-o".into(), "StrictHostKeyChecking=no".into(), "-o".into(), "UserKnownHostsFile=/dev/null".into()]);
            } else {
                ssh.extend(["-o".into(), "StrictHostKeyChecking=yes".into(), "-o".into(), format!("UserKnownHostsFile={}", known_hosts)]);
            }
            if let Some(key) = creds.and_then(|c| c.ssh_private_key.as_deref()) {
                // ssh refuses a key without its final newline.
                let key = if key.ends_with('\n') { key.to_string() } else { format!("{key}\n") };
                ssh.extend(["-i".into(), write_private(&dir, "id", &key)?]);
            }
            // The command git runs wins over any core.sshCommand.
            p.env.push(("GIT_SSH_COMMAND".into(), ssh_command(git_helper::program())));
            p.env.push(("GIT_SSH_VARIANT".into(), "ssh".into()));
            p.env.push((git_helper::SSH_OPTIONS.into(), serde_json::Value::from(ssh).to_string()));
        } else {
            let password = token.clone().or_else(|| creds.and_then(|c| c.password.clone()));
            let username = match &token {
                Some(_) => Some("x-access-token".to_string()),
                None => creds.and_then(|c| c.username.clone()),
            };
            if username.is_some() || password.is_some() {
                let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
                p.env.extend(askpass(origin(url)));
                if creds.is_some_and(|c| c.force_http_basic_auth) {
                    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                    p.secrets.push(basic.clone());
                    config.push((format!("http.{url}.extraHeader"), format!("Authorization: Basic {basic}")));
                    p.redirects_refused = true;
                }
                p.env.push((git_helper::ASKPASS_USERNAME.into(), username));
                p.env.push((git_helper::ASKPASS_PASSWORD.into(), password));
            }
            // git's GIT_SSL_* variables win over its config: a CA bundle
            // set in the environment (as CI images do) would hide the host's.
            if let Some(ca) = &self.ca_pem {
                p.env.push(("GIT_SSL_CAINFO".into(), write_private(&dir, "ca.pem", ca)?));
            }
            if let Some(c) = creds {
                if let (Some(cert), Some(key)) = (&c.tls_client_cert_data, &c.tls_client_cert_key) {
                    p.env.push(("GIT_SSL_CERT".into(), write_private(&dir, "client.crt", cert)?));
                    p.env.push(("GIT_SSL_KEY".into(), write_private(&dir, "client.key", key)?));
                }
                if c.insecure {
                    p.env.push(("GIT_SSL_NO_VERIFY".into(), "1".into()));
                }
            }
        }
        if let Some(c) = creds {
            if let Some(proxy) = &c.proxy {
                config.push(("http.proxy".into(), proxy.clone()));
            }
            if let Some(no_proxy) = &c.no_proxy {
                p.env.push(("NO_PROXY".into(), no_proxy.clone()));
                p.env.push(("no_proxy".into(), no_proxy.clone()));
            }
        }
        // With forceHttpBasicAuth no redirect at all (git would send the
        // header to the new host too). Else only the first request may be
        // redirected (git's default, kept whatever a config file says) and
        // the askpass decides whether the new host gets anything.
        config.push(("http.followRedirects".into(), if p.redirects_refused { "false" } else { "initial" }.into()));
        if !p.env.iter().any(|(k, _)| k == "GIT_ASKPASS") {
            p.env.extend(askpass(String::new()));
        }
        p.env.push(("GIT_CONFIG_COUNT".into(), config.len().to_string()));
        for (i, (k, v)) in config.into_iter().enumerate() {
            p.env.push((format!("GIT_CONFIG_KEY_{i}"), k));
            p.env.push((format!("GIT_CONFIG_VALUE_{i}"), v));
        }
        Ok(p)
    }
}

impl Prepared {
    /// `text` (what git printed) without any secret or URL user info, and
    /// with a hint when SSH refused the host key.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = scrub(text, self.secrets.iter().map(String::as_str));
        if self.redirects_refused && is_redirect(&out) {
            out.push_str(
                " (the server redirected: with forceHttpBasicAuth the credentials would go along, so redirects are not followed; register the URL it redirects to)",
            );
        }
        out
    }
}

/// Whether git says the server answered with a redirect it did not follow.
fn is_redirect(text: &str) -> bool {
    (300..400).any(|code| text.contains(&format!("returned error: {code}")))
}

/// `text` without the `secrets` and without URL user info.
pub(crate) fn scrub<'a>(text: &str, secrets: impl Iterator<Item = &'a str>) -> String {
    let mut out = scrub_userinfo(text);
    for s in secrets {
        // Each line of a key too: a tool may quote one.
        for piece in std::iter::once(s).chain(s.lines()).map(str::trim).filter(|p| p.len() >= 4) {
            out = out.replace(piece, "***");
        }
    }
    if out.contains("Host key verification failed") {
        out.push_str(" (the repository host's SSH key is not in argocd-ssh-known-hosts-cm, or it changed: add the host's key there)");
    }
    out
}

/// Writes `content` to `dir/name`, readable by the owner only; the path.
fn write_private(dir: &Path, name: &str, content: &str) -> std::io::Result<String> {
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    f.write_all(content.as_bytes())?;
    Ok(path.to_string_lossy().into_owned())
}

/// `GIT_ASKPASS` answering prompts for `origin` only; an empty one answers
/// none (no credentials, or a command that should never ask).
pub(crate) fn askpass(origin: String) -> [(String, String); 2] {
    [("GIT_ASKPASS".into(), git_helper::program().to_string_lossy().into_owned()), (git_helper::ASKPASS_ORIGIN.into(), origin)]
}

/// `GIT_SSH_COMMAND` running `program`: git runs a command free of shell
/// metacharacters itself (an image has no shell), any other through `sh`.
fn ssh_command(program: &Path) -> String {
    let program = program.to_string_lossy();
    if program.contains(|c| "|&;<>()$`\\\"' \t\n*?[#~=%".contains(c)) {
        format!("'{}'", program.replace('\'', r"'\''"))
    } else {
        program.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(p: &'a Prepared, name: &str) -> Option<&'a str> {
        p.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn https_credentials_go_to_the_askpass_helper_for_their_origin_only() {
        let creds = RepoCreds { username: Some("me@corp".into()), password: Some("pa ss'word".into()), ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let a = GitAccess { creds: Some(creds), ..Default::default() };
        let p = a.prepare("https://git.example:8443/org/repo.git", dir.path(), None).unwrap();
        assert_eq!(env(&p, "GIT_ASKPASS"), Some(&*git_helper::program().to_string_lossy()));
        assert_eq!(env(&p, git_helper::ASKPASS_ORIGIN), Some("https://git.example:8443"));
        assert_eq!(env(&p, git_helper::ASKPASS_USERNAME), Some("me@corp"));
        assert!(p.env.iter().all(|(k, v)| k == git_helper::ASKPASS_PASSWORD || !v.contains("pa ss'word")));
        let files = p._dir.path().to_path_buf();
        assert_eq!(std::fs::metadata(&files).unwrap().permissions().mode() & 0o777, 0o700);
        drop(p);
        assert!(!files.exists(), "nothing left on disk");

        // No credentials: the helper still answers every prompt, with nothing.
        let p = GitAccess::default().prepare("https://git.example/r.git", dir.path(), None).unwrap();
        assert_eq!(env(&p, git_helper::ASKPASS_ORIGIN), Some(""));
        assert_eq!(env(&p, "GIT_ASKPASS"), Some(&*git_helper::program().to_string_lossy()));
    }

    /// The `GIT_CONFIG_*` settings, in order.
    fn config(p: &Prepared) -> Vec<(String, String)> {
        let n: usize = env(p, "GIT_CONFIG_COUNT").unwrap().parse().unwrap();
        (0..n)
            .map(|i| (env(p, &format!("GIT_CONFIG_KEY_{i}")).unwrap().into(), env(p, &format!("GIT_CONFIG_VALUE_{i}")).unwrap().into()))
            .collect()
    }

    #[test]
    fn force_http_basic_auth_follows_no_redirect_and_says_so() {
        let creds = RepoCreds { username: Some("u".into()), password: Some("pw-value".into()), ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let url = "https://git.example/r.git";
        let asked = GitAccess { creds: Some(creds.clone()), ..Default::default() }.prepare(url, dir.path(), None).unwrap();
        assert_eq!(config(&asked), [("http.followRedirects".to_string(), "initial".to_string())]);
        let forced = RepoCreds { force_http_basic_auth: true, ..creds };
        let p = GitAccess { creds: Some(forced), ..Default::default() }.prepare(url, dir.path(), None).unwrap();
        let settings = config(&p);
        assert!(settings.iter().any(|(k, v)| k == "http.https://git.example/r.git.extraHeader" && v.starts_with("Authorization: Basic ")));
        assert_eq!(settings.last().unwrap(), &("http.followRedirects".to_string(), "false".to_string()));
        let said = p.scrub("fatal: unable to access 'https://git.example/r.git/': The requested URL returned error: 302");
        assert!(said.contains("forceHttpBasicAuth") && said.contains("redirect"), "{said}");
        assert!(!asked.scrub("The requested URL returned error: 302").contains("forceHttpBasicAuth"));
    }

    #[test]
    fn ssh_gets_strict_host_keys_and_a_private_key_file() {
        let creds = RepoCreds {
            ssh_private_key: Some("-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----".into()),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let a = GitAccess { creds: Some(creds), known_hosts: "host ssh-ed25519 AAAA".into(), ..Default::default() };
        let p = a.prepare("git@host:org/repo.git", dir.path(), None).unwrap();
        assert_eq!(env(&p, "GIT_SSH_COMMAND"), Some(&*git_helper::program().to_string_lossy()), "no shell needed");
        let options: Vec<String> = serde_json::from_str(env(&p, git_helper::SSH_OPTIONS).unwrap()).unwrap();
        let key = p._dir.path().join("id");
        for wanted in ["StrictHostKeyChecking=yes", "BatchMode=yes", "IdentitiesOnly=yes", &*key.to_string_lossy()] {
            assert!(options.iter().any(|o| o == wanted), "{wanted} missing from {options:?}");
        }
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(p.env.iter().all(|(_, v)| !v.contains("OPENSSH PRIVATE KEY")), "the key itself is never in the environment");
        assert!(is_ssh("ssh://git@h/r") && is_ssh("git@h:r") && !is_ssh("https://h/r") && !is_ssh("/srv/r"));
    }

    #[test]
    fn a_helper_path_with_shell_metacharacters_is_quoted_for_sh() {
        assert_eq!(ssh_command(Path::new("/usr/local/bin/driftless")), "/usr/local/bin/driftless");
        assert_eq!(ssh_command(Path::new("/opt/my tools/it's")), r"'/opt/my tools/it'\''s'");
    }

    #[test]
    fn scrubbing_removes_secrets_and_userinfo_and_explains_host_keys() {
        let out = scrub("fatal: https://u:pw@h/x: token abcd1234 refused\nHost key verification failed.", ["abcd1234"].into_iter());
        assert!(!out.contains("abcd1234") && !out.contains("pw@") && out.contains("argocd-ssh-known-hosts-cm"), "{out}");
    }
}
