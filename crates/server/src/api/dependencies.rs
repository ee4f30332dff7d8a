//! `GET /api/v1/applications/{name}/dependencies`: the app's dependency
//! graph (`driftless.dev/depends-on`, [`driftless_engine::dependencies::graph`]):
//! what it waits for and why, the apps it depends on and those that depend
//! on it. An app the caller may not `get` is shown as a placeholder: its
//! name appears nowhere in the answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use driftless_engine::dependencies::{self, AppKey};
use serde_json::Value;

use super::AppPath;
use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

/// The graph around the app, each app the caller may not see hidden.
pub async fn graph(State(state): State<Arc<AppState>>, Extension(who): Extension<Identity>, at: AppPath) -> Result<Json<Value>, ApiError> {
    let app = state.app(&who, &at.namespace, &at.name, "get").await?;
    let all = state.store.select(|_| true);
    let graph = dependencies::graph(&app, &all);
    let policy = state.policy();
    let rules = state.enforcer(&policy, &who).narrow("applications", "get");
    let projects = state.projects.snapshot();
    let hidden: Vec<AppKey> = graph
        .nodes
        .iter()
        .map(|n| n.app.clone())
        .filter(|k| {
            !state
                .store
                .get(&k.namespace, &k.name)
                .is_some_and(|a| state.app_visible(&a, &projects) && rules.allows("applications", "get", &state.app_object(&a)))
        })
        .collect();
    let mut value = serde_json::to_value(&graph).unwrap_or(Value::Null);
    hide(&mut value, &hidden);
    Ok(Json(value))
}

/// Replaces each hidden app, as a key object or named in a message, by a
/// placeholder (`hidden-1`, ...), with `hidden: true` on its node.
fn hide(value: &mut Value, hidden: &[AppKey]) {
    if hidden.is_empty() {
        return;
    }
    // Longest first, so that no name is replaced inside a longer one.
    let mut names: Vec<(String, String)> = hidden.iter().enumerate().map(|(i, k)| (k.to_string(), format!("(hidden-{})", i + 1))).collect();
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let placeholders: HashMap<String, String> = names.iter().cloned().collect();
    walk(value, &names, &placeholders);
}

fn walk(value: &mut Value, names: &[(String, String)], placeholders: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            let key = match (map.get("namespace").and_then(Value::as_str), map.get("name").and_then(Value::as_str)) {
                (Some(ns), Some(name)) if map.len() == 2 => placeholders.get(&format!("{ns}/{name}")).cloned(),
                _ => None,
            };
            if let Some(placeholder) = key {
                *value = serde_json::json!({ "namespace": "", "name": placeholder, "hidden": true });
                return;
            }
            let is_hidden_node =
                map.get("app").and_then(|a| Some(format!("{}/{}", a.get("namespace")?.as_str()?, a.get("name")?.as_str()?)));
            if is_hidden_node.is_some_and(|k| placeholders.contains_key(&k)) {
                for field in ["sync", "health"] {
                    if map.contains_key(field) {
                        map.insert(field.into(), Value::String(String::new()));
                    }
                }
                // Its reason would tell its state and messages.
                if map.contains_key("reason") {
                    let ready = map.get("ready").and_then(Value::as_bool).unwrap_or(false);
                    map.insert("reason".into(), Value::String(if ready { "ready" } else { "not ready" }.into()));
                }
                map.remove("waiting");
            }
            for v in map.values_mut() {
                walk(v, names, placeholders);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, names, placeholders)),
        Value::String(s) => {
            for (name, placeholder) in names {
                *s = replace_whole(s, name, placeholder);
            }
        }
        _ => {}
    }
}

/// `s` with each `name` that stands alone (not part of a longer app name)
/// replaced by `placeholder`.
fn replace_whole(s: &str, name: &str, placeholder: &str) -> String {
    let part_of_name = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/'));
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(name) {
        let mut after = rest[at + name.len()..].chars();
        // A full stop ends a sentence unless a name goes on after it.
        let continues = match after.next() {
            Some('.') => after.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            c => part_of_name(c),
        };
        out.push_str(&rest[..at]);
        if part_of_name(rest[..at].chars().next_back()) || continues {
            out.push_str(name);
        } else {
            out.push_str(placeholder);
        }
        rest = &rest[at + name.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_app_names_are_hidden() {
        let hidden = "(hidden-1)";
        assert_eq!(replace_whole("waiting for argocd/a: OutOfSync", "argocd/a", hidden), "waiting for (hidden-1): OutOfSync");
        assert_eq!(replace_whole("argocd/abc and argocd/a.", "argocd/a", hidden), "argocd/abc and (hidden-1).");
        assert_eq!(replace_whole("xargocd/a argocd/a.b argocd/a-2", "argocd/a", hidden), "xargocd/a argocd/a.b argocd/a-2");
        assert_eq!(replace_whole("argocd/a -> argocd/a", "argocd/a", hidden), "(hidden-1) -> (hidden-1)");
    }

    #[test]
    fn a_hidden_dependency_shows_neither_its_name_nor_its_state() {
        let key = |ns: &str, name: &str| AppKey { namespace: ns.into(), name: name.into() };
        let mut v = serde_json::json!({
            "dependencies": [
                { "pattern": "team-b/db", "app": { "namespace": "team-b", "name": "db" }, "ready": false,
                  "reason": "OutOfSync, Degraded (is Degraded: password rejected)" },
                { "pattern": "argocd/dbx", "app": { "namespace": "argocd", "name": "dbx" }, "ready": true, "reason": "ready" },
            ],
            "message": "waiting for team-b/db: OutOfSync"
        });
        hide(&mut v, &[key("team-b", "db")]);
        let text = v.to_string();
        assert!(!text.contains("team-b/db") && !text.contains("password") && !text.contains("\"db\""), "{text}");
        assert_eq!(v["dependencies"][0]["reason"], "not ready");
        assert_eq!(v["dependencies"][0].get("sync"), None, "no field added");
        assert_eq!(v["dependencies"][1]["app"]["name"], "dbx", "a visible app stays");
        assert_eq!(v["message"], "waiting for (hidden-1): OutOfSync");
    }
}
