//! The CustomResourceDefinitions of the kinds here, with OpenAPI schemas
//! generated from the Rust types, so that the two can never disagree.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::{Schema, SchemaGenerator};
use serde_json::json;

use crate::{AppProject, Application, ApplicationSet};

/// Every CRD driftless serves: Application, AppProject and ApplicationSet.
/// The ApplicationSet CRD, like Argo CD's, is too large for client-side
/// apply's last-applied annotation: apply them server-side.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![application(), appproject(), applicationset()]
}

/// The AppProject CRD.
pub fn appproject() -> CustomResourceDefinition {
    definition(
        root_schema::<AppProject>("An Argo CD AppProject: what its Applications may deploy, from where and to where."),
        names::<AppProject>(&["appproj", "appprojs"]),
        json!({ "status": {} }),
        json!([]),
    )
}

/// The Application CRD. Hand-assembled because Application has the
/// top-level `operation` field that derived CRDs cannot express.
pub fn application() -> CustomResourceDefinition {
    definition(
        root_schema::<Application>("An Argo CD Application: what to deploy where, and how."),
        names::<Application>(&["app", "apps"]),
        json!({}),
        json!([
            { "name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status" },
            { "name": "Health Status", "type": "string", "jsonPath": ".status.health.status" },
            { "name": "Revision", "type": "string", "jsonPath": ".status.sync.revision", "priority": 10 }
        ]),
    )
}

/// The ApplicationSet CRD. ApplicationSet is written by hand: it reads its
/// metadata its own way (see [`crate::free::metadata`]), which derived
/// custom resources cannot.
pub fn applicationset() -> CustomResourceDefinition {
    definition(
        root_schema::<ApplicationSet>("An Argo CD ApplicationSet: Applications generated from a template and generators."),
        names::<ApplicationSet>(&["appset", "appsets"]),
        json!({ "status": {} }),
        json!([]),
    )
}

/// A kind's names in its CRD.
struct Names {
    kind: String,
    plural: String,
    short_names: &'static [&'static str],
}

/// `K`'s names, as its `kube::Resource` gives them, with `short_names`.
fn names<K: kube::Resource<DynamicType = ()>>(short_names: &'static [&'static str]) -> Names {
    Names { kind: K::kind(&()).into_owned(), plural: K::plural(&()).into_owned(), short_names }
}

/// The OpenAPI schema of a kind here, as `kube::CustomResource` derives it.
fn root_schema<K: schemars::JsonSchema>(description: &str) -> serde_json::Value {
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
    let mut schema = serde_json::to_value(generator.into_root_schema_for::<K>()).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        // Like every CRD: metadata is validated by the server itself.
        obj.remove("$schema");
        obj.remove("title");
        obj.insert("description".into(), json!(description));
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("metadata".into(), json!({ "type": "object" }));
            props.insert("apiVersion".into(), json!({ "type": "string" }));
            props.insert("kind".into(), json!({ "type": "string" }));
        }
        if let Some(required) = obj.get_mut("required").and_then(|r| r.as_array_mut()) {
            required.retain(|r| r != "metadata");
        }
    }
    schema
}

fn definition(
    schema: serde_json::Value,
    names: Names,
    subresources: serde_json::Value,
    printer_columns: serde_json::Value,
) -> CustomResourceDefinition {
    let singular = names.kind.to_lowercase();
    let mut version = json!({
        "name": crate::VERSION,
        "served": true,
        "storage": true,
        "schema": { "openAPIV3Schema": schema },
        "subresources": subresources,
    });
    if printer_columns.as_array().is_some_and(|c| !c.is_empty()) {
        version["additionalPrinterColumns"] = printer_columns;
    }
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{}.{}", names.plural, crate::GROUP) },
        "spec": {
            "group": crate::GROUP,
            "names": {
                "kind": names.kind,
                "listKind": format!("{}List", names.kind),
                "plural": names.plural,
                "singular": singular,
                "shortNames": names.short_names
            },
            "scope": "Namespaced",
            "versions": [version]
        }
    }))
    .expect("a valid CustomResourceDefinition")
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
