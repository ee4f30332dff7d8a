//! The clusters generator: one element per registered cluster whose
//! Secret's labels the selector selects, the in-cluster entry too when
//! nothing is selected by label.

use driftless_api::ClusterGenerator;
use serde_json::{Value, json};

use super::{ClusterEntry, Generated, GeneratorError, Sources};
use crate::Params;
use crate::params::normalize;

pub(super) async fn generate(generator: &ClusterGenerator, go: bool, sources: &impl Sources) -> Generated {
    let selector = generator.selector.clone().unwrap_or_default();
    let by_label =
        selector.match_labels.as_ref().is_some_and(|m| !m.is_empty()) || selector.match_expressions.as_ref().is_some_and(|m| !m.is_empty());
    let mut elements = Vec::new();
    for cluster in sources.clusters().await.map_err(GeneratorError::Source)? {
        // The implicit in-cluster entry has no Secret, so no labels: a
        // selector by label never selects it, as in Argo CD.
        let selected = if by_label {
            !cluster.labels.is_empty()
                && crate::selector::matches(&selector, &cluster.labels).map_err(|e| GeneratorError::Invalid(format!("selector.{e}")))?
        } else {
            true
        };
        if selected {
            elements.push(params(&cluster, go));
        }
    }
    if generator.flat_list {
        let clusters = elements.into_iter().map(Value::Object).collect();
        return Ok(vec![Params::from_iter([("clusters".to_string(), Value::Array(clusters))])]);
    }
    Ok(elements)
}

/// A cluster's parameters, as Argo CD names them.
fn params(c: &ClusterEntry, go: bool) -> Params {
    let mut p = Params::new();
    p.insert("name".into(), json!(c.name));
    p.insert("nameNormalized".into(), json!(normalize(&c.name)));
    p.insert("server".into(), json!(c.server));
    p.insert("project".into(), json!(c.project.clone().unwrap_or_default()));
    if go {
        p.insert("metadata".into(), json!({"labels": c.labels, "annotations": c.annotations}));
    } else {
        for (k, v) in &c.labels {
            p.insert(format!("metadata.labels.{k}"), json!(v));
        }
        for (k, v) in &c.annotations {
            p.insert(format!("metadata.annotations.{k}"), json!(v));
        }
    }
    p
}
