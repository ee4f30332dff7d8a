//! A set's template made into Applications: every string of the template
//! (keys and values) rendered with one element's parameters, by
//! fasttemplate (`{{path}}`) or, with `goTemplate: true`, Go's
//! text/template with Sprig; then `templatePatch`; then read as an
//! Application, an error naming the element and the field.

use std::collections::HashMap;
use std::sync::Mutex;

use driftless_api::{ApplicationSetSpec, ApplicationSetTemplate};
use serde_json::{Map, Value};

use crate::Params;
use crate::params::flatten;

/// Why a template gave no Application.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// `goTemplateOptions` holds an option Go does not know.
    #[error("spec.goTemplateOptions: {0}")]
    Options(String),
    /// A string of the template did not render.
    #[error("{field}: {reason}")]
    Render {
        /// Where in the template (`spec.source.path`).
        field: String,
        /// What the template engine said.
        reason: String,
    },
    /// The rendered template is not a valid Application.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        reason: String,
    },
}

/// How strings are rendered.
enum Syntax {
    /// fasttemplate: `{{key}}` replaced by a flattened parameter, any
    /// other tag left as written.
    Fast,
    /// Go's text/template, parsed once per distinct string.
    Go { options: driftless_gotemplate::Options, parsed: Mutex<HashMap<String, driftless_gotemplate::Template>> },
}

/// Renders templates for one set.
pub struct Renderer {
    syntax: Syntax,
}

impl Renderer {
    /// The renderer `spec` asks for (`goTemplate`, `goTemplateOptions`).
    pub fn for_spec(spec: &ApplicationSetSpec) -> Result<Renderer, TemplateError> {
        Renderer::new(spec.go_template, &spec.go_template_options)
    }

    /// fasttemplate, or Go templates with `options`.
    pub fn new(go_template: bool, options: &[String]) -> Result<Renderer, TemplateError> {
        let syntax = if go_template {
            let options =
                driftless_gotemplate::Options::from_go_template_options(options).map_err(|e| TemplateError::Options(e.to_string()))?;
            Syntax::Go { options, parsed: Mutex::default() }
        } else {
            Syntax::Fast
        };
        Ok(Renderer { syntax })
    }

    /// Whether this renders Go templates.
    pub fn is_go(&self) -> bool {
        matches!(self.syntax, Syntax::Go { .. })
    }

    /// `text` rendered with `params`.
    pub fn string(&self, text: &str, params: &Params) -> Result<String, String> {
        match &self.syntax {
            Syntax::Fast => fasttemplate(text, &flatten(params)),
            Syntax::Go { options, parsed } => {
                if !text.contains("{{") {
                    return Ok(text.to_string());
                }
                let template = {
                    let mut parsed = parsed.lock().unwrap_or_else(|p| p.into_inner());
                    match parsed.get(text) {
                        Some(t) => t.clone(),
                        None => {
                            let t = driftless_gotemplate::Template::parse(text).map_err(|e| e.to_string())?;
                            parsed.insert(text.to_string(), t.clone());
                            t
                        }
                    }
                };
                template.execute(&Value::Object(params.clone()), options).map_err(|e| e.to_string())
            }
        }
    }

    /// Every string of `value` (object keys too) rendered; an error names
    /// the field, as `at` plus the path inside `value`.
    pub fn value(&self, value: &Value, params: &Params, at: &str) -> Result<Value, TemplateError> {
        let fail = |reason: String| TemplateError::Render { field: at.to_string(), reason };
        Ok(match value {
            Value::String(s) => Value::String(self.string(s, params).map_err(fail)?),
            Value::Array(items) => {
                Value::Array(items.iter().enumerate().map(|(i, v)| self.value(v, params, &format!("{at}[{i}]"))).collect::<Result<_, _>>()?)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let key = self.string(k, params).map_err(fail)?;
                    out.insert(key, self.value(v, params, &join(at, k))?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() { key.to_string() } else { format!("{at}.{key}") }
}

/// fasttemplate as Argo CD uses it: `{{ key }}` (spaces trimmed) becomes
/// the parameter's text; a tag naming no parameter stays as written; a
/// `{{` without its `}}` is an error.
pub fn fasttemplate(text: &str, flat: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("cannot find end tag \"}}}}\" in the template {text:?}"));
        };
        let tag = &after[..end];
        match flat.get(tag.trim()) {
            Some(Value::String(v)) if !tag.trim().is_empty() => out.push_str(v),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The set's template with a generator's own `template` over it: what the
/// generator sets wins, field by field (Argo CD's merge with override).
/// Fails on a value not read whole (see `driftless_api::free`): rather
/// than generating Applications without it.
pub fn merged(set: &ApplicationSetTemplate, generator: Option<&ApplicationSetTemplate>) -> Result<Value, serde_json::Error> {
    let mut base = serde_json::to_value(set)?;
    if let Some(own) = generator {
        overlay(&mut base, &serde_json::to_value(own)?);
    }
    Ok(base)
}

/// `top` over `base`: objects merged key by key, anything else replaced
/// unless `top`'s is empty.
fn overlay(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(existing) => overlay(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, t) if !is_empty(t) => *b = t.clone(),
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(_) => false,
    }
}

/// `templatePatch` rendered with `params` (a Go template), read as YAML
/// or JSON, and merged into `rendered` (RFC 7386: objects merged, lists
/// replaced, null removes), as Argo CD's strategic merge does for an
/// Application, whose lists have no merge keys.
pub fn apply_patch(renderer: &Renderer, rendered: &mut Value, patch: &str, params: &Params) -> Result<(), TemplateError> {
    let field = "spec.templatePatch".to_string();
    if !renderer.is_go() {
        return Err(TemplateError::Invalid { field, reason: "templatePatch needs goTemplate: true".into() });
    }
    let text = renderer.string(patch, params).map_err(|reason| TemplateError::Render { field: field.clone(), reason })?;
    let patch: Value = serde_saphyr::from_str(&text)
        .map_err(|e| TemplateError::Invalid { field: field.clone(), reason: format!("the rendered patch is not YAML: {e}") })?;
    if !patch.is_object() {
        return Err(TemplateError::Invalid { field, reason: "the rendered patch is not an object".into() });
    }
    json_patch::merge(rendered, &patch);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn fasttemplate_replaces_known_tags_and_keeps_the_others() {
        let p = params(json!({"cluster": "prod", "values": {"env": "eu"}}));
        let r = Renderer::new(false, &[]).unwrap();
        assert_eq!(r.string("{{cluster}}-{{ values.env }}/{{unknown}}/{{}}", &p).unwrap(), "prod-eu/{{unknown}}/{{}}");
        assert!(r.string("{{cluster", &p).unwrap_err().contains("cannot find end tag"));
        assert_eq!(r.string("no tags", &p).unwrap(), "no tags");
    }

    #[test]
    fn every_string_and_key_is_rendered_and_errors_name_the_field() {
        let r = Renderer::new(false, &[]).unwrap();
        let t = json!({"metadata": {"name": "{{n}}", "labels": {"{{k}}": "{{v}}"}}, "spec": {"replicas": 3, "list": ["{{n}}"]}});
        let out = r.value(&t, &params(json!({"n": "a", "k": "team", "v": "x"})), "").unwrap();
        assert_eq!(out, json!({"metadata": {"name": "a", "labels": {"team": "x"}}, "spec": {"replicas": 3, "list": ["a"]}}));
        let bad = json!({"spec": {"source": {"path": "{{oops"}}});
        let e = r.value(&bad, &params(json!({})), "").unwrap_err();
        assert!(e.to_string().starts_with("spec.source.path: cannot find end tag"), "{e}");
    }

    #[test]
    fn a_generators_template_overrides_the_sets_field_by_field() {
        let mut base = json!({"metadata": {"name": "{{n}}", "labels": {"a": "1"}}, "spec": {"project": "default"}});
        overlay(&mut base, &json!({"metadata": {"labels": {"b": "2"}, "name": ""}, "spec": {"project": "team"}}));
        assert_eq!(base, json!({"metadata": {"name": "{{n}}", "labels": {"a": "1", "b": "2"}}, "spec": {"project": "team"}}));
    }

    #[test]
    fn go_templates_use_sprig_and_missingkey_error_names_the_key() {
        let r = Renderer::new(true, &["missingkey=error".into()]).unwrap();
        let p = params(json!({"cluster": {"name": "Prod EU"}, "env": "prod"}));
        assert_eq!(r.string("{{ .cluster.name | normalize }}-{{ .env | upper }}", &p).unwrap(), "prod-eu-PROD");
        let e = r.value(&json!({"spec": {"project": "{{ .project }}"}}), &p, "spec.template").unwrap_err();
        assert!(
            e.to_string().starts_with("spec.template.spec.project: ") && e.to_string().contains("map has no entry for key \"project\""),
            "{e}"
        );
        assert!(matches!(Renderer::new(true, &["missingkey=maybe".into()]), Err(TemplateError::Options(_))));
    }

    #[test]
    fn a_template_patch_sets_what_a_string_field_cannot() {
        let r = Renderer::new(true, &[]).unwrap();
        let mut rendered = json!({"spec": {"project": "default", "syncPolicy": {"automated": {"prune": false}}}});
        let patch = "{{ if .autoSync }}spec:\n  syncPolicy:\n    automated:\n      prune: {{ .prune }}\n{{ end }}";
        apply_patch(&r, &mut rendered, patch, &params(json!({"autoSync": true, "prune": true}))).unwrap();
        assert_eq!(rendered["spec"]["syncPolicy"]["automated"]["prune"], json!(true));
        let fast = Renderer::new(false, &[]).unwrap();
        assert!(apply_patch(&fast, &mut rendered, "spec: {}", &params(json!({}))).unwrap_err().to_string().contains("goTemplate: true"));
    }
}
