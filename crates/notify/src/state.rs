//! What was already sent, kept on the app as Argo CD keeps it: the
//! annotation `notified.notifications.argoproj.io`, a JSON map from
//! `[oncePer:]trigger:condition:service:recipient` to the Unix time it was
//! sent. A restart reads it back, so nothing is lost or sent twice.

use std::collections::BTreeMap;

use crate::Destination;

/// The annotation.
pub const NOTIFIED_ANNOTATION: &str = "notified.notifications.argoproj.io";
/// At most this many entries are kept; the oldest go first (Argo CD's 100).
const MAX_ENTRIES: usize = 100;

/// The notified state of one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifiedState(BTreeMap<String, i64>);

impl NotifiedState {
    /// Reads the annotation's value; an unreadable one is empty, as in Argo CD.
    pub fn parse(value: Option<&str>) -> NotifiedState {
        NotifiedState(value.and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default())
    }

    /// notifications-engine's key of a condition's result for a destination.
    pub fn key(trigger: &str, condition: &str, once_per: &str, to: &Destination) -> String {
        let key = format!("{trigger}:{condition}:{}:{}", to.service, to.recipient);
        if once_per.is_empty() { key } else { format!("{once_per}:{key}") }
    }

    /// Whether `key` was sent.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Records `key` as sent at `unix`.
    pub fn insert(&mut self, key: String, unix: i64) {
        self.0.insert(key, unix);
    }

    /// Forgets `key`, so that the condition notifies again the next time it
    /// holds (never for a `oncePer` key: that value was notified for good).
    pub fn forget(&mut self, key: &str, once_per: bool) {
        if !once_per {
            self.0.remove(key);
        }
    }

    /// The annotation's new value: None removes it.
    pub fn to_annotation(&self) -> Option<String> {
        let mut entries: Vec<(&String, &i64)> = self.0.iter().collect();
        if entries.is_empty() {
            return None;
        }
        // The newest MAX_ENTRIES, ties broken by key for a stable value.
        entries.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        entries.truncate(MAX_ENTRIES);
        let kept: BTreeMap<&String, &i64> = entries.into_iter().collect();
        serde_json::to_string(&kept).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_read_as_argo_cds() {
        let to = Destination { service: "slack".into(), recipient: "ops".into() };
        assert_eq!(NotifiedState::key("on-deployed", "[0].abc", "", &to), "on-deployed:[0].abc:slack:ops");
        assert_eq!(NotifiedState::key("on-deployed", "[0].abc", "f00d", &to), "f00d:on-deployed:[0].abc:slack:ops");
        let s = NotifiedState::parse(Some(r#"{"f00d:on-deployed:[0].abc:slack:ops": 1700000000}"#));
        assert!(s.contains("f00d:on-deployed:[0].abc:slack:ops"));
        assert_eq!(NotifiedState::parse(Some("not json")), NotifiedState::default());
        assert_eq!(NotifiedState::default().to_annotation(), None);
    }

    #[test]
    fn once_per_keys_stay_and_only_the_newest_hundred_are_kept() {
        let mut s = NotifiedState::default();
        s.insert("a".into(), 1);
        s.forget("a", true);
        assert!(s.contains("a"));
        s.forget("a", false);
        assert!(!s.contains("a"));
        for i in 0..150 {
            s.insert(format!("k{i:03}"), i);
        }
        let kept = NotifiedState::parse(s.to_annotation().as_deref());
        assert_eq!(kept.0.len(), 100);
        assert!(kept.contains("k149") && kept.contains("k050") && !kept.contains("k049"));
    }
}
