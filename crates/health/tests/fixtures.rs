//! Every `testdata/<kind>-<case>-<expected>.yaml` is a live object as the API
//! server returns it; the file name's last part is the expected status
//! (`none` = no health). A first line `# message: ...` also pins the message
//! (`# message:` alone = no message).

use std::fs;
use std::path::{Path, PathBuf};

use driftless_health::{CustomChecks, HealthStatusCode, assess};
use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

/// The expected status from the file name; `None` for "none".
fn expected_status(stem: &str) -> Result<Option<HealthStatusCode>, String> {
    let last = stem.rsplit('-').next().unwrap_or_default();
    if last == "none" {
        return Ok(None);
    }
    let mut chars = last.chars();
    let capitalized: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    HealthStatusCode::parse(&capitalized).map(Some).ok_or_else(|| format!("file name does not end in a health status: {stem}"))
}

/// The pinned message, if the file pins one: `Some(None)` for "no message".
fn expected_message(text: &str) -> Option<Option<String>> {
    let rest = text.lines().next()?.strip_prefix("# message:")?.trim();
    Some((!rest.is_empty()).then(|| rest.to_string()))
}

fn check(path: &Path) -> Result<(), String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).ok_or("bad file name")?;
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let obj: Value = serde_saphyr::from_str(&text).map_err(|e| format!("YAML: {e}"))?;
    let got = assess(&obj, &CustomChecks::none()).map_err(|e| e.to_string())?;
    let want = expected_status(stem)?;
    if got.as_ref().map(|h| h.status) != want {
        return Err(format!("expected {want:?}, got {got:?}"));
    }
    if let (Some(want_msg), Some(health)) = (expected_message(&text), &got)
        && health.message != want_msg
    {
        return Err(format!("expected message {want_msg:?}, got {:?}", health.message));
    }
    Ok(())
}

#[test]
fn every_fixture_has_its_expected_health() {
    let files = fixtures();
    assert!(files.len() >= 60, "only {} fixtures", files.len());
    let failures: Vec<String> =
        files.iter().filter_map(|p| check(p).err().map(|e| format!("{}: {e}", p.file_name().unwrap_or_default().display()))).collect();
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn fixtures_cover_every_status_a_live_object_can_have() {
    let stems: Vec<String> = fixtures().iter().filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(String::from)).collect();
    for status in ["healthy", "progressing", "degraded", "suspended", "none"] {
        assert!(stems.iter().any(|s| s.ends_with(&format!("-{status}"))), "no fixture expects {status}");
    }
}

#[test]
fn fixtures_cover_every_native_kind_healthy_and_not() {
    let stems: Vec<String> = fixtures().iter().filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(String::from)).collect();
    for kind in [
        "deployment",
        "statefulset",
        "daemonset",
        "replicaset",
        "pod",
        "job",
        "cronjob",
        "service",
        "ingress",
        "pvc",
        "hpa",
        "apiservice",
        "crd",
        "namespace",
        "application",
        "workflow",
        "sealedsecret",
        "externalsecret",
        "clusterexternalsecret",
        "secretstore",
        "clustersecretstore",
        "pushsecret",
    ] {
        let of_kind: Vec<&String> = stems.iter().filter(|s| s.starts_with(&format!("{kind}-"))).collect();
        assert!(of_kind.iter().any(|s| s.ends_with("-healthy")), "{kind}: no healthy fixture");
        assert!(of_kind.iter().any(|s| !s.ends_with("-healthy")), "{kind}: no unhealthy fixture");
    }
}
