//! `call` reaches the caller's host functions, and nothing else.

use std::sync::Arc;

use driftless_gotemplate::{HostFuncs, Options, Template};
use serde_json::{Value, json};

fn host() -> HostFuncs {
    HostFuncs::default()
        .with(
            "repo.Upper",
            Arc::new(|args: &[Value]| {
                Ok(json!(args.iter().map(|a| a.as_str().unwrap_or("?").to_uppercase()).collect::<Vec<_>>().join("+")))
            }),
        )
        .with("repo.Meta", Arc::new(|_: &[Value]| Ok(json!({"Author": "alice", "Tags": ["v1", "v2"]}))))
        .with("repo.Fails", Arc::new(|_: &[Value]| Err("no repository here".to_string())))
}

fn run(text: &str, data: Value) -> Result<String, String> {
    Template::parse(text).map_err(|e| e.to_string())?.execute_with(&data, &Options::default(), &host()).map_err(|e| e.to_string())
}

#[test]
fn call_passes_arguments_and_pipes_and_reads_fields_of_results() {
    assert_eq!(run("{{call .repo.Upper .a \"b\"}}", json!({"a": "x"})).unwrap(), "X+B");
    assert_eq!(run("{{.a | call .repo.Upper}}", json!({"a": "x"})).unwrap(), "X");
    assert_eq!(
        run("{{(call .repo.Meta \"sha\").Author}} {{range (call .repo.Meta 1).Tags}}{{.}} {{end}}", json!({})).unwrap(),
        "alice v1 v2 "
    );
}

#[test]
fn call_of_data_or_unknown_names_fails_as_go_does() {
    let err = run("{{call .a}}", json!({"a": "x"})).unwrap_err();
    assert!(err.contains("non-function .a of type string"), "{err}");
    let err = run("{{call .repo.Missing 1}}", json!({"repo": {}})).unwrap_err();
    assert!(err.contains("non-function"), "{err}");
    let err = run("{{call .repo.Fails}}", json!({})).unwrap_err();
    assert!(err.contains("error calling call: no repository here"), "{err}");
    // Without host functions, `call` reaches nothing.
    let err = Template::parse("{{call .repo.Upper 1}}").unwrap().execute(&json!({}), &Options::default()).unwrap_err().to_string();
    assert!(err.contains("non-function"), "{err}");
}
