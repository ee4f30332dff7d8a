//! Objects nested deeper than serde_json reads (128 levels), which the API
//! server stores in the fields it keeps as written: one of them must not
//! make the list or watch that holds it unreadable (see `driftless_api::free`).
//! The documents are JSON text, as kube-rs receives them.

use driftless_api::free::MAX_DEPTH;
use driftless_api::{Application, ApplicationSet, FreeJson};
use driftless_testkit::Rng;
use kube::core::{ObjectList, WatchEvent};
use serde_json::{Value, json};

/// `levels` objects nested around `inner`: `{"a":{"a":inner}}`.
fn maps(levels: usize, inner: &str) -> String {
    format!("{}{inner}{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
}

/// `levels` arrays nested around `inner`: `[[inner]]`.
fn arrays(levels: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(levels), "]".repeat(levels))
}

/// An Application with `values` as both sources' valuesObject, `status`
/// and one managedFields entry's `fieldsV1`, as text.
fn app(name: &str, values: &str, status: &str, fields_v1: &str) -> String {
    format!(
        r#"{{"apiVersion":"argoproj.io/v1alpha1","kind":"Application",
        "metadata":{{"name":"{name}","namespace":"argocd","resourceVersion":"7","managedFields":[
            {{"manager":"kubectl-patch","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{fields_v1}}}]}},
        "spec":{{"project":"default","destination":{{"server":"https://kubernetes.default.svc","namespace":"web"}},
            "source":{{"repoURL":"https://git.example/r.git","path":"chart","helm":{{"valuesObject":{values}}}}},
            "sources":[{{"repoURL":"https://git.example/r.git","path":"chart","helm":{{"valuesObject":{values}}}}}]}},
        "status":{status}}}"#
    )
}

const STATUS: &str = r#"{"sync":{"status":"Synced","revision":"abc"}}"#;

fn list(items: &[String]) -> String {
    format!(
        r#"{{"apiVersion":"argoproj.io/v1alpha1","kind":"ApplicationList","metadata":{{"resourceVersion":"9"}},"items":[{}]}}"#,
        items.join(",")
    )
}

fn values_of(app: &Application) -> (Option<&FreeJson>, Option<&FreeJson>) {
    (values(app.spec.source.as_ref()), values(app.spec.sources.first()))
}

fn values(source: Option<&driftless_api::ApplicationSource>) -> Option<&FreeJson> {
    source.and_then(|s| s.helm.as_ref()).and_then(|h| h.values_object.as_ref())
}

#[test]
fn one_app_nested_deeper_than_serde_json_reads_leaves_every_other_app_of_the_list_readable() {
    let deep = maps(300, "1");
    let text = list(&[
        app("deep-values", &deep, STATUS, "{}"),
        app("deep-status", "{}", &format!(r#"{{"sync":{{"status":"Synced"}},"x":{}}}"#, arrays(300, "")), "{}"),
        app(
            "deep-status-values",
            "{}",
            &format!(r#"{{"history":[{{"id":1,"revision":"a","source":{{"helm":{{"valuesObject":{deep}}}}}}}]}}"#),
            "{}",
        ),
        app("deep-managed-fields", "{}", STATUS, &maps(305, "{}")),
        app("web", r#"{"replicas":2}"#, STATUS, r#"{"f:spec":{}}"#),
    ]);
    // The document itself is beyond what serde_json reads as a tree.
    let e = serde_json::from_str::<Value>(&text).expect_err("nested deeper than 128");
    assert!(e.to_string().contains("recursion limit exceeded"), "{e}");

    let apps = serde_json::from_str::<ObjectList<Application>>(&text).expect("the list reads").items;
    let names: Vec<_> = apps.iter().map(|a| a.metadata.name.as_deref().unwrap_or_default()).collect();
    assert_eq!(names, ["deep-values", "deep-status", "deep-status-values", "deep-managed-fields", "web"]);
    assert_eq!(values_of(&apps[0]), (Some(&FreeJson::TooDeep), Some(&FreeJson::TooDeep)), "the deep values are marked, not read");
    assert_eq!(apps[0].spec.project, "default", "the rest of the app reads");
    assert_eq!(apps[0].status.as_ref().map(|s| s.sync.revision.as_deref()), Some(Some("abc")));
    assert_eq!(apps[1].status, None, "a status too deep to read reads as none, as one of the wrong shape");
    assert_eq!(apps[2].status, None, "a status is read whole or not at all");
    assert_eq!(apps[3].metadata.managed_fields, None, "managedFields are not read");
    assert_eq!(apps[3].metadata.resource_version.as_deref(), Some("7"));
    let web = values_of(&apps[4]).0.expect("values").value().expect("read whole");
    assert_eq!(web, &json!({ "replicas": 2 }));
    assert_eq!(apps[4].status.as_ref().map(|s| s.sync.revision.as_deref()), Some(Some("abc")));

    // A watch delivers the same app alone.
    let event = format!(r#"{{"type":"MODIFIED","object":{}}}"#, app("deep-values", &deep, STATUS, &maps(305, "{}")));
    match serde_json::from_str::<WatchEvent<Application>>(&event).expect("the event reads") {
        WatchEvent::Modified(a) => assert_eq!(values_of(&a).0, Some(&FreeJson::TooDeep)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_value_reads_whole_to_the_limit_and_not_a_level_deeper() {
    for nest in [maps as fn(usize, &str) -> String, arrays] {
        let at_limit = serde_json::from_str::<Application>(&app("a", &nest(MAX_DEPTH, "\"x\""), STATUS, "{}")).expect("reads");
        let expected: Value = serde_json::from_str(&nest(MAX_DEPTH, "\"x\"")).expect("serde_json reads 100 levels");
        assert_eq!(values_of(&at_limit).0, Some(&FreeJson::Read(expected)));
        let beyond = serde_json::from_str::<Application>(&app("a", &nest(MAX_DEPTH + 1, "\"x\""), STATUS, "{}")).expect("reads");
        assert_eq!(values_of(&beyond).0, Some(&FreeJson::TooDeep));
    }
}

#[test]
fn an_app_holding_a_value_not_read_cannot_be_written_back() {
    let read = serde_json::from_str::<Application>(&app("a", &maps(300, "1"), STATUS, "{}")).expect("reads");
    let e = serde_json::to_string(&read).expect_err("writing it would lose the values");
    assert!(e.to_string().contains(&format!("nested deeper than {MAX_DEPTH} levels")), "{e}");
    let whole = serde_json::from_str::<Application>(&app("a", r#"{"a":[1,{"b":null}]}"#, STATUS, "{}")).expect("reads");
    let again: Application = serde_json::from_str(&serde_json::to_string(&whole).expect("writes")).expect("reads back");
    assert_eq!(values_of(&again), values_of(&whole));
}

#[test]
fn one_set_nested_deeper_than_serde_json_reads_leaves_every_other_set_of_the_list_readable() {
    let deep = maps(300, "1");
    let set = |name: &str, generators: &str, fields_v1: &str| {
        format!(
            r#"{{"apiVersion":"argoproj.io/v1alpha1","kind":"ApplicationSet","metadata":{{"name":"{name}","namespace":"argocd",
            "managedFields":[{{"manager":"m","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{fields_v1}}}]}},
            "spec":{{"generators":{generators},"template":{{"metadata":{{"name":"x"}},"spec":{{"project":"default","destination":{{}}}}}}}}}}"#
        )
    };
    let text = format!(
        r#"{{"metadata":{{}},"items":[{},{},{},{},{}]}}"#,
        set("elements", &format!(r#"[{{"list":{{"elements":[{deep},{{"ok":1}}]}}}}]"#), "{}"),
        set("nested", &format!(r#"[{{"matrix":{{"generators":[{{"list":{{"elements":[]}}}},{{"matrix":{deep}}}]}}}}]"#), "{}"),
        set("parameters", &format!(r#"[{{"plugin":{{"configMapRef":{{"name":"p"}},"input":{{"parameters":{{"p":{deep}}}}}}}}}]"#), "{}"),
        set("managed-fields", r#"[{"list":{"elements":[]}}]"#, &maps(305, "{}")),
        set("web", r#"[{"list":{"elements":[{"cluster":"a"}]},"selector":{"matchLabels":{"cluster":"a"}}}]"#, "{}"),
    );
    let sets = serde_json::from_str::<ObjectList<ApplicationSet>>(&text).expect("the list reads").items;
    let list = |s: &ApplicationSet| s.spec.generators[0].list.clone().expect("a list generator");
    assert_eq!(list(&sets[0]).elements, [FreeJson::TooDeep, FreeJson::Read(json!({ "ok": 1 }))]);
    let matrix = sets[1].spec.generators[0].matrix.as_ref().expect("a matrix");
    assert_eq!(matrix.generators[1].matrix, Some(FreeJson::TooDeep));
    let plugin = sets[2].spec.generators[0].plugin.as_ref().expect("a plugin");
    assert_eq!(plugin.input.as_ref().map(|i| &i.parameters["p"]), Some(&FreeJson::TooDeep));
    assert_eq!(sets[3].metadata.managed_fields, None);
    assert_eq!(list(&sets[4]).elements, [FreeJson::Read(json!({ "cluster": "a" }))]);
    assert!(sets[4].spec.generators[0].selector.is_some());
}

/// A random JSON value of exactly `depth` levels of arrays and objects,
/// with scalars (strings with escapes among them) beside the deepest path.
fn random_value(rng: &mut Rng, depth: usize) -> String {
    let scalar = |rng: &mut Rng| match rng.below(6) {
        0 => "null".to_string(),
        1 => "true".to_string(),
        2 => format!("{}", rng.next() as i64),
        3 => format!("{}.5e-3", rng.below(1000)),
        4 => r#""a \"quoted\" \\ {[ text \u00e9""#.to_string(),
        _ => r#""""#.to_string(),
    };
    let mut text = scalar(rng);
    for level in 0..depth {
        let sibling = scalar(rng);
        text = match (rng.below(2), rng.below(3)) {
            (0, 0) => format!("[{text}]"),
            (0, 1) => format!("[{sibling},{text}]"),
            (0, _) => format!("[{text},{sibling},[]]"),
            (_, 0) => format!(r#"{{"k{level}":{text}}}"#),
            (_, 1) => format!(r#"{{"s":{sibling},"k":{text}}}"#),
            (_, _) => format!(r#"{{"k":{text},"e":{{}},"s":{sibling}}}"#),
        };
    }
    text
}

#[test]
fn fuzz_apps_of_random_depth_in_a_list_read_or_are_marked_and_never_fail_the_list() {
    let mut rng = Rng(0x5eed_deef_1234_5678);
    let web_alone: Application = serde_json::from_str(&app("web", r#"{"x":1}"#, STATUS, "{}")).expect("reads");
    for round in 0..200 {
        let depth = rng.below(260);
        let values = random_value(&mut rng, depth);
        let (fields_depth, status_depth) = (rng.below(320), rng.below(320));
        let fields_v1 = random_value(&mut rng, fields_depth);
        let status = match rng.below(3) {
            0 => STATUS.to_string(),
            1 => format!(r#"{{"sync":{{"status":"Synced"}},"extra":{}}}"#, random_value(&mut rng, status_depth)),
            _ => random_value(&mut rng, status_depth),
        };
        let mut items = vec![app("web", r#"{"x":1}"#, STATUS, "{}"), app("fuzzed", &values, &status, &fields_v1)];
        if rng.below(2) == 0 {
            items.reverse();
        }
        let text = list(&items);
        let apps = serde_json::from_str::<ObjectList<Application>>(&text)
            .unwrap_or_else(|e| panic!("round {round}: depth {depth}: the list did not read: {e}"))
            .items;
        let web = apps.iter().find(|a| a.metadata.name.as_deref() == Some("web")).expect("web");
        assert_eq!(web, &web_alone, "round {round}: the other app reads whole");
        let fuzzed = apps.iter().find(|a| a.metadata.name.as_deref() == Some("fuzzed")).expect("fuzzed");
        match values_of(fuzzed).0.expect("valuesObject") {
            FreeJson::TooDeep => assert!(depth > MAX_DEPTH, "round {round}: depth {depth} is within the limit"),
            FreeJson::Read(v) => {
                assert!(depth <= MAX_DEPTH, "round {round}: depth {depth} read whole");
                assert_eq!(v, &serde_json::from_str::<Value>(&values).expect("serde_json reads it alone"), "round {round}");
            }
        }
        // Cut anywhere, the text is an error, never a panic.
        let cut = rng.below(text.len());
        assert!(serde_json::from_str::<ObjectList<Application>>(&text[..cut]).is_err(), "round {round}: cut at {cut}");
    }
}
