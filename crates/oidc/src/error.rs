//! Errors of the relying party. Messages name the issuer and the reason, and never carry a
//! client secret, an authorization code, a token or a PKCE verifier.

/// What went wrong talking to an OpenID Connect provider.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configured URL (issuer or redirect URL) does not parse.
    #[error("OIDC: {field} {value:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// Which setting: "issuer" or "redirect URL".
        field: &'static str,
        /// The URL as configured (never secret).
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("OIDC: cannot build the HTTP client: {0}")]
    HttpClient(String),
    /// `/.well-known/openid-configuration` or the JWKS could not be fetched or is invalid.
    #[error("OIDC provider {issuer}: discovery failed: {reason}")]
    Discovery {
        /// The configured issuer URL.
        issuer: String,
        /// What failed, with its causes.
        reason: String,
    },
    /// The provider's metadata has no token endpoint, so the code cannot be exchanged.
    #[error("OIDC provider {issuer}: its discovery document has no token_endpoint")]
    NoTokenEndpoint {
        /// The configured issuer URL.
        issuer: String,
    },
    /// The token endpoint refused the code or could not be reached.
    #[error("OIDC provider {issuer}: exchanging the authorization code failed: {reason}")]
    Exchange {
        /// The configured issuer URL.
        issuer: String,
        /// The provider's error code and description, or the transport error.
        reason: String,
    },
    /// The token response carried no ID token.
    #[error("OIDC provider {issuer}: the token response has no id_token (was the openid scope granted?)")]
    NoIdToken {
        /// The configured issuer URL.
        issuer: String,
    },
    /// The ID token failed verification: signature, issuer, audience, expiry or nonce.
    #[error("OIDC provider {issuer}: ID token rejected: {reason}")]
    IdToken {
        /// The configured issuer URL.
        issuer: String,
        /// Which check failed.
        reason: String,
    },
    /// The provider's signing keys could not be fetched again after a key rotation.
    #[error("OIDC provider {issuer}: cannot refresh its signing keys: {reason}")]
    Jwks {
        /// The configured issuer URL.
        issuer: String,
        /// What failed, with its causes.
        reason: String,
    },
    /// The `state` returned to the callback is not the one the login started with (a forged or
    /// replayed callback).
    #[error("OIDC login: the callback's state does not match the login it claims to finish")]
    StateMismatch,
}

/// Renders an error with its chain of causes, because the libraries below put the useful part
/// (connection refused, HTTP status, JSON path) in `source()`, not in `Display`.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some wrappers repeat their cause's message verbatim.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
