//! Peers of the services tests: HTTP servers on 127.0.0.1 that record what
//! they receive and answer what the test says, and the SMTP sink.

#![allow(dead_code)] // Each test binary uses its part.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use driftless_notify::Notification;
use serde_json::Value;

/// A request as the peer received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{} {}: body is not JSON ({e})", self.method, self.uri))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An answer: status, headers, body.
pub type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

pub fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    (status, vec![], body.into())
}

pub fn json_reply(status: u16, body: Value) -> Reply {
    (status, vec![("content-type", "application/json".to_string())], body.to_string().into_bytes())
}

type Responder = dyn Fn(&Seen) -> Reply + Send + Sync;

/// An HTTP server on 127.0.0.1 that records every request and answers
/// with `respond`; stopped when the test's runtime ends.
#[derive(Clone)]
pub struct Peer {
    /// `http://127.0.0.1:port`.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Peer {
    pub async fn start(respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Peer {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let respond: Arc<Responder> = Arc::new(respond);
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (record, respond) = (record.clone(), respond.clone());
            async move {
                let request = Seen { method: method.to_string(), uri: uri.to_string(), headers, body: body.to_vec() };
                let (status, headers, body) = respond(&request);
                record.lock().unwrap().push(request);
                let mut response: Response = (StatusCode::from_u16(status).unwrap(), body).into_response();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Peer { url, seen }
    }

    /// A peer that answers every request with `status` and `body`.
    pub async fn answering(status: u16, body: &str) -> Peer {
        let body = body.to_string();
        Peer::start(move |_| reply(status, body.clone())).await
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The only request received.
    pub fn one(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "one request: {seen:?}");
        seen.into_iter().next().unwrap()
    }
}

pub fn notification(message: &str, sections: Value) -> Notification {
    let Value::Object(sections) = sections else { panic!("sections are a map") };
    Notification { message: message.to_string(), sections }
}

/// `smtp-sink` (scripts/tools/smtp.sh) on a free port, keeping what it
/// receives in a directory; stopped when dropped.
pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    /// With `tls`, (certificate, key) PEM files: STARTTLS offered and
    /// required. With `auth`, (user, password): AUTH required.
    pub fn start(tls: Option<(&Path, &Path)>, auth: Option<(&str, &str)>) -> SmtpSink {
        let found = Command::new("smtp-sink").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        assert!(found, "smtp-sink is not on PATH: run `make tools` (scripts/tools/smtp.sh) and add target/tools/bin to PATH");
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("smtp-sink");
        command.arg("--dir").arg(dir.path()).args(["--host", "127.0.0.1"]);
        if let Some((cert, key)) = tls {
            command.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some((user, password)) = auth {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("smtp-sink said {line:?}"));
        SmtpSink { port, dir, child }
    }

    /// The messages received so far, in order: (envelope JSON, message text).
    pub fn received(&self) -> Vec<(Value, String)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let meta = serde_json::from_slice(&std::fs::read(eml.with_extension("json")).unwrap()).unwrap();
                (meta, String::from_utf8(std::fs::read(&eml).unwrap()).unwrap())
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
