//! A real Gitea on 127.0.0.1 (scripts/tools/gitea.sh builds it into
//! target/tools/bin): SQLite, offline, no mailer, installed and locked, an
//! admin user with an API token, and helpers that make organizations,
//! repositories, branches, files, labels and pull requests through its REST
//! API, for the ApplicationSet SCM provider and pull request generators.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The admin user every [`Gitea`] has.
pub const GITEA_ADMIN: &str = "driftless";

/// A running Gitea. Dropping it stops the server and deletes its data; the
/// one of [`Gitea::shared`] stops when the test process exits.
pub struct Gitea {
    base: String,
    token: String,
    /// The `gitea web` wrapper: it stops Gitea and deletes the work dir when
    /// its stdin closes (this process exited, or the value was dropped).
    lifeline: Mutex<Option<(Child, ChildStdin)>>,
    agent: ureq::Agent,
}

impl Gitea {
    /// The Gitea shared by every test of this binary, started on first use.
    pub fn shared() -> &'static Gitea {
        static SHARED: OnceLock<Gitea> = OnceLock::new();
        SHARED.get_or_init(Gitea::start)
    }

    /// Starts a Gitea of its own. Panics, naming `make tools`, when `gitea`
    /// is not on PATH.
    pub fn start() -> Gitea {
        let found = Command::new("gitea").arg("--version").output().is_ok_and(|o| o.status.success());
        assert!(found, "gitea is not on PATH: run `make tools` (scripts/tools/gitea.sh) and add target/tools/bin to PATH");
        // Kept past this function: the wrapper deletes it after Gitea exits.
        let dir = tempfile::Builder::new().prefix("driftless-gitea-").tempdir().expect("gitea work dir").keep();
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let config = dir.join("app.ini");
        std::fs::write(&config, app_ini(&dir, port)).expect("write app.ini");
        let cli = |args: &[&str]| -> String {
            let out =
                Command::new("gitea").args(args).arg("--config").arg(&config).arg("--work-path").arg(&dir).output().expect("run gitea");
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            assert!(out.status.success(), "gitea {args:?} failed:\n{}{}", text(&out.stdout), text(&out.stderr));
            text(&out.stdout)
        };
        cli(&["migrate"]);
        cli(&[
            "admin",
            "user",
            "create",
            "--username",
            GITEA_ADMIN,
            "--password",
            "driftless-test-password",
            "--email",
            "driftless@example.invalid",
            "--admin",
            "--must-change-password=false",
        ]);
        let token = cli(&[
            "admin",
            "user",
            "generate-access-token",
            "--username",
            GITEA_ADMIN,
            "--token-name",
            "tests",
            "--scopes",
            "all",
            "--raw",
        ]);
        let token = token.lines().last().unwrap_or_default().trim().to_string();
        assert_eq!(token.len(), 40, "gitea printed no access token");

        let log = std::fs::File::create(dir.join("web.log")).expect("web.log");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"gitea web --config "$1/app.ini" --work-path "$1" & pid=$!; cat >/dev/null; kill $pid; wait $pid; rm -rf "$1""#)
            .arg("gitea-lifeline")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start gitea web");
        let stdin = child.stdin.take().expect("stdin is piped");
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into();
        let gitea = Gitea { base: format!("http://127.0.0.1:{port}"), token, lifeline: Mutex::new(Some((child, stdin))), agent };
        for _ in 0..600 {
            if gitea.agent.get(format!("{}/api/v1/version", gitea.base)).call().is_ok_and(|r| r.status() == 200) {
                return gitea;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(dir.join("web.log")).unwrap_or_default();
        panic!("gitea did not answer on {} within a minute; its log:\n{log}", gitea.base);
    }

    /// `http://127.0.0.1:port`: what a generator's `api` names.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The admin's API token (all scopes).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Calls the REST API (`path` below `/api/v1`) as the admin; the status
    /// and the JSON answer (Null when there is none).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.base);
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", format!("token {}", self.token))
            .header("Content-Type", "application/json");
        let result = match body {
            Some(b) => self.agent.run(req.body(b.to_string()).expect("a request")),
            None => self.agent.run(req.body(()).expect("a request")),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Like [`Gitea::request`], panicking unless the answer is a success.
    fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self.request(method, path, Some(&body));
        assert!((200..300).contains(&status), "gitea {method} {path}: HTTP {status}: {answer}");
        answer
    }

    /// Creates the organization `name`.
    pub fn create_org(&self, name: &str) {
        self.ok("POST", "/orgs", json!({"username": name}));
    }

    /// Creates `org/name` with a first commit (a README) on `default_branch`.
    pub fn create_repo(&self, org: &str, name: &str, default_branch: &str) {
        self.ok("POST", &format!("/orgs/{org}/repos"), json!({"name": name, "auto_init": true, "default_branch": default_branch}));
    }

    /// Creates `org/name` without any commit (an empty repository).
    pub fn create_empty_repo(&self, org: &str, name: &str) {
        self.ok("POST", &format!("/orgs/{org}/repos"), json!({"name": name}));
    }

    /// Creates branch `name` at the head of `from`.
    pub fn create_branch(&self, org: &str, repo: &str, name: &str, from: &str) {
        self.ok("POST", &format!("/repos/{org}/{repo}/branches"), json!({"new_branch_name": name, "old_branch_name": from}));
    }

    /// Commits a new file `path` to `branch` (created from `from` when it
    /// differs); the branch's new head.
    pub fn add_file(&self, org: &str, repo: &str, from: &str, branch: &str, path: &str, content: &str) -> String {
        let mut body = json!({
            "content": base64::engine::general_purpose::STANDARD.encode(content),
            "message": format!("add {path}"),
            "branch": from,
        });
        if branch != from {
            body["new_branch"] = json!(branch);
        }
        self.ok("POST", &format!("/repos/{org}/{repo}/contents/{path}"), body);
        self.head(org, repo, branch)
    }

    /// The SHA at the head of `branch`.
    pub fn head(&self, org: &str, repo: &str, branch: &str) -> String {
        let (status, b) = self.request("GET", &format!("/repos/{org}/{repo}/branches/{branch}"), None);
        assert_eq!(status, 200, "gitea branch {org}/{repo}@{branch}: {b}");
        b["commit"]["id"].as_str().expect("a branch has a commit").to_string()
    }

    /// Creates the label `name` in `org/repo`; its id.
    pub fn create_label(&self, org: &str, repo: &str, name: &str) -> i64 {
        let l = self.ok("POST", &format!("/repos/{org}/{repo}/labels"), json!({"name": name, "color": "#00aabb"}));
        l["id"].as_i64().expect("a label has an id")
    }

    /// Opens a pull request from `head` into `base` carrying the labels
    /// `label_ids`; its number.
    pub fn create_pull(&self, org: &str, repo: &str, head: &str, base: &str, title: &str, label_ids: &[i64]) -> i64 {
        let pr = self.ok(
            "POST",
            &format!("/repos/{org}/{repo}/pulls"),
            json!({"head": head, "base": base, "title": title, "labels": label_ids}),
        );
        pr["number"].as_i64().expect("a pull request has a number")
    }

    /// Closes pull request `number`.
    pub fn close_pull(&self, org: &str, repo: &str, number: i64) {
        self.ok("PATCH", &format!("/repos/{org}/{repo}/pulls/{number}"), json!({"state": "closed"}));
    }
}

impl Drop for Gitea {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.lifeline.lock().unwrap_or_else(|p| p.into_inner()).take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// Gitea's configuration: everything under `dir`, nothing reaching out;
/// pages of at most 3 entries, so that clients' pagination is exercised.
fn app_ini(dir: &Path, port: u16) -> String {
    let d = dir.display();
    // Tests run as root in CI; Gitea refuses that unless told.
    format!(
        "APP_NAME = driftless-test\nRUN_MODE = prod\nI_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\nWORK_PATH = {d}\n\
         [database]\nDB_TYPE = sqlite3\nPATH = {d}/gitea.db\n\
         [repository]\nROOT = {d}/repos\n\
         [server]\nPROTOCOL = http\nHTTP_ADDR = 127.0.0.1\nHTTP_PORT = {port}\nROOT_URL = http://127.0.0.1:{port}/\nDOMAIN = 127.0.0.1\n\
         SSH_DOMAIN = 127.0.0.1\nSSH_USER = git\nSSH_PORT = 2222\nSTART_SSH_SERVER = false\nOFFLINE_MODE = true\nLFS_START_SERVER = false\nAPP_DATA_PATH = {d}/data\n\
         [security]\nINSTALL_LOCK = true\nSECRET_KEY = driftless-test-secret-key\n\
         [oauth2]\nENABLED = false\n[mailer]\nENABLED = false\n[service]\nDISABLE_REGISTRATION = true\n\
         [session]\nPROVIDER = memory\n[cache]\nADAPTER = memory\n[queue]\nTYPE = channel\n[indexer]\nISSUE_INDEXER_TYPE = db\n\
         [api]\nMAX_RESPONSE_ITEMS = 3\nDEFAULT_PAGING_NUM = 3\n\
         [log]\nLEVEL = Warn\nMODE = console\n"
    )
}
