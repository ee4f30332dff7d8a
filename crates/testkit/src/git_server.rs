//! Git servers on 127.0.0.1 for tests of private repositories: Git's own
//! `git-http-backend` behind a small HTTP(S) server with basic auth, and
//! Debian's `sshd` with `git-shell` (see [`SshGitServer`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// A test CA and a server certificate it signed for 127.0.0.1 (a clone
/// serves the same certificate).
#[derive(Clone)]
pub struct TestCa {
    /// The CA certificate, PEM: what `argocd-tls-certs-cm` holds for 127.0.0.1.
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A fresh CA and server certificate.
    pub fn new() -> TestCa {
        TestCa::build(false).0
    }

    /// A fresh CA whose server accepts only clients with a certificate it
    /// signed; that client's certificate and key (PEM): a repository
    /// Secret's `tlsClientCertData` and `tlsClientCertKey`.
    pub fn requiring_client_certificates() -> (TestCa, String, String) {
        let (ca, client) = TestCa::build(true);
        let (cert, key) = client.expect("a client certificate");
        (ca, cert, key)
    }

    fn build(client_auth: bool) -> (TestCa, Option<(String, String)>) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // OpenSSL takes a certificate whose subject is its issuer's for self-signed.
        ca_params.distinguished_name.push(DnType::CommonName, "driftless test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, &ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let builder =
            rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().expect("TLS versions");
        let (builder, client) = if client_auth {
            let client_key = KeyPair::generate().expect("client key");
            let mut client_params = CertificateParams::new(vec!["driftless".to_string()]).expect("client params");
            client_params.distinguished_name.push(DnType::CommonName, "driftless");
            client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let client = client_params.signed_by(&client_key, &issuer).expect("client certificate");
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der().clone()).expect("CA as a root");
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("client verifier");
            (builder.with_client_cert_verifier(verifier), Some((client.pem(), client_key.serialize_pem())))
        } else {
            (builder.with_no_client_auth(), None)
        };
        let config = builder.with_single_cert(vec![cert.der().clone()], der).expect("server config");
        (TestCa { ca_pem: ca.pem(), config: Arc::new(config) }, client)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// What a [`GitHttpServer`] does.
#[derive(Default)]
pub struct GitHttpOptions {
    /// Basic auth every request must carry (None: anyone may read).
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with this CA's certificate.
    pub tls: Option<TestCa>,
    /// Answer every authorized request with a redirect to this base URL
    /// (another server), path and query kept.
    pub redirect_to: Option<String>,
}

struct Shared {
    root: PathBuf,
    auth: Mutex<Option<(String, String)>>,
    redirect_to: Option<String>,
    authorizations: Mutex<Vec<Option<String>>>,
}

/// Git over smart HTTP(S) on 127.0.0.1, through `git-http-backend` as CGI.
/// Stops with the test process.
pub struct GitHttpServer {
    base: String,
    shared: Arc<Shared>,
    _root: tempfile::TempDir,
}

impl GitHttpServer {
    /// Starts a server with `options`.
    pub fn start(options: GitHttpOptions) -> GitHttpServer {
        let root = tempfile::tempdir().expect("server root");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let scheme = if options.tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            root: root.path().to_path_buf(),
            auth: Mutex::new(options.basic_auth),
            redirect_to: options.redirect_to,
            authorizations: Mutex::default(),
        });
        let (tls, s) = (options.tls.map(|t| t.config), shared.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (tls, s) = (tls.clone(), s.clone());
                std::thread::spawn(move || match tls {
                    Some(config) => {
                        let Ok(server) = rustls::ServerConnection::new(config) else { return };
                        serve(&mut rustls::StreamOwned::new(server, conn), &s);
                    }
                    None => serve(&mut { conn }, &s),
                });
            }
        });
        GitHttpServer { base: format!("{scheme}://127.0.0.1:{port}"), shared, _root: root }
    }

    /// Serves `repo` (a working tree or bare repository) as `name`; its URL.
    pub fn serve(&self, name: &str, repo: &Path) -> String {
        std::os::unix::fs::symlink(repo, self.shared.root.join(name)).expect("link the repository");
        self.url(name)
    }

    /// The URL `name` has on this server (served or not).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// `scheme://127.0.0.1:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Changes the password (a rotation).
    pub fn set_basic_auth(&self, user: &str, password: &str) {
        *self.shared.auth.lock().unwrap() = Some((user.into(), password.into()));
    }

    /// The Authorization header of every request received, in order (None
    /// for a request without one).
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.shared.authorizations.lock().unwrap().clone()
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Answers one request, then closes the connection.
fn serve(s: &mut dyn ReadWrite, shared: &Shared) {
    let mut reader = BufReader::new(&mut *s);
    let mut request = String::new();
    if reader.read_line(&mut request).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            if n == 0 || reader.read_exact(&mut chunk).is_err() {
                let _ = reader.read_line(&mut String::new());
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
    }
    drop(reader);
    let authorization = header("authorization");
    shared.authorizations.lock().unwrap().push(authorization.clone());
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("GET").to_string(), parts.next().unwrap_or("/").to_string());
    let expected = shared
        .auth
        .lock()
        .unwrap()
        .as_ref()
        .map(|(u, p)| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))));
    if expected.is_some() && authorization != expected {
        let _ = write!(
            s,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    if let Some(to) = &shared.redirect_to {
        let _ = write!(s, "HTTP/1.1 302 Found\r\nLocation: {to}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let backend = Path::new(&git_exec_path()).join("git-http-backend");
    let mut cmd = Command::new(backend);
    cmd.env_clear()
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (h, env) in [("content-type", "CONTENT_TYPE"), ("content-encoding", "HTTP_CONTENT_ENCODING"), ("git-protocol", "GIT_PROTOCOL")] {
        if let Some(v) = header(h) {
            cmd.env(env, v);
        }
    }
    let Ok(mut child) = cmd.spawn() else { return };
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().map(|o| o.stdout).unwrap_or_default();
    let _ = writer.join();
    // CGI: headers, a blank line, the body; `Status:` sets the status.
    let split =
        out.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4)).or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else { return };
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let content = &out[end + sep..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => response.push_str(&format!("{line}\r\n")),
            None => {}
        }
    }
    let _ = write!(s, "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n", content.len());
    let _ = s.write_all(content);
    let _ = s.flush();
}

fn git_exec_path() -> String {
    let out = Command::new("git").arg("--exec-path").output().expect("git is on PATH");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Debian's `sshd` on a loopback port, as the current user, with its own
/// host key; logins with the test key run `git-shell` only. Stopped on drop.
pub struct SshGitServer {
    port: u16,
    child: std::process::Child,
    /// The client's private key (OpenSSH PEM): a repository Secret's `sshPrivateKey`.
    pub client_key: String,
    /// The `known_hosts` line of this server: `argocd-ssh-known-hosts-cm`.
    pub known_hosts: String,
    user: String,
    _dir: tempfile::TempDir,
}

impl SshGitServer {
    /// Starts sshd. Needs `openssh-server` (`/usr/sbin/sshd`) and `ssh-keygen`.
    pub fn start() -> SshGitServer {
        let dir = tempfile::tempdir().expect("sshd dir");
        let d = dir.path();
        let keygen = |file: &str| {
            let ok =
                Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "driftless-test", "-f"]).arg(d.join(file)).status();
            assert!(ok.is_ok_and(|s| s.success()), "ssh-keygen failed");
        };
        keygen("host_key");
        keygen("client_key");
        let client_pub = std::fs::read_to_string(d.join("client_key.pub")).expect("client key");
        std::fs::write(d.join("authorized_keys"), format!("restrict,command=\"git-shell -c \\\"$SSH_ORIGINAL_COMMAND\\\"\" {client_pub}"))
            .expect("authorized_keys");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nLogLevel ERROR\n",
            hk = d.join("host_key").display(),
            dir = d.display(),
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        // Run as root, sshd wants its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/sshd (install openssh-server)");
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let host_key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let user = String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout).trim().to_string();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        SshGitServer {
            port,
            child,
            client_key: std::fs::read_to_string(d.join("client_key")).expect("client key"),
            known_hosts: format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
            user,
            _dir: dir,
        }
    }

    /// The `ssh://` URL of the repository at `path` on this machine.
    pub fn url(&self, path: &Path) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.user, self.port, path.display())
    }
}

impl Drop for SshGitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
