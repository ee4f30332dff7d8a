//! Subset comparison: the fallback when no server-side dry run is possible.
//! Every field the desired manifest sets must have the same value in live;
//! fields only live has (server defaults, other controllers' additions) are
//! fine.

use crate::compare::{Place, leaves_equal};
use crate::pointer::{push_index, push_key};
use crate::quantity::Quantity;
use serde_json::Value;

/// Appends to `out` the pointers of desired fields that live does not match.
pub(crate) fn check(place: Place<'_>, path: &str, desired: &Value, live: Option<&Value>, out: &mut Vec<String>) {
    // A desired null, {} or [] (recursively) says nothing the server must
    // keep: Kubernetes drops empty collections and nulls (omitempty).
    let Some(live) = live.filter(|l| !l.is_null()) else {
        if !is_empty_like(desired) {
            out.push(path.to_owned());
        }
        return;
    };
    match (desired, live) {
        // Desired null means "not set by us"; whatever the server has is fine.
        (Value::Null, _) => {}
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                check(place.child(k), &push_key(path, k), dv, l.get(k), out);
            }
        }
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                check(place.element(), &push_index(path, i), dv, Some(lv), out);
            }
        }
        _ => {
            if !leaves_equal(place, desired, live) && !quantities_equal(desired, live) {
                out.push(path.to_owned());
            }
        }
    }
}

/// Outside the known quantity places, a desired string that is a quantity
/// still matches a live string denoting the same amount ("1Gi" and
/// "1024Mi", "0.5" and "500m"): defaulting webhooks and controllers
/// canonicalise quantities in places we do not know about. At least one side
/// must carry a suffix or exponent, though: two plain decimals such as
/// versions "1.10" and "1.1" are different strings, not one amount.
fn quantities_equal(desired: &Value, live: &Value) -> bool {
    let (Value::String(d), Value::String(l)) = (desired, live) else {
        return false;
    };
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
    if plain(d) && plain(l) {
        return false;
    }
    match (Quantity::parse(d), Quantity::parse(l)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn is_empty_like(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_empty_like),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changed(d: Value, l: Value) -> Vec<String> {
        let mut out = Vec::new();
        check(Place::default(), "", &d, Some(&l), &mut out);
        out.sort();
        out
    }

    #[test]
    fn live_only_fields_are_fine() {
        let d = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let l = json!({"spec": {"replicas": 2, "strategy": {"type": "RollingUpdate"},
            "template": {"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"}], "dnsPolicy": "ClusterFirst"}}}});
        assert!(changed(d, l).is_empty());
    }

    #[test]
    fn missing_or_different_fields_are_reported() {
        let d = json!({"spec": {"replicas": 2, "paused": true, "l": [1, 2]}});
        let l = json!({"spec": {"replicas": 3, "l": [1]}});
        assert_eq!(changed(d, l), vec!["/spec/l", "/spec/paused", "/spec/replicas"]);
    }

    #[test]
    fn empty_and_null_desired_match_absence() {
        let d = json!({"spec": {"env": [], "resources": {"limits": {}}, "x": null}});
        assert!(changed(d, json!({"spec": {}})).is_empty());
    }

    #[test]
    fn quantities_anywhere_when_both_parse() {
        assert!(changed(json!({"size": "1Gi"}), json!({"size": "1024Mi"})).is_empty());
        assert_eq!(changed(json!({"size": "1Gi"}), json!({"size": "big"})), vec!["/size"]);
        assert!(changed(json!({"resources": {"requests": {"cpu": 1}}}), json!({"resources": {"requests": {"cpu": "1"}}})).is_empty());
    }
}
