//! Who is subscribed to what: `notifications.argoproj.io/subscribe.<trigger>.<service>`
//! annotations on the Application and on its AppProject, and the
//! ConfigMap's `subscriptions` (by label selector).

use std::collections::{BTreeMap, BTreeSet};

use driftless_kustomize::LabelSelector;
use serde::Deserialize;

use crate::Destination;
use crate::config::Config;

/// The annotation prefix of a subscription.
pub const SUBSCRIBE_PREFIX: &str = "notifications.argoproj.io/subscribe.";

/// Destinations by trigger name.
pub type Destinations = BTreeMap<String, BTreeSet<Destination>>;

/// At most this many (trigger, destination) pairs per app: whoever may
/// annotate an app must not turn one sync into thousands of messages.
pub const MAX_DESTINATIONS: usize = 100;

/// One entry of `subscriptions`.
#[derive(Debug, Clone)]
pub struct Subscription {
    recipients: Vec<Destination>,
    triggers: Vec<String>,
    selector: LabelSelector,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    selector: String,
}

impl Subscription {
    /// Parses the YAML list of `subscriptions`.
    pub fn parse_list(text: &str) -> Result<Vec<Subscription>, String> {
        let raw: Vec<RawSubscription> = crate::config::yaml(text)?;
        raw.into_iter()
            .enumerate()
            .map(|(i, r)| {
                let recipients = r
                    .recipients
                    .iter()
                    .map(|d| match d.split_once(':') {
                        Some((service, recipient)) if !service.trim().is_empty() => {
                            Ok(Destination { service: service.trim().into(), recipient: recipient.trim().into() })
                        }
                        _ => Err(format!("[{i}].recipients: {d:?} is not <service>:<recipient>")),
                    })
                    .collect::<Result<_, _>>()?;
                let selector = LabelSelector::parse(&r.selector).map_err(|e| format!("[{i}].selector: {e}"))?;
                Ok(Subscription { recipients, triggers: r.triggers, selector })
            })
            .collect()
    }
}

/// The destinations of an app: the ConfigMap's subscriptions whose selector
/// matches its labels, its own subscription annotations and its project's.
/// A subscription without a trigger means the default triggers; past
/// [`MAX_DESTINATIONS`] the rest are left out.
pub fn destinations(
    config: &Config,
    labels: &BTreeMap<String, String>,
    app_annotations: &BTreeMap<String, String>,
    project_annotations: &BTreeMap<String, String>,
) -> Destinations {
    let mut out = Destinations::new();
    let mut count = 0;
    let mut add = |trigger: &str, dest: Destination| {
        let triggers: Vec<String> =
            if trigger.is_empty() { config.defaults_for(&dest.service).to_vec() } else { vec![trigger.to_string()] };
        for t in triggers {
            if count < MAX_DESTINATIONS && out.entry(t).or_default().insert(dest.clone()) {
                count += 1;
            }
        }
    };
    for s in config.subscriptions.iter().filter(|s| s.selector.matches(labels)) {
        for d in &s.recipients {
            if s.triggers.is_empty() {
                add("", d.clone());
            }
            for t in &s.triggers {
                add(t, d.clone());
            }
        }
    }
    for annotations in [app_annotations, project_annotations] {
        for (key, value) in annotations {
            let Some(rest) = key.strip_prefix(SUBSCRIBE_PREFIX) else { continue };
            let (trigger, service) = match rest.split_once('.') {
                Some((trigger, service)) => (trigger, service),
                None => ("", rest),
            };
            if service.is_empty() {
                continue;
            }
            let mut recipients: Vec<&str> = value.split(';').map(str::trim).filter(|r| !r.is_empty()).collect();
            if recipients.is_empty() {
                // A webhook needs no recipient: `subscribe.<trigger>.<hook>: ""`.
                recipients.push("");
            }
            for r in recipients {
                add(trigger, Destination { service: service.to_string(), recipient: r.to_string() });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn dest(service: &str, recipient: &str) -> Destination {
        Destination { service: service.into(), recipient: recipient.into() }
    }

    #[test]
    fn annotations_of_app_and_project_and_matching_subscriptions_add_up() {
        let data = map(&[
            ("defaultTriggers", "[on-sync-status-unknown]"),
            ("defaultTriggers.mail", "[on-deployed]"),
            (
                "subscriptions",
                "- recipients: [slack:ops]\n  selector: team=payments, tier in (prod, stage)\n  triggers: [on-sync-failed]\n- recipients: ['mail:oncall@example.com']\n",
            ),
        ]);
        let config = Config::parse(&data, &BTreeMap::new());
        assert!(config.errors.is_empty(), "{:?}", config.errors);
        let app = map(&[
            ("notifications.argoproj.io/subscribe.on-sync-succeeded.slack", "dev; qa ;"),
            ("notifications.argoproj.io/subscribe.on-sync-succeeded.hook", ""),
            ("notifications.argoproj.io/subscribe.slack", "alerts"),
            ("unrelated", "x"),
        ]);
        let project = map(&[("notifications.argoproj.io/subscribe.on-sync-succeeded.slack", "dev")]);
        let d = destinations(&config, &map(&[("team", "payments"), ("tier", "prod")]), &app, &project);
        assert_eq!(d["on-sync-succeeded"], [dest("hook", ""), dest("slack", "dev"), dest("slack", "qa")].into_iter().collect());
        assert_eq!(d["on-sync-failed"], [dest("slack", "ops")].into_iter().collect());
        assert_eq!(d["on-sync-status-unknown"], [dest("slack", "alerts")].into_iter().collect());
        assert_eq!(d["on-deployed"], [dest("mail", "oncall@example.com")].into_iter().collect());
        // Labels that do not match leave the selected subscription out.
        let d = destinations(&config, &map(&[("team", "payments"), ("tier", "dev")]), &BTreeMap::new(), &BTreeMap::new());
        assert!(!d.contains_key("on-sync-failed"));
    }

    #[test]
    fn subscriptions_select_by_labels_and_name_bad_entries() {
        let labels = map(&[("a", "1"), ("b", "2")]);
        let ok = |s: &str| {
            Subscription::parse_list(&format!("- recipients: [x:y]\n  selector: '{s}'\n")).map(|v| v[0].selector.matches(&labels))
        };
        assert_eq!(ok(""), Ok(true));
        assert_eq!(ok("a=1,b==2"), Ok(true));
        assert_eq!(ok("a!=1"), Ok(false));
        assert_eq!(ok("a in (1, 3),b notin (3)"), Ok(true));
        assert_eq!(ok("c"), Ok(false));
        assert_eq!(ok("!c,a"), Ok(true));
        assert!(ok("a in 1").unwrap_err().starts_with("[0].selector: "));
        assert!(Subscription::parse_list("- recipients: [nocolon]\n").unwrap_err().contains("not <service>:<recipient>"));
    }
}
