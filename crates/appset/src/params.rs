//! The parameters one generator element gives a template.

/// One element of a generator's output: the values its template sees
/// (`{{name}}` or `{{.name}}`). Nested objects are kept for Go templates;
/// fasttemplate sees them flattened (`{{a.b}}`).
pub type Params = serde_json::Map<String, serde_json::Value>;
