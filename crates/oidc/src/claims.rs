//! The claims driftless reads from a verified ID token, and the identity made of them.

use openidconnect::core::CoreGenderClaim;
use openidconnect::{AdditionalClaims, IdTokenClaims};
use serde::{Deserialize, Serialize};

/// The claim beyond the standard ones that driftless reads: `groups`, which RBAC maps to roles
/// (`g, <group>, role:admin`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct GroupsClaim {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Groups>,
}

impl AdditionalClaims for GroupsClaim {}

/// Most providers send a list; some (ADFS, a few Keycloak mappers) send a single group as a string.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Groups {
    One(String),
    Many(Vec<String>),
}

/// Who logged in, as asserted by a verified ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim: the provider's stable identifier of the user.
    pub subject: String,
    /// The `email` claim, left out when the provider says it is not verified
    /// (`email_verified: false`), because an unverified address proves nothing.
    pub email: Option<String>,
    /// The `name` claim (the default, unlocalised one).
    pub name: Option<String>,
    /// The `groups` claim; empty when the provider sent none (request the `groups` scope).
    pub groups: Vec<String>,
}

impl Identity {
    /// The identity asserted by already verified claims.
    pub(crate) fn from_claims(claims: &IdTokenClaims<GroupsClaim, CoreGenderClaim>) -> Identity {
        let email = match claims.email_verified() {
            Some(false) => None,
            _ => claims.email().map(|email| email.as_str().to_owned()),
        };
        let groups = match &claims.additional_claims().groups {
            None => Vec::new(),
            Some(Groups::One(group)) => vec![group.clone()],
            Some(Groups::Many(groups)) => groups.clone(),
        };
        Identity {
            subject: claims.subject().as_str().to_owned(),
            email,
            name: claims.name().and_then(|name| name.get(None)).map(|name| name.as_str().to_owned()),
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(claims: serde_json::Value) -> Identity {
        let claims: IdTokenClaims<GroupsClaim, CoreGenderClaim> = serde_json::from_value(claims).expect("claims parse");
        Identity::from_claims(&claims)
    }

    fn base() -> serde_json::Value {
        serde_json::json!({"iss": "http://127.0.0.1:1/dex", "sub": "user-1", "aud": "driftless", "exp": 2_000_000_000, "iat": 1_000_000_000})
    }

    #[test]
    fn groups_as_a_list_are_kept_in_order() {
        let mut claims = base();
        claims["groups"] = serde_json::json!(["admins", "dev"]);
        claims["email"] = serde_json::json!("a@example.com");
        claims["name"] = serde_json::json!("A");
        let identity = identity(claims);
        assert_eq!(identity.subject, "user-1");
        assert_eq!(identity.groups, ["admins", "dev"]);
        assert_eq!(identity.email.as_deref(), Some("a@example.com"));
        assert_eq!(identity.name.as_deref(), Some("A"));
    }

    #[test]
    fn a_single_group_as_a_string_becomes_a_list_of_one() {
        let mut claims = base();
        claims["groups"] = serde_json::json!("admins");
        assert_eq!(identity(claims).groups, ["admins"]);
    }

    #[test]
    fn missing_groups_are_an_empty_list() {
        assert!(identity(base()).groups.is_empty());
    }

    #[test]
    fn an_unverified_email_is_dropped() {
        let mut claims = base();
        claims["email"] = serde_json::json!("mallory@example.com");
        claims["email_verified"] = serde_json::json!(false);
        assert_eq!(identity(claims).email, None);
    }
}
