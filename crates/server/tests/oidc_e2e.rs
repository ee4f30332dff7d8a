//! Single sign-on end to end: the server (in-process, against the dev control plane) with
//! `argocd-cm` `oidc.config` pointing at a real Dex on 127.0.0.1 (scripts/tools/dex.sh), logged
//! into through `/auth/login` by a scripted browser with a cookie jar. Dex's groups claim maps to
//! a role through `argocd-rbac-cm`.

mod api_support;
#[path = "../../oidc/tests/support/dex.rs"]
mod dex;

use std::sync::Arc;

use api_support::{Server, TIMEOUT, create_app};
use dex::{Dex, DexClient, DexUser, browse};
use driftless_testkit::{TestNamespace, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams};
use reqwest::StatusCode;
use reqwest::cookie::CookieStore as _;
use serde_json::{Value, json};

/// A browser session: its cookie jar and a client that lets `browse` follow redirects.
struct Browser {
    jar: Arc<reqwest::cookie::Jar>,
    http: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(server: &Server) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Browser { jar, http, base: server.base.clone() }
    }

    /// Logs in through the server's SSO link, as the login page does, and returns where the
    /// server sent the browser at the end.
    async fn log_in(&self, user: DexUser) -> String {
        let start = format!("{}/auth/login?return_url=%2Fapplications%3Fsearch%3Dweb", self.base);
        browse(&self.http, &start, user, &format!("{}/applications", self.base)).await.to_string()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(&self.base).expect("base URL");
        let header = self.jar.cookies(&url)?;
        header.to_str().ok()?.split("; ").find_map(|pair| pair.strip_prefix(&format!("{name}="))).map(str::to_owned)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("GET");
        let status = response.status();
        (status, serde_json::from_str(&response.text().await.expect("body")).unwrap_or(Value::Null))
    }

    /// A POST as the UI's script sends it: the session cookie, and the CSRF cookie echoed in
    /// the header.
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let csrf = self.cookie("driftless.csrf").expect("the login set the CSRF cookie");
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", csrf)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        let status = response.status();
        (status, serde_json::from_str(&response.text().await.expect("body")).unwrap_or(Value::Null))
    }
}

/// Points the server at Dex: `argocd-cm` `url` and `oidc.config` (its client secret kept in
/// `argocd-secret`, referred to as `$oidc.dex.clientSecret`), and a default role for users whose
/// groups map to none. Waits until the server's settings show the provider.
async fn configure_sso(ns: &TestNamespace, server: &Server, dex: &Dex, client: &DexClient) {
    let oidc_config = format!(
        "name: Dex\nissuer: {}\nclientID: {}\nclientSecret: $oidc.dex.clientSecret\nrequestedScopes: [openid, profile, email, groups]\n",
        dex.issuer, client.id
    );
    let merge = |data: Value| Patch::Merge(data);
    ns.api::<Secret>()
        .patch("argocd-secret", &PatchParams::default(), &merge(json!({"stringData": {"oidc.dex.clientSecret": client.secret}})))
        .await
        .expect("patch argocd-secret");
    ns.api::<ConfigMap>()
        .patch("argocd-rbac-cm", &PatchParams::default(), &merge(json!({"data": {"policy.default": "role:readonly"}})))
        .await
        .expect("patch argocd-rbac-cm");
    ns.api::<ConfigMap>()
        .patch("argocd-cm", &PatchParams::default(), &merge(json!({"data": {"url": server.base, "oidc.config": oidc_config}})))
        .await
        .expect("patch argocd-cm");
    let browser = Browser::new(server);
    wait_for("the server to offer SSO through Dex", TIMEOUT, || async {
        let (_, settings) = browser.get("/api/v1/settings").await;
        (settings["oidcConfig"]["name"] == "Dex").then_some(()).ok_or(settings)
    })
    .await
    .expect("settings show Dex");
}

async fn sso_server(prefix: &str) -> (TestNamespace, Server, Dex) {
    let ns = TestNamespace::new(prefix).await.expect("namespace");
    let server = Server::start(&ns, &format!("g, {}, role:admin\n", dex::GROUP_USER_GROUP)).await;
    let client = DexClient::new("driftless", &format!("{}/auth/callback", server.base));
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    configure_sso(&ns, &server, &dex, &client).await;
    (ns, server, dex)
}

#[tokio::test]
async fn sso_group_members_get_their_role_and_others_the_default() {
    let (ns, server, dex) = sso_server("oidc-sso").await;
    let q = format!("appNamespace={}", ns.name());
    create_app(&ns, "web", "default", json!({}), json!({}), "https://git.invalid/r.git", "web").await;

    // A member of Dex's group `authors`, which argocd-rbac-cm maps to role:admin.
    let admin = Browser::new(&server);
    let landed = admin.log_in(DexUser::GroupMember).await;
    assert_eq!(landed, format!("{}/applications?search=web", server.base), "back where the login started");
    let (status, me) = admin.get("/api/v1/session/userinfo").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["loggedIn"], true, "{me}\nDex log:\n{}", dex.log());
    assert_eq!(me["username"], dex::GROUP_USER_EMAIL);
    assert_eq!(me["groups"], json!([dex::GROUP_USER_GROUP]));
    // The list is served from the server's watch of Applications, which
    // receives the app created above a moment later.
    let apps = wait_for("the server to list app web", TIMEOUT, || async {
        let (status, apps) = admin.get(&format!("/api/v1/applications?{q}")).await;
        if status == StatusCode::OK && apps["items"][0]["metadata"]["name"] == "web" { Ok(apps) } else { Err(format!("{status}: {apps}")) }
    })
    .await
    .expect("the app listed");
    assert_eq!(apps["items"][0]["metadata"]["name"], "web");
    let (status, app) = admin.post(&format!("/api/v1/applications/web/sync?{q}"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{app}");
    assert_eq!(app["operation"]["initiatedBy"]["username"], dex::GROUP_USER_EMAIL, "the sync names who started it");

    // Dex's password user has no groups: the default role reads but may not sync.
    let reader = Browser::new(&server);
    reader.log_in(DexUser::Password).await;
    let (_, me) = reader.get("/api/v1/session/userinfo").await;
    assert_eq!((me["username"].clone(), me["groups"].clone()), (json!(dex::PASSWORD_USER_EMAIL), json!([])), "{me}");
    let (status, apps) = reader.get(&format!("/api/v1/applications?{q}")).await;
    assert_eq!(status, StatusCode::OK, "{apps}");
    let (status, body) = reader.post(&format!("/api/v1/applications/web/sync?{q}"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn a_callback_that_does_not_match_the_login_gets_no_session() {
    let (_ns, server, _dex) = sso_server("oidc-forged").await;
    let browser = Browser::new(&server);
    // The login starts (the server sets its pending-login cookie and sends the browser to Dex)...
    let response = browser.http.get(format!("{}/auth/login", server.base)).send().await.expect("GET /auth/login");
    assert!(response.status().is_redirection(), "{}", response.status());
    // ...but the callback carries someone else's code and state (login CSRF).
    let response = browser
        .http
        .get(format!("{}/auth/callback?code=attackers-code&state=attackers-state", server.base))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(browser.cookie("argocd.token"), None, "no session from a forged callback");
    let (_, me) = browser.get("/api/v1/session/userinfo").await;
    assert_eq!(me["loggedIn"], false);
}
