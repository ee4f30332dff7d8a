//! SOPS end to end, against the real dev control plane: a Secret encrypted
//! with the real `sops` binary and a Kustomize `secretGenerator` reading an
//! encrypted `.env` file sync with the age key of the control plane's
//! `sops-age` Secret; the plain text is found in the cluster's Secrets and
//! nowhere else (the controller's log included); a tampered file and a missing key are ComparisonErrors
//! that change nothing.

mod common;

use age::secrecy::ExposeSecret;
use age::x25519::Identity;
use std::sync::{Arc, Mutex};

use base64::Engine;
use common::World;
use driftless_api::{Application, HealthStatusCode, SyncStatusCode};
use driftless_testkit::{Error, sops_encrypt};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  password: hunter2-db-value\n";
const ENV: &str = "DB_USER=app\nDB_PASSWORD=hunter2-env-value\n";
const KUSTOMIZATION: &str = "resources:\n- secret.yaml\n- cm.yaml\nsecretGenerator:\n- name: app-env\n  envs:\n  - app.env\n  options:\n    disableNameSuffixHash: true\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: marker\ndata:\n  level: info\n";

/// Every form of the secrets a leak could take.
fn secret_forms() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec!["hunter2-db-value".into(), "hunter2-env-value".into(), b64("hunter2-db-value"), b64("hunter2-env-value")]
}

fn assert_no_secret(what: &str, text: &str) {
    for s in secret_forms() {
        assert!(!text.contains(&s), "{what} holds a decrypted secret");
    }
}

/// Everything the controller (in this process) logs: driftless at every
/// level, other crates from INFO. The only test of this binary sets it.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> Logs {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::{Layer as _, filter, fmt};
        let logs = Logs::default();
        let wanted = filter::filter_fn(|m| m.target().starts_with("driftless") || *m.level() <= tracing::Level::INFO);
        let layer = fmt::layer().with_ansi(false).with_writer(logs.clone()).with_filter(wanted);
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).expect("the only subscriber");
        logs
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

fn secrets(w: &World) -> Api<Secret> {
    Api::namespaced(w.ns.client(), w.name())
}

async fn write_keys(w: &World, identity: &Identity) -> Result<(), Error> {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sops-age"},
        "stringData": {"identity.agekey": format!("# driftless test\n{}\n", identity.to_string().expose_secret())},
    }))
    .expect("a Secret");
    secrets(w)
        .create(&PostParams::default(), &secret)
        .await
        .map(drop)
        .map_err(|source| Error::Kube { what: "create sops-age".into(), source })
}

async fn value(w: &World, secret: &str, key: &str) -> Option<String> {
    let s = secrets(w).get_opt(secret).await.expect("read a Secret")?;
    let bytes = s.data?.get(key)?.0.clone();
    Some(String::from_utf8(bytes).expect("UTF-8"))
}

async fn resource_version(w: &World, secret: &str) -> Option<String> {
    secrets(w).get_opt(secret).await.expect("read a Secret")?.metadata.resource_version
}

fn comparison_error(a: &Application) -> Option<String> {
    a.status.as_ref()?.conditions.iter().find(|c| c.type_ == "ComparisonError").map(|c| c.message.clone())
}

fn synced_and_healthy(a: &Application) -> Option<()> {
    let s = a.status.as_ref()?;
    (s.sync.status == SyncStatusCode::Synced && s.health.status == HealthStatusCode::Healthy && comparison_error(a).is_none()).then_some(())
}

/// The text of every file under `dir`, lossily.
fn files_under(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            files_under(&p, out);
        } else if let Ok(data) = std::fs::read(&p) {
            out.push((p.display().to_string(), String::from_utf8_lossy(&data).into_owned()));
        }
    }
}

#[tokio::test]
async fn sops_encrypted_secrets_sync_and_stay_secret() -> Result<(), Error> {
    let logs = Logs::capture();
    let w = World::new("sops").await?;
    let identity = Identity::generate();
    let recipient = identity.to_public().to_string();
    let scratch = tempfile::tempdir().unwrap();
    let encrypt = |name: &str, plain: &str, args: &[&str]| {
        String::from_utf8(sops_encrypt(scratch.path(), name, plain.as_bytes(), &recipient, args)).unwrap()
    };
    let secret_yaml = encrypt("secret.yaml", SECRET, &["--encrypted-regex", "^(data|stringData)$"]);
    w.repo
        .write("app/kustomization.yaml", KUSTOMIZATION)
        .write("app/cm.yaml", CM)
        .write("app/secret.yaml", &secret_yaml)
        .write("app/app.env", &encrypt("app.env", ENV, &[]));
    w.repo.commit("encrypted secrets");
    write_keys(&w, &identity).await?;
    w.app("secrets", "app", json!({"syncPolicy": {"automated": {"prune": true}}})).await?;

    w.wait_app("secrets", "Synced and Healthy", synced_and_healthy).await?;
    assert_eq!(value(&w, "db", "password").await.as_deref(), Some("hunter2-db-value"));
    assert_eq!(value(&w, "app-env", "DB_PASSWORD").await.as_deref(), Some("hunter2-env-value"));
    assert_eq!(value(&w, "app-env", "DB_USER").await.as_deref(), Some("app"));

    // Nowhere else: the app's status, its Events, the controller's files.
    let app = w.apps.get("secrets").await.map_err(|source| Error::Kube { what: "get app".into(), source })?;
    assert_no_secret("the Application", &serde_json::to_string(&app).unwrap());
    let events: Api<Event> = Api::namespaced(w.ns.client(), w.name());
    let listed = events.list(&ListParams::default()).await.map_err(|source| Error::Kube { what: "list events".into(), source })?;
    assert!(!listed.items.is_empty(), "the sync was recorded as Events");
    assert_no_secret("the Events", &serde_json::to_string(&listed.items).unwrap());
    let mut files = Vec::new();
    files_under(w.cache_dir(), &mut files);
    assert!(files.iter().any(|(p, _)| p.ends_with("app.env")), "the checkout is under the cache directory");
    for (path, text) in &files {
        assert_no_secret(path, text);
    }

    // A tampered file: a clear condition, nothing applied or pruned.
    let db_version = resource_version(&w, "db").await;
    let marker = "password: ENC[AES256_GCM,data:";
    let at = secret_yaml.find(marker).unwrap() + marker.len();
    let flipped = if secret_yaml.as_bytes()[at] == b'A' { "B" } else { "A" };
    w.repo.write("app/secret.yaml", &format!("{}{flipped}{}", &secret_yaml[..at], &secret_yaml[at + 1..]));
    w.repo.commit("tampered");
    let msg = w.wait_app("secrets", "ComparisonError for the tampered file", comparison_error).await?;
    assert!(msg.contains("app/secret.yaml") && msg.contains("changed"), "{msg}");
    assert_no_secret("the condition", &msg);
    assert_eq!(resource_version(&w, "db").await, db_version, "the Secret synced before is unchanged");
    assert!(w.exists("configmap", "marker") && w.exists("secret", "app-env"), "nothing was pruned");

    w.repo.write("app/secret.yaml", &secret_yaml);
    w.repo.commit("repaired");
    w.wait_app("secrets", "Synced again", synced_and_healthy).await?;

    // The key removed: a condition naming the Secret and the recipient;
    // put back, the app recovers without a restart.
    secrets(&w)
        .delete("sops-age", &DeleteParams::default())
        .await
        .map_err(|source| Error::Kube { what: "delete sops-age".into(), source })?;
    let msg = w.wait_app("secrets", "ComparisonError for the missing key", comparison_error).await?;
    assert!(msg.contains("sops-age") && msg.contains(&recipient), "{msg}");
    assert_eq!(resource_version(&w, "db").await, db_version, "the Secret is unchanged");
    assert!(w.exists("configmap", "marker") && w.exists("secret", "app-env"), "nothing was pruned");
    write_keys(&w, &identity).await?;
    w.wait_app("secrets", "Synced with the key back", synced_and_healthy).await?;

    // Nor in anything the controller logged through all of this.
    let logged = logs.text();
    assert!(logged.contains("secrets"), "the controller's log was captured:\n{logged}");
    assert_no_secret("the controller's log", &logged);
    Ok(())
}
