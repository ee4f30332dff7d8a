//! `template.<name>`: a message and per-service sections, every string of
//! which is a Go template over `.app`, `.context` and `.serviceType`, with
//! Argo CD's functions (`call .repo.RepoURLToHTTPS`, `call .time.Now`, ...)
//! beside Sprig's.

use driftless_gotemplate::{Options, Template as Go};
use serde_json::{Map, Value};

use crate::Notification;
use crate::funcs;

/// Sections whose repository and revision have defaults, as Argo CD's
/// GitHub service has (GitLab's follows it).
const COMMIT_SECTIONS: [&str; 2] = ["github", "gitlab"];
const DEFAULT_REPO: &str = "{{.app.spec.source.repoURL}}";
const DEFAULT_REVISION: &str = "{{.app.status.operationState.syncResult.revision}}";

/// Why a template does not parse or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}: {field}: {reason}")]
pub struct TemplateError {
    /// The template's name.
    pub template: String,
    /// The field, as a dotted path (`message`, `slack.attachments`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    message: Option<Go>,
    sections: Tree,
}

/// The sections, with every string parsed.
#[derive(Debug, Clone)]
enum Tree {
    Text(Go),
    Plain(Value),
    List(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

impl Template {
    /// Parses the YAML of `template.<name>`.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let err = |field: &str, reason: String| TemplateError { template: name.into(), field: field.into(), reason };
        let mut map: Map<String, Value> = crate::config::yaml(text).map_err(|e| err("", e))?;
        let message = match map.remove("message") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Go::parse(&s).map_err(|e| err("message", e.to_string()))?),
            Some(_) => return Err(err("message", "must be a string".into())),
        };
        for section in COMMIT_SECTIONS {
            if let Some(Value::Object(s)) = map.get_mut(section) {
                s.entry("repoURLPath").or_insert_with(|| DEFAULT_REPO.into());
                s.entry("revisionPath").or_insert_with(|| DEFAULT_REVISION.into());
            }
        }
        let sections = tree(&Value::Object(map), "", &|field, reason| err(field, reason))?;
        Ok(Template { name: name.to_string(), message, sections })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders the template for one service type over `app`.
    pub fn render(&self, app: &Value, context: &Map<String, Value>, service_type: &str) -> Result<Notification, TemplateError> {
        let vars = serde_json::json!({
            "app": app,
            "context": context,
            "serviceType": service_type,
            "notificationType": service_type,
        });
        let run = |go: &Go, field: &str| {
            go.execute_with(&vars, &Options::default(), &funcs::HOST_FUNCS).map_err(|e| TemplateError {
                template: self.name.clone(),
                field: field.to_string(),
                reason: e.to_string(),
            })
        };
        let message = match &self.message {
            Some(go) => run(go, "message")?,
            None => String::new(),
        };
        let sections = match render_tree(&self.sections, "", &run)? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Ok(Notification { message, sections })
    }
}

fn tree(v: &Value, at: &str, err: &dyn Fn(&str, String) -> TemplateError) -> Result<Tree, TemplateError> {
    let child = |key: &str| if at.is_empty() { key.to_string() } else { format!("{at}.{key}") };
    Ok(match v {
        Value::String(s) => Tree::Text(Go::parse(s).map_err(|e| err(at, e.to_string()))?),
        Value::Array(items) => {
            Tree::List(items.iter().enumerate().map(|(i, item)| tree(item, &child(&i.to_string()), err)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => {
            Tree::Map(map.iter().map(|(k, item)| Ok((k.clone(), tree(item, &child(k), err)?))).collect::<Result<_, _>>()?)
        }
        other => Tree::Plain(other.clone()),
    })
}

fn render_tree(t: &Tree, at: &str, run: &dyn Fn(&Go, &str) -> Result<String, TemplateError>) -> Result<Value, TemplateError> {
    let child = |key: &str| if at.is_empty() { key.to_string() } else { format!("{at}.{key}") };
    Ok(match t {
        Tree::Text(go) => Value::String(run(go, at)?),
        Tree::Plain(v) => v.clone(),
        Tree::List(items) => Value::Array(
            items.iter().enumerate().map(|(i, item)| render_tree(item, &child(&i.to_string()), run)).collect::<Result<_, _>>()?,
        ),
        Tree::Map(entries) => {
            Value::Object(entries.iter().map(|(k, item)| Ok((k.clone(), render_tree(item, &child(k), run)?))).collect::<Result<_, _>>()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> Value {
        json!({
            "metadata": {"name": "guestbook", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "git@github.com:org/guestbook.git"}},
            "status": {"sync": {"status": "Synced", "revision": "abc123"},
                       "operationState": {"phase": "Succeeded", "finishedAt": "2026-12-05T10:00:00Z", "syncResult": {"revision": "abc123"}},
                       "conditions": [{"type": "SyncError", "message": "boom"}]}
        })
    }

    fn ctx() -> Map<String, Value> {
        json!({"argocdUrl": "https://cd.example.com"}).as_object().unwrap().clone()
    }

    #[test]
    fn message_and_every_section_string_render_per_service_type() {
        let t = Template::parse(
            "app-sync-succeeded",
            r#"
message: |
  {{if eq .serviceType "slack"}}:white_check_mark:{{end}} Application {{.app.metadata.name}} synced at {{.app.status.operationState.finishedAt}}.
email:
  subject: Application {{.app.metadata.name}} has been successfully synced.
slack:
  attachments: |
    [{"title": "{{ .app.metadata.name}}", "title_link": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}"
    {{range $index, $c := .app.status.conditions}}, "{{$c.type}}": "{{$c.message}}"{{end}}}]
  deliveryPolicy: Post
  notifyBroadcast: false
github:
  status:
    state: success
    label: "continuous-delivery/{{.app.metadata.name}}"
"#,
        )
        .unwrap();
        let slack = t.render(&app(), &ctx(), "slack").unwrap();
        assert_eq!(slack.message, ":white_check_mark: Application guestbook synced at 2026-12-05T10:00:00Z.\n");
        let attachments: Value = serde_json::from_str(slack.sections["slack"]["attachments"].as_str().unwrap()).unwrap();
        assert_eq!(attachments[0]["title_link"], "https://cd.example.com/applications/guestbook");
        assert_eq!(attachments[0]["SyncError"], "boom");
        assert_eq!(slack.sections["slack"]["notifyBroadcast"], false, "non-strings are kept");
        let mail = t.render(&app(), &ctx(), "email").unwrap();
        assert!(mail.message.starts_with(" Application guestbook"));
        assert_eq!(mail.sections["email"]["subject"], "Application guestbook has been successfully synced.");
        // GitHub's repository and revision default as Argo CD's do.
        assert_eq!(mail.sections["github"]["repoURLPath"], "git@github.com:org/guestbook.git");
        assert_eq!(mail.sections["github"]["revisionPath"], "abc123");
        assert_eq!(mail.sections["github"]["status"]["label"], "continuous-delivery/guestbook");
    }

    #[test]
    fn argo_cd_functions_are_reachable_through_call() {
        let t = Template::parse(
            "fns",
            "message: '{{call .repo.RepoURLToHTTPS .app.spec.source.repoURL}} {{call .repo.FullNameByRepoURL .app.spec.source.repoURL}} {{call .strings.ToUpper .app.metadata.name}}'",
        )
        .unwrap();
        assert_eq!(t.render(&app(), &ctx(), "slack").unwrap().message, "https://github.com/org/guestbook.git org/guestbook GUESTBOOK");
    }

    #[test]
    fn errors_name_the_template_and_field() {
        let err = Template::parse("t", "slack:\n  attachments: '{{.app'\n").unwrap_err();
        assert_eq!((err.template.as_str(), err.field.as_str()), ("t", "slack.attachments"), "{err}");
        let err = Template::parse("t", "message: [1]\n").unwrap_err();
        assert_eq!(err.field, "message");
        let t =
            Template::parse("t", "webhook:\n  hook:\n    body: '{{call .repo.GetCommitMetadata .app.status.sync.revision}}'\n").unwrap();
        let err = t.render(&app(), &ctx(), "webhook").unwrap_err();
        assert_eq!(err.field, "webhook.hook.body");
        assert!(err.reason.contains("not supported"), "{err}");
    }
}
