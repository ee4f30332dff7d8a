//! Git with credentials against real servers on 127.0.0.1: smart HTTP(S)
//! through git-http-backend, and sshd with git-shell.

use std::collections::BTreeMap;

use driftless_source::{GitAccess, GitCache, RepoCreds, RepoSettings, SourceError};
use driftless_testkit::{GitHttpOptions, GitHttpServer, GitRepo, SshGitServer, TestCa};

const PASSWORD: &str = "s3cret-token-value";

fn repo() -> (GitRepo, String) {
    let r = GitRepo::new();
    r.write("a.yaml", "kind: ConfigMap\n");
    let sha = r.commit("one");
    (r, sha)
}

fn creds(url: &str, pairs: &[(&str, &str)]) -> RepoCreds {
    let mut data: BTreeMap<String, Vec<u8>> = pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
    data.insert("url".into(), url.as_bytes().to_vec());
    RepoCreds::from_secret_data(&data, false).unwrap()
}

/// A cache whose git runs this package's helper binary as its askpass and
/// ssh (a test binary is no such program).
fn git_cache(root: &std::path::Path) -> GitCache {
    let _ = driftless_source::git_helper::set_program(env!("CARGO_BIN_EXE_git-helper"));
    GitCache::new(root)
}

fn access(c: RepoCreds) -> GitAccess {
    GitAccess { creds: Some(c), ..Default::default() }
}

fn basic() -> GitHttpOptions {
    GitHttpOptions { basic_auth: Some(("git".into(), PASSWORD.into())), ..Default::default() }
}

/// Nothing the cache leaves on disk holds the secret.
fn assert_not_on_disk(dir: &std::path::Path, secret: &str) {
    for entry in walk(dir) {
        if let Ok(bytes) = std::fs::read(&entry) {
            assert!(!String::from_utf8_lossy(&bytes).contains(secret), "{} holds the secret", entry.display());
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test]
async fn https_with_a_password_fetches_and_a_wrong_one_is_a_clear_error_without_it() {
    let (r, sha) = repo();
    let server = GitHttpServer::start(basic());
    let url = server.serve("app.git", r.path());
    let cache = tempfile::tempdir().unwrap();
    let git = git_cache(cache.path());

    let err = git.fetch(&url, "main", &GitAccess::default()).await.unwrap_err();
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err}");

    let good = access(creds(&url, &[("username", "git"), ("password", PASSWORD)]));
    assert_eq!(git.fetch(&url, "main", &good).await.unwrap().revision, sha);
    assert_not_on_disk(cache.path(), PASSWORD);

    let wrong = access(creds(&url, &[("username", "git"), ("password", "not-the-password")]));
    let other_cache = tempfile::tempdir().unwrap();
    let err = git_cache(other_cache.path()).fetch(&url, "main", &wrong).await.unwrap_err().to_string();
    assert!(err.contains("Authentication failed") || err.contains("401"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    // A URL with user info in it is shown without it.
    let with_userinfo = url.replace("://", "://git:hunter22@");
    let err = git_cache(other_cache.path()).fetch(&with_userinfo, "main", &GitAccess::default()).await.unwrap_err().to_string();
    assert!(!err.contains("hunter22"), "{err}");
}

#[tokio::test]
async fn force_http_basic_auth_sends_the_credentials_with_the_first_request() {
    let (r, sha) = repo();
    let server = GitHttpServer::start(basic());
    let url = server.serve("app.git", r.path());
    let cache = tempfile::tempdir().unwrap();
    let a = access(creds(&url, &[("username", "git"), ("password", PASSWORD), ("forceHttpBasicAuth", "true")]));
    assert_eq!(git_cache(cache.path()).fetch(&url, "main", &a).await.unwrap().revision, sha);
    assert!(server.authorizations()[0].is_some(), "the first request carried the credentials");
}

/// The repository's server redirects to another (another port of
/// 127.0.0.1: curl and git judge an origin by scheme, host and port), over
/// HTTP and HTTPS, with the credentials given on a challenge or with
/// `forceHttpBasicAuth`, to a host that asks for credentials itself or to
/// an open one (as a hostile host would be, serving what git asks next):
/// the other host never receives them.
#[tokio::test]
async fn a_redirect_to_another_host_gets_no_credentials() {
    use base64::Engine as _;
    let (r, sha) = repo();
    let basic_header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("git:{PASSWORD}")));
    for https in [false, true] {
        for force in [false, true] {
            for open in [false, true] {
                let case = format!("https: {https}, forceHttpBasicAuth: {force}, open other host: {open}");
                // One CA for both: git trusts the CA of the URL it was given.
                let ca = TestCa::new();
                let tls_certs = [("127.0.0.1".to_string(), ca.ca_pem.clone())].into();
                let auth = if open { None } else { basic().basic_auth };
                let other = GitHttpServer::start(GitHttpOptions { basic_auth: auth, tls: https.then(|| ca.clone()), ..Default::default() });
                other.serve("app.git", r.path());
                let redirect_to = Some(other.base().to_string());
                let server = GitHttpServer::start(GitHttpOptions { redirect_to, tls: https.then_some(ca), ..basic() });
                let url = server.url("app.git");
                let force_value = if force { "true" } else { "false" };
                let c = creds(&url, &[("username", "git"), ("password", PASSWORD), ("forceHttpBasicAuth", force_value)]);
                let settings = RepoSettings { creds: vec![c], tls_certs, ..Default::default() };
                let cache = tempfile::tempdir().unwrap();
                let fetched = git_cache(cache.path()).fetch(&url, "main", &settings.git_access(&url)).await;
                assert!(server.authorizations().contains(&Some(basic_header.clone())), "{case}: the repository's own host got them");
                let seen = other.authorizations();
                assert!(seen.iter().all(Option::is_none), "{case}: the other host got credentials: {seen:?}");
                match fetched {
                    // An open host serves git without credentials.
                    Ok(f) => assert!(open && !force && f.revision == sha, "{case}: fetched"),
                    Err(e) => {
                        let err = e.to_string();
                        assert!(!err.contains(PASSWORD) && !err.contains(&basic_header[6..]), "{case}: {err}");
                        if force {
                            assert!(err.contains("redirect") && err.contains("forceHttpBasicAuth"), "{case}: says why: {err}");
                        } else {
                            assert!(!seen.is_empty(), "{case}: git followed the redirect: {err}");
                        }
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn https_with_a_private_ca_from_the_tls_certs_configmap() {
    let (r, sha) = repo();
    let ca = TestCa::new();
    let ca_pem = ca.ca_pem.clone();
    let server = GitHttpServer::start(GitHttpOptions { tls: Some(ca), ..basic() });
    let url = server.serve("app.git", r.path());
    let c = creds(&url, &[("username", "git"), ("password", PASSWORD)]);
    let cache = tempfile::tempdir().unwrap();

    let err = git_cache(cache.path()).fetch(&url, "main", &access(c.clone())).await.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let settings = RepoSettings { creds: vec![c], tls_certs: [("127.0.0.1".to_string(), ca_pem)].into(), ..Default::default() };
    assert_eq!(git_cache(cache.path()).fetch(&url, "main", &settings.git_access(&url)).await.unwrap().revision, sha);
}

#[tokio::test]
async fn https_with_a_tls_client_certificate() {
    let (r, sha) = repo();
    let (ca, cert, key) = TestCa::requiring_client_certificates();
    let tls_certs: BTreeMap<String, String> = [("127.0.0.1".to_string(), ca.ca_pem.clone())].into();
    let server = GitHttpServer::start(GitHttpOptions { tls: Some(ca), ..Default::default() });
    let url = server.serve("app.git", r.path());
    let cache = tempfile::tempdir().unwrap();

    let without = RepoSettings { creds: vec![creds(&url, &[])], tls_certs: tls_certs.clone(), ..Default::default() };
    let err = git_cache(cache.path()).fetch(&url, "main", &without.git_access(&url)).await.unwrap_err();
    assert!(matches!(err, SourceError::Unreachable { .. }), "refused without a certificate: {err}");

    let with = creds(&url, &[("tlsClientCertData", &cert), ("tlsClientCertKey", &key)]);
    let settings = RepoSettings { creds: vec![with], tls_certs, ..Default::default() };
    assert_eq!(git_cache(cache.path()).fetch(&url, "main", &settings.git_access(&url)).await.unwrap().revision, sha);
    assert_not_on_disk(cache.path(), key.lines().nth(1).unwrap());
}

#[tokio::test]
async fn ssh_with_a_key_and_known_hosts_and_an_unknown_host_key_refused() {
    let (r, sha) = repo();
    let server = SshGitServer::start();
    let url = server.url(r.path());
    let key_creds = creds(&url, &[("sshPrivateKey", &server.client_key)]);
    let cache = tempfile::tempdir().unwrap();

    let unknown = GitAccess { creds: Some(key_creds.clone()), ..Default::default() };
    let err = git_cache(cache.path()).fetch(&url, "main", &unknown).await.unwrap_err().to_string();
    assert!(err.contains("Host key verification failed") && err.contains("argocd-ssh-known-hosts-cm"), "{err}");

    let known = GitAccess { creds: Some(key_creds), known_hosts: server.known_hosts.clone(), ..Default::default() };
    assert_eq!(git_cache(cache.path()).fetch(&url, "main", &known).await.unwrap().revision, sha);
    let key_line = server.client_key.lines().nth(1).unwrap();
    assert_not_on_disk(cache.path(), key_line);
}

#[tokio::test]
async fn lfs_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let url = "https://git.example/repo.git";
    let a = access(creds(url, &[("enableLfs", "true")]));
    let err = git_cache(cache.path()).fetch(url, "main", &a).await.unwrap_err().to_string();
    assert!(err.contains("Git LFS is not supported"), "{err}");
}

/// Each request's first line and Authorization header.
type Requests = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A fake GitHub API on 127.0.0.1: answers every request with an
/// installation token and records the Authorization headers.
fn fake_github(token: &'static str) -> (String, Requests) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/api/v3", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("authorization: ").or_else(|| line.strip_prefix("Authorization: ")) {
                    auth = v.trim().to_string();
                }
            }
            record.lock().unwrap().push((request.trim().to_string(), auth));
            let body = format!(r#"{{"token":"{token}","expires_at":"2999-01-01T00:00:00Z"}}"#);
            let _ = write!(
                conn,
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

#[tokio::test]
async fn a_github_app_mints_an_installation_token_once_and_fetches_with_it() {
    use base64::Engine as _;
    const TOKEN: &str = "ghs_installation-token-value";
    let keys = tempfile::tempdir().unwrap();
    let key_path = keys.path().join("app");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"])
        .arg(&key_path)
        .status();
    assert!(ok.unwrap().success());
    let private_key = std::fs::read_to_string(&key_path).unwrap();
    let public =
        std::process::Command::new("ssh-keygen").args(["-e", "-m", "PEM", "-f"]).arg(key_path.with_extension("pub")).output().unwrap();
    let public = String::from_utf8(public.stdout).unwrap();

    let (r, sha) = repo();
    let server = GitHttpServer::start(GitHttpOptions { basic_auth: Some(("x-access-token".into(), TOKEN.into())), ..Default::default() });
    let url = server.serve("app.git", r.path());
    let (api, seen) = fake_github(TOKEN);
    let c = creds(
        &url,
        &[
            ("githubAppID", "123"),
            ("githubAppInstallationID", "456"),
            ("githubAppPrivateKey", &private_key),
            ("githubAppEnterpriseBaseUrl", &api),
        ],
    );
    let cache = tempfile::tempdir().unwrap();
    let git = git_cache(cache.path());
    assert_eq!(git.fetch(&url, "main", &access(c.clone())).await.unwrap().revision, sha);
    assert_eq!(git.fetch(&url, "main", &access(c)).await.unwrap().revision, sha);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one token for both fetches: {seen:?}");
    assert_eq!(seen[0].0, "POST /api/v3/app/installations/456/access_tokens HTTP/1.1");
    // The JWT is signed with the app's key and names the app.
    let jwt = seen[0].1.strip_prefix("Bearer ").unwrap();
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body: String = public.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, der)
        .verify(signed.as_bytes(), &b64.decode(sig).unwrap())
        .expect("an RS256 signature by the app's key");
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(signed.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["iss"], "123");
    assert_not_on_disk(cache.path(), TOKEN);
}
