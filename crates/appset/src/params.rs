//! The parameters one generator element gives a template.

use serde_json::{Map, Value};

/// One element of a generator's output: the values its template sees
/// (`{{name}}` or `{{.name}}`). Go templates see nested objects as they
/// are; fasttemplate sees them flattened ([`flatten`]).
pub type Params = Map<String, Value>;

/// `params` as fasttemplate and label selectors see them: nested keys
/// joined with dots (`values.env`), list items by index (`path[0]` is
/// written by the generators themselves), scalars as text.
pub fn flatten(params: &Params) -> Map<String, Value> {
    let mut flat = Map::new();
    for (key, value) in params {
        flatten_into(&mut flat, key, value);
    }
    flat
}

fn flatten_into(flat: &mut Map<String, Value>, key: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten_into(flat, &format!("{key}.{k}"), v);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_into(flat, &format!("{key}.{i}"), v);
            }
        }
        scalar => {
            flat.insert(key.to_string(), Value::String(text(scalar)));
        }
    }
}

/// A scalar as text, as Go's `fmt.Sprint` writes it (whole numbers without
/// a fraction); null is empty.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

pub use driftless_gotemplate::normalize;

/// Adds the generator's `values` as `values.<key>` (each rendered with
/// the element's own parameters first, as Argo CD does).
pub fn add_values(
    params: &mut Params,
    values: &std::collections::BTreeMap<String, String>,
    render: impl Fn(&str, &Params) -> Result<String, String>,
) -> Result<(), String> {
    if values.is_empty() {
        return Ok(());
    }
    let mut rendered = Map::new();
    for (k, v) in values {
        rendered.insert(k.clone(), Value::String(render(v, params).map_err(|e| format!("values.{k}: {e}"))?));
    }
    match params.get_mut("values") {
        Some(Value::Object(existing)) => existing.extend(rendered),
        _ => {
            params.insert("values".into(), Value::Object(rendered));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_keys_are_joined_with_dots_and_numbers_print_as_go_prints_them() {
        let p = json!({"cluster": "a", "values": {"env": "prod", "replicas": 3.0}, "list": ["x", {"y": true}], "n": null});
        let flat = flatten(p.as_object().unwrap());
        assert_eq!(
            Value::Object(flat),
            json!({"cluster": "a", "values.env": "prod", "values.replicas": "3", "list.0": "x", "list.1.y": "true", "n": ""})
        );
    }
}
