//! App-of-apps: a child Application's health as a resource of its parent,
//! argocd-cm's `application.childHealth`, and the parent's aggregate.

use std::collections::BTreeMap;

use driftless_health::{CHILD_HEALTH_KEY, CustomChecks, Error, HealthStatusCode, SettingError, aggregate, assess, child_health_setting};
use serde_json::{Value, json};

use HealthStatusCode::{Degraded, Healthy, Progressing};

fn cm(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A child app whose status reports `health`, compared against `compared_path`
/// while its spec says `path`.
fn child(name: &str, path: &str, compared_path: &str, health: &str) -> Value {
    let source = |p: &str| json!({"repoURL": "https://git.example.com/deploy.git", "path": p, "targetRevision": "main"});
    let destination = json!({"server": "https://kubernetes.default.svc", "namespace": name});
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": "default", "source": source(path), "destination": destination},
        "status": {
            "health": {"status": health},
            "sync": {"status": "Synced", "comparedTo": {"source": source(compared_path), "destination": destination}},
        },
    })
}

fn status(obj: &Value, checks: &CustomChecks) -> Option<HealthStatusCode> {
    assess(obj, checks).expect("a valid object").map(|h| h.status)
}

#[test]
fn children_are_judged_by_default_and_not_when_turned_off() {
    let stale = child("web", "apps/web-v2", "apps/web", "Healthy");
    assert_eq!(status(&stale, &CustomChecks::none()), Some(Progressing));
    for on in ["true", "True", "1", "", "  "] {
        let checks = CustomChecks::from_argocd_cm(&cm(&[(CHILD_HEALTH_KEY, on)])).expect("valid");
        assert_eq!(status(&stale, &checks), Some(Progressing), "{on:?}");
    }
    for off in ["false", "False", "0", " false\n"] {
        let checks = CustomChecks::from_argocd_cm(&cm(&[(CHILD_HEALTH_KEY, off)])).expect("valid");
        assert_eq!(status(&stale, &checks), None, "{off:?}: no health, as in Argo CD without its Lua check");
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "generation": 1},
                            "spec": {"replicas": 1}, "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert_eq!(status(&deploy, &checks), Some(Healthy), "other kinds are unaffected");
    }
    assert_eq!(status(&stale, &CustomChecks::none().with_child_health(false)), None);
}

#[test]
fn a_users_lua_check_for_applications_wins() {
    // The check Argo CD's documentation gives: the child's reported health.
    let script = r#"
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then hs.message = obj.status.health.message end
end
return hs"#;
    let stale = child("web", "apps/web-v2", "apps/web", "Healthy");
    for setting in ["true", "false"] {
        let checks = CustomChecks::from_argocd_cm(&cm(&[
            ("resource.customizations.health.argoproj.io_Application", script),
            (CHILD_HEALTH_KEY, setting),
        ]))
        .expect("loads");
        assert_eq!(status(&stale, &checks), Some(Healthy), "childHealth {setting}");
    }
}

#[test]
fn an_invalid_value_names_the_key() {
    for bad in ["maybe", "yes", "no", "off", "truee", "\u{0}"] {
        let err = child_health_setting(&cm(&[(CHILD_HEALTH_KEY, bad)])).expect_err(bad);
        assert_eq!(err.key, CHILD_HEALTH_KEY);
        let text = err.to_string();
        assert!(text.starts_with("argocd-cm application.childHealth: "), "{text}");
        match CustomChecks::from_argocd_cm(&cm(&[(CHILD_HEALTH_KEY, bad)])) {
            Err(Error::InvalidSetting(SettingError { key, .. })) => assert_eq!(key, CHILD_HEALTH_KEY),
            other => panic!("{bad:?}: expected a setting error, got {other:?}"),
        }
    }
    // A hostile value is quoted and cut short, not echoed whole.
    let long = "x".repeat(10_000);
    let err = child_health_setting(&cm(&[(CHILD_HEALTH_KEY, &long)])).expect_err("not a boolean");
    assert!(err.to_string().len() < 200, "{err}");
}

#[test]
fn garbage_values_never_panic() {
    // Every string of up to three pieces: only Go's spellings of a boolean
    // (or nothing) parse.
    let pieces = ["", "t", "f", "true", "false", "1", "0", " ", "\n", "\"", "é", "\u{0}", "TRUE", "-", "{", "yes"];
    let valid = ["1", "t", "T", "true", "TRUE", "True", "0", "f", "F", "false", "FALSE", "False"];
    for a in pieces {
        for b in pieces {
            for c in pieces {
                let value = format!("{a}{b}{c}");
                let parsed = child_health_setting(&cm(&[(CHILD_HEALTH_KEY, &value)]));
                let trimmed = value.trim();
                assert_eq!(parsed.is_ok(), trimmed.is_empty() || valid.contains(&trimmed), "{value:?}");
            }
        }
    }
}

#[test]
fn the_parent_is_as_healthy_as_its_worst_child() {
    let none = CustomChecks::none();
    let judge = |children: &[Value]| {
        let healths: Vec<_> = children.iter().filter_map(|c| assess(c, &none).expect("valid")).collect();
        aggregate(&healths)
    };
    let healthy = child("a", "apps/a", "apps/a", "Healthy");
    let progressing = child("b", "apps/b", "apps/b", "Progressing");
    let stale = child("c", "apps/c-v2", "apps/c", "Healthy");
    let degraded = child("d", "apps/d", "apps/d", "Degraded");
    assert_eq!(judge(&[healthy.clone(), healthy.clone()]), Healthy);
    assert_eq!(judge(&[healthy.clone(), progressing.clone()]), Progressing);
    assert_eq!(judge(&[healthy.clone(), stale]), Progressing, "a child not yet at its new spec holds the parent");
    assert_eq!(judge(&[healthy, progressing, degraded]), Degraded);
}
