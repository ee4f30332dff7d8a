use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const DENY_NO_LIMITS: &str = r#"package t
import rego.v1
deny contains msg if {
	some c in input.object.spec.template.spec.containers
	not c.resources.limits
	msg := sprintf("container %q has no limits", [c.name])
}
"#;

const WARN_NO_TEAM: &str = "package w\nwarn[msg] { not input.object.metadata.labels.team; msg := \"no team label\" }\n";

fn configmap(name: &str, labelled: bool, projects: Option<&str>, data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    if labelled {
        cm.metadata.labels = Some(BTreeMap::from([(POLICY_LABEL.to_string(), "true".to_string())]));
    }
    if let Some(p) = projects {
        cm.metadata.annotations = Some(BTreeMap::from([(PROJECTS_ANNOTATION.to_string(), p.to_string())]));
    }
    cm.data = Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    cm
}

fn context(project: &str) -> Context {
    let mut app = Application::default();
    app.metadata.name = Some("web".into());
    app.metadata.namespace = Some("argocd".into());
    app.spec.project = project.into();
    let mut proj = AppProject::new(project, Default::default());
    proj.metadata.name = Some(project.into());
    Context::new(&app, &proj)
}

fn deployment(name: &str, limits: bool) -> serde_json::Value {
    let resources = if limits { json!({"limits": {"cpu": "1"}}) } else { json!({}) };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "demo", "labels": {"team": "a"}},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1", "resources": resources}]}}}
    })
}

#[test]
fn configmaps_give_modules_by_label_and_key_limited_to_their_projects() {
    let cms = [
        configmap("limits", true, None, &[("limits.rego", DENY_NO_LIMITS), ("README.md", "not rego")]),
        configmap("unlabelled", false, None, &[("x.rego", DENY_NO_LIMITS)]),
        configmap("team", true, Some("team-*, ops"), &[("team.rego", WARN_NO_TEAM)]),
    ];
    let set = PolicySet::from_configmaps(&cms);
    let names: Vec<&str> = set.modules().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["limits/limits.rego", "team/team.rego"]);
    assert!(set.modules().all(|m| m.error().is_none()));
    let team = set.modules().nth(1).unwrap();
    assert!(team.applies_to("team-a") && team.applies_to("ops") && !team.applies_to("default"));

    let cache = VerdictCache::default();
    let mut bare = deployment("web", false);
    bare["metadata"]["labels"] = json!({});
    let v = set.evaluate(&context("default"), [&bare], &cache);
    assert_eq!(v.denies.len(), 1);
    assert_eq!(v.denies[0].policy, "limits/limits.rego");
    assert_eq!(v.denies[0].rule, Rule::Deny);
    assert_eq!(v.denies[0].message, r#"container "app" has no limits"#);
    assert_eq!(v.denies[0].object.to_string(), "apps/Deployment demo/web");
    assert!(v.warnings.is_empty(), "the team policy is not for project default");
    assert!(v.blocks());

    let v = set.evaluate(&context("team-a"), [&bare], &cache);
    assert_eq!(v.warnings.len(), 1);
    assert_eq!(v.warnings[0].to_string(), "apps/Deployment demo/web: no team label (team/team.rego warn)");
    let fixed = deployment("web", true);
    let v = set.evaluate(&context("team-a"), [&fixed], &cache);
    assert_eq!(v, Verdict::default());
    assert!(!v.blocks());
}

#[test]
fn an_empty_projects_annotation_is_no_limit() {
    let set = PolicySet::from_configmaps(&[configmap("p", true, Some(" , "), &[("a.rego", DENY_NO_LIMITS)])]);
    assert!(set.modules().next().unwrap().applies_to("anything"));
}

#[test]
fn a_broken_module_blocks_every_app_it_applies_to_and_says_why() {
    let cms = [
        configmap("policies", true, None, &[("broken.rego", "package b\ndeny contains msg if {\n")]),
        configmap("elsewhere", true, Some("other"), &[("broken.rego", "package b\ndeny {{")]),
    ];
    let set = PolicySet::from_configmaps(&cms);
    let v = set.evaluate(&context("default"), [&deployment("web", true)], &VerdictCache::default());
    assert!(v.blocks());
    assert_eq!(v.errors.len(), 1, "{v:?}");
    let line = v.blocking_summary(10).unwrap();
    assert!(line.starts_with("blocked by policy (1): policy policies/broken.rego: does not compile: "), "{line}");
    assert!(line.contains("policies/broken.rego:"), "regorus' message names the module: {line}");
    // Even an app with no objects is told.
    assert!(set.evaluate(&context("default"), [], &VerdictCache::default()).blocks());
}

#[test]
fn modules_named_alike_or_of_one_package_stay_apart() {
    let a = "package same\ndeny contains \"from a\" if input.object.kind == \"ConfigMap\"\n";
    let b = "package same\ndeny contains \"from b\" if input.object.kind == \"ConfigMap\"\n";
    let set = PolicySet::from_configmaps(&[configmap("one", true, None, &[("p.rego", a)]), configmap("two", true, None, &[("p.rego", b)])]);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let v = set.evaluate(&context("default"), [&cm], &VerdictCache::default());
    let seen: Vec<(String, String)> = v.denies.iter().map(|d| (d.policy.clone(), d.message.clone())).collect();
    assert_eq!(seen, [("one/p.rego".into(), "from a".into()), ("two/p.rego".into(), "from b".into())]);
}

#[test]
fn verdicts_are_cached_by_content_and_bounded() {
    let set = PolicySet::from_configmaps(&[configmap("limits", true, None, &[("limits.rego", DENY_NO_LIMITS)])]);
    let cache = VerdictCache::new(3);
    let objects: Vec<serde_json::Value> = (0..5).map(|i| deployment(&format!("d{i}"), i % 2 == 0)).collect();
    let first = set.evaluate(&context("default"), &objects, &cache);
    assert_eq!(cache.hits_and_misses(), (0, 5));
    assert_eq!(cache.len(), 3, "the least recently used go");
    let again = set.evaluate(&context("default"), &objects[2..], &cache);
    assert_eq!(cache.hits_and_misses(), (3, 5));
    assert_eq!(again.denies, first.denies[1..]);
    // Another project, app or module set is another key.
    set.evaluate(&context("other"), &objects[4..], &cache);
    assert_eq!(cache.hits_and_misses(), (3, 6));
    // What the controllers write on the app as they work is not.
    let mut app = Application::default();
    app.metadata.name = Some("web".into());
    app.metadata.namespace = Some("argocd".into());
    app.spec.project = "default".into();
    app.metadata.annotations = Some(BTreeMap::from([
        ("argocd.argoproj.io/refresh".to_string(), "normal".to_string()),
        ("notified.notifications.argoproj.io".to_string(), "{}".to_string()),
    ]));
    set.evaluate(&Context::new(&app, &AppProject::new("default", Default::default())), &objects[4..], &cache);
    assert_eq!(cache.hits_and_misses(), (4, 6));
}

#[test]
fn a_module_out_of_time_stops_for_the_verdict_and_is_not_cached() {
    let slow = "package s\ndeny contains msg if {\n  n := [x | some a in numbers.range(1, 90000); some b in numbers.range(1, 90000); x := a * b; x < 0]\n  msg := sprintf(\"%d\", [count(n)])\n}\n";
    let set = PolicySet::from_configmaps(&[configmap("slow", true, None, &[("slow.rego", slow)])]);
    let cache = VerdictCache::default();
    let objects: Vec<serde_json::Value> = (0..3).map(|i| deployment(&format!("d{i}"), true)).collect();
    let v = set.evaluate(&context("default"), &objects, &cache);
    assert!(v.blocks());
    assert_eq!(v.errors.len(), 3);
    assert!(v.errors[0].message.contains("time limit"), "{:?}", v.errors[0]);
    assert!(v.errors[1].message.contains("ran out of time on another object"), "{:?}", v.errors[1]);
    assert!(cache.is_empty());
}

#[test]
fn huge_objects_fail_closed() {
    let set = PolicySet::from_configmaps(&[configmap("limits", true, None, &[("limits.rego", DENY_NO_LIMITS)])]);
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "a".repeat(MAX_OBJECT_BYTES)}});
    let v = set.evaluate(&context("default"), [&big], &VerdictCache::default());
    assert_eq!(v.errors.len(), 1);
    assert!(v.errors[0].to_string().starts_with("ConfigMap big: the object is "), "{}", v.errors[0]);
}

#[test]
fn summaries_are_capped() {
    let set = PolicySet::from_configmaps(&[configmap("limits", true, None, &[("limits.rego", DENY_NO_LIMITS)])]);
    let objects: Vec<serde_json::Value> = (0..7).map(|i| deployment(&format!("d{i}"), false)).collect();
    let v = set.evaluate(&context("default"), &objects, &VerdictCache::default());
    let line = v.blocking_summary(5).unwrap();
    assert!(
        line.starts_with("blocked by policy (7): apps/Deployment demo/d0: container \"app\" has no limits (limits/limits.rego deny); ")
    );
    assert!(line.ends_with("; and 2 more"), "{line}");
    assert_eq!(v.warning_summary(5), None);
}

#[test]
fn a_directory_of_modules_loads_recursively_without_test_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("limits.rego"), DENY_NO_LIMITS).unwrap();
    std::fs::write(dir.path().join("sub/team.rego"), WARN_NO_TEAM).unwrap();
    std::fs::write(dir.path().join("limits_test.rego"), "package t_test\ntest_x if true\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let set = PolicySet::from_dir(dir.path()).unwrap();
    let names: Vec<&str> = set.modules().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["limits.rego", "sub/team.rego"]);
    let e = PolicySet::from_dir(&dir.path().join("missing")).err().unwrap();
    assert!(e.to_string().contains("missing"), "{e}");
}

/// Random module texts (fragments of Rego) and random objects: never a panic.
#[test]
fn random_modules_and_objects_never_panic() {
    let fragments = [
        "package f\n",
        "import rego.v1\n",
        "deny contains msg if {",
        "}",
        "warn[msg] {",
        "deny[msg] {",
        "msg := \"x\"\n",
        "input.object.kind == \"Pod\"\n",
        "some c in input.object.spec.containers\n",
        "not input.x\n",
        "f(x) := f(x)\n",
        "count(input.object) > 1\n",
        "msg := sprintf(\"%v\", [input])\n",
        "x := numbers.range(1, 1e18)\n",
        "deny := 7\n",
        "deny contains {\"msg\": 1} if true\n",
        "\"unterminated",
        "[",
        "{",
        "walk(input, [p, v])\n",
        "regex.match(\"(\", \"a\")\n",
        "deny contains msg if { msg := concat(\",\", input.object) }\n",
        "http.send({})\n",
        "\u{0}",
        "é",
        "with input as 1\n",
    ];
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let cache = VerdictCache::new(16);
    for round in 0..150 {
        let mut text = String::from("package f\n");
        for _ in 0..(next() % 8) {
            text.push_str(fragments[(next() % fragments.len() as u64) as usize]);
        }
        let set = PolicySet::new(vec![Module::new(format!("m{round}.rego"), &text, None)]);
        let object = match next() % 5 {
            0 => json!(null),
            1 => json!([1, 2, {"kind": "Pod"}]),
            2 => json!({"kind": 7, "metadata": {"name": ["x"]}}),
            3 => deployment("d", next() % 2 == 0),
            _ => json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "not a list"}}),
        };
        let _ = set.evaluate(&context("default"), [&object], &cache);
    }
}

#[test]
fn an_evaluation_error_on_a_secret_is_withheld() {
    let module = "package n\nimport rego.v1\ndeny contains msg if {\n  n := to_number(input.object.data.v)\n  n > 1\n  msg := \"big\"\n}\n";
    let set = PolicySet::new(vec![Module::new("n.rego", module, None)]);
    let cache = VerdictCache::new(16);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"v": "hunter2-value"}});
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"v": "hunter2-value"}});
    let v = set.evaluate(&context("default"), [&secret], &cache);
    assert_eq!(v.errors.len(), 1, "{v:?}");
    assert!(v.errors[0].message.contains("withheld") && !format!("{v:?}").contains("hunter2"), "{v:?}");
    let v = set.evaluate(&context("default"), [&cm], &cache);
    assert_eq!(v.errors.len(), 1, "{v:?}");
    assert!(!v.errors[0].message.contains("withheld"), "{v:?}");
}
