//! GitHub App installation tokens: a JWT signed (RS256) with the app's key
//! buys a token at `{base}/app/installations/{id}/access_tokens`; it is
//! kept until shortly before it expires, so fetches do not each mint one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::repo_creds::GitHubApp;

/// GitHub's API, unless `githubAppEnterpriseBaseUrl` names another.
const GITHUB_API: &str = "https://api.github.com";
/// A token is renewed this long before GitHub says it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The app's RSA key from PEM (PKCS#1 `RSA PRIVATE KEY`, as GitHub hands
/// it out, or PKCS#8 `PRIVATE KEY`). The error never quotes the key.
pub(crate) fn signing_key(pem: &str) -> Result<RsaKeyPair, String> {
    let der = |label: &str| -> Option<Vec<u8>> {
        let begin = format!("-----BEGIN {label}-----");
        let body = pem.split_once(&begin)?.1.split_once(&format!("-----END {label}-----"))?.0;
        STANDARD.decode(body.chars().filter(|c| !c.is_whitespace()).collect::<String>()).ok()
    };
    if let Some(d) = der("RSA PRIVATE KEY") {
        return RsaKeyPair::from_der(&d).map_err(|e| format!("not a usable RSA key ({e})"));
    }
    if let Some(d) = der("PRIVATE KEY") {
        return RsaKeyPair::from_pkcs8(&d).map_err(|e| format!("not a usable RSA key ({e})"));
    }
    Err("not a PEM RSA private key (`-----BEGIN RSA PRIVATE KEY-----`)".into())
}

/// The app's JWT: issued a minute ago (clock skew), valid nine minutes.
fn jwt(app: &GitHubApp, now: u64) -> Result<String, String> {
    let key = signing_key(&app.private_key)?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"iat": now.saturating_sub(60), "exp": now + 540, "iss": app.app_id.to_string()});
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut sig).map_err(|_| "signing the JWT failed")?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// An installation: the API's base URL, the app, the installation.
type Installation = (String, u64, u64);

/// Installation tokens kept until shortly before they expire (Git
/// credentials and the ApplicationSet SCM generators share it).
#[derive(Default, Debug)]
pub struct AppTokens {
    kept: Mutex<HashMap<Installation, (String, Instant)>>,
}

impl AppTokens {
    /// A token for `app`'s installation (the CA `ca_pem` trusted for its API).
    /// The error names the API and the app, never the key or a token.
    pub async fn token(&self, app: &GitHubApp, ca_pem: Option<&str>) -> Result<String, String> {
        let base = app.enterprise_base_url.as_deref().unwrap_or(GITHUB_API).trim_end_matches('/').to_string();
        let key = (base.clone(), app.app_id, app.installation_id);
        if let Some((token, until)) = self.kept.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let url = format!("{base}/app/installations/{}/access_tokens", app.installation_id);
        let failed = |reason: String| format!("GitHub App {} installation {}: {url}: {reason}", app.app_id, app.installation_id);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let jwt = jwt(app, now).map_err(failed)?;
        let client = crate::helm::https_client(ca_pem, false).map_err(failed)?;
        let resp = client
            .post(&url)
            .bearer_auth(jwt)
            .header("Accept", "application/vnd.github+json")
            .header("User-Agent", "driftless")
            .send()
            .await
            .map_err(|e| failed(crate::helm::chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            token: String,
            #[serde(default)]
            expires_at: String,
        }
        let body = resp.bytes().await.map_err(|e| failed(crate::helm::chain(&e)))?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| failed(format!("the answer is not a token: {e}")))?;
        // GitHub's tokens last an hour; without a readable expiry keep it 30 minutes.
        let lifetime = answer
            .expires_at
            .parse::<jiff::Timestamp>()
            .ok()
            .and_then(|t| u64::try_from(t.as_second()).ok())
            .map_or(Duration::from_secs(30 * 60), |exp| Duration::from_secs(exp.saturating_sub(now)));
        let until = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE);
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (answer.token.clone(), until));
        Ok(answer.token)
    }
}
