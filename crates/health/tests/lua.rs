//! Custom Lua health checks: loading from argocd-cm, sandbox, limits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use driftless_health::{CustomChecks, Error, Health, HealthStatusCode, assess};
use serde_json::{Value, json};

const CERT_KEY: &str = "resource.customizations.health.cert-manager.io_Certificate";

/// The cert-manager check from Argo CD's docs, in spirit.
const CERT_SCRIPT: &str = r#"
hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
    if condition.type == "Ready" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
"#;

fn cm(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn certificate(ready: &str, message: &str) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web-tls", "namespace": "web", "generation": 1},
        "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"]},
        "status": {
            "conditions": [{
                "type": "Ready", "status": ready, "reason": "Whatever",
                "message": message, "observedGeneration": 1,
                "lastTransitionTime": "2026-11-20T10:00:00Z"
            }]
        }
    })
}

fn health(obj: &Value, custom: &CustomChecks) -> Health {
    match assess(obj, custom) {
        Ok(Some(h)) => h,
        other => panic!("expected a health, got {other:?}"),
    }
}

fn checks_with(script: &str) -> CustomChecks {
    match CustomChecks::from_argocd_cm(&cm(&[(CERT_KEY, script)])) {
        Ok(c) => c,
        Err(e) => panic!("script should load: {e}"),
    }
}

#[test]
fn certificate_check_decides_from_conditions() {
    let checks = checks_with(CERT_SCRIPT);
    let ok = health(&certificate("True", "Certificate is up to date and has not expired"), &checks);
    assert_eq!(ok.status, HealthStatusCode::Healthy);
    assert_eq!(ok.message.as_deref(), Some("Certificate is up to date and has not expired"));
    let bad = health(&certificate("False", "Issuing certificate as Secret does not exist"), &checks);
    assert_eq!(bad.status, HealthStatusCode::Degraded);
    assert_eq!(bad.message.as_deref(), Some("Issuing certificate as Secret does not exist"));
    let mut pending = certificate("True", "");
    pending["status"] = json!(null);
    let waiting = health(&pending, &checks);
    assert_eq!(waiting.status, HealthStatusCode::Progressing);
}

#[test]
fn custom_check_overrides_builtin() {
    let checks = CustomChecks::from_argocd_cm(&cm(&[(
        "resource.customizations.health.apps_Deployment",
        r#"return {status = "Suspended", message = "custom"}"#,
    )]))
    .expect("loads");
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    });
    assert_eq!(health(&deploy, &checks), Health::new(HealthStatusCode::Suspended, "custom"));
    assert_eq!(health(&deploy, &CustomChecks::none()).status, HealthStatusCode::Healthy);
}

#[test]
fn core_group_key_has_no_group_part() {
    let checks = CustomChecks::from_argocd_cm(&cm(&[(
        "resource.customizations.health.ConfigMap",
        r#"return {status = "Degraded", message = "no " .. obj.metadata.name}"#,
    )]))
    .expect("loads");
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {}});
    assert_eq!(health(&config_map, &checks), Health::new(HealthStatusCode::Degraded, "no cfg"));
    // Without the check a ConfigMap has no health at all.
    assert_eq!(assess(&config_map, &CustomChecks::none()).ok(), Some(None));
}

#[test]
fn legacy_resource_customizations_yaml() {
    let yaml = format!(
        "cert-manager.io/Certificate:\n  health.lua: |\n{}\nsome.group/NoHealth:\n  ignoreDifferences: |\n    jsonPointers: [/spec]\n",
        CERT_SCRIPT.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
    );
    let checks = CustomChecks::from_argocd_cm(&cm(&[("resource.customizations", &yaml)])).expect("loads");
    assert_eq!(health(&certificate("False", "nope"), &checks).status, HealthStatusCode::Degraded);
}

#[test]
fn per_kind_key_wins_over_legacy_yaml() {
    let yaml = "cert-manager.io/Certificate:\n  health.lua: |\n    return {status = \"Degraded\"}\n";
    let checks = CustomChecks::from_argocd_cm(&cm(&[("resource.customizations", yaml), (CERT_KEY, "return {status = \"Healthy\"}")]))
        .expect("loads");
    assert_eq!(health(&certificate("False", "x"), &checks).status, HealthStatusCode::Healthy);
}

#[test]
fn wildcard_keys_match_groups_and_kinds() {
    let checks = CustomChecks::from_argocd_cm(&cm(&[(
        "resource.customizations.health.*.example.com_*",
        r#"return {status = "Suspended", message = obj.kind}"#,
    )]))
    .expect("loads");
    let widget = json!({"apiVersion": "widgets.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    assert_eq!(health(&widget, &checks), Health::new(HealthStatusCode::Suspended, "Widget"));
    let other = json!({"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}});
    assert_eq!(assess(&other, &checks).ok(), Some(None));
}

#[test]
fn infinite_loop_times_out_as_unknown() {
    let checks = checks_with("while true do end").with_timeout(Duration::from_millis(50));
    let started = Instant::now();
    let h = health(&certificate("True", ""), &checks);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(h.status, HealthStatusCode::Unknown);
    let msg = h.message.unwrap_or_default();
    assert!(msg.starts_with("custom health check for cert-manager.io/Certificate failed:"), "{msg}");
    assert!(msg.contains("timed out"), "{msg}");
}

#[test]
fn default_timeout_stops_a_loop_that_swallows_errors() {
    // pcall must not catch the time limit.
    let checks = checks_with("while true do pcall(function() while true do end end) end");
    let started = Instant::now();
    let h = health(&certificate("True", ""), &checks);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(h.message.unwrap_or_default().contains("timed out"));
}

#[test]
fn pcall_still_catches_ordinary_errors() {
    let checks = checks_with(
        r#"local ok, err = pcall(function() error("boom") end)
           if ok then return {status = "Healthy"} end
           return {status = "Degraded", message = err}"#,
    );
    let h = health(&certificate("True", ""), &checks);
    assert_eq!(h.status, HealthStatusCode::Degraded);
    assert!(h.message.unwrap_or_default().contains("boom"));
}

#[test]
fn memory_hog_is_unknown() {
    let checks = checks_with(r#"local t = {} for i = 1, 100000000 do t[i] = string.rep("x", 100) .. i end return {status = "Healthy"}"#)
        .with_memory_limit(8 * 1024 * 1024)
        .with_timeout(Duration::from_secs(10));
    let h = health(&certificate("True", ""), &checks);
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(h.message.unwrap_or_default().contains("memory"));
}

#[test]
fn memory_hog_inside_pcall_is_unknown() {
    let checks = checks_with(r#"pcall(function() local s = "x" while true do s = s .. s end end) return {status = "Healthy"}"#)
        .with_memory_limit(8 * 1024 * 1024);
    let h = health(&certificate("True", ""), &checks);
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(h.message.unwrap_or_default().contains("memory limit"));
}

#[test]
fn sandbox_denies_os_execute() {
    let checks = checks_with(r#"os.execute("touch /tmp/driftless-pwned") return {status = "Healthy"}"#);
    let h = health(&certificate("True", ""), &checks);
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(h.message.unwrap_or_default().starts_with("custom health check for cert-manager.io/Certificate failed:"));
}

#[test]
fn sandbox_denies_io_and_loaders() {
    for script in [
        r#"local f = io.open("/etc/passwd") return {status = "Healthy"}"#,
        r#"dofile("/etc/passwd") return {status = "Healthy"}"#,
        r#"loadstring("return 1")() return {status = "Healthy"}"#,
        r#"require("io") return {status = "Healthy"}"#,
        r#"os.exit(1) return {status = "Healthy"}"#,
        r#"return {status = os.getenv("HOME")}"#,
    ] {
        let h = health(&certificate("True", ""), &checks_with(script));
        assert_eq!(h.status, HealthStatusCode::Unknown, "{script}");
    }
}

#[test]
fn safe_libraries_are_available() {
    let checks = checks_with(
        r#"local os = require("os")
           local t = os.time()
           local s = string.format("%d-%s", math.floor(2.5), table.concat({"a", "b"}, ","))
           if t > 0 and s == "2-a,b" and obj.spec.dnsNames[1] == "web.example.com" then
             return {status = "Healthy", message = s:upper()}
           end
           return {status = "Degraded"}"#,
    );
    assert_eq!(health(&certificate("True", ""), &checks), Health::new(HealthStatusCode::Healthy, "2-A,B"));
}

#[test]
fn bad_returns_are_unknown() {
    let h = health(&certificate("True", ""), &checks_with("return 42"));
    assert_eq!(h.status, HealthStatusCode::Unknown);
    assert!(h.message.unwrap_or_default().ends_with("expect table output from Lua script, not number"));
    let h = health(&certificate("True", ""), &checks_with(r#"return {status = "Fine"}"#));
    assert_eq!(h, Health::new(HealthStatusCode::Unknown, "Lua returned an invalid health status"));
    let h = health(&certificate("True", ""), &checks_with("local x = nil; return x.y"));
    assert_eq!(h.status, HealthStatusCode::Unknown);
}

#[test]
fn syntax_error_names_the_key() {
    let err = CustomChecks::from_argocd_cm(&cm(&[(CERT_KEY, "hs = {\nreturn hs end end")]));
    match err {
        Err(Error::InvalidCustomCheck { key, reason }) => {
            assert_eq!(key, CERT_KEY);
            assert!(!reason.is_empty());
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
    let err = CustomChecks::from_argocd_cm(&cm(&[(CERT_KEY, "return {")])).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains(CERT_KEY), "{err}");
}

#[test]
fn malformed_inputs_are_errors() {
    assert!(CustomChecks::from_argocd_cm(&cm(&[("resource.customizations.health.a_b_c", "return {}")])).is_err());
    assert!(CustomChecks::from_argocd_cm(&cm(&[("resource.customizations", "a: [unclosed")])).is_err());
    // Unrelated keys and empty scripts are fine.
    let checks = CustomChecks::from_argocd_cm(&cm(&[
        ("url", "https://argocd.example.com"),
        ("resource.customizations.ignoreDifferences.apps_Deployment", "jsonPointers: [/spec/replicas]"),
        (CERT_KEY, "  "),
    ]))
    .expect("loads");
    assert!(checks.is_empty());
}

#[test]
fn pending_deletion_beats_custom_checks() {
    let checks = checks_with(CERT_SCRIPT);
    let mut cert = certificate("True", "");
    cert["metadata"]["deletionTimestamp"] = json!("2026-11-21T10:00:00Z");
    assert_eq!(health(&cert, &checks), Health::new(HealthStatusCode::Progressing, "Pending deletion"));
}
