//! The list generator: `elements`, or `elementsYaml` (a YAML list, often
//! written by a matrix's first generator).

use driftless_api::ListGenerator;
use serde_json::Value;

use super::{Generated, GeneratorError};
use crate::template::Renderer;

pub(super) fn generate(list: &ListGenerator, renderer: &Renderer) -> Generated {
    let mut elements = Vec::with_capacity(list.elements.len());
    for (i, e) in list.elements.iter().enumerate() {
        elements.push(e.value().map_err(|e| GeneratorError::Invalid(format!("elements[{i}]: {e}")))?.clone());
    }
    if let Some(yaml) = list.elements_yaml.as_deref().filter(|y| !y.trim().is_empty()) {
        let parsed: Value =
            serde_saphyr::from_str(yaml).map_err(|e| GeneratorError::Invalid(format!("elementsYaml: not a YAML list: {e}")))?;
        match parsed {
            Value::Array(items) => elements.extend(items),
            Value::Null => {}
            _ => return Err(GeneratorError::Invalid("elementsYaml: not a YAML list".into())),
        }
    }
    elements
        .into_iter()
        .enumerate()
        .map(|(i, e)| match e {
            Value::Object(map) => Ok(map),
            other => Err(GeneratorError::Invalid(format!("elements[{i}]: an element is an object of parameters, not {}", kind(&other)))),
        })
        .map(|r| r.map(|p| if renderer.is_go() { p } else { scalars_as_text(p) }))
        .collect()
}

/// fasttemplate sees text: numbers and booleans of an element become
/// their text (nested objects are flattened when rendering).
fn scalars_as_text(p: crate::Params) -> crate::Params {
    p.into_iter()
        .map(|(k, v)| match v {
            Value::Number(_) | Value::Bool(_) => (k, Value::String(crate::params::text(&v))),
            v => (k, v),
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(v: Value) -> ListGenerator {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn elements_and_elements_yaml_both_count() {
        let r = Renderer::new(false, &[]).unwrap();
        let out = generate(
            &list(json!({"elements": [{"cluster": "a", "url": "https://a"}], "elementsYaml": "- cluster: b\n  replicas: 2\n"})),
            &r,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1]["replicas"], json!("2"), "fasttemplate sees text");
    }

    #[test]
    fn an_element_that_is_not_an_object_is_named() {
        let r = Renderer::new(false, &[]).unwrap();
        let e = generate(&list(json!({"elements": [{"a": "b"}, "oops"]})), &r).unwrap_err();
        assert_eq!(e.to_string(), "elements[1]: an element is an object of parameters, not a string");
        let e = generate(&list(json!({"elementsYaml": "a: b"})), &r).unwrap_err();
        assert!(e.to_string().contains("elementsYaml: not a YAML list"), "{e}");
    }
}
