//! Tests of the public API as the controller and CLI use it.

use driftless_diff::{Comparison, DiffOptions, Error, IgnoreDifference, compare, compare_subset, mask_secrets, normalize, unified_diff};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

fn secret_with(value_b64: &str, plain: &str) -> Value {
    let last_applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"token": plain}});
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied.to_string()}},
        "data": {"token": value_b64}
    })
}

#[test]
fn unified_diff_never_leaks_secret_values() {
    // "s3cr3t-live" and "s3cr3t-git" in base64.
    let live = secret_with("czNjcjN0LWxpdmU=", "s3cr3t-live");
    let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
        "stringData": {"token": "s3cr3t-git", "extra": "s3cr3t-extra"}});
    for (l, d) in [(Some(&live), Some(&desired)), (Some(&live), None), (None, Some(&desired))] {
        let out = unified_diff("v1/Secret/n/s", l, d);
        assert!(!out.is_empty());
        for needle in ["s3cr3t", "czNjcjN0", "++++++++ s3"] {
            assert!(!out.contains(needle), "{needle} leaked:\n{out}");
        }
        assert!(out.contains("++++++++"), "{out}");
    }
    // Both sides differ, so the masks for `token` differ too.
    let (l, d) = mask_secrets(Some(&live), Some(&desired));
    let (l, d) = (l.expect("live"), d.expect("desired"));
    assert_ne!(l["data"]["token"], d["data"]["token"]);
}

#[test]
fn same_secret_values_give_an_empty_diff() {
    let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}});
    let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}});
    assert_eq!(unified_diff("s", Some(&live), Some(&desired)), "");
}

#[test]
fn errors_name_the_bad_rule() {
    let rules = [IgnoreDifference {
        group: Some("apps".into()),
        kind: "Deployment".into(),
        jq_path_expressions: vec![".spec | nosuch(1)".into()],
        ..Default::default()
    }];
    let err = DiffOptions::new(&rules).expect_err("undefined function");
    assert!(matches!(&err, Error::InvalidJqExpression { index: 0, expression, .. } if expression == ".spec | nosuch(1)"));
    let msg = err.to_string();
    assert!(msg.contains(".spec | nosuch(1)") && msg.contains("Deployment"), "{msg}");

    let rules = [IgnoreDifference { kind: "ConfigMap".into(), json_pointers: vec!["data/x".into()], ..Default::default() }];
    let err = DiffOptions::new(&rules).expect_err("no leading slash");
    assert!(err.to_string().contains("\"data/x\""), "{err}");
}

#[test]
fn ignore_differences_reads_argo_cd_spelling() {
    let rules: Vec<IgnoreDifference> = serde_json::from_value(json!([
        {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
        {"kind": "ConfigMap", "name": "c", "namespace": "n", "jqPathExpressions": [".data.x"],
         "managedFieldsManagers": ["kube-controller-manager"]}
    ]))
    .expect("Argo CD shape");
    assert_eq!(rules[0].json_pointers, ["/spec/replicas"]);
    assert_eq!(rules[1].group, None);
    assert_eq!(rules[1].managed_fields_managers, ["kube-controller-manager"]);
    assert!(DiffOptions::new(&rules).is_ok());
}

#[test]
fn options_are_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DiffOptions>();
}

#[test]
fn normalize_uses_own_managed_fields_without_live() {
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "managedFields": [
            {"manager": "hpa", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]},
        "spec": {"replicas": 4}
    });
    let opts = DiffOptions::new(&[IgnoreDifference {
        group: Some("apps".into()),
        kind: "Deployment".into(),
        managed_fields_managers: vec!["hpa".into()],
        ..Default::default()
    }])
    .expect("valid");
    // `spec` became empty, and empty maps are dropped after rules apply.
    assert_eq!(normalize(&obj, None, &opts), json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}));
}

#[test]
fn desired_without_namespace_matches_namespaced_rule() {
    let live =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}, "data": {"x": "1", "y": "live"}});
    let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1", "y": "git"}});
    let opts = DiffOptions::new(&[IgnoreDifference {
        kind: "ConfigMap".into(),
        namespace: Some("team-a".into()),
        json_pointers: vec!["/data/y".into()],
        ..Default::default()
    }])
    .expect("valid");
    assert!(compare_subset(&desired, &live, &opts).in_sync);
    let d = normalize(&desired, Some(&live), &opts);
    assert_eq!(d["data"], json!({"x": "1"}));
}

#[test]
fn missing_object_is_out_of_sync() {
    let c = Comparison::missing();
    assert!(!c.in_sync);
    assert_eq!(c.changed, [""]);
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(compare(&obj, &obj, &DiffOptions::default()), Comparison { in_sync: true, changed: vec![] });
}

/// The YAML the diff shows must read back as the same object: quoting is
/// what keeps `"true"`, `"8080"` or `"1e3"` strings from turning into
/// booleans and numbers. Checked on every fixture object (Secrets aside,
/// since they are masked).
#[test]
fn rendered_yaml_reads_back_as_the_same_object() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut checked = 0;
    let mut objects: Vec<Value> = vec![
        json!({"weird": {"": "", "yes": "no", "k: v": "#x", "n": [["a"], [], {}], "multi": "a\n b\n", "tab": "a\tb", "nel": "a\u{85}b\u{2028}", "multi-ctl": "a\n\u{7}\n", "top": "x", "num": "007", "f": 1.5, "neg": -3, "unicode": "é ☃"}}),
        json!("top-level\nblock\n"),
        json!(["a", {"b": [1, {"c": null}]}, [[]]]),
    ];
    for dir in fs::read_dir(&root).expect("testdata") {
        for file in fs::read_dir(dir.expect("entry").path()).into_iter().flatten() {
            let path = file.expect("entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name == "expect.yaml" || !name.ends_with(".yaml") {
                continue;
            }
            let text = fs::read_to_string(&path).expect("readable");
            let obj: Value = serde_saphyr::from_str(&text).expect("fixture parses");
            if obj["kind"] != "Secret" {
                objects.push(obj);
            }
        }
    }
    for obj in objects {
        let diff = unified_diff("x", None, Some(&obj));
        let yaml: String = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).map(|l| format!("{}\n", &l[1..])).collect();
        let back: Value = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(back, obj, "\n{yaml}");
        checked += 1;
    }
    assert!(checked > 20);
}
