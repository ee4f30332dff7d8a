//! Slack: `chat.postMessage` with a bot token, as notifications-engine
//! sends it, or (driftless) an incoming webhook (`webhook: <url>`).
//!
//! With a `groupingKey`, messages of a channel and key go to one thread,
//! whose first message `PostAndUpdate` and `Update` also update. The
//! threads are remembered in memory, as notifications-engine does: after a
//! restart the next message starts a new thread.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http;
use super::{Config, Failure, ServiceError, json_array, lenient, section};
use crate::Notification;

const SLACK_API: &str = "https://slack.com/api/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    token: String,
    #[serde(default, rename = "apiURL")]
    api_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    icon: String,
    #[serde(default)]
    webhook: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    disable_unfurl: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    insecure_skip_verify: bool,
}

/// The `slack` section of a template.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Section {
    username: String,
    icon: String,
    attachments: String,
    blocks: String,
    grouping_key: String,
    #[serde(deserialize_with = "lenient::bool")]
    notify_broadcast: bool,
    delivery_policy: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Post,
    PostAndUpdate,
    Update,
}

enum Target {
    /// `{apiURL}` (ending in `/`) and the bot token.
    Api { base: Url, token: String },
    /// An incoming webhook's URL (a secret).
    Webhook(Url),
}

pub(super) struct Slack {
    target: Target,
    username: String,
    icon: String,
    disable_unfurl: bool,
    client: reqwest::Client,
    /// (channel as subscribed, grouping key) → (channel ID, thread's ts).
    threads: Mutex<HashMap<(String, String), (String, String)>>,
}

impl Slack {
    pub(super) fn parse(at: &Config) -> Result<Slack, ServiceError> {
        let s: Settings = at.typed(&["signingSecret", "channels"])?;
        let target = match (s.token.trim(), s.webhook.trim()) {
            ("", "") => {
                return Err(at.invalid("", "needs `token` (a bot token for chat.postMessage) or `webhook` (an incoming webhook URL)"));
            }
            (_, "") => {
                let mut base = http::parse_url(if s.api_url.trim().is_empty() { SLACK_API } else { &s.api_url })
                    .map_err(|e| at.invalid("apiURL", &e))?;
                // slack-go appends the method to the URL as written.
                if !base.path().ends_with('/') {
                    base.set_path(&format!("{}/", base.path()));
                }
                Target::Api { base, token: s.token.trim().to_string() }
            }
            ("", webhook) => Target::Webhook(http::parse_url(webhook).map_err(|e| at.invalid("webhook", &e))?),
            _ => return Err(at.invalid("", "set `token` or `webhook`, not both")),
        };
        let client = http::client(s.insecure_skip_verify).map_err(|e| at.invalid("", &e))?;
        Ok(Slack { target, username: s.username, icon: s.icon, disable_unfurl: s.disable_unfurl, client, threads: Mutex::default() })
    }

    pub(super) async fn send(&self, n: &Notification, channel: &str) -> Result<(), Failure> {
        let section: Section = section(n, "slack")?;
        let mut body = message(&section, &n.message, &self.username, &self.icon)?;
        let (base, token) = match &self.target {
            Target::Webhook(url) => {
                let label = format!("POST {} (incoming webhook)", http::origin(url));
                let secret = url.as_str();
                http::send(self.client.post(url.clone()).json(&body), &label, &[secret]).await?;
                return Ok(());
            }
            Target::Api { base, token } => (base, token.as_str()),
        };
        let policy = policy(&section.delivery_policy)?;
        let channel = channel.trim();
        if channel.is_empty() {
            return Err(Failure::permanent("no channel: the subscription's recipient names the Slack channel"));
        }
        if self.disable_unfurl {
            body.insert("unfurl_links".into(), json!(false));
            body.insert("unfurl_media".into(), json!(false));
        }
        let key = (channel.to_string(), section.grouping_key.clone());
        let thread = if key.1.is_empty() { None } else { self.threads.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned() };
        if thread.is_none() || policy != Policy::Update {
            let mut post = body.clone();
            post.insert("channel".into(), json!(channel));
            if let Some((_, ts)) = &thread {
                post.insert("thread_ts".into(), json!(ts));
            }
            if section.notify_broadcast {
                post.insert("reply_broadcast".into(), json!(true));
            }
            let posted = self.call(base, token, "chat.postMessage", post).await?;
            if thread.is_none() && !key.1.is_empty() {
                let id = posted.get("channel").and_then(Value::as_str).unwrap_or(channel).to_string();
                let ts = posted.get("ts").and_then(Value::as_str).unwrap_or_default().to_string();
                if !ts.is_empty() {
                    self.threads.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (id, ts));
                }
            }
        }
        if let Some((id, ts)) = thread.filter(|_| policy != Policy::Post) {
            body.insert("channel".into(), json!(id));
            body.insert("ts".into(), json!(ts));
            self.call(base, token, "chat.update", body).await?;
        }
        Ok(())
    }

    /// A Web API method; Slack answers 200 with `ok: false` when it fails.
    async fn call(&self, base: &Url, token: &str, method: &str, body: Map<String, Value>) -> Result<Value, Failure> {
        let url = base.join(method).map_err(|e| Failure::permanent(format!("apiURL: {e}")))?;
        let label = format!("POST {}{}", http::origin(&url), url.path());
        let answer = http::json(self.client.post(url).bearer_auth(token).json(&body), &label, &[token]).await?;
        if answer.get("ok") == Some(&Value::Bool(true)) {
            return Ok(answer);
        }
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("no error given");
        let reason = format!("{label}: Slack answered `{}`", http::quote(error.as_bytes(), &[token]));
        Err(match error {
            "ratelimited" | "rate_limited" | "service_unavailable" | "request_timeout" | "internal_error" | "fatal_error" => {
                Failure::Transient(reason, None)
            }
            _ => Failure::permanent(reason),
        })
    }
}

/// The message's JSON: `text`, the section's `attachments` and `blocks`,
/// the username and icon of the section or else of the config.
pub(super) fn message(section: &Section, text: &str, username: &str, icon: &str) -> Result<Map<String, Value>, Failure> {
    let mut body = Map::new();
    body.insert("text".into(), json!(text));
    if let Some(a) = json_array(&section.attachments, "slack.attachments")?.filter(|a| !a.is_empty()) {
        body.insert("attachments".into(), Value::Array(a));
    }
    if let Some(b) = json_array(&section.blocks, "slack.blocks")?.filter(|b| !b.is_empty()) {
        body.insert("blocks".into(), Value::Array(b));
    }
    let username = if section.username.is_empty() { username } else { &section.username };
    if !username.is_empty() {
        body.insert("username".into(), json!(username));
    }
    let icon = if section.icon.is_empty() { icon } else { &section.icon };
    if icon.len() > 2 && icon.starts_with(':') && icon.ends_with(':') {
        body.insert("icon_emoji".into(), json!(icon));
    } else if http::parse_url(icon).is_ok() {
        body.insert("icon_url".into(), json!(icon));
    } else if !icon.is_empty() {
        tracing::warn!(icon, "Slack icon is neither an :emoji: nor an http(s) URL; ignored");
    }
    Ok(body)
}

fn policy(text: &str) -> Result<Policy, Failure> {
    match text.trim() {
        "" | "Post" => Ok(Policy::Post),
        "PostAndUpdate" => Ok(Policy::PostAndUpdate),
        "Update" => Ok(Policy::Update),
        other => Err(Failure::permanent(format!(
            "the template's `slack.deliveryPolicy` `{}` is not Post, PostAndUpdate or Update",
            http::quote(other.as_bytes(), &[])
        ))),
    }
}
