//! `trigger.<name>`: conditions in expr-lang (`when`, `oncePer`) and the
//! templates each sends, evaluated as notifications-engine does.

use base64::Engine as _;
use driftless_expr::{Env, Program, Value as ExprValue};
use serde::Deserialize;
use serde_json::Value;

/// Why a trigger does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trigger {trigger} condition {index}: {field}: {reason}")]
pub struct TriggerError {
    /// The trigger's name.
    pub trigger: String,
    /// The condition's index in the list.
    pub index: usize,
    /// `when`, `oncePer` or `send`.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// A parsed trigger: its conditions in order.
#[derive(Debug, Clone)]
pub struct Trigger {
    conditions: Vec<Condition>,
}

/// One condition of a trigger.
#[derive(Debug, Clone)]
pub struct Condition {
    /// `description`.
    pub description: String,
    /// `send`: template names.
    pub send: Vec<String>,
    when: Program,
    once_per: Option<Program>,
    /// `[index].<sha1 of when>`, notifications-engine's key, so that the
    /// state Argo CD left on an app is read as ours.
    key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCondition {
    #[serde(default)]
    when: Option<Value>,
    #[serde(default)]
    once_per: Option<String>,
    #[serde(default)]
    send: Vec<String>,
    #[serde(default)]
    description: String,
}

/// What one condition says about one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionResult {
    /// The condition's key in the notified state.
    pub key: String,
    /// `oncePer`'s value (Go's `%v`), empty without one.
    pub once_per: String,
    /// The templates to send.
    pub templates: Vec<String>,
    /// Whether `when` holds.
    pub triggered: bool,
    /// Why `when` (or `oncePer`) could not be evaluated: the condition then
    /// does not trigger, as in Argo CD.
    pub error: Option<String>,
}

impl Trigger {
    /// Parses the YAML list of `trigger.<name>`.
    pub fn parse(name: &str, text: &str) -> Result<Trigger, TriggerError> {
        let err = |index, field, reason| TriggerError { trigger: name.into(), index, field, reason };
        let raw: Vec<RawCondition> = crate::config::yaml(text).map_err(|e| err(0, "when", e))?;
        let mut conditions = Vec::with_capacity(raw.len());
        for (i, c) in raw.into_iter().enumerate() {
            let when = match c.when {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s,
                Some(Value::Bool(b)) => b.to_string(),
                Some(_) => return Err(err(i, "when", "must be an expression (a string)".into())),
            };
            // Argo CD compiles an empty `when` as `false`.
            let program =
                driftless_expr::compile(if when.trim().is_empty() { "false" } else { &when }).map_err(|e| err(i, "when", e.to_string()))?;
            let once_per = match c.once_per.filter(|s| !s.trim().is_empty()) {
                Some(s) => Some(driftless_expr::compile(&s).map_err(|e| err(i, "oncePer", e.to_string()))?),
                None => None,
            };
            if c.send.is_empty() {
                return Err(err(i, "send", "names no template".into()));
            }
            let key = format!("[{i}].{}", sha1_b64(&when));
            conditions.push(Condition { description: c.description, send: c.send, when: program, once_per, key });
        }
        Ok(Trigger { conditions })
    }

    /// The conditions, in order.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Evaluates every condition in `env` (see [`env`]).
    pub fn run(&self, env: &Env) -> Vec<ConditionResult> {
        self.conditions
            .iter()
            .map(|c| {
                let mut result = ConditionResult {
                    key: c.key.clone(),
                    once_per: String::new(),
                    templates: c.send.clone(),
                    triggered: false,
                    error: None,
                };
                match c.when.run(env) {
                    Ok(v) => result.triggered = v == ExprValue::Bool(true),
                    Err(e) => result.error = Some(format!("when: {e}")),
                }
                if result.triggered
                    && let Some(p) = &c.once_per
                {
                    match p.run(env) {
                        Ok(v) => result.once_per = v.to_go_string(),
                        Err(e) => result.error = Some(format!("oncePer: {e}")),
                    }
                }
                result
            })
            .collect()
    }
}

/// What triggers see of `app` at `now`: built once per app, for all its
/// triggers (the app is copied into it).
pub fn env(app: &Value, now: jiff::Timestamp) -> Env {
    let mut vars = serde_json::Map::new();
    vars.insert("app".into(), app.clone());
    Env { vars, now }
}

impl Condition {
    /// `when`, as written.
    pub fn when(&self) -> &str {
        self.when.source()
    }
}

fn sha1_b64(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ON_DEPLOYED: &str = r#"
- description: Application is synced and healthy. Triggered once per commit.
  oncePer: app.status.operationState?.syncResult?.revision
  send:
  - app-deployed
  when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']
    and app.status.health.status == 'Healthy' and !time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.finishedAt))
"#;

    fn now() -> jiff::Timestamp {
        "2026-12-05T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_catalog_on_deployed_fires_once_per_revision() {
        let t = Trigger::parse("on-deployed", ON_DEPLOYED).unwrap();
        let app = json!({"status": {
            "health": {"status": "Healthy", "lastTransitionTime": "2026-12-05T11:00:05Z"},
            "operationState": {"phase": "Succeeded", "finishedAt": "2026-12-05T11:00:00Z", "syncResult": {"revision": "abc"}}}});
        let r = t.run(&env(&app, now()));
        assert_eq!(r.len(), 1);
        assert!(r[0].triggered, "{r:?}");
        assert_eq!(r[0].once_per, "abc");
        assert_eq!(r[0].templates, ["app-deployed"]);
        // The key is notifications-engine's: index and SHA-1 of `when`.
        assert!(r[0].key.starts_with("[0].") && r[0].key.len() == 4 + 27, "{}", r[0].key);
        // Without an operation the condition does not hold (and `and` stops
        // before the nil field).
        let r = t.run(&env(&json!({"status": {"health": {"status": "Healthy"}}}), now()));
        assert!(!r[0].triggered && r[0].error.is_none(), "{r:?}");
    }

    #[test]
    fn a_failing_when_does_not_trigger_and_says_why() {
        let t = Trigger::parse("t", "- when: app.status.operationState.phase == 'Failed'\n  send: [x]\n").unwrap();
        let r = t.run(&env(&json!({"status": {}}), now()));
        assert!(!r[0].triggered);
        assert!(r[0].error.as_deref().unwrap_or_default().starts_with("when: "), "{r:?}");
    }

    #[test]
    fn bad_triggers_name_the_condition_and_field() {
        let e = Trigger::parse("t", "- when: app.a ==\n  send: [x]\n").unwrap_err();
        assert_eq!((e.index, e.field), (0, "when"), "{e}");
        let e = Trigger::parse("t", "- when: 'true'\n  send: [x]\n- when: 'true'\n").unwrap_err();
        assert_eq!((e.index, e.field), (1, "send"), "{e}");
        let e = Trigger::parse("t", "- when: 'true'\n  send: [x]\n  oncePer: 'a +'\n").unwrap_err();
        assert_eq!(e.field, "oncePer");
        let e = Trigger::parse("t", "- when: 'true'\n  sned: [x]\n").unwrap_err();
        assert!(e.reason.contains("sned"), "{e}");
        // `when: true` unquoted is the expression `true`.
        assert!(Trigger::parse("t", "- when: true\n  send: [x]\n").unwrap().run(&env(&json!({}), now()))[0].triggered);
    }
}
