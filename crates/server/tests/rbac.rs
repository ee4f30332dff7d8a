//! Tenancy, project roles and project tokens through the HTTP API, against
//! the real dev control plane: what a project token may and may not do,
//! that it is refused once revoked, that apps where tenancy does not allow
//! them are invisible, hostile tokens and names, tokens Argo CD issued, and
//! the RBAC matrix over every route the server documents, with built-in
//! roles, a project token, and project roles held by a user and an SSO
//! group.

mod api_support;

use std::collections::BTreeMap;

use api_support::{IN_CLUSTER, PASSWORD, Reply, Server, TIMEOUT, admin_password};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use driftless_api::{AppProject, Application, ApplicationSet};
use driftless_server::auth::token::{self, Claims, TokenKind};
use driftless_server::rbac::Policy;
use driftless_testkit::{TestNamespace, wait_for};
use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};

/// An AppProject in the control plane `ns`, allowing every repo and
/// destination, with `roles` and `source_namespaces`.
async fn project(ns: &TestNamespace, name: &str, source_namespaces: &[&str], roles: Value) -> AppProject {
    let p: AppProject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": { "name": name, "namespace": ns.name() },
        "spec": {
            "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }],
            "sourceNamespaces": source_namespaces, "roles": roles,
        },
    }))
    .expect("valid AppProject");
    ns.api::<AppProject>().create(&PostParams::default(), &p).await.expect("create AppProject")
}

/// An Application `name` of `project` in namespace `ns`.
async fn app(client: &kube::Client, ns: &str, name: &str, project: &str) {
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "project": project, "source": { "repoURL": "https://git.invalid/r.git", "path": "." },
                  "destination": { "server": IN_CLUSTER, "namespace": ns } },
    }))
    .expect("valid Application");
    Api::<Application>::namespaced(client.clone(), ns).create(&PostParams::default(), &app).await.expect("create app");
}

/// Waits until `name` is gone from `api`.
async fn gone<K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug>(api: &Api<K>, name: &str) {
    wait_for(&format!("{name} to be gone"), TIMEOUT, || async {
        match api.get_opt(name).await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|o| o.is_some()))),
        }
    })
    .await
    .expect("deleted");
}

/// An ApplicationSet manifest `name` of `project`, as a client posts it.
fn appset_body(name: &str, project: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": { "name": name },
        "spec": { "generators": [{ "list": { "elements": [{ "env": "dev" }] } }],
                  "template": { "metadata": { "name": format!("{name}-{{{{env}}}}") },
                                "spec": { "project": project, "source": { "repoURL": "https://git.invalid/r.git", "path": "." },
                                          "destination": { "server": IN_CLUSTER, "namespace": "{{env}}" } } } },
    })
}

/// An ApplicationSet `name` of `project` in namespace `ns`, created directly.
async fn appset(client: &kube::Client, ns: &str, name: &str, project: &str) {
    let mut body = appset_body(name, project);
    body["metadata"]["namespace"] = json!(ns);
    let set: ApplicationSet = serde_json::from_value(body).expect("valid ApplicationSet");
    Api::<ApplicationSet>::namespaced(client.clone(), ns).create(&PostParams::default(), &set).await.expect("create ApplicationSet");
}

/// The body of a refusal with the name it was about replaced, so that the
/// refusals about two names compare.
fn shape(r: &Reply, name: &str) -> String {
    r.text.replace(name, "{name}")
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

/// The server's signing key, as only the control plane's admins can read it.
async fn signing_key(ns: &TestNamespace) -> Vec<u8> {
    driftless_server::project_tokens::signing_key(&ns.client(), ns.name()).await.expect("the signing key")
}

/// A token the server's key signs, with hostile claims (or those of a
/// token driftless issued before project tokens carried Argo CD's claims).
fn forge(key: &[u8], sub: &str, kind: TokenKind, iat: i64, jti: Option<&str>) -> String {
    token::sign(
        &Claims {
            iss: token::ISSUER.into(),
            sub: sub.into(),
            iat,
            nbf: None,
            exp: None,
            jti: jti.map(String::from),
            kind: Some(kind),
            groups: Vec::new(),
            email: None,
        },
        key,
    )
}

/// An SSO login session of `user` in `groups`, as the server signs one
/// after the identity provider's answer.
fn sso_session(key: &[u8], user: &str, groups: &[&str]) -> String {
    let now = driftless_server::auth::unix_now();
    token::sign(
        &Claims {
            iss: token::ISSUER.into(),
            sub: user.into(),
            iat: now,
            nbf: None,
            exp: Some(now + 3600),
            jti: None,
            kind: Some(TokenKind::Sso),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            email: Some(user.into()),
        },
        key,
    )
}

/// A JWT signed with `key` (HS256) over exactly `payload`, as Argo CD's
/// server signs its tokens: no code of driftless's builds it.
fn hs256(key: &[u8], payload: &Value) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#), URL_SAFE_NO_PAD.encode(payload.to_string()));
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The claims Argo CD's `CreateJWTToken` gives a project token without
/// expiry.
fn argo_cd_claims(sub: &str, iat: i64, jti: &str) -> Value {
    json!({ "iss": "argocd", "sub": sub, "nbf": iat, "iat": iat, "jti": jti })
}

const TEAM_ROLES: &str = r#"[{ "name": "ci", "policies": [
    "p, proj:team:ci, applications, get, team/*, allow",
    "p, proj:team:ci, applications, sync, team/*, allow"
] }, { "name": "temp", "policies": ["p, proj:team:temp, applications, get, team/*, allow"] }]"#;

#[tokio::test]
async fn a_project_token_acts_on_its_project_only_never_reaches_credentials_and_dies_when_revoked() {
    let ns = TestNamespace::new("rbac-token").await.expect("namespace");
    // Even a global line naming the token's subject gives it no cluster.
    let server = Server::start(&ns, "p, proj:team:ci, clusters, get, *, allow\np, proj:team:ci, repositories, get, *, allow\n").await;
    let q = format!("appNamespace={}", ns.name());
    project(&ns, "team", &[], serde_json::from_str(TEAM_ROLES).expect("roles")).await;
    project(&ns, "other", &[], json!([])).await;
    app(&ns.client(), ns.name(), "team-web", "team").await;
    app(&ns.client(), ns.name(), "other-web", "other").await;
    // A repository Secret with a password: no answer to the token may hold it.
    const REPO_PASSWORD: &str = "repo-password-never-shown";
    let repo: Secret = serde_json::from_value(json!({
        "metadata": { "name": "repo-creds", "labels": { "argocd.argoproj.io/secret-type": "repository" } },
        "stringData": { "type": "git", "url": "https://127.0.0.1:1/team.git", "username": "u", "password": REPO_PASSWORD },
    }))
    .expect("Secret");
    ns.api::<Secret>().create(&PostParams::default(), &repo).await.expect("create repository Secret");
    let admin = server.login("admin", &admin_password(&ns).await).await;

    // Issue: readonly users may not; the admin may.
    let reader = server.login("reader", PASSWORD).await;
    let path = "/api/v1/projects/team/roles/ci/token";
    let r = server.as_user(&reader, Method::POST, path, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.as_user(&admin, Method::POST, path, Some(json!({ "expiresIn": 3600, "id": "ci-1" }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let tok = r.body["token"].as_str().expect("a token").to_string();
    let claims = claims_of(&tok);
    // Argo CD's claims, and only those: Argo CD accepts the token too.
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(
        claims,
        json!({ "iss": "argocd", "sub": "proj:team:ci", "iat": iat, "nbf": iat, "exp": iat + 3600, "jti": "ci-1" }),
        "{claims}"
    );
    let stored = ns.api::<AppProject>().get("team").await.expect("project");
    let record = json!({ "iat": iat, "exp": iat + 3600, "id": "ci-1" });
    assert_eq!(serde_json::to_value(&stored.spec.roles[0].jwt_tokens).expect("json"), json!([record]), "in the role");
    let status = serde_json::to_value(stored.status.expect("a status")).expect("json");
    assert_eq!(status["jwtTokensByRole"]["ci"]["items"], json!([record]), "and in the status");
    let r = server.as_user(&admin, Method::POST, path, Some(json!({ "id": "ci-1" }))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "ids are unique: {}", r.text);

    // Its own project's app: it reads and syncs, named as the role.
    let mut answers: Vec<Reply> = Vec::new();
    let r = server.as_user(&tok, Method::GET, &format!("/api/v1/applications/team-web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    answers.push(r);
    let r = server.as_user(&tok, Method::POST, &format!("/api/v1/applications/team-web/sync?{q}"), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    answers.push(r);
    let op = ns.api::<Application>().get("team-web").await.expect("app").operation.expect("a sync requested");
    assert_eq!(op.initiated_by.and_then(|i| i.username).as_deref(), Some("proj:team:ci"));
    // The list is served from the server's watch, which may not have the
    // apps yet: wait until it shows one, then check that it is the only one.
    let r = wait_for("the list to show the project's app", TIMEOUT, || async {
        let r = server.as_user(&tok, Method::GET, "/api/v1/applications", None).await;
        let listed = r.body["items"].as_array().is_some_and(|items| !items.is_empty());
        if listed { Ok(r) } else { Err(r.text) }
    })
    .await
    .expect("a listed app");
    let names: Vec<&str> = r.body["items"].as_array().expect("items").iter().filter_map(|a| a["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["team-web"], "{}", r.text);
    answers.push(r);

    // Another project's app: refused as one that does not exist.
    let other = server.as_user(&tok, Method::POST, &format!("/api/v1/applications/other-web/sync?{q}"), Some(json!({}))).await;
    let ghost = server.as_user(&tok, Method::POST, &format!("/api/v1/applications/ghost/sync?{q}"), Some(json!({}))).await;
    assert_eq!((other.status, ghost.status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN), "{}", other.text);
    assert_eq!(shape(&other, "other-web"), shape(&ghost, "ghost"), "no hint whether it exists");
    assert!(ns.api::<Application>().get("other-web").await.expect("app").operation.is_none());
    let r = server.as_user(&tok, Method::DELETE, &format!("/api/v1/applications/team-web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only what its role says: {}", r.text);

    // Clusters, repositories, projects, accounts: refused whatever the
    // policy says (CVE-2025-55190's class: a project token never reads
    // repository or cluster credentials).
    for (method, path) in [
        (Method::GET, "/api/v1/repositories".to_string()),
        (Method::GET, "/api/v1/repositories/https%3A%2F%2F127.0.0.1%3A1%2Fteam.git".into()),
        (Method::GET, "/api/v1/clusters".into()),
        (Method::GET, "/api/v1/clusters/in-cluster?id.type=name".into()),
        (Method::GET, format!("/api/v1/clusters/{}", IN_CLUSTER.replace(':', "%3A").replace('/', "%2F"))),
        (Method::GET, "/api/v1/projects/team".into()),
        (Method::POST, "/api/v1/projects/team/roles/ci/token".into()),
        (Method::POST, "/api/v1/account/ci/token".into()),
    ] {
        let r = server.as_user(&tok, method.clone(), &path, if method == Method::POST { Some(json!({})) } else { None }).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}: {}", r.text);
        answers.push(r);
    }
    let r = server.as_user(&tok, Method::GET, "/api/v1/projects", None).await;
    assert_eq!((r.status, r.body["items"].clone()), (StatusCode::OK, json!([])), "{}", r.text);
    answers.push(r);
    let r = server.as_user(&tok, Method::GET, "/api/v1/account/can-i/clusters/get/*", None).await;
    assert_eq!(r.body["value"], "no");
    for r in &answers {
        assert!(
            !r.text.contains(REPO_PASSWORD) && !r.text.contains(&URL_SAFE_NO_PAD.encode(REPO_PASSWORD)),
            "a credential leaked: {}",
            r.text
        );
    }

    // Hostile tokens: altered, another key, another project, not a project token, a deleted role.
    let key = signing_key(&ns).await;
    let parts: Vec<&str> = tok.split('.').collect();
    let other_payload = URL_SAFE_NO_PAD.encode(claims_of(&tok).to_string().replace("proj:team:ci", "proj:other:ci"));
    let mut hostile = vec![
        ("altered payload", format!("{}.{other_payload}.{}", parts[0], parts[2])),
        ("another key", forge(b"not-the-servers-key", "proj:team:ci", TokenKind::Project, iat, Some("ci-1"))),
        ("another project's subject", forge(&key, "proj:other:ci", TokenKind::Project, iat, Some("ci-1"))),
        ("another role's subject", forge(&key, "proj:team:temp", TokenKind::Project, iat, Some("ci-1"))),
        ("a session claiming the role", forge(&key, "proj:team:ci", TokenKind::Login, iat, None)),
        ("an SSO session claiming the role", forge(&key, "proj:team:ci", TokenKind::Sso, iat, None)),
        ("a malformed subject", forge(&key, "proj:team:ci:extra", TokenKind::Project, iat, Some("ci-1"))),
        ("no id, wrong time", forge(&key, "proj:team:ci", TokenKind::Project, iat + 1, None)),
        ("Argo CD's claims, never recorded", hs256(&key, &argo_cd_claims("proj:team:ci", iat, "unrecorded"))),
        ("Argo CD's issuer, not a project subject", hs256(&key, &argo_cd_claims("admin", iat, "ci-1"))),
        (
            "not valid before a later time",
            hs256(&key, &json!({ "iss": "argocd", "sub": "proj:team:ci", "iat": iat, "nbf": iat + 86_400, "jti": "ci-1" })),
        ),
        ("garbage", "a.b.c".into()),
    ];
    // A token driftless issued before (its own issuer and a kind claim)
    // keeps working while its record exists.
    let before = forge(&key, "proj:team:ci", TokenKind::Project, iat, Some("ci-1"));
    let r = server.as_user(&before, Method::GET, &format!("/api/v1/applications/team-web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "a token of the earlier format: {}", r.text);

    // A token Argo CD issued under the same key, recorded as Argo CD
    // records it (in the role and in the status), works for its project
    // until it is revoked.
    let argo_iat = iat - 86_400;
    let record = json!({ "iat": argo_iat, "id": "argo-1" });
    let mut team = ns.api::<AppProject>().get("team").await.expect("project");
    team.spec.roles[0].jwt_tokens.push(serde_json::from_value(record.clone()).expect("a record"));
    let team = ns.api::<AppProject>().replace("team", &PostParams::default(), &team).await.expect("record in the role");
    let mut items = serde_json::to_value(&team.status).expect("json")["jwtTokensByRole"]["ci"]["items"].clone();
    items.as_array_mut().expect("the role's records").push(record);
    let status = json!({ "status": { "jwtTokensByRole": { "ci": { "items": items } } } });
    ns.api::<AppProject>()
        .patch_status("team", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&status))
        .await
        .expect("record in the status");
    let argo = hs256(&key, &argo_cd_claims("proj:team:ci", argo_iat, "argo-1"));
    wait_for("the server to accept Argo CD's token", TIMEOUT, || async {
        let r = server.as_user(&argo, Method::GET, &format!("/api/v1/applications/team-web?{q}"), None).await;
        if r.status == StatusCode::OK { Ok(()) } else { Err(r.text) }
    })
    .await
    .expect("its project's app");
    let r = server.as_user(&argo, Method::GET, &format!("/api/v1/applications/other-web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only its project: {}", r.text);
    let r = server.as_user(&argo, Method::GET, "/api/v1/repositories", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "never credentials: {}", r.text);
    let r = server.as_user(&admin, Method::DELETE, "/api/v1/projects/team/roles/ci/token/0?id=argo-1", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = server.as_user(&argo, Method::GET, &format!("/api/v1/applications/team-web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "Argo CD's token, refused at once after revocation: {}", r.text);

    let r = server.as_user(&admin, Method::POST, "/api/v1/projects/team/roles/temp/token", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let temp = r.body["token"].as_str().expect("token").to_string();
    let r = server.as_user(&temp, Method::GET, &format!("/api/v1/applications/team-web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "the temp role's token works while the role exists: {}", r.text);
    let mut team = ns.api::<AppProject>().get("team").await.expect("project");
    team.spec.roles.retain(|r| r.name != "temp");
    let body = json!({ "project": serde_json::to_value(&team).expect("json") });
    let r = server.as_user(&admin, Method::PUT, "/api/v1/projects/team", Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    hostile.push(("a deleted role's token", temp));
    for (what, t) in &hostile {
        let r = server.as_user(t, Method::GET, &format!("/api/v1/applications/team-web?{q}"), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text);
    }

    // Revoked: refused by the very next request.
    let r = server.as_user(&admin, Method::DELETE, &format!("/api/v1/projects/team/roles/ci/token/{iat}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = server.as_user(&tok, Method::GET, &format!("/api/v1/applications/team-web?{q}"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "refused at once after revocation: {}", r.text);
    let stored = ns.api::<AppProject>().get("team").await.expect("project");
    assert!(stored.spec.roles[0].jwt_tokens.is_empty(), "{:?}", stored.spec.roles);
    assert!(stored.status.is_none_or(|s| !s.jwt_tokens_by_role.contains_key("ci")));
    let r = server.as_user(&admin, Method::DELETE, &format!("/api/v1/projects/team/roles/ci/token/{iat}"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing left to revoke: {}", r.text);
}

#[tokio::test]
async fn apps_where_tenancy_does_not_allow_them_are_invisible_and_cannot_be_created() {
    let ns = TestNamespace::new("rbac-tenancy").await.expect("namespace");
    let apps = TestNamespace::new("rbac-apps").await.expect("namespace");
    let off = TestNamespace::new("rbac-off").await.expect("namespace");
    let enabled = apps.name().to_string();
    let server = Server::start_with(&ns, "", |c| {
        c.tenancy = driftless_engine::project::Tenancy::new(c.tenancy.control_plane.clone()).with_app_namespaces(&enabled).expect("valid");
    })
    .await;
    project(&ns, "team", &[apps.name()], json!([])).await;
    project(&ns, "other", &[], json!([])).await;
    let client = ns.client();
    app(&client, apps.name(), "api", "team").await;
    app(&client, apps.name(), "stray", "other").await; // its project does not list the namespace
    app(&client, off.name(), "hidden", "team").await; // the namespace is not enabled
    let admin = server.login("admin", &admin_password(&ns).await).await;

    let r = wait_for("the apps in the server's store", TIMEOUT, || async {
        let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/api?appNamespace={}", apps.name()), None).await;
        if r.status == StatusCode::OK { Ok(r) } else { Err(r.text) }
    })
    .await
    .expect("the enabled app");
    assert_eq!(r.body["metadata"]["namespace"], apps.name());
    // Named as namespace/name, its slash encoded, as Argo CD's UI names them.
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/{}%2Fapi", apps.name()), None).await;
    assert_eq!((r.status, r.body["metadata"]["name"].clone()), (StatusCode::OK, json!("api")), "{}", r.text);
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/{}%2Fhidden", off.name()), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // The list is served from the server's watch: wait until it has the
    // apps (a get falls back to the API server, a list does not).
    let r = wait_for("the list to show the enabled app", TIMEOUT, || async {
        let r = server.as_user(&admin, Method::GET, "/api/v1/applications", None).await;
        if r.text.contains("\"api\"") { Ok(r) } else { Err(r.text) }
    })
    .await
    .expect("the list");
    let names: Vec<&str> = r.body["items"].as_array().expect("items").iter().filter_map(|a| a["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["api"], "the list leaves out what tenancy hides: {}", r.text);
    let ghost = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/ghost?appNamespace={}", apps.name()), None).await;
    assert_eq!(ghost.status, StatusCode::FORBIDDEN);
    for (name, namespace) in [("stray", apps.name()), ("hidden", off.name())] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/applications/{name}?appNamespace={namespace}")),
            (Method::GET, format!("/api/v1/applications/{name}/resource-tree?appNamespace={namespace}")),
            (Method::POST, format!("/api/v1/applications/{name}/sync?appNamespace={namespace}")),
            (Method::DELETE, format!("/api/v1/applications/{name}?appNamespace={namespace}")),
        ] {
            let r = server.as_user(&admin, method.clone(), &path, (method == Method::POST).then(|| json!({}))).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}: {}", r.text);
            if method == Method::GET && path.ends_with(&format!("{name}?appNamespace={namespace}")) {
                let ghost =
                    server.as_user(&admin, Method::GET, &format!("/api/v1/applications/ghost?appNamespace={namespace}"), None).await;
                assert_eq!(shape(&r, name), shape(&ghost, "ghost"), "hidden like one that does not exist");
            }
        }
    }
    let untouched = Api::<Application>::namespaced(client.clone(), off.name()).get("hidden").await.expect("app");
    assert!(untouched.operation.is_none() && untouched.metadata.deletion_timestamp.is_none(), "refused requests change nothing");

    // The stream leaves them out too: a change to the hidden app, then one
    // to the visible app; the first event seen is the visible one's.
    let req = http::Request::get(format!("{}/api/v1/stream/applications", server.base))
        .header("authorization", format!("Bearer {admin}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let resp = server.http.request(req).await.expect("stream");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.into_body();
    let label = json!({ "metadata": { "labels": { "changed": "yes" } } });
    let patch = kube::api::Patch::Merge(&label);
    let params = kube::api::PatchParams::default();
    Api::<Application>::namespaced(client.clone(), off.name()).patch("hidden", &params, &patch).await.expect("change hidden");
    Api::<Application>::namespaced(client.clone(), apps.name()).patch("stray", &params, &patch).await.expect("change stray");
    Api::<Application>::namespaced(client.clone(), apps.name()).patch("api", &params, &patch).await.expect("change api");
    let first = tokio::time::timeout(TIMEOUT, async {
        let mut seen = String::new();
        loop {
            use http_body_util::BodyExt as _;
            let frame = stream.frame().await.expect("stream open").expect("frame");
            if let Some(data) = frame.data_ref() {
                seen.push_str(&String::from_utf8_lossy(data));
            }
            if let Some(line) = seen.lines().find(|l| l.starts_with("data:")) {
                return serde_json::from_str::<Value>(line.trim_start_matches("data:").trim()).expect("JSON event");
            }
        }
    })
    .await
    .expect("an event");
    assert_eq!(first["result"]["application"]["metadata"]["name"], "api", "{first}");

    // Creating: refused where the controller would not handle it, saying why.
    let body = |name: &str, namespace: &str, project: &str| {
        json!({ "metadata": { "name": name, "namespace": namespace }, "spec": { "project": project,
            "source": { "repoURL": "https://git.invalid/r.git", "path": "." },
            "destination": { "server": IN_CLUSTER, "namespace": namespace } } })
    };
    for (namespace, project, reason) in [(off.name(), "team", "application.namespaces"), (apps.name(), "other", "sourceNamespaces")] {
        let r = server.as_user(&admin, Method::POST, "/api/v1/applications", Some(body("new", namespace, project))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert!(r.body["message"].as_str().unwrap_or_default().contains(reason), "says why ({reason}): {}", r.text);
        assert!(Api::<Application>::namespaced(client.clone(), namespace).get_opt("new").await.expect("read").is_none());
    }
    let r = server
        .as_user(&admin, Method::POST, &format!("/api/v1/applications?appNamespace={}", off.name()), Some(body("new", "", "team")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "appNamespace pointing at a namespace not enabled: {}", r.text);
    let r = server.as_user(&admin, Method::POST, "/api/v1/applications", Some(body("new", apps.name(), "team"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Hostile names: refused cleanly, never a server error.
    let long = "a".repeat(10_000);
    for name in ["..%2F..%2Fkube-system", "..", "a%2Fb", long.as_str(), "UPPER", "-x"] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/projects/{name}")),
            (Method::DELETE, format!("/api/v1/projects/{name}")),
            (Method::POST, format!("/api/v1/projects/{name}/roles/ci/token")),
            (Method::GET, format!("/api/v1/applications/{name}?appNamespace={name}")),
        ] {
            let r = server.as_user(&admin, method.clone(), &path, (method == Method::POST).then(|| json!({}))).await;
            assert!(
                matches!(r.status, StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{method} {}: {}",
                &path[..path.len().min(80)],
                r.status
            );
        }
    }
    // A project whose role could grant on another project is refused.
    let evil = json!({ "project": { "metadata": { "name": "evil" }, "spec": { "roles": [{ "name": "x",
        "policies": ["p, proj:evil:x, applications, delete, team/*, allow"] }] } } });
    let r = server.as_user(&admin, Method::POST, "/api/v1/projects", Some(evil)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(ns.api::<AppProject>().get_opt("evil").await.expect("read").is_none());
    let r = server.as_user(&admin, Method::DELETE, "/api/v1/projects/team", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a project apps use stays: {}", r.text);
}

/// What a route checks, for the matrix.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Served to anyone, or about the caller alone: not part of the matrix.
    Open,
    /// A list filtered by the policy: never refused (a project token's
    /// cluster list excepted).
    Filtered,
    /// `resource, action` on the route's object.
    Rbac(&'static str, &'static str),
}

/// What each documented route checks. A route missing here fails the
/// matrix: a new path must say what it checks.
fn check_of(method: &str, path: &str) -> Check {
    match (method, path) {
        ("post", "/api/v1/session") | ("delete", "/api/v1/session") | ("get", "/api/v1/session/userinfo") => Check::Open,
        ("get", "/api/v1/settings") | ("get", "/swagger.json") | ("get", "/healthz") => Check::Open,
        ("get", "/auth/login") | ("get", "/auth/callback") => Check::Open,
        // No login: a signature, when a secret is set, is its check.
        ("post", "/api/webhook") => Check::Open,
        ("get", "/api/v1/account/can-i/{resource}/{action}/{*subresource}") => Check::Open,
        ("get", p) if !p.starts_with("/api/") && !p.starts_with("/auth/") && p != "/swagger.json" && p != "/healthz" => Check::Open,
        ("get", "/api/v1/applications") | ("get", "/api/v1/stream/applications") | ("get", "/api/v1/projects") => Check::Filtered,
        ("get", "/api/v1/clusters") | ("get", "/api/v1/repositories") | ("get", "/api/v1/repocreds") => Check::Filtered,
        ("get", "/api/v1/repositories/{repo}") => Check::Rbac("repositories", "get"),
        ("post", "/api/v1/repositories") | ("post", "/api/v1/repocreds") => Check::Rbac("repositories", "create"),
        ("delete", "/api/v1/repositories/{repo}") | ("delete", "/api/v1/repocreds/{url}") => Check::Rbac("repositories", "delete"),
        ("post", "/api/v1/applications") => Check::Rbac("applications", "create"),
        ("get", "/api/v1/applicationsets") => Check::Filtered,
        ("post", "/api/v1/applicationsets") | ("post", "/api/v1/applicationsets/generate") => Check::Rbac("applicationsets", "create"),
        ("get", "/api/v1/applicationsets/{name}") | ("get", "/api/v1/applicationsets/{name}/resource-tree") => {
            Check::Rbac("applicationsets", "get")
        }
        ("delete", "/api/v1/applicationsets/{name}") => Check::Rbac("applicationsets", "delete"),
        ("get", "/api/v1/applications/{name}")
        | ("get", "/api/v1/applications/{name}/resource-tree")
        | ("get", "/api/v1/applications/{name}/resource")
        | ("get", "/api/v1/applications/{name}/managed-resources")
        | ("get", "/api/v1/applications/{name}/syncwindows")
        | ("get", "/api/v1/applications/{name}/dependencies")
        | ("get", "/api/v1/applications/{name}/events") => Check::Rbac("applications", "get"),
        ("delete", "/api/v1/applications/{name}") | ("post", "/api/v1/applications/{name}/confirm-deletion") => {
            Check::Rbac("applications", "delete")
        }
        ("delete", "/api/v1/applications/{name}/resource") => Check::Rbac("applications", "delete//ConfigMap/{ns}/x"),
        ("post", "/api/v1/applications/{name}/sync")
        | ("post", "/api/v1/applications/{name}/rollback")
        | ("delete", "/api/v1/applications/{name}/operation") => Check::Rbac("applications", "sync"),
        ("get", "/api/v1/clusters/{server}") => Check::Rbac("clusters", "get"),
        ("delete", "/api/v1/clusters/{server}") => Check::Rbac("clusters", "delete"),
        ("post", "/api/v1/projects") => Check::Rbac("projects", "create"),
        ("get", "/api/v1/projects/{name}") | ("get", "/api/v1/projects/{name}/syncwindows") => Check::Rbac("projects", "get"),
        ("put", "/api/v1/projects/{name}") => Check::Rbac("projects", "update"),
        ("delete", "/api/v1/projects/{name}") => Check::Rbac("projects", "delete"),
        ("post", "/api/v1/projects/{project}/roles/{role}/token") | ("delete", "/api/v1/projects/{project}/roles/{role}/token/{iat}") => {
            Check::Rbac("projects", "update")
        }
        ("post", "/api/v1/account/{name}/token") | ("put", "/api/v1/account/password") => Check::Rbac("accounts", "update"),
        (m, p) => panic!("the RBAC matrix does not know what {m} {p} checks: add it to check_of"),
    }
}

/// A caller of the matrix and how the oracle judges them.
struct Caller {
    label: &'static str,
    token: String,
    /// User subjects, or a project token's (project, role).
    subjects: Vec<String>,
    project_token: Option<(&'static str, &'static str)>,
}

#[tokio::test]
async fn rbac_matrix_every_route_every_builtin_role_and_a_project_token() {
    let ns = TestNamespace::new("rbac-matrix").await.expect("namespace");
    // dev holds the project role through a `g` line; a global line gives
    // the role more, as in Argo CD's argocd-rbac-cm.
    let csv = "g, reader, role:readonly\ng, dev, proj:team:ci\np, proj:team:ci, applicationsets, get, team/*, allow\n";
    let server = Server::start(&ns, csv).await;
    let n = ns.name().to_string();
    // The SSO group team-devs holds it through the role's groups.
    let mut roles: Value = serde_json::from_str(TEAM_ROLES).expect("roles");
    roles[0]["groups"] = json!(["team-devs"]);
    let team = project(&ns, "team", &[], roles).await;
    project(&ns, "mx", &[], json!([])).await;
    let client = ns.client();
    app(&client, &n, "web", "team").await;
    appset(&client, &n, "web", "team").await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let r = server.as_user(&admin, Method::POST, "/api/v1/projects/team/roles/ci/token", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let callers = [
        Caller { label: "role:admin", token: admin.clone(), subjects: vec!["admin".into()], project_token: None },
        Caller {
            label: "role:readonly",
            token: server.login("reader", PASSWORD).await,
            subjects: vec!["reader".into()],
            project_token: None,
        },
        Caller { label: "no role", token: server.login("carol", PASSWORD).await, subjects: vec!["carol".into()], project_token: None },
        Caller {
            label: "project token team:ci",
            token: r.body["token"].as_str().expect("token").to_string(),
            subjects: Vec::new(),
            project_token: Some(("team", "ci")),
        },
        Caller {
            label: "user dev, g line to proj:team:ci",
            token: server.login("dev", PASSWORD).await,
            subjects: vec!["dev".into()],
            project_token: None,
        },
        Caller {
            label: "SSO group team-devs, in the role's groups",
            token: sso_session(&signing_key(&ns).await, "sam@example.com", &["team-devs"]),
            subjects: vec!["sam@example.com".into(), "team-devs".into()],
            project_token: None,
        },
    ];
    // The oracle: the policy the server builds, judged by the pure rbac module.
    let mut policy = Policy::from_configmap(&BTreeMap::from([("policy.csv".to_string(), csv.to_string())])).expect("policy");
    assert!(policy.add_project(&team).is_empty());
    let expect = |c: &Caller, resource: &str, action: &str, object: &str| match c.project_token {
        Some((p, role)) => policy.for_project_token(p, role).allows(resource, action, object),
        None => policy.enforce(&c.subjects, resource, action, object),
    };

    let spec = server.call(Method::GET, "/swagger.json", &[], None).await.body;
    let routes: Vec<(String, String)> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| ops.as_object().expect("ops").keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let in_cluster = IN_CLUSTER.replace(':', "%3A").replace('/', "%2F");
    // The repository (and template) the matrix registers: one on this
    // machine, since registering tests the connection.
    let git = driftless_testkit::GitRepo::new();
    git.write("README.md", "team\n");
    git.commit("first");
    let repo_url = git.url();
    // A repository and a credential template, registered through the API.
    for (path, url) in [("/api/v1/repositories", &repo_url), ("/api/v1/repocreds", &repo_url)] {
        let r = server.as_user(&admin, Method::POST, path, Some(json!({ "repo": url, "username": "bot", "password": "hunter2" }))).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    }
    let repo = repo_url.replace(':', "%3A").replace('/', "%2F");
    let (mut calls, mut refused, mut allowed) = (0, 0, 0);
    for (method, path) in &routes {
        let check = check_of(method, path);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        for (i, c) in callers.iter().enumerate() {
            // The route made concrete for an object that exists and one that does not.
            let concrete = |app: &str, proj: &str, cluster: &str| {
                let p = path
                    .replace(
                        "{name}",
                        if path.starts_with("/api/v1/projects") {
                            proj
                        } else if path.starts_with("/api/v1/account") {
                            "ci"
                        } else {
                            app
                        },
                    )
                    .replace("{server}", cluster)
                    .replace("{repo}", cluster)
                    .replace("{url}", cluster)
                    .replace("{project}", proj)
                    .replace("{role}", "ci")
                    .replace("{iat}", "1")
                    .replace("{resource}/{action}/{*subresource}", "applications/get/team/web");
                format!("{p}?appNamespace={n}&kind=ConfigMap&namespace={n}&resourceName=x&cascade=false")
            };
            let body = match (method.as_str(), path.as_str()) {
                ("post", "/api/v1/applications") => Some(json!({ "metadata": { "name": format!("new-{i}") }, "spec": { "project": "team",
                    "source": { "repoURL": "https://git.invalid/r.git", "path": "." }, "destination": { "server": IN_CLUSTER, "namespace": n } } })),
                ("post", "/api/v1/projects") => Some(json!({ "project": { "metadata": { "name": format!("new-{i}") } } })),
                ("post", "/api/v1/applicationsets") => Some(appset_body(&format!("new-{i}"), "team")),
                ("post", "/api/v1/applicationsets/generate") => Some(json!({ "applicationSet": appset_body(&format!("new-{i}"), "team") })),
                ("post", "/api/v1/repositories") | ("post", "/api/v1/repocreds") => {
                    Some(json!({ "repo": format!("{repo_url}-new-{i}"), "password": "hunter2" }))
                }
                ("put", "/api/v1/projects/{name}") => {
                    Some(json!({ "project": { "metadata": { "name": "mx" }, "spec": { "description": "changed" } } }))
                }
                ("put", "/api/v1/account/password") => {
                    Some(json!({ "name": "ci", "currentPassword": "wrong", "newPassword": "long-enough-1" }))
                }
                ("post", "/api/v1/applications/{name}/rollback") => Some(json!({ "id": 0 })),
                ("post", _) => Some(json!({})),
                _ => None,
            };
            let cluster_or_repo = if path.contains("/repo") { &repo } else { &in_cluster };
            let exists = concrete("web", "mx", cluster_or_repo).replace("/projects/mx/roles", "/projects/team/roles");
            if matches!(check, Check::Open) {
                continue;
            }
            if path == "/api/v1/stream/applications" {
                // The stream never ends: only its status is read.
                let req = http::Request::get(format!("{}{exists}", server.base))
                    .header("authorization", format!("Bearer {}", c.token))
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .expect("request");
                let status = server.http.request(req).await.expect("stream").status();
                calls += 1;
                assert_eq!(status, StatusCode::OK, "{}: GET {path}", c.label);
                allowed += 1;
                continue;
            }
            let r = server.as_user(&c.token, m.clone(), &exists, body.clone()).await;
            calls += 1;
            assert!(!r.text.contains("hunter2"), "{}: {method} {path} shows a repository password: {}", c.label, r.text);
            let should = match check {
                Check::Open => unreachable!("skipped"),
                Check::Filtered => {
                    // Project tokens list only what their project may see:
                    // apps and projects, never clusters or repositories.
                    c.project_token.is_none()
                        || path.starts_with("/api/v1/applications")
                        || path.contains("/stream/")
                        || path == "/api/v1/projects"
                }
                Check::Rbac(resource, action) => {
                    let action = action.replace("{ns}", &n);
                    let object = match resource {
                        "applications" if method == "post" && path == "/api/v1/applications" => format!("team/new-{i}"),
                        "applicationsets" if method == "post" => format!("team/new-{i}"),
                        "applications" | "applicationsets" => "team/web".to_string(),
                        "clusters" => IN_CLUSTER.to_string(),
                        "repositories" if method == "post" => format!("{repo_url}-new-{i}"),
                        "repositories" => repo_url.clone(),
                        "projects" if path.contains("/roles/") => "team".to_string(),
                        "projects" if method == "post" => format!("new-{i}"),
                        "projects" => "mx".to_string(),
                        _ => "ci".to_string(),
                    };
                    expect(c, resource, &action, &object) && !(matches!(resource, "clusters" | "repositories") && c.project_token.is_some())
                }
            };
            if should {
                assert_ne!(r.status, StatusCode::FORBIDDEN, "{} may {method} {path}: {}", c.label, r.text);
                // A wrong current password is the password route's own 401.
                if path != "/api/v1/account/password" {
                    assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{}: {method} {path}: {}", c.label, r.text);
                }
                allowed += 1;
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{} may not {method} {path}: {}", c.label, r.text);
                refused += 1;
                // The same refusal for an object that does not exist.
                let shown = if path.starts_with("/api/v1/applications/") || path.starts_with("/api/v1/applicationsets/") {
                    Some((format!("{n}/web"), format!("{n}/ghost")))
                } else if path.starts_with("/api/v1/clusters/") {
                    Some((IN_CLUSTER.to_string(), "https://ghost.invalid".to_string()))
                } else if path.starts_with("/api/v1/repositories/") || path.starts_with("/api/v1/repocreds/") {
                    Some((repo_url.clone(), "https://ghost.invalid".to_string()))
                } else if path.contains("/roles/") {
                    Some(("team".to_string(), "ghost".to_string()))
                } else if path.starts_with("/api/v1/projects/") {
                    Some(("mx".to_string(), "ghost".to_string()))
                } else {
                    None
                };
                if let Some((there, missing)) = shown {
                    let r2 =
                        server.as_user(&c.token, m.clone(), &concrete("ghost", "ghost", "https%3A%2F%2Fghost.invalid"), body.clone()).await;
                    calls += 1;
                    assert_eq!(r2.status, StatusCode::FORBIDDEN, "{}: {method} {path} (missing object): {}", c.label, r2.text);
                    let normal = |r: &Reply, object: &str| r.text.replace(&format!(", {object}, sub:"), ", {object}, sub:");
                    assert_eq!(
                        normal(&r, &there),
                        normal(&r2, &missing),
                        "{}: {method} {path}: the refusal tells whether the object exists",
                        c.label
                    );
                    refused += 1;
                }
            }
            // What an allowed call changed is put back for the next caller.
            if r.status.is_success() && method == "delete" && path == "/api/v1/applications/{name}" {
                gone(&ns.api::<Application>(), "web").await;
                app(&client, &n, "web", "team").await;
                wait_for("the app back in the server's store", TIMEOUT, || async {
                    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applications/web?appNamespace={n}"), None).await;
                    if r.status == StatusCode::OK { Ok(()) } else { Err(r.text) }
                })
                .await
                .expect("recreated");
            }
            if r.status.is_success() && method == "delete" && path == "/api/v1/applicationsets/{name}" {
                gone(&ns.api::<ApplicationSet>(), "web").await;
                appset(&client, &n, "web", "team").await;
            }
            if r.status.is_success() && method == "delete" && path == "/api/v1/projects/{name}" {
                project(&ns, "mx", &[], json!([])).await;
            }
            if r.status.is_success() && method == "delete" && path.contains("/repo") {
                let back = if path.starts_with("/api/v1/repocreds") { "/api/v1/repocreds" } else { "/api/v1/repositories" };
                let r = server.as_user(&admin, Method::POST, back, Some(json!({ "repo": repo_url, "password": "hunter2" }))).await;
                assert_eq!(r.status, StatusCode::OK, "re-register: {}", r.text);
            }
        }
    }
    println!(
        "rbac matrix: {calls} calls, {refused} refused as expected, {allowed} allowed, over {} routes and {} callers",
        routes.len(),
        callers.len()
    );
    assert!(refused > 0 && allowed > 0);
    let _ = ns.api::<AppProject>().delete("mx", &DeleteParams::default()).await;
}
