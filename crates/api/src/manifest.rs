//! One desired Kubernetes object: what render produces and sync applies.

use serde_json::{Map, Value};

/// A desired object as rendered: a JSON object with at least `apiVersion`,
/// `kind` and a name. Construct it with [`Manifest::new`], which checks that.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest(Value);

impl Manifest {
    /// Checks that `value` is an object with apiVersion, kind and
    /// metadata.name (or generateName, for hooks).
    pub fn new(value: Value) -> Result<Manifest, String> {
        let obj = value.as_object().ok_or("is not a mapping")?;
        for field in ["apiVersion", "kind"] {
            if obj.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(format!("has no {field}"));
            }
        }
        let meta = obj.get("metadata").and_then(Value::as_object).ok_or("has no metadata")?;
        let named = |k: &str| meta.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !named("name") && !named("generateName") {
            return Err("has no metadata.name".into());
        }
        Ok(Manifest(value))
    }

    /// The object.
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// The object, mutable (for transformations that keep it valid).
    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.0
    }

    /// Takes the object out.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.0["apiVersion"].as_str().unwrap_or_default()
    }

    /// The API group: empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version().rsplit_once('/').map(|(g, _)| g).unwrap_or("")
    }

    /// The API version without the group.
    pub fn version(&self) -> &str {
        let v = self.api_version();
        v.rsplit_once('/').map(|(_, v)| v).unwrap_or(v)
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.0["kind"].as_str().unwrap_or_default()
    }

    /// `metadata.name`, or `generateName` for generated names.
    pub fn name(&self) -> &str {
        let meta = &self.0["metadata"];
        meta["name"].as_str().or_else(|| meta["generateName"].as_str()).unwrap_or_default()
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.0["metadata"]["namespace"].as_str().filter(|s| !s.is_empty())
    }

    /// One annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.0["metadata"]["annotations"][key].as_str()
    }

    /// Sets an annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.set_metadata_entry("annotations", key, value);
    }

    /// Sets a label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        self.set_metadata_entry("labels", key, value);
    }

    /// Sets `key` in the string map `metadata.<field>` (labels, annotations).
    fn set_metadata_entry(&mut self, field: &str, key: &str, value: &str) {
        let meta = self.0.as_object_mut().and_then(|o| o.get_mut("metadata")).and_then(Value::as_object_mut);
        if let Some(meta) = meta {
            let entries = meta.entry(field).or_insert_with(|| Value::Object(Map::new()));
            if !entries.is_object() {
                *entries = Value::Object(Map::new());
            }
            if let Some(a) = entries.as_object_mut() {
                a.insert(key.into(), Value::String(value.into()));
            }
        }
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: &str) {
        if let Some(meta) = self.0.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), Value::String(namespace.into()));
        }
    }
}
