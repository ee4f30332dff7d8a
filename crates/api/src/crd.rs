//! The CustomResourceDefinitions of the kinds here, with OpenAPI schemas
//! generated from the Rust types, so that the two can never disagree.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::{Schema, SchemaGenerator};
use serde_json::json;

use crate::{AppProject, Application, ApplicationSet};

/// Every CRD driftless serves: Application, AppProject and ApplicationSet.
/// The ApplicationSet CRD, like Argo CD's, is too large for client-side
/// apply's last-applied annotation: apply them server-side.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![application(), with_type_meta(AppProject::crd()), with_type_meta(ApplicationSet::crd())]
}

/// Declares `apiVersion`, `kind` and `metadata` in a derived CRD's schema,
/// as Argo CD's CRDs (and [`application`]) do.
fn with_type_meta(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
    let typed = |t: &str| JSONSchemaProps { type_: Some(t.into()), ..Default::default() };
    for version in &mut crd.spec.versions {
        if let Some(props) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()).and_then(|s| s.properties.as_mut()) {
            props.insert("apiVersion".into(), typed("string"));
            props.insert("kind".into(), typed("string"));
            props.insert("metadata".into(), typed("object"));
        }
    }
    crd
}

/// The Application CRD. Hand-assembled because Application has the
/// top-level `operation` field that derived CRDs cannot express.
pub fn application() -> CustomResourceDefinition {
    let settings = schemars::generate::SchemaSettings::openapi3().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let generator = settings
        .with_transform(schemars::transform::AddNullable::default())
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .with_transform(kube::core::schema::OptionalEnum)
        .with_transform(kube::core::schema::OptionalIntOrString)
        .into_generator();
    let mut schema = serde_json::to_value(generator.into_root_schema_for::<Application>()).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        // Like every CRD: metadata is validated by the server itself.
        obj.remove("$schema");
        obj.remove("title");
        obj.remove("description");
        obj.insert("description".into(), json!("An Argo CD Application: what to deploy where, and how."));
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("metadata".into(), json!({ "type": "object" }));
            props.insert("apiVersion".into(), json!({ "type": "string" }));
            props.insert("kind".into(), json!({ "type": "string" }));
            props.insert("status".into(), status_schema());
        }
        if let Some(required) = obj.get_mut("required").and_then(|r| r.as_array_mut()) {
            required.retain(|r| r != "metadata");
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "applications.argoproj.io" },
        "spec": {
            "group": crate::GROUP,
            "names": {
                "kind": "Application",
                "listKind": "ApplicationList",
                "plural": "applications",
                "singular": "application",
                "shortNames": ["app", "apps"]
            },
            "scope": "Namespaced",
            "versions": [{
                "name": crate::VERSION,
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": schema },
                "subresources": {},
                "additionalPrinterColumns": [
                    { "name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status" },
                    { "name": "Health Status", "type": "string", "jsonPath": ".status.health.status" },
                    { "name": "Revision", "type": "string", "jsonPath": ".status.sync.revision", "priority": 10 }
                ]
            }]
        }
    }))
    .expect("the Application CRD is a valid CustomResourceDefinition")
}

/// The Application's status: kept as written, neither validated nor pruned
/// by the API server. Only the controller writes it (two to three times per
/// sync), and walking a 10-resource status against its schema at each write
/// was a third of the server's CPU for the write (docs/performance.md).
/// What the server no longer checks is checked on reading: `Application`
/// reads a status its types cannot read as none.
fn status_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "What the controller observed and did (see Argo CD's ApplicationStatus); written by the controller only."
    })
}

/// Schema of a field kept as free-form JSON (an object whose fields the
/// server must not prune).
pub fn preserve_unknown_fields(_: &mut SchemaGenerator) -> Schema {
    literal(json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true }))
}

/// Schema of a field that may hold any JSON value (Argo CD's
/// `apiextensionsv1.JSON`): no type, nothing pruned.
pub fn any_json(_: &mut SchemaGenerator) -> Schema {
    literal(json!({ "x-kubernetes-preserve-unknown-fields": true }))
}

/// Schema of an array of any JSON values.
pub fn any_json_array(_: &mut SchemaGenerator) -> Schema {
    literal(json!({ "type": "array", "items": { "x-kubernetes-preserve-unknown-fields": true } }))
}

/// Schema of a map from strings to any JSON values.
pub fn any_json_map(_: &mut SchemaGenerator) -> Schema {
    literal(json!({ "type": "object", "additionalProperties": { "x-kubernetes-preserve-unknown-fields": true } }))
}

fn literal(schema: serde_json::Value) -> Schema {
    serde_json::from_value(schema).expect("a literal schema")
}
