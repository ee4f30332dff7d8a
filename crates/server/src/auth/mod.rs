//! Who is asking: sessions (cookie or bearer JWT), API tokens, CSRF, and the
//! middleware that puts an [`Identity`] on every request or refuses it.

pub mod accounts;
pub mod throttle;
pub mod token;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, Method, header};

use crate::error::ApiError;
use crate::state::AppState;
use token::{Claims, TokenKind};

/// The session cookie, as Argo CD names it.
pub const SESSION_COOKIE: &str = "argocd.token";
/// The CSRF cookie, which the UI's script copies into [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "driftless.csrf";
/// The header a cookie-authenticated state-changing request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a login session lasts (Argo CD's default).
pub const SESSION_SECONDS: i64 = 24 * 3600;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Account or SSO user name; what `initiatedBy.username` records.
    pub username: String,
    /// SSO groups (none for local accounts).
    pub groups: Vec<String>,
    /// SSO e-mail.
    pub email: Option<String>,
    /// How the caller's token was issued.
    pub kind: TokenKind,
}

impl Identity {
    /// The RBAC subjects: the user, plus the SSO claims `scopes` names
    /// (`groups`, `email`). A name that reads as a project role
    /// (`proj:...`) is dropped: project roles are held through `g` lines,
    /// a project's groups or its tokens, never by calling oneself so.
    pub fn subjects(&self, scopes: &[String]) -> Vec<String> {
        let mut s = vec![self.username.clone()];
        if self.kind == TokenKind::Sso {
            if scopes.iter().any(|x| x == "groups") {
                s.extend(self.groups.iter().cloned());
            }
            if scopes.iter().any(|x| x == "email") {
                s.extend(self.email.iter().cloned());
            }
        }
        s.retain(|x| !x.starts_with(crate::rbac::PROJECT_SUBJECT_PREFIX));
        s
    }

    /// The project and role of a project token.
    pub fn project_token(&self) -> Option<(&str, &str)> {
        if self.kind != TokenKind::Project {
            return None;
        }
        crate::rbac::parse_project_subject(&self.username)
    }

    /// Whether the caller is a local account acting for itself (a login
    /// session or the account's API token), which may manage its own
    /// password and tokens without `accounts, update`.
    pub fn is_account(&self, name: &str) -> bool {
        matches!(self.kind, TokenKind::Login | TokenKind::ApiKey) && self.username == name
    }
}

/// What a path needs from an anonymous caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Served to anyone (an identity is still attached when there is one).
    Public,
    /// A UI page: anonymous callers are sent to the login page.
    Page,
    /// The API: anonymous callers get 401.
    Api,
}

fn access(method: &Method, path: &str) -> Access {
    let public = matches!(path, "/login" | "/swagger.json" | "/healthz" | "/api/v1/settings" | "/api/v1/session/userinfo" | "/api/webhook")
        || path.starts_with("/assets/")
        || path.starts_with("/auth/")
        || (path == "/api/v1/session" && (method == Method::POST || method == Method::DELETE));
    if public {
        Access::Public
    } else if path == "/" || path == "/applications" || path.starts_with("/applications/") || path == "/clusters" {
        Access::Page
    } else {
        Access::Api
    }
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The bearer token of the Authorization header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The two `Set-Cookie` values of a new session: the HttpOnly token and
/// the script-readable CSRF value.
pub fn session_cookies(token: &str, secure: bool) -> [HeaderValue; 2] {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = SESSION_SECONDS;
    let csrf = accounts::random_token(24);
    [
        HeaderValue::from_str(&format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"))
            .expect("a JWT is a valid header value"),
        HeaderValue::from_str(&format!("{CSRF_COOKIE}={csrf}; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"))
            .expect("base64url is a valid header value"),
    ]
}

/// `Set-Cookie` values that remove both session cookies.
pub fn clear_cookies(secure: bool) -> [HeaderValue; 2] {
    let secure = if secure { "; Secure" } else { "" };
    [
        HeaderValue::from_str(&format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")).expect("valid"),
        HeaderValue::from_str(&format!("{CSRF_COOKIE}=; SameSite=Strict; Path=/; Max-Age=0{secure}")).expect("valid"),
    ]
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

/// Checks a token against the signing key and the current accounts.
pub fn identify(state: &AppState, token: &str) -> Option<Identity> {
    let key = state.settings.secret_value("server.secretkey")?;
    let claims: Claims = token::verify(token, key.as_bytes(), unix_now()).ok()?;
    let cm = state.settings.argocd_cm();
    let kind = claims.kind()?;
    match kind {
        TokenKind::Login => {
            let acct = accounts::account(&cm, &claims.sub)?;
            (acct.enabled && acct.login).then_some(())?;
            // A password change ends the sessions opened before it.
            let changed = state.settings.secret_value(&accounts::password_mtime_key(&claims.sub));
            let changed = changed.and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok()).map(|t| t.as_second());
            changed.is_none_or(|t| claims.iat >= t).then_some(())?;
        }
        TokenKind::ApiKey => {
            let acct = accounts::account(&cm, &claims.sub)?;
            (acct.enabled && acct.api_key).then_some(())?;
            // Revoked when its record is gone from argocd-secret.
            let records = accounts::parse_tokens(state.settings.secret_value(&accounts::tokens_key(&claims.sub)).as_deref());
            let id = claims.jti.as_deref()?;
            records.iter().any(|r| r.id == id).then_some(())?;
        }
        TokenKind::Sso => {}
        TokenKind::Project => {
            let (project, role) = crate::rbac::parse_project_subject(&claims.sub)?;
            state.project_token_valid(project, role, claims.iat, claims.jti.as_deref()).then_some(())?;
        }
    }
    // Only project tokens speak for a project role.
    if kind != TokenKind::Project && claims.sub.starts_with(crate::rbac::PROJECT_SUBJECT_PREFIX) {
        return None;
    }
    Some(Identity { username: claims.sub, groups: claims.groups, email: claims.email, kind })
}

/// Authenticates every request, enforces CSRF on cookie-authenticated
/// state-changing requests, and turns anonymous callers away (401 for the
/// API, 303 to the login page for UI pages).
pub async fn middleware(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let access = access(&method, &path);
    let headers = req.headers();
    let (identity, via_cookie) = match bearer(headers) {
        Some(t) => (identify(&state, t), false),
        None => match cookie(headers, SESSION_COOKIE).filter(|t| !t.is_empty()) {
            Some(t) => (identify(&state, t), true),
            None => (None, false),
        },
    };
    match identity {
        Some(identity) => {
            let changes_state = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
            // Logging in again is exempt: it is what the login page does,
            // whatever cookie the browser still holds.
            let login = path == "/api/v1/session" && method == Method::POST;
            if via_cookie && changes_state && !login {
                let expected = cookie(headers, CSRF_COOKIE).filter(|c| !c.is_empty());
                let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                if expected.is_none() || expected != sent {
                    return ApiError::forbidden(format!(
                        "missing or wrong {CSRF_HEADER} header: a state-changing request authenticated by the session cookie must \
                         carry the value of the {CSRF_COOKIE} cookie in it"
                    ))
                    .into_response();
                }
            }
            req.extensions_mut().insert(identity);
        }
        None => match access {
            Access::Public => {}
            Access::Page => {
                let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let encoded = percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC);
                return Redirect::to(&format!("/login?return_url={encoded}")).into_response();
            }
            Access::Api => return ApiError::unauthenticated().into_response(),
        },
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_as_the_contract_says() {
        assert_eq!(access(&Method::POST, "/api/v1/session"), Access::Public);
        assert_eq!(access(&Method::GET, "/api/v1/session"), Access::Api);
        assert_eq!(access(&Method::GET, "/assets/app.js"), Access::Public);
        assert_eq!(access(&Method::GET, "/auth/callback"), Access::Public);
        assert_eq!(access(&Method::GET, "/applications"), Access::Page);
        assert_eq!(access(&Method::GET, "/applications/argocd/web"), Access::Page);
        assert_eq!(access(&Method::GET, "/"), Access::Page);
        assert_eq!(access(&Method::GET, "/clusters"), Access::Page);
        assert_eq!(access(&Method::GET, "/api/v1/clusters"), Access::Api);
        assert_eq!(access(&Method::GET, "/api/v1/applications"), Access::Api);
        assert_eq!(access(&Method::GET, "/applicationsets"), Access::Api);
    }

    #[test]
    fn cookies_and_bearer_tokens_are_read() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; argocd.token=abc; driftless.csrf=xyz"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(bearer(&h), Some("tok"));
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_optionally_secure() {
        let [session, csrf] = session_cookies("t", true);
        let session = session.to_str().unwrap();
        assert!(session.starts_with("argocd.token=t;") && session.contains("HttpOnly") && session.contains("SameSite=Strict"));
        assert!(session.ends_with("; Secure"));
        let csrf = csrf.to_str().unwrap();
        assert!(csrf.starts_with("driftless.csrf=") && !csrf.contains("HttpOnly"));
        assert!(!session_cookies("t", false)[0].to_str().unwrap().contains("Secure"));
    }
}
