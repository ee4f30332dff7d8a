//! One desired Kubernetes object, and parsing files of them.

use serde_json::{Map, Value};

use crate::RenderError;

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
        let meta = self.0.as_object_mut().and_then(|o| o.get_mut("metadata")).and_then(Value::as_object_mut);
        if let Some(meta) = meta {
            let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
            if !annotations.is_object() {
                *annotations = Value::Object(Map::new());
            }
            if let Some(a) = annotations.as_object_mut() {
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

/// Parses a file of YAML documents (JSON is YAML) into manifests. Empty
/// documents are skipped and `kind: List` is expanded, as kubectl does.
/// Errors name the file and the document, never quote its content: a
/// broken Secret must not leak through its error.
pub fn parse_manifests(file: &str, text: &str) -> Result<Vec<Manifest>, RenderError> {
    let invalid = |reason: String| RenderError::InvalidManifest { file: file.to_string(), reason };
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| invalid(yaml_error(&e)))?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let items = match doc {
            Value::Object(ref o)
                if o.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
                    && o.get("items").is_some_and(Value::is_array) =>
            {
                o["items"].as_array().cloned().unwrap_or_default()
            }
            other => vec![other],
        };
        for item in items {
            out.push(Manifest::new(item).map_err(|why| invalid(format!("document {}: the object {why}", i + 1)))?);
        }
    }
    Ok(out)
}

/// The parser's error reduced to what and where: its rendering may echo the
/// offending line, and that line may hold a secret.
fn yaml_error(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML");
    // Keep the message and position, drop anything quoted from the input.
    let mut msg = String::from("invalid YAML: ");
    let mut quoted = false;
    for ch in first.chars() {
        match ch {
            '`' | '"' => {
                quoted = !quoted;
                if quoted {
                    msg.push_str("<...>");
                }
            }
            _ if quoted => {}
            _ => msg.push(ch),
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_with_lists_and_empty_documents() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: b}}\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: c}}\n";
        let m = parse_manifests("x.yaml", text).unwrap();
        let names: Vec<_> = m.iter().map(|m| (m.group().to_string(), m.kind().to_string(), m.name().to_string())).collect();
        assert_eq!(
            names,
            [
                ("".into(), "ConfigMap".into(), "a".into()),
                ("".into(), "Service".into(), "b".into()),
                ("apps".into(), "Deployment".into(), "c".into())
            ]
        );
    }

    #[test]
    fn objects_without_kind_or_name_are_errors_naming_the_document() {
        let err = parse_manifests(
            "dir/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "dir/x.yaml: document 2: the object has no kind");
        let err = parse_manifests("y.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err();
        assert!(err.to_string().contains("has no metadata.name"), "{err}");
    }

    #[test]
    fn invalid_yaml_errors_never_quote_a_secret() {
        let secret = "s3cr3t-Pa55word";
        let text =
            format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData:\n  password: \"{secret}\n  user: [unclosed\n");
        let err = parse_manifests("secret.yaml", &text).unwrap_err().to_string();
        assert!(err.starts_with("secret.yaml: invalid YAML"), "{err}");
        assert!(!err.contains(secret), "the error leaks the secret: {err}");
    }
}
