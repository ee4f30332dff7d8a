//! One OpenID Connect provider, discovered once: builds authorization URLs and turns the
//! callback's code into a verified identity.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenClaims, IdTokenVerifier, IssuerUrl, JsonWebKeySetUrl, Nonce, NonceVerifier,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
    reqwest,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::claims::{GroupsClaim, Identity};
use crate::error::{Error, chain};

type IdTokenFields = openidconnect::IdTokenFields<
    GroupsClaim,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = StandardTokenResponse<IdTokenFields, CoreTokenType>;
type IdToken = openidconnect::IdToken<GroupsClaim, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
type Claims = IdTokenClaims<GroupsClaim, CoreGenderClaim>;
/// A client whose authorization endpoint is known and whose token endpoint may be missing from
/// the discovery document (checked at exchange time).
type Client = openidconnect::Client<
    GroupsClaim,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The shortest time between two fetches of the provider's keys after discovery.
const KEYS_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Scopes asked for when the caller names none: Argo CD's default for `oidc.config`.
const DEFAULT_SCOPES: [&str; 3] = ["profile", "email", "groups"];

/// A discovered OpenID Connect provider, configured for one client (relying party).
///
/// Cheap to clone: clones share the HTTP connection pool and the provider's signing keys.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    /// The issuer as configured, for error messages.
    issuer: String,
    client: Client,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    issuer_url: IssuerUrl,
    jwks_uri: JsonWebKeySetUrl,
    signing_algs: Vec<CoreJwsSigningAlgorithm>,
    /// The provider's signing keys; fetched again when a token names a key we do not know,
    /// which is how key rotation shows up.
    jwks: RwLock<CoreJsonWebKeySet>,
    /// When the keys were last fetched again: at most once per [`KEYS_REFRESH_INTERVAL`], so
    /// that tokens naming made-up keys cannot make us hammer the provider.
    keys_refreshed: Mutex<Option<Instant>>,
    http: reqwest::Client,
}

/// What the relying party must remember between sending the browser to the provider and the
/// callback: keep it server-side or in a signed, encrypted, HttpOnly cookie, never readable by
/// the browser's scripts.
#[derive(Serialize, Deserialize, Clone)]
pub struct PendingLogin {
    /// The `state` sent to the provider, which comes back on the callback (CSRF protection).
    pub state: String,
    /// The `nonce` sent to the provider, which the ID token must carry (replay protection).
    pub nonce: String,
    /// The PKCE code verifier, whose S256 hash went to the provider as the code challenge.
    pub pkce_verifier: String,
}

impl PendingLogin {
    /// Checks the `state` returned on the callback against the one this login started with, in
    /// constant time. Call it before [`Provider::exchange`], which does not see the callback's
    /// `state`.
    pub fn verify_state(&self, returned_state: &str) -> Result<(), Error> {
        if bool::from(self.state.as_bytes().ct_eq(returned_state.as_bytes())) { Ok(()) } else { Err(Error::StateMismatch) }
    }
}

/// The verifier and nonce are secrets until the login ends: never print them.
impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"<redacted>")
            .field("pkce_verifier", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.inner.issuer)
            .field("client_id", &self.inner.client_id.as_str())
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Fetches the provider's `/.well-known/openid-configuration` and its signing keys (JWKS),
    /// and checks that the document names `issuer` as its issuer.
    ///
    /// `redirect_url` is the relying party's callback, registered at the provider
    /// (for driftless: `<external URL>/auth/callback`).
    pub async fn discover(issuer: &str, client_id: String, client_secret: Option<String>, redirect_url: String) -> Result<Provider, Error> {
        let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|e| Error::InvalidUrl {
            field: "issuer",
            value: issuer.to_owned(),
            reason: e.to_string(),
        })?;
        let redirect = RedirectUrl::new(redirect_url.clone()).map_err(|e| Error::InvalidUrl {
            field: "redirect URL",
            value: redirect_url,
            reason: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            // Following redirects would let a hostile discovery document or token endpoint steer
            // our requests elsewhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::HttpClient(chain(&e)))?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url.clone(), &http)
            .await
            .map_err(|e| Error::Discovery { issuer: issuer.to_owned(), reason: chain(&e) })?;
        let signing_algs = metadata.id_token_signing_alg_values_supported().clone();
        let jwks_uri = metadata.jwks_uri().clone();
        let jwks = metadata.jwks().clone();
        let client_id = ClientId::new(client_id);
        let client_secret = client_secret.map(ClientSecret::new);
        let client = Client::from_provider_metadata(metadata, client_id.clone(), client_secret.clone()).set_redirect_uri(redirect);
        Ok(Provider {
            inner: Arc::new(Inner {
                issuer: issuer.to_owned(),
                client,
                client_id,
                client_secret,
                issuer_url,
                jwks_uri,
                signing_algs,
                jwks: RwLock::new(jwks),
                keys_refreshed: Mutex::new(None),
                http,
            }),
        })
    }

    /// The issuer URL as configured.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Starts a login: the URL to send the browser to (authorization code flow, PKCE with S256,
    /// fresh random `state` and `nonce`), and what to remember until the callback.
    ///
    /// `openid` is always requested; an empty `scopes` asks for `profile email groups` as well,
    /// like Argo CD does.
    pub fn authorize(&self, scopes: &[String]) -> (String, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .inner
            .client
            .authorize_url(AuthenticationFlow::<CoreResponseType>::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        let defaults = DEFAULT_SCOPES.map(str::to_owned);
        let scopes = if scopes.is_empty() { &defaults[..] } else { scopes };
        // The library adds `openid` itself; naming it twice would repeat it in the URL.
        for scope in scopes.iter().filter(|scope| scope.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin { state: state.into_secret(), nonce: nonce.secret().clone(), pkce_verifier: verifier.into_secret() };
        (url.into(), pending)
    }

    /// Finishes a login: exchanges the callback's `code` (with the PKCE verifier) at the token
    /// endpoint, and verifies the ID token against the provider's keys: signature, issuer,
    /// audience, expiry, and the nonce of `pending`.
    ///
    /// The caller checks the callback's `state` first ([`PendingLogin::verify_state`]).
    pub async fn exchange(&self, code: &str, pending: &PendingLogin) -> Result<Identity, Error> {
        let inner = &self.inner;
        let request = inner
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| Error::NoTokenEndpoint { issuer: inner.issuer.clone() })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
        let response =
            request.request_async(&inner.http).await.map_err(|e| Error::Exchange { issuer: inner.issuer.clone(), reason: chain(&e) })?;
        let id_token = response.extra_fields().id_token().ok_or_else(|| Error::NoIdToken { issuer: inner.issuer.clone() })?;
        self.verify(id_token, &Nonce::new(pending.nonce.clone())).await
    }

    /// Verifies an ID token issued to this client (for example one a CLI obtained and sends as a
    /// bearer token): signature, issuer, audience and expiry; and the nonce when one is given.
    pub async fn verify_id_token(&self, id_token: &str, nonce: Option<&str>) -> Result<Identity, Error> {
        let token = IdToken::from_str(id_token)
            .map_err(|e| Error::IdToken { issuer: self.inner.issuer.clone(), reason: format!("not a JWT: {}", chain(&e)) })?;
        match nonce {
            Some(nonce) => self.verify(&token, &Nonce::new(nonce.to_owned())).await,
            // A token presented later carries the nonce of a login we no longer remember.
            None => self.verify(&token, |_: Option<&Nonce>| Ok(())).await,
        }
    }

    async fn verify<N: NonceVerifier + Copy>(&self, id_token: &IdToken, nonce: N) -> Result<Identity, Error> {
        match self.check(id_token, nonce) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) if self.may_refresh_keys() => {
                self.refresh_keys().await?;
                self.check(id_token, nonce)
            }
            checked => checked,
        }
        .map(|claims| Identity::from_claims(&claims))
        .map_err(|e| Error::IdToken { issuer: self.inner.issuer.clone(), reason: chain(&e) })
    }

    fn check<N: NonceVerifier>(&self, id_token: &IdToken, nonce: N) -> Result<Claims, ClaimsVerificationError> {
        let inner = &self.inner;
        let keys = inner.jwks.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let verifier = match &inner.client_secret {
            // A confidential client also accepts HMAC-signed tokens keyed by its secret, when the
            // provider advertises such algorithms.
            Some(secret) => {
                IdTokenVerifier::new_confidential_client(inner.client_id.clone(), secret.clone(), inner.issuer_url.clone(), keys)
            }
            None => IdTokenVerifier::new_public_client(inner.client_id.clone(), inner.issuer_url.clone(), keys),
        }
        .set_allowed_algs(inner.signing_algs.clone());
        id_token.claims(&verifier, nonce).cloned()
    }

    /// Whether the keys may be fetched again now; if so, counts this as the latest fetch.
    fn may_refresh_keys(&self) -> bool {
        let mut refreshed = self.inner.keys_refreshed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if refreshed.is_some_and(|at| now.duration_since(at) < KEYS_REFRESH_INTERVAL) {
            return false;
        }
        *refreshed = Some(now);
        true
    }

    async fn refresh_keys(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let keys = CoreJsonWebKeySet::fetch_async(&inner.jwks_uri, &inner.http)
            .await
            .map_err(|e| Error::Jwks { issuer: inner.issuer.clone(), reason: chain(&e) })?;
        *inner.jwks.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = keys;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_login_prints_neither_its_nonce_nor_its_verifier() {
        let pending = PendingLogin { state: "s-1".into(), nonce: "n-secret".into(), pkce_verifier: "v-secret".into() };
        let printed = format!("{pending:?}");
        assert!(printed.contains("s-1") && !printed.contains("n-secret") && !printed.contains("v-secret"), "{printed}");
    }

    #[test]
    fn the_state_must_match_exactly() {
        let pending = PendingLogin { state: "abc".into(), nonce: String::new(), pkce_verifier: String::new() };
        assert!(pending.verify_state("abc").is_ok());
        for forged in ["", "ab", "abcd", "abC"] {
            assert!(matches!(pending.verify_state(forged), Err(Error::StateMismatch)), "{forged:?}");
        }
    }
}
