//! Microsoft Teams: an Office 365 connector webhook fed a MessageCard
//! (`teams`), or a Power Automate workflow webhook fed an Adaptive Card
//! (`teams-workflows`), one webhook URL per channel (`recipientUrls`).

use std::collections::BTreeMap;

use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http;
use super::{Config, Failure, ServiceError, json_array, json_text, lenient, section};
use crate::Notification;

/// Which webhook, which card.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// `teams`: an Office 365 connector, a MessageCard.
    MessageCard,
    /// `teams-workflows`: a workflow, an Adaptive Card.
    Workflows,
}

impl Flavor {
    fn section(self) -> &'static str {
        match self {
            Flavor::MessageCard => "teams",
            Flavor::Workflows => "teams-workflows",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    recipient_urls: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    insecure_skip_verify: bool,
}

/// The `teams` (or `teams-workflows`) section of a template; the JSON of
/// `facts`, `sections`, `potentialAction` and `adaptiveCard` is text.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Section {
    template: String,
    title: String,
    summary: String,
    text: String,
    theme_color: String,
    facts: String,
    sections: String,
    potential_action: String,
    adaptive_card: String,
}

pub(super) struct Teams {
    flavor: Flavor,
    /// Channel → webhook URL (each a secret).
    channels: BTreeMap<String, Url>,
    client: reqwest::Client,
}

impl Teams {
    pub(super) fn parse(at: &Config, flavor: Flavor) -> Result<Teams, ServiceError> {
        let s: Settings = at.typed(&[])?;
        if s.recipient_urls.is_empty() {
            return Err(at.invalid("recipientUrls", "names no channel (`recipientUrls: {channel: webhook URL}`)"));
        }
        let channels = s
            .recipient_urls
            .iter()
            .map(|(channel, url)| {
                Ok((channel.clone(), http::parse_url(url).map_err(|e| at.invalid(&format!("recipientUrls.{channel}"), &e))?))
            })
            .collect::<Result<_, ServiceError>>()?;
        let client = http::client(s.insecure_skip_verify).map_err(|e| at.invalid("", &e))?;
        Ok(Teams { flavor, channels, client })
    }

    pub(super) async fn send(&self, n: &Notification, channel: &str) -> Result<(), Failure> {
        let Some(url) = self.channels.get(channel.trim()) else {
            let known: Vec<&str> = self.channels.keys().map(String::as_str).collect();
            return Err(Failure::permanent(format!(
                "no webhook for the channel `{}` in recipientUrls (it has: {})",
                http::quote(channel.as_bytes(), &[]),
                known.join(", ")
            )));
        };
        let section: Section = section(n, self.flavor.section())?;
        let body = match self.flavor {
            Flavor::MessageCard => message_card(&section, &n.message)?,
            Flavor::Workflows => workflow_message(&section, &n.message)?,
        };
        let label = format!("POST {} (the webhook of channel `{channel}`)", http::origin(url));
        let secret = url.as_str();
        let answer =
            http::send(self.client.post(url.clone()).header("Content-Type", "application/json").body(body), &label, &[secret]).await?;
        // A connector webhook answers "1"; it reported some failures with a
        // 200 and their text.
        let said = String::from_utf8_lossy(&answer.body);
        let said = said.trim();
        if self.flavor == Flavor::MessageCard && !said.is_empty() && said != "1" {
            let reason = format!("{label}: Teams answered: {}", http::quote(said.as_bytes(), &[secret]));
            return Err(if said.contains("429") { Failure::Transient(reason, None) } else { Failure::permanent(reason) });
        }
        Ok(())
    }
}

/// The section's `template`, when set: the whole body, which must be JSON.
fn template(section: &Section, field: &str) -> Result<Option<String>, Failure> {
    Ok(json_text(&section.template, field)?.map(|_| section.template.clone()))
}

/// The MessageCard notifications-engine sends: the message as `text`, the
/// section's fields over it, `facts` as one more section.
pub(super) fn message_card(section: &Section, message: &str) -> Result<String, Failure> {
    if let Some(whole) = template(section, "teams.template")? {
        return Ok(whole);
    }
    let text = if section.text.is_empty() { message } else { &section.text };
    let summary = [&section.summary, &section.title].into_iter().find(|s| !s.is_empty()).map_or(text, String::as_str);
    let mut card = Map::new();
    card.insert("@type".into(), json!("MessageCard"));
    card.insert("@context".into(), json!("https://schema.org/extensions"));
    card.insert("title".into(), json!(section.title));
    card.insert("summary".into(), json!(summary));
    card.insert("text".into(), json!(text));
    if !section.theme_color.is_empty() {
        card.insert("themeColor".into(), json!(section.theme_color));
    }
    let mut sections = json_array(&section.sections, "teams.sections")?.unwrap_or_default();
    if let Some(facts) = json_array(&section.facts, "teams.facts")? {
        sections.push(json!({ "facts": facts }));
    }
    if !sections.is_empty() {
        card.insert("sections".into(), Value::Array(sections));
    }
    if let Some(actions) = json_array(&section.potential_action, "teams.potentialAction")? {
        card.insert("potentialAction".into(), Value::Array(actions));
    }
    Ok(Value::Object(card).to_string())
}

/// A workflow's message: the section's `adaptiveCard`, else a card of the
/// title, text, facts and `OpenUri` actions, as notifications-engine
/// builds it; wrapped in a `message` with one attachment.
pub(super) fn workflow_message(section: &Section, message: &str) -> Result<String, Failure> {
    if let Some(whole) = template(section, "teams-workflows.template")? {
        return Ok(whole);
    }
    let card = match json_text(&section.adaptive_card, "teams-workflows.adaptiveCard")? {
        Some(card @ Value::Object(_)) => card,
        Some(_) => return Err(Failure::permanent("the template's `teams-workflows.adaptiveCard` is not a JSON object")),
        None => adaptive_card(section, message)?,
    };
    Ok(json!({
        "type": "message",
        "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive", "content": card }],
    })
    .to_string())
}

fn adaptive_card(section: &Section, message: &str) -> Result<Value, Failure> {
    let mut body = Vec::new();
    if !section.title.is_empty() {
        let mut title = json!({ "type": "TextBlock", "text": section.title, "size": "Large", "weight": "Bolder", "wrap": true });
        // Adaptive Cards take named colours only; a MessageCard's "#18be52" is dropped.
        if ["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"].contains(&section.theme_color.as_str()) {
            title["color"] = json!(section.theme_color);
        }
        body.push(title);
    }
    let text = if section.text.is_empty() { message } else { &section.text };
    if !text.is_empty() {
        body.push(json!({ "type": "TextBlock", "text": text, "wrap": true }));
    }
    let fact_set = |facts: &[Value]| {
        let facts: Vec<Value> = facts
            .iter()
            .filter_map(|f| {
                let name = f.get("name")?.as_str()?;
                let value = match f.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                Some(json!({ "title": name, "value": value }))
            })
            .collect();
        (!facts.is_empty()).then(|| json!({ "type": "FactSet", "facts": facts }))
    };
    let field = |f: &str| format!("teams-workflows.{f}");
    body.extend(json_array(&section.facts, &field("facts"))?.and_then(|f| fact_set(&f)));
    for s in json_array(&section.sections, &field("sections"))?.unwrap_or_default() {
        body.extend(s.get("facts").and_then(Value::as_array).and_then(|f| fact_set(f)));
    }
    let mut card = json!({ "type": "AdaptiveCard", "version": "1.4", "body": body });
    let actions: Vec<Value> = json_array(&section.potential_action, &field("potentialAction"))?
        .unwrap_or_default()
        .iter()
        .filter(|a| a.get("@type").and_then(Value::as_str) == Some("OpenUri"))
        .filter_map(|a| {
            let url = a.get("targets")?.get(0)?.get("uri")?.as_str()?;
            Some(json!({ "type": "Action.OpenUrl", "title": a.get("name").and_then(Value::as_str).unwrap_or_default(), "url": url }))
        })
        .collect();
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    Ok(card)
}
