//! Lenient readers over a live object as JSON.
//!
//! Argo CD converts objects to typed structs and reports a conversion error as
//! `Unknown`; we read fields leniently instead (a field of the wrong type counts
//! as absent) because a live object from the API server is well-formed and a
//! partial answer beats none.

use serde_json::Value;

/// The value at a path of object keys, if every step exists.
pub(crate) fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| v.get(key))
}

/// The string at `path`, if present and a string.
pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(obj, path).and_then(Value::as_str)
}

/// The string at `path`, or "" (Go's zero value, which Argo's messages show).
pub(crate) fn str_or_empty<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    str_at(obj, path).unwrap_or("")
}

/// The integer at `path`, if present and an integer.
pub(crate) fn int_at(obj: &Value, path: &[&str]) -> Option<i64> {
    at(obj, path).and_then(Value::as_i64)
}

/// The integer at `path`, or 0 (Go's zero value for an absent status counter).
pub(crate) fn int_or_zero(obj: &Value, path: &[&str]) -> i64 {
    int_at(obj, path).unwrap_or(0)
}

/// The boolean at `path`, or false.
pub(crate) fn bool_at(obj: &Value, path: &[&str]) -> bool {
    at(obj, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(crate) fn array_at<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    at(obj, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// One entry of a `status.conditions` list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Condition<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

impl<'a> Condition<'a> {
    fn from_value(v: &'a Value) -> Self {
        Condition {
            type_: str_or_empty(v, &["type"]),
            status: str_or_empty(v, &["status"]),
            reason: str_or_empty(v, &["reason"]),
            message: str_or_empty(v, &["message"]),
        }
    }
}

/// All entries of the conditions list at `path`.
pub(crate) fn conditions_at<'a>(obj: &'a Value, path: &[&str]) -> Vec<Condition<'a>> {
    array_at(obj, path).iter().map(Condition::from_value).collect()
}

/// `status.conditions` of the object.
pub(crate) fn conditions(obj: &Value) -> Vec<Condition<'_>> {
    conditions_at(obj, &["status", "conditions"])
}

/// The first condition of the given type, as Argo's `getXCondition` helpers pick it.
pub(crate) fn condition<'a>(obj: &'a Value, type_: &str) -> Option<Condition<'a>> {
    conditions(obj).into_iter().find(|c| c.type_ == type_)
}

/// `metadata.generation`, 0 when absent.
pub(crate) fn generation(obj: &Value) -> i64 {
    int_or_zero(obj, &["metadata", "generation"])
}

/// `status.observedGeneration`, 0 when absent.
pub(crate) fn observed_generation(obj: &Value) -> i64 {
    int_or_zero(obj, &["status", "observedGeneration"])
}

/// `metadata.name`, "" when absent.
pub(crate) fn name(obj: &Value) -> &str {
    str_or_empty(obj, &["metadata", "name"])
}
