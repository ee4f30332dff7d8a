//! The clusterDecisionResource generator: clusters chosen by another
//! controller's resources (Open Cluster Management's PlacementDecision
//! and the like), read as a duck type through a ConfigMap that names the
//! kind, the status list and the key that names a cluster.

use driftless_api::DuckTypeGenerator;
use serde_json::{Value, json};

use super::{Generated, GeneratorError, Sources};
use crate::Params;

pub(super) async fn generate(g: &DuckTypeGenerator, go: bool, sources: &impl Sources) -> Generated {
    if g.config_map_ref.is_empty() {
        return Err(GeneratorError::Invalid("configMapRef: required".into()));
    }
    let name = g.name.as_deref().filter(|n| !n.is_empty());
    if name.is_some() == g.label_selector.is_some() {
        return Err(GeneratorError::Invalid("names either name or labelSelector".into()));
    }
    let (config, resources) =
        sources.decisions(&g.config_map_ref, name, g.label_selector.as_ref()).await.map_err(GeneratorError::Source)?;
    let status_list = config
        .get("statusListKey")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| GeneratorError::Invalid(format!("ConfigMap {}: statusListKey is required", g.config_map_ref)))?;
    let match_key = config
        .get("matchKey")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| GeneratorError::Invalid(format!("ConfigMap {}: matchKey is required", g.config_map_ref)))?;
    let clusters = sources.clusters().await.map_err(GeneratorError::Source)?;
    let mut out = Vec::new();
    for resource in &resources {
        let decisions = resource.pointer(&format!("/status/{status_list}")).and_then(Value::as_array).cloned().unwrap_or_default();
        for decision in decisions {
            let Value::Object(entry) = decision else { continue };
            let Some(wanted) = entry.get(match_key).and_then(Value::as_str) else { continue };
            // A decision naming no registered cluster makes no app.
            let Some(cluster) = clusters.iter().find(|c| c.name == wanted) else { continue };
            let mut p: Params = entry.clone();
            p.insert("name".into(), json!(cluster.name));
            p.insert("server".into(), json!(cluster.server));
            if !go {
                p = p.into_iter().map(|(k, v)| (k, json!(crate::params::text(&v)))).collect();
            }
            out.push(p);
        }
    }
    Ok(out)
}
