//! Files encrypted by the real `sops` binary (getsops/sops v3, installed by
//! `scripts/tools/sops.sh`; the tests find it on PATH) decrypt to exactly
//! their plain text; tampered, foreign and unsupported files are refused.

use age::secrecy::ExposeSecret;
use age::x25519::Identity;
use driftless_kustomize::yaml::parse::parse_documents;
use driftless_sops::{AgeKeys, Format, MAX_INPUT, SopsError, decrypt, is_encrypted};
use driftless_testkit::{Rng, sops_encrypt};

struct Fixture {
    dir: tempfile::TempDir,
    identity: Identity,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().unwrap(), identity: Identity::generate() }
    }

    fn keys(&self) -> AgeKeys {
        keys_of(&self.identity)
    }

    /// `sops encrypt --age <ours> [args] <name>` of `plain`.
    fn encrypt(&self, name: &str, plain: &[u8], args: &[&str]) -> Vec<u8> {
        sops_encrypt(self.dir.path(), name, plain, &self.identity.to_public().to_string(), args)
    }
}

fn keys_of(identity: &Identity) -> AgeKeys {
    let text = format!("# test key\n{}\n", identity.to_string().expose_secret());
    AgeKeys::from_secret_data([("identity.agekey", text.as_bytes())]).unwrap()
}

fn yaml_values(text: &[u8]) -> Vec<serde_json::Value> {
    parse_documents(std::str::from_utf8(text).unwrap()).unwrap()
}

/// The top-level keys of each document, in order.
fn key_order(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| !l.starts_with([' ', '-', '#']) && l.contains(':'))
        .map(|l| l.split(':').next().unwrap().trim_matches('"').to_string())
        .collect()
}

const SECRET_YAML: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  labels:
    tier: backend
    replicas: 3
type: Opaque
stringData:
  password: s3cr3t-hunter2
  url: postgres://app@db:5432/app?sslmode=require
data:
  token: c2VjcmV0LXRva2Vu
";

#[test]
fn yaml_secret_with_encrypted_regex() {
    let f = Fixture::new();
    let enc = f.encrypt("secret.yaml", SECRET_YAML.as_bytes(), &["--encrypted-regex", "^(data|stringData)$"]);
    assert!(is_encrypted(&enc, Format::Yaml));
    let text = String::from_utf8_lossy(&enc);
    assert!(!text.contains("hunter2") && text.contains("name: db"), "only data and stringData are encrypted:\n{text}");
    let plain = decrypt(&enc, Format::Yaml, &f.keys()).unwrap();
    assert_eq!(yaml_values(&plain), yaml_values(SECRET_YAML.as_bytes()), "{}", String::from_utf8_lossy(&plain));
    assert_eq!(key_order(&plain), key_order(SECRET_YAML.as_bytes()));
}

#[test]
fn yaml_documents_of_every_type() {
    let plain = "\
name: app
count: 42
ratio: 0.25
enabled: true
nothing: null
octal: 0755
list:
  - one
  - 2
  - nested: {deep: [a, b]}
block: |
  line one
  line two
empty: \"\"
---
second: document
port: 8080
";
    let f = Fixture::new();
    let enc = f.encrypt("values.yaml", plain.as_bytes(), &[]);
    let text = String::from_utf8_lossy(&enc);
    assert!(text.contains("type:int") && text.contains("type:float") && text.contains("type:bool"), "{text}");
    let out = decrypt(&enc, Format::Yaml, &f.keys()).unwrap();
    assert_eq!(yaml_values(&out), yaml_values(plain.as_bytes()), "{}", String::from_utf8_lossy(&out));
    assert_eq!(key_order(&out), key_order(plain.as_bytes()));
}

#[test]
fn yaml_mac_only_encrypted_and_unencrypted_suffix() {
    let plain = "user: admin\npassword_unencrypted: visible\npassword: hidden\n";
    let f = Fixture::new();
    // Only a creation rule sets it (no flag).
    let config = f.dir.path().join(".sops.yaml");
    std::fs::write(&config, "creation_rules:\n  - mac_only_encrypted: true\n").unwrap();
    let enc = f.encrypt("a.yaml", plain.as_bytes(), &[]);
    std::fs::remove_file(&config).unwrap();
    assert!(String::from_utf8_lossy(&enc).contains("mac_only_encrypted: true"));
    assert_eq!(yaml_values(&decrypt(&enc, Format::Yaml, &f.keys()).unwrap()), yaml_values(plain.as_bytes()));
    // Only encrypted values are covered: a clear value may change.
    let changed = String::from_utf8(enc.clone()).unwrap().replace("visible", "changed");
    assert!(decrypt(changed.as_bytes(), Format::Yaml, &f.keys()).is_ok());

    let enc = f.encrypt("b.yaml", plain.as_bytes(), &["--unencrypted-regex", "^user$"]);
    assert_eq!(yaml_values(&decrypt(&enc, Format::Yaml, &f.keys()).unwrap()), yaml_values(plain.as_bytes()));
    let changed = String::from_utf8(enc).unwrap().replace("user: admin", "user: root");
    assert_eq!(decrypt(changed.as_bytes(), Format::Yaml, &f.keys()).unwrap_err(), SopsError::MacMismatch);
}

#[test]
fn json_document() {
    let plain = r#"{"b": "second key first", "a": {"n": 12, "f": 1.5, "t": false, "z": null, "l": ["x", 3]}, "pw": "hunter2"}"#;
    let f = Fixture::new();
    let enc = f.encrypt("config.json", plain.as_bytes(), &[]);
    assert!(is_encrypted(&enc, Format::Json));
    let out = decrypt(&enc, Format::Json, &f.keys()).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let want: serde_json::Value = serde_json::from_str(plain).unwrap();
    assert_eq!(got, want);
    let text = String::from_utf8_lossy(&out);
    assert!(text.find("\"b\"").unwrap() < text.find("\"a\"").unwrap(), "key order kept: {text}");
}

#[test]
fn dotenv_file() {
    let plain = "# database\nDB_USER=app\nDB_PASSWORD=hunter2=with=equals\nMULTI=a\\nb\nEMPTY=\n";
    let f = Fixture::new();
    let enc = f.encrypt("app.env", plain.as_bytes(), &[]);
    assert!(is_encrypted(&enc, Format::Dotenv));
    assert!(!String::from_utf8_lossy(&enc).contains("hunter2"));
    let out = decrypt(&enc, Format::Dotenv, &f.keys()).unwrap();
    assert_eq!(String::from_utf8_lossy(&out), plain);
}

#[test]
fn binary_file() {
    let plain: Vec<u8> = (0..=255u8).chain(b"-----BEGIN CERTIFICATE-----\n".iter().copied()).collect();
    let f = Fixture::new();
    let enc = f.encrypt("tls.crt", &plain, &[]);
    assert!(is_encrypted(&enc, Format::Binary));
    assert_eq!(decrypt(&enc, Format::Binary, &f.keys()).unwrap().as_slice(), plain.as_slice());
}

#[test]
fn several_recipients_any_key_opens() {
    let f = Fixture::new();
    let other = Identity::generate();
    let both = format!("{},{}", f.identity.to_public(), other.to_public());
    let enc = f.encrypt("s.yaml", b"a: b\n", &["--age", &both]);
    assert_eq!(yaml_values(&decrypt(&enc, Format::Yaml, &keys_of(&other)).unwrap()), yaml_values(b"a: b\n"));
    assert_eq!(yaml_values(&decrypt(&enc, Format::Yaml, &f.keys()).unwrap()), yaml_values(b"a: b\n"));
}

fn encrypted_secret(f: &Fixture) -> String {
    String::from_utf8(f.encrypt("secret.yaml", SECRET_YAML.as_bytes(), &["--encrypted-regex", "^(data|stringData)$"])).unwrap()
}

/// The ciphertext of `key`'s value in a YAML sops file.
fn enc_value<'a>(text: &'a str, key: &str) -> &'a str {
    let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{key}: ENC["))).unwrap();
    line.split_once(": ").unwrap().1
}

#[test]
fn tampered_value_is_refused() {
    let f = Fixture::new();
    let text = encrypted_secret(&f);
    let value = enc_value(&text, "password");
    let data = value.split("data:").nth(1).unwrap();
    let first = data.chars().next().unwrap();
    let flipped = if first == 'A' { 'B' } else { 'A' };
    let tampered = text.replace(value, &value.replacen(&format!("data:{first}"), &format!("data:{flipped}"), 1));
    let err = decrypt(tampered.as_bytes(), Format::Yaml, &f.keys()).unwrap_err();
    assert_eq!(err, SopsError::Tampered { path: "stringData:password".into() });
    // A value moved to another key does not decrypt either (the path is authenticated).
    let url = enc_value(&text, "url");
    let moved = text.replace(url, value);
    assert!(matches!(decrypt(moved.as_bytes(), Format::Yaml, &f.keys()), Err(SopsError::Tampered { .. })));
    // A clear value changed: the MAC tells.
    let renamed = text.replace("tier: backend", "tier: frontend");
    assert_eq!(decrypt(renamed.as_bytes(), Format::Yaml, &f.keys()).unwrap_err(), SopsError::MacMismatch);
}

#[test]
fn tampered_mac_is_refused() {
    let f = Fixture::new();
    let text = encrypted_secret(&f);
    let mac = text.lines().find(|l| l.trim_start().starts_with("mac: ENC[")).unwrap();
    // Another file's MAC under another key cannot stand in.
    let other = encrypted_secret(&Fixture::new());
    let other_mac = other.lines().find(|l| l.trim_start().starts_with("mac: ENC[")).unwrap();
    let swapped = text.replace(mac, other_mac);
    assert_eq!(decrypt(swapped.as_bytes(), Format::Yaml, &f.keys()).unwrap_err(), SopsError::MacMismatch);
    let removed = text.replace(mac, "    mac: \"\"");
    assert_eq!(decrypt(removed.as_bytes(), Format::Yaml, &f.keys()).unwrap_err(), SopsError::MacMismatch);
    // The MAC is bound to lastmodified.
    let line = text.lines().find(|l| l.trim_start().starts_with("lastmodified:")).unwrap();
    let redated = text.replace(line, "    lastmodified: \"2001-01-01T00:00:00Z\"");
    assert_eq!(decrypt(redated.as_bytes(), Format::Yaml, &f.keys()).unwrap_err(), SopsError::MacMismatch);
}

#[test]
fn wrong_or_missing_key_names_the_recipients() {
    let f = Fixture::new();
    let text = encrypted_secret(&f);
    let recipient = f.identity.to_public().to_string();
    for keys in [keys_of(&Identity::generate()), AgeKeys::default()] {
        let err = decrypt(text.as_bytes(), Format::Yaml, &keys).unwrap_err();
        assert_eq!(err, SopsError::NoMatchingKey { recipients: vec![recipient.clone()] });
        assert!(err.to_string().contains(&recipient) && !err.to_string().contains("AGE-SECRET-KEY"), "{err}");
    }
}

#[test]
fn pgp_only_files_are_unsupported() {
    let f = Fixture::new();
    let enc = String::from_utf8(f.encrypt("c.json", br#"{"a": "b"}"#, &[])).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&enc).unwrap();
    let sops = doc["sops"].as_object_mut().unwrap();
    sops.remove("age");
    sops.insert("pgp".into(), serde_json::json!([{"fp": "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "created_at": "2024-01-01T00:00:00Z", "enc": "-----BEGIN PGP MESSAGE-----\n\n-----END PGP MESSAGE-----"}]));
    let err = decrypt(doc.to_string().as_bytes(), Format::Json, &f.keys()).unwrap_err();
    assert_eq!(err, SopsError::UnsupportedKeyType { types: vec!["pgp".into()] });
}

#[test]
fn unknown_cipher_is_unsupported() {
    let f = Fixture::new();
    let text = encrypted_secret(&f);
    let value = enc_value(&text, "password");
    let other = text.replace(value, &value.replace("ENC[AES256_GCM,", "ENC[CHACHA20_POLY1305,"));
    let err = decrypt(other.as_bytes(), Format::Yaml, &f.keys()).unwrap_err();
    assert_eq!(err, SopsError::UnsupportedCipher { cipher: "CHACHA20_POLY1305".into() });
}

#[test]
fn plain_files_are_not_encrypted() {
    assert!(!is_encrypted(SECRET_YAML.as_bytes(), Format::Yaml));
    assert_eq!(decrypt(SECRET_YAML.as_bytes(), Format::Yaml, &AgeKeys::default()).unwrap_err(), SopsError::NotEncrypted);
}

#[test]
fn huge_input_is_refused_early() {
    let huge = vec![b'a'; MAX_INPUT + 1];
    assert!(matches!(decrypt(&huge, Format::Yaml, &AgeKeys::default()), Err(SopsError::Malformed { .. })));
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    const PIECES: [&[u8]; 12] = [b"ENC[", b"]", b"\n", b": ", b"- ", b"{", b"[", b"&a ", b"*a", b"\"", b"=", b"sops_"];
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.truncate(at),
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let piece = PIECES[rng.below(PIECES.len())];
                out.splice(at..at, piece.iter().copied());
            }
            _ => {
                let garbage: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, garbage);
            }
        }
    }
    out
}

#[test]
fn mutated_and_random_documents_never_panic() {
    let f = Fixture::new();
    let keys = f.keys();
    let seeds = [
        (encrypted_secret(&f).into_bytes(), Format::Yaml),
        (f.encrypt("x.json", br#"{"a": {"b": [1, "two"]}}"#, &[]), Format::Json),
        (f.encrypt("x.env", b"A=1\nB=two\n", &[]), Format::Dotenv),
        (f.encrypt("x.bin", b"blob", &[]), Format::Binary),
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for (seed, format) in &seeds {
        for _ in 0..1500 {
            let input = mutate(&mut rng, seed);
            if let Err(e) = decrypt(&input, *format, &keys) {
                // Whatever the error, it never quotes a secret.
                assert!(!e.to_string().contains("hunter2"));
            }
        }
        for _ in 0..300 {
            let garbage: Vec<u8> = (0..rng.below(512)).map(|_| rng.next() as u8).collect();
            let _ = decrypt(&garbage, *format, &keys);
            let _ = is_encrypted(&garbage, *format);
        }
    }
}

#[test]
fn errors_from_sops_files_never_quote_values() {
    let f = Fixture::new();
    let text = encrypted_secret(&f);
    let broken = format!("{text}\nstringData: [hunter2\n");
    let err = decrypt(broken.as_bytes(), Format::Yaml, &f.keys()).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
}
