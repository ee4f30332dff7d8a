//! What Argo CD users rely on: their templates, `goTemplateOptions`, the functions Argo CD
//! removes, and bounds on hostile templates.

use driftless_gotemplate::{Error, MissingKey, Options, Template, render};
use serde_json::json;

fn go(text: &str, data: &serde_json::Value) -> Result<String, Error> {
    render(text, data, &Options::default())
}

fn strict() -> Options {
    Options::from_go_template_options(&["missingkey=error".to_string()]).unwrap()
}

#[test]
fn an_argo_cd_git_directory_template_renders_every_field() {
    // Parameters as Argo CD's git directory generator makes them, plus a values object.
    let params = json!({
        "path": {"path": "apps/guestbook", "basename": "guestbook", "basenameNormalized": "guestbook",
                 "segments": ["apps", "guestbook"]},
        "name": "Guest_Book App",
        "values": {"replicas": 2, "image": {"repo": "nginx", "tag": "1.25"}, "ports": [80, 443]},
    });
    let fields = [
        ("{{.path.basename}}", "guestbook"),
        ("{{index .path.segments 1}}", "guestbook"),
        ("{{ .name | normalize }}", "guest-book-app"),
        ("{{ .name | slugify }}", "guest-book-app"),
        ("{{ .path.path }}/overlays/{{ dig \"env\" \"dev\" . }}", "apps/guestbook/overlays/dev"),
        (
            "values:{{ toYaml .values | nindent 4 }}",
            "values:\n    image:\n      repo: nginx\n      tag: \"1.25\"\n    ports:\n    - 80\n    - 443\n    replicas: 2",
        ),
        ("{{ if eq (len .path.segments) 2 }}top{{ else }}nested{{ end }}", "top"),
    ];
    for (text, want) in fields {
        let t = Template::parse(text).unwrap();
        assert_eq!(t.execute(&params, &strict()).unwrap(), want, "{text}");
    }
}

#[test]
fn a_parsed_template_is_shared_and_reused() {
    fn shareable<T: Send + Sync + Clone>(_: &T) {}
    let t = Template::parse("{{ .cluster }}-{{ .n }}").unwrap();
    shareable(&t);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || t.execute(&json!({"cluster": "c", "n": i}), &Options::default()).unwrap())
        })
        .collect();
    let outs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs, ["c-0", "c-1", "c-2", "c-3"]);
}

#[test]
fn go_template_options_are_read_as_argo_cd_passes_them() {
    let read = |o: &[&str]| Options::from_go_template_options(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(read(&[]).unwrap().missing_key, MissingKey::Default);
    assert_eq!(read(&["missingkey=error"]).unwrap().missing_key, MissingKey::Error);
    assert_eq!(read(&["missingkey=zero"]).unwrap().missing_key, MissingKey::Zero);
    assert_eq!(read(&["missingkey=invalid"]).unwrap().missing_key, MissingKey::Default);
    assert_eq!(read(&["missingkey=error", "missingkey=default"]).unwrap().missing_key, MissingKey::Default);
    let err = read(&["missingkey=panic"]).unwrap_err();
    assert_eq!(err.to_string(), "unrecognized option: missingkey=panic");
    assert!(read(&["strict"]).unwrap_err().to_string().contains("strict"));
}

#[test]
fn missing_keys_follow_the_option() {
    let data = json!({"a": {"b": 1}});
    assert_eq!(go("{{ .nope }}|{{ .a.nope }}", &data).unwrap(), "<no value>|<no value>");
    let zero = Options { missing_key: MissingKey::Zero };
    assert_eq!(render("{{ .nope }}", &data, &zero).unwrap(), "<no value>");
    let err = render("x\n {{.a.nope}}", &data, &strict()).unwrap_err();
    assert_eq!(err.to_string(), "template: :2:5: executing \"\" at <.a.nope>: map has no entry for key \"nope\"");
    assert!(matches!(err, Error::Exec { line: 2, col: 5, .. }));
    // `default` cannot rescue a missing key under missingkey=error, as in Go.
    assert!(render("{{ .nope | default \"x\" }}", &data, &strict()).is_err());
    assert_eq!(render("{{ hasKey . \"nope\" }}", &data, &strict()).unwrap(), "false");
}

#[test]
fn functions_argo_cd_removes_are_unknown() {
    // Security: a template must not read the controller's environment or resolve names.
    for f in ["env \"HOME\"", "expandenv \"$HOME\"", "getHostByName \"example.com\""] {
        let name = f.split(' ').next().unwrap();
        let err = Template::parse(&format!("{{{{ {f} }}}}")).unwrap_err();
        assert_eq!(err.to_string(), format!("template: :1: function \"{name}\" not defined"));
        assert!(matches!(err, Error::Parse { line: 1, .. }));
    }
}

#[test]
fn parse_errors_name_the_line() {
    let err = Template::parse("ok\n{{ if .a }}\n{{ nosuch }}").unwrap_err();
    assert_eq!(err.to_string(), "template: :3: function \"nosuch\" not defined");
    assert!(Template::parse("{{ if .a }}no end").is_err());
    assert!(Template::parse("{{ .a ").is_err());
}

fn limited(text: &str, data: &serde_json::Value) {
    match render(text, data, &Options::default()) {
        Err(Error::Limit { .. }) => {}
        other => panic!("{text}: expected a limit, got {other:?}"),
    }
}

#[test]
fn hostile_templates_stop_at_limits() {
    let data = json!({"s": "x".repeat(1000)});
    // Output size.
    limited("{{ range 100000 }}{{ $.s }}{{ end }}", &data);
    limited("{{ repeat 1000000000 \"ab\" }}", &data);
    limited("{{ printf \"%0999999999d\" 1 }}{{ printf \"%0999999999d\" 1 }}", &data);
    // Steps: a loop that prints nothing still ends.
    limited("{{ range 1000000000 }}{{ end }}", &data);
    // Values made: doubling a list.
    limited("{{ $l := list 1 }}{{ range 100 }}{{ $l = concat $l $l }}{{ end }}", &data);
    limited("{{ until 100000000 }}", &data);
    // A map that holds itself cannot be printed or encoded forever.
    limited("{{ $d := dict }}{{ $_ := set $d \"me\" $d }}{{ $d }}", &data);
    limited("{{ $d := dict }}{{ $_ := set $d \"me\" $d }}{{ mustToJson $d }}", &data);
    // Recursion through templates.
    let err = go("{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}", &data).unwrap_err();
    assert!(err.to_string().contains("exceeded maximum template depth (100)"), "{err}");
    // Recursion with control structures at each level ends before the stack does.
    let nested = "{{ define \"r\" }}{{ if 1 }}{{ with 1 }}{{ range 1 }}{{ template \"r\" (add 1 (add 1 $)) }}{{ end }}{{ end }}{{ end }}{{ end }}{{ template \"r\" 0 }}";
    assert!(go(nested, &data).is_err());
    // Deep nesting is refused when parsing.
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    assert!(Template::parse(&deep).is_err());
    let ifs = format!("{}x{}", "{{ if 1 }}".repeat(500), "{{ end }}".repeat(500));
    assert!(Template::parse(&ifs).is_err());
}

#[test]
fn nesting_within_the_limits_runs() {
    let ifs = format!("{}x{}", "{{ if 1 }}".repeat(90), "{{ end }}".repeat(90));
    assert_eq!(go(&ifs, &json!({})).unwrap(), "x");
    let countdown = "{{ define \"r\" }}{{ if . }}{{ . }}{{ template \"r\" (sub . 1) }}{{ end }}{{ end }}{{ template \"r\" 90 }}";
    assert!(go(countdown, &json!({})).unwrap().starts_with("908988"));
}

/// A small deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

#[test]
fn random_templates_never_panic() {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        ".",
        ".a",
        ".b.c",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2",
        "3.5",
        "0x1f",
        "nil",
        "true",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "\"t\"",
        "/*",
        "*/",
        "printf",
        "\"%v %d %s %q\"",
        "index",
        "len",
        "slice",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "default",
        "dict",
        "list",
        "set",
        "get",
        "toYaml",
        "toJson",
        "fromJson",
        "repeat",
        "until",
        "seq",
        "merge",
        "append",
        "concat",
        "regexReplaceAll",
        "\"(a*)*\"",
        "indent",
        "trunc",
        "substr",
        "normalize",
        "slugify",
        "text\n",
        "é",
        ",",
        "$.a",
        "print",
        "html",
        "js",
        "urlquery",
        "sub",
        "div",
        "mod",
        "b64dec",
        "semverCompare",
        "dig",
        "pick",
        "keys",
        "first",
        "rest",
        "chunk",
        "deepCopy",
        "call",
        "fail",
        "atoi",
        "int",
        "float64",
        "splitList",
        "uniq",
    ];
    let data = json!({"a": [1, "two", null, {"x": 3.5}], "b": {"c": {"d": "e"}}, "s": "str", "n": 3});
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut rendered = 0;
    for _ in 0..5000 {
        let n = 1 + rng.next() % 24;
        let text: String = (0..n).map(|_| rng.pick(PIECES)).collect();
        if let Ok(t) = Template::parse(&text) {
            for missing_key in [MissingKey::Default, MissingKey::Error] {
                if let Ok(out) = t.execute(&data, &Options { missing_key }) {
                    assert!(out.len() <= 4 << 20);
                    rendered += 1;
                }
            }
        }
    }
    // Well-formed actions (an action around one random piece) too.
    for _ in 0..3000 {
        let n = 1 + rng.next() % 6;
        let body: Vec<&str> = (0..n).map(|_| rng.pick(PIECES)).collect();
        let text = format!("{{{{ {} }}}}", body.join(" "));
        if let Ok(t) = Template::parse(&text)
            && t.execute(&data, &Options::default()).is_ok()
        {
            rendered += 1;
        }
    }
    assert!(rendered > 100, "the generator should produce some valid templates, got {rendered}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let len = rng.next() % 40;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let b = (rng.next() % 128) as u8;
                // Mostly template syntax, so that the lexer sees actions.
                if b.is_multiple_of(3) { b"{}.$|()\"'`- "[(b % 12) as usize] } else { b }
            })
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(t) = Template::parse(&text) {
            let _ = t.execute(&json!({"a": 1}), &Options::default());
        }
    }
}
