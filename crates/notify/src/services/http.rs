//! What every HTTP service shares: the client (timeouts, same-origin
//! redirects), capped answers, and the classification of failures.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode, Url, redirect};

use super::Failure;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(30);
/// Answers are read up to this much; the rest is dropped.
const MAX_ANSWER: usize = 64 * 1024;
/// Answers are quoted in errors up to this many characters.
const MAX_QUOTE: usize = 300;
const MAX_REDIRECTS: usize = 5;

/// A client for one service: `insecure` skips verifying certificates
/// (notifications-engine's `insecureSkipVerify`).
pub(super) fn client(insecure: bool) -> Result<reqwest::Client, String> {
    driftless_source::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .redirect(same_origin())
        .danger_accept_invalid_certs(insecure)
        .user_agent("driftless")
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {}", driftless_source::error_chain(&e)))
}

/// Redirects are followed only to the origin of the first request: a
/// token or password never reaches another host. Other redirects end the
/// request with the 3xx answer, which [`send`] reports.
fn same_origin() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(Url::origin);
        if attempt.previous().len() > MAX_REDIRECTS || first.as_ref() != Some(&attempt.url().origin()) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// `scheme://host[:port]` of a URL: what errors show of a webhook URL,
/// whose path is its secret.
pub(super) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A URL of the config: http or https, with a host. The error never quotes
/// it (it may be a secret webhook URL).
pub(super) fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("not an http(s) URL with a host".into());
    }
    Ok(url)
}

/// A 2xx answer, its body read up to 64 KiB.
pub(super) struct Answer {
    pub body: Vec<u8>,
}

/// Sends `request`. `label` names the request in errors (method and a URL
/// without secrets); `secrets` are blanked from anything quoted. Any answer
/// but 2xx is a failure: 408, 425, 429 and 5xx transient, others permanent.
pub(super) async fn send(request: RequestBuilder, label: &str, secrets: &[&str]) -> Result<Answer, Failure> {
    let mut resp = request.send().await.map_err(|e| transport_failure(e, label, secrets))?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| resp.url().join(l).ok())
        .map(|u| origin(&u));
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_ANSWER {
                    break;
                }
            }
            Ok(None) => break,
            // A 2xx whose body broke off still delivered the notification.
            Err(_) if status.is_success() => break,
            Err(e) => return Err(transport_failure(e, label, secrets)),
        }
    }
    if status.is_success() {
        return Ok(Answer { body });
    }
    let said = quote(&body, secrets);
    let said = if said.is_empty() { String::new() } else { format!(": {said}") };
    if status.is_redirection() {
        let to = location.map_or_else(String::new, |l| format!(" to {l}"));
        return Err(Failure::permanent(format!("{label}: HTTP {status}: redirected{to}, not followed to another host")));
    }
    let reason = format!("{label}: HTTP {status}{said}");
    Err(classify(status, reason, retry_after))
}

/// [`send`], and the answer's JSON (null when it is empty).
pub(super) async fn json(request: RequestBuilder, label: &str, secrets: &[&str]) -> Result<serde_json::Value, Failure> {
    let answer = send(request, label, secrets).await?;
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&answer.body)
        .map_err(|_| Failure::permanent(format!("{label}: the answer is not JSON: {}", quote(&answer.body, secrets))))
}

/// Whether a failed status may pass on a retry.
pub(super) fn classify(status: StatusCode, reason: String, retry_after: Option<Duration>) -> Failure {
    if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
        Failure::Transient(reason, retry_after)
    } else {
        Failure::Permanent(reason)
    }
}

/// A request that got no answer: transient (connection, timeout), unless
/// the request itself could not be built.
fn transport_failure(e: reqwest::Error, label: &str, secrets: &[&str]) -> Failure {
    // The URL may be a secret webhook URL: the label says where instead.
    let e = e.without_url();
    let text = redact(&driftless_source::error_chain(&e), secrets);
    if e.is_builder() { Failure::permanent(format!("{label}: {text}")) } else { Failure::Transient(format!("{label}: {text}"), None) }
}

/// An answer's text for an error: one line, secrets blanked, at most
/// [`MAX_QUOTE`] characters.
pub(super) fn quote(body: &[u8], secrets: &[&str]) -> String {
    let text = redact(&String::from_utf8_lossy(body), secrets);
    let line: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if line.chars().count() > MAX_QUOTE { format!("{}...", line.chars().take(MAX_QUOTE).collect::<String>()) } else { line }
}

/// `text` with every non-empty secret replaced by `***`.
pub(super) fn redact(text: &str, secrets: &[&str]) -> String {
    secrets.iter().filter(|s| !s.is_empty()).fold(text.to_string(), |t, s| t.replace(s, "***"))
}
