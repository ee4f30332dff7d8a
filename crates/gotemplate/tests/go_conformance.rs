//! Every case of `go_cases.json` against the output or error Go's text/template with Sprig
//! gives (recorded by `oracle/main.go` from the inputs `oracle/cases.py` writes).

use driftless_gotemplate::{MissingKey, Options, render};

#[derive(serde::Deserialize)]
struct Case {
    template: String,
    #[serde(default)]
    data: serde_json::Value,
    #[serde(default)]
    option: Option<String>,
    output: Option<String>,
    error: Option<String>,
}

/// Cases whose Go result depends on the clock, randomness or Go's own types, with why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("{{ typeOf (add 1 2) }}", "one integer type here: Sprig's int64 results are `int`"),
    ("{{ mustFromJson \"nope\" }}", "the JSON parser's own words for a syntax error"),
    ("{{ first .missing }}", "Go fails with a nil pointer dereference; the error here names the type"),
    ("{{ keys .m }}", "Go's map order is random; keys are sorted here"),
    ("{{ duration 95 }}", "Sprig ignores Go `int` arguments (0s); seconds are honoured here"),
    ("{{ duration 3600 }}", "as above"),
    ("{{ unixEpoch 1700000000 }}", "times are Unix seconds here (`now` gives them), so numbers are accepted"),
];

#[test]
fn templates_render_as_go_renders_them() {
    let cases: Vec<Case> = serde_json::from_str(include_str!("go_cases.json")).unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        if KNOWN_DIFFERENCES.iter().any(|(t, _)| *t == c.template) {
            continue;
        }
        let options = Options {
            missing_key: match c.option.as_deref() {
                Some("missingkey=error") => MissingKey::Error,
                Some("missingkey=zero") => MissingKey::Zero,
                _ => MissingKey::Default,
            },
        };
        let got = render(&c.template, &c.data, &options);
        let ok = match (&got, &c.output, &c.error) {
            (Ok(out), Some(want), _) => out == want,
            (Err(e), None, Some(want)) => &e.to_string() == want,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{:?}\n    go:   {}\n    ours: {}",
                c.template,
                c.output.as_ref().map_or_else(|| format!("ERR {}", c.error.as_deref().unwrap_or("")), |o| format!("{o:?}")),
                match &got {
                    Ok(o) => format!("{o:?}"),
                    Err(e) => format!("ERR {e}"),
                }
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ from Go:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
