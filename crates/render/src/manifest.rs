//! Parsing files of manifests.

use serde_json::Value;

pub use driftless_api::Manifest;

use crate::RenderError;

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
