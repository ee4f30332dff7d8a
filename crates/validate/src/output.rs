//! A report written for people (grouped by app, then file), as JSON, as
//! JUnit XML (a test suite per app, a test case per object) or as GitHub
//! Actions workflow commands (annotations on the files of a pull request).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::finding::{AppReport, Finding, Report, Severity};

/// The summary line: `3 apps, 12 objects: 2 errors, 1 warning, 0 notices`.
pub fn summary(report: &Report) -> String {
    let s = &report.summary;
    let n = |count: usize, what: &str| format!("{count} {what}{}", if count == 1 { "" } else { "s" });
    format!(
        "{}, {} (Kubernetes {}): {}, {}, {}",
        n(s.apps, "app"),
        n(s.objects, "object"),
        report.kubernetes_version,
        n(s.errors, "error"),
        n(s.warnings, "warning"),
        n(s.notices, "notice")
    )
}

/// For people: each app with its manifest and counts, its findings grouped
/// by file (`line: severity  object: path: message`), then the findings
/// about the repository, then the summary.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for app in &report.apps {
        let errors = app.findings.iter().filter(|f| f.severity == Severity::Error).count();
        let state = if errors == 0 { "ok".to_string() } else { format!("{errors} error{}", if errors == 1 { "" } else { "s" }) };
        let (name, at) = (one_line(&app.name), one_line(&place(&app.location.file, app.location.line)));
        let _ = writeln!(out, "app {name} ({at}): {} objects, {state}", app.objects.len());
        write_grouped(&mut out, &app.findings);
    }
    if !report.findings.is_empty() {
        out.push_str("repository\n");
        write_grouped(&mut out, &report.findings);
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

fn write_grouped(out: &mut String, findings: &[Finding]) {
    let mut by_file: BTreeMap<Option<&str>, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_file.entry(f.location.file.as_deref()).or_default().push(f);
    }
    for (file, findings) in by_file {
        let _ = writeln!(out, "  {}", one_line(file.unwrap_or("(rendered; no file found for it)")));
        for f in findings {
            let line = f.location.line.map(|l| format!("{l}: ")).unwrap_or_default();
            let _ = writeln!(out, "    {line}{:<7} {}", f.severity.as_str(), one_line(&describe(f)));
        }
    }
}

/// `Deployment ns/web: spec.replicas: expected integer, got string "x"`.
fn describe(f: &Finding) -> String {
    let mut s = String::new();
    if let Some(o) = &f.object {
        let _ = write!(s, "{o}: ");
    }
    if let Some(p) = &f.path {
        let _ = write!(s, "{p}: ");
    }
    if let Some(r) = &f.rule {
        let _ = write!(s, "[{r}] ");
    }
    s.push_str(&f.message);
    s
}

/// A message on one line for a terminal: a multi-line tool output is
/// joined, and control characters (escape sequences a hostile name could
/// hold) are replaced.
fn one_line(s: &str) -> String {
    let joined = s.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ");
    joined.chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

fn place(file: &Option<String>, line: Option<u32>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!("{f}:{l}"),
        (Some(f), None) => f.clone(),
        _ => "generated".into(),
    }
}

/// The report as JSON: the shape of [`Report`] (documented in the README).
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    s.push('\n');
    s
}

/// JUnit XML: a `testsuite` per app (and one, `repository`, for findings
/// about no app), a `testcase` `render` for the app itself and one per
/// object; errors are `failure`s, warnings and notices `system-out`.
pub fn junit(report: &Report) -> String {
    let mut suites = String::new();
    let (mut total, mut failed) = (0usize, 0usize);
    for app in &report.apps {
        let (xml, tests, failures) = suite(&app.name, app);
        suites.push_str(&xml);
        total += tests;
        failed += failures;
    }
    if !report.findings.is_empty() {
        let repo =
            AppReport { name: "repository".into(), location: Default::default(), objects: Vec::new(), findings: report.findings.clone() };
        let (xml, tests, failures) = suite("repository", &repo);
        suites.push_str(&xml);
        total += tests;
        failed += failures;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"driftless validate\" tests=\"{total}\" failures=\"{failed}\" errors=\"0\">\n{suites}</testsuites>\n"
    )
}

fn suite(name: &str, app: &AppReport) -> (String, usize, usize) {
    let mut cases = String::new();
    let (mut tests, mut failures) = (0, 0);
    let mut case = |case_name: &str, file: Option<&str>, line: Option<u32>, findings: Vec<&Finding>| {
        tests += 1;
        let mut attrs = format!("name=\"{}\" classname=\"{}\"", xml(case_name), xml(name));
        if let Some(f) = file {
            let _ = write!(attrs, " file=\"{}\"", xml(f));
        }
        if let Some(l) = line {
            let _ = write!(attrs, " line=\"{l}\"");
        }
        let (errors, others): (Vec<&Finding>, Vec<&Finding>) = findings.into_iter().partition(|f| f.severity == Severity::Error);
        let mut body = String::new();
        if let Some(first) = errors.first() {
            failures += 1;
            let text: Vec<String> = errors.iter().map(|f| format!("{}{}", at(f), describe(f))).collect();
            let _ = writeln!(
                body,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                xml(&describe(first)),
                xml(&serde_json::to_value(first.kind).ok().and_then(|k| k.as_str().map(str::to_string)).unwrap_or_default()),
                xml(&text.join("\n"))
            );
        }
        if !others.is_empty() {
            let text: Vec<String> = others.iter().map(|f| format!("{}: {}{}", f.severity.as_str(), at(f), describe(f))).collect();
            let _ = writeln!(body, "      <system-out>{}</system-out>", xml(&text.join("\n")));
        }
        if body.is_empty() {
            let _ = writeln!(cases, "    <testcase {attrs}/>");
        } else {
            let _ = write!(cases, "    <testcase {attrs}>\n{body}    </testcase>\n");
        }
    };
    case("render", app.location.file.as_deref(), app.location.line, app.findings.iter().filter(|f| f.object.is_none()).collect());
    for o in &app.objects {
        let findings = app.findings.iter().filter(|f| f.object.as_ref() == Some(&o.object)).collect();
        case(&o.object.to_string(), o.location.file.as_deref(), o.location.line, findings);
    }
    let xml_suite = format!(
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n{cases}  </testsuite>\n",
        xml(name)
    );
    (xml_suite, tests, failures)
}

fn at(f: &Finding) -> String {
    match (&f.location.file, f.location.line) {
        (Some(file), Some(l)) => format!("{file}:{l}: "),
        (Some(file), None) => format!("{file}: "),
        _ => String::new(),
    }
}

/// Text as XML 1.0 attribute or element content: markup escaped, and the
/// characters XML 1.0 cannot hold at all replaced.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// GitHub Actions workflow commands: `::error file=F,line=L,title=T::message`
/// per finding (`::warning`, `::notice`), then the summary as plain text.
pub fn github(report: &Report) -> String {
    let mut out = String::new();
    let mut emit = |app: Option<&str>, f: &Finding| {
        let mut props = Vec::new();
        if let Some(file) = &f.location.file {
            props.push(format!("file={}", gh_property(file)));
        }
        if let Some(line) = f.location.line {
            props.push(format!("line={line}"));
        }
        let title = match (app, &f.object) {
            (Some(a), Some(o)) => format!("{a}: {o}"),
            (Some(a), None) => a.to_string(),
            (None, _) => "repository".to_string(),
        };
        props.push(format!("title={}", gh_property(&title)));
        let _ = writeln!(out, "::{} {}::{}", f.severity.as_str(), props.join(","), gh_data(&describe(f)));
    };
    for app in &report.apps {
        for f in &app.findings {
            emit(Some(&app.name), f);
        }
    }
    for f in &report.findings {
        emit(None, f);
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

/// A command's message, escaped as the Actions runner unescapes it; other
/// control characters (escape sequences the log would show) replaced.
fn gh_data(s: &str) -> String {
    let escaped = s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    escaped.chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

/// A command's property value: its message escapes, and `:` and `,`.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{CheckedObject, Kind, Location, ObjectRef};

    fn report() -> Report {
        let web = ObjectRef { api_version: "apps/v1".into(), kind: "Deployment".into(), namespace: Some("ns".into()), name: "web".into() };
        let hostile = ObjectRef { api_version: "v1".into(), kind: "ConfigMap".into(), namespace: None, name: "<x a=\"1\">&'\u{1}".into() };
        let at = |file: &str, line: u32| Location { file: Some(file.into()), line: Some(line) };
        let mut schema =
            Finding::new(Severity::Error, Kind::Schema, "unknown field (not in the schema)").about(&web).at(at("base/deploy.yaml", 3));
        schema.path = Some("spec.replicaz".into());
        let mut policy =
            Finding::new(Severity::Warning, Kind::Policy, "100%: a,b:c\r\nnext line]]></failure>").about(&hostile).at(at("a:b,c%.yaml", 1));
        policy.rule = Some("limits.warn".into());
        let apps = vec![AppReport {
            name: "web, \"app\"".into(),
            location: at("apps/web.yaml", 1),
            objects: vec![
                CheckedObject { object: web, location: at("base/deploy.yaml", 3) },
                CheckedObject { object: hostile, location: at("a:b,c%.yaml", 1) },
            ],
            findings: vec![schema, policy],
        }];
        let repo = vec![
            Finding::new(Severity::Notice, Kind::SopsEncrypted, "secret.enc.yaml is SOPS-encrypted; no key given")
                .at(at("secret.enc.yaml", 1)),
        ];
        Report::new("1.34".into(), apps, repo)
    }

    #[test]
    fn text_groups_by_app_and_file() {
        assert_eq!(
            text(&report()),
            "app web, \"app\" (apps/web.yaml:1): 2 objects, 1 error\n  a:b,c%.yaml\n    1: warning ConfigMap <x a=\"1\">&'\u{FFFD}: [limits.warn] 100%: a,b:c | next line]]></failure>\n  base/deploy.yaml\n    3: error   Deployment ns/web: spec.replicaz: unknown field (not in the schema)\nrepository\n  secret.enc.yaml\n    1: notice  secret.enc.yaml is SOPS-encrypted; no key given\n1 app, 2 objects (Kubernetes 1.34): 1 error, 1 warning, 1 notice\n"
        );
    }

    #[test]
    fn github_commands_escape_data_and_properties() {
        let out = github(&report());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "::warning file=a%3Ab%2Cc%25.yaml,line=1,title=web%2C \"app\"%3A ConfigMap <x a=\"1\">&'\u{FFFD}::ConfigMap <x a=\"1\">&'\u{FFFD}: [limits.warn] 100%25: a,b:c%0D%0Anext line]]></failure>",
                "::error file=base/deploy.yaml,line=3,title=web%2C \"app\"%3A Deployment ns/web::Deployment ns/web: spec.replicaz: unknown field (not in the schema)",
                "::notice file=secret.enc.yaml,line=1,title=repository::secret.enc.yaml is SOPS-encrypted; no key given",
                "1 app, 2 objects (Kubernetes 1.34): 1 error, 1 warning, 1 notice",
            ]
        );
    }

    #[test]
    fn junit_escapes_everything() {
        let x = junit(&report());
        assert!(x.contains("<testsuite name=\"web, &quot;app&quot;\" tests=\"3\" failures=\"1\""), "{x}");
        assert!(x.contains("name=\"ConfigMap &lt;x a=&quot;1&quot;&gt;&amp;&apos;\u{FFFD}\""), "{x}");
        assert!(x.contains("next line]]&gt;&lt;/failure&gt;"), "{x}");
        assert!(!x.contains('\u{1}'), "no character XML 1.0 forbids");
        assert!(
            x.contains("<failure message=\"Deployment ns/web: spec.replicaz: unknown field (not in the schema)\" type=\"schema\">"),
            "{x}"
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["summary"], serde_json::json!({ "apps": 1, "objects": 2, "errors": 1, "warnings": 1, "notices": 1 }));
        assert_eq!(v["kubernetesVersion"], "1.34");
        assert_eq!(
            v["apps"][0]["findings"][1],
            serde_json::json!({
                "severity": "error", "kind": "schema", "file": "base/deploy.yaml", "line": 3,
                "object": { "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ns", "name": "web" },
                "path": "spec.replicaz", "message": "unknown field (not in the schema)"
            })
        );
        assert_eq!(v["apps"][0]["findings"][0]["rule"], "limits.warn");
        assert_eq!(v["findings"][0]["kind"], "sopsEncrypted");
        assert_eq!(
            v["apps"][0]["objects"][0],
            serde_json::json!({ "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ns", "name": "web", "file": "base/deploy.yaml", "line": 3 })
        );
    }
}
