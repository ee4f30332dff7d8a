//! Conformance suite: every case under `tests/cases/` is built by
//! `kubectl kustomize` (the reference) and by this crate; the outputs must be
//! the same objects and the same text. Cases listed in
//! `tests/cases/KNOWN_FAILING` must fail (so the list stays honest).
//!
//! Case layout: `tests/cases/<name>/` with a kustomization at its root, or a
//! `TARGET` file naming the directory to build (relative to the case). A case
//! with an `EXPECT_ERROR` file must fail in our build with a message
//! containing that file's text, whatever the reference does (our root
//! confinement is stricter than kustomize's).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use driftless_kustomize::{BuildOptions, build, yaml};
use serde_json::Value;

enum Outcome {
    Pass,
    Fail(String),
}

fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join("kubectl");
        if p.is_file() {
            return p;
        }
    }
    panic!("kubectl not found on PATH: the conformance suite needs `kubectl kustomize` as the reference implementation");
}

/// Integral floats and integers compare equal (`1e3` reads back as `1000`).
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        _ => v.clone(),
    }
}

fn first_diff(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}: reference `{x}` vs ours `{y}`", i + 1);
        }
    }
    format!("length differs: reference {} lines vs ours {} lines", a.lines().count(), b.lines().count())
}

fn run_case(kubectl: &Path, case: &Path) -> Outcome {
    let target = match std::fs::read_to_string(case.join("TARGET")) {
        Ok(t) => case.join(t.trim()),
        Err(_) => case.to_path_buf(),
    };
    // The reference runs without --enable-helm, so it never inflates a
    // chart: ours is given a helm that does not exist, whatever is on PATH.
    let opts = BuildOptions { helm_command: Some(case.join("helm-is-not-here")), ..BuildOptions::new(case) };
    let ours = build(&target, &opts);
    if let Ok(expected) = std::fs::read_to_string(case.join("EXPECT_ERROR")) {
        return match ours {
            Ok(_) => Outcome::Fail("expected an error, build succeeded".into()),
            Err(e) if e.to_string().contains(expected.trim()) => Outcome::Pass,
            Err(e) => Outcome::Fail(format!("error `{e}` does not mention `{}`", expected.trim())),
        };
    }
    let out = match Command::new(kubectl).arg("kustomize").arg(&target).output() {
        Ok(o) => o,
        Err(e) => return Outcome::Fail(format!("running kubectl: {e}")),
    };
    let reference = String::from_utf8_lossy(&out.stdout).into_owned();
    match (out.status.success(), ours) {
        (false, Err(_)) => Outcome::Pass,
        (false, Ok(_)) => {
            let msg = String::from_utf8_lossy(&out.stderr);
            Outcome::Fail(format!("reference errors but we succeed: {}", msg.lines().last().unwrap_or("")))
        }
        (true, Err(e)) => Outcome::Fail(format!("we error: {e}")),
        (true, Ok(b)) => {
            let text = b.to_yaml();
            // The same bytes are the strongest agreement. Parsing them can
            // still disagree: go-yaml takes U+2028 and U+2029 for line
            // breaks inside scalars, YAML 1.2 parsers do not.
            if text == reference {
                return Outcome::Pass;
            }
            let ref_objs = match yaml::parse::parse_documents(&reference) {
                Ok(d) => d.iter().filter(|v| !v.is_null()).map(normalize).collect::<Vec<_>>(),
                Err(e) => return Outcome::Fail(format!("cannot parse reference output: {e}")),
            };
            let ours_objs: Vec<Value> = b.resources.iter().map(normalize).collect();
            if ref_objs != ours_objs {
                let n = ref_objs.len().min(b.resources.len());
                let idx = (0..n).find(|&i| ref_objs[i] != ours_objs[i]).unwrap_or(n);
                return Outcome::Fail(format!(
                    "objects differ ({} vs {} objects; first difference at #{idx}); {}",
                    ref_objs.len(),
                    b.resources.len(),
                    first_diff(&reference, &text)
                ));
            }
            Outcome::Fail(format!("text differs: {}", first_diff(&reference, &text)))
        }
    }
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let kubectl = kubectl();
    let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let known: BTreeMap<String, String> = std::fs::read_to_string(cases_dir.join("KNOWN_FAILING"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((n, r)) => (n.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    if let Some(f) = &filter {
        cases.retain(|c| c.file_name().is_some_and(|n| n.to_string_lossy().contains(f.as_str())));
    }
    let (mut passed, mut problems) = (0usize, Vec::new());
    for case in &cases {
        let name = case.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let outcome = run_case(&kubectl, case);
        let listed = known.contains_key(&name);
        match outcome {
            Outcome::Pass => {
                passed += 1;
                if listed {
                    problems.push(format!("{name}: listed in KNOWN_FAILING but passes; remove it from the list"));
                }
            }
            Outcome::Fail(why) => {
                println!("FAIL {name}: {why}");
                if !listed {
                    problems.push(format!("{name}: {why}"));
                }
            }
        }
    }
    let total = cases.len();
    let pct = if total == 0 { 0.0 } else { passed as f64 * 100.0 / total as f64 };
    println!("kustomize conformance: {passed}/{total} passed ({pct:.1}%)");
    // Known failures are reported as skipped, not as passes: the closing
    // line must not overstate the pass rate.
    let known_failing = total - passed - problems.iter().filter(|p| !p.contains("listed in KNOWN_FAILING")).count();
    if !problems.is_empty() {
        println!("unexpected results:");
        for p in &problems {
            println!("  {p}");
        }
        println!("conformance: {passed} passed, {} failed, {known_failing} skipped", problems.len());
        std::process::exit(1);
    }
    println!("conformance: {passed} passed, 0 failed, {known_failing} skipped");
}
