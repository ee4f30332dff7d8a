//! A generic webhook (`service.webhook.<name>`): the template's
//! `webhook.<name>` section gives the method (default GET), a path appended
//! to the URL and the body (default the message), as notifications-engine
//! sends it. Retries are the caller's: `retryWaitMin`, `retryWaitMax` and
//! `retryMax` are accepted and ignored.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::Value;

use super::http;
use super::{Config, Failure, ServiceError, lenient, typed_section};
use crate::Notification;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    url: String,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default, deserialize_with = "lenient::bool")]
    insecure_skip_verify: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicAuth {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The `webhook.<name>` section of a template.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct Section {
    method: String,
    path: String,
    body: Option<String>,
}

pub(super) struct Webhook {
    name: String,
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    basic_auth: Option<(String, String)>,
    client: reqwest::Client,
}

impl Webhook {
    pub(super) fn parse(at: &Config, name: &str) -> Result<Webhook, ServiceError> {
        let s: Settings = at.typed(&["retryWaitMin", "retryWaitMax", "retryMax"])?;
        if s.url.trim().is_empty() {
            return Err(at.invalid("url", "is required"));
        }
        let url = http::parse_url(&s.url).map_err(|e| at.invalid("url", &e))?;
        let headers = s
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let name = HeaderName::from_bytes(h.name.trim().as_bytes())
                    .map_err(|_| at.invalid(&format!("headers[{i}].name"), "not a header name (letters, digits and -, no CR or LF)"))?;
                // The value may be a token: the error does not quote it.
                let value = HeaderValue::from_str(&h.value).map_err(|_| {
                    at.invalid(&format!("headers[{i}].value"), "not a header value (no CR, LF or other control characters)")
                })?;
                Ok((name, value))
            })
            .collect::<Result<_, ServiceError>>()?;
        let client = http::client(s.insecure_skip_verify).map_err(|e| at.invalid("", &e))?;
        Ok(Webhook { name: name.to_string(), url, headers, basic_auth: s.basic_auth.map(|b| (b.username, b.password)), client })
    }

    pub(super) async fn send(&self, n: &Notification) -> Result<(), Failure> {
        let field = format!("webhook.{}", self.name);
        let section: Option<Section> = match n.section("webhook").and_then(|w| w.get(&self.name)) {
            None | Some(Value::Null) => None,
            Some(v) => Some(typed_section(v, &field)?),
        };
        let (method, url, body) = request(&self.url, section.as_ref(), &n.message, &field)?;
        let label = format!("{method} {}", http::origin(&url));
        let mut request = self.client.request(method, url).body(body);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        let secrets: Vec<&str> = self
            .headers
            .iter()
            .filter_map(|(_, v)| v.to_str().ok())
            .chain(self.basic_auth.iter().map(|(_, p)| p.as_str()))
            .chain([self.url.as_str()])
            .collect();
        http::send(request, &label, &secrets).await.map(drop)
    }
}

/// The request of a section: its method (GET by default), the URL with its
/// path appended, its body (the message without a section). A method or
/// path that is not one (CR, LF, spaces), or a path that leaves the URL's
/// host, is refused.
pub(super) fn request(base: &Url, section: Option<&Section>, message: &str, field: &str) -> Result<(Method, Url, String), Failure> {
    let Some(section) = section else {
        return Ok((Method::GET, base.clone(), message.to_string()));
    };
    let method = match section.method.trim() {
        "" => Method::GET,
        m => Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
            Failure::permanent(format!("the template's `{field}.method` `{}` is not an HTTP method", http::quote(m.as_bytes(), &[])))
        })?,
    };
    let path = section.path.trim();
    let url = if path.is_empty() {
        base.clone()
    } else {
        let bad = |why: &str| Failure::permanent(format!("the template's `{field}.path` `{}` {why}", http::quote(path.as_bytes(), &[])));
        if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("has spaces or control characters"));
        }
        let joined = format!("{}/{}", base.as_str().trim_end_matches('/'), path.trim_start_matches('/'));
        let url = Url::parse(&joined).map_err(|_| bad("does not make a URL"))?;
        if url.origin() != base.origin() {
            return Err(bad("leaves the webhook's host"));
        }
        url
    };
    Ok((method, url, section.body.clone().unwrap_or_default()))
}
