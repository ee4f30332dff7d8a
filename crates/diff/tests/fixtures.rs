//! Table-driven test over `testdata/<case>/`: each case has `expect.yaml`
//! and either `predicted.yaml` + `live.yaml` (dry-run mode, [`compare`]) or
//! `desired.yaml` + `live.yaml` (fallback, [`compare_subset`]), or no objects
//! at all when it only checks that its rules are rejected.

use driftless_diff::{DiffOptions, IgnoreDifference, compare, compare_subset, normalize, unified_diff};
use serde::Deserialize;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    ignore: Vec<IgnoreDifference>,
    in_sync: Option<bool>,
    #[serde(default)]
    changed: Vec<String>,
    /// Text the `DiffOptions::new` error must contain (names the bad rule).
    error: Option<String>,
    /// Strings that must not appear in the rendered diff (Secret values).
    #[serde(default)]
    not_in_diff: Vec<String>,
}

fn load(path: &Path) -> Option<Value> {
    let text = fs::read_to_string(path).ok()?;
    Some(serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(&root).expect("testdata exists").map(|e| e.expect("readable entry").path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

/// Runs one case; returns a description of what went wrong, if anything.
fn run(dir: &Path) -> Result<(), String> {
    let text = fs::read_to_string(dir.join("expect.yaml")).map_err(|e| format!("expect.yaml: {e}"))?;
    let expect: Expect = serde_saphyr::from_str(&text).map_err(|e| format!("expect.yaml: {e}"))?;

    let opts = match (DiffOptions::new(&expect.ignore), &expect.error) {
        (Err(err), Some(want)) => {
            let msg = err.to_string();
            return if msg.contains(want.as_str()) { Ok(()) } else { Err(format!("error {msg:?} does not name {want:?}")) };
        }
        (Ok(_), Some(want)) => return Err(format!("expected an error naming {want:?}")),
        (Err(err), None) => return Err(format!("unexpected error: {err}")),
        (Ok(opts), None) => opts,
    };

    let live = load(&dir.join("live.yaml")).ok_or("missing live.yaml")?;
    let (result, other) = match (load(&dir.join("predicted.yaml")), load(&dir.join("desired.yaml"))) {
        (Some(predicted), None) => (compare(&predicted, &live, &opts), predicted),
        (None, Some(desired)) => (compare_subset(&desired, &live, &opts), desired),
        _ => return Err("needs exactly one of predicted.yaml and desired.yaml".into()),
    };
    let want_in_sync = expect.in_sync.ok_or("expect.yaml needs in_sync")?;
    if result.in_sync != want_in_sync || result.changed != expect.changed {
        return Err(format!(
            "got in_sync={} changed={:?}, want in_sync={} changed={:?}",
            result.in_sync, result.changed, want_in_sync, expect.changed
        ));
    }

    // What `driftless app diff` would print, from raw and normalised objects.
    let rendered = [
        unified_diff("case", Some(&live), Some(&other)),
        unified_diff("case", Some(&normalize(&live, Some(&live), &opts)), Some(&normalize(&other, Some(&live), &opts))),
    ];
    for secret in &expect.not_in_diff {
        if rendered.iter().any(|d| d.contains(secret.as_str())) {
            return Err(format!("diff leaks {secret:?}"));
        }
    }
    if !result.in_sync && rendered[0].is_empty() {
        return Err("out of sync but the rendered diff is empty".into());
    }
    Ok(())
}

#[test]
fn all_fixtures() {
    let cases = cases();
    assert!(cases.len() >= 20, "fixtures missing: {}", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|dir| {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            run(dir).err().map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
