//! `argocd-notifications-cm` and `argocd-notifications-secret`, parsed once
//! per change (pure).
//!
//! Keys as Argo CD reads them: `service.<type>` and `service.<type>.<name>`,
//! `template.<name>`, `trigger.<name>`, `defaultTriggers`,
//! `defaultTriggers.<service>`, `subscriptions`, `context`. A service's
//! strings may name a key of the Secret as `$key`: it is replaced by the
//! value (once, never re-expanded); templates and triggers never see
//! secrets. A key that does not parse is reported with its name and left
//! out; the rest of the configuration still works.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::services::Service;
use crate::subscriptions::Subscription;
use crate::template::Template;
use crate::trigger::Trigger;

/// The ConfigMap Argo CD's notifications read.
pub const CONFIG_MAP: &str = "argocd-notifications-cm";
/// The Secret whose keys services reference as `$key`.
pub const SECRET: &str = "argocd-notifications-secret";

/// What a configuration key could not be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{CONFIG_MAP} {key}: {reason}")]
pub struct ConfigError {
    /// The ConfigMap key.
    pub key: String,
    /// Why it was left out.
    pub reason: String,
}

/// The whole configuration.
#[derive(Debug, Default)]
pub struct Config {
    /// Services by name (`service.slack` is `slack`, `service.webhook.hook`
    /// is `hook`).
    pub services: BTreeMap<String, Service>,
    /// Templates by name.
    pub templates: BTreeMap<String, Template>,
    /// Triggers by name.
    pub triggers: BTreeMap<String, Trigger>,
    /// `defaultTriggers`: what a subscription without a trigger means.
    pub default_triggers: Vec<String>,
    /// `defaultTriggers.<service>`: the same, for one service.
    pub service_default_triggers: BTreeMap<String, Vec<String>>,
    /// `subscriptions`: destinations for every app whose labels match.
    pub subscriptions: Vec<Subscription>,
    /// `context`: `.context` in templates (e.g. `argocdUrl`).
    pub context: Map<String, Value>,
    /// The keys left out, and why.
    pub errors: Vec<ConfigError>,
}

impl Config {
    /// Parses the ConfigMap's data with the Secret's (values as text).
    pub fn parse(data: &BTreeMap<String, String>, secret: &BTreeMap<String, String>) -> Config {
        let mut c = Config::default();
        for (key, text) in data {
            let err = |reason: String| ConfigError { key: key.clone(), reason };
            let result = if let Some(rest) = key.strip_prefix("service.") {
                c.add_service(rest, text, secret).map_err(err)
            } else if let Some(name) = key.strip_prefix("template.") {
                Template::parse(name, text).map(|t| drop(c.templates.insert(name.to_string(), t))).map_err(|e| err(e.to_string()))
            } else if let Some(name) = key.strip_prefix("trigger.") {
                Trigger::parse(name, text).map(|t| drop(c.triggers.insert(name.to_string(), t))).map_err(|e| err(e.to_string()))
            } else if key == "defaultTriggers" {
                yaml::<Vec<String>>(text).map(|v| c.default_triggers = v).map_err(err)
            } else if let Some(service) = key.strip_prefix("defaultTriggers.") {
                yaml::<Vec<String>>(text).map(|v| drop(c.service_default_triggers.insert(service.to_string(), v))).map_err(err)
            } else if key == "subscriptions" {
                Subscription::parse_list(text).map(|v| c.subscriptions = v).map_err(err)
            } else if key == "context" {
                yaml::<Map<String, Value>>(text).map(|v| c.context = v).map_err(err)
            } else {
                // Argo CD ignores keys it does not know (e.g. `service.xxx`
                // of a later release would be an error above, not here).
                Ok(())
            };
            if let Err(e) = result {
                c.errors.push(e);
            }
        }
        c
    }

    fn add_service(&mut self, rest: &str, text: &str, secret: &BTreeMap<String, String>) -> Result<(), String> {
        // `service.<type>` names the service after its type;
        // `service.<type>.<name>` after the name (which may hold dots).
        let (kind, name) = match rest.split_once('.') {
            Some((kind, name)) if !name.is_empty() => (kind, name),
            _ => (rest, rest),
        };
        if kind.is_empty() {
            return Err("no service type after `service.`".into());
        }
        let mut config = yaml::<Value>(text)?;
        substitute_secrets(&mut config, secret);
        let service = Service::parse(kind, name, &config).map_err(|e| e.to_string())?;
        if self.services.insert(name.to_string(), service).is_some() {
            return Err(format!("a second service named {name:?}"));
        }
        Ok(())
    }

    /// The triggers a subscription without one means, for `service`.
    pub fn defaults_for(&self, service: &str) -> &[String] {
        self.service_default_triggers.get(service).map_or(&self.default_triggers, Vec::as_slice)
    }
}

/// YAML text as `T`, with serde's message.
pub(crate) fn yaml<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|e| format!("not valid YAML here: {e}"))
}

/// Replaces every `$key` in the strings of `v` with the Secret's value of
/// `key` (letters, digits, `-`, `_`, `.`), as notifications-engine does.
/// An unknown key stays as written; a value is never expanded again.
fn substitute_secrets(v: &mut Value, secret: &BTreeMap<String, String>) {
    match v {
        Value::String(s) if s.contains('$') => *s = substitute(s, secret),
        Value::Array(items) => items.iter_mut().for_each(|i| substitute_secrets(i, secret)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute_secrets(i, secret)),
        _ => {}
    }
}

fn substitute(s: &str, secret: &BTreeMap<String, String>) -> String {
    let is_key = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after.find(|c: char| !is_key(c)).unwrap_or(after.len());
        let key = &after[..len];
        match secret.get(key) {
            Some(value) if !key.is_empty() => out.push_str(value),
            _ => {
                out.push('$');
                out.push_str(key);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> BTreeMap<String, String> {
        [("slack-token", "xoxb-1"), ("a.b", "dotted"), ("loop", "$slack-token")].into_iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn secrets_are_substituted_once_and_unknown_keys_stay() {
        let s = secret();
        assert_eq!(substitute("$slack-token", &s), "xoxb-1");
        assert_eq!(substitute("Bearer $slack-token!", &s), "Bearer xoxb-1!");
        assert_eq!(substitute("$a.b/$missing $ $$", &s), "dotted/$missing $ $$");
        assert_eq!(substitute("$loop", &s), "$slack-token", "a secret's value is not expanded again");
        let mut v = serde_json::json!({"token": "$slack-token", "headers": [{"value": "x $a.b"}], "port": 25});
        substitute_secrets(&mut v, &s);
        assert_eq!(v, serde_json::json!({"token": "xoxb-1", "headers": [{"value": "x dotted"}], "port": 25}));
    }

    #[test]
    fn bad_keys_are_reported_by_name_and_the_rest_works() {
        let data: BTreeMap<String, String> = [
            ("trigger.good", "- when: app.status.sync.status == 'Unknown'\n  send: [t]\n"),
            ("trigger.bad", "- when: app.status.sync.status ==\n  send: [t]\n"),
            ("template.t", "message: hi {{.app.metadata.name}}\n"),
            ("template.broken", "message: hi {{.app.metadata.name\n"),
            ("defaultTriggers", "[good]"),
            ("defaultTriggers.mail", "- other\n"),
            ("context", "argocdUrl: https://cd.example.com\n"),
            ("subscriptions", "- recipients: [mail:a@b.c]\n  triggers: [good]\n"),
            ("service.nosuchservice", "x: 1\n"),
            ("unrelated", "whatever"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let c = Config::parse(&data, &secret());
        assert!(c.triggers.contains_key("good") && !c.triggers.contains_key("bad"));
        assert!(c.templates.contains_key("t") && !c.templates.contains_key("broken"));
        let keys: Vec<&str> = c.errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["service.nosuchservice", "template.broken", "trigger.bad"], "{:?}", c.errors);
        assert!(c.errors.iter().all(|e| e.to_string().starts_with("argocd-notifications-cm ")));
        assert_eq!(c.defaults_for("slack"), ["good"]);
        assert_eq!(c.defaults_for("mail"), ["other"]);
        assert_eq!(c.context["argocdUrl"], "https://cd.example.com");
        assert_eq!(c.subscriptions.len(), 1);
    }
}
