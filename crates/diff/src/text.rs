//! Human-readable diffs: both objects as YAML, then a unified line diff.

use crate::mask::mask_secrets;
use crate::yaml::to_yaml;
use serde_json::Value;
use similar::TextDiff;

/// Lines of context around each change, as `diff -u` and `kubectl diff` use.
const CONTEXT: usize = 3;

/// A unified diff of `live` (old side) against `desired` (new side), both
/// rendered as YAML with sorted keys, under a `--- live/<title>` /
/// `+++ desired/<title>` header. `None` stands for a missing object (an
/// empty side).
///
/// Secrets are masked *here*, with [`mask_secrets`], whatever the caller did:
/// the output goes to terminals and the UI, and masking twice is harmless, so
/// no caller can leak a Secret value by forgetting. Pass normalised objects
/// (see [`crate::normalize`]) to leave out server bookkeeping.
///
/// Returns an empty string when both sides render identically.
pub fn unified_diff(title: &str, live: Option<&Value>, desired: Option<&Value>) -> String {
    let (live, desired) = mask_secrets(live, desired);
    let old = live.as_ref().map(to_yaml).unwrap_or_default();
    let new = desired.as_ref().map(to_yaml).unwrap_or_default();
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(&old, &new);
    let mut out = diff.unified_diff().context_radius(CONTEXT).header(&format!("live/{title}"), &format!("desired/{title}")).to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_changed_lines_with_header() {
        let live = json!({"kind": "Deployment", "spec": {"replicas": 5}});
        let desired = json!({"kind": "Deployment", "spec": {"replicas": 3}});
        let d = unified_diff("apps/Deployment/ns/web", Some(&live), Some(&desired));
        assert!(d.starts_with("--- live/apps/Deployment/ns/web\n+++ desired/apps/Deployment/ns/web\n"), "{d}");
        assert!(d.contains("-  replicas: 5\n"), "{d}");
        assert!(d.contains("+  replicas: 3\n"), "{d}");
    }

    #[test]
    fn missing_side_and_identical() {
        let obj = json!({"kind": "ConfigMap"});
        let d = unified_diff("cm", None, Some(&obj));
        assert!(d.contains("+kind: ConfigMap"), "{d}");
        assert_eq!(unified_diff("cm", Some(&obj), Some(&obj)), "");
    }
}
