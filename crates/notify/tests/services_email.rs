//! Email against a real SMTP server on 127.0.0.1 (`smtp-sink`: aiosmtpd,
//! installed by `make tools` / scripts/tools/smtp.sh): plain, STARTTLS with
//! authentication, and what must not be sent.

mod support;

use driftless_notify::services::Service;
use serde_json::{Value, json};
use support::{SmtpSink, notification};

const SUBJECT: &str = "Application guestbook has been successfully synced.";
const MESSAGE: &str = "Application guestbook has been successfully synced at 2026-01-05T10:00:00Z.\n\
Sync operation details are available at: https://argocd.example.com/applications/guestbook?operation=true .\n";

fn email(config: Value) -> Service {
    Service::parse("email", "", &config).unwrap_or_else(|e| panic!("{e}"))
}

/// A certificate for 127.0.0.1 and its key, as PEM files in `dir`.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// A header's value in a received message.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

#[tokio::test]
async fn a_plain_email_reaches_every_recipient() {
    let sink = SmtpSink::start(None, None);
    let s = email(json!({"host": "127.0.0.1", "port": sink.port, "from": "Argo CD <argocd@example.com>"}));
    assert_eq!(s.service_type(), "email");
    let n = notification(MESSAGE, json!({"email": {"subject": SUBJECT}}));
    s.send(&n, "dev@example.com, ops@example.com").await.unwrap();

    let received = sink.received();
    assert_eq!(received.len(), 1);
    let (envelope, message) = &received[0];
    assert_eq!(envelope["mail_from"], "argocd@example.com");
    assert_eq!(envelope["rcpt_tos"], json!(["dev@example.com", "ops@example.com"]));
    assert_eq!(envelope["tls"], false);
    let message = message.replace("\r\n", "\n");
    assert_eq!(header(&message, "From"), Some("\"Argo CD\" <argocd@example.com>"));
    assert_eq!(header(&message, "To"), Some("dev@example.com, ops@example.com"));
    assert_eq!(header(&message, "Subject"), Some(SUBJECT));
    assert_eq!(header(&message, "Content-Type"), Some("text/plain; charset=utf-8"));
    // As a mail reader decodes it.
    assert_eq!(envelope["subject"], SUBJECT);
    assert_eq!(envelope["from"], "Argo CD <argocd@example.com>");
    assert_eq!(envelope["to"], "dev@example.com, ops@example.com");
    assert_eq!(envelope["content_type"], "text/plain");
    assert_eq!(envelope["body"].as_str().map(|b| b.replace("\r\n", "\n").trim_end().to_string()), Some(MESSAGE.trim_end().to_string()));
}

#[tokio::test]
async fn starttls_and_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let sink = SmtpSink::start(Some((&cert, &key)), Some(("argocd", "smtp-s3cret")));
    let config = |password: &str, insecure: bool| json!({"host": "127.0.0.1", "port": sink.port.to_string(), "from": "argocd@example.com", "username": "argocd", "password": password, "insecure_skip_verify": insecure, "html": true});
    let n = notification("<p>synced</p>", json!({"email": {"subject": SUBJECT}}));

    // The certificate is checked: a self-signed one fails, and nothing is sent.
    let e = email(config("smtp-s3cret", false)).send(&n, "ops@example.com").await.unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(!e.to_string().contains("smtp-s3cret"), "{e}");

    // A wrong password: refused, permanently, and not told.
    let e = email(config("wrong-s3cret", true)).send(&n, "ops@example.com").await.unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(!format!("{e} {e:?}").contains("wrong-s3cret"), "{e}");
    assert!(sink.received().is_empty());

    email(config("smtp-s3cret", true)).send(&n, "ops@example.com").await.unwrap();
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let (envelope, message) = &received[0];
    assert_eq!((envelope["tls"].as_bool(), envelope["login"].as_str()), (Some(true), Some("argocd")), "STARTTLS, then AUTH");
    let message = message.replace("\r\n", "\n");
    assert_eq!(header(&message, "Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&message, "Subject"), Some(SUBJECT));
    assert_eq!(envelope["content_type"], "text/html");
    assert_eq!(envelope["body"].as_str().map(str::trim_end), Some("<p>synced</p>"));
}

#[tokio::test]
async fn header_injection_and_bad_addresses_are_refused_before_sending() {
    let sink = SmtpSink::start(None, None);
    let s = email(json!({"host": "127.0.0.1", "port": sink.port, "from": "argocd@example.com"}));
    for (n, recipient, says) in [
        (notification("m", json!({"email": {"subject": "hi\r\nBcc: victim@example.com"}})), "ops@example.com", "email.subject"),
        (notification("m", json!({"email": {"subject": "hi\nBcc: victim@example.com"}})), "ops@example.com", "email.subject"),
        (notification("m", json!({})), "ops@example.com\r\nBcc: victim@example.com", "line break"),
        (notification("m", json!({})), "not an address", "not an email address"),
        (notification("m", json!({})), " , ", "no recipient"),
    ] {
        let e = s.send(&n, recipient).await.unwrap_err();
        assert!(!e.is_transient() && e.to_string().contains(says), "{says}: {e}");
    }
    assert!(sink.received().is_empty());

    for (config, field) in [
        (json!({"port": 25, "from": "a@example.com"}), "host"),
        (json!({"host": "h", "from": "no address"}), "from"),
        (json!({"host": "h", "from": "a@example.com", "port": 70000}), "port"),
        (json!({"host": "h", "from": "a@example.com", "insecureSkipVerify": true}), "insecureSkipVerify"),
    ] {
        let e = Service::parse("email", "ops", &config).unwrap_err().to_string();
        assert!(e.starts_with(&format!("service.email.ops: {field}: ")), "{field}: {e}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = email(json!({"host": "127.0.0.1", "port": closed, "from": "a@example.com"}));
    let e = s.send(&notification("m", json!({})), "ops@example.com").await.unwrap_err();
    assert!(e.is_transient(), "{e}");
}
