//! What to send for one app now (pure): its destinations' triggers
//! evaluated against the notified state.

use serde_json::Value;

use crate::config::Config;
use crate::state::NotifiedState;
use crate::subscriptions::Destinations;
use crate::{Destination, Notification};

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The trigger that fired.
    pub trigger: String,
    /// Its key in the notified state, recorded once sent.
    pub key: String,
    /// Where to.
    pub to: Destination,
    /// The templates to render, merged in order.
    pub templates: Vec<String>,
}

/// The outcome of evaluating an app's triggers.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// What to send.
    pub pending: Vec<Pending>,
    /// The state with the conditions that no longer hold forgotten.
    pub state: NotifiedState,
    /// Triggers that are not configured or could not be evaluated, with
    /// whether each condition fired, for logs.
    pub problems: Vec<String>,
    /// Each trigger evaluated and whether a condition fired (metrics).
    pub evaluated: Vec<(String, bool)>,
}

/// Evaluates `destinations`' triggers over `app` at `now`.
pub fn evaluate(config: &Config, app: &Value, destinations: &Destinations, mut state: NotifiedState, now: jiff::Timestamp) -> Evaluation {
    let mut out = Evaluation::default();
    let env = crate::trigger::env(app, now);
    for (name, dests) in destinations {
        let Some(trigger) = config.triggers.get(name) else {
            out.problems.push(format!("trigger {name:?} is not configured in {}", crate::config::CONFIG_MAP));
            continue;
        };
        for result in trigger.run(&env) {
            out.evaluated.push((name.clone(), result.triggered));
            if let Some(e) = &result.error {
                out.problems.push(format!("trigger {name} condition {}: {e}", result.key));
            }
            for to in dests {
                let key = NotifiedState::key(name, &result.key, &result.once_per, to);
                if !result.triggered {
                    state.forget(&key, !result.once_per.is_empty());
                } else if !state.contains(&key) {
                    out.pending.push(Pending { trigger: name.clone(), key, to: to.clone(), templates: result.templates.clone() });
                }
            }
        }
    }
    out.state = state;
    out
}

/// Renders `pending`'s templates for `service_type` and merges them into
/// one notification, as Argo CD does: a later template's message and
/// section keys win.
pub fn render(config: &Config, pending: &Pending, app: &Value, service_type: &str) -> Result<Notification, String> {
    let mut merged = Notification::default();
    for name in &pending.templates {
        let template =
            config.templates.get(name).ok_or_else(|| format!("template {name:?} is not configured in {}", crate::config::CONFIG_MAP))?;
        let n = template.render(app, &config.context, service_type).map_err(|e| e.to_string())?;
        if !n.message.is_empty() {
            merged.message = n.message;
        }
        for (section, v) in n.sections {
            match (merged.sections.get_mut(&section), v) {
                (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
                (_, v) => drop(merged.sections.insert(section, v)),
            }
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        let data: std::collections::BTreeMap<String, String> = [
            ("trigger.on-sync-succeeded", "- when: app.status.operationState.phase in ['Succeeded']\n  oncePer: app.status.operationState?.syncResult?.revision\n  send: [a, b]\n"),
            ("trigger.on-unknown", "- when: app.status.sync.status == 'Unknown'\n  send: [a]\n"),
            ("template.a", "message: first {{.app.metadata.name}}\nslack:\n  title: A\n  color: red\n"),
            ("template.b", "message: second {{.serviceType}}\nslack:\n  color: green\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let c = Config::parse(&data, &Default::default());
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        c
    }

    fn dests(triggers: &[&str]) -> Destinations {
        let to = Destination { service: "slack".into(), recipient: "ops".into() };
        triggers.iter().map(|t| (t.to_string(), [to.clone()].into_iter().collect())).collect()
    }

    fn now() -> jiff::Timestamp {
        "2026-12-05T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_condition_sends_once_per_value_and_again_for_a_new_one() {
        let c = config();
        let app = |rev: &str| json!({"metadata": {"name": "g"}, "status": {"operationState": {"phase": "Succeeded", "syncResult": {"revision": rev}}}});
        let e = evaluate(&c, &app("r1"), &dests(&["on-sync-succeeded"]), NotifiedState::default(), now());
        assert_eq!(e.pending.len(), 1);
        assert!(e.pending[0].key.starts_with("r1:on-sync-succeeded:[0]."), "{}", e.pending[0].key);
        let mut state = e.state;
        state.insert(e.pending[0].key.clone(), 1);
        assert!(evaluate(&c, &app("r1"), &dests(&["on-sync-succeeded"]), state.clone(), now()).pending.is_empty(), "sent already");
        assert_eq!(evaluate(&c, &app("r2"), &dests(&["on-sync-succeeded"]), state, now()).pending.len(), 1, "a new revision");
    }

    #[test]
    fn without_once_per_a_condition_notifies_again_after_it_stopped_holding() {
        let c = config();
        let unknown = json!({"status": {"sync": {"status": "Unknown"}}});
        let synced = json!({"status": {"sync": {"status": "Synced"}}});
        let e = evaluate(&c, &unknown, &dests(&["on-unknown"]), NotifiedState::default(), now());
        let mut state = e.state;
        state.insert(e.pending[0].key.clone(), 1);
        let e = evaluate(&c, &synced, &dests(&["on-unknown"]), state, now());
        assert!(e.pending.is_empty() && e.state == NotifiedState::default(), "forgotten once it no longer holds");
        assert_eq!(evaluate(&c, &unknown, &dests(&["on-unknown"]), e.state, now()).pending.len(), 1);
        let e = evaluate(&c, &unknown, &dests(&["on-missing"]), NotifiedState::default(), now());
        assert!(e.pending.is_empty() && e.problems[0].contains("not configured"), "{:?}", e.problems);
    }

    #[test]
    fn templates_merge_in_order() {
        let c = config();
        let p = Pending {
            trigger: "t".into(),
            key: "k".into(),
            to: Destination { service: "slack".into(), recipient: String::new() },
            templates: vec!["a".into(), "b".into()],
        };
        let n = render(&c, &p, &json!({"metadata": {"name": "g"}}), "slack").unwrap();
        assert_eq!(n.message, "second slack");
        assert_eq!(n.sections["slack"], json!({"title": "A", "color": "green"}));
        let p = Pending { templates: vec!["nope".into()], ..p };
        assert!(render(&c, &p, &json!({}), "slack").unwrap_err().contains("\"nope\" is not configured"));
    }
}
