//! Secret masking for diffs: show *that* a Secret value changed, never the
//! value itself.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Argo CD's mask: `+` rather than the more common `*`.
const MASK: &str = "++++++++";
/// What each further distinct value's mask grows by.
const MASK_STEP: &str = "++++";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Replaces the values of a Secret's `data` and `stringData` with Argo CD's
/// mask (`++++++++`), giving distinct values distinct masks of growing length
/// (`++++++++`, `++++++++++++`, ...) consistently across both sides, so a
/// diff still shows *that* a value changed without showing it.
///
/// As Argo CD does, `stringData` is first folded into `data` (base64-encoded)
/// so that a desired `stringData` and a live `data` compare equal; the live
/// object's `kubectl.kubernetes.io/last-applied-configuration` annotation is
/// masked the same way (it carries the values too) or, if it cannot be
/// parsed, replaced by the mask entirely. Objects that are not core/v1
/// Secrets are returned unchanged.
pub fn mask_secrets(live: Option<&Value>, desired: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let mut live = live.cloned();
    let mut desired = desired.cloned();
    if !live.as_ref().is_some_and(is_secret) && !desired.as_ref().is_some_and(is_secret) {
        return (live, desired);
    }
    // The last-applied annotation is a third copy of the data, masked with the
    // same table so its masks line up with the other two.
    let mut last_applied = live.as_ref().and_then(take_last_applied);

    let mut sides: Vec<&mut Value> = Vec::new();
    if let Some(d) = desired.as_mut().filter(|v| is_secret(v)) {
        sides.push(d);
    }
    if let Some(l) = live.as_mut().filter(|v| is_secret(v)) {
        sides.push(l);
    }
    if let Some(LastApplied::Parsed(o)) = last_applied.as_mut() {
        sides.push(o);
    }
    for side in sides.iter_mut() {
        fold_string_data(side);
        mask_non_map_data(side);
    }
    let keys: BTreeSet<String> =
        sides.iter().filter_map(|s| s.get("data").and_then(Value::as_object)).flat_map(|d| d.keys().cloned()).collect();
    for key in &keys {
        let mut masks: BTreeMap<String, String> = BTreeMap::new();
        let mut next = MASK.to_owned();
        for side in sides.iter_mut() {
            let Some(slot) = side.get_mut("data").and_then(Value::as_object_mut).and_then(|d| d.get_mut(key)) else {
                continue;
            };
            let text = match &*slot {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mask = masks.entry(text).or_insert_with(|| {
                let m = next.clone();
                next.push_str(MASK_STEP);
                m
            });
            *slot = Value::String(mask.clone());
        }
    }

    if let (Some(l), Some(original)) = (live.as_mut(), last_applied) {
        let text = match original {
            LastApplied::Parsed(o) => o.to_string(),
            LastApplied::Unparsable => MASK.to_owned(),
        };
        if let Some(annotations) = l.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
            annotations.insert(LAST_APPLIED.to_owned(), Value::String(text));
        }
    }
    (live, desired)
}

enum LastApplied {
    Parsed(Value),
    Unparsable,
}

fn take_last_applied(live: &Value) -> Option<LastApplied> {
    if !is_secret(live) {
        return None;
    }
    let text = live.pointer("/metadata/annotations")?.get(LAST_APPLIED)?;
    Some(match text.as_str().and_then(|t| serde_json::from_str::<Value>(t).ok()) {
        Some(v) if v.is_object() => LastApplied::Parsed(v),
        _ => LastApplied::Unparsable,
    })
}

/// Whether `v` is a core-group Secret (`apiVersion: v1`, `kind: Secret`).
pub(crate) fn is_secret(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Secret") && v.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Moves `stringData` into `data`, base64-encoding string values, as the API
/// server does on write.
pub(crate) fn fold_string_data(secret: &mut Value) {
    let Some(obj) = secret.as_object_mut() else {
        return;
    };
    let Some(string_data) = obj.remove("stringData") else {
        return;
    };
    let Value::Object(string_data) = string_data else {
        // Not a map: nothing sensible to fold, but it must not show.
        obj.insert("stringData".to_owned(), Value::String(MASK.to_owned()));
        return;
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj.insert("data".to_owned(), Value::Object(Map::new()));
    }
    if let Some(Value::Object(data)) = obj.get_mut("data") {
        for (k, v) in string_data {
            let encoded = match v {
                Value::String(s) => Value::String(base64(s.as_bytes())),
                other => other,
            };
            data.insert(k, encoded);
        }
    }
}

/// A `data` that is not a map (an invalid Secret) is masked whole.
fn mask_non_map_data(secret: &mut Value) {
    if let Some(data) = secret.get_mut("data")
        && !data.is_object()
        && !data.is_null()
    {
        *data = Value::String(MASK.to_owned());
    }
}

/// Standard base64 with padding (RFC 4648), as Kubernetes stores Secret data.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data})
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn equal_values_share_a_mask_and_different_values_differ() {
        let live = secret(json!({"same": "YQ==", "changed": "Yg=="}));
        let desired = secret(json!({"same": "YQ==", "changed": "Yw==", "new": "ZA=="}));
        let (l, d) = mask_secrets(Some(&live), Some(&desired));
        let (l, d) = (l.expect("live"), d.expect("desired"));
        assert_eq!(l["data"]["same"], d["data"]["same"]);
        assert_ne!(l["data"]["changed"], d["data"]["changed"]);
        assert_eq!(d["data"]["changed"], MASK);
        assert_eq!(l["data"]["changed"], format!("{MASK}{MASK_STEP}"));
        assert_eq!(d["data"]["new"], MASK);
        assert!(l["data"].get("new").is_none());
    }

    #[test]
    fn string_data_folds_into_data() {
        let live = secret(json!({"password": base64(b"hunter2")}));
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"password": "hunter2"}});
        let (l, d) = mask_secrets(Some(&live), Some(&desired));
        let (l, d) = (l.expect("live"), d.expect("desired"));
        assert_eq!(l["data"], d["data"]);
        assert!(d.get("stringData").is_none());
    }

    #[test]
    fn last_applied_annotation_is_masked() {
        let mut live = secret(json!({"k": base64(b"topsecret")}));
        let original = secret(json!({"k": base64(b"topsecret")}));
        live["metadata"]["annotations"] = json!({LAST_APPLIED: original.to_string()});
        let (l, _) = mask_secrets(Some(&live), None);
        let text = l.expect("live").to_string();
        assert!(!text.contains(&base64(b"topsecret")), "{text}");

        live["metadata"]["annotations"] = json!({LAST_APPLIED: "not json dG9wc2VjcmV0"});
        let (l, _) = mask_secrets(Some(&live), None);
        assert!(!l.expect("live").to_string().contains("dG9wc2VjcmV0"));
    }

    #[test]
    fn other_kinds_are_untouched() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
        let (l, d) = mask_secrets(Some(&cm), None);
        assert_eq!(l, Some(cm));
        assert_eq!(d, None);
    }
}
