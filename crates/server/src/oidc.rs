//! Single sign-on: `argocd-cm` `oidc.config` names an OpenID Connect
//! provider; `/auth/login` sends the browser there (authorization code flow
//! with PKCE, through `driftless-oidc`), `/auth/callback` finishes, signs a
//! session whose groups feed RBAC, and sends the browser back.
//!
//! Between the two, the pending login (state, nonce, PKCE verifier) is kept
//! in a short-lived HttpOnly cookie, encrypted and authenticated under a key
//! derived from `server.secretkey`, so the server keeps no login state.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use driftless_oidc::{PendingLogin, Provider};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use ring::aead;
use serde::{Deserialize, Serialize};

use crate::api::{query_pairs, query_value};
use crate::auth::token::{Claims, TokenKind};
use crate::auth::{self, SESSION_SECONDS};
use crate::error::ApiError;
use crate::settings::{self, OidcConfig};
use crate::state::AppState;

/// The cookie that carries the pending login.
const PENDING_COOKIE: &str = "driftless.oidc";
/// How long a login at the provider may take.
const PENDING_SECONDS: i64 = 600;

/// What the pending-login cookie holds.
#[derive(Serialize, Deserialize)]
struct Pending {
    login: PendingLogin,
    return_url: String,
    exp: i64,
}

/// The discovered provider, with the configuration it was discovered for
/// (discovered again when `oidc.config` or the URL changes).
pub type ProviderCache = tokio::sync::Mutex<Option<(String, Provider)>>;

/// Only paths of this server: never an open redirect.
fn safe_return_url(url: Option<&str>) -> String {
    match url {
        Some(u) if u.starts_with('/') && !u.starts_with("//") && !u.contains('\\') => u.to_string(),
        _ => "/applications".to_string(),
    }
}

/// The server's external URL: `argocd-cm` `url`, else from the Host header.
fn external_url(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = state.settings.argocd_cm().get("url").filter(|u| !u.is_empty()) {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("argocd-cm has no url and the request no Host header: set url in argocd-cm"))?;
    let scheme = if state.config.secure_cookies { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}

/// The configured provider, discovered on first use.
async fn provider(state: &AppState, headers: &HeaderMap) -> Result<(OidcConfig, Provider), ApiError> {
    let cm = state.settings.argocd_cm();
    let config = settings::oidc_config(&cm)
        .map_err(ApiError::bad_request)?
        .ok_or_else(|| ApiError::not_found("single sign-on is not configured: set oidc.config in argocd-cm"))?;
    // `$key` names a key of argocd-secret, as in Argo CD.
    let secret = match config.client_secret.as_deref() {
        Some(s) if s.starts_with('$') => Some(state.settings.secret_value(&s[1..]).ok_or_else(|| {
            ApiError::bad_request(format!("argocd-cm oidc.config clientSecret refers to {s}, which argocd-secret does not have"))
        })?),
        other => other.map(String::from),
    };
    let redirect = format!("{}/auth/callback", external_url(state, headers)?);
    let key = format!("{}\n{}\n{}\n{}", config.issuer, config.client_id, secret.as_deref().unwrap_or(""), redirect);
    let mut cache = state.oidc.lock().await;
    if let Some((k, p)) = cache.as_ref()
        && *k == key
    {
        return Ok((config, p.clone()));
    }
    let p = Provider::discover(&config.issuer, config.client_id.clone(), secret, redirect).await.map_err(|e| {
        tracing::warn!("single sign-on: {e}");
        ApiError::new(StatusCode::BAD_GATEWAY, format!("the single sign-on provider cannot be reached: {e}"))
    })?;
    *cache = Some((key, p.clone()));
    Ok((config, p))
}

fn cookie_key(state: &AppState) -> Result<aead::LessSafeKey, ApiError> {
    let secret = state
        .settings
        .secret_value("server.secretkey")
        .ok_or_else(|| ApiError::internal("sign in", "argocd-secret has no server.secretkey"))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"driftless-oidc-pending-login\0");
    ctx.update(secret.as_bytes());
    let key = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, ctx.finish().as_ref()).expect("a 32-byte key");
    Ok(aead::LessSafeKey::new(key))
}

fn seal(key: &aead::LessSafeKey, plain: &[u8]) -> String {
    let mut nonce = [0u8; aead::NONCE_LEN];
    auth::accounts::fill_random(&mut nonce);
    let mut data = plain.to_vec();
    key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut data).expect("sealing works");
    let mut out = nonce.to_vec();
    out.extend(data);
    URL_SAFE_NO_PAD.encode(out)
}

fn open(key: &aead::LessSafeKey, sealed: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < aead::NONCE_LEN {
        return None;
    }
    let (nonce, rest) = bytes.split_at(aead::NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = rest.to_vec();
    key.open_in_place(nonce, aead::Aad::empty(), &mut data).ok().map(|p| p.to_vec())
}

fn pending_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    // Lax, not Strict: the callback is a navigation coming from the provider.
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{PENDING_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/auth; Max-Age={max_age}{secure}"))
        .expect("base64url is a valid header value")
}

/// `GET /auth/login?return_url=`: to the provider.
pub async fn login(State(state): State<Arc<AppState>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    let return_url = safe_return_url(query_value(&pairs, "return_url"));
    let (config, provider) = provider(&state, &headers).await?;
    let (url, login) = provider.authorize(&config.requested_scopes);
    let pending = Pending { login, return_url, exp: auth::unix_now() + PENDING_SECONDS };
    let plain = serde_json::to_vec(&pending).map_err(|e| ApiError::internal("start a login", e))?;
    let sealed = seal(&cookie_key(&state)?, &plain);
    let mut resp = Redirect::to(&url).into_response();
    resp.headers_mut().append(header::SET_COOKIE, pending_cookie(&sealed, PENDING_SECONDS, state.config.secure_cookies));
    Ok(resp)
}

/// `GET /auth/callback?code&state`: checks the state, exchanges the code,
/// signs a session with the user's groups, and returns to `return_url`.
pub async fn callback(State(state): State<Arc<AppState>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    if let Some(err) = query_value(&pairs, "error") {
        let detail = query_value(&pairs, "error_description").unwrap_or("");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, format!("the single sign-on provider refused the login: {err} {detail}")));
    }
    let code = query_value(&pairs, "code").filter(|c| !c.is_empty()).ok_or_else(|| ApiError::bad_request("callback without code"))?;
    let returned_state = query_value(&pairs, "state").unwrap_or("");
    let restart = || ApiError::bad_request("this login expired or was started in another browser: log in again from /login");
    let sealed = auth::cookie(&headers, PENDING_COOKIE).ok_or_else(restart)?;
    let plain = open(&cookie_key(&state)?, sealed).ok_or_else(restart)?;
    let pending: Pending = serde_json::from_slice(&plain).map_err(|_| restart())?;
    if pending.exp <= auth::unix_now() {
        return Err(restart());
    }
    pending.login.verify_state(returned_state).map_err(|_| ApiError::bad_request("state mismatch: log in again from /login"))?;
    let (_, provider) = provider(&state, &headers).await?;
    let identity = provider.exchange(code, &pending.login).await.map_err(|e| {
        tracing::warn!("single sign-on: {e}");
        ApiError::new(StatusCode::UNAUTHORIZED, format!("single sign-on failed: {e}"))
    })?;
    let now = auth::unix_now();
    let claims = Claims {
        iss: crate::auth::token::ISSUER.into(),
        sub: identity.email.clone().unwrap_or_else(|| identity.subject.clone()),
        iat: now,
        nbf: None,
        exp: Some(now + SESSION_SECONDS),
        jti: None,
        kind: Some(TokenKind::Sso),
        groups: identity.groups,
        email: identity.email,
    };
    let session = crate::api::session_response(&state, &claims)?;
    let mut resp = Redirect::to(&pending.return_url).into_response();
    for c in session.headers().get_all(header::SET_COOKIE) {
        resp.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    resp.headers_mut().append(header::SET_COOKIE, pending_cookie("", 0, state.config.secure_cookies));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_stay_on_this_server() {
        assert_eq!(safe_return_url(Some("/applications/argocd/web")), "/applications/argocd/web");
        assert_eq!(safe_return_url(Some("//evil.example/x")), "/applications");
        assert_eq!(safe_return_url(Some("https://evil.example/")), "/applications");
        assert_eq!(safe_return_url(Some("/\\evil.example")), "/applications");
        assert_eq!(safe_return_url(None), "/applications");
    }

    #[test]
    fn sealed_cookies_open_only_with_their_key_and_unaltered() {
        let key = |s: &[u8]| aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &[s[0]; 32]).expect("key"));
        let sealed = seal(&key(b"a"), b"pending login");
        assert_eq!(open(&key(b"a"), &sealed).as_deref(), Some(&b"pending login"[..]));
        assert_eq!(open(&key(b"b"), &sealed), None);
        let mut altered = sealed.into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&key(b"a"), &String::from_utf8(altered).expect("ascii")), None);
        assert_eq!(open(&key(b"a"), "short"), None);
    }
}
