//! The relying party against a real Dex on 127.0.0.1 (installed by scripts/tools/dex.sh): the
//! whole authorization code flow as a browser drives it, and the ID token checks.

#[path = "support/dex.rs"]
mod dex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dex::{Dex, DexClient, DexUser, browse, code_and_state};
use driftless_oidc::{Error, Identity, PendingLogin, Provider};

const REDIRECT_URI: &str = "http://127.0.0.1:8080/auth/callback";

fn driftless_client() -> DexClient {
    DexClient::new("driftless", REDIRECT_URI)
}

fn other_client() -> DexClient {
    DexClient::new("other-app", "http://127.0.0.1:8081/callback")
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client")
}

async fn provider(dex: &Dex, client: &DexClient) -> Provider {
    Provider::discover(&dex.issuer, client.id.clone(), Some(client.secret.clone()), client.redirect_uri.clone())
        .await
        .unwrap_or_else(|e| panic!("discovery: {e}\nDex log:\n{}", dex.log()))
}

/// Runs the browser part of a login: returns the callback's code and the login to finish,
/// after checking the callback's state as the server does.
async fn login(provider: &Provider, client: &DexClient, user: DexUser) -> (String, PendingLogin) {
    let (url, pending) = provider.authorize(&[]);
    let callback = browse(&browser(), &url, user, &client.redirect_uri).await;
    let (code, state) = code_and_state(&callback);
    pending.verify_state(&state).expect("the callback carries the state the login started with");
    (code, pending)
}

/// Replaces an ID token's payload by `edit` applied to its claims, keeping header and signature.
fn tamper(id_token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = id_token.split('.').collect();
    assert_eq!(parts.len(), 3, "an ID token is a signed JWT");
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload base64")).expect("payload JSON");
    edit(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims JSON"));
    format!("{}.{payload}.{}", parts[0], parts[2])
}

fn rejection_reason(result: Result<Identity, Error>) -> String {
    match result {
        Err(Error::IdToken { reason, .. }) => reason,
        other => panic!("expected the ID token to be rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn password_login_through_dex_yields_the_verified_identity() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (url, _) = provider.authorize(&[]);
    let url = reqwest::Url::parse(&url).expect("authorization URL");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    assert_eq!(param("response_type"), Some("code"));
    assert_eq!(param("code_challenge_method"), Some("S256"));
    assert_eq!(param("scope"), Some("openid profile email groups"));
    assert!(param("nonce").is_some() && param("state").is_some() && param("code_challenge").is_some());

    let (code, pending) = login(&provider, &client, DexUser::Password).await;
    let identity = provider.exchange(&code, &pending).await.unwrap_or_else(|e| panic!("exchange: {e}\nDex log:\n{}", dex.log()));
    assert!(!identity.subject.is_empty());
    assert_eq!(identity.email.as_deref(), Some(dex::PASSWORD_USER_EMAIL));
    assert_eq!(identity.name.as_deref(), Some(dex::PASSWORD_USER_NAME));
    assert!(identity.groups.is_empty(), "Dex gives static password users no groups: {:?}", identity.groups);
}

#[tokio::test]
async fn a_group_member_gets_the_groups_claim() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (code, pending) = login(&provider, &client, DexUser::GroupMember).await;
    let identity = provider.exchange(&code, &pending).await.unwrap_or_else(|e| panic!("exchange: {e}\nDex log:\n{}", dex.log()));
    assert_eq!(identity.groups, [dex::GROUP_USER_GROUP]);
    assert_eq!(identity.email.as_deref(), Some(dex::GROUP_USER_EMAIL));
}

#[tokio::test]
async fn without_the_groups_scope_there_is_no_groups_claim() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (url, pending) = provider.authorize(&["email".to_owned()]);
    let callback = browse(&browser(), &url, DexUser::GroupMember, &client.redirect_uri).await;
    let (code, _) = code_and_state(&callback);
    let identity = provider.exchange(&code, &pending).await.expect("exchange");
    assert!(identity.groups.is_empty(), "{:?}", identity.groups);
}

#[tokio::test]
async fn a_wrong_nonce_is_rejected() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (code, mut pending) = login(&provider, &client, DexUser::GroupMember).await;
    // The nonce of another login: the ID token is replayed into this one.
    pending.nonce = provider.authorize(&[]).1.nonce;
    let reason = rejection_reason(provider.exchange(&code, &pending).await);
    assert!(reason.contains("nonce"), "{reason}");
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_by_the_provider() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (code, mut pending) = login(&provider, &client, DexUser::Password).await;
    pending.pkce_verifier = provider.authorize(&[]).1.pkce_verifier;
    let error = provider.exchange(&code, &pending).await.expect_err("Dex must refuse the code without the right verifier");
    let message = error.to_string();
    assert!(matches!(error, Error::Exchange { .. }), "{message}");
    assert!(message.contains(&dex.issuer) && message.contains("code_verifier"), "{message}");
    for secret in [&code, &pending.pkce_verifier, &client.secret] {
        assert!(!message.contains(secret.as_str()), "the error shows a secret: {message}");
    }
}

#[tokio::test]
async fn a_code_is_used_once() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (code, pending) = login(&provider, &client, DexUser::Password).await;
    provider.exchange(&code, &pending).await.expect("first exchange");
    let error = provider.exchange(&code, &pending).await.expect_err("a replayed code must be refused");
    assert!(matches!(error, Error::Exchange { .. }), "{error}");
}

#[tokio::test]
async fn a_forged_state_is_rejected() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (url, pending) = provider.authorize(&[]);
    let callback = browse(&browser(), &url, DexUser::Password, &client.redirect_uri).await;
    let (_, state) = code_and_state(&callback);
    // Another login's callback (an attacker's code and state) must not finish this one.
    let (_, other) = provider.authorize(&[]);
    assert!(matches!(other.verify_state(&state), Err(Error::StateMismatch)));
    pending.verify_state(&state).expect("the genuine callback");
}

#[tokio::test]
async fn tokens_signed_with_rotated_keys_verify_after_fetching_the_new_keys() {
    let client = driftless_client();
    let mut dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;
    let (code, pending) = login(&provider, &client, DexUser::Password).await;
    let old_token = dex.raw_id_token(&client, &code, &pending.pkce_verifier).await;

    dex.restart().await;
    let (code, pending) = login(&provider, &client, DexUser::GroupMember).await;
    let new_token = dex.raw_id_token(&client, &code, &pending.pkce_verifier).await;
    let kid = |token: &str| -> serde_json::Value {
        let header = URL_SAFE_NO_PAD.decode(token.split('.').next().expect("JWT header")).expect("header base64");
        serde_json::from_slice::<serde_json::Value>(&header).expect("header JSON")["kid"].clone()
    };
    assert_ne!(kid(&old_token), kid(&new_token), "Dex came back with the same signing key");

    let identity = provider.verify_id_token(&new_token, Some(&pending.nonce)).await.expect("the provider fetches Dex's new keys");
    assert_eq!(identity.groups, [dex::GROUP_USER_GROUP]);
    // The old key is gone from Dex's key set, so its tokens no longer verify.
    rejection_reason(provider.verify_id_token(&old_token, None).await);
}

#[tokio::test]
async fn a_tampered_id_token_is_rejected() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    let provider = provider(&dex, &client).await;

    let (code, pending) = login(&provider, &client, DexUser::Password).await;
    let id_token = dex.raw_id_token(&client, &code, &pending.pkce_verifier).await;
    // Untouched, the token verifies: what follows fails because of the tampering alone.
    let identity = provider.verify_id_token(&id_token, Some(&pending.nonce)).await.expect("the genuine token verifies");
    assert!(identity.groups.is_empty());

    let escalated = tamper(&id_token, |claims| claims["groups"] = serde_json::json!(["admins"]));
    let reason = rejection_reason(provider.verify_id_token(&escalated, Some(&pending.nonce)).await);
    assert!(reason.contains("Signature verification failed"), "{reason}");

    let payload = id_token.split('.').nth(1).expect("JWT payload");
    let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#));
    rejection_reason(provider.verify_id_token(&unsigned, Some(&pending.nonce)).await);
}

#[tokio::test]
async fn a_token_issued_to_another_client_is_rejected() {
    let (client, other) = (driftless_client(), other_client());
    let dex = Dex::start(&[client.clone(), other.clone()]).await;
    let provider = provider(&dex, &client).await;
    let other_provider = self::provider(&dex, &other).await;

    let (code, pending) = login(&other_provider, &other, DexUser::GroupMember).await;
    let id_token = dex.raw_id_token(&other, &code, &pending.pkce_verifier).await;
    let reason = rejection_reason(provider.verify_id_token(&id_token, Some(&pending.nonce)).await);
    assert!(reason.contains("audience"), "{reason}");
}

#[tokio::test]
async fn a_token_from_another_provider_is_rejected() {
    let client = driftless_client();
    let (dex, foreign) = (Dex::start(std::slice::from_ref(&client)).await, Dex::start(std::slice::from_ref(&client)).await);
    let provider = provider(&dex, &client).await;
    let foreign_provider = self::provider(&foreign, &client).await;

    let (code, pending) = login(&foreign_provider, &client, DexUser::GroupMember).await;
    let id_token = foreign.raw_id_token(&client, &code, &pending.pkce_verifier).await;
    let reason = rejection_reason(provider.verify_id_token(&id_token, Some(&pending.nonce)).await);
    assert!(reason.contains("issuer"), "{reason}");
}

#[tokio::test]
async fn discovery_names_the_issuer_it_could_not_use() {
    let client = driftless_client();
    let dex = Dex::start(std::slice::from_ref(&client)).await;
    // Dex answers under this URL, but its document names 127.0.0.1 as the issuer.
    let wrong = dex.issuer.replace("127.0.0.1", "localhost");
    let error = Provider::discover(&wrong, client.id.clone(), Some(client.secret.clone()), client.redirect_uri.clone())
        .await
        .expect_err("an issuer mismatch must fail discovery");
    let message = error.to_string();
    assert!(matches!(error, Error::Discovery { .. }) && message.contains(&wrong), "{message}");
    assert!(!message.contains(&client.secret), "{message}");

    let error = Provider::discover("not a url", client.id.clone(), None, client.redirect_uri.clone()).await.expect_err("bad issuer");
    assert!(matches!(error, Error::InvalidUrl { field: "issuer", .. }), "{error}");
}
