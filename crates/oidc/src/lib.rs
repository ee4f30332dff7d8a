//! An OpenID Connect relying party for driftless's single sign-on: the authorization code flow
//! with PKCE (S256), `state` and `nonce`, discovery from `/.well-known/openid-configuration`,
//! and ID tokens verified against the provider's JWKS (signature, issuer, audience, expiry,
//! nonce). The `groups` claim comes out in [`Identity::groups`] for RBAC to map to roles.
//!
//! The flow, as the server drives it:
//! 1. [`Provider::discover`] once at start-up.
//! 2. On `/auth/login`: [`Provider::authorize`] gives the provider's URL to redirect to and a
//!    [`PendingLogin`] to keep (server-side, or in a signed and encrypted HttpOnly cookie).
//! 3. On `/auth/callback?code&state`: [`PendingLogin::verify_state`] with the returned `state`,
//!    then [`Provider::exchange`] with the `code` gives the verified [`Identity`].
//!
//! [`Provider::verify_id_token`] checks an ID token obtained elsewhere (a CLI's bearer token).
//! When a token names a signing key the provider did not publish at discovery, the keys are
//! fetched again (key rotation), at most every 30 seconds.

mod claims;
mod error;
mod provider;

pub use claims::Identity;
pub use error::Error;
pub use provider::{PendingLogin, Provider};
