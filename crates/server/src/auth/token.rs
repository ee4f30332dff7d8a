//! Session and API tokens: JWTs signed with HMAC-SHA256 (HS256, as Argo CD
//! signs its own) under the key kept in `argocd-secret` `server.secretkey`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// Who a token stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `driftless`.
    pub iss: String,
    /// The user: a local account name, or an SSO user's name.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds); API tokens may never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The API token's id (kept in `argocd-secret`, so it can be revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// How the token was issued.
    pub kind: TokenKind,
    /// SSO groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// SSO e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// How a token was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenKind {
    /// A local account's login session.
    Login,
    /// A local account's API token.
    ApiKey,
    /// An SSO login session.
    Sso,
}

/// Why a token is not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Signed by another key (or altered).
    #[error("invalid token signature")]
    Signature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs `claims`.
pub fn sign(claims: &Claims, key: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialise");
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(payload));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Checks the signature (in constant time) and the expiry against `now`
/// (Unix seconds), and returns the claims.
pub fn verify(token: &str, key: &[u8], now: i64) -> Result<Claims, Error> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(Error::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(Error::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Error::Malformed)?;
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), signing_input.as_bytes(), &signature).map_err(|_| Error::Signature)?;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|_| Error::Malformed)?).map_err(|_| Error::Malformed)?;
    // Only what we issue: a signed token never names another algorithm.
    if header["alg"] != "HS256" {
        return Err(Error::Malformed);
    }
    let claims: Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).map_err(|_| Error::Malformed)?).map_err(|_| Error::Malformed)?;
    if claims.exp.is_some_and(|exp| exp <= now) {
        return Err(Error::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: Option<i64>) -> Claims {
        Claims {
            iss: "driftless".into(),
            sub: "admin".into(),
            iat: 100,
            exp,
            jti: None,
            kind: TokenKind::Login,
            groups: vec!["ops".into()],
            email: None,
        }
    }

    #[test]
    fn signed_tokens_verify_and_altered_ones_do_not() {
        let t = sign(&claims(Some(200)), b"key-1");
        assert_eq!(verify(&t, b"key-1", 150), Ok(claims(Some(200))));
        assert_eq!(verify(&t, b"key-2", 150), Err(Error::Signature));
        assert_eq!(verify(&t, b"key-1", 200), Err(Error::Expired));
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Claims { sub: "root".into(), ..claims(None) }).unwrap());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(verify(&forged, b"key-1", 150), Err(Error::Signature));
        assert_eq!(verify("not-a-token", b"key-1", 150), Err(Error::Malformed));
        assert_eq!(verify(&sign(&claims(None), b"k"), b"k", i64::MAX), Ok(claims(None)), "no expiry");
    }
}
