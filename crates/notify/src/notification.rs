//! What a template renders and where it goes.

use serde_json::{Map, Value};

/// One notification, rendered for one service type: the template's
/// `message` and its per-service sections (`slack`, `teams`, `email`,
/// `webhook`, `github`, `gitlab`, ...) with every string in them already
/// rendered, as Argo CD's `Notification` carries them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notification {
    /// The template's `message`.
    pub message: String,
    /// The template's other keys, by service type.
    pub sections: Map<String, Value>,
}

impl Notification {
    /// The section of a service type (`slack`, `github`...), if the
    /// template has one.
    pub fn section(&self, service_type: &str) -> Option<&Value> {
        self.sections.get(service_type)
    }
}

/// A subscriber: a service by its name in `argocd-notifications-cm`
/// (`service.slack` is `slack`, `service.webhook.github` is `github`) and a
/// recipient in that service's terms (a channel, an address; empty for a
/// webhook).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Destination {
    /// The service's name.
    pub service: String,
    /// The recipient, as the subscription names it.
    pub recipient: String,
}
