//! SOPS-encrypted files (encrypted by the real `sops` binary) in plain
//! directories and Kustomize overlays: decrypted in memory with the age
//! keys of the render context; without a key, a clear error naming the
//! file, the recipients and the Secret to fix.

use std::path::Path;
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use age::x25519::Identity;
use driftless_api::ApplicationSource;
use driftless_render::{AgeKeys, KeyOrigin, KustomizeEngine, Manifest, RenderCache, RenderContext, RenderError, Reuse, SopsKeys, render};
use driftless_testkit::sops_encrypt;
use serde_json::Value;
use sha2::{Digest, Sha256};

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  password: hunter2-db\n";
const ENV: &str = "DB_USER=app\nDB_PASSWORD=hunter2-env\n";
const CERT: &str = "-----BEGIN CERTIFICATE-----\nhunter2-cert\n-----END CERTIFICATE-----\n";
const PATCH: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  token: hunter2-patch\n";

struct Repo {
    root: tempfile::TempDir,
    scratch: tempfile::TempDir,
    identity: Identity,
}

impl Repo {
    fn new() -> Repo {
        Repo { root: tempfile::tempdir().unwrap(), scratch: tempfile::tempdir().unwrap(), identity: Identity::generate() }
    }

    fn write(&self, path: &str, content: &[u8]) {
        let p = self.root.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Writes `plain` encrypted by sops for our identity.
    fn write_encrypted(&self, path: &str, plain: &str, args: &[&str]) {
        let name = Path::new(path).file_name().unwrap().to_str().unwrap();
        let enc = sops_encrypt(self.scratch.path(), name, plain.as_bytes(), &self.identity.to_public().to_string(), args);
        self.write(path, &enc);
    }

    fn keys(&self) -> Arc<SopsKeys> {
        keys_of(&self.identity)
    }

    fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    fn kustomize_app(&self) {
        self.write(
            "app/kustomization.yaml",
            b"resources:\n- secret.yaml\n- cm.yaml\npatches:\n- path: patch.yaml\nsecretGenerator:\n- name: app-env\n  envs:\n  - app.env\n- name: tls\n  files:\n  - tls.crt\n",
        );
        self.write("app/cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n");
        self.write_encrypted("app/secret.yaml", SECRET, &["--encrypted-regex", "^(data|stringData)$"]);
        self.write_encrypted("app/patch.yaml", PATCH, &[]);
        self.write_encrypted("app/app.env", ENV, &[]);
        self.write_encrypted("app/tls.crt", CERT, &[]);
    }
}

fn keys_of(identity: &Identity) -> Arc<SopsKeys> {
    let text = identity.to_string().expose_secret().to_string();
    let keys = AgeKeys::from_secret_data([("main.agekey", text.as_bytes())]);
    Arc::new(SopsKeys { keys, origin: KeyOrigin::Secret("argocd/sops-age".into()) })
}

fn source(path: &str) -> ApplicationSource {
    ApplicationSource { repo_url: "file:///repo".into(), path: Some(path.into()), ..Default::default() }
}

fn ctx(keys: Option<Arc<SopsKeys>>) -> RenderContext {
    RenderContext { sops: keys, ..Default::default() }
}

fn find<'a>(manifests: &'a [Manifest], kind: &str, prefix: &str) -> &'a Value {
    manifests.iter().find(|m| m.kind() == kind && m.name().starts_with(prefix)).map(Manifest::value).unwrap()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Checks the error names the file, the recipient and the Secret, and
/// quotes no value.
fn assert_key_error(err: &RenderError, file: &str, recipient: &str) {
    let msg = err.to_string();
    assert!(msg.contains(file) && msg.contains(recipient) && msg.contains("sops-age"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn plain_directory_manifests_are_decrypted() {
    let repo = Repo::new();
    repo.write("app/cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n");
    repo.write_encrypted("app/secret.yaml", SECRET, &["--encrypted-regex", "^(data|stringData)$"]);
    let out = render(repo.root.path(), &source("app"), &ctx(Some(repo.keys()))).unwrap();
    assert_eq!(find(&out.manifests, "Secret", "db")["stringData"]["password"], "hunter2-db");
    assert!(out.manifests.iter().all(|m| m.value().get("sops").is_none()), "the metadata is gone");

    for keys in [None, Some(keys_of(&Identity::generate()))] {
        let err = render(repo.root.path(), &source("app"), &ctx(keys)).unwrap_err();
        assert!(matches!(err, RenderError::Sops { .. }), "{err}");
        assert_key_error(&err, "app/secret.yaml", &repo.recipient());
    }
}

#[test]
fn kustomize_resources_patches_and_generator_inputs_are_decrypted() {
    let repo = Repo::new();
    repo.kustomize_app();
    let out = render(repo.root.path(), &source("app"), &ctx(Some(repo.keys()))).unwrap();
    assert_eq!(find(&out.manifests, "Secret", "db")["stringData"]["password"], "hunter2-db");
    assert_eq!(find(&out.manifests, "ConfigMap", "settings")["data"]["token"], "hunter2-patch");
    assert_eq!(find(&out.manifests, "ConfigMap", "settings")["data"]["level"], "info");
    let env = find(&out.manifests, "Secret", "app-env-");
    assert_eq!(env["data"]["DB_PASSWORD"], b64("hunter2-env"));
    assert_eq!(env["data"]["DB_USER"], b64("app"));
    // kustomize wraps long base64 lines.
    let cert = find(&out.manifests, "Secret", "tls-")["data"]["tls.crt"].as_str().unwrap().replace('\n', "");
    assert_eq!(cert, b64(CERT));

    // What the render depends on: the encrypted bytes on disk.
    let inputs = out.inputs.unwrap();
    let env_input = inputs.files.iter().find(|i| i.path == "app/app.env").unwrap();
    let on_disk = std::fs::read(repo.root.path().join("app/app.env")).unwrap();
    let digest: String = Sha256::digest(&on_disk).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(env_input.sha256, digest);

    let err = render(repo.root.path(), &source("app"), &ctx(None)).unwrap_err();
    assert_key_error(&err, "app/", &repo.recipient());
}

#[test]
fn a_tampered_file_is_a_clear_error() {
    let repo = Repo::new();
    repo.kustomize_app();
    let env = std::fs::read_to_string(repo.root.path().join("app/app.env")).unwrap();
    let marker = "DB_USER=ENC[AES256_GCM,data:";
    let at = env.find(marker).unwrap() + marker.len();
    let flipped = if env.as_bytes()[at] == b'A' { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &env[..at], &env[at + 1..]);
    repo.write("app/app.env", tampered.as_bytes());
    let err = render(repo.root.path(), &source("app"), &ctx(Some(repo.keys()))).unwrap_err().to_string();
    assert!(err.contains("app/app.env") && err.contains("changed"), "{err}");
}

#[test]
fn cached_renders_follow_the_key_set() {
    let repo = Repo::new();
    repo.kustomize_app();
    let cache = RenderCache::new();
    let with_keys = ctx(Some(repo.keys()));
    let (_, reuse) = cache.render("file:///repo", repo.root.path(), &source("app"), &with_keys).unwrap();
    assert_eq!(reuse, Reuse::Miss);
    let (_, reuse) = cache.render("file:///repo", repo.root.path(), &source("app"), &with_keys).unwrap();
    assert_eq!(reuse, Reuse::Hit);
    // The key removed: the render kept from before must not be served.
    let none = ctx(Some(Arc::new(SopsKeys { keys: Ok(AgeKeys::default()), origin: KeyOrigin::Secret("argocd/sops-age".into()) })));
    let err = cache.render("file:///repo", repo.root.path(), &source("app"), &none).unwrap_err();
    assert_key_error(&err, "app/", &repo.recipient());
    // Another key set that still holds ours renders anew.
    let other = Identity::generate();
    let two = format!("{}\n{}\n", repo.identity.to_string().expose_secret(), other.to_string().expose_secret());
    let both = Arc::new(SopsKeys {
        keys: AgeKeys::from_secret_data([("k.agekey", two.as_bytes())]),
        origin: KeyOrigin::Secret("argocd/sops-age".into()),
    });
    let (_, reuse) = cache.render("file:///repo", repo.root.path(), &source("app"), &ctx(Some(both))).unwrap();
    assert_eq!(reuse, Reuse::Miss);
}

#[test]
fn a_bad_key_entry_is_named() {
    let repo = Repo::new();
    repo.kustomize_app();
    let keys = AgeKeys::from_secret_data([("broken.agekey", b"not-a-key" as &[u8])]);
    let bad = Arc::new(SopsKeys { keys, origin: KeyOrigin::Secret("argocd/sops-age".into()) });
    let err = render(repo.root.path(), &source("app"), &ctx(Some(bad))).unwrap_err().to_string();
    assert!(err.contains("broken.agekey") && err.contains("argocd/sops-age") && !err.contains("not-a-key"), "{err}");
}

#[test]
fn the_kustomize_binary_never_gets_encrypted_files() {
    let repo = Repo::new();
    repo.kustomize_app();
    let binary = RenderContext { kustomize: KustomizeEngine::Binary, ..ctx(Some(repo.keys())) };
    let err = render(repo.root.path(), &source("app"), &binary).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RenderError::Sops { .. }) && msg.contains("native"), "{msg}");
    // Nor an overlay whose encrypted file lies in a base outside its directory.
    repo.write("overlay/kustomization.yaml", b"resources:\n- ../app\n");
    let err = render(repo.root.path(), &source("overlay"), &binary).unwrap_err();
    assert!(matches!(&err, RenderError::Sops { file, .. } if file.starts_with("app/")), "{err}");
}
