//! The bundled schemas: the OpenAPI v3 documents a cluster serves
//! (`/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`), reduced to
//! what validation reads. `scripts/openapi-bundle.sh` writes the bundle from
//! the devcluster; a test fetches the same documents and checks that this
//! reduction of them equals the committed bundle, so it cannot rot.
//!
//! The reduced form, one JSON object:
//!
//! ```json
//! { "kinds": [ { "group": "apps", "version": "v1", "kind": "Deployment",
//!                "namespaced": true, "schema": "io.k8s.api.apps.v1.Deployment" } ],
//!   "schemas": { "io.k8s.api.apps.v1.Deployment": { "type": "object", ... } } }
//! ```
//!
//! Schemas keep only the keywords the validator reads, `$ref`s name the
//! schema without `#/components/schemas/`, and only schemas a kind reaches
//! are kept.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// The keywords a schema keeps; everything else (descriptions, defaults,
/// patch strategies, list types) is dropped.
const KEPT: [&str; 16] = [
    "type",
    "format",
    "properties",
    "required",
    "enum",
    "items",
    "additionalProperties",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "$ref",
    "nullable",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
];

const REF_PREFIX: &str = "#/components/schemas/";

/// The group and version a document describes, from its paths
/// (`/api/v1/...` is the core group, `/apis/apps/v1/...` the group `apps`).
/// The index (`/openapi/v3`), `/apis`, `/version` and the like describe
/// none.
pub fn group_version(document: &Value) -> Option<(String, String)> {
    document["paths"].as_object()?.keys().find_map(|path| {
        let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segs.as_slice() {
            ["api", v, ..] if !v.is_empty() => Some((String::new(), v.to_string())),
            ["apis", g, v, ..] if !g.is_empty() && !v.is_empty() => Some((g.to_string(), v.to_string())),
            _ => None,
        }
    })
}

/// Reduces OpenAPI v3 documents to the bundle form. Documents that
/// describe no group-version are ignored, so a directory of everything
/// `kubectl get --raw /openapi/v3/...` wrote may be given whole.
pub fn reduce(documents: &[Value]) -> Value {
    let mut kinds: BTreeMap<(String, String, String), bool> = BTreeMap::new();
    let mut schemas: BTreeMap<String, &Value> = BTreeMap::new();
    let mut kind_schema: BTreeMap<(String, String, String), String> = BTreeMap::new();
    let mut docs: Vec<((String, String), &Value)> = documents.iter().filter_map(|d| Some((group_version(d)?, d))).collect();
    // The same schema name in two documents is the same schema; sorting
    // makes the pick independent of the documents' order all the same.
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    for ((group, version), doc) in docs {
        for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
            schemas.entry(name.clone()).or_insert(schema);
        }
        for (url, item) in doc["paths"].as_object().into_iter().flatten() {
            let Some(namespaced) = collection(url) else { continue };
            for op in item.as_object().into_iter().flatten().map(|(_, op)| op) {
                let action = op["x-kubernetes-action"].as_str();
                let gvk = &op["x-kubernetes-group-version-kind"];
                let (Some(g), Some(v), Some(k)) = (gvk["group"].as_str(), gvk["version"].as_str(), gvk["kind"].as_str()) else {
                    continue;
                };
                if matches!(action, Some("post" | "list")) && g == group && v == version {
                    *kinds.entry((group.clone(), version.clone(), k.to_string())).or_default() |= namespaced;
                }
            }
        }
    }
    // The schema of a kind: the one whose GVK list names it (alone, when
    // several do: `DeleteOptions` names every group).
    for (name, schema) in &schemas {
        let gvks = schema["x-kubernetes-group-version-kind"].as_array().map(Vec::as_slice).unwrap_or_default();
        for gvk in gvks {
            let key = (str_of(&gvk["group"]), str_of(&gvk["version"]), str_of(&gvk["kind"]));
            if !kinds.contains_key(&key) {
                continue;
            }
            match kind_schema.get(&key) {
                Some(existing) if gvks.len() > 1 || existing < name => {}
                _ => {
                    kind_schema.insert(key, name.clone());
                }
            }
        }
    }
    let mut reachable: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<String> = kind_schema.values().cloned().collect();
    while let Some(name) = pending.pop() {
        if !reachable.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get(&name) {
            refs(schema, &mut pending);
        }
    }
    let kinds: Vec<Value> = kinds
        .into_iter()
        .filter_map(|(key, namespaced)| {
            let schema = kind_schema.get(&key)?;
            let (group, version, kind) = key;
            Some(json!({ "group": group, "version": version, "kind": kind, "namespaced": namespaced, "schema": schema }))
        })
        .collect();
    let schemas: Map<String, Value> = reachable.into_iter().filter_map(|n| Some((n.clone(), strip(schemas.get(&n)?)))).collect();
    json!({ "kinds": kinds, "schemas": schemas })
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Whether a path is a collection (`<plural>`, or
/// `namespaces/{namespace}/<plural>` after its group-version prefix), and
/// namespaced. Watches, single objects and subresources are not.
fn collection(url: &str) -> Option<bool> {
    let rest = url.strip_prefix("/api/").or_else(|| url.strip_prefix("/apis/"))?;
    let segs: Vec<&str> = rest.split('/').collect();
    // The prefix is `v1` for the core group, `group/version` otherwise.
    let after = if url.starts_with("/api/") { segs.get(1..)? } else { segs.get(2..)? };
    match after {
        [plural] if !plural.starts_with('{') && !plural.is_empty() => Some(false),
        ["namespaces", "{namespace}", plural] if !plural.starts_with('{') => Some(true),
        _ => None,
    }
}

/// Every schema name `$ref`ed from `schema`.
fn refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                out.push(r.trim_start_matches(REF_PREFIX).to_string());
            }
            o.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// A schema with only the kept keywords, recursively.
fn strip(schema: &Value) -> Value {
    let Some(o) = schema.as_object() else { return schema.clone() };
    let mut out = Map::new();
    for key in KEPT {
        let Some(v) = o.get(key) else { continue };
        let kept = match (key, v) {
            ("properties", Value::Object(props)) => Value::Object(props.iter().map(|(k, s)| (k.clone(), strip(s))).collect()),
            ("items" | "additionalProperties" | "not", Value::Object(_)) => strip(v),
            ("allOf" | "oneOf" | "anyOf", Value::Array(items)) => Value::Array(items.iter().map(strip).collect()),
            ("$ref", Value::String(r)) => Value::String(r.trim_start_matches(REF_PREFIX).to_string()),
            _ => v.clone(),
        };
        out.insert(key.to_string(), kept);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_collection_paths_with_their_scope_and_schema() {
        let apps = json!({
            "paths": {
                "/apis/apps/v1/namespaces/{namespace}/deployments": {
                    "post": { "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": { "group": "apps", "version": "v1", "kind": "Deployment" } }
                },
                "/apis/apps/v1/deployments": {
                    "get": { "x-kubernetes-action": "list", "x-kubernetes-group-version-kind": { "group": "apps", "version": "v1", "kind": "Deployment" } }
                },
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale": {
                    "put": { "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": { "group": "autoscaling", "version": "v1", "kind": "Scale" } }
                },
                "/apis/apps/v1/watch/namespaces/{namespace}/deployments": {
                    "get": { "x-kubernetes-action": "watchlist", "x-kubernetes-group-version-kind": { "group": "apps", "version": "v1", "kind": "Deployment" } }
                }
            },
            "components": { "schemas": {
                "io.k8s.api.apps.v1.Deployment": {
                    "description": "gone", "type": "object",
                    "x-kubernetes-group-version-kind": [{ "group": "apps", "version": "v1", "kind": "Deployment" }],
                    "properties": { "spec": { "description": "gone", "default": {}, "allOf": [{ "$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec" }] } }
                },
                "io.k8s.api.apps.v1.DeploymentSpec": { "type": "object", "properties": { "description": { "type": "string" } } },
                "io.k8s.api.apps.v1.Unused": { "type": "object" },
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {
                    "type": "object",
                    "x-kubernetes-group-version-kind": [{ "group": "apps", "version": "v1", "kind": "Deployment" }, { "group": "", "version": "v1", "kind": "DeleteOptions" }]
                }
            } }
        });
        let core = json!({
            "paths": {
                "/api/v1/namespaces": { "post": { "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": { "group": "", "version": "v1", "kind": "Namespace" } } },
                "/api/v1/namespaces/{name}/finalize": { "put": { "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": { "group": "", "version": "v1", "kind": "Namespace" } } }
            },
            "components": { "schemas": { "io.k8s.api.core.v1.Namespace": {
                "type": "object", "x-kubernetes-group-version-kind": [{ "group": "", "version": "v1", "kind": "Namespace" }]
            } } }
        });
        let index = json!({ "paths": { "api/v1": { "serverRelativeURL": "/openapi/v3/api/v1?hash=1" } } });
        let b = reduce(&[apps, index, core, json!({ "paths": { "/apis/": {} } })]);
        assert_eq!(
            b["kinds"],
            json!([
                { "group": "", "version": "v1", "kind": "Namespace", "namespaced": false, "schema": "io.k8s.api.core.v1.Namespace" },
                { "group": "apps", "version": "v1", "kind": "Deployment", "namespaced": true, "schema": "io.k8s.api.apps.v1.Deployment" }
            ])
        );
        assert_eq!(
            b["schemas"],
            json!({
                "io.k8s.api.apps.v1.Deployment": { "type": "object", "properties": { "spec": { "allOf": [{ "$ref": "io.k8s.api.apps.v1.DeploymentSpec" }] } } },
                "io.k8s.api.apps.v1.DeploymentSpec": { "type": "object", "properties": { "description": { "type": "string" } } },
                "io.k8s.api.core.v1.Namespace": { "type": "object" }
            }),
            "descriptions and defaults dropped, a property named `description` kept, unreachable schemas dropped"
        );
    }
}
