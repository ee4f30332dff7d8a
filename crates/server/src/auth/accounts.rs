//! Local accounts, as Argo CD keeps them: `admin` plus `accounts.NAME:
//! login, apiKey` entries of `argocd-cm`; password hashes (argon2id) in
//! `argocd-secret` (`admin.password`, `accounts.NAME.password`), API token
//! ids in `accounts.NAME.tokens` (`admin.tokens` for admin). The first
//! start generates the admin password and keeps it in
//! `argocd-initial-admin-secret`, as Argo CD does.

use std::collections::BTreeMap;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};

use crate::settings::{ARGOCD_SECRET, INITIAL_ADMIN_SECRET};

/// What an account may do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Its name.
    pub name: String,
    /// `accounts.NAME.enabled` is not `false`.
    pub enabled: bool,
    /// May log in with a password.
    pub login: bool,
    /// May have API tokens.
    pub api_key: bool,
}

/// An API token's record in `argocd-secret` (Argo CD's shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Its id (the JWT's `jti`).
    pub id: String,
    /// Issued at (Unix seconds).
    #[serde(rename = "iat")]
    pub issued_at: i64,
    /// Expires at (Unix seconds), 0 for never.
    #[serde(rename = "exp", default)]
    pub expires_at: i64,
}

/// The account `name` as `argocd-cm` defines it, if it exists.
pub fn account(cm: &BTreeMap<String, String>, name: &str) -> Option<Account> {
    let enabled = |key: String| cm.get(&key).is_none_or(|v| v.trim() != "false");
    let caps = |v: &str| {
        let caps: Vec<&str> = v.split(',').map(str::trim).collect();
        (caps.contains(&"login"), caps.contains(&"apiKey"))
    };
    if name == "admin" {
        // Argo CD's admin logs in unless `admin.enabled: "false"`; its
        // capabilities may be widened with `accounts.admin`.
        let (login, api_key) = cm.get("accounts.admin").map(|v| caps(v)).unwrap_or((true, false));
        return Some(Account { name: name.into(), enabled: enabled("admin.enabled".into()), login, api_key });
    }
    let (login, api_key) = caps(cm.get(&format!("accounts.{name}"))?);
    Some(Account { name: name.into(), enabled: enabled(format!("accounts.{name}.enabled")), login, api_key })
}

/// The `argocd-secret` key of an account's password hash.
pub fn password_key(name: &str) -> String {
    if name == "admin" { "admin.password".into() } else { format!("accounts.{name}.password") }
}

/// The `argocd-secret` key of an account's API token records.
pub fn tokens_key(name: &str) -> String {
    if name == "admin" { "admin.tokens".into() } else { format!("accounts.{name}.tokens") }
}

/// The token records of `argocd-secret`'s value (empty when absent or unreadable).
pub fn parse_tokens(value: Option<&str>) -> Vec<TokenRecord> {
    value.and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters hashes").to_string()
}

/// A fixed hash compared against when the account does not exist, so that
/// a login for an unknown user costs as much as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("driftless-no-such-account"))
}

/// Whether `password` matches `hash`: ours (argon2, PHC string) or Argo
/// CD's (bcrypt, `$2a$...`), so an argocd-secret carried over from Argo CD
/// keeps working. A malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The `argocd-secret` key of when an account's password last changed
/// (RFC 3339); sessions issued before it are no longer valid.
pub fn password_mtime_key(name: &str) -> String {
    if name == "admin" { "admin.passwordMtime".into() } else { format!("accounts.{name}.passwordMtime") }
}

/// Fills `buf` from the system's secure random source.
pub fn fill_random(buf: &mut [u8]) {
    use ring::rand::SecureRandom as _;
    ring::rand::SystemRandom::new().fill(buf).expect("the system's random source works");
}

/// `n` random bytes, base64url.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    fill_random(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A password of letters and digits, easy to copy from a terminal.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut buf = [0u8; 20];
    fill_random(&mut buf);
    buf.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// What [`bootstrap`] did.
pub struct Bootstrap {
    /// The `argocd-secret` as it is now.
    pub secret: Secret,
    /// The generated admin password, on the first start only.
    pub initial_password: Option<String>,
}

/// Makes sure `argocd-secret` has a signing key and an admin password:
/// generates what is missing, keeping the first admin password in
/// `argocd-initial-admin-secret`. Never replaces an existing value.
pub async fn bootstrap(client: &kube::Client, namespace: &str) -> Result<Bootstrap, kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let existing = secrets.get_opt(ARGOCD_SECRET).await?;
    let has = |k: &str| existing.as_ref().and_then(|s| s.data.as_ref()).is_some_and(|d| d.contains_key(k));
    let mut add: BTreeMap<String, ByteString> = BTreeMap::new();
    if !has("server.secretkey") {
        add.insert("server.secretkey".into(), ByteString(random_token(32).into_bytes()));
    }
    let mut initial_password = None;
    if !has("admin.password") {
        let password = random_password();
        add.insert("admin.password".into(), ByteString(hash_password(&password).into_bytes()));
        add.insert("admin.passwordMtime".into(), ByteString(now_rfc3339().into_bytes()));
        initial_password = Some(password);
    }
    let secret = match existing {
        Some(s) if add.is_empty() => s,
        Some(_) => {
            let patch = serde_json::json!({ "data": add });
            secrets.patch(ARGOCD_SECRET, &PatchParams::default(), &Patch::Merge(&patch)).await?
        }
        None => {
            let s = Secret {
                metadata: ObjectMeta {
                    name: Some(ARGOCD_SECRET.into()),
                    labels: Some(BTreeMap::from([("app.kubernetes.io/part-of".to_string(), "argocd".to_string())])),
                    ..Default::default()
                },
                data: Some(add),
                ..Default::default()
            };
            secrets.create(&PostParams::default(), &s).await?
        }
    };
    if let Some(password) = &initial_password {
        let initial = Secret {
            metadata: ObjectMeta { name: Some(INITIAL_ADMIN_SECRET.into()), ..Default::default() },
            data: Some(BTreeMap::from([("password".to_string(), ByteString(password.clone().into_bytes()))])),
            ..Default::default()
        };
        // An old one belongs to an earlier password: replace it.
        match secrets.create(&PostParams::default(), &initial).await {
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let patch = serde_json::json!({ "data": { "password": ByteString(password.clone().into_bytes()) } });
                secrets.patch(INITIAL_ADMIN_SECRET, &PatchParams::default(), &Patch::Merge(&patch)).await?;
            }
            other => {
                other?;
            }
        }
    }
    Ok(Bootstrap { secret, initial_password })
}

/// Now as RFC 3339, as Argo CD writes `admin.passwordMtime`.
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_come_from_argocd_cm() {
        let cm = BTreeMap::from([
            ("accounts.ci".to_string(), "apiKey".to_string()),
            ("accounts.alice".to_string(), "login, apiKey".to_string()),
            ("accounts.alice.enabled".to_string(), "false".to_string()),
        ]);
        assert_eq!(account(&cm, "admin"), Some(Account { name: "admin".into(), enabled: true, login: true, api_key: false }));
        assert_eq!(account(&cm, "ci"), Some(Account { name: "ci".into(), enabled: true, login: false, api_key: true }));
        assert_eq!(account(&cm, "alice").map(|a| (a.enabled, a.login, a.api_key)), Some((false, true, true)));
        assert_eq!(account(&cm, "bob"), None);
        let off = BTreeMap::from([("admin.enabled".to_string(), "false".to_string())]);
        assert!(!account(&off, "admin").expect("admin exists").enabled);
    }

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let a = hash_password("s3cret");
        let b = hash_password("s3cret");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert!(verify_password("s3cret", &a));
        assert!(!verify_password("S3cret", &a));
        assert!(!verify_password("s3cret", "not a hash"));
        // A bcrypt hash of "password", as Argo CD (and Dex's examples) store them.
        let argo = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
        assert!(verify_password("password", argo));
        assert!(!verify_password("Password", argo));
    }

    #[test]
    fn token_records_read_argo_cd_shape() {
        let t = parse_tokens(Some(r#"[{"id":"abc","iat":1700000000,"exp":0}]"#));
        assert_eq!(t, vec![TokenRecord { id: "abc".into(), issued_at: 1_700_000_000, expires_at: 0 }]);
        assert!(parse_tokens(Some("garbage")).is_empty());
    }
}
