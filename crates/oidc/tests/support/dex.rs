//! A real Dex (OpenID Connect provider) for tests, and a scripted browser that logs in through
//! it. Shared by the OIDC tests of crates/oidc and crates/server (included with `#[path]`).
//!
//! Dex runs on 127.0.0.1 with in-memory storage, its password database with one static user
//! (no groups: Dex v2.41 has none for static users), and Dex's `mockCallback` connector, whose
//! user is in the group `authors`, for the groups claim.

#![allow(dead_code)] // Each including test binary uses a different part.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{StatusCode, Url};

/// The static password user: email, password (bcrypt hash below, from Dex's example config).
pub const PASSWORD_USER_EMAIL: &str = "reader@example.com";
pub const PASSWORD_USER_NAME: &str = "reader";
pub const PASSWORD_USER_PASSWORD: &str = "password";
const PASSWORD_USER_HASH: &str = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
/// The user of Dex's mock connector, hard-coded in Dex, and its only group.
pub const GROUP_USER_EMAIL: &str = "kilgore@kilgore.trout";
pub const GROUP_USER_GROUP: &str = "authors";
const MOCK_CONNECTOR_ID: &str = "mock";

/// A client (relying party) registered at Dex.
#[derive(Clone, Debug)]
pub struct DexClient {
    pub id: String,
    pub secret: String,
    pub redirect_uri: String,
}

impl DexClient {
    pub fn new(id: &str, redirect_uri: &str) -> DexClient {
        DexClient { id: id.to_owned(), secret: format!("{id}-secret-for-tests"), redirect_uri: redirect_uri.to_owned() }
    }
}

/// Who logs in at Dex's login page.
#[derive(Clone, Copy, Debug)]
pub enum DexUser {
    /// The static password user, through Dex's login form; no groups.
    Password,
    /// The mock connector's user, in the group `authors`.
    GroupMember,
}

/// A running Dex, killed on drop.
pub struct Dex {
    pub issuer: String,
    child: Child,
    config: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Dex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dex_binary() -> PathBuf {
    let path = std::env::var_os("DEX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/tools/bin/dex")));
    assert!(path.is_file(), "Dex is not installed at {}: run scripts/tools/dex.sh (or set DEX_BIN)", path.display());
    path
}

/// Dex's configuration: JSON, which is YAML, which Dex reads.
fn config(issuer: &str, port: u16, clients: &[DexClient]) -> Vec<u8> {
    let static_clients: Vec<_> = clients
        .iter()
        .map(|c| serde_json::json!({"id": c.id, "name": c.id, "secret": c.secret, "redirectURIs": [c.redirect_uri]}))
        .collect();
    let config = serde_json::json!({
        "issuer": issuer,
        "storage": {"type": "memory"},
        "web": {"http": format!("127.0.0.1:{port}")},
        "logger": {"level": "debug"},
        "oauth2": {"skipApprovalScreen": true},
        "staticClients": static_clients,
        "enablePasswordDB": true,
        "staticPasswords": [{
            "email": PASSWORD_USER_EMAIL,
            "hash": PASSWORD_USER_HASH,
            "username": PASSWORD_USER_NAME,
            "userID": "08a8684b-db88-4b73-90a9-3cd1661f5466",
        }],
        "connectors": [{"type": "mockCallback", "id": MOCK_CONNECTOR_ID, "name": "Example"}],
    });
    serde_json::to_vec_pretty(&config).expect("config JSON")
}

fn spawn(config: &Path, log: &Path) -> Child {
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open Dex log");
    Command::new(dex_binary())
        .arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file)
        .spawn()
        .expect("start Dex")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("bind a free port on 127.0.0.1").port()
}

impl Dex {
    /// Starts Dex with these clients registered and waits until it serves its discovery document.
    pub async fn start(clients: &[DexClient]) -> Dex {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The port is free when picked but may be taken before Dex binds it, by the Dex of a
            // test running in parallel: then this Dex exits and starts again on another port. The
            // issuer's random path keeps the readiness probe from taking the other Dex for ours.
            let port = free_port();
            let issuer = format!("http://127.0.0.1:{port}/dex/{:08x}", RandomState::new().build_hasher().finish() as u32);
            let dir = tempfile::tempdir().expect("temp dir for Dex");
            let config_path = dir.path().join("dex.yaml");
            std::fs::write(&config_path, config(&issuer, port, clients)).expect("write Dex config");
            let log = dir.path().join("dex.log");
            let child = spawn(&config_path, &log);
            let mut dex = Dex { issuer, child, config: config_path, log, _dir: dir };
            match dex.wait_ready().await {
                Ok(()) => return dex,
                Err(_) if attempt < 3 && dex.log().contains("address already in use") => continue,
                Err(error) => panic!("{error}"),
            }
        }
    }

    /// Stops Dex and starts it again on the same address. Its storage is in memory, so it comes
    /// back with new signing keys: a key rotation, as relying parties see it.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.config, &self.log);
        if let Err(error) = self.wait_ready().await {
            panic!("{error}");
        }
    }

    /// Dex's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer);
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("poll Dex") {
                return Err(format!("Dex exited with {status} before serving; its log:\n{}", self.log()));
            }
            if let Ok(response) = http.get(&discovery).send().await
                && response.status() == StatusCode::OK
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("Dex did not serve {discovery} within 30 s; its log:\n{}", self.log()))
    }

    /// Exchanges a code at Dex's token endpoint directly, as a client of our own would, and
    /// returns the raw ID token (for tests that tamper with it).
    pub async fn raw_id_token(&self, client: &DexClient, code: &str, pkce_verifier: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", pkce_verifier),
            ])
            .send()
            .await
            .expect("POST to Dex's token endpoint");
        let status = response.status();
        let body = response.text().await.expect("token response body");
        assert_eq!(status, StatusCode::OK, "Dex's token endpoint answered {status}: {body}");
        let tokens: serde_json::Value = serde_json::from_str(&body).expect("token response is JSON");
        tokens["id_token"].as_str().expect("token response has an id_token").to_owned()
    }
}

/// Plays a browser: starting at `url`, follows redirects, picks the connector for `user` on Dex's
/// login page and fills in Dex's password form, until a redirect leads to a URL starting with
/// `stop_at`, which it returns without fetching. `http` must not follow redirects itself; give it
/// a cookie store when the relying party keeps its login state in cookies.
pub async fn browse(http: &reqwest::Client, url: &str, user: DexUser, stop_at: &str) -> Url {
    let mut url = Url::parse(url).expect("start URL");
    let mut form: Option<(Url, Vec<(&str, &str)>)> = None;
    let mut submitted_password = false;
    for _ in 0..20 {
        if url.as_str().starts_with(stop_at) {
            return url;
        }
        let request = match form.take() {
            Some((action, fields)) => http.post(action.clone()).form(&fields),
            None => http.get(url.clone()),
        };
        let response = request.send().await.unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get("location").and_then(|v| v.to_str().ok()).expect("redirect has a Location");
            url = url.join(location).expect("Location is a URL");
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "{url} answered {status}: {body}");
        if body.contains("name=\"password\"") {
            assert!(!submitted_password, "Dex showed its password form again: it rejected the password");
            submitted_password = true;
            let action = attribute_values(&body, "action").into_iter().next().expect("password form has an action");
            let action = url.join(&action).expect("form action is a URL");
            form = Some((action.clone(), vec![("login", PASSWORD_USER_EMAIL), ("password", PASSWORD_USER_PASSWORD)]));
            url = action;
        } else {
            let connector = match user {
                DexUser::Password => "local",
                DexUser::GroupMember => MOCK_CONNECTOR_ID,
            };
            let marker = format!("/auth/{connector}?");
            let link = attribute_values(&body, "href")
                .into_iter()
                .find(|href| href.contains(&marker))
                .unwrap_or_else(|| panic!("{url} has no link to the {connector} connector: {body}"));
            url = url.join(&link).expect("link is a URL");
        }
    }
    panic!("no redirect to {stop_at} after 20 steps; last URL {url}");
}

/// The values of every `name="..."` attribute in an HTML page, with entities decoded.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let marker = format!("{name}=\"");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest.find('"').map(|end| decode_entities(&rest[..end]))
        })
        .collect()
}

fn decode_entities(text: &str) -> String {
    // `&amp;` last, so that an escaped entity is not decoded twice.
    text.replace("&#43;", "+").replace("&#39;", "'").replace("&#34;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The `code` and `state` query parameters of the URL a login ended at.
pub fn code_and_state(callback: &Url) -> (String, String) {
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_else(|| panic!("{callback} has no {name} parameter"))
    };
    (param("code"), param("state"))
}
