//! matrix (every pair of two generators' elements, the second generator
//! written with the first's parameters) and merge (the first generator's
//! elements, overridden by the others' elements with the same merge keys).

use std::collections::BTreeMap;

use driftless_api::{MatrixGenerator, MergeGenerator};
use serde_json::Value;

use super::{Generated, GeneratorError, Sources, nested};
use crate::Params;
use crate::params::flatten;
use crate::template::Renderer;

pub(super) async fn matrix(m: &MatrixGenerator, at: &str, depth: usize, renderer: &Renderer, sources: &impl Sources) -> Generated {
    let [first, second] = m.generators.as_slice() else {
        return Err(GeneratorError::Invalid(format!(
            "{at}.generators: a matrix combines exactly 2 generators, not {}",
            m.generators.len()
        )));
    };
    let lefts = nested(first, &format!("{at}.generators[0]"), depth, renderer, sources).await?;
    let at_second = format!("{at}.generators[1]");
    // The second generator may name the first's parameters; its own
    // template is its elements' business, not the first's.
    let mut spec = serde_json::to_value(second).map_err(|e| GeneratorError::Invalid(format!("{at_second}: {e}")))?;
    let own_template = strip_templates(&mut spec);
    let templated = spec.to_string().contains("{{");
    let mut fixed: Option<Vec<Params>> = None;
    let mut out = Vec::new();
    for (i, left) in lefts.iter().enumerate() {
        let rights = match (&fixed, templated) {
            (Some(rights), false) => rights.clone(),
            _ => {
                let rendered = renderer.value(&spec, left, &at_second).map_err(|e| GeneratorError::Invalid(e.to_string()))?;
                let mut child: driftless_api::ApplicationSetNestedGenerator = serde_json::from_value(rendered)
                    .map_err(|e| GeneratorError::Invalid(format!("{at_second}: written with element {i} of generators[0]: {e}")))?;
                restore_templates(&mut child, &own_template);
                let rights = nested(&child, &at_second, depth, renderer, sources).await?;
                if !templated {
                    fixed = Some(rights.clone());
                }
                rights
            }
        };
        for right in rights {
            out.push(combine(left, &right, renderer.is_go()).map_err(|e| GeneratorError::Invalid(format!("{at}: {e}")))?);
        }
    }
    Ok(out)
}

/// Takes every generator kind's `template` out of a nested generator's
/// spec, to be put back after the spec is rendered.
fn strip_templates(spec: &mut Value) -> Vec<(String, Value)> {
    let mut taken = Vec::new();
    if let Value::Object(kinds) = spec {
        for (kind, body) in kinds.iter_mut() {
            if let Some(t) = body.as_object_mut().and_then(|b| b.remove("template")) {
                taken.push((kind.clone(), t));
            }
        }
    }
    taken
}

fn restore_templates(child: &mut driftless_api::ApplicationSetNestedGenerator, taken: &[(String, Value)]) {
    let Ok(mut v) = serde_json::to_value(&*child) else { return };
    for (kind, t) in taken {
        if let Some(body) = v.get_mut(kind).and_then(Value::as_object_mut) {
            body.insert("template".into(), t.clone());
        }
    }
    if let Ok(c) = serde_json::from_value(v) {
        *child = c;
    }
}

/// Two elements as one. Go templates: the second merged over the first;
/// fasttemplate: a key both give with different values is an error, as
/// in Argo CD.
fn combine(left: &Params, right: &Params, go: bool) -> Result<Params, String> {
    let mut out = left.clone();
    if go {
        let mut merged = Value::Object(out);
        json_patch::merge(&mut merged, &Value::Object(right.clone()));
        return Ok(merged.as_object().cloned().unwrap_or_default());
    }
    for (k, v) in right {
        match out.get(k) {
            Some(existing) if existing != v => {
                return Err(format!("both generators give the parameter {k:?}, with different values ({existing} and {v})"));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

pub(super) async fn merge(m: &MergeGenerator, at: &str, depth: usize, renderer: &Renderer, sources: &impl Sources) -> Generated {
    if m.generators.len() < 2 {
        return Err(GeneratorError::Invalid(format!("{at}.generators: a merge needs at least 2 generators, not {}", m.generators.len())));
    }
    if m.merge_keys.is_empty() {
        return Err(GeneratorError::Invalid(format!("{at}.mergeKeys: required")));
    }
    let mut generated = Vec::with_capacity(m.generators.len());
    for (i, g) in m.generators.iter().enumerate() {
        generated.push(nested(g, &format!("{at}.generators[{i}]"), depth, renderer, sources).await?);
    }
    let mut base = generated.remove(0);
    for (i, others) in generated.into_iter().enumerate() {
        let by_key = by_merge_key(others, &m.merge_keys)
            .map_err(|k| GeneratorError::Invalid(format!("{at}.generators[{}]: two elements have the merge key values {k:?}", i + 1)))?;
        for element in &mut base {
            if let Some(over) = by_key.get(&key_of(element, &m.merge_keys)) {
                *element = overridden(element, over, renderer.is_go());
            }
        }
    }
    Ok(base)
}

fn key_of(p: &Params, keys: &[String]) -> Vec<String> {
    let flat = flatten(p);
    keys.iter().map(|k| flat.get(k).and_then(Value::as_str).unwrap_or_default().to_string()).collect()
}

fn by_merge_key(elements: Vec<Params>, keys: &[String]) -> Result<BTreeMap<Vec<String>, Params>, Vec<String>> {
    let mut out = BTreeMap::new();
    for e in elements {
        let k = key_of(&e, keys);
        if out.insert(k.clone(), e).is_some() {
            return Err(k);
        }
    }
    Ok(out)
}

fn overridden(base: &Params, over: &Params, go: bool) -> Params {
    if go {
        let mut merged = Value::Object(base.clone());
        json_patch::merge(&mut merged, &Value::Object(over.clone()));
        return merged.as_object().cloned().unwrap_or_default();
    }
    let mut out = base.clone();
    out.extend(over.clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Params {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn fasttemplate_refuses_a_key_both_sides_give_differently() {
        assert!(combine(&p(json!({"a": "1"})), &p(json!({"a": "1", "b": "2"})), false).is_ok());
        let e = combine(&p(json!({"a": "1"})), &p(json!({"a": "2"})), false).unwrap_err();
        assert!(e.contains("\"a\""), "{e}");
        assert_eq!(combine(&p(json!({"a": {"x": 1}})), &p(json!({"a": {"y": 2}})), true).unwrap(), p(json!({"a": {"x": 1, "y": 2}})));
    }

    #[test]
    fn merge_keys_read_nested_parameters() {
        let e = p(json!({"server": "s", "values": {"env": "prod"}}));
        assert_eq!(key_of(&e, &["server".into(), "values.env".into()]), vec!["s", "prod"]);
        assert!(by_merge_key(vec![e.clone(), e], &["server".into()]).is_err());
    }
}
