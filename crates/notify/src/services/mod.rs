//! The services notifications are delivered through, configured as Argo CD's
//! notifications-engine configures them: the YAML of `service.<type>[.<name>]`
//! in `argocd-notifications-cm` (secrets already substituted) and, per
//! notification, the template's section of the service's type.
//!
//! | type | config keys | template section |
//! |---|---|---|
//! | `slack` | `token`, `apiURL` (default `https://slack.com/api/`), `username`, `icon`, `disableUnfurl`, `insecureSkipVerify`; driftless: `webhook` (an incoming webhook URL, instead of `token`) | `slack`: `attachments`, `blocks` (JSON text), `username`, `icon`, `groupingKey`, `notifyBroadcast`, `deliveryPolicy` (`Post`, `PostAndUpdate`, `Update`) |
//! | `teams` | `recipientUrls` (channel → webhook URL), `insecureSkipVerify` | `teams`: `title`, `summary`, `text`, `themeColor`, `facts`, `sections`, `potentialAction` (JSON text), `template` (the whole body) |
//! | `teams-workflows` | as `teams` | `teams-workflows`: `adaptiveCard` (JSON text), else as `teams` |
//! | `webhook` | `url`, `headers` (`[{name, value}]`), `basicAuth` (`{username, password}`), `insecureSkipVerify` | `webhook.<name>`: `method` (default GET), `path`, `body` (default the message) |
//! | `email` | `host`, `port` (default 587), `from`, `username`, `password`, `insecure_skip_verify`, `html` | `email`: `subject`, `body` (default the message) |
//! | `github` | `appID`, `installationID`, `privateKey`, `enterpriseBaseURL`; driftless: `token` (instead of the app) | `github`: `repoURLPath`, `revisionPath`, `status`, `deployment`, `pullRequestComment` |
//! | `gitlab` | driftless's own: `token`, `baseURL` (default `https://gitlab.com`), `insecureSkipVerify` | `gitlab`: `repoURLPath`, `revisionPath`, `status`, `deployment`, `mergeRequestComment` |
//!
//! notifications-engine's connection tuning keys (`maxIdleConns`,
//! `maxIdleConnsPerHost`, `maxConnsPerHost`, `idleConnTimeout`), its webhook
//! retry keys (the caller retries) and Slack's bot keys (`signingSecret`,
//! `channels`) are accepted and ignored; any other key is an error.
//!
//! Every HTTP call: connect timeout 10 s, 30 s in all, redirects followed
//! only within the same origin, answers read up to 64 KiB and quoted in
//! errors truncated, with the service's secrets blanked. Errors show a
//! webhook's scheme and host only (its URL is the secret).

mod email;
mod github;
mod gitlab;
mod http;
pub(crate) mod repo_url;
mod slack;
mod teams;
mod webhook;

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Notification;

/// The service types driftless delivers through.
pub const SUPPORTED_TYPES: &[&str] = &["slack", "teams", "teams-workflows", "webhook", "email", "github", "gitlab"];

/// Keys of notifications-engine's configs that tune its HTTP transport or
/// retries: accepted so that Argo CD's configs load, and ignored.
const IGNORED_KEYS: &[&str] = &["maxIdleConns", "maxIdleConnsPerHost", "maxConnsPerHost", "idleConnTimeout"];

/// A configuration that cannot be used; it names the ConfigMap key
/// (`service.<type>[.<name>]`) and the field.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Not one of [`SUPPORTED_TYPES`].
    #[error("service.{service_type}: unknown service type `{service_type}` (supported: {})", SUPPORTED_TYPES.join(", "))]
    UnknownType {
        /// The type as configured.
        service_type: String,
    },
    /// A missing, unknown or malformed field.
    #[error("{key}: {}{reason}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
    Invalid {
        /// `service.<type>[.<name>]`.
        key: String,
        /// The field (`headers[0].name`), empty for the whole config.
        field: String,
        /// Why, never quoting a secret.
        reason: String,
    },
}

/// A delivery that failed: `Transient` when trying again may succeed
/// (connection errors, timeouts, HTTP 429 and 5xx, Slack's rate limit, SMTP
/// 4xx), `Permanent` when it cannot (4xx, the template's output not what the
/// service takes, a missing section, an unknown recipient). Messages never
/// carry tokens, passwords, webhook URLs or authorization headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying.
    #[error("{service}: {reason}")]
    Transient {
        /// `service.<type>[.<name>]`.
        service: String,
        /// What happened.
        reason: String,
        /// The service's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// Retrying the same notification fails the same way.
    #[error("{service}: {reason}")]
    Permanent {
        /// `service.<type>[.<name>]`.
        service: String,
        /// What happened.
        reason: String,
    },
}

impl SendError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }

    /// How long the service asked to wait (HTTP `Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Transient { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } => None,
        }
    }
}

/// A failure inside a service, before it is labelled with the service's key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    Transient(String, Option<Duration>),
    Permanent(String),
}

impl Failure {
    fn permanent(reason: impl Into<String>) -> Failure {
        Failure::Permanent(reason.into())
    }
}

/// One configured service, ready to send.
pub struct Service {
    key: String,
    service_type: &'static str,
    kind: Kind,
}

enum Kind {
    Slack(slack::Slack),
    Teams(teams::Teams),
    Webhook(webhook::Webhook),
    Email(email::Email),
    GitHub(github::GitHub),
    GitLab(gitlab::GitLab),
}

impl fmt::Debug for Service {
    // The configs hold secrets: only the key shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service").field("key", &self.key).finish_non_exhaustive()
    }
}

impl Service {
    /// The service `service.<service_type>[.<name>]` from its config (the
    /// ConfigMap value's YAML, parsed, secrets substituted). `name` is the
    /// part after the type (`github` for `service.webhook.github`); empty or
    /// equal to the type for `service.<type>`.
    pub fn parse(service_type: &str, name: &str, config: &Value) -> Result<Service, ServiceError> {
        let key = if name.is_empty() || name == service_type {
            format!("service.{service_type}")
        } else {
            format!("service.{service_type}.{name}")
        };
        let Some(&known) = SUPPORTED_TYPES.iter().find(|t| **t == service_type) else {
            return Err(ServiceError::UnknownType { service_type: service_type.to_string() });
        };
        let at = Config { key: &key, value: config };
        let kind = match known {
            "slack" => Kind::Slack(slack::Slack::parse(&at)?),
            "teams" => Kind::Teams(teams::Teams::parse(&at, teams::Flavor::MessageCard)?),
            "teams-workflows" => Kind::Teams(teams::Teams::parse(&at, teams::Flavor::Workflows)?),
            "webhook" => Kind::Webhook(webhook::Webhook::parse(&at, if name.is_empty() { service_type } else { name })?),
            "email" => Kind::Email(email::Email::parse(&at)?),
            "github" => Kind::GitHub(github::GitHub::parse(&at)?),
            _ => Kind::GitLab(gitlab::GitLab::parse(&at)?),
        };
        Ok(Service { key, service_type: known, kind })
    }

    /// The type (`slack`, `teams`, `teams-workflows`, `webhook`, `email`,
    /// `github`, `gitlab`): the key of the template section it reads.
    pub fn service_type(&self) -> &str {
        self.service_type
    }

    /// `service.<type>[.<name>]`, as errors name it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Delivers `notification` to `recipient` (a Slack channel, a Teams
    /// channel of `recipientUrls`, email addresses separated by commas;
    /// ignored by webhook, GitHub and GitLab).
    pub async fn send(&self, notification: &Notification, recipient: &str) -> Result<(), SendError> {
        let sent = match &self.kind {
            Kind::Slack(s) => s.send(notification, recipient).await,
            Kind::Teams(s) => s.send(notification, recipient).await,
            Kind::Webhook(s) => s.send(notification).await,
            Kind::Email(s) => s.send(notification, recipient).await,
            Kind::GitHub(s) => s.send(notification).await,
            Kind::GitLab(s) => s.send(notification).await,
        };
        sent.map_err(|f| match f {
            Failure::Transient(reason, retry_after) => SendError::Transient { service: self.key.clone(), reason, retry_after },
            Failure::Permanent(reason) => SendError::Permanent { service: self.key.clone(), reason },
        })
    }
}

/// A service's config with its key, for errors that name both.
struct Config<'a> {
    key: &'a str,
    value: &'a Value,
}

impl Config<'_> {
    /// The config as `T` (whose serde attributes deny unknown fields), after
    /// dropping the keys notifications-engine knows that driftless ignores.
    fn typed<T: DeserializeOwned>(&self, ignored: &[&str]) -> Result<T, ServiceError> {
        let mut value = match self.value {
            Value::Null => Value::Object(Default::default()),
            Value::Object(_) => self.value.clone(),
            _ => return Err(self.invalid("", "not a map of settings")),
        };
        if let Value::Object(map) = &mut value {
            map.retain(|k, _| !IGNORED_KEYS.contains(&k.as_str()) && !ignored.contains(&k.as_str()));
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            self.invalid(if path == "." { "" } else { &path }, &unquoted(&e.into_inner().to_string()))
        })
    }

    fn invalid(&self, field: &str, reason: &str) -> ServiceError {
        ServiceError::Invalid { key: self.key.to_string(), field: field.to_string(), reason: reason.to_string() }
    }
}

/// serde's message without the strings it quotes (`invalid type: string
/// "xoxb-...", expected a boolean`): a secret in the wrong field stays unsaid.
fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        out.push_str("a string");
        let mut chars = rest[at + "string \"".len()..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        let tail = &rest[at + "string \"".len()..];
        rest = end.map_or("", |e| &tail[e..]);
    }
    out.push_str(rest);
    out
}

/// A template section (`slack`, `github`...) as `T`; its absence is the
/// default (empty) section. Errors name the section's field.
fn section<T: DeserializeOwned + Default>(notification: &Notification, name: &str) -> Result<T, Failure> {
    match notification.section(name) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => typed_section(v, name),
    }
}

/// A section the service cannot do without (GitHub's, GitLab's).
fn required_section<T: DeserializeOwned>(notification: &Notification, name: &str) -> Result<T, Failure> {
    match notification.section(name) {
        None | Some(Value::Null) => Err(Failure::permanent(format!("the template has no `{name}` section"))),
        Some(v) => typed_section(v, name),
    }
}

fn typed_section<T: DeserializeOwned>(v: &Value, name: &str) -> Result<T, Failure> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { name.to_string() } else { format!("{name}.{path}") };
        Failure::permanent(format!("the template's `{at}`: {}", e.into_inner()))
    })
}

/// A section's JSON text (Slack attachments, Teams facts...): None when
/// blank, an error naming the field when it is not JSON.
fn json_text(text: &str, field: &str) -> Result<Option<Value>, Failure> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| Failure::permanent(format!("the template's `{field}` is not valid JSON ({e})")))
}

/// [`json_text`] that must be a JSON array.
fn json_array(text: &str, field: &str) -> Result<Option<Vec<Value>>, Failure> {
    match json_text(text, field)? {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(Failure::permanent(format!("the template's `{field}` is not a JSON array"))),
    }
}

/// serde helpers for values YAML users write either way.
mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};

    /// `true`, or the string `"true"` (a rendered template field).
    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Bool(bool),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Bool(b) => Ok(b),
            Either::Text(s) => match s.trim() {
                "true" | "True" => Ok(true),
                "false" | "False" | "" => Ok(false),
                // Not quoted: a secret put in the wrong field stays unsaid.
                _ => Err(D::Error::custom("expected true or false")),
            },
        }
    }

    /// An optional [`bool`].
    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        bool(d).map(Some)
    }

    /// A number, or a string of one (`appID: "123"`).
    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(s) => s.trim().parse().map_err(|_| D::Error::custom("expected a positive whole number")),
        }
    }
}

/// A section's value that must be one of `allowed` (a status's state).
fn one_of<'a>(value: &'a str, field: &str, allowed: &[&str]) -> Result<&'a str, Failure> {
    let value = value.trim();
    if allowed.contains(&value) {
        return Ok(value);
    }
    Err(Failure::permanent(format!(
        "the template's `{field}` `{}` is not one of {}",
        http::quote(value.as_bytes(), &[]),
        allowed.join(", ")
    )))
}

/// `text` cut to `max` characters, ending in `...` when cut (GitHub's and
/// GitLab's limits on descriptions).
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests;
