use serde_json::json;

use super::*;
use crate::fuzz::xorshift;

/// An app `namespace/name` depending on `deps` (no annotation when None),
/// Synced and Healthy at its current spec when `ready`.
fn app(key: &str, deps: Option<&str>, ready: bool) -> Arc<Application> {
    let (namespace, name) = key.split_once('/').unwrap();
    let spec = json!({"project": "default", "source": {"repoURL": "https://git.example/r", "path": name},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": name}});
    let (sync, health) = if ready { ("Synced", "Healthy") } else { ("OutOfSync", "Progressing") };
    let mut annotations = serde_json::Map::new();
    if let Some(deps) = deps {
        annotations.insert(ANNOTATION_DEPENDS_ON.into(), deps.into());
    }
    let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": spec.clone(),
        "status": {"sync": {"status": sync, "revision": "abc", "comparedTo": {"source": spec["source"], "destination": spec["destination"]}},
                   "health": {"status": health}}});
    Arc::new(serde_json::from_value(app).unwrap())
}

fn with_annotation(app: &Arc<Application>, key: &str, value: &str) -> Arc<Application> {
    let mut a = (**app).clone();
    a.metadata.annotations.get_or_insert_with(Default::default).insert(key.into(), value.into());
    Arc::new(a)
}

#[test]
fn items_are_namespace_slash_name_or_a_name_in_the_apps_namespace() {
    let p = parse_list(" argocd/cert-manager, crds-* ,team-?/web.v2", "apps").unwrap();
    let shown: Vec<String> = p.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["argocd/cert-manager", "apps/crds-*", "team-?/web.v2"]);
    let key = |ns: &str, n: &str| AppKey { namespace: ns.into(), name: n.into() };
    assert!(p[1].matches(&key("apps", "crds-core")) && !p[1].matches(&key("other", "crds-core")));
    assert!(p[2].matches(&key("team-a", "web.v2")) && !p[2].matches(&key("team-ab", "web.v2")));
}

#[test]
fn hostile_lists_are_refused_naming_the_annotation_and_the_item() {
    for (list, position, why) in [
        ("a,,b", 2, "empty"),
        ("a,", 2, "empty"),
        ("../etc", 1, "namespace"),
        ("a/../b", 1, "more than one"),
        ("a/b/c", 1, "more than one"),
        ("/b", 1, "namespace"),
        ("a/", 1, "name"),
        ("Argocd/x", 1, "namespace"),
        ("argocd/ünïcode", 1, "name"),
        ("argocd/[ab]", 1, "name"),
        ("argocd/.*", 1, "name"),
        ("argocd/a..*", 1, "name"),
        ("ok, argocd/a b", 2, "name"),
        ("a\n,b\0", 2, "name"),
    ] {
        let err = parse_list(list, "argocd").expect_err(list);
        let DependencyError::BadItem { position: at, reason, .. } = &err else { panic!("{list}: {err:?}") };
        assert_eq!(*at, position, "{list}: {err}");
        assert!(reason.contains(why), "{list}: {err}");
        assert!(err.to_string().contains(ANNOTATION_DEPENDS_ON), "{err}");
    }
    let huge = vec!["argocd/a"; 1000].join(",");
    assert_eq!(parse_list(&huge, "argocd"), Err(DependencyError::TooManyItems(1000)));
    let long = "a".repeat(MAX_LIST_BYTES + 1);
    assert!(matches!(parse_list(&long, "argocd"), Err(DependencyError::ListTooLong(_))));
    let shown = parse_list(&format!("{},", "x".repeat(300)), "argocd").unwrap_err().to_string();
    assert!(shown.len() < 400, "a bad item is shown bounded: {shown}");
    // Weird but valid globs match as globs do, never more.
    let p = parse_list("***/*?*", "argocd").unwrap();
    assert!(p[0].matches(&AppKey { namespace: "n".into(), name: "ab".into() }));
    assert!(!p[0].matches(&AppKey { namespace: "n".into(), name: "".into() }));
}

#[test]
fn without_dependencies_an_app_is_ready() {
    let a = app("argocd/a", None, false);
    assert_eq!(assess(&a, std::slice::from_ref(&a)), Assessment::default());
    assert!(Assessment::default().ready());
    let blank = app("argocd/a", Some("  "), false);
    assert!(Dependencies::of(&blank).unwrap().is_none());
}

#[test]
fn a_dependency_is_ready_when_synced_and_healthy_at_its_current_spec() {
    let crds = app("argocd/crds", None, true);
    let operator = app("argocd/operator", Some("crds"), false);
    let instances = app("argocd/instances", Some("argocd/operator"), false);
    let all = vec![crds.clone(), operator.clone(), instances.clone()];
    let a = assess(&operator, &all);
    assert!(a.ready(), "{a:?}");
    assert_eq!(a.dependencies[0].app, Some(AppKey::of(&crds)));
    let a = assess(&instances, &all);
    assert!(!a.ready());
    assert_eq!(a.waiting().unwrap(), "waiting for argocd/operator: OutOfSync, Progressing");
    // Synced and Healthy, but of an older spec: not yet.
    let mut moved = (*crds).clone();
    moved.spec.source.as_mut().unwrap().path = Some("elsewhere".into());
    let all = vec![Arc::new(moved), operator.clone()];
    let a = assess(&operator, &all);
    assert!(!a.ready());
    assert!(a.waiting().unwrap().contains("has not reported on its current spec"), "{a:?}");
    // A requested sync: not yet.
    let mut requested = (*crds).clone();
    requested.operation = Some(Default::default());
    let a = assess(&operator, &[Arc::new(requested), operator.clone()]);
    assert!(a.waiting().unwrap().contains("sync requested"), "{a:?}");
}

#[test]
fn names_and_globs_that_match_nothing_are_not_ready_and_say_so() {
    let a = app("argocd/a", Some("argocd/missing, other/crds-*"), false);
    let got = assess(&a, std::slice::from_ref(&a));
    assert!(!got.ready());
    assert_eq!(got.waiting().unwrap(), "waiting for argocd/missing: no such app; other/crds-*: no app matches");
    // A glob matching the app itself does not make it wait for itself.
    let b = app("argocd/b", Some("argocd/*"), false);
    let c = app("argocd/c", None, true);
    let got = assess(&b, &[b.clone(), c.clone()]);
    assert!(got.ready(), "{got:?}");
    assert_eq!(got.dependencies.len(), 1);
}

#[test]
fn every_app_of_a_cycle_reports_it() {
    let a = app("argocd/a", Some("b"), true);
    let b = app("argocd/b", Some("team/c"), true);
    let c = app("team/c", Some("argocd/a"), true);
    let d = app("argocd/d", Some("a"), true);
    let all = vec![a.clone(), b.clone(), c.clone(), d.clone()];
    assert_eq!(assess(&a, &all).error, Some(DependencyError::Cycle("argocd/a -> argocd/b -> team/c -> argocd/a".into())));
    assert_eq!(assess(&c, &all).error, Some(DependencyError::Cycle("team/c -> argocd/a -> argocd/b -> team/c".into())));
    assert!(!assess(&b, &all).ready());
    // d depends on the cycle without being part of it: it waits, no error.
    let got = assess(&d, &all);
    assert_eq!(got.error, None);
    let g = graph(&a, &all);
    assert_eq!(g.nodes.iter().filter(|n| n.in_cycle).count(), 3, "{g:?}");
    assert_eq!(g.nodes.len(), 4);
    assert!(g.edges.iter().any(|e| e.from == AppKey::of(&d) && e.to == AppKey::of(&a)));
}

#[test]
fn a_cel_expression_decides_readiness_and_a_bad_one_is_an_error() {
    let dep = app("argocd/db", None, false);
    let me = app("argocd/web", Some("db"), false);
    let health =
        with_annotation(&me, ANNOTATION_DEPENDS_ON_READY, "dep.status.health.status == 'Progressing' && self.metadata.name == 'web'");
    assert!(assess(&health, &[dep.clone(), health.clone()]).ready());
    let no = with_annotation(&me, ANNOTATION_DEPENDS_ON_READY, "dep.status.health.status == 'Healthy'");
    let got = assess(&no, &[dep.clone(), no.clone()]);
    assert_eq!(got.waiting().unwrap(), format!("waiting for argocd/db: {ANNOTATION_DEPENDS_ON_READY} is false"));
    let not_bool = with_annotation(&me, ANNOTATION_DEPENDS_ON_READY, "dep.metadata.name");
    let got = assess(&not_bool, &[dep.clone(), not_bool.clone()]);
    assert!(got.waiting().unwrap().contains("not a bool"), "{got:?}");
    let missing = with_annotation(&me, ANNOTATION_DEPENDS_ON_READY, "dep.nothing.here");
    assert!(!assess(&missing, &[dep.clone(), missing.clone()]).ready());
    let two = "dep.status.conditions.all(c, c.status == 'True') && dep.status.resources.exists(r, r.name == 'x')";
    let within = with_annotation(&me, ANNOTATION_DEPENDS_ON_READY, two);
    assert_eq!(assess(&within, &[dep.clone(), within.clone()]).error, None, "two comprehensions are fine");
    let three = "[1].all(a, [1].all(b, [1] . all (c, true)))";
    let hidden = "[1].all(a, [1].all(b, [1]. // a comment does not hide a call\n all (c, true)))";
    for bad in ["dep.status ==", three, hidden, "(".repeat(100).as_str(), &"!".repeat(5000), &format!("{}true", "!".repeat(70))] {
        let broken = with_annotation(&me, ANNOTATION_DEPENDS_ON_READY, bad);
        let err = assess(&broken, &[dep.clone(), broken.clone()]).error.expect(bad);
        assert!(matches!(err, DependencyError::BadExpression(_)), "{err:?}");
        assert!(err.to_string().contains(ANNOTATION_DEPENDS_ON_READY), "{err}");
    }
}

#[test]
fn an_expression_sees_the_state_of_a_dependency_never_its_spec_or_annotations() {
    let mut db = (*app("argocd/db", None, true)).clone();
    db.spec.project = "data".into();
    db.spec.source =
        Some(driftless_api::ApplicationSource { repo_url: "https://git.example/secret-values.git".into(), ..Default::default() });
    db.metadata.annotations = Some([("team.example/token".to_string(), "s3cr3t".to_string())].into());
    let db = Arc::new(db);
    let me = app("argocd/web", Some("db"), false);
    let sees = |expr: &str| {
        let me = with_annotation(&me, ANNOTATION_DEPENDS_ON_READY, expr);
        assess(&me, &[db.clone(), me.clone()])
    };
    assert!(sees("dep.spec.project == 'data' && dep.status.sync.status == 'Synced'").ready());
    for leak in ["dep.spec.source.repoURL.startsWith('https')", "dep.metadata.annotations['team.example/token'] == 's3cr3t'"] {
        let got = sees(leak);
        assert!(!got.ready(), "{leak}: {got:?}");
        assert!(!format!("{got:?}").contains("s3cr3t") && !format!("{got:?}").contains("secret-values"), "{got:?}");
    }
    // An error quoting a value is cut to one short line.
    let got = sees("dep.status + 1");
    assert!(got.waiting().unwrap().len() < 400, "{got:?}");
}

#[test]
fn dependents_are_found_for_reverse_order_deletion() {
    let crds = app("argocd/crds", None, true);
    let operator = app("argocd/operator", Some("crds"), true);
    let all_crds = app("team/x", Some("argocd/crd?"), true);
    let all = vec![crds.clone(), operator.clone(), all_crds.clone()];
    let apps = Apps::new(&all);
    assert_eq!(apps.dependents_of(&AppKey::of(&crds)), vec![AppKey::of(&operator), AppKey::of(&all_crds)]);
    assert!(apps.dependents_of(&AppKey::of(&operator)).is_empty());
}

#[test]
fn a_thousand_apps_in_a_chain_are_assessed_quickly_enough() {
    // Each app depends on the one before it: assessing the last walks the
    // whole chain (cycle search), as a reconcile does.
    let all: Vec<Arc<Application>> =
        (0..1000).map(|i| app(&format!("argocd/app-{i}"), (i > 0).then(|| format!("app-{}", i - 1)).as_deref(), true)).collect();
    for a in all.iter().rev().take(20) {
        assert!(assess(a, &all).ready());
    }
}

/// Random annotation strings and CEL expressions never panic (nor overflow
/// the stack).
#[test]
fn fuzzed_annotations_and_expressions_never_panic() {
    let mut next = xorshift(0x5eed_cafe);
    let alphabet: Vec<char> = "ab-*?./,  \u{e9}\0\n()[]{}!-+&|=<>'\"\\.dep.self.status 1.0".chars().collect();
    let dep = app("argocd/a", None, true);
    for _ in 0..3000 {
        let len = (next() % 120) as usize;
        let s: String = (0..len).map(|_| alphabet[(next() as usize) % alphabet.len()]).collect();
        let _ = parse_list(&s, "argocd");
        let me = with_annotation(&app("argocd/me", Some("a"), true), ANNOTATION_DEPENDS_ON_READY, &s);
        let _ = assess(&me, &[dep.clone(), me.clone()]);
    }
    // Deep nesting of every kind the parser recurses on.
    let at_the_bound = format!("{}1{}{}", "(".repeat(31), "+1".repeat(16), ")".repeat(31));
    for deep in [
        "(".repeat(3000),
        "[".repeat(3000),
        "-".repeat(3000),
        "!".repeat(3000) + "true",
        "a.".repeat(1500) + "b",
        "1+".repeat(1500) + "1",
        at_the_bound,
    ] {
        let me = with_annotation(&app("argocd/me", Some("a"), true), ANNOTATION_DEPENDS_ON_READY, &deep);
        let _ = assess(&me, &[dep.clone(), me.clone()]);
    }
}
