//! Session and API tokens: JWTs signed with HMAC-SHA256 (HS256, as Argo CD
//! signs its own) under the key kept in `argocd-secret` `server.secretkey`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// Who a token stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// [`ISSUER`], or [`ARGOCD_ISSUER`] for project tokens (Argo CD's
    /// claims, so that tokens issued by either server work on both).
    pub iss: String,
    /// The user: a local account name, an SSO user's name, or a project
    /// role (`proj:<project>:<role>`).
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not valid before (Unix seconds), as Argo CD sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expires at (Unix seconds); API tokens may never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The API or project token's id (recorded where it can be revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// How the token was issued; absent from project tokens, which carry
    /// Argo CD's claims alone (see [`Claims::kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TokenKind>,
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
    /// A project role's token (`sub: proj:<project>:<role>`), valid while
    /// the role lists its id.
    Project,
}

/// The `iss` of the sessions and account tokens the server signs.
pub const ISSUER: &str = "driftless";

/// The `iss` of Argo CD's tokens, and of the project tokens driftless
/// issues with Argo CD's claims.
pub const ARGOCD_ISSUER: &str = "argocd";

impl Claims {
    /// How the token was issued: its `kind`, or, for a token without one,
    /// a project token when Argo CD's issuer signed it for a project role
    /// (whether its record exists is checked by the caller). Anything
    /// else without a kind is no token of ours.
    pub fn kind(&self) -> Option<TokenKind> {
        self.kind.or_else(|| {
            (self.iss == ARGOCD_ISSUER && crate::rbac::parse_project_subject(&self.sub).is_some()).then_some(TokenKind::Project)
        })
    }

    /// A project role's token, with the claims Argo CD's `CreateJWTToken`
    /// gives it: `iss: argocd`, `sub: proj:<project>:<role>`, `iat`,
    /// `nbf`, `exp` when it expires, and its id as `jti`.
    pub fn project(project: &str, role: &str, iat: i64, exp: Option<i64>, id: String) -> Claims {
        Claims {
            iss: ARGOCD_ISSUER.into(),
            sub: crate::rbac::project_subject(project, role),
            iat,
            nbf: Some(iat),
            exp,
            jti: Some(id),
            kind: None,
            groups: Vec::new(),
            email: None,
        }
    }
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
    /// Before its `nbf`.
    #[error("token not valid yet")]
    NotYetValid,
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
    if claims.nbf.is_some_and(|nbf| nbf > now) {
        return Err(Error::NotYetValid);
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
            nbf: None,
            exp,
            jti: None,
            kind: Some(TokenKind::Login),
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

    #[test]
    fn project_tokens_round_trip_and_hostile_claims_are_only_data() {
        let project = Claims::project("team", "ci", 100, None, "id-1".into());
        let t = sign(&project, b"key-1");
        assert_eq!(verify(&t, b"key-1", 150), Ok(project.clone()));
        // The same claims under another key, or with `alg: none`, are refused.
        assert_eq!(verify(&sign(&project, b"other-key"), b"key-1", 150), Err(Error::Signature));
        let parts: Vec<&str> = t.split('.').collect();
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(verify(&none, b"key-1", 150).is_err());
        // A token naming another project is another signature.
        let other = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Claims { sub: "proj:other:ci".into(), ..project.clone() }).unwrap());
        assert_eq!(verify(&format!("{}.{other}.{}", parts[0], parts[2]), b"key-1", 150), Err(Error::Signature));
    }

    #[test]
    fn project_tokens_carry_argo_cds_claims_and_only_those_read_as_project_tokens() {
        let t = sign(&Claims::project("team", "ci", 100, Some(200), "id-1".into()), b"k");
        let payload: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(t.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({ "iss": "argocd", "sub": "proj:team:ci", "iat": 100, "nbf": 100, "exp": 200, "jti": "id-1" }),
            "Argo CD's claim set, nothing of driftless's own"
        );
        let c = verify(&t, b"k", 150).expect("valid");
        assert_eq!(c.kind(), Some(TokenKind::Project));
        assert_eq!(verify(&t, b"k", 99), Err(Error::NotYetValid));
        // Tokens driftless issued before keep their kind; a kind-less token
        // is a project token only from Argo CD's issuer for a project role.
        let old = Claims { iss: ISSUER.into(), kind: Some(TokenKind::Project), ..Claims::project("team", "ci", 100, None, "x".into()) };
        assert_eq!(old.kind(), Some(TokenKind::Project));
        assert_eq!(Claims { iss: ISSUER.into(), ..Claims::project("team", "ci", 100, None, "x".into()) }.kind(), None);
        assert_eq!(Claims { sub: "admin".into(), ..Claims::project("team", "ci", 100, None, "x".into()) }.kind(), None);
        assert_eq!(Claims { sub: "proj:team:ci:x".into(), ..Claims::project("team", "ci", 100, None, "x".into()) }.kind(), None);
    }

    /// A small deterministic generator: the fuzz test is reproducible.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn garbage_and_mutated_tokens_never_panic_and_never_verify() {
        let key = b"fuzz-key";
        let good = sign(&claims(Some(1_000)), key);
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"abcXYZ019-_.=+/ {}\":,\0\xff";
        for round in 0..20_000 {
            let candidate: Vec<u8> = if round % 2 == 0 {
                // Random bytes over a JWT-ish alphabet, of random length.
                let len = (rng.next() % 200) as usize;
                (0..len).map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize]).collect()
            } else {
                // The good token with a few bytes changed, dropped or added.
                let mut t = good.clone().into_bytes();
                for _ in 0..=(rng.next() % 3) {
                    let at = (rng.next() % t.len() as u64) as usize;
                    match rng.next() % 3 {
                        0 => t[at] = alphabet[(rng.next() % alphabet.len() as u64) as usize],
                        1 => {
                            t.remove(at);
                        }
                        _ => t.insert(at, b'.'),
                    }
                }
                t
            };
            let text = String::from_utf8_lossy(&candidate);
            if text != good {
                assert!(verify(&text, key, 10).is_err(), "a changed token verified: {text}");
            }
        }
    }
}
