use serde_json::{Value, json};

use super::super::{Outcome, Schemas};
use super::{Violation, is_base64, is_date_time};

/// A miniature API in the bundle's form: Kubernetes' own patterns (named
/// types through `allOf: [$ref]`, int-or-string, opaque objects, maps).
fn schemas() -> Schemas {
    let bundle = json!({
        "kinds": [
            { "group": "apps", "version": "v1", "kind": "Deployment", "namespaced": true, "schema": "Deployment" },
            { "group": "", "version": "v1", "kind": "Secret", "namespaced": true, "schema": "Secret" },
            { "group": "", "version": "v1", "kind": "Namespace", "namespaced": false, "schema": "Namespace" }
        ],
        "schemas": {
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": { "type": "object", "properties": {
                "name": { "type": "string" }, "namespace": { "type": "string" },
                "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                "creationTimestamp": { "allOf": [{ "$ref": "Time" }] }
            } },
            "Time": { "type": "string", "format": "date-time" },
            "IntOrString": { "format": "int-or-string", "oneOf": [{ "type": "integer" }, { "type": "string" }] },
            "Quantity": { "oneOf": [{ "type": "string" }, { "type": "number" }] },
            "RawExtension": { "type": "object" },
            "Deployment": { "type": "object", "properties": {
                "apiVersion": { "type": "string" }, "kind": { "type": "string" },
                "metadata": { "default": {}, "allOf": [{ "$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" }] },
                "spec": { "allOf": [{ "$ref": "DeploymentSpec" }] }
            } },
            "DeploymentSpec": { "type": "object", "required": ["template"], "properties": {
                "replicas": { "type": "integer", "format": "int32" },
                "paused": { "type": "boolean" },
                "maxSurge": { "allOf": [{ "$ref": "IntOrString" }] },
                "memory": { "allOf": [{ "$ref": "Quantity" }] },
                "extension": { "allOf": [{ "$ref": "RawExtension" }] },
                "template": { "type": "object", "properties": {
                    "containers": { "type": "array", "items": { "allOf": [{ "$ref": "Container" }] } }
                } }
            } },
            "Container": { "type": "object", "required": ["name"], "properties": {
                "name": { "type": "string" },
                "imagePullPolicy": { "type": "string", "enum": ["Always", "IfNotPresent", "Never"] },
                "args": { "type": "array", "items": { "type": "string" } }
            } },
            "Secret": { "type": "object", "properties": {
                "apiVersion": { "type": "string" }, "kind": { "type": "string" },
                "metadata": { "allOf": [{ "$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" }] },
                "data": { "type": "object", "additionalProperties": { "type": "string", "format": "byte" } },
                "type": { "type": "string", "enum": ["Opaque"] }
            } },
            "Namespace": { "type": "object", "properties": {
                "apiVersion": { "type": "string" }, "kind": { "type": "string" },
                "metadata": { "allOf": [{ "$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" }] }
            } }
        }
    });
    Schemas::from_bundle("1.34", &bundle)
}

fn violations(s: &Schemas, object: Value) -> Vec<String> {
    match s.validate(&object) {
        Outcome::Checked(v) => v.iter().map(Violation::to_string).collect(),
        Outcome::NoSchema(gvk) => vec![format!("no schema for {gvk}")],
    }
}

fn deployment(spec: Value) -> Value {
    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web", "creationTimestamp": null }, "spec": spec })
}

#[test]
fn a_valid_object_has_no_violations() {
    let s = schemas();
    let d = deployment(json!({
        "replicas": 3, "maxSurge": "25%", "memory": "1Gi", "extension": { "anything": [1, { "goes": true }] },
        "template": { "containers": [{ "name": "web", "imagePullPolicy": "Always", "args": ["a"] }] }
    }));
    assert_eq!(violations(&s, d), Vec::<String>::new());
    assert_eq!(violations(&s, deployment(json!({ "maxSurge": 1, "memory": 0.5, "template": {} }))), Vec::<String>::new());
}

#[test]
fn types_are_checked_with_path_expected_and_found() {
    let s = schemas();
    let d = deployment(json!({
        "replicas": "three", "paused": "yes",
        "template": { "containers": [{ "name": "web", "args": [8080, "ok"] }, { "name": 5 }] }
    }));
    assert_eq!(
        violations(&s, d),
        [
            "spec.paused: expected boolean, got string \"yes\"",
            "spec.replicas: expected integer, got string \"three\"",
            "spec.template.containers[0].args[0]: expected string, got integer 8080",
            "spec.template.containers[1].name: expected string, got integer 5",
        ]
    );
}

#[test]
fn unknown_fields_are_reported_at_every_level() {
    let s = schemas();
    let mut d = deployment(json!({ "replicaz": 3, "template": { "containers": [{ "name": "a", "imagePullPolicyy": "Always" }] } }));
    d["metadata"]["labelz"] = json!({});
    d["extra"] = json!(1);
    assert_eq!(
        violations(&s, d),
        [
            "extra: unknown field (not in the schema)",
            "metadata.labelz: unknown field (not in the schema)",
            "spec.replicaz: unknown field (not in the schema)",
            "spec.template.containers[0].imagePullPolicyy: unknown field (not in the schema)",
        ]
    );
}

#[test]
fn required_enum_and_formats() {
    let s = schemas();
    let d = deployment(json!({ "replicas": 4_294_967_296u64, "extension": "text" }));
    assert_eq!(
        violations(&s, d),
        [
            "spec: required field \"template\" is missing",
            "spec.extension: expected object, got string \"text\"",
            "spec.replicas: expected a 32-bit integer, got integer 4294967296",
        ]
    );
    let d = deployment(json!({ "template": { "containers": [{ "imagePullPolicy": "Sometimes" }] } }));
    assert_eq!(
        violations(&s, d),
        [
            "spec.template.containers[0]: required field \"name\" is missing",
            "spec.template.containers[0].imagePullPolicy: unsupported value \"Sometimes\": expected one of \"Always\", \"IfNotPresent\", \"Never\"",
        ]
    );
    let mut d = deployment(json!({ "template": {} }));
    d["metadata"]["creationTimestamp"] = json!("yesterday");
    assert_eq!(
        violations(&s, d),
        ["metadata.creationTimestamp: expected a date-time as RFC 3339 writes it (2006-01-02T15:04:05Z), got string \"yesterday\""]
    );
}

#[test]
fn int_or_string_and_one_of() {
    let s = schemas();
    let d = deployment(json!({ "maxSurge": true, "memory": [1], "template": {} }));
    assert_eq!(
        violations(&s, d),
        [
            "spec.maxSurge: expected an integer or a string, got boolean true",
            "spec.memory: array matches none of the alternatives the schema allows (oneOf)",
        ]
    );
}

#[test]
fn map_keys_are_quoted_in_paths_and_map_values_checked() {
    let s = schemas();
    let d = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "n", "labels": { "app.kubernetes.io/name": 1 } } });
    assert_eq!(violations(&s, d), ["metadata.labels[\"app.kubernetes.io/name\"]: expected string, got integer 1"]);
}

#[test]
fn a_secret_value_is_never_quoted() {
    let s = schemas();
    let d = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "db" }, "data": { "password": "hunter2!" }, "type": "Hunter2Type" });
    let v = violations(&s, d);
    assert_eq!(
        v,
        [
            "data.password: expected base64-encoded data, got string <hidden>",
            "type: unsupported value <hidden>: expected one of \"Opaque\"",
        ]
    );
}

#[test]
fn a_kind_without_a_schema_says_so() {
    let s = schemas();
    assert_eq!(
        violations(&s, json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" } })),
        ["no schema for example.com/v1/Widget"]
    );
}

fn widget_crd(scope: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com", "scope": scope, "names": { "kind": "Widget", "plural": "widgets" },
            "versions": [{ "name": "v1", "served": true, "storage": true, "schema": { "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": { "type": "object", "required": ["size"], "properties": {
                        "size": { "type": "integer" },
                        "color": { "type": "string", "enum": ["red", "blue"] },
                        "port": { "x-kubernetes-int-or-string": true },
                        "tags": { "type": "array", "items": { "type": "string" } },
                        "opaque": { "type": "object" },
                        "free": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                        "template": { "type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true },
                        "note": { "type": "string", "nullable": true },
                        "notes": { "type": "array", "items": { "type": "string", "nullable": true } }
                    } }
                }
            } } }]
        }
    })
}

#[test]
fn crd_schemas_validate_custom_resources() {
    let mut s = schemas();
    let added = s.add_crd(&widget_crd("Namespaced")).unwrap();
    assert_eq!(added.iter().map(ToString::to_string).collect::<Vec<_>>(), ["example.com/v1/Widget"]);
    assert_eq!(s.is_namespaced("example.com", "Widget"), Some(true));
    let ok = json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" }, "spec": {
        "size": 2, "color": "red", "port": "http", "tags": ["a"], "free": { "any": { "thing": 1 } },
        "template": { "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "x" }, "data": {} },
        "note": null, "notes": ["a", null]
    } });
    assert_eq!(violations(&s, ok), Vec::<String>::new());
    let bad = json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w", "bogus": 1 }, "spec": {
        "color": "green", "port": 1.5, "tags": [null], "opaque": { "pruned": 1 }, "template": { "data": {} }, "sizee": 1
    } });
    assert_eq!(
        violations(&s, bad),
        [
            "metadata.bogus: unknown field (not in the schema)",
            "spec: required field \"size\" is missing",
            "spec.color: unsupported value \"green\": expected one of \"red\", \"blue\"",
            "spec.opaque.pruned: unknown field (not in the schema)",
            "spec.port: expected an integer or a string, got number 1.5",
            "spec.sizee: unknown field (not in the schema)",
            "spec.tags[0]: expected a value, got null",
            "spec.template: an embedded object needs \"apiVersion\"",
            "spec.template: an embedded object needs \"kind\"",
        ]
    );
    let mut cluster = schemas();
    cluster.add_crd(&widget_crd("Cluster")).unwrap();
    assert_eq!(cluster.is_namespaced("example.com", "Widget"), Some(false));
}

#[test]
fn broken_crds_are_errors_naming_the_field() {
    let mut s = schemas();
    assert_eq!(s.add_crd(&json!({ "spec": {} })).unwrap_err(), "spec.group is missing");
    assert_eq!(
        s.add_crd(&json!({ "spec": { "group": "g", "names": { "kind": "K" }, "versions": [] } })).unwrap_err(),
        "spec.versions lists no version"
    );
    // A version without a schema accepts anything.
    s.add_crd(&json!({ "spec": { "group": "g", "names": { "kind": "K" }, "versions": [{ "name": "v1" }] } })).unwrap();
    assert_eq!(violations(&s, json!({ "apiVersion": "g/v1", "kind": "K", "metadata": { "name": "k" }, "x": 1 })), Vec::<String>::new());
}

#[test]
fn formats() {
    for ok in ["", "aGVsbG8=", "aGVsbG8h", "aGk=\n", "YQ=="] {
        assert!(is_base64(ok), "{ok}");
    }
    for bad in ["a", "aGVsbG8", "a===", "hunter2!", "aG=k"] {
        assert!(!is_base64(bad), "{bad}");
    }
    for ok in ["2006-01-02T15:04:05Z", "2006-01-02T15:04:05.999+07:00", "2006-01-02t15:04:05z"] {
        assert!(is_date_time(ok), "{ok}");
    }
    for bad in ["2006-01-02", "2006-01-02T15:04:05", "2006-01-02T15:04:05.Z", "2006-01-02 15:04:05Z", "x006-01-02T15:04:05Z"] {
        assert!(!is_date_time(bad), "{bad}");
    }
}

#[test]
fn api_versions_for_helm_capabilities() {
    let s = schemas();
    assert_eq!(s.api_versions(), ["apps/v1", "apps/v1/Deployment", "v1", "v1/Namespace", "v1/Secret"]);
}

#[test]
fn deep_nesting_and_garbage_never_panic() {
    let s = schemas();
    let mut deep = json!("leaf");
    for _ in 0..1000 {
        deep = json!({ "x": deep });
    }
    let mut d = deployment(json!({ "template": {} }));
    d["spec"]["extension"] = deep.clone();
    assert_eq!(violations(&s, d), Vec::<String>::new(), "an opaque object is not descended into");
    // Random values at random places: the validator must answer, never panic.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let fields = ["spec", "replicas", "template", "containers", "name", "args", "metadata", "labels", "maxSurge", "data", "x"];
    let kinds = [("apps/v1", "Deployment"), ("v1", "Secret"), ("v1", "Namespace"), ("example.com/v1", "Widget")];
    let mut crd_schemas = s.clone();
    crd_schemas.add_crd(&widget_crd("Namespaced")).unwrap();
    fn garbage(next: &mut impl FnMut() -> u64, fields: &[&str], depth: u32) -> Value {
        match next() % if depth > 6 { 5 } else { 8 } {
            0 => Value::Null,
            1 => json!(next().is_multiple_of(2)),
            2 => json!(next() as i64),
            3 => json!((next() % 1000) as f64 / 7.0),
            4 => json!(format!("s{}", next() % 100)),
            5 | 6 => {
                let n = next() % 4;
                Value::Object(
                    (0..n)
                        .map(|_| (fields[(next() % fields.len() as u64) as usize].to_string(), garbage(next, fields, depth + 1)))
                        .collect(),
                )
            }
            _ => Value::Array((0..next() % 3).map(|_| garbage(next, fields, depth + 1)).collect()),
        }
    }
    for _ in 0..3000 {
        let (api, kind) = kinds[(next() % kinds.len() as u64) as usize];
        let mut obj = garbage(&mut next, &fields, 0);
        if let Value::Object(o) = &mut obj {
            o.insert("apiVersion".into(), json!(api));
            o.insert("kind".into(), json!(kind));
        }
        let _ = crd_schemas.validate(&obj);
        let _ = crd_schemas.validate(&deep);
    }
}
