//! Full structural comparison (predicted vs live) and the value equality
//! shared with subset mode.

use crate::pointer::{push_index, push_key};
use crate::quantity::{Quantity, is_quantity_place};
use serde_json::Value;

/// Where in the document a value sits, as far as equality cares: the key of
/// the enclosing map and the value's own key (both `None` in lists/at root).
#[derive(Clone, Copy, Default)]
pub(crate) struct Place<'a> {
    pub(crate) parent: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
}

impl<'a> Place<'a> {
    /// The place of a map entry `key` inside this place.
    pub(crate) fn child(self, key: &'a str) -> Self {
        Self { parent: self.key, key: Some(key) }
    }

    /// The place of a list element inside this place.
    pub(crate) fn element(self) -> Self {
        Self { parent: self.key, key: None }
    }
}

/// Equality of scalars: numbers numerically (`1` == `1.0`), everything else
/// structurally.
pub(crate) fn scalars_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        _ => a == b,
    }
}

fn numbers_equal(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    // Mixed or fractional: exact decimal comparison first (no float rounding
    // surprises for large integers), then numeric.
    match (Quantity::parse(&x.to_string()), Quantity::parse(&y.to_string())) {
        (Some(a), Some(b)) => a == b,
        _ => x.as_f64() == y.as_f64(),
    }
}

/// Equality of two leaf values at `place`: quantities by amount where
/// Kubernetes stores quantities, numbers numerically, the rest exactly.
pub(crate) fn leaves_equal(place: Place<'_>, a: &Value, b: &Value) -> bool {
    if scalars_equal(a, b) {
        return true;
    }
    if is_quantity_place(place.parent, place.key)
        && let (Some(x), Some(y)) = (Quantity::of(a), Quantity::of(b))
    {
        return x == y;
    }
    false
}

/// Appends to `out` the pointers under `path` where `a` and `b` differ: maps
/// key by key, lists element by element when equally long (else the whole
/// list), leaves with [`leaves_equal`].
pub(crate) fn diff(place: Place<'_>, path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, av) in x {
                let p = push_key(path, k);
                match y.get(k) {
                    Some(bv) => diff(place.child(k), &p, av, bv, out),
                    None => out.push(p),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(push_key(path, k));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (av, bv)) in x.iter().zip(y).enumerate() {
                diff(place.element(), &push_index(path, i), av, bv, out);
            }
        }
        _ => {
            if !leaves_equal(place, a, b) {
                out.push(path.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changed(a: Value, b: Value) -> Vec<String> {
        let mut out = Vec::new();
        diff(Place::default(), "", &a, &b, &mut out);
        out.sort();
        out
    }

    #[test]
    fn reports_leaf_and_key_differences() {
        let a = json!({"spec": {"replicas": 3, "x": 1, "list": [1, 2]}});
        let b = json!({"spec": {"replicas": 5, "y": 1, "list": [1, 2, 3]}});
        assert_eq!(changed(a, b), vec!["/spec/list", "/spec/replicas", "/spec/x", "/spec/y"]);
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(changed(json!({"a": 1}), json!({"a": 1.0})).is_empty());
        assert!(!changed(json!({"a": 1}), json!({"a": 1.5})).is_empty());
        assert!(!changed(json!({"a": 1}), json!({"a": "1"})).is_empty());
    }

    #[test]
    fn quantities_compare_by_amount_at_quantity_places() {
        let a = json!({"resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}});
        let b = json!({"resources": {"limits": {"cpu": "500m", "memory": "1024Mi"}}});
        assert!(changed(a, b).is_empty());
        assert_eq!(changed(json!({"env": "0.5"}), json!({"env": "500m"})), vec!["/env"]);
    }

    #[test]
    fn escapes_keys_in_pointers() {
        assert_eq!(
            changed(json!({"metadata": {"labels": {"app.kubernetes.io/name": "a"}}}), json!({"metadata": {"labels": {}}})),
            vec!["/metadata/labels/app.kubernetes.io~1name"]
        );
    }
}
