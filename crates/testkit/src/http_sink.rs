//! A real HTTP server on 127.0.0.1 that records every request and answers
//! as told: the receiving end of notifications (Slack, Teams, webhooks,
//! GitHub's API) in tests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `GET`, `POST`...
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    /// The body as JSON (panics if it is not: a test's expectation).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} {}: body is not JSON ({e}): {}", self.method, self.path, self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Answers by path prefix, longest first; else 200 `ok`.
    routes: Vec<(String, u16, String)>,
    /// Answers for the next requests, whatever their path.
    queued: VecDeque<(u16, String)>,
}

/// The server; it stops when dropped.
pub struct HttpSink {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpSink {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> HttpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut stream).await else { return };
                    let (status, body) = {
                        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                        let answer = s.queued.pop_front().or_else(|| {
                            let mut routes: Vec<&(String, u16, String)> =
                                s.routes.iter().filter(|(p, _, _)| req.path.starts_with(p.as_str())).collect();
                            routes.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.len()));
                            routes.first().map(|(_, status, body)| (*status, body.clone()))
                        });
                        let answer = answer.unwrap_or((200, "ok".into()));
                        s.received.push(Received { status: answer.0, ..req });
                        answer
                    };
                    let kind = if body.starts_with('{') || body.starts_with('[') { "application/json" } else { "text/plain" };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        HttpSink { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers requests whose path starts with `prefix` with `status` and `body`.
    pub fn route(&self, prefix: &str, status: u16, body: &str) {
        self.lock().routes.push((prefix.to_string(), status, body.to_string()));
    }

    /// Answers the next `n` requests, whatever their path, with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut s = self.lock();
        for _ in 0..n {
            s.queued.push_back((status, "failing on purpose".into()));
        }
    }

    /// Forgets the answers queued by [`HttpSink::fail_next`] not given yet.
    pub fn stop_failing(&self) {
        self.lock().queued.clear();
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// The requests so far whose path starts with `prefix`.
    pub fn received_at(&self, prefix: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path.starts_with(prefix)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP/1.1 request with a Content-Length body (what HTTP clients send
/// for JSON), or None if the peer sent something else.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: BTreeMap<String, String> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(Received { method, path, headers, body, status: 0 })
}
