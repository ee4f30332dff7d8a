//! Sessions, API tokens, passwords and the public settings.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{StatusCode, header};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::JsonBody;
use crate::auth::accounts::{self, TokenRecord};
use crate::auth::token::{self, Claims, TokenKind};
use crate::auth::{self, Identity, SESSION_SECONDS};
use crate::error::ApiError;
use crate::settings::ARGOCD_SECRET;
use crate::state::AppState;

/// Argo CD's SessionCreateRequest.
#[derive(Deserialize)]
pub struct LoginRequest {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The one answer to every wrong login, so that it never tells whether
/// the account exists.
const BAD_LOGIN: &str = "Invalid username or password";

/// A signed session for `claims`, with its cookies.
pub fn session_response(state: &AppState, claims: &Claims) -> Result<Response, ApiError> {
    let key = state
        .settings
        .secret_value("server.secretkey")
        .ok_or_else(|| ApiError::internal("sign a session", "argocd-secret has no server.secretkey"))?;
    let jwt = token::sign(claims, key.as_bytes());
    let mut resp = Json(json!({ "token": jwt })).into_response();
    for c in auth::session_cookies(&jwt, state.config.secure_cookies) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// `POST /api/v1/session`: a local account's username and password in, a
/// session token (and cookies) out. Throttled per username.
pub async fn login(State(state): State<Arc<AppState>>, JsonBody(req): JsonBody<LoginRequest>) -> Result<Response, ApiError> {
    let user = req.username.trim().to_string();
    if user.is_empty() || req.password.is_empty() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, BAD_LOGIN));
    }
    if let Err(wait) = state.throttle.lock().unwrap_or_else(|e| e.into_inner()).check(&user, Instant::now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed login attempts for this username: try again in {} seconds", wait.as_secs().max(1)),
        ));
    }
    let account = accounts::account(&state.settings.argocd_cm(), &user).filter(|a| a.enabled && a.login);
    let hash = account.as_ref().and_then(|_| state.settings.secret_value(&accounts::password_key(&user)));
    // Unknown users cost a hash verification too: no timing tells them apart.
    let password = req.password;
    let ok = {
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || accounts::verify_password(&password, hash.as_deref().unwrap_or(accounts::dummy_hash())))
            .await
            .unwrap_or(false)
    };
    if !(ok && hash.is_some()) {
        state.throttle.lock().unwrap_or_else(|e| e.into_inner()).fail(&user, Instant::now());
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, BAD_LOGIN));
    }
    state.throttle.lock().unwrap_or_else(|e| e.into_inner()).succeed(&user);
    let now = auth::unix_now();
    let claims = Claims {
        iss: token::ISSUER.into(),
        sub: user,
        iat: now,
        nbf: None,
        exp: Some(now + SESSION_SECONDS),
        jti: None,
        kind: Some(TokenKind::Login),
        groups: Vec::new(),
        email: None,
    };
    session_response(&state, &claims)
}

/// `DELETE /api/v1/session`: clears the cookies.
pub async fn logout(State(state): State<Arc<AppState>>) -> Response {
    let mut resp = Json(json!({})).into_response();
    for c in auth::clear_cookies(state.config.secure_cookies) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// `GET /api/v1/session/userinfo`.
pub async fn userinfo(who: Option<Extension<Identity>>) -> Json<Value> {
    Json(match who {
        Some(Extension(who)) => json!({ "loggedIn": true, "username": who.username, "iss": "driftless", "groups": who.groups }),
        None => json!({ "loggedIn": false }),
    })
}

/// Argo CD's CreateTokenRequest (of accounts and of project roles alike).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    /// Seconds until it expires; 0 or absent: never.
    #[serde(default)]
    pub expires_in: i64,
    /// Its id; generated when empty.
    #[serde(default)]
    pub id: String,
}

/// `POST /api/v1/account/{name}/token`: an API token for an account with
/// the apiKey capability; one's own, or any with `accounts, update`.
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    if !who.is_account(&name) {
        state.enforce(&who, "accounts", "update", &name)?;
    }
    let account =
        accounts::account(&state.settings.argocd_cm(), &name).ok_or_else(|| ApiError::not_found(format!("account {name:?} not found")))?;
    if !account.api_key {
        return Err(ApiError::bad_request(format!(
            "account {name:?} does not have the apiKey capability: add it in argocd-cm (accounts.{name}: apiKey, login)"
        )));
    }
    if req.expires_in < 0 {
        return Err(ApiError::bad_request("expiresIn: must not be negative"));
    }
    let id = if req.id.is_empty() { accounts::random_token(12) } else { req.id };
    let now = auth::unix_now();
    let exp = (req.expires_in > 0).then_some(now + req.expires_in);
    let key_name = accounts::tokens_key(&name);
    let mut records = accounts::parse_tokens(state.settings.secret_value(&key_name).as_deref());
    if records.iter().any(|r| r.id == id) {
        return Err(ApiError::conflict(format!("account {name:?} already has a token with id {id:?}")));
    }
    records.push(TokenRecord { id: id.clone(), issued_at: now, expires_at: exp.unwrap_or(0) });
    let value = serde_json::to_string(&records).map_err(|e| ApiError::internal("encode token records", e))?;
    write_secret(&state, &[(key_name, value)]).await?;
    let key = state
        .settings
        .secret_value("server.secretkey")
        .ok_or_else(|| ApiError::internal("sign a token", "argocd-secret has no server.secretkey"))?;
    let claims = Claims {
        iss: token::ISSUER.into(),
        sub: name,
        iat: now,
        nbf: None,
        exp,
        jti: Some(id),
        kind: Some(TokenKind::ApiKey),
        groups: Vec::new(),
        email: None,
    };
    Ok(Json(json!({ "token": token::sign(&claims, key.as_bytes()) })))
}

/// `GET /api/v1/account/can-i/{resource}/{action}/{subresource}`: Argo
/// CD's answer `{"value":"yes"|"no"}`, so that the UI can offer only what
/// the policy allows (`subresource` is the RBAC object, e.g. `project/app`).
pub async fn can_i(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    Path((resource, action, subresource)): Path<(String, String, String)>,
) -> Json<Value> {
    let yes = state.allowed(&state.policy(), &who, &resource, &action, &subresource);
    Json(json!({ "value": if yes { "yes" } else { "no" } }))
}

/// Argo CD's UpdatePasswordRequest.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordRequest {
    #[serde(default)]
    name: String,
    current_password: String,
    new_password: String,
}

/// `PUT /api/v1/account/password`: one's own password (the current one
/// proves it), or another account's with `accounts, update`.
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Json<Value>, ApiError> {
    let name = if req.name.is_empty() { who.username.clone() } else { req.name.clone() };
    if !who.is_account(&name) {
        state.enforce(&who, "accounts", "update", &name)?;
    }
    if accounts::account(&state.settings.argocd_cm(), &name).is_none() {
        return Err(ApiError::not_found(format!("account {name:?} not found")));
    }
    if req.new_password.chars().count() < 8 {
        return Err(ApiError::bad_request("newPassword: at least 8 characters"));
    }
    // The caller's own current password, whoever's password changes.
    let own_hash = state.settings.secret_value(&accounts::password_key(&who.username)).unwrap_or_default();
    let current = req.current_password;
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&current, &own_hash)).await.unwrap_or(false);
    if !ok {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "current password does not match"));
    }
    let new = req.new_password;
    let hash =
        tokio::task::spawn_blocking(move || accounts::hash_password(&new)).await.map_err(|e| ApiError::internal("hash the password", e))?;
    write_secret(&state, &[(accounts::password_key(&name), hash), (accounts::password_mtime_key(&name), accounts::now_rfc3339())]).await?;
    Ok(Json(json!({})))
}

/// Sets keys of argocd-secret and takes the result into the watched copy.
async fn write_secret(state: &AppState, values: &[(String, String)]) -> Result<(), ApiError> {
    let secrets: Api<Secret> = Api::namespaced(state.client.clone(), state.config.namespace());
    let data: serde_json::Map<String, Value> = values.iter().map(|(k, v)| (k.clone(), json!(ByteString(v.clone().into_bytes())))).collect();
    let patch = json!({ "data": data });
    let updated = secrets
        .patch(ARGOCD_SECRET, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| ApiError::kube(&format!("update {ARGOCD_SECRET}"), e))?;
    state.settings.secret.set(updated);
    Ok(())
}

/// `GET /api/v1/settings` (public): the URL and the SSO provider's name.
pub async fn settings(State(state): State<Arc<AppState>>) -> Json<Value> {
    let cm = state.settings.argocd_cm();
    let oidc = crate::settings::oidc_name(&cm).map(|name| json!({ "name": name }));
    Json(json!({
        "url": cm.get("url").cloned().unwrap_or_default(),
        "oidcConfig": oidc,
        "userLoginsDisabled": false,
    }))
}
